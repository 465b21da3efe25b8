#include "panel_codec.hpp"

#include <cmath>
#include <cstring>

#include "aftershock/util/half.hpp"
#include "aftershock/util/ragged.hpp"
#include "kernels.hpp"

namespace aftershock::maxsim {
namespace {

constexpr std::size_t kP = kPanelTokens;

// Copies lane `from` of every row of a panel into lane `to` (int8: scale and bias too).
void copy_lane(const PanelLayout& L, unsigned char* panel, float* scales, std::int32_t* bias, std::size_t from,
               std::size_t to) {
  for (std::size_t r = 0; r < L.rows; ++r)
    std::memcpy(panel + (r * kP + to) * L.lane_bytes, panel + (r * kP + from) * L.lane_bytes, L.lane_bytes);
  if (scales) scales[to] = scales[from];
  if (bias) bias[to] = bias[from];
}

// Fills the lanes after the last of n tokens with copies of it (last panel only).
void repeat_last_token(const PanelLayout& L, unsigned char* panels, float* scales, std::int32_t* bias,
                       std::size_t n) {
  const std::size_t last = panels_for(n) - 1;
  const std::size_t used = n - last * kP;
  unsigned char* panel = panels + last * L.panel_bytes;
  float* s = scales ? scales + last * kP : nullptr;
  std::int32_t* b = bias ? bias + last * kP : nullptr;
  for (std::size_t t = used; t < kP; ++t) copy_lane(L, panel, s, b, used - 1, t);
}

}  // namespace

PanelLayout PanelLayout::of(Precision precision, std::size_t dim) {
  PanelLayout L;
  L.precision = precision;
  L.dim = dim;
  switch (precision) {
    case Precision::kBf16: L.rows = (dim + 1) / 2; break;
    case Precision::kInt8: L.rows = (dim + 3) / 4; break;
    default: L.rows = dim;
  }
  L.lane_bytes = precision == Precision::kFp16 ? 2 : 4;
  L.panel_bytes = L.rows * kP * L.lane_bytes;
  if (const unsigned bits = residual_bits(precision)) {
    // residual_codec.hpp: one word of 16 * bits bits per dimension; lanes are not bytes.
    L.lane_bytes = 0;
    L.panel_bytes = dim * 2 * bits;
  }
  return L;
}

std::uint32_t value_limit_bits(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return kFp16OverflowBits;
    case Precision::kBf16: return kBf16OverflowBits;
    case Precision::kRes1:
    case Precision::kRes2:
    case Precision::kRes4: return 0x58800000u;  // 2^50 (residual_codec.hpp, kResidualLimitBits)
    default: return 0x7F800000u;
  }
}

const char* value_limit_name(Precision precision) {
  switch (precision) {
    case Precision::kFp16: return "float16 (|x| >= 65520)";
    case Precision::kBf16: return "bfloat16 (|x| >= 3.3961e38)";
    case Precision::kRes1:
    case Precision::kRes2:
    case Precision::kRes4: return "residual compression (|x| >= 2^50)";
    default: return nullptr;
  }
}

std::size_t encode_panels(const PanelLayout& L, const float* tokens, std::size_t n, unsigned char* panels,
                          float* scales, std::int32_t* bias, std::vector<float>& row, float* bad_value) {
  const std::size_t dim = L.dim;
  const std::uint32_t limit = value_limit_bits(L.precision);
  row.resize(dim);
  std::vector<std::int8_t> codes(L.precision == Precision::kInt8 ? dim : 0);
  for (std::size_t j = 0; j < n; ++j) {
    // One read of each value: the copy is what is checked and what is converted.
    const float* src = tokens + j * dim;
    for (std::size_t k = 0; k < dim; ++k) {
      const float v = src[k];
      if (!is_within_limit(v, limit)) {
        *bad_value = v;
        return j * dim + k;
      }
      row[k] = v;
    }
    unsigned char* panel = panels + (j / kP) * L.panel_bytes;
    const std::size_t t = j % kP;
    switch (L.precision) {
      case Precision::kFp32: {
        auto* out = reinterpret_cast<float*>(panel);
        for (std::size_t k = 0; k < dim; ++k) out[k * kP + t] = row[k];
        break;
      }
      case Precision::kFp16: {
        auto* out = reinterpret_cast<std::uint16_t*>(panel);
        for (std::size_t k = 0; k < dim; ++k) out[k * kP + t] = float_to_fp16(row[k]);
        break;
      }
      case Precision::kBf16: {
        auto* out = reinterpret_cast<std::uint32_t*>(panel);
        for (std::size_t r = 0; r < L.rows; ++r) {
          std::uint32_t w = float_to_bf16(row[2 * r]);
          if (2 * r + 1 < dim) w |= static_cast<std::uint32_t>(float_to_bf16(row[2 * r + 1])) << 16;
          out[r * kP + t] = w;
        }
        break;
      }
      case Precision::kInt8: {
        auto* out = reinterpret_cast<std::uint32_t*>(panel);
        const float scale = kernels::quantize_int8(row.data(), dim, codes.data());
        std::int32_t sum = 0;
        for (std::size_t r = 0; r < L.rows; ++r) {
          std::uint32_t w = 0;
          for (std::size_t b = 0; b < 4 && 4 * r + b < dim; ++b) {
            w |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(codes[4 * r + b])) << (8 * b);
            sum += codes[4 * r + b];
          }
          out[r * kP + t] = w;
        }
        scales[j] = scale;
        bias[j] = -128 * sum;
        break;
      }      default: break;  // residual precisions: residual_codec.hpp
    }
  }
  repeat_last_token(L, panels, scales, bias, n);
  return kNoBadValue;
}

void decode_panels(const PanelLayout& L, const unsigned char* panels, const float* scales, std::size_t n,
                   float* out) {
  const std::size_t dim = L.dim;
  for (std::size_t j = 0; j < n; ++j) {
    const unsigned char* panel = panels + (j / kP) * L.panel_bytes;
    const std::size_t t = j % kP;
    float* dst = out + j * dim;
    switch (L.precision) {
      case Precision::kFp32: {
        const auto* in = reinterpret_cast<const float*>(panel);
        for (std::size_t k = 0; k < dim; ++k) dst[k] = in[k * kP + t];
        break;
      }
      case Precision::kFp16: {
        const auto* in = reinterpret_cast<const std::uint16_t*>(panel);
        for (std::size_t k = 0; k < dim; ++k) dst[k] = fp16_to_float(in[k * kP + t]);
        break;
      }
      case Precision::kBf16: {
        const auto* in = reinterpret_cast<const std::uint32_t*>(panel);
        for (std::size_t k = 0; k < dim; ++k)
          dst[k] = bf16_to_float(static_cast<std::uint16_t>(in[(k / 2) * kP + t] >> (16 * (k % 2))));
        break;
      }
      case Precision::kInt8: {
        const auto* in = reinterpret_cast<const std::uint32_t*>(panel);
        const float scale = scales[j];
        for (std::size_t k = 0; k < dim; ++k) {
          const auto code = static_cast<std::int8_t>((in[(k / 4) * kP + t] >> (8 * (k % 4))) & 0xFFu);
          dst[k] = static_cast<float>(code) * scale;
        }
        break;
      }      default: break;  // residual precisions: residual_codec.hpp
    }
  }
}

std::string stored_values_error(const PanelLayout& L, const unsigned char* panels, std::size_t n_panels,
                                const float* scales) {
  const std::size_t words = n_panels * L.rows * kP;  // (row, lane) elements
  for (std::size_t i = 0; i < words; ++i) {
    bool bad = false;
    switch (L.precision) {
      case Precision::kFp32: bad = !std::isfinite(reinterpret_cast<const float*>(panels)[i]); break;
      case Precision::kFp16: bad = (reinterpret_cast<const std::uint16_t*>(panels)[i] & 0x7C00u) == 0x7C00u; break;
      case Precision::kBf16: {
        const std::uint32_t w = reinterpret_cast<const std::uint32_t*>(panels)[i];
        bad = (w & 0x7F80u) == 0x7F80u || (w & 0x7F800000u) == 0x7F800000u;
        break;
      }
      case Precision::kInt8: {
        // -128 is never produced (codes are symmetric in [-127, 127]).
        const std::uint32_t w = reinterpret_cast<const std::uint32_t*>(panels)[i];
        for (int b = 0; b < 4; ++b) bad = bad || ((w >> (8 * b)) & 0xFFu) == 0x80u;
        break;
      }      default: break;
    }
    if (bad) return "token data holds a value this precision never stores (inf, NaN or -128)";
  }
  if (L.precision == Precision::kInt8)
    for (std::size_t i = 0; i < n_panels * kP; ++i)
      if (!std::isfinite(scales[i]) || scales[i] < 0.0f) return "int8 scales must be finite and >= 0";
  return std::string();
}

void restore_invariants(const PanelLayout& L, unsigned char* panels, float* scales, std::int32_t* bias,
                        std::size_t n) {
  const std::size_t n_panels = panels_for(n);
  std::uint32_t keep = 0xFFFFFFFFu;  // the bits of the last word that hold real dimensions
  if (L.precision == Precision::kBf16 && L.dim % 2 == 1) keep = 0xFFFFu;
  if (L.precision == Precision::kInt8 && L.dim % 4 != 0) keep = (std::uint32_t{1} << (8 * (L.dim % 4))) - 1u;
  if (keep != 0xFFFFFFFFu)
    for (std::size_t p = 0; p < n_panels; ++p) {
      auto* words = reinterpret_cast<std::uint32_t*>(panels + p * L.panel_bytes);
      for (std::size_t t = 0; t < kP; ++t) words[(L.rows - 1) * kP + t] &= keep;
    }
  if (L.precision == Precision::kInt8) {
    for (std::size_t p = 0; p < n_panels; ++p) {
      const auto* words = reinterpret_cast<const std::uint32_t*>(panels + p * L.panel_bytes);
      for (std::size_t t = 0; t < kP; ++t) {
        std::int32_t sum = 0;
        for (std::size_t r = 0; r < L.rows; ++r)
          for (int b = 0; b < 4; ++b) sum += static_cast<std::int8_t>((words[r * kP + t] >> (8 * b)) & 0xFFu);
        bias[p * kP + t] = -128 * sum;
      }
    }
  }
  repeat_last_token(L, panels, scales, bias, n);
}

}  // namespace aftershock::maxsim
