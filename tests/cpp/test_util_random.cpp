// util/random.hpp: the stream for a seed is fixed. These values must never change (an
// index built with a seed would change with them) and must be the same under every
// compiler and standard library (checked under GCC/libstdc++ and clang/libc++).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "aftershock/util/random.hpp"

namespace aftershock {
namespace {

TEST(Rng, StreamIsFixedForASeed) {
  Rng r(42);
  const std::vector<std::uint64_t> want{0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull, 0xae17533239e499a1ull,
                                        0xecb8ad4703b360a1ull};
  for (std::uint64_t w : want) EXPECT_EQ(r.next(), w);
}

TEST(Rng, DerivedDrawsAreFixedForASeed) {
  Rng b(7);
  for (std::uint64_t w : {700u, 278u, 839u, 981u}) EXPECT_EQ(b.below(1000), w);
  Rng u(9);
  for (double w : {0.0025834396857136177, 0.25148937241585745, 0.13246225011289547}) EXPECT_EQ(u.uniform(), w);
  Rng n(11);  // through std::log / std::cos: equal to within an ulp on any libm, exact on glibc
  for (double w : {1.4780062195402002, -1.5730288910815438, -0.77357280471145951}) EXPECT_NEAR(n.normal(), w, 1e-15);
  EXPECT_EQ(sample_indices(100, 5, 3), (std::vector<std::size_t>{23, 30, 50, 56, 65}));
}

TEST(Rng, BelowStaysInRangeAndSampleIsSortedAndDistinct) {
  Rng r(1);
  for (std::uint64_t n : {1ull, 2ull, 3ull, 1000ull, (1ull << 63) + 5}) {
    for (int i = 0; i < 1000; ++i) EXPECT_LT(r.below(n), n);
  }
  const std::vector<std::size_t> s = sample_indices(50, 50, 9);
  for (std::size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], i);  // count == n takes everything
}

}  // namespace
}  // namespace aftershock

namespace aftershock {
namespace {

TEST(Rng, ShuffleIsAFixedPermutationForASeed) {
  std::vector<int> v{0, 1, 2, 3, 4, 5, 6, 7};
  Rng rng(4);
  aftershock::shuffle(v.begin(), v.end(), rng);
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(v, (std::vector<int>{5, 3, 1, 0, 4, 7, 6, 2}));
}

}  // namespace
}  // namespace aftershock
