// AVX2 + FMA + F16C sparse kernels: 8 query weights at a time, fused multiply-add.
#ifdef AFTERSHOCK_COMPILED_AVX2
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"

namespace aftershock::sparse::kernels::avx2 {
namespace {

inline __m256 load_values(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load_values(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline float load_value(float v) { return v; }
inline float load_value(std::uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// query[t[0..8)] as a vector, by eight scalar loads. Not vpgatherdd: it is microcoded on
// AMD Zen 1-3 and slowed by the Gather Data Sampling mitigation on Intel Skylake to Tiger
// Lake, the CPUs this level runs on. On a Zen 3 host the scalar loads made search 15-20%
// faster (1M synthetic documents, qc 5 and 10; README.md in this folder).
template <class TermT>
inline __m256 load8(const float* query, const TermT* t) {
  return _mm256_setr_ps(query[t[0]], query[t[1]], query[t[2]], query[t[3]], query[t[4]], query[t[5]], query[t[6]],
                        query[t[7]]);
}

#include "dot_stop.inc"

template <class TermT, class ValueT>
float dot(const TermT* terms, const ValueT* values, std::size_t n, const float* query, float query_mass,
          float threshold) {
  const bool may_stop = threshold > -std::numeric_limits<float>::infinity();
  const __m256 zero = _mm256_setzero_ps();
  __m256 acc = zero, met = zero;  // met: the positive query weight met so far
  float bound;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 q = load8(query, terms + i);
    acc = _mm256_fmadd_ps(q, load_values(values + i), acc);
    if (may_stop) {
      met = _mm256_add_ps(met, _mm256_max_ps(q, zero));
      if ((i + 8) % 16 == 0 && i + 8 < n &&
          dot_stops(hsum(acc), hsum(met), load_value(values[i + 8]), query_mass, threshold, bound))
        return bound;
    }
  }
  if (i < n) {
    // The tail as one more zero-padded vector step (term 0 with weight 0 adds 0): a scalar
    // tail would let the compiler contract it into FMAs differently per instantiation, and
    // then u16 and u32 rows of the same document would not give the same bits.
    alignas(32) std::uint32_t t[8] = {};
    alignas(32) float v[8] = {};
    for (std::size_t j = 0; i + j < n; ++j) {
      t[j] = terms[i + j];
      v[j] = load_value(values[i + j]);
    }
    acc = _mm256_fmadd_ps(load8(query, t), _mm256_load_ps(v), acc);
  }
  return hsum(acc);
}

#include "kernels_level.inc"

}  // namespace

// AVX2 has no scatter: summary codes are added one entry at a time.
const SparseKernels& table() { return make_table<accumulate_codes_serial>(); }

}  // namespace aftershock::sparse::kernels::avx2
#endif
