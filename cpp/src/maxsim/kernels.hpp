// Internal: MaxSim kernel entry points per SIMD level. Included by the ISA translation
// units, so it holds only plain structs and function declarations (no inline code and no
// templates that baseline code also instantiates: see STYLE.md section 3).
//
// Document operands: panels of P = kPanelTokens = 16 tokens in the layout defined (and
// encoded / decoded) by panel_codec.hpp: fp32 float [dim][P], fp16 uint16 [dim][P], bf16
// uint32 [dim2][P], int8 uint32 [dim4][P] plus float scale[P] and int32 bias[P] per panel.
// Query operands (from PreparedQuery, built by baseline code so that every level sees
// bit-identical query values):
//   fp32/fp16: f32 [m][dim]
//   bf16:      words [m][dim2] (packed like the panel); f32 [m][2*dim2] the same values widened
//   int8:      words [m][dim4] with byte b = code + 128 (u8); f32 [m][4*dim4] codes as float
#pragma once

#include <cstddef>
#include <cstdint>

namespace aftershock::simd {
enum class Level : int;
}

namespace aftershock::maxsim::kernels {

struct QueryOps {
  const float* f32 = nullptr;
  const std::uint32_t* words = nullptr;
  std::size_t m = 0;
  std::size_t dim = 0;  // the store's dim (not padded)
};

/// Residual precisions (res1/2/4, residual_codec.hpp): the codebook and a decode buffer.
struct ResidualOps {
  unsigned bits = 0;
  std::size_t n_centroids = 0;
  const float* centroids_t = nullptr;  // [dim, n_centroids]
  const float* centroids = nullptr;    // [n_centroids, dim] (row-major, the same values)
  const float* table = nullptr;        // [dim, 16] bucket weights, zero padded
  const std::uint16_t* codes = nullptr;  // the document's lanes: n_panels * P codes
  /// Scratch for decoded fp32 panels: kResDecodePanels * dim * P floats, 64-byte aligned.
  float* decode = nullptr;
};

/// Panels a residual kernel decodes at once (fp32, L1-resident: 24 KiB at dim 128).
inline constexpr std::size_t kResDecodePanels = 3;

struct DocOps {
  const void* panels = nullptr;     // n_panels consecutive panels
  const float* scales = nullptr;    // int8: n_panels * P
  const std::int32_t* bias = nullptr;  // int8: n_panels * P
  std::size_t n_panels = 0;
  std::size_t panel_bytes = 0;         // bytes of one panel
  // Software prefetch target: the next document to be scored (nullptr: none). The
  // kernels fetch the next panel group while computing the current one, and the next
  // document's first group while computing the last, so DRAM latency overlaps compute.
  const void* next_panels = nullptr;
  std::size_t next_bytes = 0;
  bool prefetch = true;  // false: no software prefetch at all (benchmarks compare)
  const ResidualOps* res = nullptr;  // residual precisions only
};

/// Whether software prefetch is on (maxsim::set_kernel_prefetch; default true).
bool prefetch_enabled();

/// Writes row_max[i] = max over the document's tokens j of sim(q_i, d_j), where sim is
///   fp32/fp16/bf16: the float32 dot product (any summation order);
///   int8: float(int32 dot of codes) * scale_j (exact integer dot; bit-identical everywhere).
/// scratch: at least m * P floats, 64-byte aligned. PRECONDITION: m >= 1, n_panels >= 1.
/// Residual precisions: sim is the float32 dot product with the decoded token (centroid +
/// bucket weight per dimension), decoded kResDecodePanels panels at a time into d.res->decode.
using RowMaxFn = void (*)(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);

/// Decodes panels [p0, p0 + np) of a residual document (d.panels, d.res) into fp32 panels
/// (float [dim][P] each, the fp32 layout) at `out`; values bit-identical at every level.
/// PRECONDITION: np >= 1, p0 + np <= d.n_panels.
using DecodeResFn = void (*)(const DocOps& d, std::size_t dim, std::size_t p0, std::size_t np, float* out);

/// One level's MaxSim kernels (the shared simd::PerLevel shape; tables built in kernels.cpp).
struct Kernels {
  RowMaxFn rowmax_f32;
  RowMaxFn rowmax_f16;
  RowMaxFn rowmax_bf16;
  RowMaxFn rowmax_i8;
  RowMaxFn rowmax_res;
  DecodeResFn decode_res;
  /// Extension kernels of the level, nullptr unless the registry reports the extension
  /// supported (simd::is_supported(simd::Extension)): built in and on this CPU.
  RowMaxFn rowmax_bf16_dot;  // AVX512_BF16 vdpbf16ps
  RowMaxFn rowmax_i8_vnni;   // AVX512_VNNI vpdpbusd
};

/// The table of a level; throws InvalidArgument if the level is not compiled in.
const Kernels& table_for(simd::Level level);

#define AFTERSHOCK_MAXSIM_DECLARE_LEVEL(ns)                                                   \
  namespace ns {                                                                              \
  void rowmax_f32(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);        \
  void rowmax_f16(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);        \
  void rowmax_bf16(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);       \
  void rowmax_i8(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);         \
  void rowmax_res(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);        \
  void decode_res(const DocOps& d, std::size_t dim, std::size_t p0, std::size_t np, float* out); \
  }

AFTERSHOCK_MAXSIM_DECLARE_LEVEL(scalar)
AFTERSHOCK_MAXSIM_DECLARE_LEVEL(avx2)
AFTERSHOCK_MAXSIM_DECLARE_LEVEL(avx512)
#undef AFTERSHOCK_MAXSIM_DECLARE_LEVEL

namespace avx512bf16 {
void rowmax_bf16(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);
}
namespace avx512vnni {
void rowmax_i8(const QueryOps& q, const DocOps& d, float* scratch, float* row_max);
}

/// Symmetric per-token int8 quantization shared by documents and queries (baseline code):
/// scale = max|row| / 127, codes[k] = clamp(round_half_even(row[k] / scale), -127, 127)
/// (all zero when scale == 0). Returns the scale.
float quantize_int8(const float* row, std::size_t dim, std::int8_t* codes);

/// The kernel for `precision` at the active level: the active table's entry, or its
/// extension kernel when present and allowed (set_kernel_extensions). Baseline code.
/// `precision` is maxsim::Precision as an int, to keep this header free of other headers.
RowMaxFn select(int precision);
/// Its name, e.g. "avx512_vnni".
const char* select_name(int precision);

}  // namespace aftershock::maxsim::kernels
