// AVX-512 (F/BW/VL/DQ) MaxSim kernels: fp32 and fp16 documents with fp32 FMA, and the
// bf16 / int8 fallbacks for CPUs without AVX512_BF16 / AVX512_VNNI (those paths live in
// kernels_avx512bf16.cpp / kernels_avx512vnni.cpp).
//
// One zmm register holds one dimension of a 16-token panel; a query value is broadcast
// from memory into the FMA. Tile: 8 query tokens x 3 panels = 24 accumulators.
#ifdef AFTERSHOCK_COMPILED_AVX512
#include <immintrin.h>

#include "kernels.hpp"

namespace aftershock::maxsim::kernels::avx512 {
namespace {

#include "avx512_base.inc"

struct F32 : Base {
  static constexpr int kMR = 8;
  static constexpr int kNP = 3;
  static std::size_t steps(std::size_t dim) { return dim; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    const std::size_t dim = q.dim;
    const std::size_t stride = dim * kP;
    const float* qp = q.f32 + i0 * dim;
    const float* dp = static_cast<const float*>(d.panels) + p0 * stride;
    __m512 acc[MR][NP];
    fill(acc, _mm512_setzero_ps());
    for (std::size_t k = 0; k < dim; ++k) {
      prefetch_step(pf);
      __m512 dv[NP];
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) dv[p] = _mm512_loadu_ps(dp + p * stride + k * kP);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 b = _mm512_set1_ps(qp[r * dim + k]);
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_fmadd_ps(b, dv[p], acc[r][p]);
      }
    }
    fold<MR, NP>(acc, i0, runmax);
  }
};

struct F16 : Base {
  static constexpr int kMR = 8;
  static constexpr int kNP = 3;
  static std::size_t steps(std::size_t dim) { return dim; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    const std::size_t dim = q.dim;
    const std::size_t stride = dim * kP;
    const float* qp = q.f32 + i0 * dim;
    const std::uint16_t* dp = static_cast<const std::uint16_t*>(d.panels) + p0 * stride;
    __m512 acc[MR][NP];
    fill(acc, _mm512_setzero_ps());
    for (std::size_t k = 0; k < dim; ++k) {
      prefetch_step(pf);
      __m512 dv[NP];
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p)
        dv[p] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + p * stride + k * kP)));
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 b = _mm512_set1_ps(qp[r * dim + k]);
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_fmadd_ps(b, dv[p], acc[r][p]);
      }
    }
    fold<MR, NP>(acc, i0, runmax);
  }
};

// bf16 without vdpbf16ps: widen both halves of each 32-bit pair word (low half = even
// dimension) to fp32 and use FMA against the query's bf16-rounded fp32 values.
struct Bf16 : Base {
  static constexpr int kMR = 8;
  static constexpr int kNP = 2;
  static std::size_t steps(std::size_t dim) { return (dim + 1) / 2; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    const std::size_t dim2 = (q.dim + 1) / 2;
    const std::size_t stride = dim2 * kP;
    const std::size_t qstride = 2 * dim2;
    const float* qp = q.f32 + i0 * qstride;
    const std::uint32_t* dp = static_cast<const std::uint32_t*>(d.panels) + p0 * stride;
    const __m512i high_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
    __m512 acc[MR][NP];
    fill(acc, _mm512_setzero_ps());
    for (std::size_t k = 0; k < dim2; ++k) {
      prefetch_step(pf);
      __m512 lo[NP], hi[NP];
#pragma GCC unroll 4
      for (int p = 0; p < NP; ++p) {
        const __m512i w = _mm512_loadu_si512(dp + p * stride + k * kP);
        lo[p] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        hi[p] = _mm512_castsi512_ps(_mm512_and_si512(w, high_mask));
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 b0 = _mm512_set1_ps(qp[r * qstride + 2 * k]);
        const __m512 b1 = _mm512_set1_ps(qp[r * qstride + 2 * k + 1]);
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) {
          acc[r][p] = _mm512_fmadd_ps(b0, lo[p], acc[r][p]);
          acc[r][p] = _mm512_fmadd_ps(b1, hi[p], acc[r][p]);
        }
      }
    }
    fold<MR, NP>(acc, i0, runmax);
  }
};

// int8 without VNNI: each code is sign-extended to int32 and converted to fp32 and the
// query codes are fp32 too, so every partial sum is an integer of magnitude
// <= 1024 * 127 * 127 < 2^24 within a chunk of 1024 dimensions: fp32 FMA is exact there.
// Chunks are summed in int32, so the result is the exact integer dot product, the same
// int32 the VNNI kernel and the scalar oracle produce.
struct I8 : Base {
  static constexpr int kMR = 6;
  static constexpr int kNP = 2;
  static std::size_t steps(std::size_t dim) { return (dim + 3) / 4; }
  static constexpr std::size_t kChunkWords = 256;  // 1024 dimensions
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    const std::size_t dim4 = (q.dim + 3) / 4;
    const std::size_t stride = dim4 * kP;
    const std::size_t qstride = 4 * dim4;
    const float* qp = q.f32 + i0 * qstride;
    const std::uint32_t* dp = static_cast<const std::uint32_t*>(d.panels) + p0 * stride;
    __m512i dot[MR][NP];
    fill(dot, _mm512_setzero_si512());
    for (std::size_t k0 = 0; k0 < dim4; k0 += kChunkWords) {
      const std::size_t k1 = dim4 - k0 < kChunkWords ? dim4 : k0 + kChunkWords;
      __m512 acc[MR][NP];
      fill(acc, _mm512_setzero_ps());
      for (std::size_t k = k0; k < k1; ++k) {
      prefetch_step(pf);
        __m512i w[NP];
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) w[p] = _mm512_loadu_si512(dp + p * stride + k * kP);
#pragma GCC unroll 4
        for (int b = 0; b < 4; ++b) {
          __m512 e[NP];
#pragma GCC unroll 4
          for (int p = 0; p < NP; ++p)
            e[p] = _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(w[p], 24 - 8 * b), 24));
#pragma GCC unroll 8
          for (int r = 0; r < MR; ++r) {
            const __m512 bq = _mm512_set1_ps(qp[r * qstride + 4 * k + b]);
#pragma GCC unroll 4
            for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_fmadd_ps(bq, e[p], acc[r][p]);
          }
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) dot[r][p] = _mm512_add_epi32(dot[r][p], _mm512_cvtps_epi32(acc[r][p]));
    }
    __m512 sim[MR][NP];
#pragma GCC unroll 4
    for (int p = 0; p < NP; ++p) {
      const __m512 scale = _mm512_loadu_ps(d.scales + (p0 + p) * kP);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) sim[r][p] = _mm512_mul_ps(_mm512_cvtepi32_ps(dot[r][p]), scale);
    }
    fold<MR, NP>(sim, i0, runmax);
  }
};

// Residual decode (as the AVX2 version, 16 lanes in one zmm): bucket ids by variable shifts
// of the dimension's word, weights by one permute of its 16-entry table, centroid values by
// a gather from the transposed centroids; x' = centroid + weight in float32.
template <unsigned B>
void decode_res_bits(const DocOps& d, std::size_t dim, std::size_t p0, std::size_t np, float* out) {
  const ResidualOps& r = *d.res;
  const __m512i shifts = _mm512_setr_epi32(0, B, 2 * B, 3 * B, 4 * B, 5 * B, 6 * B, 7 * B, 0, B, 2 * B, 3 * B, 4 * B,
                                           5 * B, 6 * B, 7 * B);
  const __m512i mask = _mm512_set1_epi32((1 << B) - 1);
  constexpr std::uint64_t kHalfMask = (std::uint64_t{1} << (8 * B)) - 1;
  for (std::size_t p = 0; p < np; ++p) {
    const unsigned char* panel = static_cast<const unsigned char*>(d.panels) + (p0 + p) * d.panel_bytes;
    const __m512i codes =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.codes + (p0 + p) * kP)));
    float* dst = out + p * dim * kP;
    for (std::size_t k = 0; k < dim; ++k) {
      std::uint64_t w = 0;
      __builtin_memcpy(&w, panel + k * 2 * B, 2 * B);
      const auto lo = static_cast<int>(w & kHalfMask);
      const auto hi = static_cast<int>((w >> (8 * B)) & kHalfMask);
      const __m512i halves =
          _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(lo)), _mm256_set1_epi32(hi), 1);
      const __m512i idx = _mm512_and_si512(_mm512_srlv_epi32(halves, shifts), mask);
      const __m512 v = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(r.table + k * 16));
      const __m512 c = _mm512_i32gather_ps(codes, r.centroids_t + k * r.n_centroids, 4);
      _mm512_store_ps(dst + k * kP, _mm512_add_ps(c, v));
    }
  }
}

}  // namespace

void decode_res(const DocOps& d, std::size_t dim, std::size_t p0, std::size_t np, float* out) {
  switch (d.res->bits) {
    case 1: decode_res_bits<1>(d, dim, p0, np, out); break;
    case 2: decode_res_bits<2>(d, dim, p0, np, out); break;
    default: decode_res_bits<4>(d, dim, p0, np, out); break;
  }
}

void rowmax_res(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc_decoded<F32>(q, d, scratch, row_max, &decode_res);
}

void rowmax_f32(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc<F32>(q, d, scratch, row_max);
}
void rowmax_f16(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc<F16>(q, d, scratch, row_max);
}
void rowmax_bf16(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc<Bf16>(q, d, scratch, row_max);
}
void rowmax_i8(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  run_doc<I8>(q, d, scratch, row_max);
}

}  // namespace aftershock::maxsim::kernels::avx512
#endif  // AFTERSHOCK_COMPILED_AVX512
