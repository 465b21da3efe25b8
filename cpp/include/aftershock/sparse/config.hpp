// Parameters of the learned-sparse index. Names follow Seismic so its configs carry over;
// cpp/src/sparse/README.md explains what each knob does to recall, speed and memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "aftershock/precision.hpp"

namespace aftershock::sparse {

enum class Pruning : std::uint8_t {
  kGlobalThreshold = 0,  // one weight threshold for all lists, keeping ~n_postings per list on average
  kFixedSize = 1,        // the n_postings largest postings of every list
};


struct BuildParams {
  Pruning pruning = Pruning::kGlobalThreshold;
  std::size_t n_postings = 0;  // kept postings per list (fixed) or on average (global); 0 = default_n_postings
  double max_fraction = 1.5;         // global: a list keeps at most max_fraction * n_postings
  double centroid_fraction = 0.1;    // clusters per list = ceil(centroid_fraction * list length); larger-than-mean clusters are split into blocks
  std::size_t min_cluster_size = 2;  // smaller clusters are dissolved into the others
  double summary_energy = 0.4;       // fraction of a summary's L1 mass kept after pruning
  // Forward-index weights: kFp16 (half the memory, ~1e-3 relative error) or kFp32 (exact,
  // the lossless setting); the other precisions are refused.
  Precision precision = Precision::kFp16;
  // Neighbours per document in the kNN graph (0 = no graph; the Python API's default is
  // min(10, n_docs - 1): scoring the results' neighbours is the cheap path to high recall).
  std::size_t knn = 0;
  std::size_t num_threads = 0;
  std::uint64_t seed = 0;
};

/// Checks the values of `p` that do not depend on the data (ranges, enums); knn against
/// n_docs and num_threads are checked by build. Throws InvalidArgument naming the parameter,
/// with the expected range and the value. Used by build, and by load on a file's values.
void check_build_params(const BuildParams& p);

/// The n_postings an index uses when BuildParams::n_postings is 0: 3 * sqrt(n_docs), at
/// least 100, rounded to 50 (default_params.cpp says why).
std::size_t default_n_postings(std::size_t n_docs);

/// The search settings a kNN graph is built with (BuildParams::knn > 0; build_knn's Python
/// defaults too): cheaper than a query's defaults, as good a graph (build.cpp).
constexpr std::size_t kKnnBuildQueryCut = 5;
constexpr float kKnnBuildHeapFactor = 0.9f;

struct SearchParams {
  std::size_t k = 10;
  std::size_t query_cut = 5;   // lists visited: the query's query_cut heaviest terms
  float heap_factor = 0.7f;    // skip a block when its bound < heap_factor * current k-th score
  std::size_t n_knn = 10;      // graph neighbours of each result that are also scored (if it has a graph)
  std::size_t num_threads = 0;
};

/// What one query's search did: the work counters behind its latency, for diagnostics and
/// for comparing configurations independently of the machine's speed.
struct SearchStats {
  std::uint64_t lists = 0;            // inverted lists walked (<= query_cut)
  std::uint64_t blocks = 0;           // blocks of those lists (each bounded by its summary)
  std::uint64_t blocks_visited = 0;   // blocks whose documents were scored
  std::uint64_t postings = 0;         // postings of the visited blocks (and kNN neighbours)
  std::uint64_t docs_scored = 0;      // distinct documents scored exactly
};

}  // namespace aftershock::sparse
