#include <atomic>
#include <cmath>
#include <mutex>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"

namespace aftershock::sparse {

void validate_batch(const SparseBatchView& b, const char* what, std::size_t num_threads) {
  const std::string name(what);
  if (b.indptr == nullptr) throw InvalidArgument(name + ": indptr is missing");
  if (b.indptr[0] != 0) throw InvalidArgument(name + ": indptr[0] must be 0, got " + std::to_string(b.indptr[0]));
  for (std::size_t i = 0; i < b.n_rows; ++i) {
    if (b.indptr[i + 1] < b.indptr[i])
      throw InvalidArgument(name + ": indptr must be non-decreasing (row " + std::to_string(i) + ")");
  }
  // Value checks are O(nnz): split rows into chunks and check in parallel; report the
  // first bad row (smallest index) so the message does not depend on thread timing.
  const std::size_t chunk = 4096;
  const std::size_t n_chunks = (b.n_rows + chunk - 1) / chunk;
  std::mutex m;
  std::size_t bad_row = b.n_rows;
  std::string bad_message;
  parallel_for(n_chunks, num_threads, [&](std::size_t c, std::size_t) {
    const std::size_t end = std::min(b.n_rows, (c + 1) * chunk);
    for (std::size_t r = c * chunk; r < end; ++r) {
      std::string msg;
      for (std::int64_t j = b.indptr[r]; j < b.indptr[r + 1] && msg.empty(); ++j) {
        const TermId t = b.indices[j];
        const float v = b.values[j];
        if (t >= b.dim) {
          msg = name + ": term id " + std::to_string(t) + " in row " + std::to_string(r) + " is out of range [0, " +
                std::to_string(b.dim) + ")";
          // Signed ids reach the core reinterpreted as unsigned.
          if (t >= 0x80000000u) msg += " (a negative id, " + std::to_string(static_cast<std::int32_t>(t)) + ", read as unsigned)";
        } else if (j > b.indptr[r] && t <= b.indices[j - 1]) {
          msg = name + ": term ids in row " + std::to_string(r) +
                " must be strictly increasing (sorted, no duplicates); got " + std::to_string(b.indices[j - 1]) +
                " then " + std::to_string(t);
        } else if (!std::isfinite(v)) {
          msg = name + ": weight of term " + std::to_string(t) + " in row " + std::to_string(r) + " is not finite";
        } else if (v < 0.0f) {
          msg = name + ": weights must be non-negative; row " + std::to_string(r) + " term " + std::to_string(t) +
                " has " + std::to_string(v);
        }
      }
      if (!msg.empty()) {
        std::lock_guard<std::mutex> lock(m);
        if (r < bad_row) {
          bad_row = r;
          bad_message = msg;
        }
        return;
      }
    }
  });
  if (!bad_message.empty()) throw InvalidArgument(bad_message);
}

}  // namespace aftershock::sparse
