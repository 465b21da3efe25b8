// Validation of ragged batches (documents or queries as runs of token rows): the one check
// of an offsets array and the one finiteness check of the token rows, shared by the
// multi-vector store, the multi-vector index and the bindings. Baseline code only.
//
// Both report the FIRST bad row (smallest index), whatever the thread count, so a message
// is the same on every run and machine.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>

#include "aftershock/util/bits.hpp"

namespace aftershock {

/// Whether a row may span zero tokens.
enum class EmptyRows { kAllowed, kRejected };

/// Checks offsets[0..n_rows] of a ragged batch of `total` token rows: offsets[0] == 0,
/// offsets non-decreasing (kAllowed) or strictly increasing (kRejected), and
/// offsets[n_rows] == total. Returns "" when valid, else a message naming `what` (the
/// argument, e.g. "offsets") and `row` (the unit, e.g. "document") with expected and
/// actual values, e.g.
///   "offsets: document 17 is empty (offsets[17] = offsets[18] = 340); expected >= 1 token".
/// Reads n_rows + 1 values, O(n_rows), sequential; reports the first bad row. Thread-safe.
std::string ragged_offsets_error(const std::int64_t* offsets, std::size_t n_rows, std::size_t total,
                                 const char* what, const char* row, EmptyRows empty);

/// ragged_offsets_error, throwing InvalidArgument with its message.
void check_ragged_offsets(const std::int64_t* offsets, std::size_t n_rows, std::size_t total, const char* what,
                          const char* row, EmptyRows empty);

/// Checks that rows x[0 .. n_rows * dim) are all finite and, when limit_name is given,
/// that every |x| stays below the value whose binary32 encoding is limit_bits (e.g.
/// kFp16OverflowBits, util/half.hpp). Throws InvalidArgument naming `what` and the first
/// bad value (smallest row, then column):
///   "vectors: value at row 17, column 3 is not finite (nan)"
///   "vectors: value at row 2, column 0 overflows float16 (|x| >= 65520)"   (limit_name)
/// Runs on up to num_threads threads (0 = all cores); the report does not depend on it.
/// O(n_rows * dim).
void check_finite_rows(const float* x, std::size_t n_rows, std::size_t dim, const char* what,
                       std::size_t num_threads, std::uint32_t limit_bits = 0x7F800000u,
                       const char* limit_name = nullptr);

/// Whether |x| stays below the value whose binary32 encoding is limit_bits (default:
/// infinity, i.e. x is finite). One integer compare: NaN and inf encode above any finite
/// limit.
inline bool is_within_limit(float x, std::uint32_t limit_bits = 0x7F800000u) {
  return (bits_of(x) & 0x7FFFFFFFu) < (limit_bits < 0x7F800000u ? limit_bits : 0x7F800000u);
}

/// The first bad value of a value check that runs inside a parallel conversion (so each
/// value is read once, checked and used: STYLE 2.3). Workers offer(flat index, value it
/// read); the smallest index wins whatever the scheduling, so a worker may skip work that
/// starts at or after first(). Thread-safe.
class FirstBadValue {
 public:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  void offer(std::size_t index, float value) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index < first_.load(std::memory_order_relaxed)) {
      value_ = value;
      first_.store(index, std::memory_order_relaxed);
    }
  }
  std::size_t first() const { return first_.load(std::memory_order_relaxed); }
  bool found() const { return first() != kNone; }

  /// If a value was offered, throws InvalidArgument naming `what` and the first bad value
  /// as check_finite_rows words it (row = index / dim, column = index % dim):
  ///   "vectors: value at row 17, column 3 is not finite (nan)"
  ///   "vectors: value at row 2, column 0 overflows float16 (|x| >= 65520)"
  /// Call after the workers joined.
  void throw_if_found(const char* what, std::size_t dim, const char* limit_name = nullptr) const;

 private:
  std::mutex mutex_;
  std::atomic<std::size_t> first_{kNone};
  float value_ = 0.0f;
};

}  // namespace aftershock
