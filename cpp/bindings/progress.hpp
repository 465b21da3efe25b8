// The GIL around core calls, and what the core calls back on the calling thread: Ctrl-C
// interrupts long calls (builds and query batches), and an optional Python callable sees a
// build's (stage, done, total).
#pragma once

#include <pybind11/pybind11.h>

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif

#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "aftershock/progress.hpp"

namespace aftershock::bindings {

namespace py = pybind11;

/// True once the interpreter has begun to shut down. Safe without the GIL (one atomic load).
inline bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

/// Parks the calling thread until the process exits (a daemon thread during shutdown).
[[noreturn]] inline void park_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

/// Takes the GIL back (PyEval_RestoreThread). If the interpreter finalizes while this
/// thread waits, Python ends the thread with pthread_exit; its unwinding would run the
/// destructors of Python objects on the stack (a result tuple) without the GIL and crash.
/// The unwind is stopped here and the thread parks instead (a forced unwind may be caught
/// as long as its handler never returns).
inline void restore_thread(PyThreadState* state) {
  if (interpreter_finalizing()) park_forever();
#ifdef __GLIBCXX__
  try {
    PyEval_RestoreThread(state);
  } catch (abi::__forced_unwind&) {
    park_forever();
  }
#else
  PyEval_RestoreThread(state);
#endif
}

/// Thrown from a callback instead of taking the GIL once the interpreter is shutting down:
/// it stops the core call, whose thread then never returns to Python (without_gil).
struct InterpreterShutdown : std::runtime_error {
  InterpreterShutdown() : std::runtime_error("the Python interpreter is shutting down") {}
};

/// Takes the GIL for a callback from the core's calling thread; raises KeyboardInterrupt
/// on a pending Ctrl-C. During interpreter shutdown it throws InterpreterShutdown instead
/// of taking the GIL: before Python 3.14, a thread taking the GIL then is ended with
/// pthread_exit, whose unwinding through C++ frames terminates the process.
class CallbackGil {
 public:
  CallbackGil() {
    if (interpreter_finalizing()) throw InterpreterShutdown();
#ifdef __GLIBCXX__
    try {
      gil_.emplace();
    } catch (abi::__forced_unwind&) {
      park_forever();  // ended while waiting for the GIL at shutdown: see restore_thread
    }
#else
    gil_.emplace();
#endif
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }

 private:
  std::optional<py::gil_scoped_acquire> gil_;
};

/// The ident (PyThread_get_thread_ident) of Python's main thread, set when the module is
/// imported (module.cpp).
inline unsigned long& main_thread_ident() {
  static unsigned long ident = 0;
  return ident;
}

/// Python runs signal handlers in the main thread only, so only there can a check see
/// Ctrl-C. Other threads skip the check and never wait for the GIL inside a core call:
/// a daemon thread waiting for it when the interpreter finalizes is ended by pthread_exit,
/// whose unwinding through the pool's frames would abort the process.
inline bool on_main_thread() { return PyThread_get_thread_ident() == main_thread_ident(); }

/// The interrupt check of query batches (InterruptScope): KeyboardInterrupt on Ctrl-C.
inline void check_signals() {
  if (on_main_thread()) {
    const CallbackGil gil;  // raises KeyboardInterrupt on a pending Ctrl-C
  }
}

/// The progress function of builds: checks for Ctrl-C at each call (the core calls it from
/// the calling thread, between chunks), then forwards to `callback` unless it is None. Keep
/// the returned function alive, and destroy it, with the GIL held: it owns a Python
/// reference.
inline ProgressFn make_progress(py::object callback) {
  return [callback = std::move(callback)](const char* stage, std::size_t done, std::size_t total) {
    if (callback.is_none()) return check_signals();
    const CallbackGil gil;
    callback(stage, done, total);
  };
}

/// Runs `fn()` (a core call) with the GIL released, and Ctrl-C polled between the chunks
/// of its parallel loops (InterruptScope, check_signals); returns its result. The one way
/// the bindings release the GIL. Everything `fn` reads must be owned memory or arrays
/// whose change by another thread can only change numbers (arrays.hpp, owned_copy).
///
/// Interpreter shutdown: a daemon thread still inside the core when the interpreter
/// finalizes must not take the GIL back (before Python 3.14 that ends the thread through
/// pthread_exit, and a forced unwind through a destructor, as in py::gil_scoped_release,
/// aborts the process: "terminate called without an active exception"). So the GIL is
/// taken back explicitly, not in a destructor, and not at all once shutdown has begun:
/// the thread then parks until the process exits (what Python 3.14 does itself). A thread
/// already waiting for the GIL when shutdown begins parks too (restore_thread).
template <class Fn>
auto without_gil(Fn&& fn) -> decltype(fn()) {
  using Result = decltype(fn());
  PyThreadState* const state = PyEval_SaveThread();
  std::optional<std::conditional_t<std::is_void_v<Result>, bool, Result>> result;
  try {
    const InterruptScope interrupts(&check_signals);
    if constexpr (std::is_void_v<Result>) {
      fn();
    } else {
      result.emplace(fn());
    }
#ifdef __GLIBCXX__
  } catch (abi::__forced_unwind&) {
    throw;  // the interpreter is ending this thread (it holds no GIL to give back)
#endif
  } catch (...) {
    restore_thread(state);
    throw;
  }
  restore_thread(state);
  if constexpr (!std::is_void_v<Result>) return std::move(*result);
}

}  // namespace aftershock::bindings
