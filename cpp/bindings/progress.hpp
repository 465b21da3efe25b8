// Progress callbacks for long core calls: Ctrl-C interrupts them, and an optional Python
// callable sees (stage, done, total).
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

#include "aftershock/progress.hpp"

namespace aftershock::bindings {

namespace py = pybind11;

/// Takes the GIL briefly at each call (the core calls it from the calling thread, between
/// chunks), raises KeyboardInterrupt through PyErr_CheckSignals, and forwards to
/// `callback` unless it is None. Keep the returned function alive, and destroy it, with
/// the GIL held: it owns a Python reference.
inline ProgressFn make_progress(py::object callback) {
  return [callback = std::move(callback)](const char* stage, std::size_t done, std::size_t total) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!callback.is_none()) callback(stage, done, total);
  };
}

}  // namespace aftershock::bindings
