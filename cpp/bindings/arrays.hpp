// Checked numpy -> span conversion for the bindings. `_core` is strict: arrays must
// already have the exact dtype and be C-contiguous (no silent casts); the Python layer
// converts. Shape checks happen here with the GIL held; value checks run in the core.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "aftershock/error.hpp"

namespace aftershock::bindings {

namespace py = pybind11;

template <class T>
using CArray = py::array_t<T, py::array::c_style>;

inline std::string shape_string(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

/// Checks that `a` is `ndim`-dimensional; `what` names the argument in the message.
template <class T>
void require_ndim(const CArray<T>& a, int ndim, const char* what) {
  if (a.ndim() != ndim)
    throw InvalidArgument(std::string(what) + ": expected a " + std::to_string(ndim) + "-d array, got shape " +
                          shape_string(a));
}

}  // namespace aftershock::bindings
