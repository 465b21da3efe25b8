// The living index's per-segment loop in one call (see aftershock/sparse/segments.hpp):
// per query, every segment is searched by the same routine as SparseIndex::search (or
// search_subset), with the floor the results so far set, and merged into one top-k over
// external ids -- what _living.py did with one core call and one numpy merge per segment.
#include "aftershock/sparse/segments.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "searcher.hpp"

namespace aftershock::sparse {

namespace {

using Result = std::pair<float, std::int64_t>;  // (score, external id)

bool better(const Result& a, const Result& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); }

void check_segment(const SegmentRef& seg, std::size_t i, std::size_t dim) {
  const std::string name = "segments[" + std::to_string(i) + "]";
  if (seg.index == nullptr) throw InvalidArgument(name + ": expected an index, got null");
  const SparseIndex& ix = *seg.index;
  if (ix.dim() != dim)
    throw InvalidArgument("queries: expected " + std::to_string(ix.dim()) + " columns (the vocabulary of " + name +
                          "), got " + std::to_string(dim));
  if (seg.allowed != nullptr && seg.allowed_words != filter_words(ix.n_docs()))
    throw InvalidArgument(name + ".allowed: expected ceil(n_docs / 64) = " + std::to_string(filter_words(ix.n_docs())) +
                          " uint64 words, got " + std::to_string(seg.allowed_words));
  if (!(seg.heap_factor >= 0.0f) || !std::isfinite(seg.heap_factor))
    throw InvalidArgument(name + ".heap_factor: expected a finite value >= 0, got " + std::to_string(seg.heap_factor));
  if (!seg.is_exact) return;
  if (seg.exact_rows == nullptr && seg.n_exact_rows != 0)
    throw InvalidArgument(name + ".exact_rows: null with " + std::to_string(seg.n_exact_rows) + " rows");
  for (std::size_t r = 0; r < seg.n_exact_rows; ++r) {
    const DocId d = seg.exact_rows[r];
    if (d >= ix.n_docs())
      throw InvalidArgument(name + ".exact_rows: expected rows < n_docs = " + std::to_string(ix.n_docs()) + ", got " +
                            std::to_string(d) + " at position " + std::to_string(r));
    if (r > 0 && d <= seg.exact_rows[r - 1])
      throw InvalidArgument(name + ".exact_rows: expected strictly increasing rows, got " +
                            std::to_string(seg.exact_rows[r - 1]) + " then " + std::to_string(d) + " at position " +
                            std::to_string(r));
  }
}

// Per-thread merge buffers, reused across queries and calls.
struct MergeScratch {
  std::vector<Result> found, next;
};

MergeScratch& merge_scratch() {
  thread_local MergeScratch m;
  return m;
}

}  // namespace

void search_segments(const std::vector<SegmentRef>& segments, const SparseBatchView& queries,
                     const SegmentSearchParams& params, TopKOut out, SearchStats* stats) {
  const std::size_t k = params.k;
  if (k < 1) throw InvalidArgument("k: expected k >= 1, got " + std::to_string(k));
  if (out.k != k) throw InvalidArgument("internal: output width does not match k");
  if (params.query_cut < 1) throw InvalidArgument("query_cut: expected >= 1, got 0");
  std::size_t max_docs = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    check_segment(segments[i], i, queries.dim);
    max_docs = std::max(max_docs, segments[i].index->n_docs());
  }
  validate_batch(queries, "queries", params.num_threads);

  // One SearchParams per segment (its heap_factor), fully built before the Searchers take
  // references to them.
  std::vector<SearchParams> seg_params(segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i) {
    seg_params[i].k = k;
    seg_params[i].query_cut = params.query_cut;
    seg_params[i].heap_factor = segments[i].heap_factor;
    seg_params[i].n_knn = params.n_knn;
    seg_params[i].num_threads = params.num_threads;
  }
  const SparseKernels& kern = sparse_kernels();
  std::vector<Searcher> searchers;
  searchers.reserve(segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i)
    searchers.push_back(Searcher{*segments[i].index, seg_params[i], kern, DocFilter{segments[i].allowed}});

  // The output holds every query's results so far (padded), so each segment's floor is
  // its k-th score, -inf while padded: what the loop passed (scores[:, k - 1]).
  const std::size_t n = queries.n_rows;
  std::fill(out.scores, out.scores + n * k, kNoStop);
  std::fill(out.ids, out.ids + n * k, std::int64_t{-1});
  if (stats != nullptr) std::fill(stats, stats + n, SearchStats{});
  // Segment by segment, all queries each (as the loop did): a segment's hot lists,
  // summaries and rows stay in cache across the queries, where visiting every segment per
  // query would have them compete (measured: docs/living-index.md). Each query's results
  // depend only on its own row, so the order changes nothing else.
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const SegmentRef& seg = segments[i];
    const Searcher& searcher = searchers[i];
    parallel_for(n, params.num_threads, [&](std::size_t qi, std::size_t) {
      Searcher::Scratch& s = thread_scratch(queries.dim, max_docs);
      float* scores = out.scores + qi * k;
      std::int64_t* ids = out.ids + qi * k;
      s.top.reset(k, scores[k - 1]);
      if (seg.is_exact) {
        searcher.exact_one(queries, qi, seg.exact_rows, seg.n_exact_rows, s, s.top);
      } else {
        searcher.search_one(queries, qi, s, s.top);
        if (stats != nullptr) {
          SearchStats& total = stats[qi];
          total.lists += s.stats.lists;
          total.blocks += s.stats.blocks;
          total.blocks_visited += s.stats.blocks_visited;
          total.postings += s.stats.postings;
          total.docs_scored += s.stats.docs_scored;
        }
      }
      const std::vector<TopK::Entry>& rows = s.top.sorted();
      if (rows.empty()) return;
      MergeScratch& m = merge_scratch();
      m.found.clear();
      for (const TopK::Entry& e : rows)
        m.found.emplace_back(e.first, seg.ids != nullptr ? seg.ids[e.second] : static_cast<std::int64_t>(e.second));
      // Already in order when the ids ascend with the rows; sorted anyway (k entries), so
      // the merge below holds whatever the ids.
      std::sort(m.found.begin(), m.found.end(), better);
      std::size_t kept = 0;  // results so far: the row's entries before its padding
      while (kept < k && ids[kept] >= 0) ++kept;
      m.next.clear();
      std::size_t a = 0, b = 0;
      while (m.next.size() < k && (a < kept || b < m.found.size())) {
        const bool take_found = a == kept || (b < m.found.size() && better(m.found[b], Result{scores[a], ids[a]}));
        if (take_found) {
          m.next.push_back(m.found[b++]);
        } else {
          m.next.emplace_back(scores[a], ids[a]);
          ++a;
        }
      }
      for (std::size_t j = 0; j < m.next.size(); ++j) {
        scores[j] = m.next[j].first;
        ids[j] = m.next[j].second;
      }
    });
  }
}

}  // namespace aftershock::sparse
