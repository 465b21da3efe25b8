// Scalar sparse kernels: the oracle every SIMD level is tested against, and the fallback.
// Compiled with auto-vectorization off (see simd_flags.cmake).
#include <algorithm>
#include <cmath>
#include <limits>

#include "aftershock/util/half.hpp"
#include "kernels.hpp"

namespace aftershock::sparse::kernels::scalar {
namespace {

inline float load(float v) { return v; }
inline float load(std::uint16_t h) { return fp16_to_float(h); }

#include "dot_stop.inc"

template <class TermT, class ValueT>
float dot(const TermT* terms, const ValueT* values, std::size_t n, const float* query, float query_mass,
          float threshold) {
  const bool may_stop = threshold > -std::numeric_limits<float>::infinity();
  float sum = 0.0f, met = 0.0f, bound;
  for (std::size_t i = 0; i < n; ++i) {
    const float q = query[terms[i]];
    sum += q * load(values[i]);
    met += std::max(q, 0.0f);
    if (may_stop && (i + 1) % 16 == 0 && i + 1 < n && dot_stops(sum, met, load(values[i + 1]), query_mass, threshold, bound))
      return bound;
  }
  return sum;
}

#include "kernels_level.inc"

}  // namespace

const SparseKernels& table() { return make_table<accumulate_codes_serial>(); }

}  // namespace aftershock::sparse::kernels::scalar
