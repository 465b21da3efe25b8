// The core's 16-bit float conversions, in portable C++: IEEE 754 binary16 (fp16) and
// bfloat16 (bf16) <-> binary32. Baseline code only: the SIMD translation units use F16C /
// AVX-512 instructions instead and must not include this (STYLE §3).
//
// float -> 16 bits rounds to nearest, ties to even. Overflow goes to infinity (callers
// that must not produce it check first: fp16 overflows at |x| >= kFp16OverflowBits,
// bf16 at |x| >= kBf16OverflowBits). NaN stays NaN (quiet), infinities stay infinities.
// 16 bits -> float is exact. All functions are pure and thread-safe.
#pragma once

#include <cstdint>

#include "aftershock/util/bits.hpp"

namespace aftershock {

/// |x| (as binary32 bits) at or above this rounds to infinity in fp16 (65520).
inline constexpr std::uint32_t kFp16OverflowBits = 0x477FF000u;
/// |x| (as binary32 bits) at or above this rounds to infinity in bf16 (halfway to 2^128).
inline constexpr std::uint32_t kBf16OverflowBits = 0x7F7F8000u;

inline std::uint16_t float_to_fp16(float x) {
  std::uint32_t b = bits_of(x);
  const auto sign = static_cast<std::uint16_t>((b >> 16) & 0x8000u);
  b &= 0x7FFFFFFFu;
  if (b >= 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7C00u | (b > 0x7F800000u ? 0x200u : 0u));
  if (b >= kFp16OverflowBits) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (b < 0x38800000u) {
    // Below 2^-14 (fp16 subnormal range): adding 0.5 puts the value in a binade whose
    // float32 ulp is 2^-24, the fp16 subnormal spacing, so the float addition performs
    // the round-to-nearest-even; the low bits are then the fp16 encoding (0x400 = 2^-14).
    const float r = float_of(b) + 0.5f;
    return static_cast<std::uint16_t>(sign | (bits_of(r) - 0x3F000000u));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
  const std::uint32_t odd = (b >> 13) & 1u;
  b += 0xC8000FFFu + odd;
  return static_cast<std::uint16_t>(sign | (b >> 13));
}

inline float fp16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float f = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^-24, exact
    return float_of(bits_of(f) | sign);
  }
  if (exponent == 31) return float_of(sign | 0x7F800000u | (mantissa << 13));
  return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline std::uint16_t float_to_bf16(float x) {
  const std::uint32_t b = bits_of(x);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((b >> 16) | 0x40u);  // quiet NaN
  return static_cast<std::uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

inline float bf16_to_float(std::uint16_t v) { return float_of(static_cast<std::uint32_t>(v) << 16); }

}  // namespace aftershock
