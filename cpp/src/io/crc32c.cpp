// CRC-32C (Castagnoli): the SSE4.2 instruction where the CPU has it (crc32c_avx2.cpp,
// about 8 GB/s), else slice-by-8 in portable C++ (about 2 GB/s). Both give the same value;
// the choice follows the CPU, not AFTERSHOCK_SIMD, since no result depends on it.
#include <array>

#include "aftershock/io/format.hpp"
#include "aftershock/simd/level.hpp"

namespace aftershock::io {
namespace {

using Table = std::array<std::array<std::uint32_t, 256>, 8>;

Table make_table() {
  Table t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i)
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}

}  // namespace

namespace {

std::uint32_t crc32c_portable(const void* data, std::size_t size, std::uint32_t crc) {
  static const Table t = make_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  while (size >= 8) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#ifdef AFTERSHOCK_COMPILED_AVX2
bool has_sse42() { return simd::cpu_features().avx2_fma_f16c; }  // every AVX2 CPU has SSE4.2
#else
bool has_sse42() { return false; }
#endif

}  // namespace

std::uint32_t crc32c_using(bool hardware, const void* data, std::size_t size) {
  if (!hardware) return crc32c_portable(data, size, 0);
#ifdef AFTERSHOCK_COMPILED_AVX2
  if (has_sse42()) return crc32c_sse42(data, size, 0);
#endif
  throw InvalidArgument("crc32c: the SSE4.2 implementation is not available here");
}

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
#ifdef AFTERSHOCK_COMPILED_AVX2
  static const bool hardware = has_sse42();
  if (hardware) return crc32c_sse42(data, size, crc);
#endif
  return crc32c_portable(data, size, crc);
}

}  // namespace aftershock::io
