// AVX512_BF16 MaxSim kernel for bf16 documents: vdpbf16ps multiplies the two bf16 halves
// of each 32-bit lane exactly and adds both products into the fp32 accumulator, so one
// instruction does 32 multiply-adds (twice the fp32 FMA rate). The query's bf16 pair for
// dimensions (2k, 2k+1) is broadcast to all 16 token lanes.
// Note: vdpbf16ps treats bf16 subnormal inputs as zero and flushes subnormal results
// (the README's error bound carries the resulting absolute term).
#ifdef AFTERSHOCK_COMPILED_AVX512BF16
#include <immintrin.h>

#include "kernels.hpp"

namespace aftershock::maxsim::kernels::avx512bf16 {
namespace {

#include "avx512_base.inc"

struct Bf16 : Base {
  static constexpr int kMR = 8;
  static constexpr int kNP = 3;
  static std::size_t steps(std::size_t dim) { return (dim + 1) / 2; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    const std::size_t dim2 = (q.dim + 1) / 2;
    const std::size_t stride = dim2 * kP;
    const std::uint32_t* qp = q.words + i0 * dim2;
    const std::uint32_t* dp = static_cast<const std::uint32_t*>(d.panels) + p0 * stride;
    __m512 acc[MR][NP];
    fill(acc, _mm512_setzero_ps());
    for (std::size_t k = 0; k < dim2; ++k) {
      prefetch_step(pf);
      __m512bh dv[NP];
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) dv[p] = (__m512bh)_mm512_loadu_si512(dp + p * stride + k * kP);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512bh b = (__m512bh)_mm512_set1_epi32(static_cast<int>(qp[r * dim2 + k]));
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], b, dv[p]);
      }
    }
    fold<MR, NP>(acc, i0, runmax);
  }
};

}  // namespace

void rowmax_bf16(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc<Bf16>(q, d, scratch, row_max);
}

}  // namespace aftershock::maxsim::kernels::avx512bf16
#endif  // AFTERSHOCK_COMPILED_AVX512BF16
