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

/// The binding's share of a ragged batch's offsets (shapes, GIL held): 1-d with
/// n_rows + 1 >= 1 entries and, when token_rows >= 0, offsets[-1] == token_rows (the rows
/// of the token array). Returns n_rows. The values (offsets[0] == 0, monotone, no empty
/// row) are checked once in the core (util/ragged.hpp).
inline std::size_t ragged_rows(const CArray<std::int64_t>& offsets, const char* what, py::ssize_t token_rows = -1) {
  require_ndim(offsets, 1, what);
  if (offsets.shape(0) < 1)
    throw InvalidArgument(std::string(what) + ": expected n + 1 >= 1 entries (" + what + "[0] == 0), got shape (0,)");
  const auto n_rows = static_cast<std::size_t>(offsets.shape(0)) - 1;
  if (token_rows >= 0 && offsets.data()[n_rows] != token_rows)
    throw InvalidArgument(std::string(what) + ": expected " + what + "[-1] == " + std::to_string(token_rows) +
                          " (the number of token rows), got " + std::to_string(offsets.data()[n_rows]));
  return n_rows;
}

}  // namespace aftershock::bindings

namespace aftershock::bindings {

/// save(path) / load(path) / to_bytes() / from_bytes(data) for a class with those C++
/// members, each releasing the GIL. One definition for every persistent type.
template <class T, class PyClass>
PyClass def_persistence(PyClass cls) {
  cls.def(
         "save",
         [](const T& self, const std::string& path) {
           py::gil_scoped_release release;
           self.save(path);
         },
         py::arg("path"))
      .def_static(
          "load",
          [](const std::string& path) {
            py::gil_scoped_release release;
            return T::load(path);
          },
          py::arg("path"))
      .def("to_bytes",
           [](const T& self) {
             std::string bytes;
             {
               py::gil_scoped_release release;
               bytes = self.to_bytes();
             }
             return py::bytes(bytes);
           })
      .def_static(
          "from_bytes",
          [](const py::bytes& data) {
            std::string bytes = data;
            py::gil_scoped_release release;
            return T::from_bytes(std::move(bytes));
          },
          py::arg("data"));
  return cls;
}

}  // namespace aftershock::bindings
