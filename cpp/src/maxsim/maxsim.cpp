// Baseline (non-ISA) part of MaxSim: precision conversions and query preparation (kernel
// selection is in kernels.cpp). Query preparation lives here, not in the kernels, so that
// every SIMD level sees bit-identical bf16 / int8 query values.
#include "aftershock/maxsim/maxsim.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"
#include "kernels.hpp"

namespace aftershock::maxsim {
namespace {

std::uint32_t bits_of(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
float float_of(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// |x| at or above this rounds to infinity in bf16 (halfway to 2^128, ties to even).
constexpr std::uint32_t kBf16OverflowBits = 0x7F7F8000u;

}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
    case Precision::kInt8: return "int8";
  }
  return "unknown";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "fp16") return Precision::kFp16;
  if (name == "bf16") return Precision::kBf16;
  if (name == "int8") return Precision::kInt8;
  throw InvalidArgument("precision: expected one of 'fp32', 'fp16', 'bf16', 'int8', got '" + name + "'");
}

std::uint16_t float_to_fp16(float x) {
  std::uint32_t b = bits_of(x);
  const std::uint16_t sign = static_cast<std::uint16_t>((b >> 16) & 0x8000u);
  b &= 0x7FFFFFFFu;
  if (b >= 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7C00u | (b > 0x7F800000u ? 0x200u : 0u));
  if (b >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65520: rounds to inf
  if (b < 0x38800000u) {
    // Below 2^-14 (fp16 subnormal range): adding 0.5 puts the value in a binade whose
    // float32 ulp is 2^-24, the fp16 subnormal spacing, so the float addition performs
    // the round-to-nearest-even; the low bits are then the fp16 encoding (0x400 = 2^-14).
    const float r = float_of(b) + 0.5f;
    return static_cast<std::uint16_t>(sign | (bits_of(r) - 0x3F000000u));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
  const std::uint32_t odd = (b >> 13) & 1u;
  b += 0xC8000FFFu + odd;
  return static_cast<std::uint16_t>(sign | (b >> 13));
}

float fp16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float f = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^-24, exact
    return float_of(bits_of(f) | sign);
  }
  if (exponent == 31) return float_of(sign | 0x7F800000u | (mantissa << 13));
  return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

std::uint16_t float_to_bf16(float x) {
  const std::uint32_t b = bits_of(x);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((b >> 16) | 0x40u);  // quiet NaN
  return static_cast<std::uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

float bf16_to_float(std::uint16_t v) { return float_of(static_cast<std::uint32_t>(v) << 16); }

PreparedQuery::PreparedQuery(const float* query, std::size_t m, std::size_t dim, Precision precision)
    : m_(m), dim_(dim), precision_(precision) {
  if (m == 0) throw InvalidArgument("query: expected at least one token, got 0");
  if (dim == 0) throw InvalidArgument("query: dim must be >= 1");
  if (precision == Precision::kInt8 && dim > kMaxInt8Dim)
    throw InvalidArgument("query: int8 storage supports dim <= " + std::to_string(kMaxInt8Dim) + ", got " +
                          std::to_string(dim));
  for (std::size_t i = 0; i < m * dim; ++i) {
    if (!std::isfinite(query[i]))
      throw InvalidArgument("query: value at token " + std::to_string(i / dim) + ", dim " + std::to_string(i % dim) +
                            " is not finite");
    if (precision == Precision::kBf16 && (bits_of(query[i]) & 0x7FFFFFFFu) >= kBf16OverflowBits)
      throw InvalidArgument("query: value at token " + std::to_string(i / dim) +
                            " overflows bfloat16 (|x| >= 3.3961e38)");
  }
  switch (precision) {
    case Precision::kFp32:
    case Precision::kFp16:
      f32_.assign(query, query + m * dim);
      break;
    case Precision::kBf16: {
      const std::size_t dim2 = (dim + 1) / 2;
      words_.assign(m * dim2, 0u);
      f32_.assign(m * 2 * dim2, 0.0f);
      for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t k = 0; k < dim; ++k) {
          const std::uint16_t h = float_to_bf16(query[i * dim + k]);
          words_[i * dim2 + k / 2] |= static_cast<std::uint32_t>(h) << (16 * (k % 2));
          f32_[i * 2 * dim2 + k] = bf16_to_float(h);
        }
      }
      break;
    }
    case Precision::kInt8: {
      const std::size_t dim4 = (dim + 3) / 4;
      words_.assign(m * dim4, 0x80808080u);  // code 0 (+128) in every padding byte
      f32_.assign(m * 4 * dim4, 0.0f);
      scales_.assign(m, 0.0f);
      std::vector<std::int8_t> codes(dim);
      for (std::size_t i = 0; i < m; ++i) {
        scales_[i] = kernels::quantize_int8(query + i * dim, dim, codes.data());
        for (std::size_t k = 0; k < dim; ++k) {
          const std::uint32_t byte = static_cast<std::uint32_t>(codes[k] + 128);
          std::uint32_t& w = words_[i * dim4 + k / 4];
          w = (w & ~(0xFFu << (8 * (k % 4)))) | (byte << (8 * (k % 4)));
          f32_[i * 4 * dim4 + k] = static_cast<float>(codes[k]);
        }
      }
      break;
    }
  }
}

namespace kernels {

float quantize_int8(const float* row, std::size_t dim, std::int8_t* codes) {
  float max_abs = 0.0f;
  for (std::size_t k = 0; k < dim; ++k) max_abs = std::fmax(max_abs, std::fabs(row[k]));
  const float scale = max_abs / 127.0f;
  for (std::size_t k = 0; k < dim; ++k) {
    // |row[k] / scale| <= 127 up to one rounding, so the clamp only catches that rounding.
    float c = scale > 0.0f ? std::nearbyint(row[k] / scale) : 0.0f;
    c = std::fmin(127.0f, std::fmax(-127.0f, c));
    codes[k] = static_cast<std::int8_t>(c);
  }
  return scale;
}

}  // namespace kernels

float maxsim_f32(const float* query, std::size_t m, const float* doc, std::size_t n, std::size_t dim) {
  if (n == 0) throw InvalidArgument("doc: expected at least one token, got 0");
  for (std::size_t i = 0; i < n * dim; ++i)
    if (!std::isfinite(doc[i])) throw InvalidArgument("doc: value at token " + std::to_string(i / dim) + " is not finite");
  PreparedQuery q(query, m, dim, Precision::kFp32);
  const std::size_t n_panels = (n + kPanelTokens - 1) / kPanelTokens;
  const std::size_t floats = n_panels * kPanelTokens * dim;
  const std::size_t scratch_floats = m * kPanelTokens + m;
  auto free_fn = [](float* p) { std::free(p); };
  const std::size_t bytes = ((floats + scratch_floats) * sizeof(float) + 63) / 64 * 64;
  std::unique_ptr<float, decltype(free_fn)> buffer(static_cast<float*>(std::aligned_alloc(64, bytes)), free_fn);
  if (!buffer) throw std::bad_alloc();
  float* panels = buffer.get();
  float* scratch = panels + floats;  // floats is a multiple of 16: 64-byte aligned
  for (std::size_t p = 0; p < n_panels; ++p)
    for (std::size_t k = 0; k < dim; ++k)
      for (std::size_t t = 0; t < kPanelTokens; ++t) {
        std::size_t j = p * kPanelTokens + t;
        if (j >= n) j = n - 1;
        panels[(p * dim + k) * kPanelTokens + t] = doc[j * dim + k];
      }
  kernels::QueryOps qo{q.f32(), q.words(), m, dim};
  kernels::DocOps d;
  d.panels = panels;
  d.n_panels = n_panels;
  d.panel_bytes = dim * kPanelTokens * sizeof(float);
  float* row_max = scratch + m * kPanelTokens;
  kernels::select(static_cast<int>(Precision::kFp32))(qo, d, scratch, row_max);
  float score = 0.0f;
  for (std::size_t i = 0; i < m; ++i) score += row_max[i];
  return score;
}

double maxsim_reference_f64(const float* query, std::size_t m, const float* doc, std::size_t n,
                            std::size_t dim) {
  double total = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    double best = -HUGE_VAL;
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < dim; ++k)
        s += static_cast<double>(query[i * dim + k]) * static_cast<double>(doc[j * dim + k]);
      if (s > best) best = s;
    }
    total += best;
  }
  return total;
}

}  // namespace aftershock::maxsim
