// Internal: the panel layout of MaxSim documents, and its codec (float32 tokens <-> panels
// of one precision). The layout is defined here, once; the kernels (kernels.hpp) read it,
// the multi-vector store (multivector/store.cpp) owns buffers of it. Baseline code: never
// include from an ISA translation unit (STYLE section 3).
//
// A document of n >= 1 tokens is cut into ceil(n / P) panels of P = kPanelTokens = 16
// tokens (lanes), each stored dimension-major so that one SIMD register holds one
// dimension (fp32, fp16), one dimension pair (bf16) or one dimension quad (int8) of 16
// tokens:
//   fp32 panel: float  [dim][P]    element (token t, dim k) at k*P + t
//   fp16 panel: uint16 [dim][P]    same order, fp16(x) round to nearest even
//   bf16 panel: uint32 [dim2][P]   dim2 = ceil(dim/2); word = bf16(x[2k]) | bf16(x[2k+1]) << 16
//   int8 panel: uint32 [dim4][P]   dim4 = ceil(dim/4); byte b of the word = code(x[4k+b]),
//                                  code = clamp(rne(x / s), -127, 127), s = max|x| / 127 per token
//   int8 also: float scale[P] (s per lane) and int32 bias[P] = -128 * sum of the lane's codes.
// Padding dimensions (the high half / bytes of the last bf16 / int8 word) are zero. The
// lanes after the last token repeat the document's last token: a duplicate never changes a
// maximum, so the kernels need no masks.
//
// Decoding gives the exact values the kernels use: fp16 / bf16 widened, int8 code * scale
// in float32 (see cpp/src/maxsim/README.md for the score per precision).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aftershock/maxsim/maxsim.hpp"

namespace aftershock::maxsim {

/// The geometry of one panel for a (precision, dim).
struct PanelLayout {
  Precision precision = Precision::kFp32;
  std::size_t dim = 0;
  std::size_t rows = 0;         // dim (fp32, fp16), ceil(dim / 2) (bf16), ceil(dim / 4) (int8)
  std::size_t lane_bytes = 0;   // bytes of one (row, lane) element: 2 (fp16) or 4
  std::size_t panel_bytes = 0;  // rows * kPanelTokens * lane_bytes

  static PanelLayout of(Precision precision, std::size_t dim);
};

/// Panels of a document of n tokens: ceil(n / kPanelTokens).
inline std::size_t panels_for(std::size_t n_tokens) { return (n_tokens + kPanelTokens - 1) / kPanelTokens; }

/// The largest |x| a precision stores, as binary32 bits (values at or above it are refused):
/// fp16 kFp16OverflowBits, bf16 kBf16OverflowBits, fp32 / int8 infinity. And its wording
/// for messages (nullptr for "finite only").
std::uint32_t value_limit_bits(Precision precision);
const char* value_limit_name(Precision precision);

/// Returned by encode_panels when every value was accepted.
inline constexpr std::size_t kNoBadValue = static_cast<std::size_t>(-1);

/// Encodes one document: tokens float32 [n, dim] row-major (n >= 1) into panels_for(n)
/// consecutive panels at `panels` (zeroed, panels_for(n) * panel_bytes bytes); int8 also
/// writes scales / bias [panels_for(n) * kPanelTokens]. Each input value is read exactly
/// once (into `row`, resized to dim), checked against the precision's limit and converted
/// from that copy, so a caller's buffer changed concurrently can never put an unchecked
/// value into the panels. Returns kNoBadValue, or the flat index (token * dim + k) of the
/// first refused value (NaN, inf, beyond the limit) with the value in *bad_value; the
/// panels are then incomplete. O(n * dim). Thread-safe for disjoint outputs.
std::size_t encode_panels(const PanelLayout& layout, const float* tokens, std::size_t n, unsigned char* panels,
                          float* scales, std::int32_t* bias, std::vector<float>& row, float* bad_value);

/// Decodes the n tokens held in consecutive panels at `panels` (int8: with their scales)
/// into float32 [n, dim] row-major: the values the kernels use. O(n * dim).
void decode_panels(const PanelLayout& layout, const unsigned char* panels, const float* scales, std::size_t n,
                   float* out);

/// For loaders: "" when n_panels panels (and, for int8, their scales) hold only values
/// encode_panels can produce (no inf / NaN; int8 codes in [-127, 127], scales finite and
/// >= 0); otherwise the reason. O(n_panels * panel_bytes).
std::string stored_values_error(const PanelLayout& layout, const unsigned char* panels, std::size_t n_panels,
                                const float* scales);

/// For loaders: re-establishes the invariants the kernels rely on in one document's panels
/// holding n >= 1 tokens, whatever a file held: padding dimensions zero, padding lanes equal
/// to the last token (int8: scales too), and (int8) bias recomputed from the codes.
void restore_invariants(const PanelLayout& layout, unsigned char* panels, float* scales, std::int32_t* bias,
                        std::size_t n);

}  // namespace aftershock::maxsim
