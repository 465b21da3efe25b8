// AVX2 + FMA + F16C sparse kernels: 8 query weights at a time, fused multiply-add.
#ifdef AFTERSHOCK_COMPILED_AVX2
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.hpp"

namespace aftershock::sparse::kernels::avx2 {
namespace {

#include "dot_stop.inc"
#include "dot_256.inc"

#include "kernels_level.inc"

}  // namespace

// AVX2 has no scatter: summary codes are added one entry at a time.
const SparseKernels& table() { return make_table<accumulate_codes_serial, dot2_u16_f16>(); }

}  // namespace aftershock::sparse::kernels::avx2
#endif
