// AVX2 + FMA (+F16C) MaxSim kernels. A 16-token panel is two ymm registers (tokens 0-7
// and 8-15); a query value is broadcast and FMA'd into both. bf16 and int8 are widened to
// fp32 in registers (AVX2 has no bf16 or VNNI dot products); int8 stays exact as in the
// AVX-512 fallback (see kernels_avx512.cpp).
#ifdef AFTERSHOCK_COMPILED_AVX2
#include <immintrin.h>

// GCC 12's _mm512_max_ps & co. pass _mm512_undefined_ps() as the (masked-off) merge
// source, which -Wuninitialized reports inside the compiler's own header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels.hpp"

namespace aftershock::maxsim::kernels::avx2 {
namespace {

#include "tile_driver.inc"

float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

struct Base {
  static void init(float* runmax, std::size_t m) {
    const __m256 lowest = _mm256_set1_ps(-__builtin_inff());
    for (std::size_t i = 0; i < m; ++i) {
      _mm256_store_ps(runmax + i * kP, lowest);
      _mm256_store_ps(runmax + i * kP + 8, lowest);
    }
  }
  static void finish(const float* runmax, std::size_t m, float* row_max) {
    for (std::size_t i = 0; i < m; ++i)
      row_max[i] = hmax8(_mm256_max_ps(_mm256_load_ps(runmax + i * kP), _mm256_load_ps(runmax + i * kP + 8)));
  }
  // acc[r][2p + h]: query row r, panel p, half h (tokens 8h .. 8h+7).
  template <int MR, int NV>
  static void fold(__m256 (&acc)[MR][NV], std::size_t i0, float* runmax) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m256 lo = acc[r][0], hi = acc[r][1];
#pragma GCC unroll 4
      for (int v = 2; v < NV; v += 2) {
        lo = _mm256_max_ps(lo, acc[r][v]);
        hi = _mm256_max_ps(hi, acc[r][v + 1]);
      }
      float* rm = runmax + (i0 + r) * kP;
      _mm256_store_ps(rm, _mm256_max_ps(_mm256_load_ps(rm), lo));
      _mm256_store_ps(rm + 8, _mm256_max_ps(_mm256_load_ps(rm + 8), hi));
    }
  }
};

struct F32 : Base {
  static constexpr int kMR = 6;
  static constexpr int kNP = 1;
  static std::size_t steps(std::size_t dim) { return dim; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    constexpr int NV = 2 * NP;
    const std::size_t dim = q.dim;
    const std::size_t stride = dim * kP;
    const float* qp = q.f32 + i0 * dim;
    const float* dp = static_cast<const float*>(d.panels) + p0 * stride;
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
    for (std::size_t k = 0; k < dim; ++k) {
      prefetch_step(pf);
      __m256 dv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) dv[v] = _mm256_loadu_ps(dp + (v / 2) * stride + k * kP + (v % 2) * 8);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m256 b = _mm256_broadcast_ss(qp + r * dim + k);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(b, dv[v], acc[r][v]);
      }
    }
    fold<MR, NV>(acc, i0, runmax);
  }
};

struct F16 : Base {
  static constexpr int kMR = 6;
  static constexpr int kNP = 1;
  static std::size_t steps(std::size_t dim) { return dim; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    constexpr int NV = 2 * NP;
    const std::size_t dim = q.dim;
    const std::size_t stride = dim * kP;
    const float* qp = q.f32 + i0 * dim;
    const std::uint16_t* dp = static_cast<const std::uint16_t*>(d.panels) + p0 * stride;
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
    for (std::size_t k = 0; k < dim; ++k) {
      prefetch_step(pf);
      __m256 dv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        dv[v] = _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(dp + (v / 2) * stride + k * kP + (v % 2) * 8)));
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m256 b = _mm256_broadcast_ss(qp + r * dim + k);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(b, dv[v], acc[r][v]);
      }
    }
    fold<MR, NV>(acc, i0, runmax);
  }
};

struct Bf16 : Base {
  static constexpr int kMR = 5;
  static constexpr int kNP = 1;
  static std::size_t steps(std::size_t dim) { return (dim + 1) / 2; }
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    constexpr int NV = 2 * NP;
    const std::size_t dim2 = (q.dim + 1) / 2;
    const std::size_t stride = dim2 * kP;
    const std::size_t qstride = 2 * dim2;
    const float* qp = q.f32 + i0 * qstride;
    const std::uint32_t* dp = static_cast<const std::uint32_t*>(d.panels) + p0 * stride;
    const __m256i high_mask = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
    for (std::size_t k = 0; k < dim2; ++k) {
      prefetch_step(pf);
      __m256 lo[NV], hi[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const __m256i w =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + (v / 2) * stride + k * kP + (v % 2) * 8));
        lo[v] = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
        hi[v] = _mm256_castsi256_ps(_mm256_and_si256(w, high_mask));
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m256 b0 = _mm256_broadcast_ss(qp + r * qstride + 2 * k);
        const __m256 b1 = _mm256_broadcast_ss(qp + r * qstride + 2 * k + 1);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          acc[r][v] = _mm256_fmadd_ps(b0, lo[v], acc[r][v]);
          acc[r][v] = _mm256_fmadd_ps(b1, hi[v], acc[r][v]);
        }
      }
    }
    fold<MR, NV>(acc, i0, runmax);
  }
};

struct I8 : Base {
  static constexpr int kMR = 3;
  static constexpr int kNP = 1;
  static std::size_t steps(std::size_t dim) { return (dim + 3) / 4; }
  static constexpr std::size_t kChunkWords = 256;  // 1024 dimensions: fp32 sums stay exact
  template <int MR, int NP>
  static void tile(const QueryOps& q, std::size_t i0, const DocOps& d, std::size_t p0, float* runmax,
                   Prefetch& pf) {
    constexpr int NV = 2 * NP;
    const std::size_t dim4 = (q.dim + 3) / 4;
    const std::size_t stride = dim4 * kP;
    const std::size_t qstride = 4 * dim4;
    const float* qp = q.f32 + i0 * qstride;
    const std::uint32_t* dp = static_cast<const std::uint32_t*>(d.panels) + p0 * stride;
    __m256i dot[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) dot[r][v] = _mm256_setzero_si256();
    for (std::size_t k0 = 0; k0 < dim4; k0 += kChunkWords) {
      const std::size_t k1 = dim4 - k0 < kChunkWords ? dim4 : k0 + kChunkWords;
      __m256 acc[MR][NV];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
      for (std::size_t k = k0; k < k1; ++k) {
      prefetch_step(pf);
        __m256i w[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
          w[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + (v / 2) * stride + k * kP + (v % 2) * 8));
#pragma GCC unroll 4
        for (int b = 0; b < 4; ++b) {
          __m256 e[NV];
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v)
            e[v] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(w[v], 24 - 8 * b), 24));
#pragma GCC unroll 8
          for (int r = 0; r < MR; ++r) {
            const __m256 bq = _mm256_broadcast_ss(qp + r * qstride + 4 * k + b);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(bq, e[v], acc[r][v]);
          }
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) dot[r][v] = _mm256_add_epi32(dot[r][v], _mm256_cvtps_epi32(acc[r][v]));
    }
    __m256 sim[MR][NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const __m256 scale = _mm256_loadu_ps(d.scales + (p0 + v / 2) * kP + (v % 2) * 8);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) sim[r][v] = _mm256_mul_ps(_mm256_cvtepi32_ps(dot[r][v]), scale);
    }
    fold<MR, NV>(sim, i0, runmax);
  }
};

// Residual decode of panels [p0, p0 + np): per dimension, the 16 lanes' bucket ids come out
// of one word by variable shifts, the weights by a permute of the dimension's table (two
// permutes and a blend for 16 buckets), the centroid values by a gather from the transposed
// centroids. x' = centroid + weight: one float32 addition, as in the scalar oracle.
// In-register transpose of 8 x 8 floats: v[i][j] -> v[j][i].
inline void transpose8(__m256 (&v)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// The bucket weights of dimension k for the 8 lanes of half h (tokens 8h .. 8h+7).
template <unsigned B>
inline __m256 residual_weights(const unsigned char* panel, const float* table, std::size_t k, int h,
                               __m256i shifts, __m256i mask) {
  constexpr std::uint64_t kHalfMask = (std::uint64_t{1} << (8 * B)) - 1;
  std::uint64_t w = 0;
  __builtin_memcpy(&w, panel + k * 2 * B, 2 * B);
  const auto half = static_cast<int>((w >> (8 * B * h)) & kHalfMask);
  const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(half), shifts), mask);
  __m256 v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + k * 16), idx);
  if constexpr (B == 4)
    v = _mm256_blendv_ps(v, _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + k * 16 + 8), idx),
                         _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  return v;
}

// Decode with the centroid part read from the row-major centroids: 8 tokens x 8 dimensions
// loaded as rows and transposed in registers (gathers cost more than the shuffles on the
// cores measured); dimensions past the last multiple of 8 use the gather path below.
template <unsigned B>
std::size_t decode_res_rows(const DocOps& d, std::size_t dim, std::size_t p, float* dst) {
  const ResidualOps& r = *d.res;
  const __m256i shifts = _mm256_setr_epi32(0, B, 2 * B, 3 * B, 4 * B, 5 * B, 6 * B, 7 * B);
  const __m256i mask = _mm256_set1_epi32((1 << B) - 1);
  const unsigned char* panel = static_cast<const unsigned char*>(d.panels) + p * d.panel_bytes;
  const std::uint16_t* codes = r.codes + p * kP;
  const float* rows[kP];
  for (std::size_t t = 0; t < kP; ++t) rows[t] = r.centroids + static_cast<std::size_t>(codes[t]) * dim;
  std::size_t k = 0;
  for (; k + 8 <= dim; k += 8) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256 v[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(rows[8 * h + i] + k);
      transpose8(v);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j)
        _mm256_store_ps(dst + (k + j) * kP + 8 * h,
                        _mm256_add_ps(v[j], residual_weights<B>(panel, r.table, k + j, h, shifts, mask)));
    }
  }
  return k;
}

template <unsigned B>
void decode_res_bits(const DocOps& d, std::size_t dim, std::size_t p0, std::size_t np, float* out) {
  const ResidualOps& r = *d.res;
  const __m256i shifts = _mm256_setr_epi32(0, B, 2 * B, 3 * B, 4 * B, 5 * B, 6 * B, 7 * B);
  const __m256i mask = _mm256_set1_epi32((1 << B) - 1);
  constexpr std::uint64_t kHalfMask = (std::uint64_t{1} << (8 * B)) - 1;
  for (std::size_t p = 0; p < np; ++p) {
    const unsigned char* panel = static_cast<const unsigned char*>(d.panels) + (p0 + p) * d.panel_bytes;
    const std::uint16_t* codes = r.codes + (p0 + p) * kP;
    const __m256i code_lo = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
    const __m256i code_hi = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + 8)));
    float* dst = out + p * dim * kP;
    const std::size_t k_rows = r.centroids != nullptr ? decode_res_rows<B>(d, dim, p0 + p, dst) : 0;
    for (std::size_t k = k_rows; k < dim; ++k) {
      std::uint64_t w = 0;
      __builtin_memcpy(&w, panel + k * 2 * B, 2 * B);
      const float* table = r.table + k * 16;
      const float* ct = r.centroids_t + k * r.n_centroids;
      const __m256 t0 = _mm256_loadu_ps(table);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const auto half = static_cast<int>((w >> (8 * B * h)) & kHalfMask);
        const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(half), shifts), mask);
        __m256 v = _mm256_permutevar8x32_ps(t0, idx);
        if constexpr (B == 4) {
          const __m256 t1 = _mm256_loadu_ps(table + 8);
          v = _mm256_blendv_ps(v, _mm256_permutevar8x32_ps(t1, idx), _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
        }
        const __m256 c = _mm256_i32gather_ps(ct, h == 0 ? code_lo : code_hi, 4);
        _mm256_store_ps(dst + k * kP + 8 * h, _mm256_add_ps(c, v));
      }
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

}  // namespace aftershock::maxsim::kernels::avx2
#endif  // AFTERSHOCK_COMPILED_AVX2
