// Progress of long core calls (index builds), and the way to interrupt them.
#pragma once

#include <cstddef>
#include <functional>

namespace aftershock {

/// Called from the calling thread only, between chunks of work: (stage name, units done,
/// units total). It may throw to abort the call (the Python binding raises
/// KeyboardInterrupt this way on Ctrl-C); the exception propagates, and the partial
/// result is discarded. An empty function is never called.
using ProgressFn = std::function<void(const char* stage, std::size_t done, std::size_t total)>;

}  // namespace aftershock
