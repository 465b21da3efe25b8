// AVX512_VNNI MaxSim kernel for int8 documents. vpdpbusd multiplies unsigned bytes by
// signed bytes, four per 32-bit lane, and adds them into int32: 64 multiply-adds per
// instruction. The query codes c_q in [-127, 127] are stored as u8 = c_q + 128, so
//   sum_b (c_q + 128) * c_d = dot(c_q, c_d) + 128 * sum_b c_d,
// and each accumulator starts at the token's bias = -128 * sum(c_d), leaving the exact
// integer dot product (int32 arithmetic wraps, but the final value fits: |dot| <=
// dim * 127^2 < 2^31 for dim <= kMaxInt8Dim). Then sim = float(dot) * scale_d, exactly as
// the scalar oracle computes it.
#ifdef AFTERSHOCK_COMPILED_AVX512VNNI
#include <immintrin.h>

#include "kernels.hpp"

namespace aftershock::maxsim::kernels::avx512vnni {
namespace {

#include "avx512_base.inc"

struct I8 : Base {
  static constexpr int kMR = 8;
  static constexpr int kNP = 3;
  static std::size_t steps(std::size_t dim) { return (dim + 3) / 4; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    const std::size_t dim4 = (q.dim + 3) / 4;
    const std::size_t stride = dim4 * kP;
    const std::uint32_t* qp = q.words + i0 * dim4;
    const std::uint32_t* dp = static_cast<const std::uint32_t*>(d.panels) + p0 * stride;
    __m512i acc[MR][NP];
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const __m512i bias = _mm512_loadu_si512(d.bias + (p0 + p) * kP);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) acc[r][p] = bias;
    }
    for (std::size_t k = 0; k < dim4; ++k) {
      prefetch_step(pf);
      __m512i dv[NP];
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) dv[p] = _mm512_loadu_si512(dp + p * stride + k * kP);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i b = _mm512_set1_epi32(static_cast<int>(qp[r * dim4 + k]));
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], b, dv[p]);
      }
    }
    __m512 scale[NP];
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) scale[p] = _mm512_loadu_ps(d.scales + (p0 + p) * kP);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m512 mx = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][0]), scale[0]);
#pragma GCC unroll 4
      for (int p = 1; p < NP; ++p) mx = _mm512_max_ps(mx, _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][p]), scale[p]));
      float* rm = runmax + (i0 + r) * kP;
      _mm512_store_ps(rm, _mm512_max_ps(_mm512_load_ps(rm), mx));
    }
  }
};

}  // namespace

void rowmax_i8(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc<I8>(q, d, scratch, row_max);
}

}  // namespace aftershock::maxsim::kernels::avx512vnni
#endif  // AFTERSHOCK_COMPILED_AVX512VNNI
