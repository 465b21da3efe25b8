// CRC-32C with the SSE4.2 crc32 instruction, 8 bytes a step. Compiled with the AVX2 flags
// (which include SSE4.2) and called only on CPUs that have AVX2 (see crc32c.cpp).
#ifdef AFTERSHOCK_COMPILED_AVX2
#include <nmmintrin.h>

#include <cstring>

#include "aftershock/io/format.hpp"

namespace aftershock::io {

std::uint32_t crc32c_sse42(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; size > 0; --size, ++p) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}

}  // namespace aftershock::io
#endif
