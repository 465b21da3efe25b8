// Scalar sparse kernels: the oracle every SIMD level is tested against, and the fallback.
// Compiled with auto-vectorization off (see simd_flags.cmake).
#include <algorithm>

#include "aftershock/sparse/kernels.hpp"
#include "aftershock/util/half.hpp"

namespace aftershock::sparse::simd_scalar {
namespace {

inline float load(float v) { return v; }
inline float load(std::uint16_t h) { return fp16_to_float(h); }

template <class TermT, class ValueT>
float dot(const TermT* terms, const ValueT* values, std::size_t n, const float* query) {
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; ++i) sum += query[terms[i]] * load(values[i]);
  return sum;
}

void accumulate_codes_u8(const std::uint8_t* blocks, const std::uint8_t* codes, std::size_t n, float weight,
                         float* acc) {
  for (std::size_t i = 0; i < n; ++i) acc[blocks[i]] += weight * static_cast<float>(codes[i]);
}

#include "summary_scan.inc"

}  // namespace

const SparseKernels& table() {
  static const SparseKernels t{
      dot<std::uint16_t, std::uint16_t>, dot<std::uint16_t, float>, dot<std::uint32_t, std::uint16_t>,
      dot<std::uint32_t, float>, accumulate_codes_u8, accumulate_summary_page,
  };
  return t;
}

}  // namespace aftershock::sparse::simd_scalar
