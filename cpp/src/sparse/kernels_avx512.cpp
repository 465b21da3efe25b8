// AVX-512 sparse kernels: 16-wide gathers from the dense query, masked tails, and a
// conflict-free gather/scatter for summary accumulation.
#ifdef AFTERSHOCK_COMPILED_AVX512
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"

namespace aftershock::sparse::kernels::avx512 {
namespace {

inline __m512i load_terms(const std::uint16_t* p, __mmask16 m) {
  return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
}
inline __m512i load_terms(const std::uint32_t* p, __mmask16 m) { return _mm512_maskz_loadu_epi32(m, p); }
inline __m512 load_values(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load_values(const std::uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

#include "dot_stop.inc"

inline float load_value(float v) { return v; }
inline float load_value(std::uint16_t h) { return _cvtsh_ss(h); }

template <class TermT, class ValueT>
float dot(const TermT* terms, const ValueT* values, std::size_t n, const float* query, float query_mass,
          float threshold) {
  const bool may_stop = threshold > -std::numeric_limits<float>::infinity();
  const __m512 zero = _mm512_setzero_ps();
  __m512 acc = zero, met = zero;  // met: the positive query weight met so far
  float bound;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 q = _mm512_i32gather_ps(load_terms(terms + i, 0xffff), query, 4);
    acc = _mm512_fmadd_ps(q, load_values(values + i, 0xffff), acc);
    if (may_stop) {
      met = _mm512_add_ps(met, _mm512_max_ps(q, zero));
      if (i + 16 < n && dot_stops(_mm512_reduce_add_ps(acc), _mm512_reduce_add_ps(met), load_value(values[i + 16]),
                                  query_mass, threshold, bound))
        return bound;
    }
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 q = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, load_terms(terms + i, m), query, 4);
    acc = _mm512_fmadd_ps(q, load_values(values + i, m), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

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

const SparseKernels& table() { return make_table<accumulate_codes_u8>(); }

}  // namespace aftershock::sparse::kernels::avx512
#endif
