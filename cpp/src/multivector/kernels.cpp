// Picks the multi-vector kernel table per SIMD level (the shared simd::PerLevel shape).
#include <string>

#include "../simd/per_level.hpp"
#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"
#include "kernels.hpp"

namespace aftershock::multivector::kernels {
namespace {

const Kernels* make(simd::Level level) {
  switch (level) {
    case simd::Level::kScalar: return &scalar::table();
#ifdef AFTERSHOCK_COMPILED_AVX2
    case simd::Level::kAvx2: return &avx2::table();
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512
    case simd::Level::kAvx512: return &avx512::table();
#endif
    default: return nullptr;
  }
}

const simd::PerLevel<Kernels>& registry() {
  static const simd::PerLevel<Kernels> r(&make);
  return r;
}

}  // namespace

const Kernels& table_for(simd::Level level) { return registry().at(level); }
const Kernels& active() { return registry().active(); }

}  // namespace aftershock::multivector::kernels

// ---------------------------------------------------------------------------- testing
#include "aftershock/multivector/index.hpp"
#include "util.hpp"

namespace aftershock::multivector::testing {
namespace {

const kernels::Kernels& supported(int level) {
  if (level < 0 || static_cast<std::size_t>(level) >= simd::kLevelCount ||
      !simd::is_supported(static_cast<simd::Level>(level)))
    throw InvalidArgument("level: SIMD level " + std::to_string(level) + " is not supported here");
  return kernels::table_for(static_cast<simd::Level>(level));
}

}  // namespace

void dot_rows(int level, const float* x, std::size_t n_rows, std::size_t dim, const float* w, std::size_t n_cols,
              float* out) {
  const kernels::Kernels& k = supported(level);
  if (dim == 0) {
    std::fill(out, out + n_rows * n_cols, 0.0f);
    return;
  }
  detail::AlignedFloats panels = detail::pack_panels(w, n_cols, dim);
  k.dot_panels_f32(x, n_rows, dim, panels.data(), n_cols, out, n_cols);
}

void scan_f32(int level, const float* rows, std::size_t n_rows, std::size_t dim, const float* q, float* out) {
  supported(level).scan_f32(rows, dim, n_rows, dim, q, out);
}

void scan_i8(int level, const std::int8_t* codes, const float* scales, std::size_t n_rows, std::size_t dim,
             const float* q, float* out) {
  supported(level).scan_i8(codes, dim, scales, n_rows, dim, q, out);
}

float interaction(int level, const std::uint16_t* codes, std::size_t n, const float* table, std::size_t n_centroids,
                  std::size_t lanes) {
  const kernels::Kernels& k = supported(level);
  if (n == 0) throw InvalidArgument("codes: expected at least one code");
  if (lanes == 0 || lanes % kernels::kPanelCols != 0) throw InvalidArgument("table: lanes must be a multiple of 16");
  for (std::size_t t = 0; t < n; ++t)
    if (codes[t] >= n_centroids) throw std::out_of_range("codes: code out of range");
  return k.interaction_u16(codes, n, table, lanes);
}

}  // namespace aftershock::multivector::testing
