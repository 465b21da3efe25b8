// A persistent pool of worker threads, created lazily and grown on demand up to
// max_threads() (so a huge num_threads can neither exhaust the system nor slow every later
// call). One job runs
// on it at a time; a concurrent or nested parallel_for (pool busy) gets short-lived
// threads of its own instead of waiting, so calls never deadlock each other.
#include "aftershock/parallel.hpp"

#include <unistd.h>

#include <algorithm>
#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "aftershock/progress.hpp"

namespace aftershock {
namespace {

// The calling thread's interrupt check (InterruptScope), and how many parallel_for calls
// are running on this thread: only the outermost one polls, because a nested call runs
// inside an item, with workers of the outer call still busy.
thread_local InterruptFn t_interrupt = nullptr;
thread_local std::size_t t_depth = 0;

// Chunks of an interruptible call last about this long, and checks are at least this far
// apart: Ctrl-C is seen within about twice this, and a check (which takes the GIL, and may
// wait for it) costs a negligible share of the work.
constexpr std::chrono::milliseconds kPollInterval{50};

// Shared state of one parallel_for call.
struct Job {
  const std::function<void(std::size_t, std::size_t)>* fn = nullptr;
  std::size_t n_items = 0;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;

  void work(std::size_t worker) {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      std::size_t item = next.fetch_add(1, std::memory_order_relaxed);
      if (item >= n_items) return;
      try {
        (*fn)(item, worker);
#ifdef __GLIBCXX__
      } catch (abi::__forced_unwind&) {
        throw;  // a thread being ended (pthread_exit) must unwind, not be caught
#endif
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
};

class Pool {
 public:
  // Runs `job` with `helpers` pool threads besides the caller. Returns false when the
  // pool is busy with another job.
  bool try_run(Job& job, std::size_t helpers) {
    std::unique_lock<std::mutex> job_lock(job_mutex_, std::try_to_lock);
    if (!job_lock.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Workers are detached and live as long as the process; they only sleep between jobs.
      // A worker is counted once its thread exists: when the system refuses a thread
      // (RLIMIT_NPROC, memory), the job runs on the workers there are, and the pool stays
      // usable (counting first left it waiting forever for a worker that never started).
      while (spawned_ < helpers) {
        try {
          std::thread([this, index = spawned_] { loop(index); }).detach();
        } catch (const std::system_error&) {
          break;
        }
        ++spawned_;
      }
      helpers = std::min(helpers, spawned_);
      job_ = &job;
      helpers_ = helpers;
      running_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    job.work(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return running_ == 0; });
    job_ = nullptr;
    return true;
  }

 private:
  void loop(std::size_t index) {
    std::uint64_t seen = 0;
    for (;;) {
      Job* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (index >= helpers_) continue;
        job = job_;
      }
      job->work(index + 1);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--running_ == 0) done_.notify_all();
    }
  }

  std::mutex job_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::size_t spawned_ = 0;
  Job* job_ = nullptr;
  std::size_t helpers_ = 0;
  std::size_t running_ = 0;
  std::uint64_t generation_ = 0;
};

// The pool is never destroyed (its threads would otherwise race interpreter shutdown).
// A forked child gets a fresh pool: the parent's threads do not exist there.
Pool& pool() {
  static std::atomic<Pool*> current{nullptr};
  static std::atomic<pid_t> owner{0};
  static std::mutex create_mutex;
  pid_t pid = getpid();
  Pool* p = current.load(std::memory_order_acquire);
  if (p != nullptr && owner.load(std::memory_order_acquire) == pid) return *p;
  std::lock_guard<std::mutex> lock(create_mutex);
  p = current.load(std::memory_order_acquire);
  if (p == nullptr || owner.load(std::memory_order_acquire) != pid) {
    p = new Pool();
    owner.store(pid, std::memory_order_release);
    current.store(p, std::memory_order_release);
  }
  return *p;
}

}  // namespace

std::size_t hardware_threads() {
  // Read once: glibc answers hardware_concurrency() by reading /sys/devices/system/cpu/online,
  // ~10 us a call, and every search asks several times (a single-query search is ~50 us).
  static const std::size_t hw = [] {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? std::size_t{1} : std::size_t{n};
  }();
  return hw;
}

std::size_t max_threads() { return 4 * hardware_threads(); }

std::size_t resolve_num_threads(std::size_t num_threads) {
  if (num_threads == 0) return hardware_threads();
  return std::min(num_threads, max_threads());
}

std::size_t parallel_workers(std::size_t n_items, std::size_t num_threads) {
  return std::max<std::size_t>(1, std::min(resolve_num_threads(num_threads), n_items));
}

InterruptScope::InterruptScope(InterruptFn check) noexcept : previous_(t_interrupt) { t_interrupt = check; }
InterruptScope::~InterruptScope() { t_interrupt = previous_; }

namespace {

// One parallel run of items [0, n_items) of `fn`, on the pool or on threads of its own.
void run_job(std::size_t n_items, std::size_t num_threads, const std::function<void(std::size_t, std::size_t)>& fn) {
  std::size_t workers = parallel_workers(n_items, num_threads);
  Job job;
  job.fn = &fn;
  job.n_items = n_items;
  if (workers == 1) {
    job.work(0);
  } else if (!pool().try_run(job, workers - 1)) {
    std::vector<std::thread> threads;
    threads.reserve(workers - 1);
    for (std::size_t w = 1; w < workers; ++w) {
      try {
        threads.emplace_back([&job, w] { job.work(w); });
      } catch (const std::system_error&) {
        break;  // items are handed out dynamically: the threads that started take them all
      }
    }
    job.work(0);
    for (auto& t : threads) t.join();
  }
  if (job.error) std::rethrow_exception(job.error);
}

struct DepthGuard {
  DepthGuard() { ++t_depth; }
  ~DepthGuard() { --t_depth; }
};

}  // namespace

void parallel_for(std::size_t n_items, std::size_t num_threads,
                  const std::function<void(std::size_t, std::size_t)>& fn) {
  if (n_items == 0) return;
  const DepthGuard depth;
  const InterruptFn check = t_interrupt;
  if (check == nullptr || t_depth > 1) {
    run_job(n_items, num_threads, fn);
    return;
  }
  // Interruptible: chunks sized to last about kPollInterval, measured as they run (the
  // first is one item per worker); the check runs between chunks, when no worker is
  // inside an item, so its exception (or the end of this thread) leaves nothing running.
  using Clock = std::chrono::steady_clock;
  const std::size_t workers = parallel_workers(n_items, num_threads);
  std::size_t chunk = workers;
  std::size_t begin = 0;
  Clock::time_point last_check = Clock::now();
  const std::function<void(std::size_t, std::size_t)> offset = [&](std::size_t item, std::size_t worker) {
    fn(begin + item, worker);
  };
  while (begin < n_items) {
    const std::size_t count = std::min(chunk, n_items - begin);
    const Clock::time_point start = Clock::now();
    run_job(count, num_threads, offset);
    begin += count;
    const Clock::time_point now = Clock::now();
    if (begin < n_items && now - last_check >= kPollInterval) {
      check();
      last_check = Clock::now();
    }
    // Next chunk: the measured rate times the interval, growing at most 8x per chunk (a
    // chunk of unusually cheap items must not make the next one last seconds).
    const double seconds = std::chrono::duration<double>(now - start).count();
    const double interval = std::chrono::duration<double>(kPollInterval).count();
    const double rate = static_cast<double>(count) / std::max(seconds, 1e-6);
    const double want = std::min(rate * interval, 8.0 * static_cast<double>(chunk));
    chunk = std::max(workers, static_cast<std::size_t>(want));
  }
}

}  // namespace aftershock
