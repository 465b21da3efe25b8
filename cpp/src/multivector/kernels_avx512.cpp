// AVX-512 multi-vector kernels. Register-blocked broadcast-FMA tiles of 6 rows x 32
// columns for panel dot products; masked loads for tails.
#ifdef AFTERSHOCK_COMPILED_AVX512
// GCC 12's own intrinsic headers (_mm512_undefined_ps inside _mm512_max_ps / reduce /
// cvt) trigger false -W(maybe-)uninitialized reports; nothing here reads an undefined value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "kernels.hpp"

namespace aftershock::multivector::kernels::avx512 {
namespace {

constexpr std::size_t P = kPanelCols;

inline __mmask16 tail_mask(std::size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// One tile: R rows of x against NP consecutive panels. Each accumulator is one FMA chain
// over k in order, so a value never depends on the tile shape.
template <int R, int NP>
void tile(const float* x, std::size_t dim, const float* panel, float* out, std::size_t out_stride,
          std::size_t cols_left) {
  __m512 acc[R][NP];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_setzero_ps();
  const std::size_t panel_floats = dim * P;
  for (std::size_t k = 0; k < dim; ++k) {
    __m512 w[NP];
    for (int j = 0; j < NP; ++j) w[j] = _mm512_loadu_ps(panel + j * panel_floats + k * P);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * dim + k]);
      for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_fmadd_ps(xv, w[j], acc[r][j]);
    }
  }
  for (int j = 0; j < NP; ++j) {
    const std::size_t col = static_cast<std::size_t>(j) * P;
    if (col >= cols_left) break;
    const std::size_t n = cols_left - col;
    for (int r = 0; r < R; ++r) {
      float* dst = out + r * out_stride + col;
      if (n >= P) _mm512_storeu_ps(dst, acc[r][j]);
      else _mm512_mask_storeu_ps(dst, tail_mask(n), acc[r][j]);
    }
  }
}

template <int NP>
void tile_rows(std::size_t rows, const float* x, std::size_t dim, const float* panel, float* out,
               std::size_t out_stride, std::size_t cols_left) {
  switch (rows) {
    case 6: tile<6, NP>(x, dim, panel, out, out_stride, cols_left); break;
    case 5: tile<5, NP>(x, dim, panel, out, out_stride, cols_left); break;
    case 4: tile<4, NP>(x, dim, panel, out, out_stride, cols_left); break;
    case 3: tile<3, NP>(x, dim, panel, out, out_stride, cols_left); break;
    case 2: tile<2, NP>(x, dim, panel, out, out_stride, cols_left); break;
    default: tile<1, NP>(x, dim, panel, out, out_stride, cols_left); break;
  }
}

void dot_panels_f32(const float* x, std::size_t n_rows, std::size_t dim, const float* panels, std::size_t n_cols,
                    float* out, std::size_t out_stride) {
  constexpr std::size_t kRows = 6;
  const std::size_t n_panels = (n_cols + P - 1) / P;
  // Column chunks of about 256 KiB of panels stay in L2 while every row block passes.
  std::size_t chunk = (256u * 1024u) / (dim * P * sizeof(float));
  chunk = chunk < 2 ? 2 : chunk & ~static_cast<std::size_t>(1);
  for (std::size_t p0 = 0; p0 < n_panels; p0 += chunk) {
    const std::size_t p1 = p0 + chunk < n_panels ? p0 + chunk : n_panels;
    for (std::size_t r0 = 0; r0 < n_rows; r0 += kRows) {
      const std::size_t rows = n_rows - r0 < kRows ? n_rows - r0 : kRows;
      for (std::size_t p = p0; p < p1; p += 2) {
        const float* panel = panels + p * dim * P;
        float* dst = out + r0 * out_stride + p * P;
        const std::size_t cols_left = n_cols - p * P;
        if (p + 1 < p1) tile_rows<2>(rows, x + r0 * dim, dim, panel, dst, out_stride, cols_left);
        else tile_rows<1>(rows, x + r0 * dim, dim, panel, dst, out_stride, cols_left);
      }
    }
  }
}

// Per row: two accumulators over 32-wide steps, a 16-wide step into the first, a masked
// tail into the second; the order depends on dim only.
template <int R>
void scan_rows_f32(const float* rows, std::size_t stride, std::size_t dim, const float* q, float* out) {
  __m512 a0[R], a1[R];
  for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
  std::size_t k = 0;
  for (; k + 2 * P <= dim; k += 2 * P) {
    const __m512 q0 = _mm512_loadu_ps(q + k), q1 = _mm512_loadu_ps(q + k + P);
    for (int r = 0; r < R; ++r) {
      a0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(rows + r * stride + k), q0, a0[r]);
      a1[r] = _mm512_fmadd_ps(_mm512_loadu_ps(rows + r * stride + k + P), q1, a1[r]);
    }
  }
  if (k + P <= dim) {
    const __m512 q0 = _mm512_loadu_ps(q + k);
    for (int r = 0; r < R; ++r) a0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(rows + r * stride + k), q0, a0[r]);
    k += P;
  }
  if (k < dim) {
    const __mmask16 m = tail_mask(dim - k);
    const __m512 q0 = _mm512_maskz_loadu_ps(m, q + k);
    for (int r = 0; r < R; ++r)
      a1[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, rows + r * stride + k), q0, a1[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
}

void scan_f32(const float* rows, std::size_t stride, std::size_t n_rows, std::size_t dim, const float* q,
              float* out) {
  std::size_t r = 0;
  for (; r + 4 <= n_rows; r += 4) scan_rows_f32<4>(rows + r * stride, stride, dim, q, out + r);
  for (; r < n_rows; ++r) scan_rows_f32<1>(rows + r * stride, stride, dim, q, out + r);
}

inline __m512 load_i8(const std::int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline __m512 load_i8_masked(const std::int8_t* p, __mmask16 m) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

template <int R>
void scan_rows_i8(const std::int8_t* codes, std::size_t stride, std::size_t dim, const float* q, float* out) {
  __m512 a0[R], a1[R];
  for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
  std::size_t k = 0;
  for (; k + 2 * P <= dim; k += 2 * P) {
    const __m512 q0 = _mm512_loadu_ps(q + k), q1 = _mm512_loadu_ps(q + k + P);
    for (int r = 0; r < R; ++r) {
      a0[r] = _mm512_fmadd_ps(load_i8(codes + r * stride + k), q0, a0[r]);
      a1[r] = _mm512_fmadd_ps(load_i8(codes + r * stride + k + P), q1, a1[r]);
    }
  }
  if (k + P <= dim) {
    const __m512 q0 = _mm512_loadu_ps(q + k);
    for (int r = 0; r < R; ++r) a0[r] = _mm512_fmadd_ps(load_i8(codes + r * stride + k), q0, a0[r]);
    k += P;
  }
  if (k < dim) {
    const __mmask16 m = tail_mask(dim - k);
    const __m512 q0 = _mm512_maskz_loadu_ps(m, q + k);
    for (int r = 0; r < R; ++r) a1[r] = _mm512_fmadd_ps(load_i8_masked(codes + r * stride + k, m), q0, a1[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
}

void scan_i8(const std::int8_t* codes, std::size_t stride, const float* scales, std::size_t n_rows,
             std::size_t dim, const float* q, float* out) {
  std::size_t r = 0;
  for (; r + 4 <= n_rows; r += 4) scan_rows_i8<4>(codes + r * stride, stride, dim, q, out + r);
  for (; r < n_rows; ++r) scan_rows_i8<1>(codes + r * stride, stride, dim, q, out + r);
  for (r = 0; r < n_rows; ++r) out[r] *= scales[r];
}

// max is exact in any order, so only the final lane sum depends on the level.
float interaction_u16(const std::uint16_t* codes, std::size_t n, const float* table, std::size_t lanes) {
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  if (lanes == P) {
    __m512 m0 = neg_inf, m1 = neg_inf, m2 = neg_inf, m3 = neg_inf;
    std::size_t t = 0;
    for (; t + 4 <= n; t += 4) {
      m0 = _mm512_max_ps(m0, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t]) * P));
      m1 = _mm512_max_ps(m1, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t + 1]) * P));
      m2 = _mm512_max_ps(m2, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t + 2]) * P));
      m3 = _mm512_max_ps(m3, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t + 3]) * P));
    }
    for (; t < n; ++t) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t]) * P));
    return _mm512_reduce_add_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  }
  if (lanes == 2 * P) {
    __m512 a0 = neg_inf, a1 = neg_inf, b0 = neg_inf, b1 = neg_inf;
    std::size_t t = 0;
    for (; t + 2 <= n; t += 2) {
      const float* r0 = table + static_cast<std::size_t>(codes[t]) * 2 * P;
      const float* r1 = table + static_cast<std::size_t>(codes[t + 1]) * 2 * P;
      a0 = _mm512_max_ps(a0, _mm512_loadu_ps(r0));
      a1 = _mm512_max_ps(a1, _mm512_loadu_ps(r0 + P));
      b0 = _mm512_max_ps(b0, _mm512_loadu_ps(r1));
      b1 = _mm512_max_ps(b1, _mm512_loadu_ps(r1 + P));
    }
    if (t < n) {
      const float* r0 = table + static_cast<std::size_t>(codes[t]) * 2 * P;
      a0 = _mm512_max_ps(a0, _mm512_loadu_ps(r0));
      a1 = _mm512_max_ps(a1, _mm512_loadu_ps(r0 + P));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_max_ps(a0, b0), _mm512_max_ps(a1, b1)));
  }
  // General width: one 16-lane group at a time.
  float total = 0.0f;
  for (std::size_t g = 0; g < lanes; g += P) {
    __m512 m0 = neg_inf, m1 = neg_inf;
    std::size_t t = 0;
    for (; t + 2 <= n; t += 2) {
      m0 = _mm512_max_ps(m0, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t]) * lanes + g));
      m1 = _mm512_max_ps(m1, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t + 1]) * lanes + g));
    }
    if (t < n) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(table + static_cast<std::size_t>(codes[t]) * lanes + g));
    total += _mm512_reduce_add_ps(_mm512_max_ps(m0, m1));
  }
  return total;
}

}  // namespace

const Kernels& table() {
  static const Kernels t{dot_panels_f32, scan_f32, scan_i8, interaction_u16};
  return t;
}

}  // namespace aftershock::multivector::kernels::avx512
#endif
