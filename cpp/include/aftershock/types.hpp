// Basic vocabulary types shared by every module. Non-owning views only: owners live in
// the index classes, and the bindings turn numpy buffers into these views.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aftershock {

using DocId = std::uint32_t;   // row number of a document inside one index
using TermId = std::uint32_t;  // column of a sparse vector (vocabulary entry)
using Score = float;

/// A CSR batch of sparse vectors: row i is indices[indptr[i]:indptr[i+1]] with the
/// matching values. Views never own memory.
struct SparseBatchView {
  const std::int64_t* indptr = nullptr;  // n_rows + 1 entries
  const std::uint32_t* indices = nullptr;
  const float* values = nullptr;
  std::size_t n_rows = 0;
  std::size_t dim = 0;  // vocabulary size: every index must be < dim

  std::size_t nnz() const { return n_rows == 0 ? 0 : static_cast<std::size_t>(indptr[n_rows]); }
};

/// A row-major [rows, dim] float32 matrix view.
struct DenseView {
  const float* data = nullptr;
  std::size_t rows = 0;
  std::size_t dim = 0;
};

/// Top-k output buffers, row-major [n_queries, k]; the caller owns them.
struct TopKOut {
  float* scores = nullptr;
  std::int64_t* ids = nullptr;
  std::size_t k = 0;
};

}  // namespace aftershock
