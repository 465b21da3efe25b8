// Shared helpers of the C++ tests: seeded random data and the SIMD levels this CPU runs.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aftershock/simd/level.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/random.hpp"

namespace aftershock::test {

/// Every level of the registry that is compiled in and supported here (scalar first).
inline std::vector<simd::Level> runnable_levels() {
  std::vector<simd::Level> out;
  for (const simd::LevelInfo& l : simd::levels())
    if (l.supported) out.push_back(l.level);
  return out;
}

/// Kernel tests are parameterized over the registry: one instance per entry of
/// simd::levels() (by index, so that registration needs no CPU detection), skipped when the
/// level is not compiled in or not supported here. Use with INSTANTIATE_PER_LEVEL.
class PerLevelTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const simd::LevelInfo& l = info();
    if (!l.supported) GTEST_SKIP() << l.name << ": not " << (l.compiled ? "supported by this CPU" : "compiled in");
  }
  const simd::LevelInfo& info() const { return simd::levels()[static_cast<std::size_t>(GetParam())]; }
  simd::Level level() const { return info().level; }
};

inline std::string level_param_name(const ::testing::TestParamInfo<int>& p) {
  return simd::levels()[static_cast<std::size_t>(p.param)].name;
}

#define INSTANTIATE_PER_LEVEL(suite)                                                                              \
  INSTANTIATE_TEST_SUITE_P(Levels, suite, ::testing::Range(0, static_cast<int>(::aftershock::simd::kLevelCount)), \
                           ::aftershock::test::level_param_name)

/// sum over query tokens of max over document tokens of sum_k |q_ik d_jk|: the magnitude that
/// STYLE section 3's MaxSim rounding bound scales (each dot product is off by at most
/// dim * eps times it, the max keeps that, and the sum over query tokens adds m roundings).
inline double maxsim_abs_mass(const float* q, std::size_t m, const float* doc, std::size_t n, std::size_t dim) {
  double total = 0;
  for (std::size_t i = 0; i < m; ++i) {
    double worst = 0;
    for (std::size_t j = 0; j < n; ++j) {
      double a = 0;
      for (std::size_t k = 0; k < dim; ++k) a += std::abs(static_cast<double>(q[i * dim + k]) * doc[j * dim + k]);
      worst = std::max(worst, a);
    }
    total += worst;
  }
  return total;
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
