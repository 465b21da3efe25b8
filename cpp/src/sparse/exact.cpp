// Exact top-k in two steps. (1) Term at a time: every document sharing a term with the
// query accumulates its score in a dense array, in float32, which finds the candidates and
// approximates their scores cheaply (the work is the postings of the query's terms, not
// the candidates' rows). (2) Every candidate that could still be in the top k given the
// rounding error of both sums is rescored with the same dot kernel the index uses, so the
// result is exactly the kernel's top k and lossless index results match it bit for bit.
#include <cmath>
#include <limits>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/util/memory.hpp"
#include "aftershock/util/topk.hpp"
#include "kernels.hpp"

namespace aftershock::sparse {

void exact_search(const SparseBatchView& docs, const SparseBatchView& queries, std::size_t k,
                  std::size_t num_threads, TopKOut out) {
  if (k < 1) throw InvalidArgument("k: expected k >= 1, got " + std::to_string(k));
  if (queries.dim != docs.dim)
    throw InvalidArgument("queries: dim " + std::to_string(queries.dim) + " does not match docs dim " +
                          std::to_string(docs.dim));
  validate_batch(docs, "docs", num_threads);
  validate_batch(queries, "queries", num_threads);
  const SparseKernels& kern = sparse_kernels();
  // Per vocabulary entry: the list heads (8) and each worker's scattered query (4); per
  // document each worker's accumulator (4). Refused before allocating.
  const std::size_t workers = parallel_workers(queries.n_rows, num_threads);
  check_memory_need(bytes_sum(bytes_product({docs.dim, 8 + 4 * workers}), bytes_product({docs.n_rows, 4 * workers})),
                    "docs: exact search over a vocabulary of " + std::to_string(docs.dim) +
                        " terms (dim, or the largest term id + 1 when dim is not given)",
                    "pass dim= the true vocabulary size, or renumber the term ids to 0..n_terms - 1");

  // Inverted index of positive postings (document, weight): counting sort by term.
  std::vector<std::uint64_t> head(docs.dim + 1, 0);
  std::size_t longest_row = 0;
  for (std::size_t d = 0; d < docs.n_rows; ++d)
    longest_row = std::max(longest_row, static_cast<std::size_t>(docs.indptr[d + 1] - docs.indptr[d]));
  for (std::size_t j = 0; j < docs.nnz(); ++j)
    if (docs.values[j] > 0.0f) ++head[docs.indices[j] + 1];
  for (std::size_t t = 0; t < docs.dim; ++t) head[t + 1] += head[t];
  std::vector<DocId> post(head[docs.dim]);
  std::vector<float> post_w(head[docs.dim]);
  {
    std::vector<std::uint64_t> fill(head.begin(), head.end() - 1);
    for (std::size_t d = 0; d < docs.n_rows; ++d)
      for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j)
        if (docs.values[j] > 0.0f) {
          const std::uint64_t at = fill[docs.indices[j]]++;
          post[at] = static_cast<DocId>(d);
          post_w[at] = docs.values[j];
        }
  }

  struct Scratch {
    std::vector<float> dense;  // the query, scattered
    std::vector<float> acc;    // term-at-a-time scores; -1 marks a document not reached yet
    std::vector<DocId> candidates;
    TopK approx{1}, top{1};
  };
  std::vector<Scratch> scratch(workers);
  parallel_for(queries.n_rows, num_threads, [&](std::size_t qi, std::size_t w) {
    Scratch& s = scratch[w];
    if (s.dense.empty()) {
      s.dense.assign(docs.dim, 0.0f);
      s.acc.assign(docs.n_rows, -1.0f);
    }
    const std::int64_t qb = queries.indptr[qi], qe = queries.indptr[qi + 1];
    std::size_t n_terms = 0;
    for (std::int64_t j = qb; j < qe; ++j) s.dense[queries.indices[j]] = queries.values[j];
    s.candidates.clear();
    // Scores are sums of non-negative products, so -1 can only mean "not reached"; a
    // product that rounds to 0 still makes its document a candidate.
    for (std::int64_t j = qb; j < qe; ++j) {
      const float qv = queries.values[j];
      if (!(qv > 0.0f)) continue;
      ++n_terms;
      const TermId t = queries.indices[j];
      for (std::uint64_t p = head[t]; p < head[t + 1]; ++p) {
        float& a = s.acc[post[p]];
        if (a < 0.0f) {
          s.candidates.push_back(post[p]);
          a = 0.0f;
        }
        a += qv * post_w[p];
      }
    }
    // Both sums (term at a time here, the kernel's below) are sums of non-negative terms,
    // each within a factor (1 +- eps) of the true score S, eps = (terms added + 8) * 2^-24.
    // Let T_k be the k-th largest approximate score. Any document of the kernel's top k has
    // approx >= c * T_k with c = ((1 - eps) / (1 + eps))^2, so rescoring those is exact.
    TopK& approx = s.approx;
    approx.reset(k);
    for (DocId d : s.candidates) approx.push(s.acc[d], d);
    const double eps = static_cast<double>(std::max(n_terms, longest_row) + 8) * std::ldexp(1.0, -24);
    const double c = ((1.0 - eps) / (1.0 + eps)) * ((1.0 - eps) / (1.0 + eps));
    // Scores near the float range's ends (overflow, or underflowing products), or rows so
    // long that the bound is void, mean every candidate is rescored.
    const float tk = approx.threshold();
    const double cut = approx.full() && std::isfinite(tk) && tk > 1e-30f && eps < 0.5 ? c * tk : -1.0;
    TopK& top = s.top;
    top.reset(k);
    for (DocId d : s.candidates) {
      if (static_cast<double>(s.acc[d]) >= cut) {
        const std::int64_t b = docs.indptr[d], e = docs.indptr[d + 1];
        top.push(kern.dot_u32_f32(docs.indices + b, docs.values + b, static_cast<std::size_t>(e - b), s.dense.data(),
                                  0.0f, -std::numeric_limits<float>::infinity()),
                 d);
      }
      s.acc[d] = -1.0f;
    }
    for (std::int64_t j = qb; j < qe; ++j) s.dense[queries.indices[j]] = 0.0f;
    top.write(out.scores + qi * k, out.ids + qi * k);
  });
}

}  // namespace aftershock::sparse
