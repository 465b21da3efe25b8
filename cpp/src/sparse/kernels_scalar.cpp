// Scalar sparse kernels: the oracle every SIMD level is tested against, and the fallback.
// Compiled with auto-vectorization off (see simd_flags.cmake).
#include <algorithm>

#include "aftershock/util/half.hpp"
#include "kernels.hpp"

namespace aftershock::sparse::kernels::scalar {
namespace {

inline float load(float v) { return v; }
inline float load(std::uint16_t h) { return fp16_to_float(h); }

template <class TermT, class ValueT>
float dot(const TermT* terms, const ValueT* values, std::size_t n, const float* query) {
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; ++i) sum += query[terms[i]] * load(values[i]);
  return sum;
}

#include "kernels_level.inc"

}  // namespace

const SparseKernels& table() { return make_table<accumulate_codes_serial>(); }

}  // namespace aftershock::sparse::kernels::scalar
