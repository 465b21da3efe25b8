// Bit casts between float and its IEEE 754 binary32 encoding (std::bit_cast is C++20).
// Baseline code only: never include from an ISA translation unit (STYLE §3).
#pragma once

#include <cstdint>
#include <cstring>

namespace aftershock {

/// The binary32 encoding of x.
inline std::uint32_t bits_of(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

/// The float whose binary32 encoding is b.
inline float float_of(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

}  // namespace aftershock
