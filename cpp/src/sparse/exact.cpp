// Brute-force exact top-k: an inverted index over all positive postings finds every
// document that shares a term with the query; each is then scored with the same dot
// kernel the index uses, so lossless index results match bit for bit.
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/sparse/kernels.hpp"
#include "topk.hpp"

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

  // Inverted index of positive postings: counting sort by term.
  std::vector<std::uint64_t> head(docs.dim + 1, 0);
  for (std::size_t j = 0; j < docs.nnz(); ++j)
    if (docs.values[j] > 0.0f) ++head[docs.indices[j] + 1];
  for (std::size_t t = 0; t < docs.dim; ++t) head[t + 1] += head[t];
  std::vector<DocId> post(head[docs.dim]);
  {
    std::vector<std::uint64_t> fill(head.begin(), head.end() - 1);
    for (std::size_t d = 0; d < docs.n_rows; ++d)
      for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j)
        if (docs.values[j] > 0.0f) post[fill[docs.indices[j]]++] = static_cast<DocId>(d);
  }

  const std::size_t workers = parallel_workers(queries.n_rows, num_threads);
  struct Scratch {
    std::vector<float> dense;
    std::vector<std::uint64_t> seen;
    std::vector<DocId> candidates;
  };
  std::vector<Scratch> scratch(workers);
  parallel_for(queries.n_rows, num_threads, [&](std::size_t qi, std::size_t w) {
    Scratch& s = scratch[w];
    if (s.dense.empty()) {
      s.dense.assign(docs.dim, 0.0f);
      s.seen.assign((docs.n_rows + 63) / 64, 0);
    }
    const std::int64_t qb = queries.indptr[qi], qe = queries.indptr[qi + 1];
    for (std::int64_t j = qb; j < qe; ++j) s.dense[queries.indices[j]] = queries.values[j];
    s.candidates.clear();
    for (std::int64_t j = qb; j < qe; ++j) {
      if (!(queries.values[j] > 0.0f)) continue;
      const TermId t = queries.indices[j];
      for (std::uint64_t p = head[t]; p < head[t + 1]; ++p) {
        const DocId d = post[p];
        std::uint64_t& word = s.seen[d >> 6];
        const std::uint64_t bit = std::uint64_t{1} << (d & 63);
        if (!(word & bit)) {
          word |= bit;
          s.candidates.push_back(d);
        }
      }
    }
    TopK top(k);
    for (DocId d : s.candidates) {
      const std::int64_t b = docs.indptr[d], e = docs.indptr[d + 1];
      top.push(kern.dot_u32_f32(docs.indices + b, docs.values + b, static_cast<std::size_t>(e - b), s.dense.data()),
               d);
      s.seen[d >> 6] = 0;
    }
    for (std::int64_t j = qb; j < qe; ++j) s.dense[queries.indices[j]] = 0.0f;
    top.write(out.scores + qi * k, out.ids + qi * k);
  });
}

}  // namespace aftershock::sparse
