// Query processing: walk the query's heaviest lists, bound every block with its summary,
// visit blocks best bound first and stop at the first one that cannot beat
// heap_factor * (current k-th score), scoring each surviving document once, exactly.
#include <algorithm>
#include <cmath>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/sparse/kernels.hpp"
#include "topk.hpp"

namespace aftershock::sparse {

struct Searcher {
  const SparseIndex& ix;
  const SearchParams& p;
  const SparseKernels& kern;

  struct Scratch {
    std::vector<float> dense;
    std::vector<std::uint64_t> seen;
    std::vector<DocId> visited;
    std::vector<std::pair<float, TermId>> terms;
    std::vector<TermId> qterms;  // the query's positive terms, ascending, and their weights
    std::vector<float> qweights;
    std::vector<float> bound;
    std::vector<std::uint32_t> order;
    std::vector<DocId> results;
    std::vector<RowHandle> neighbours;
    TopK top{1};
  };

  float score(const ForwardIndex::Row& r, const float* q) const {
    using u16 = std::uint16_t;
    using u32 = std::uint32_t;
    const ForwardIndex& f = ix.fwd_;
    if (f.wide_terms()) {
      return f.value_type() == ValueType::kFloat32
                 ? kern.dot_u32_f32(static_cast<const u32*>(r.terms), static_cast<const float*>(r.values), r.n, q)
                 : kern.dot_u32_f16(static_cast<const u32*>(r.terms), static_cast<const u16*>(r.values), r.n, q);
    }
    return f.value_type() == ValueType::kFloat32
               ? kern.dot_u16_f32(static_cast<const u16*>(r.terms), static_cast<const float*>(r.values), r.n, q)
               : kern.dot_u16_f16(static_cast<const u16*>(r.terms), static_cast<const u16*>(r.values), r.n, q);
  }

  // Rows are read at random, so their latency is hidden in two stages: the first line of
  // a row kHeadAhead documents ahead (its header says how long the row is), then the rest
  // of the row kRowAhead documents ahead, once that header is likely in cache.
  static constexpr std::size_t kHeadAhead = 8, kRowAhead = 2;
  void prefetch_head(RowHandle h) const { __builtin_prefetch(ix.fwd_.row_begin(h)); }
  void prefetch_row(RowHandle h) const {
    const char* begin = static_cast<const char*>(ix.fwd_.row_begin(h));
    const std::size_t bytes = ix.fwd_.row_bytes(ix.fwd_.row(h).n);
    for (std::size_t off = 64; off < bytes; off += 64) __builtin_prefetch(begin + off);
  }

  // Score the not-yet-seen documents among rows[0, n).
  void visit(const RowHandle* rows, std::size_t n, Scratch& s, TopK& top) const {
    for (std::size_t i = 0; i < std::min(n, kHeadAhead); ++i) prefetch_head(rows[i]);
    for (std::size_t i = 0; i < std::min(n, kRowAhead); ++i) prefetch_row(rows[i]);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kHeadAhead < n) prefetch_head(rows[i + kHeadAhead]);
      if (i + kRowAhead < n) prefetch_row(rows[i + kRowAhead]);
      const ForwardIndex::Row r = ix.fwd_.row(rows[i]);
      std::uint64_t& word = s.seen[r.doc >> 6];
      const std::uint64_t bit = std::uint64_t{1} << (r.doc & 63);
      if (word & bit) continue;
      word |= bit;
      s.visited.push_back(r.doc);
      top.push(score(r, s.dense.data()), r.doc);
    }
  }

  // Upper-bound estimates of every block of list t: summary · query, dequantized.
  void block_bounds(TermId t, Scratch& s) const {
    const std::size_t b0 = ix.list_block_begin_[t], nb = ix.list_block_begin_[t + 1] - b0;
    s.bound.assign(nb, 0.0f);
    ix.summaries_.accumulate(kern, t, s.qterms.data(), s.qweights.data(), s.qterms.size(), s.bound.data());
    for (std::size_t b = 0; b < nb; ++b) s.bound[b] *= ix.block_scale_[b0 + b];
  }

  // Fills `top` (empty, sized for k) with query qi's results; leaves the scratch all-zero.
  void search_one(const SparseBatchView& q, std::size_t qi, Scratch& s, TopK& top) const {
    const std::int64_t qb = q.indptr[qi], qe = q.indptr[qi + 1];
    for (std::int64_t j = qb; j < qe; ++j) s.dense[q.indices[j]] = q.values[j];
    s.terms.clear();
    s.qterms.clear();
    s.qweights.clear();
    for (std::int64_t j = qb; j < qe; ++j) {
      if (!(q.values[j] > 0.0f)) continue;
      s.terms.emplace_back(q.values[j], q.indices[j]);
      s.qterms.push_back(q.indices[j]);
      s.qweights.push_back(q.values[j]);
    }
    const std::size_t cut = std::min(p.query_cut, s.terms.size());
    auto heavier = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    std::partial_sort(s.terms.begin(), s.terms.begin() + static_cast<std::ptrdiff_t>(cut), s.terms.end(), heavier);

    for (std::size_t ti = 0; ti < cut; ++ti) {
      const TermId t = s.terms[ti].second;
      const std::size_t b0 = ix.list_block_begin_[t], nb = ix.list_block_begin_[t + 1] - b0;
      if (nb == 0) continue;
      const RowHandle* list = ix.post_rows_.data() + ix.list_post_begin_[t];
      const std::size_t list_len = ix.list_post_begin_[t + 1] - ix.list_post_begin_[t];
      auto block_range = [&](std::size_t b, std::size_t& begin, std::size_t& end) {
        begin = ix.block_post_begin_[b0 + b];
        end = b + 1 < nb ? ix.block_post_begin_[b0 + b + 1] : list_len;
      };
      if (p.heap_factor <= 0.0f) {  // nothing can be skipped: no bounds needed
        visit(list, list_len, s, top);
        continue;
      }
      block_bounds(t, s);
      // Blocks that cannot pass the current cut are dropped before sorting (the cut only
      // rises); after the first list that is most of them.
      const float cut_now = top.full() ? p.heap_factor * top.threshold() : -1.0f;
      s.order.clear();
      for (std::uint32_t b = 0; b < nb; ++b)
        if (s.bound[b] >= cut_now) s.order.push_back(b);
      std::sort(s.order.begin(), s.order.end(), [&](std::uint32_t a, std::uint32_t b) {
        return s.bound[a] > s.bound[b] || (s.bound[a] == s.bound[b] && a < b);
      });
      for (std::uint32_t b : s.order) {
        // The k-th score only grows and the order is by decreasing bound, so the first
        // skipped block ends the list.
        if (top.full() && s.bound[b] < p.heap_factor * top.threshold()) break;
        std::size_t begin, end;
        block_range(b, begin, end);
        visit(list + begin, end - begin, s, top);
      }
    }

    if (p.n_knn > 0 && ix.knn_ > 0) {
      const std::size_t per = std::min(p.n_knn, ix.knn_);
      s.results.clear();
      for (const auto& e : top.entries()) s.results.push_back(e.second);
      std::sort(s.results.begin(), s.results.end());
      for (DocId r : s.results) {
        s.neighbours.clear();
        for (std::size_t j = 0; j < per; ++j)
          s.neighbours.push_back(ix.fwd_.handle(ix.knn_graph_[static_cast<std::size_t>(r) * ix.knn_ + j]));
        visit(s.neighbours.data(), per, s, top);
      }
    }

    for (std::int64_t j = qb; j < qe; ++j) s.dense[q.indices[j]] = 0.0f;
    for (DocId d : s.visited) s.seen[d >> 6] = 0;
    s.visited.clear();
  }
};

namespace {

// Scratch lives per thread across calls: a single-query search would otherwise zero a
// vocabulary-sized vector and a bitset over the documents on every call. Every query
// leaves it all-zero again, so indexes of any size can share it.
Searcher::Scratch& thread_scratch(std::size_t dim, std::size_t n_docs) {
  thread_local Searcher::Scratch s;
  if (s.dense.size() < dim) s.dense.assign(dim, 0.0f);
  if (s.seen.size() < (n_docs + 63) / 64) s.seen.assign((n_docs + 63) / 64, 0);
  return s;
}

}  // namespace

void SparseIndex::search(const SparseBatchView& queries, const SearchParams& p, TopKOut out) const {
  if (p.k < 1) throw InvalidArgument("k: expected k >= 1, got " + std::to_string(p.k));
  if (out.k != p.k) throw InvalidArgument("internal: output width does not match k");
  if (p.query_cut < 1) throw InvalidArgument("query_cut: expected >= 1, got 0");
  if (!(p.heap_factor >= 0.0f) || !std::isfinite(p.heap_factor))
    throw InvalidArgument("heap_factor: expected a finite value >= 0, got " + std::to_string(p.heap_factor));
  if (queries.dim != dim_)
    throw InvalidArgument("queries: expected " + std::to_string(dim_) + " columns (the index vocabulary), got " +
                          std::to_string(queries.dim));
  validate_batch(queries, "queries", p.num_threads);
  Searcher searcher{*this, p, sparse_kernels()};
  parallel_for(queries.n_rows, p.num_threads, [&](std::size_t qi, std::size_t) {
    Searcher::Scratch& s = thread_scratch(dim_, n_docs_);
    s.top.reset(p.k);
    searcher.search_one(queries, qi, s, s.top);
    s.top.write(out.scores + qi * p.k, out.ids + qi * p.k);
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
  Searcher{*this, p, sparse_kernels(level)}.block_bounds(t, s);
  return s.bound;
}

void SparseIndex::build_knn(std::size_t knn, const SearchParams& params, const ProgressFn& progress) {
  knn_ = 0;
  knn_graph_.clear();
  params_.knn = 0;
  if (knn == 0) return;
  if (n_docs_ < 2) throw InvalidArgument("knn: a kNN graph needs at least 2 documents");
  SearchParams sp = params;
  sp.k = knn + 1;
  sp.n_knn = 0;
  std::vector<DocId> graph(n_docs_ * knn);
  // Every document, as stored, becomes a query (float32 weights), a chunk at a time: the
  // chunk's queries and results are all that is held, and progress is reported between.
  constexpr std::size_t kChunk = 8192;
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
      const ForwardIndex::Row r = fwd_.row(fwd_.handle(static_cast<DocId>(d)));
      for (std::size_t i = 0; i < r.n; ++i) {
        const auto [u, v] = fwd_.entry(r, i);
        terms.push_back(u);
        values.push_back(v);
      }
      indptr.push_back(static_cast<std::int64_t>(terms.size()));
    }
    scores.resize(n * sp.k);
    ids.resize(n * sp.k);
    search(SparseBatchView{indptr.data(), terms.data(), values.data(), n, dim_}, sp, TopKOut{scores.data(), ids.data(), sp.k});
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
