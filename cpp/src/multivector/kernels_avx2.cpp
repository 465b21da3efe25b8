// AVX2 + FMA multi-vector kernels: 4-row x 16-column broadcast-FMA tiles (8 ymm
// accumulators), scalar tails.
#ifdef AFTERSHOCK_COMPILED_AVX2
#include <immintrin.h>

#include "kernels.hpp"

namespace aftershock::multivector::kernels::avx2 {
namespace {

constexpr std::size_t P = kPanelCols;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int R>
void tile(const float* x, std::size_t dim, const float* panel, float* out, std::size_t out_stride,
          std::size_t cols_left) {
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (std::size_t k = 0; k < dim; ++k) {
    const __m256 w0 = _mm256_loadu_ps(panel + k * P), w1 = _mm256_loadu_ps(panel + k * P + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * dim + k);
      lo[r] = _mm256_fmadd_ps(xv, w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(xv, w1, hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* dst = out + r * out_stride;
    if (cols_left >= P) {
      _mm256_storeu_ps(dst, lo[r]);
      _mm256_storeu_ps(dst + 8, hi[r]);
    } else {
      alignas(32) float tmp[P];
      _mm256_store_ps(tmp, lo[r]);
      _mm256_store_ps(tmp + 8, hi[r]);
      for (std::size_t c = 0; c < cols_left; ++c) dst[c] = tmp[c];
    }
  }
}

void dot_panels_f32(const float* x, std::size_t n_rows, std::size_t dim, const float* panels, std::size_t n_cols,
                    float* out, std::size_t out_stride) {
  constexpr std::size_t kRows = 4;
  const std::size_t n_panels = (n_cols + P - 1) / P;
  std::size_t chunk = (128u * 1024u) / (dim * P * sizeof(float));
  if (chunk < 1) chunk = 1;
  for (std::size_t p0 = 0; p0 < n_panels; p0 += chunk) {
    const std::size_t p1 = p0 + chunk < n_panels ? p0 + chunk : n_panels;
    for (std::size_t r0 = 0; r0 < n_rows; r0 += kRows) {
      const std::size_t rows = n_rows - r0 < kRows ? n_rows - r0 : kRows;
      for (std::size_t p = p0; p < p1; ++p) {
        const float* panel = panels + p * dim * P;
        float* dst = out + r0 * out_stride + p * P;
        const std::size_t cols_left = n_cols - p * P;
        const float* xr = x + r0 * dim;
        switch (rows) {
          case 4: tile<4>(xr, dim, panel, dst, out_stride, cols_left); break;
          case 3: tile<3>(xr, dim, panel, dst, out_stride, cols_left); break;
          case 2: tile<2>(xr, dim, panel, dst, out_stride, cols_left); break;
          default: tile<1>(xr, dim, panel, dst, out_stride, cols_left); break;
        }
      }
    }
  }
}

// Per row: two 8-wide accumulators over 16-wide steps, one 8-wide step, a scalar tail.
float scan_row_f32(const float* row, std::size_t dim, const float* q) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t k = 0;
  for (; k + 16 <= dim; k += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(q + k), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 8), _mm256_loadu_ps(q + k + 8), a1);
  }
  if (k + 8 <= dim) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(q + k), a0);
    k += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; k < dim; ++k) s += row[k] * q[k];
  return s;
}

void scan_f32(const float* rows, std::size_t stride, std::size_t n_rows, std::size_t dim, const float* q,
              float* out) {
  for (std::size_t r = 0; r < n_rows; ++r) out[r] = scan_row_f32(rows + r * stride, dim, q);
}

inline __m256 load_i8(const std::int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

float scan_row_i8(const std::int8_t* row, std::size_t dim, const float* q) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t k = 0;
  for (; k + 16 <= dim; k += 16) {
    a0 = _mm256_fmadd_ps(load_i8(row + k), _mm256_loadu_ps(q + k), a0);
    a1 = _mm256_fmadd_ps(load_i8(row + k + 8), _mm256_loadu_ps(q + k + 8), a1);
  }
  if (k + 8 <= dim) {
    a0 = _mm256_fmadd_ps(load_i8(row + k), _mm256_loadu_ps(q + k), a0);
    k += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; k < dim; ++k) s += static_cast<float>(row[k]) * q[k];
  return s;
}

void scan_i8(const std::int8_t* codes, std::size_t stride, const float* scales, std::size_t n_rows,
             std::size_t dim, const float* q, float* out) {
  for (std::size_t r = 0; r < n_rows; ++r) out[r] = scales[r] * scan_row_i8(codes + r * stride, dim, q);
}

float interaction_u16(const std::uint16_t* codes, std::size_t n, const float* table, std::size_t lanes) {
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  float total = 0.0f;
  for (std::size_t g = 0; g < lanes; g += P) {
    __m256 lo0 = neg_inf, hi0 = neg_inf, lo1 = neg_inf, hi1 = neg_inf;
    std::size_t t = 0;
    for (; t + 2 <= n; t += 2) {
      const float* r0 = table + static_cast<std::size_t>(codes[t]) * lanes + g;
      const float* r1 = table + static_cast<std::size_t>(codes[t + 1]) * lanes + g;
      lo0 = _mm256_max_ps(lo0, _mm256_loadu_ps(r0));
      hi0 = _mm256_max_ps(hi0, _mm256_loadu_ps(r0 + 8));
      lo1 = _mm256_max_ps(lo1, _mm256_loadu_ps(r1));
      hi1 = _mm256_max_ps(hi1, _mm256_loadu_ps(r1 + 8));
    }
    if (t < n) {
      const float* r0 = table + static_cast<std::size_t>(codes[t]) * lanes + g;
      lo0 = _mm256_max_ps(lo0, _mm256_loadu_ps(r0));
      hi0 = _mm256_max_ps(hi0, _mm256_loadu_ps(r0 + 8));
    }
    total += hsum(_mm256_add_ps(_mm256_max_ps(lo0, lo1), _mm256_max_ps(hi0, hi1)));
  }
  return total;
}

}  // namespace

const Kernels& table() {
  static const Kernels t{dot_panels_f32, scan_f32, scan_i8, interaction_u16};
  return t;
}

}  // namespace aftershock::multivector::kernels::avx2
#endif
