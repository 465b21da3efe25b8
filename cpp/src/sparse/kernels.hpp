// Internal: the SIMD kernels of the sparse engine, one table of plain function pointers per
// level (scalar, avx2, avx512; see aftershock/simd/level.hpp for the registry). Included
// by the ISA translation units, so it holds only plain structs and declarations (no inline
// code and no templates shared with baseline code: STYLE.md section 3).
#pragma once

#include <cstddef>
#include <cstdint>

namespace aftershock::simd {
enum class Level : int;
}

namespace aftershock::sparse {

/// One page (up to 256 blocks) of a list's summaries as the scan kernel reads it; see
/// BlockSummaries for the layout. The directory is `bitmap` (with `ranks`) or, when that is
/// null, the sorted ids in `terms16` or `terms32`.
struct SummaryPageView {
  const std::uint64_t* bitmap;   // bit u: term u has a run in this page
  const std::uint32_t* ranks;    // runs before each group of 4 bitmap words
  const std::uint16_t* terms16;  // or sorted term ids, one per run
  const std::uint32_t* terms32;
  std::size_t n_runs;
  std::uint64_t first_run;           // global ordinal of the page's first run
  const std::uint64_t* run_starts;   // bit e: entry e starts a run (a set bit ends the array)
  const std::uint64_t* run_samples;  // first entry of every 64th run
  const std::uint8_t* entry_block;   // low byte of the block within the page
  const std::uint8_t* entry_code;
};

/// Sparse · dense dot products: sum_i query[terms[i]] * values[i], accumulated in float32.
/// `query` is a dense float32 vector covering every term id (PRECONDITION: terms[i] < its
/// length). Values are float32 or IEEE-half bits. The order of additions is fixed per
/// level, so one level always returns the same bits for the same input.
///
/// Early stop: with threshold = -inf the kernels return the full sum. Otherwise values
/// must be non-increasing (forward rows are stored heaviest first) and query_mass at least
/// the sum of the query's positive weights; after every 16 entries, while entries remain,
/// the kernel bounds the rest (dot_stop.inc) and, when the sum so far plus that bound stays
/// below `threshold` by a rounding margin, stops and returns that upper bound (< threshold:
/// the document cannot enter a top-k whose k-th score is `threshold`). When it does not
/// stop, the result has the same bits as with threshold = -inf.
struct SparseKernels {
  float (*dot_u16_f16)(const std::uint16_t* terms, const std::uint16_t* values, std::size_t n, const float* query,
                       float query_mass, float threshold);
  float (*dot_u16_f32)(const std::uint16_t* terms, const float* values, std::size_t n, const float* query,
                       float query_mass, float threshold);
  float (*dot_u32_f16)(const std::uint32_t* terms, const std::uint16_t* values, std::size_t n, const float* query,
                       float query_mass, float threshold);
  float (*dot_u32_f32)(const std::uint32_t* terms, const float* values, std::size_t n, const float* query,
                       float query_mass, float threshold);
  /// Two u16/f16 rows against the same query and threshold: out[0] and out[1] have the bits
  /// dot_u16_f16 gives each (levels with a lockstep kernel interleave them).
  void (*dot2_u16_f16)(const std::uint16_t* terms_a, const std::uint16_t* values_a, std::size_t n_a,
                       const std::uint16_t* terms_b, const std::uint16_t* values_b, std::size_t n_b, const float* query,
                       float query_mass, float threshold, float* out);
  /// acc[blocks[i]] += weight * codes[i] for i < n. Block ids are the low byte of a block
  /// index (the caller offsets `acc` to the 256-block page). PRECONDITION: blocks are
  /// distinct (a summary run holds each block once), so SIMD scatter has no
  /// conflicts.
  void (*accumulate_codes_u8)(const std::uint8_t* blocks, const std::uint8_t* codes, std::size_t n, float weight,
                              float* acc);
  /// For every query term u with a run in the page: acc[block] += weight(u) * code over the
  /// run's entries (accumulate_codes_u8). Query `terms` strictly ascending, `weights` > 0.
  void (*accumulate_summary_page)(const SummaryPageView& page, const std::uint32_t* terms, const float* weights,
                                  std::size_t n, float* acc);
};

/// The table for a level (simd::PerLevel); throws InvalidArgument if the level is not
/// compiled in. Baseline code only.
const SparseKernels& sparse_kernels(simd::Level level);
/// The table for simd::active_level().
const SparseKernels& sparse_kernels();

/// Each level's table, defined in kernels_<level>.cpp (a level not compiled in has none).
namespace kernels::scalar {
const SparseKernels& table();
}
namespace kernels::avx2 {
const SparseKernels& table();
}
namespace kernels::avx512 {
const SparseKernels& table();
}

}  // namespace aftershock::sparse
