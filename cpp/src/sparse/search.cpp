// Query processing: walk the query's heaviest lists, bound every block with its summary,
// visit blocks best bound first and stop at the first one that cannot beat
// heap_factor * (current k-th score), scoring each surviving document once, exactly.
#include <algorithm>
#include <cmath>
#include <limits>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/util/memory.hpp"
#include "searcher.hpp"

namespace aftershock::sparse {

void SparseIndex::check_filter(const SearchFilter& filter, std::size_t n_queries) const {
  const std::size_t words = (n_docs_ + 63) / 64;
  if (filter.allowed != nullptr && filter.allowed_words != words)
    throw InvalidArgument("allowed: expected ceil(n_docs / 64) = " + std::to_string(words) + " uint64 words, got " +
                          std::to_string(filter.allowed_words));
  if (filter.floors == nullptr) return;
  if (filter.n_floors != n_queries)
    throw InvalidArgument("floors: expected one per query (" + std::to_string(n_queries) + "), got " +
                          std::to_string(filter.n_floors));
  for (std::size_t i = 0; i < n_queries; ++i)
    if (std::isnan(filter.floors[i])) throw InvalidArgument("floors: expected numbers or -inf, got NaN at query " + std::to_string(i));
}

void SparseIndex::search(const SparseBatchView& queries, const SearchParams& p, TopKOut out, SearchStats* stats,
                         const SearchFilter& filter) const {
  check_search_params(p);
  if (out.k != p.k) throw InvalidArgument("internal: output width does not match k");
  if (queries.dim != dim_)
    throw InvalidArgument("queries: expected " + std::to_string(dim_) + " columns (the index vocabulary), got " +
                          std::to_string(queries.dim));
  validate_batch(queries, "queries", p.num_threads);
  check_filter(filter, queries.n_rows);
  search_unchecked(queries, p, out, stats, filter);
}

// PRECONDITION: check_search_params(p) passed, out.k == p.k, queries.dim == dim_ and
// `queries` is a valid batch (validate_batch), e.g. rows of this index's own forward index;
// check_filter(filter, queries.n_rows) passed.
void SparseIndex::search_unchecked(const SparseBatchView& queries, const SearchParams& p, TopKOut out,
                                   SearchStats* stats, const SearchFilter& filter) const {
  AFTERSHOCK_DCHECK(p.k >= 1 && out.k == p.k && queries.dim == dim_);
  Searcher searcher{*this, p, sparse_kernels(), DocFilter{filter.allowed}};
  parallel_for(queries.n_rows, p.num_threads, [&](std::size_t qi, std::size_t) {
    Searcher::Scratch& s = thread_scratch(dim_, n_docs_);
    s.top.reset(p.k, filter.floors != nullptr ? filter.floors[qi] : kNoStop);
    searcher.search_one(queries, qi, s, s.top);
    s.top.write(out.scores + qi * p.k, out.ids + qi * p.k);
    if (stats != nullptr) stats[qi] = s.stats;
  });
}

void SparseIndex::search_subset(const SparseBatchView& queries, const DocId* docs, std::size_t n_listed,
                                std::size_t num_threads, TopKOut out, const SearchFilter& filter) const {
  if (out.k < 1) throw InvalidArgument("k: expected k >= 1, got " + std::to_string(out.k));
  if (queries.dim != dim_)
    throw InvalidArgument("queries: expected " + std::to_string(dim_) + " columns (the index vocabulary), got " +
                          std::to_string(queries.dim));
  for (std::size_t i = 0; i < n_listed; ++i) {
    if (docs[i] >= n_docs_)
      throw InvalidArgument("docs: expected ids < n_docs = " + std::to_string(n_docs_) + ", got " +
                            std::to_string(docs[i]) + " at position " + std::to_string(i));
    if (i > 0 && docs[i] <= docs[i - 1])
      throw InvalidArgument("docs: expected strictly increasing ids, got " + std::to_string(docs[i - 1]) + " then " +
                            std::to_string(docs[i]) + " at position " + std::to_string(i));
  }
  validate_batch(queries, "queries", num_threads);
  check_filter(filter, queries.n_rows);
  const SearchParams p;  // unused by score(); the Searcher needs one
  const Searcher searcher{*this, p, sparse_kernels(), DocFilter{filter.allowed}};
  const std::size_t k = out.k;
  parallel_for(queries.n_rows, num_threads, [&](std::size_t qi, std::size_t) {
    Searcher::Scratch& s = thread_scratch(dim_, n_docs_);
    TopK& top = s.top;
    top.reset(k, filter.floors != nullptr ? filter.floors[qi] : kNoStop);
    searcher.exact_one(queries, qi, docs, n_listed, s, top);
    top.write(out.scores + qi * k, out.ids + qi * k);
  });
}

std::vector<float> SparseIndex::block_scores(TermId t, const std::vector<TermId>& terms,
                                            const std::vector<float>& weights, simd::Level level) const {
  if (t >= dim_) throw InvalidArgument("term: " + std::to_string(t) + " is out of range [0, " + std::to_string(dim_) + ")");
  if (terms.size() != weights.size()) throw InvalidArgument("terms, weights: expected equal lengths");
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (terms[i] >= dim_ || (i > 0 && terms[i] <= terms[i - 1]))
      throw InvalidArgument("terms: expected strictly ascending ids below the vocabulary size");
    if (!(weights[i] > 0.0f) || !std::isfinite(weights[i])) throw InvalidArgument("weights: expected finite values > 0");
  }
  // The search path itself, so the test of this function tests what search computes.
  const SearchParams p;
  Searcher::Scratch s;
  s.qterms = terms;
  s.qweights = weights;
  Searcher{*this, p, sparse_kernels(level), DocFilter{}}.block_bounds(t, s);
  return s.bound;
}

// The kNN graph build's memory (declared in build.cpp too, which checks it before a build's
// work): the n_docs x knn graph (u32) and one chunk's queries' results (knn + 1 scores and
// ids each, a chunk being kKnnChunk documents).
constexpr std::size_t kKnnChunk = 8192;
std::uint64_t knn_graph_bytes(std::size_t n_docs, std::size_t knn) {
  return bytes_sum(bytes_product({n_docs, knn, sizeof(DocId)}),
                   bytes_product({std::min(n_docs, kKnnChunk), knn + 1, sizeof(float) + sizeof(std::int64_t)}));
}

void SparseIndex::build_knn(std::size_t knn, const SearchParams& params, const ProgressFn& progress) {
  knn_ = 0;
  knn_graph_ = Array<DocId>();
  params_.knn = 0;
  if (knn == 0) return;
  if (n_docs_ < 2) throw InvalidArgument("knn: a kNN graph needs at least 2 documents");
  if (knn >= n_docs_)
    throw InvalidArgument("knn: expected <= n_docs - 1 = " + std::to_string(n_docs_ - 1) + ", got " +
                          std::to_string(knn));
  SearchParams sp = params;
  sp.k = knn + 1;
  sp.n_knn = 0;
  check_search_params(sp);
  check_memory_need(knn_graph_bytes(n_docs_, knn), "knn: the n_docs x knn neighbour graph", "lower knn");
  std::vector<DocId> graph(n_docs_ * knn);
  // Every document, as stored, becomes a query (float32 weights), a chunk at a time: the
  // chunk's queries and results are all that is held, and progress is reported between.
  constexpr std::size_t kChunk = kKnnChunk;
  std::vector<std::int64_t> indptr;
  std::vector<std::uint32_t> terms;
  std::vector<float> values, scores;
  std::vector<std::int64_t> ids;
  for (std::size_t c0 = 0; c0 < n_docs_; c0 += kChunk) {
    if (progress) progress("knn", c0, n_docs_);
    const std::size_t c1 = std::min(n_docs_, c0 + kChunk), n = c1 - c0;
    indptr.assign(1, 0);
    terms.clear();
    values.clear();
    for (std::size_t d = c0; d < c1; ++d) {
      for (const auto& [u, v] : document(static_cast<DocId>(d))) {  // terms ascending, as queries are
        terms.push_back(u);
        values.push_back(v);
      }
      indptr.push_back(static_cast<std::int64_t>(terms.size()));
    }
    scores.resize(n * sp.k);
    ids.resize(n * sp.k);
    // The stored rows are a valid batch by construction (checked at build or load), so
    // the query checks of search() are skipped.
    search_unchecked(SparseBatchView{indptr.data(), terms.data(), values.data(), n, dim_}, sp,
                     TopKOut{scores.data(), ids.data(), sp.k});
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t d = c0 + i;
      std::size_t filled = 0;
      for (std::size_t j = 0; j < sp.k && filled < knn; ++j) {
        const std::int64_t r = ids[i * sp.k + j];
        if (r < 0 || static_cast<std::size_t>(r) == d) continue;
        graph[d * knn + filled++] = static_cast<DocId>(r);
      }
      // Short rows (documents sharing few terms with others) repeat their last neighbour,
      // or themselves; visiting a document twice is harmless (it is marked seen).
      const DocId pad = filled ? graph[d * knn + filled - 1] : static_cast<DocId>(d);
      for (; filled < knn; ++filled) graph[d * knn + filled] = pad;
    }
  }
  if (progress) progress("knn", n_docs_, n_docs_);
  knn_graph_ = std::move(graph);
  knn_ = knn;
  params_.knn = knn;
}

}  // namespace aftershock::sparse
