// Test entry points into the sparse kernels at an explicit SIMD level (the kernel tables
// themselves are internal). For the SIMD-vs-scalar tests of the bindings; not for search.
#pragma once

#include <cstddef>
#include <limits>
#include <cstdint>

#include "aftershock/simd/level.hpp"

namespace aftershock::sparse::testing {

/// sum_i query[terms[i]] * values[i] in float32 with the dot kernel of `level`; half values
/// are IEEE binary16 bits. With a finite `threshold` the kernel may stop early (values
/// non-increasing, query_mass >= the query's positive weight; contract in
/// cpp/src/sparse/kernels.hpp). PRECONDITION: every terms[i] indexes `query`. Throws
/// InvalidArgument if `level` is not supported by this CPU or build.
constexpr float kNoStop = -std::numeric_limits<float>::infinity();
float dot(simd::Level level, const std::uint16_t* terms, const std::uint16_t* half_values, std::size_t n,
          const float* query, float query_mass = 0.0f, float threshold = kNoStop);
float dot(simd::Level level, const std::uint16_t* terms, const float* values, std::size_t n, const float* query,
          float query_mass = 0.0f, float threshold = kNoStop);
float dot(simd::Level level, const std::uint32_t* terms, const std::uint16_t* half_values, std::size_t n,
          const float* query, float query_mass = 0.0f, float threshold = kNoStop);
float dot(simd::Level level, const std::uint32_t* terms, const float* values, std::size_t n, const float* query,
          float query_mass = 0.0f, float threshold = kNoStop);

/// acc[blocks[i]] += weight * codes[i] for i < n with the kernel of `level`.
/// PRECONDITION: blocks distinct; acc has 256 entries. Throws InvalidArgument if `level` is
/// not supported.
void accumulate_codes_u8(simd::Level level, const std::uint8_t* blocks, const std::uint8_t* codes, std::size_t n,
                         float weight, float* acc);

}  // namespace aftershock::sparse::testing
