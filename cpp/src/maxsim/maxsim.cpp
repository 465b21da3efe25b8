// Baseline (non-ISA) part of MaxSim: precision conversions and query preparation (kernel
// selection is in kernels.cpp). Query preparation lives here, not in the kernels, so that
// every SIMD level sees bit-identical bf16 / int8 query values.
#include "aftershock/maxsim/maxsim.hpp"

#include <cmath>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/ragged.hpp"
#include "aftershock/util/aligned_buffer.hpp"
#include "kernels.hpp"
#include "panel_codec.hpp"

namespace aftershock::maxsim {

PreparedQuery::PreparedQuery(const float* query, std::size_t m, std::size_t dim, Precision precision)
    : m_(m), dim_(dim), precision_(precision) {
  if (m == 0) throw InvalidArgument("query: expected at least one token, got 0");
  if (dim == 0) throw InvalidArgument("query: dim must be >= 1");
  if (precision == Precision::kInt8 && dim > kMaxInt8Dim)
    throw InvalidArgument("query: int8 storage supports dim <= " + std::to_string(kMaxInt8Dim) + ", got " +
                          std::to_string(dim));
  // Checked and converted from one copy: each caller value is read once (STYLE 2.3).
  const std::vector<float> copy(query, query + m * dim);
  query = copy.data();
  check_query_values(query, m, dim, precision, "query", 1);
  convert(query);
}

void check_query_values(const float* q, std::size_t rows, std::size_t dim, Precision precision, const char* what,
                        std::size_t num_threads) {
  if (precision == Precision::kBf16)
    check_finite_rows(q, rows, dim, what, num_threads, kBf16OverflowBits, "bfloat16 (|x| >= 3.3961e38)");
  else
    check_finite_rows(q, rows, dim, what, num_threads);
}

PreparedQuery PreparedQuery::unchecked(const float* query, std::size_t m, std::size_t dim, Precision precision) {
  AFTERSHOCK_DCHECK(m >= 1 && dim >= 1);
  PreparedQuery q;
  q.m_ = m;
  q.dim_ = dim;
  q.precision_ = precision;
  q.convert(query);
  return q;
}

void PreparedQuery::convert(const float* query) {
  const std::size_t m = m_, dim = dim_;
  switch (precision_) {
    case Precision::kFp32:
    case Precision::kFp16:
    case Precision::kRes1:
    case Precision::kRes2:
    case Precision::kRes4:
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
  PreparedQuery q(query, m, dim, Precision::kFp32);
  const PanelLayout layout = PanelLayout::of(Precision::kFp32, dim);
  const std::size_t n_panels = panels_for(n);
  AlignedBuffer panels(n_panels * layout.panel_bytes);
  std::vector<float> row;
  float bad_value = 0.0f;
  const std::size_t bad = encode_panels(layout, doc, n, panels.data(), nullptr, nullptr, row, &bad_value);
  if (bad != kNoBadValue) {
    FirstBadValue first;
    first.offer(bad, bad_value);
    first.throw_if_found("doc", dim);
  }
  AlignedBuffer scratch((m * kPanelTokens + m) * sizeof(float));
  kernels::QueryOps qo{q.f32(), q.words(), m, dim};
  kernels::DocOps d;
  d.panels = panels.data();
  d.n_panels = n_panels;
  d.panel_bytes = layout.panel_bytes;
  float* row_max = scratch.as<float>() + m * kPanelTokens;
  kernels::select(static_cast<int>(Precision::kFp32))(qo, d, scratch.as<float>(), row_max);
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
