// Parameters of the multi-vector index (MultiVectorIndex, index.hpp). A parameter that
// belongs to one candidate generator lives in that generator's struct (FdeParams /
// MuveraParams for method kMuvera, CentroidParams / CentroidSearchParams for kCentroid);
// the other generator's struct is ignored. cpp/src/multivector/README.md explains what
// each knob does to recall, speed and memory.
//
// Values are validated once by the core (MultiVectorIndex::build / search), before any
// heavy work: InvalidArgument naming the parameter, with the expected range and the value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "aftershock/multivector/centroid_index.hpp"
#include "aftershock/multivector/fde.hpp"
#include "aftershock/precision.hpp"

namespace aftershock::multivector {

/// The candidate generator. The numbers are written into files: never renumber them.
enum class Method : std::uint8_t { kMuvera = 0, kCentroid = 1 };

/// Ranges accepted by validation (and by the file loader).
inline constexpr std::size_t kMaxCentroids = 65536;            // document codes are u16
inline constexpr std::size_t kMaxKSim = 12;                    // 2^12 SimHash partitions
inline constexpr std::size_t kMaxDProj = 4096;
inline constexpr std::size_t kMaxFdeValues = std::size_t{1} << 26;  // raw and final FDE length
inline constexpr std::size_t kMaxPoolIters = 1000;
inline constexpr std::size_t kMaxKMeansIters = 1000;
inline constexpr std::size_t kMaxPointsPerCentroid = 1000000000;
inline constexpr double kMaxPoolFactor = 1e6;

/// method kMuvera: the encoder and how the document encodings are stored.
struct MuveraParams {
  FdeParams fde;
  /// Stored document FDEs: kInt8 (symmetric, one float scale per document; a quarter of
  /// the memory) or kFp32. The other precisions are refused.
  Precision fde_precision = Precision::kInt8;
};

struct BuildParams {
  Method method = Method::kCentroid;
  /// Stored precision of the document tokens the exact rerank reads (any of the four).
  Precision precision = Precision::kFp32;
  double pool_factor = 1.0;    // [1, 1e6]: CRISP-style token pooling, ceil(n / pool_factor) means per document; 1 = off
  std::size_t pool_iters = 4;  // [0, 1000]: k-means iterations per pooled document
  MuveraParams muvera;         // method kMuvera only
  CentroidParams centroid;     // method kCentroid only (n_centroids 0 = auto)
  std::uint64_t seed = 0;      // every random choice (k-means, SimHash, projections, sketch)
  std::size_t num_threads = 0; // 0 = all cores; the index does not depend on it
};

/// Default number of documents reranked exactly, per method (SearchParams::n_candidates = 0).
inline constexpr std::size_t kDefaultCandidatesMuvera = 1024;
inline constexpr std::size_t kDefaultCandidatesCentroid = 256;
/// CentroidSearchParams::n_interaction unset: this many times n_candidates.
inline constexpr std::size_t kDefaultInteractionFactor = 8;

struct SearchParams {
  /// Documents scored exactly per query; 0 = the method's default (kDefaultCandidates*).
  /// >= n_docs reranks every document (exact search).
  std::size_t n_candidates = 0;
  CentroidSearchParams centroid;  // method kCentroid only
  std::size_t num_threads = 0;    // 0 = all cores; results do not depend on it
};

}  // namespace aftershock::multivector
