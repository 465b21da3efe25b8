// Scalar multi-vector kernels: the oracle for the SIMD levels and the fallback. Obvious
// loops, compiled without auto-vectorization (see simd_flags.cmake).
#include <limits>

#include "kernels.hpp"

namespace aftershock::multivector::kernels::scalar {
namespace {

void dot_panels_f32(const float* x, std::size_t n_rows, std::size_t dim, const float* panels, std::size_t n_cols,
                    float* out, std::size_t out_stride) {
  for (std::size_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * dim;
    for (std::size_t c = 0; c < n_cols; ++c) {
      const float* w = panels + (c / kPanelCols) * dim * kPanelCols + c % kPanelCols;
      float acc = 0.0f;
      for (std::size_t k = 0; k < dim; ++k) acc += row[k] * w[k * kPanelCols];
      out[r * out_stride + c] = acc;
    }
  }
}

void scan_f32(const float* rows, std::size_t stride, std::size_t n_rows, std::size_t dim, const float* q,
              float* out) {
  for (std::size_t r = 0; r < n_rows; ++r) {
    const float* row = rows + r * stride;
    float acc = 0.0f;
    for (std::size_t k = 0; k < dim; ++k) acc += row[k] * q[k];
    out[r] = acc;
  }
}

void scan_i8(const std::int8_t* codes, std::size_t stride, const float* scales, std::size_t n_rows,
             std::size_t dim, const float* q, float* out) {
  for (std::size_t r = 0; r < n_rows; ++r) {
    const std::int8_t* row = codes + r * stride;
    float acc = 0.0f;
    for (std::size_t k = 0; k < dim; ++k) acc += static_cast<float>(row[k]) * q[k];
    out[r] = scales[r] * acc;
  }
}

float interaction_u16(const std::uint16_t* codes, std::size_t n, const float* table, std::size_t lanes) {
  float total = 0.0f;
  for (std::size_t l = 0; l < lanes; ++l) {
    float best = -std::numeric_limits<float>::infinity();
    for (std::size_t t = 0; t < n; ++t) {
      float v = table[static_cast<std::size_t>(codes[t]) * lanes + l];
      if (v > best) best = v;
    }
    total += best;
  }
  return total;
}

}  // namespace

const Kernels& table() {
  static const Kernels t{dot_panels_f32, scan_f32, scan_i8, interaction_u16};
  return t;
}

}  // namespace aftershock::multivector::kernels::scalar
