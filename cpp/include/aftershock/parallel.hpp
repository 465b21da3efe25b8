// The core's thread pool. Parallelism comes from here only (no OpenMP, whose runtimes
// clash inside wheels).
#pragma once

#include <cstddef>
#include <functional>

namespace aftershock {

/// Hardware threads of this machine (at least 1).
std::size_t hardware_threads();
/// The most threads one call uses: 4 x hardware_threads(). More only slows CPU-bound work,
/// and the pool never grows past it.
std::size_t max_threads();
/// Number of threads `num_threads` resolves to: 0 means every hardware thread; larger
/// requests are capped at max_threads().
std::size_t resolve_num_threads(std::size_t num_threads);

/// Runs fn(item, worker) for every item in [0, n_items) on up to `num_threads` threads
/// (0 = all cores; capped at max_threads()). If the system refuses to start a thread, the
/// items run on the threads that did start. `worker` is in [0, workers) where workers = min(resolved threads,
/// n_items), so callers can keep per-worker scratch. Items are handed out dynamically;
/// callers must make results independent of which worker ran an item.
/// The calling thread takes part. The first exception thrown by any item is rethrown
/// here after every worker has stopped; remaining items are skipped.
/// Thread-safe: concurrent calls from different threads each get their own workers.
/// Interruptible: with an InterruptScope on the calling thread (progress.hpp), the items
/// run in chunks of about 50 ms and the scope's check runs between them.
/// Lifetime: the pool is allocated once and never destroyed, and its workers are detached:
/// process exit never destroys a joinable std::thread or a pool a worker still uses, even
/// when a thread is inside parallel_for at exit (a daemon Python thread at shutdown).
void parallel_for(std::size_t n_items, std::size_t num_threads,
                  const std::function<void(std::size_t item, std::size_t worker)>& fn);

/// Workers parallel_for will use for n_items items (for sizing per-worker scratch).
std::size_t parallel_workers(std::size_t n_items, std::size_t num_threads);

}  // namespace aftershock
