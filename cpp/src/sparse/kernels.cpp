// Picks the sparse kernel table per SIMD level (the shared simd::PerLevel shape), and the
// testing entry points of aftershock/sparse/testing.hpp.
#include "kernels.hpp"

#include <string>

#include "../simd/per_level.hpp"
#include "aftershock/error.hpp"
#include "aftershock/sparse/testing.hpp"

namespace aftershock::sparse {
namespace {

const SparseKernels* make(simd::Level level) {
  switch (level) {
    case simd::Level::kScalar: return &kernels::scalar::table();
#ifdef AFTERSHOCK_COMPILED_AVX2
    case simd::Level::kAvx2: return &kernels::avx2::table();
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512
    case simd::Level::kAvx512: return &kernels::avx512::table();
#endif
    default: return nullptr;
  }
}

const simd::PerLevel<SparseKernels>& registry() {
  static const simd::PerLevel<SparseKernels> r(&make);
  return r;
}

const SparseKernels& supported(simd::Level level) {
  if (!simd::is_supported(level))
    throw InvalidArgument(std::string("simd level '") + simd::level_name(level) + "' is not supported here");
  return registry().at(level);
}

}  // namespace

const SparseKernels& sparse_kernels(simd::Level level) { return registry().at(level); }
const SparseKernels& sparse_kernels() { return registry().active(); }

namespace testing {

float dot(simd::Level level, const std::uint16_t* terms, const std::uint16_t* half_values, std::size_t n,
          const float* query, float query_mass, float threshold) {
  return supported(level).dot_u16_f16(terms, half_values, n, query, query_mass, threshold);
}
float dot(simd::Level level, const std::uint16_t* terms, const float* values, std::size_t n, const float* query,
          float query_mass, float threshold) {
  return supported(level).dot_u16_f32(terms, values, n, query, query_mass, threshold);
}
float dot(simd::Level level, const std::uint32_t* terms, const std::uint16_t* half_values, std::size_t n,
          const float* query, float query_mass, float threshold) {
  return supported(level).dot_u32_f16(terms, half_values, n, query, query_mass, threshold);
}
float dot(simd::Level level, const std::uint32_t* terms, const float* values, std::size_t n, const float* query,
          float query_mass, float threshold) {
  return supported(level).dot_u32_f32(terms, values, n, query, query_mass, threshold);
}
void accumulate_codes_u8(simd::Level level, const std::uint8_t* blocks, const std::uint8_t* codes, std::size_t n,
                         float weight, float* acc) {
  supported(level).accumulate_codes_u8(blocks, codes, n, weight, acc);
}

}  // namespace testing
}  // namespace aftershock::sparse
