// The sparse SIMD kernels against float64 on random shapes, at every level this CPU runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

#include "sparse/kernels.hpp"
#include "aftershock/util/half.hpp"
#include "test_util.hpp"

namespace aftershock::sparse {
namespace {

using SparseKernelsAt = test::PerLevelTest;
constexpr float kNoStop = -std::numeric_limits<float>::infinity();

TEST_P(SparseKernelsAt, DotProductsAgreeWithFloat64WithinTheRoundingBound) {
  Rng rng(7);
  auto w = [](Rng& r) { return static_cast<float>(std::exp(r.normal())); };
  const std::size_t dim = 70000;
  std::vector<float> query(dim);
  for (float& q : query) q = w(rng);
  for (std::size_t n : {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129, 150, 400}) {
    for (std::size_t offset = 0; offset < 3; ++offset) {  // misaligned rows
      std::vector<std::uint32_t> t32(n + offset);
      std::vector<std::uint16_t> t16(n + offset), h(n + offset);
      std::vector<float> f(n + offset), as_f32(n);
      for (std::size_t i = 0; i < n; ++i) {
        t32[offset + i] = static_cast<std::uint32_t>(rng.below(65536));
        t16[offset + i] = static_cast<std::uint16_t>(t32[offset + i]);
        f[offset + i] = w(rng);
        h[offset + i] = float_to_fp16(f[offset + i]);
        as_f32[i] = fp16_to_float(h[offset + i]);
      }
      {
        const simd::Level level = this->level();
        const SparseKernels& k = sparse_kernels(level);
        double exact32 = 0, abs32 = 0, exact16 = 0, abs16 = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double q = query[t32[offset + i]];
          exact32 += q * f[offset + i];
          abs32 += std::abs(q * f[offset + i]);
          exact16 += q * as_f32[i];
          abs16 += std::abs(q * as_f32[i]);
        }
        const double eps = FLT_EPSILON / 2;
        const float d32 = k.dot_u32_f32(t32.data() + offset, f.data() + offset, n, query.data(), 0.0f, kNoStop);
        const float d16 = k.dot_u16_f16(t16.data() + offset, h.data() + offset, n, query.data(), 0.0f, kNoStop);
        EXPECT_LE(std::abs(d32 - exact32), static_cast<double>(n) * eps * abs32 + 1e-30) << simd::level_name(level) << " n=" << n;
        EXPECT_LE(std::abs(d16 - exact16), static_cast<double>(n) * eps * abs16 + 1e-30) << simd::level_name(level) << " n=" << n;
        // The term width never changes the bits (one level, same row).
        EXPECT_EQ(d32, k.dot_u16_f32(t16.data() + offset, f.data() + offset, n, query.data(), 0.0f, kNoStop));
        EXPECT_EQ(d16, k.dot_u32_f16(t32.data() + offset, h.data() + offset, n, query.data(), 0.0f, kNoStop));
      }
    }
  }
}

// The early stop: on rows stored heaviest first, a finite threshold either changes nothing
// (same bits as no threshold) or returns a value below the threshold that bounds the
// exact score from above, and then the exact score is below the threshold too.
TEST_P(SparseKernelsAt, EarlyStopReturnsTheScoreOrABoundBelowTheThreshold) {
  Rng rng(13);
  const std::size_t dim = 5000;
  std::vector<float> query(dim, 0.0f);
  float mass = 0.0f;
  for (std::size_t i = 0; i < 1500; ++i) {  // a query touching about a quarter of the terms
    const std::size_t t = rng.below(dim);
    if (query[t] == 0.0f) mass += query[t] = static_cast<float>(std::exp(rng.normal()));
  }
  const SparseKernels& k = sparse_kernels(this->level());
  std::size_t stopped = 0;
  for (std::size_t trial = 0; trial < 400; ++trial) {
    const std::size_t n = rng.below(300);
    std::vector<std::uint16_t> t16(n), h(n);
    std::vector<float> f(n);
    for (std::size_t i = 0; i < n; ++i) {
      t16[i] = static_cast<std::uint16_t>(rng.below(dim));
      f[i] = static_cast<float>(std::exp(rng.normal()));
    }
    std::sort(f.begin(), f.end(), std::greater<float>());
    for (std::size_t i = 0; i < n; ++i) h[i] = float_to_fp16(f[i]);
    const float exact32 = k.dot_u16_f32(t16.data(), f.data(), n, query.data(), 0.0f, kNoStop);
    const float exact16 = k.dot_u16_f16(t16.data(), h.data(), n, query.data(), 0.0f, kNoStop);
    for (float threshold : {exact32 * 0.5f, exact32 * 0.999f, exact32, exact32 * 1.001f, exact32 * 2.0f, 1e30f}) {
      const float got = k.dot_u16_f32(t16.data(), f.data(), n, query.data(), mass, threshold);
      if (got != exact32) {
        ++stopped;
        EXPECT_LT(got, threshold) << simd::level_name(this->level()) << " n=" << n;
        EXPECT_GE(got, exact32 * (1 - 1e-5f)) << "the returned bound is below the score";
        EXPECT_LT(exact32, threshold) << "stopped a document that reaches the threshold";
      }
      const float got16 = k.dot_u16_f16(t16.data(), h.data(), n, query.data(), mass, threshold);
      if (got16 != exact16) {
        EXPECT_LT(got16, threshold);
        EXPECT_LT(exact16, threshold);
      }
    }
  }
  EXPECT_GT(stopped, 100u) << "the early stop never triggered";
}

TEST_P(SparseKernelsAt, PairedDotGivesEachRowTheBitsOfTheSingleDot) {
  // dot2 (two rows in lockstep on levels that have it) must return exactly what dot returns
  // for each row alone, whether a row stops early, ends first, or runs to the end.
  Rng rng(29);
  const std::size_t dim = 3000;
  std::vector<float> query(dim, 0.0f);
  float mass = 0.0f;
  for (std::size_t i = 0; i < 700; ++i) {
    const std::size_t t = rng.below(dim);
    if (query[t] == 0.0f) mass += query[t] = static_cast<float>(std::exp(rng.normal()));
  }
  const SparseKernels& k = sparse_kernels(this->level());
  auto row = [&](std::size_t n, std::vector<std::uint16_t>& t, std::vector<std::uint16_t>& h) {
    std::vector<float> f(n);
    t.resize(n);
    h.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      t[i] = static_cast<std::uint16_t>(rng.below(dim));
      f[i] = static_cast<float>(std::exp(rng.normal()));
    }
    std::sort(f.begin(), f.end(), std::greater<float>());
    for (std::size_t i = 0; i < n; ++i) h[i] = float_to_fp16(f[i]);
  };
  std::size_t stopped = 0, kept = 0;
  for (std::size_t trial = 0; trial < 600; ++trial) {
    std::vector<std::uint16_t> ta, ha, tb, hb;
    row(rng.below(200), ta, ha);
    row(rng.below(200), tb, hb);
    const float full_a = k.dot_u16_f16(ta.data(), ha.data(), ta.size(), query.data(), 0.0f, kNoStop);
    const float full_b = k.dot_u16_f16(tb.data(), hb.data(), tb.size(), query.data(), 0.0f, kNoStop);
    const float mid = 0.5f * (full_a + full_b);
    for (float threshold : {kNoStop, 0.0f, mid * 0.5f, mid, mid * 1.5f, std::max(full_a, full_b) * 1.01f, 1e30f}) {
      float out[2];
      k.dot2_u16_f16(ta.data(), ha.data(), ta.size(), tb.data(), hb.data(), tb.size(), query.data(), mass, threshold,
                     out);
      const float a = k.dot_u16_f16(ta.data(), ha.data(), ta.size(), query.data(), mass, threshold);
      const float b = k.dot_u16_f16(tb.data(), hb.data(), tb.size(), query.data(), mass, threshold);
      EXPECT_EQ(out[0], a) << simd::level_name(this->level()) << " na=" << ta.size() << " nb=" << tb.size();
      EXPECT_EQ(out[1], b) << simd::level_name(this->level()) << " na=" << ta.size() << " nb=" << tb.size();
      (a != full_a ? stopped : kept) += 1;
    }
  }
  EXPECT_GT(stopped, 200u);
  EXPECT_GT(kept, 200u);
}

TEST_P(SparseKernelsAt, AccumulateCodesMatchesFloat64) {
  Rng rng(11);
  for (std::size_t n : {0, 1, 15, 16, 17, 100, 256}) {
    std::vector<std::uint8_t> blocks(256), codes(n);
    for (std::size_t i = 0; i < 256; ++i) blocks[i] = static_cast<std::uint8_t>(i);
    aftershock::shuffle(blocks.begin(), blocks.end(), rng);  // distinct, as in a run
    blocks.resize(n);
    for (auto& c : codes) c = static_cast<std::uint8_t>(1 + rng.below(255));
    const float weight = 0.37f;
    {
      const simd::Level level = this->level();
      std::vector<float> acc(256, 1.5f);
      sparse_kernels(level).accumulate_codes_u8(blocks.data(), codes.data(), n, weight, acc.data());
      std::vector<double> want(256, 1.5);
      for (std::size_t i = 0; i < n; ++i) want[blocks[i]] += static_cast<double>(weight) * codes[i];
      for (std::size_t b = 0; b < 256; ++b)
        EXPECT_NEAR(acc[b], want[b], 2 * FLT_EPSILON * want[b]) << simd::level_name(level) << " block " << b;
    }
  }
}

INSTANTIATE_PER_LEVEL(SparseKernelsAt);

}  // namespace
}  // namespace aftershock::sparse
