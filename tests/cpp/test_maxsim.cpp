// Exact MaxSim (fp32) at every SIMD level against the float64 reference, on random shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/maxsim/maxsim.hpp"
#include "test_util.hpp"

namespace aftershock::maxsim {
namespace {

// Restores the active level when a test ends, whatever it set.
struct LevelGuard {
  simd::Level saved = simd::active_level();
  ~LevelGuard() { simd::set_active_level(saved); }
};

using MaxSimAt = test::PerLevelTest;

TEST_P(MaxSimAt, Fp32AgreesWithFloat64) {
  LevelGuard guard;
  Rng rng(13);
  auto g = [](Rng& r) { return static_cast<float>(r.normal()); };
  for (std::size_t trial = 0; trial < 40; ++trial) {
    const std::size_t m = 1 + rng.below(40), n = 1 + rng.below(70), dim = 1 + rng.below(200);
    std::vector<float> q(m * dim), d(n * dim);
    for (float& x : q) x = g(rng);
    for (float& x : d) x = g(rng);
    const double want = maxsim_reference_f64(q.data(), m, d.data(), n, dim);
    // Each dot product is off by at most dim * eps * sum|q_i d_j|; the max keeps that, and
    // m more roundings come from the sum over query tokens.
    const double bound = static_cast<double>(dim + m) * FLT_EPSILON * test::maxsim_abs_mass(q.data(), m, d.data(), n, dim);
    {
      const simd::Level level = this->level();
      simd::set_active_level(level);
      const float got = maxsim_f32(q.data(), m, d.data(), n, dim);
      EXPECT_LE(std::abs(got - want), bound) << simd::level_name(level) << " m=" << m << " n=" << n << " dim=" << dim;
    }
  }
}

INSTANTIATE_PER_LEVEL(MaxSimAt);

TEST(MaxSim, EmptyShapesAndNonFiniteValuesAreRefused) {
  std::vector<float> q(8, 1.0f), d(8, 1.0f);
  EXPECT_THROW(maxsim_f32(q.data(), 0, d.data(), 1, 8), InvalidArgument);
  EXPECT_THROW(maxsim_f32(q.data(), 1, d.data(), 0, 8), InvalidArgument);
  EXPECT_THROW(maxsim_f32(q.data(), 1, d.data(), 1, 0), InvalidArgument);
  d[3] = std::nanf("");
  EXPECT_THROW(maxsim_f32(q.data(), 1, d.data(), 1, 8), InvalidArgument);
}

}  // namespace
}  // namespace aftershock::maxsim
