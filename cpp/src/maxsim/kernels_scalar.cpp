// The MaxSim oracle and fallback: obvious loops, one token pair at a time, compiled with
// auto-vectorization disabled (see simd_flags.cmake). Every SIMD kernel is tested
// against these.
#include <cstring>

#include "kernels.hpp"

namespace aftershock::maxsim::kernels::scalar {
namespace {

constexpr std::size_t P = 16;

float widen_bf16(std::uint32_t half) {
  std::uint32_t bits = half << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float widen_fp16(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  std::uint32_t bits;
  if (exponent == 0) {
    // Subnormal or zero: mantissa * 2^-24 is exact in float32.
    float f = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    std::memcpy(&bits, &f, sizeof bits);
    bits |= sign;
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float max_of(float a, float b) { return b > a ? b : a; }

}  // namespace

void rowmax_f32(const QueryOps& q, const DocOps& d, float*, float* row_max) {
  const float* panels = static_cast<const float*>(d.panels);
  const std::size_t dim = q.dim;
  for (std::size_t i = 0; i < q.m; ++i) {
    const float* qi = q.f32 + i * dim;
    float best = 0.0f;
    bool first = true;
    for (std::size_t p = 0; p < d.n_panels; ++p) {
      const float* panel = panels + p * dim * P;
      for (std::size_t t = 0; t < P; ++t) {
        float s = 0.0f;
        for (std::size_t k = 0; k < dim; ++k) s += qi[k] * panel[k * P + t];
        best = first ? s : max_of(best, s);
        first = false;
      }
    }
    row_max[i] = best;
  }
}

void rowmax_f16(const QueryOps& q, const DocOps& d, float*, float* row_max) {
  const std::uint16_t* panels = static_cast<const std::uint16_t*>(d.panels);
  const std::size_t dim = q.dim;
  for (std::size_t i = 0; i < q.m; ++i) {
    const float* qi = q.f32 + i * dim;
    float best = 0.0f;
    bool first = true;
    for (std::size_t p = 0; p < d.n_panels; ++p) {
      const std::uint16_t* panel = panels + p * dim * P;
      for (std::size_t t = 0; t < P; ++t) {
        float s = 0.0f;
        for (std::size_t k = 0; k < dim; ++k) s += qi[k] * widen_fp16(panel[k * P + t]);
        best = first ? s : max_of(best, s);
        first = false;
      }
    }
    row_max[i] = best;
  }
}

void rowmax_bf16(const QueryOps& q, const DocOps& d, float*, float* row_max) {
  const std::uint32_t* panels = static_cast<const std::uint32_t*>(d.panels);
  const std::size_t dim2 = (q.dim + 1) / 2;
  for (std::size_t i = 0; i < q.m; ++i) {
    const float* qi = q.f32 + i * 2 * dim2;
    float best = 0.0f;
    bool first = true;
    for (std::size_t p = 0; p < d.n_panels; ++p) {
      const std::uint32_t* panel = panels + p * dim2 * P;
      for (std::size_t t = 0; t < P; ++t) {
        float s = 0.0f;
        for (std::size_t k = 0; k < dim2; ++k) {
          const std::uint32_t w = panel[k * P + t];
          s += qi[2 * k] * widen_bf16(w & 0xFFFFu);
          s += qi[2 * k + 1] * widen_bf16(w >> 16);
        }
        best = first ? s : max_of(best, s);
        first = false;
      }
    }
    row_max[i] = best;
  }
}

void rowmax_i8(const QueryOps& q, const DocOps& d, float*, float* row_max) {
  const std::uint32_t* panels = static_cast<const std::uint32_t*>(d.panels);
  const std::size_t dim4 = (q.dim + 3) / 4;
  for (std::size_t i = 0; i < q.m; ++i) {
    const std::uint32_t* qi = q.words + i * dim4;
    float best = 0.0f;
    bool first = true;
    for (std::size_t p = 0; p < d.n_panels; ++p) {
      const std::uint32_t* panel = panels + p * dim4 * P;
      for (std::size_t t = 0; t < P; ++t) {
        long long dot = 0;
        for (std::size_t k = 0; k < dim4; ++k) {
          const std::uint32_t qw = qi[k];
          const std::uint32_t dw = panel[k * P + t];
          for (int b = 0; b < 4; ++b) {
            const int qc = static_cast<int>((qw >> (8 * b)) & 0xFFu) - 128;
            const int dc = static_cast<int>(static_cast<std::int8_t>((dw >> (8 * b)) & 0xFFu));
            dot += static_cast<long long>(qc) * dc;
          }
        }
        // |dot| <= dim * 127 * 127 < 2^31 for dim <= kMaxInt8Dim: the int32 the SIMD
        // kernels hold is this exact value, and the conversion rounds the same way.
        const float s = static_cast<float>(static_cast<std::int32_t>(dot)) * d.scales[p * P + t];
        best = first ? s : max_of(best, s);
        first = false;
      }
    }
    row_max[i] = best;
  }
}

void decode_res(const DocOps& d, std::size_t dim, std::size_t p0, std::size_t np, float* out) {
  const ResidualOps& r = *d.res;
  const unsigned bits = r.bits;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  for (std::size_t p = 0; p < np; ++p) {
    const unsigned char* panel = static_cast<const unsigned char*>(d.panels) + (p0 + p) * d.panel_bytes;
    const std::uint16_t* codes = r.codes + (p0 + p) * P;
    float* dst = out + p * dim * P;
    for (std::size_t k = 0; k < dim; ++k) {
      std::uint64_t w = 0;
      std::memcpy(&w, panel + k * 2 * bits, 2 * bits);
      const float* table = r.table + k * 16;
      const float* ct = r.centroids_t + k * r.n_centroids;
      for (std::size_t t = 0; t < P; ++t) {
        const auto b = static_cast<std::size_t>((w >> (t * bits)) & mask);
        dst[k * P + t] = ct[codes[t]] + table[b];
      }
    }
  }
}

void rowmax_res(const QueryOps& q, const DocOps& d, float* scratch, float* row_max) {
  // The obvious order: decode a panel, then every (query token, lane) dot product.
  const std::size_t dim = q.dim;
  float* panel = d.res->decode;
  for (std::size_t i = 0; i < q.m; ++i) row_max[i] = 0.0f;
  for (std::size_t p = 0; p < d.n_panels; ++p) {
    decode_res(d, dim, p, 1, panel);
    for (std::size_t i = 0; i < q.m; ++i) {
      const float* qi = q.f32 + i * dim;
      for (std::size_t t = 0; t < P; ++t) {
        float s = 0.0f;
        for (std::size_t k = 0; k < dim; ++k) s += qi[k] * panel[k * P + t];
        row_max[i] = (p == 0 && t == 0) ? s : max_of(row_max[i], s);
      }
    }
  }
  (void)scratch;
}

}  // namespace aftershock::maxsim::kernels::scalar
