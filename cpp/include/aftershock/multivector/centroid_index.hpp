// Token-level centroid index (PLAID / EMVB style candidate generation).
//
// Build: k-means centroids c_0..c_{C-1} over a sample of document tokens; every token is
// assigned its nearest centroid; a document keeps the sorted set of its tokens'
// centroids (its "codes"), and inverted lists map each centroid to the documents that
// use it.
// Search for a query q_1..q_m:
//   1. S[c, i] = <c, q_i> for every centroid (one [C, dim] x [dim, m] product).
//   2. Probe (PLAID candidate generation, scored like WARP): each query token i visits
//      the inverted lists of its n_probe best centroids, best first. A document's probe
//      score is sum_i (S[c, i] - tau_i) over the tokens whose probed centroids it holds,
//      c being the best such centroid, and tau_i the score of token i's first centroid
//      NOT probed (an upper bound for every centroid it did not probe, so the score
//      "imputes" tau_i for the missing tokens). Cost: the postings touched.
//      The n_interaction documents with the best probe scores go on (0: all touched).
//   3. Optional bit-vector prefilter (EMVB): bit i of centroid c is S[c, i] >= threshold;
//      a document's popcount(OR over its codes) counts the query tokens it "matches";
//      the n_bitvector documents with the highest counts go on.
//   4. Centroid interaction (PLAID): approx(d) = sum_i max_{c in codes(d)} S[c, i], the
//      MaxSim of the query against the document's tokens replaced by their centroids;
//      the n_candidates best go to exact rerank (done by MultiVectorIndex).
// n_probe >= n_centroids skips step 2: every document goes to step 3.
// Filtered search (DocFilter, util/doc_filter.hpp): step 2 touches only allowed
// documents (n_probe >= n_centroids: every allowed document), so steps 3 and 4 rank
// allowed documents only. When the probe finds fewer than n_candidates allowed documents
// (a selective filter), every allowed document goes on to steps 3 and 4 instead, so a
// filtered query gets min(n_candidates, allowed) candidates.
//
// Trained state: the centroids alone (codes are nearest-centroid ids, nothing else is
// learned from the data: no residual codec, no bucket cutoffs). An index built with
// given centroids (build's `centroids`) has codes comparable with the index the
// centroids came from.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "aftershock/io/format.hpp"
#include "aftershock/multivector/kmeans.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/array.hpp"
#include "aftershock/util/doc_filter.hpp"

namespace aftershock::multivector {

/// The automatic centroid count for total_tokens tokens: 2^floor(log2(2 sqrt(total_tokens)))
/// within [16, 65536], at most total_tokens.
std::size_t auto_n_centroids(std::size_t total_tokens);

struct CentroidParams {
  std::size_t n_centroids = 0;                 // 0 = auto: 2^floor(log2(2 sqrt(total_tokens))), in [16, 65536]
  std::size_t kmeans_iters = 8;                // Lloyd iterations
  std::size_t kmeans_points_per_centroid = 64; // training sample size per centroid
};

struct CentroidSearchParams {
  std::size_t n_probe = 4;  // centroids probed per query token (>= 1); >= n_centroids: every document
  /// Documents kept by the probe score: unset = kDefaultInteractionFactor * n_candidates
  /// (config.hpp); 0 = every probed document; otherwise >= n_candidates.
  std::optional<std::size_t> n_interaction;
  /// EMVB bit-vector prefilter: bit i of centroid c is S[c, i] >= threshold (finite).
  /// Unset: no prefilter.
  std::optional<float> bitvector_threshold;
  std::size_t n_bitvector = 0;  // documents the prefilter keeps: 0 = no prefilter, otherwise >= n_candidates
};

class CentroidIndex {
 public:
  CentroidIndex() = default;

  /// vectors: float32 [total_tokens, dim]; offsets: int64 [n_docs + 1], validated by the
  /// caller (monotone, every document >= 1 token). Deterministic for a seed whatever
  /// num_threads. Throws InvalidArgument naming n_centroids if it exceeds total_tokens or
  /// 65536. O(kmeans + total_tokens * n_centroids * dim).
  ///
  /// Given centroids (given_centroids != nullptr): float32 [n_given, dim], copied; k-means
  /// is skipped and every token goes to its nearest given centroid by the same
  /// assignment the k-means build uses, so a build given another index's centroids()
  /// codes tokens exactly as that index would. n_given in [1, 65536] and may exceed
  /// total_tokens; params.n_centroids must be 0 or n_given; the k-means parameters are
  /// kept (reported) but unused. Throws InvalidArgument naming `centroids` (count, a
  /// non-finite value) or n_centroids (disagrees). The values are checked on the copy.
  /// token_codes (optional): receives every token's nearest centroid [total_tokens] (for a
  /// residual store sharing this codebook).
  static CentroidIndex build(const float* vectors, std::size_t total_tokens, std::size_t dim,
                             const std::int64_t* offsets, std::size_t n_docs, const CentroidParams& params,
                             std::uint64_t seed, std::size_t num_threads, const ProgressFn& progress,
                             const float* given_centroids = nullptr, std::size_t n_given = 0,
                             std::vector<std::uint32_t>* token_codes = nullptr);

  std::size_t n_centroids() const { return n_centroids_; }
  std::size_t dim() const { return dim_; }
  std::size_t n_docs() const { return n_docs_; }
  /// Total distinct (document, centroid) pairs: the length of all inverted lists.
  std::size_t n_postings() const { return doc_codes_.size(); }
  std::size_t size_bytes() const;
  const CentroidParams& params() const { return params_; }
  /// float32 [n_centroids, dim] row-major: the trained (or given) centroids.
  const std::vector<float>& centroids() const { return centroids_; }

  /// Per-thread search state (reuse across queries: it holds O(n_docs + n_centroids * m)).
  struct Scratch {
    std::vector<float> query_panels;
    std::vector<float> table;                 // [n_centroids, lanes]
    std::vector<std::uint32_t> stamp;         // [n_docs] last (query, token) stamp that touched a document
    std::uint32_t stamp_base = 0;
    std::vector<float> probe_score;           // [n_docs] valid for touched documents
    std::vector<DocId> probed;
    std::vector<std::uint64_t> masks;
  };

  /// Up to n_candidates (>= 1) document ids for query float32 [m, dim] (m >= 1, finite:
  /// PRECONDITION, checked by the caller), in no particular order. `params` validated by
  /// the caller, n_interaction resolved (unset counts as 0). Deterministic.
  /// Thread-safe (const) with one Scratch per thread.
  /// `filter`: only allowed documents are returned (see the file comment), n_allowed =
  /// count_allowed(filter, n_docs) (PRECONDITION; the caller counts once per batch). An
  /// all-filter takes the unfiltered code path unchanged.
  void candidates(const float* query, std::size_t m, const CentroidSearchParams& params, std::size_t n_candidates,
                  Scratch& scratch, std::vector<DocId>& out, DocFilter filter = DocFilter(),
                  std::size_t n_allowed = 0) const;

  /// Sections "CENT" (f32 centroids), "CDOF" (u64 code offsets), "CDCO" (u16 codes),
  /// "CLOF" / "CLDO" (the inverted lists' u64 offsets and u32 documents, derived data);
  /// parameters in CONF. An in-memory load checks every code and rebuilds the lists (files
  /// without CLOF/CLDO load the same way). A mapped reader gives views of CDCO and CLDO:
  /// the code offsets and list offsets are read and checked, the codes and list documents
  /// trusted until check_content().
  void save(io::FileWriter& writer, io::Config& config) const;
  static CentroidIndex load(const io::FileReader& reader, const io::Config& config, std::size_t dim,
                            std::size_t n_docs);
  /// Of an index loaded from a mapped reader: the checks an in-memory load makes (codes in
  /// range and sorted per document) and the stored lists equal to the ones the codes give.
  /// Nothing to do otherwise. Throws FormatError. O(n_postings).
  void check_content() const;
  /// MADV_RANDOM on the codes and list documents (read per probed centroid / candidate).
  static void advise_sections(const io::FileReader& reader);
  bool is_mapped() const { return doc_codes_.is_view(); }

 private:
  void build_lists();
  void derive_lists(std::vector<std::uint64_t>& list_offsets, Array<DocId>& list_docs) const;
  void check_codes() const;

  std::size_t n_centroids_ = 0;
  std::size_t dim_ = 0;
  std::size_t n_docs_ = 0;
  CentroidParams params_;
  std::vector<float> centroids_;             // [n_centroids, dim]
  std::vector<std::uint64_t> doc_offsets_;   // [n_docs + 1] into doc_codes_
  Array<std::uint16_t> doc_codes_;           // sorted distinct centroids per document
  std::vector<std::uint64_t> list_offsets_;  // [n_centroids + 1] into list_docs_
  Array<DocId> list_docs_;                   // ascending documents per centroid
};

}  // namespace aftershock::multivector
