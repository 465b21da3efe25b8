// Internal: the SIMD kernels of the multi-vector index (candidate generation), one table
// of plain function pointers per level. Included by the ISA translation units, so it holds
// only declarations and plain structs (STYLE.md section 3: no inline code shared with
// baseline code).
//
// Column panels. A set of n_cols vectors w_c of length dim (centroids, projection rows,
// query tokens) is packed as ceil(n_cols / 16) panels of [dim][16] floats: element
// (column c, dimension k) sits at panel c / 16, offset k * 16 + c % 16. Columns past
// n_cols in the last panel are zero. One SIMD register then holds one dimension of 16
// columns, so a dot-product tile is a chain of broadcast-FMAs with no horizontal sums.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aftershock::simd {
enum class Level : int;
}

namespace aftershock::multivector::kernels {

constexpr std::size_t kPanelCols = 16;

struct Kernels {
  /// out[r * out_stride + c] = sum_k x[r * dim + k] * w_c[k] for r < n_rows, c < n_cols.
  /// x: row-major float32 [n_rows, dim]; panels: column panels (see above).
  /// Every output is one float32 chain over k = 0..dim-1 in order (an FMA chain on SIMD
  /// levels), so the value of an entry does not depend on n_rows, n_cols or blocking.
  /// PRECONDITION: out_stride >= n_cols; dim >= 1.
  void (*dot_panels_f32)(const float* x, std::size_t n_rows, std::size_t dim, const float* panels,
                         std::size_t n_cols, float* out, std::size_t out_stride);
  /// out[r] = sum_k rows[r * stride + k] * q[k] (flat inner-product scan).
  /// The summation order depends only on dim, not on n_rows.
  void (*scan_f32)(const float* rows, std::size_t stride, std::size_t n_rows, std::size_t dim, const float* q,
                   float* out);
  /// out[r] = scales[r] * sum_k float(codes[r * stride + k]) * q[k] (int8 rows, fp32 query).
  void (*scan_i8)(const std::int8_t* codes, std::size_t stride, const float* scales, std::size_t n_rows,
                  std::size_t dim, const float* q, float* out);
  /// Centroid interaction: sum_{l < lanes} max_{t < n} table[codes[t] * lanes + l].
  /// table: float32 [n_centroids, lanes]. PRECONDITION: n >= 1, lanes a multiple of 16,
  /// every code < n_centroids, padding lanes hold 0.
  float (*interaction_u16)(const std::uint16_t* codes, std::size_t n, const float* table, std::size_t lanes);
};

/// The table of the active SIMD level (simd::active_level()); baseline code only.
const Kernels& active();
/// The table of a level (simd::PerLevel); throws InvalidArgument if not compiled in.
const Kernels& table_for(simd::Level level);

/// Each level's table, defined in kernels_<level>.cpp (a level not compiled in has none).
namespace scalar {
const Kernels& table();
}
namespace avx2 {
const Kernels& table();
}
namespace avx512 {
const Kernels& table();
}

}  // namespace aftershock::multivector::kernels
