// Shared helpers of the C++ tests: seeded random data and the SIMD levels this CPU runs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "aftershock/simd/level.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/random.hpp"

namespace aftershock::test {

/// Every level compiled in and supported here (scalar first).
inline std::vector<simd::Level> runnable_levels() {
  std::vector<simd::Level> out;
  for (simd::Level l : simd::compiled_levels())
    if (simd::is_supported(l)) out.push_back(l);
  return out;
}

/// A CSR batch that owns its arrays: rows of `nnz` distinct ascending terms below `dim`,
/// log-normal weights, with term popularity skewed towards small ids (as in SPLADE).
/// Drawn with the core's portable Rng, so a seed gives the same batch under every
/// compiler and standard library (test_determinism.cpp relies on it).
struct Csr {
  std::vector<std::int64_t> indptr{0};
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  std::size_t dim = 0;

  SparseBatchView view() const { return {indptr.data(), indices.data(), values.data(), indptr.size() - 1, dim}; }
};

inline Csr random_csr(std::size_t rows, std::size_t dim, std::size_t nnz, std::uint64_t seed) {
  Rng rng(seed);
  auto unit = [&](Rng& g) { return g.uniform(); };
  auto weight = [&](Rng& g) { return static_cast<float>(std::exp(g.normal())); };
  Csr c;
  c.dim = dim;
  std::vector<char> used(dim, 0);
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<std::uint32_t> row;
    while (row.size() < std::min(nnz, dim)) {
      const auto t = static_cast<std::uint32_t>(static_cast<double>(dim) * unit(rng) * unit(rng));  // skewed
      if (!used[t]) {
        used[t] = 1;
        row.push_back(t);
      }
    }
    std::sort(row.begin(), row.end());
    for (std::uint32_t t : row) {
      used[t] = 0;
      c.indices.push_back(t);
      c.values.push_back(weight(rng));
    }
    c.indptr.push_back(static_cast<std::int64_t>(c.indices.size()));
  }
  return c;
}

}  // namespace aftershock::test
