// Internal to cpp/src/sparse (never installed, never included by an ISA translation unit):
// the per-query search routines of SparseIndex, shared by search.cpp (one index) and
// search_segments.cpp (a living index's segments, one call).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/util/doc_filter.hpp"
#include "aftershock/util/topk.hpp"
#include "kernels.hpp"

namespace aftershock::sparse {

constexpr float kNoStop = -std::numeric_limits<float>::infinity();

// Whether the row shares a term with the query scattered in `q`: both weights > 0 (the
// candidate rule of exact_search, which scoring alone cannot decide: a product may round
// to 0). Stops at the first shared term; the row is then in cache for the dot product.
template <class T>
bool shares_term(const T* terms, const float* values, std::size_t n, const float* q) {
  for (std::size_t i = 0; i < n; ++i)
    if (q[terms[i]] > 0.0f && values[i] > 0.0f) return true;
  return false;
}
template <class T>
bool shares_term(const T* terms, const std::uint16_t* values, std::size_t n, const float* q) {
  // IEEE half bits of a value validated >= 0: positive when nonzero with the sign clear.
  for (std::size_t i = 0; i < n; ++i)
    if (q[terms[i]] > 0.0f && values[i] != 0 && values[i] < 0x8000) return true;
  return false;
}

struct Searcher {
  const SparseIndex& ix;
  const SearchParams& p;
  const SparseKernels& kern;
  DocFilter allowed;  // SearchFilter::allowed: every document when null

  bool is_allowed(DocId d) const { return allowed.allows(d); }

  // A block to visit: its bound and where its rows' handles are. `post` (the block's first
  // posting in post_rows_) grows with the global block number (lists in term order, blocks
  // in list order), so it also breaks ties deterministically. Resolving it when the list is
  // bounded (a sequential read of the list's block offsets) spares the walk two dependent
  // random loads per visited block (block offset, then postings), which stalled it.
  struct BlockRef {
    float bound;
    std::uint32_t n;     // postings in the block
    std::uint64_t post;  // index of its first posting in post_rows_
  };

  struct Scratch {
    std::vector<float> dense;
    std::vector<std::uint64_t> seen;
    std::vector<DocId> visited;
    std::vector<std::pair<float, TermId>> terms;
    std::vector<TermId> qterms;  // the query's positive terms, ascending, and their weights
    std::vector<float> qweights;
    float query_mass = 0.0f;  // sum of the positive query weights (the early stop's bound)
    bool may_stop = false;    // whether scoring may stop early (not in the lossless setting)
    std::vector<float> bound;
    std::vector<BlockRef> blocks;
    std::vector<DocId> results;
    std::vector<RowHandle> neighbours;
    TopK top{1};
    SearchStats stats;  // of the current query
  };

  // The document's score, or, when `threshold` is finite and the row's heaviest entries
  // already show it cannot reach it, an upper bound below it (the kernels' early stop).
  float score(const ForwardIndex::Row& r, const float* q, float query_mass, float threshold) const {
    using u16 = std::uint16_t;
    using u32 = std::uint32_t;
    const ForwardIndex& f = ix.fwd_;
    const auto* v16 = static_cast<const u16*>(r.values);
    const auto* v32 = static_cast<const float*>(r.values);
    if (f.wide_terms()) {
      const auto* t = static_cast<const u32*>(r.terms);
      return f.precision() == Precision::kFp32 ? kern.dot_u32_f32(t, v32, r.n, q, query_mass, threshold)
                                               : kern.dot_u32_f16(t, v16, r.n, q, query_mass, threshold);
    }
    const auto* t = static_cast<const u16*>(r.terms);
    return f.precision() == Precision::kFp32 ? kern.dot_u16_f32(t, v32, r.n, q, query_mass, threshold)
                                             : kern.dot_u16_f16(t, v16, r.n, q, query_mass, threshold);
  }

  // Whether row r shares a term with the query scattered in q (shares_term, per layout).
  bool row_shares_term(const ForwardIndex::Row& r, const float* q) const {
    using u16 = std::uint16_t;
    using u32 = std::uint32_t;
    const ForwardIndex& f = ix.fwd_;
    const bool f16 = f.precision() == Precision::kFp16;
    if (f.wide_terms())
      return f16 ? shares_term(static_cast<const u32*>(r.terms), static_cast<const u16*>(r.values), r.n, q)
                 : shares_term(static_cast<const u32*>(r.terms), static_cast<const float*>(r.values), r.n, q);
    return f16 ? shares_term(static_cast<const u16*>(r.terms), static_cast<const u16*>(r.values), r.n, q)
               : shares_term(static_cast<const u16*>(r.terms), static_cast<const float*>(r.values), r.n, q);
  }

  // Rows are read at random, so their latency is hidden in two stages: the first line of
  // a row kHeadAhead documents ahead (its header says how long the row is), then the rest
  // of the row kRowAhead documents ahead, once that header is likely in cache. A row whose
  // document was already scored is not fetched: about a third of the rows a query meets
  // repeat a document of an earlier block.
  static constexpr std::size_t kHeadAhead = 8, kRowAhead = 2;
  void prefetch_head(RowHandle h) const { __builtin_prefetch(ix.fwd_.row_begin(h)); }
  void prefetch_row(RowHandle h, const Scratch& s) const {
    const ForwardIndex::Row r = ix.fwd_.row(h);
    if (((s.seen[r.doc >> 6] >> (r.doc & 63)) & 1) || !is_allowed(r.doc)) return;
    const auto begin = reinterpret_cast<std::uintptr_t>(ix.fwd_.row_begin(h));
    const std::uintptr_t last = begin + ix.fwd_.row_bytes(r.n) - 1;
    for (std::uintptr_t line = (begin | 63) + 1; line <= last; line += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(line));
  }

  // Score the not-yet-seen allowed documents among rows[0, n). A document filtered out is
  // skipped before its row is read past the header; it is not marked seen (it is skipped
  // again, as cheaply, wherever it recurs).
  //
  // kNeighbours: the rows are kNN-graph neighbours, which (unlike postings) need not share a
  // term with the query; only those that do are offered (exact_search's candidate rule, so
  // a query matching fewer than k documents is padded, not filled with zero scores). A
  // positive score proves a shared term (weights are >= 0); only a score <= 0 is checked
  // against the row, and a stopped row's bound is refused by TopK either way.
  template <bool kNeighbours = false>
  void visit(const RowHandle* rows, std::size_t n, Scratch& s, TopK& top) const {
    for (std::size_t i = 0; i < std::min(n, kHeadAhead); ++i) prefetch_head(rows[i]);
    for (std::size_t i = 0; i < std::min(n, kRowAhead); ++i) prefetch_row(rows[i], s);
    s.stats.postings += n;
    // u16 terms and fp16 values (the default layout): documents are scored in pairs, so
    // the dependent chains of two rows overlap (Debian, default parameters, one thread,
    // AVX-512: 8-14% faster search).
    const bool pairs = !ix.fwd_.wide_terms() && ix.fwd_.precision() == Precision::kFp16;
    bool pending = false;
    ForwardIndex::Row held{};
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kHeadAhead < n) prefetch_head(rows[i + kHeadAhead]);
      if (i + kRowAhead < n) prefetch_row(rows[i + kRowAhead], s);
      const ForwardIndex::Row r = ix.fwd_.row(rows[i]);
      if (!is_allowed(r.doc)) continue;
      std::uint64_t& word = s.seen[r.doc >> 6];
      const std::uint64_t bit = std::uint64_t{1} << (r.doc & 63);
      if (word & bit) continue;
      word |= bit;
      s.visited.push_back(r.doc);
      // A document stopped early can never enter later either: the threshold (the floor,
      // then the k-th score) only grows, and TopK refuses scores below the floor even
      // while it is not full.
      if (!pairs) {
        offer<kNeighbours>(score(r, s.dense.data(), s.query_mass, s.may_stop ? top.threshold() : kNoStop), r, s, top);
        continue;
      }
      if (!pending) {
        held = r;
        pending = true;
        continue;
      }
      // Scored together with the held document, both against the threshold before either
      // is offered: the second may stop later than it would have, never differently (a
      // stop proves its score below a threshold that only grows), so results are the same.
      float out[2];
      kern.dot2_u16_f16(static_cast<const std::uint16_t*>(held.terms), static_cast<const std::uint16_t*>(held.values),
                        held.n, static_cast<const std::uint16_t*>(r.terms), static_cast<const std::uint16_t*>(r.values),
                        r.n, s.dense.data(), s.query_mass, s.may_stop ? top.threshold() : kNoStop, out);
      offer<kNeighbours>(out[0], held, s, top);
      offer<kNeighbours>(out[1], r, s, top);
      pending = false;
    }
    if (pending)
      offer<kNeighbours>(score(held, s.dense.data(), s.query_mass, s.may_stop ? top.threshold() : kNoStop), held, s, top);
  }

  template <bool kNeighbours>
  void offer(float score, const ForwardIndex::Row& r, const Scratch& s, TopK& top) const {
    if (kNeighbours && !(score > 0.0f) && !row_shares_term(r, s.dense.data())) return;
    top.push(score, r.doc);
  }

  // Upper-bound estimates of every block of list t: summary · query, dequantized.
  void block_bounds(TermId t, Scratch& s) const {
    summary_codes(t, s);
    const std::size_t b0 = ix.list_block_begin_[t];
    for (std::size_t b = 0; b < s.bound.size(); ++b) s.bound[b] *= ix.block_scale_[b0 + b];
  }
  // The same before dequantization: Σ query weight x code per block of list t, in s.bound.
  void summary_codes(TermId t, Scratch& s) const {
    s.bound.assign(ix.list_block_begin_[t + 1] - ix.list_block_begin_[t], 0.0f);
    ix.summaries_.accumulate(kern, t, s.qterms.data(), s.qweights.data(), s.qterms.size(), s.bound.data());
  }

  // Visits s.blocks best bound first (equal bounds: the smaller global block number, lists
  // being in term order, so the walk is deterministic) until the first block whose bound is
  // below heap_factor * threshold, the threshold being max(floor, k-th score) (-inf while
  // there is neither, which cuts nothing): it only grows, so no later block could pass.
  // In rounds rather than through a heap over all of them: the best kRound blocks left are
  // selected and sorted, visited, and then every block left below the cut is dropped (it
  // would never be visited) -- usually nearly all of a query's ~1,500 blocks, which
  // therefore are never heap-ordered. The order, and so the result, is a priority queue's.
  static constexpr std::size_t kRound = 32;
  void walk_blocks(Scratch& s, TopK& top) const {
    auto higher = [](const BlockRef& a, const BlockRef& b) { return a.bound > b.bound || (a.bound == b.bound && a.post < b.post); };
    auto first = s.blocks.begin(), end = s.blocks.end();
    while (first != end) {
      const auto mid = first + static_cast<std::ptrdiff_t>(std::min<std::size_t>(kRound, static_cast<std::size_t>(end - first)));
      std::nth_element(first, mid, end, higher);
      std::sort(first, mid, higher);
      // The round's postings are fetched together (independent loads), before any is needed.
      for (auto it = first; it != mid; ++it) __builtin_prefetch(ix.post_rows_.data() + it->post);
      for (auto it = first; it != mid; ++it) {
        if (it->bound < p.heap_factor * top.threshold()) return;
        ++s.stats.blocks_visited;
        // Blocks hold ~8 documents, too few for visit's prefetch to run ahead of the first
        // ones: the next block (likely visited next) has its rows' heads fetched while this
        // one is scored.
        if (it + 1 != mid) {
          const RowHandle* next_rows = ix.post_rows_.data() + it[1].post;
          for (std::size_t i = 0; i < std::min<std::size_t>(it[1].n, kHeadAhead); ++i) prefetch_head(next_rows[i]);
        }
        visit(ix.post_rows_.data() + it->post, it->n, s, top);
      }
      first = mid;
      if (top.threshold() > kNoStop) {
        const float cut = p.heap_factor * top.threshold();
        end = std::partition(first, end, [cut](const BlockRef& b) { return !(b.bound < cut); });
      }
    }
  }

  // Fills `top` (empty, sized for k, with the query's floor) with query qi's results;
  // leaves the scratch all-zero.
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
    s.query_mass = 0.0f;
    for (float w : s.qweights) s.query_mass += w;
    // heap_factor 0 is the setting that skips nothing; it stays a plain exhaustive scorer.
    s.may_stop = p.heap_factor > 0.0f;
    const std::size_t cut = std::min(p.query_cut, s.terms.size());
    s.stats = SearchStats{};
    s.stats.lists = cut;
    auto heavier = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    std::partial_sort(s.terms.begin(), s.terms.begin() + static_cast<std::ptrdiff_t>(cut), s.terms.end(), heavier);

    if (p.heap_factor <= 0.0f) {  // nothing can be skipped: no bounds needed
      for (std::size_t ti = 0; ti < cut; ++ti) {
        const TermId t = s.terms[ti].second;
        const std::size_t nb = ix.list_block_begin_[t + 1] - ix.list_block_begin_[t];
        s.stats.blocks += nb;
        s.stats.blocks_visited += nb;
        visit(ix.post_rows_.data() + ix.list_post_begin_[t], ix.list_post_begin_[t + 1] - ix.list_post_begin_[t], s, top);
      }
    } else {
      // Every block of every walked list, bounded, then visited best bound first across
      // the lists: the k-th score rises fastest, so the stop comes soonest.
      // (Sized once and written in place: push_back's capacity check and the temporary it
      // copies from cost 4% of search time.)
      std::size_t total = 0;
      for (std::size_t ti = 0; ti < cut; ++ti)
        total += ix.list_block_begin_[s.terms[ti].second + 1] - ix.list_block_begin_[s.terms[ti].second];
      s.blocks.resize(total);
      BlockRef* out = s.blocks.data();
      for (std::size_t ti = 0; ti < cut; ++ti) {
        const TermId t = s.terms[ti].second;
        const std::size_t b0 = ix.list_block_begin_[t], nb = ix.list_block_begin_[t + 1] - b0;
        if (nb == 0) continue;
        summary_codes(t, s);
        s.stats.blocks += nb;
        const std::uint64_t p0 = ix.list_post_begin_[t], list_n = ix.list_post_begin_[t + 1] - p0;
        const auto* begins = ix.block_post_begin_.data() + b0;
        const float* scale = ix.block_scale_.data() + b0;
        for (std::size_t b = 0; b < nb; ++b, ++out) {
          const std::uint64_t end = b + 1 < nb ? begins[b + 1] : list_n;
          out->bound = s.bound[b] * scale[b];
          out->n = static_cast<std::uint32_t>(end - begins[b]);
          out->post = p0 + begins[b];
        }
      }
      walk_blocks(s, top);
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
        visit<true>(s.neighbours.data(), per, s, top);
      }
    }

    s.stats.docs_scored = s.visited.size();
    for (std::int64_t j = qb; j < qe; ++j) s.dense[q.indices[j]] = 0.0f;
    for (DocId d : s.visited) s.seen[d >> 6] = 0;
    s.visited.clear();
  }

  // Fills `top` (empty, sized for k, with the query's floor) with the exact top of query
  // qi among the listed documents docs[0, n_listed) that `allowed` lets through and that
  // share a term with the query (search_subset's rule). Leaves the scratch all-zero.
  // PRECONDITION: docs strictly increasing and < n_docs (search_subset checks them).
  void exact_one(const SparseBatchView& q, std::size_t qi, const DocId* docs, std::size_t n_listed, Scratch& s,
                 TopK& top) const {
    const ForwardIndex& fwd = ix.fwd_;
    const std::int64_t qb = q.indptr[qi], qe = q.indptr[qi + 1];
    float query_mass = 0.0f;
    for (std::int64_t j = qb; j < qe; ++j) {
      s.dense[q.indices[j]] = q.values[j];
      if (q.values[j] > 0.0f) query_mass += q.values[j];
    }
    const float* qd = s.dense.data();
    for (std::size_t i = 0; i < std::min(n_listed, kHeadAhead); ++i) prefetch_head(fwd.handle(docs[i]));
    for (std::size_t i = 0; i < n_listed; ++i) {
      if (i + kHeadAhead < n_listed) prefetch_head(fwd.handle(docs[i + kHeadAhead]));
      const DocId d = docs[i];
      AFTERSHOCK_DCHECK(d < ix.n_docs_);
      if (!is_allowed(d)) continue;
      const ForwardIndex::Row r = fwd.row(fwd.handle(d));
      if (!row_shares_term(r, qd)) continue;
      // Exact despite the early stop: a row stops only when its score is certainly below
      // the threshold (the floor or the k-th score), which TopK then refuses.
      top.push(score(r, qd, query_mass, top.threshold()), d);
    }
    for (std::int64_t j = qb; j < qe; ++j) s.dense[q.indices[j]] = 0.0f;
  }
};

inline void check_search_params(const SearchParams& p) {
  if (p.k < 1) throw InvalidArgument("k: expected k >= 1, got " + std::to_string(p.k));
  if (p.query_cut < 1) throw InvalidArgument("query_cut: expected >= 1, got 0");
  if (!(p.heap_factor >= 0.0f) || !std::isfinite(p.heap_factor))
    throw InvalidArgument("heap_factor: expected a finite value >= 0, got " + std::to_string(p.heap_factor));
}

// Scratch lives per thread across calls: a single-query search would otherwise zero a
// vocabulary-sized vector and a bitset over the documents on every call. Every query
// leaves it all-zero again, so indexes of any size can share it.
inline Searcher::Scratch& thread_scratch(std::size_t dim, std::size_t n_docs) {
  thread_local Searcher::Scratch s;
  if (s.dense.size() < dim) s.dense.assign(dim, 0.0f);
  if (s.seen.size() < (n_docs + 63) / 64) s.seen.assign((n_docs + 63) / 64, 0);
  return s;
}

}  // namespace aftershock::sparse
