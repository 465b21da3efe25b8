// AVX-512 sparse kernels: the 256-bit dot kernels of the AVX2 level (dot_256.inc says why),
// and a conflict-free 16-wide gather/scatter for summary accumulation.
#ifdef AFTERSHOCK_COMPILED_AVX512
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"

namespace aftershock::sparse::kernels::avx512 {
namespace {

#include "dot_stop.inc"
#include "dot_256.inc"

#include "kernels_level.inc"

// Conflict-free gather/scatter: a summary run holds each block once.
void accumulate_codes_u8(const std::uint8_t* blocks, const std::uint8_t* codes, std::size_t n, float weight,
                         float* acc) {
  const __m512 w = _mm512_set1_ps(weight);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + i)));
    __m512 c = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + i))));
    __m512 a = _mm512_i32gather_ps(idx, acc, 4);
    _mm512_i32scatter_ps(acc, idx, _mm512_fmadd_ps(w, c, a), 4);
  }
  // The < 16 entries left: accumulate_codes_serial's loop, written out here so that GCC
  // sees the trip count bound and unrolls it fully (it does not through the call).
  for (; i < n; ++i) acc[blocks[i]] += weight * static_cast<float>(codes[i]);
}

}  // namespace

const SparseKernels& table() { return make_table<accumulate_codes_u8, dot2_u16_f16>(); }

}  // namespace aftershock::sparse::kernels::avx512
#endif
