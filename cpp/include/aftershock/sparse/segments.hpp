// One call over every segment of a living sparse index (python/aftershock/_living.py):
// the segments are searched in turn per query, each pruning with the k-th score the
// earlier ones reached, into one top-k over external ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "aftershock/sparse/config.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/types.hpp"

namespace aftershock::sparse {

/// One segment as search_segments reads it. Non-owning: every pointer must stay valid and
/// unchanged for the call.
struct SegmentRef {
  const SparseIndex* index = nullptr;
  /// Null (every row may be returned) or filter_words(index->n_docs()) words: bit (r & 63)
  /// of word r >> 6 set = row r may be returned (SearchFilter::allowed).
  const std::uint64_t* allowed = nullptr;
  std::size_t allowed_words = 0;
  /// Null (the external id of row r is r) or index->n_docs() external ids, one per row.
  /// Ties between equal scores go to the smaller external id; within a segment they go to
  /// the smaller row, so the two agree when the ids ascend with the rows (as a living
  /// index's do). Ids must be >= 0 (-1 is the padding). Not checked (O(n_docs) per call):
  /// other ids only order ties differently, or (negative) drop that result.
  const std::int64_t* ids = nullptr;
  /// The segment's heap_factor (SearchParams::heap_factor; a filtered segment searches
  /// with its own). Finite and >= 0.
  float heap_factor = 0.8f;
  /// Exact scoring of the listed rows (SparseIndex::search_subset) instead of the index
  /// search: rows exact_rows[0, n_exact_rows), strictly increasing and < n_docs, further
  /// restricted by `allowed`.
  bool is_exact = false;
  const DocId* exact_rows = nullptr;
  std::size_t n_exact_rows = 0;
};

/// What search_segments shares across the segments (SearchParams without heap_factor,
/// which is per segment).
struct SegmentSearchParams {
  std::size_t k = 10;
  std::size_t query_cut = 10;
  std::size_t n_knn = 0;
  std::size_t num_threads = 0;
};

/// Top-k of every query over all `segments`, as the per-segment loop of a living index
/// computes it, bit for bit: per query, the segments are visited in the given order; each
/// is searched exactly as SparseIndex::search (or search_subset, for an exact segment)
/// searches it with the floor = the current k-th score of the results so far (-inf while
/// fewer than k), its top k (ties: smaller row) mapped to external ids and merged into one
/// top-k ordered by (score desc, external id asc). out.scores / out.ids are [n_queries,
/// out.k], padded with -inf / -1. `stats` (n_queries entries, or null) receives, per query,
/// the sum over the non-exact segments of their SearchStats.
/// Queries: a valid batch (validate_batch) with dim == every index's dim. Validates the
/// queries (O(nnz)), the parameters and every segment (allowed length, exact rows sorted
/// and in range: O(rows listed)); throws InvalidArgument naming `segments[i].<field>`,
/// `queries`, `k` or `query_cut`. Parallel over queries on num_threads; the results do not
/// depend on it. Const on the indexes: concurrent calls are fine. With no segment, every
/// row is padding. Runs segment by segment over all queries, as the loop did, for its cache
/// locality (query by query measured 1.8-2.0x a fresh index in batch, against 1.2-1.4x),
/// with an O(k log k) merge per query and segment.
void search_segments(const std::vector<SegmentRef>& segments, const SparseBatchView& queries,
                     const SegmentSearchParams& params, TopKOut out, SearchStats* stats = nullptr);

}  // namespace aftershock::sparse
