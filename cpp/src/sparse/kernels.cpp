#include "aftershock/error.hpp"
#include "aftershock/sparse/kernels.hpp"

namespace aftershock::sparse {

const SparseKernels& sparse_kernels(simd::Level level) {
  switch (level) {
    case simd::Level::kScalar: return simd_scalar::table();
#ifdef AFTERSHOCK_COMPILED_AVX2
    case simd::Level::kAvx2: return simd_avx2::table();
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512
    case simd::Level::kAvx512: return simd_avx512::table();
#endif
    default: break;
  }
  throw InvalidArgument(std::string("simd level '") + simd::level_name(level) + "' is not compiled in");
}

}  // namespace aftershock::sparse
