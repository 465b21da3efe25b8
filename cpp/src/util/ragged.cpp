#include "aftershock/util/ragged.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/bits.hpp"

namespace aftershock {

std::string ragged_offsets_error(const std::int64_t* offsets, std::size_t n_rows, std::size_t total,
                                 const char* what, const char* row, EmptyRows empty) {
  const std::string w(what);
  auto at = [&](std::size_t i) { return w + "[" + std::to_string(i) + "]"; };
  if (offsets[0] != 0) return w + ": expected " + at(0) + " == 0, got " + std::to_string(offsets[0]);
  for (std::size_t i = 0; i < n_rows; ++i) {
    const std::int64_t a = offsets[i], b = offsets[i + 1];
    if (b < a)
      return w + ": " + row + " " + std::to_string(i) + " has negative length (" + at(i) + " = " + std::to_string(a) +
             " > " + at(i + 1) + " = " + std::to_string(b) + "); expected non-decreasing offsets";
    if (b == a && empty == EmptyRows::kRejected)
      return w + ": " + row + " " + std::to_string(i) + " is empty (" + at(i) + " = " + at(i + 1) + " = " +
             std::to_string(a) + "); expected >= 1 token";
  }
  if (offsets[n_rows] < 0 || static_cast<std::uint64_t>(offsets[n_rows]) != total)
    return w + ": expected " + at(n_rows) + " == " + std::to_string(total) + " (the number of token rows), got " +
           std::to_string(offsets[n_rows]);
  return std::string();
}

void check_ragged_offsets(const std::int64_t* offsets, std::size_t n_rows, std::size_t total, const char* what,
                          const char* row, EmptyRows empty) {
  std::string why = ragged_offsets_error(offsets, n_rows, total, what, row, empty);
  if (!why.empty()) throw InvalidArgument(why);
}

void check_finite_rows(const float* x, std::size_t n_rows, std::size_t dim, const char* what,
                       std::size_t num_threads, std::uint32_t limit_bits, const char* limit_name) {
  constexpr std::size_t kBlock = 4096;  // rows per work item
  // A block starting past the first bad value found so far cannot hold a smaller one and
  // is skipped; every block before it is scanned in full, so the report is the first bad
  // value whatever the scheduling.
  FirstBadValue bad;
  const std::size_t n = n_rows * dim;
  parallel_for((n_rows + kBlock - 1) / kBlock, num_threads, [&](std::size_t item, std::size_t) {
    const std::size_t begin = item * kBlock * dim, end = std::min(n, begin + kBlock * dim);
    if (begin >= bad.first()) return;
    for (std::size_t i = begin; i < end; ++i) {
      const float v = x[i];
      if (!is_within_limit(v, limit_bits)) {
        bad.offer(i, v);
        return;
      }
    }
  });
  bad.throw_if_found(what, dim, limit_name);
}

void FirstBadValue::throw_if_found(const char* what, std::size_t dim, const char* limit_name) const {
  const std::size_t i = first();
  if (i == kNone) return;
  const float v = value_;
  const std::string where =
      std::string(what) + ": value at row " + std::to_string(i / dim) + ", column " + std::to_string(i % dim);
  if (std::isfinite(v)) throw InvalidArgument(where + " overflows " + (limit_name ? limit_name : "the limit"));
  throw InvalidArgument(where + " is not finite (" + (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") + ")");
}

}  // namespace aftershock
