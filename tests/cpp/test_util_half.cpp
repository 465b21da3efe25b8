// util/half.hpp: fp16 and bf16 conversions against an independent reference (decode by
// ldexp; encode by searching the nearest representable value, ties to even), over every
// 16-bit encoding, every midpoint and its float neighbours, and random floats.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "aftershock/util/bits.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/random.hpp"

namespace aftershock {
namespace {

double fp16_reference_value(std::uint16_t h) {  // finite encodings only
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -mag : mag;
}

// Nearest fp16 to a finite x with |x| < 65520, ties to the even encoding.
std::uint16_t fp16_reference_round(float x) {
  static const std::vector<double> mags = [] {
    std::vector<double> v;
    for (std::uint16_t h = 0; h <= 0x7BFF; ++h) v.push_back(fp16_reference_value(h));
    return v;
  }();
  const double a = std::fabs(static_cast<double>(x));
  const auto hi = static_cast<std::size_t>(std::lower_bound(mags.begin(), mags.end(), a) - mags.begin());
  std::uint16_t code;
  if (hi < mags.size() && mags[hi] == a) {
    code = static_cast<std::uint16_t>(hi);
  } else if (hi == mags.size()) {
    code = 2 * a < 65504.0 + 65536.0 ? 0x7BFF : 0x7C00;  // above 65504: midpoint to 2^16
  } else {
    const std::size_t lo = hi - 1;
    const double twice = 2 * a, sum = mags[lo] + mags[hi];  // both exact in double
    code = static_cast<std::uint16_t>(twice < sum ? lo : twice > sum ? hi : (lo % 2 == 0 ? lo : hi));
  }
  return static_cast<std::uint16_t>(code | (std::signbit(x) ? 0x8000 : 0));
}

// Nearest bf16 to a finite x below the bf16 overflow, ties to even.
std::uint16_t bf16_reference_round(float x) {
  const std::uint32_t b = bits_of(x);
  const std::uint32_t sign = b & 0x80000000u, lo = b & 0x7FFF0000u, hi = lo + 0x10000u;
  const double a = std::fabs(static_cast<double>(x));
  const double twice = 2 * a, sum = static_cast<double>(float_of(lo)) + static_cast<double>(float_of(hi));
  const std::uint32_t pick = twice < sum ? lo : twice > sum ? hi : ((lo >> 16) % 2 == 0 ? lo : hi);
  return static_cast<std::uint16_t>((sign | pick) >> 16);
}

TEST(Half, Fp16DecodeMatchesTheReferenceForEveryEncoding) {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const float f = fp16_to_float(h);
    if (((h >> 10) & 0x1F) == 0x1F) {
      EXPECT_EQ(std::isnan(f), (h & 0x3FF) != 0) << h;
      EXPECT_EQ(std::isinf(f), (h & 0x3FF) == 0) << h;
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), fp16_reference_value(h)) << h;
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << h;
    EXPECT_EQ(float_to_fp16(f), h) << h;  // exact round trip
  }
}

TEST(Half, Fp16EncodeRoundsToNearestEven) {
  std::vector<float> xs;
  for (std::uint16_t h = 0; h < 0x7BFF; ++h) {  // every midpoint and its float neighbours
    const float mid = static_cast<float>((fp16_reference_value(h) + fp16_reference_value(h + 1)) / 2);
    xs.insert(xs.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)});
  }
  xs.insert(xs.end(), {65504.0f, 65519.99f, std::nextafter(65520.0f, 0.0f), 1e-30f, 2.9e-8f, 3.0e-8f});
  Rng rng(5);
  for (int i = 0; i < 200000; ++i) {
    const float x = float_of(static_cast<std::uint32_t>(rng.next()) & 0x477FFFFFu);
    if (std::fabs(x) < 65520.0f) xs.push_back(x);
  }
  for (float x : xs) {
    EXPECT_EQ(float_to_fp16(x), fp16_reference_round(x)) << x;
    EXPECT_EQ(float_to_fp16(-x), fp16_reference_round(-x)) << x;
  }
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7C00);  // overflow to inf
  EXPECT_EQ(float_to_fp16(-1e10f), 0xFC00);
  EXPECT_EQ(float_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_TRUE(std::isnan(fp16_to_float(float_to_fp16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Half, Bf16MatchesTheReference) {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const float f = bf16_to_float(h);
    EXPECT_EQ(bits_of(f), static_cast<std::uint32_t>(h) << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(f))));
    } else {
      EXPECT_EQ(float_to_bf16(f), h);  // exact round trip
    }
  }
  Rng rng(6);
  for (int i = 0; i < 500000; ++i) {
    std::uint32_t b = static_cast<std::uint32_t>(rng.next());
    if (i % 4 == 0) b = (b & 0xFFFF0000u) | 0x8000u;  // exact midpoints
    const float x = float_of(b);
    if (!std::isfinite(x) || (b & 0x7FFFFFFFu) >= kBf16OverflowBits) continue;
    EXPECT_EQ(float_to_bf16(x), bf16_reference_round(x)) << b;
  }
  EXPECT_EQ(float_to_bf16(float_of(kBf16OverflowBits)), 0x7F80);  // rounds to inf
  EXPECT_EQ(float_to_bf16(float_of(kBf16OverflowBits - 1)), 0x7F7F);
}

}  // namespace
}  // namespace aftershock
