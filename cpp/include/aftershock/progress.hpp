// Progress of long core calls (index builds), and the way to interrupt them (builds and
// query batches alike).
#pragma once

#include <cstddef>
#include <functional>

namespace aftershock {

/// Called from the calling thread only, between chunks of work: (stage name, units done,
/// units total). It may throw to abort the call (the Python binding raises
/// KeyboardInterrupt this way on Ctrl-C); the exception propagates, and the partial
/// result is discarded. An empty function is never called.
using ProgressFn = std::function<void(const char* stage, std::size_t done, std::size_t total)>;

/// An interrupt check: returns, or throws to stop the call it is polled from.
using InterruptFn = void (*)();

/// Installs `check` as the calling thread's interrupt check for the lifetime of the scope
/// (scopes nest; the innermost wins). While it is installed, every parallel_for called
/// from this thread (not from inside another parallel_for) runs its items in chunks of
/// about 50 ms and calls `check` on this thread between chunks, once at least 50 ms have
/// passed since the call began or since the last check: no worker is running an item
/// then, so `check` may throw (or even end the thread) safely, and short calls never
/// poll. One mechanism for every query batch, whatever its loop: the bindings install it
/// around each core call, and the core's loops need nothing of their own. Pool workers
/// never see the check (it is per thread). Not copyable.
class InterruptScope {
 public:
  explicit InterruptScope(InterruptFn check) noexcept;
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  InterruptFn previous_;
};

}  // namespace aftershock
