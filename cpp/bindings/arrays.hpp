// Checked numpy -> span conversion for the bindings. `_core` is strict: arrays must
// already have the exact dtype and be C-contiguous (no silent casts); the Python layer
// converts. Shape checks happen here with the GIL held; value checks run in the core.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/memory.hpp"
#include "progress.hpp"

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

/// A copy of `a`'s elements, taken with the GIL held: the one way an array the core
/// indexes with (CSR indptr and term ids, ragged offsets, candidate ids, sparse weights that
/// the core reads more than once) reaches it. The GIL is released for the core call
/// (progress.hpp, without_gil), and then another Python thread, or numpy code that
/// releases the GIL, may write into the caller's array: an offset or id checked and then
/// read again could address memory outside the buffers. The core checks, and then reads,
/// this copy, which no one else can reach. Dense float token matrices stay zero-copy: the
/// core never derives an address or a size from a token value, and its value checks run
/// on copies it makes itself (PreparedQuery, the store's panel codec), so a change there
/// can only change scores. Checks in the bindings also read the copy, never the caller's
/// array.
template <class T>
std::vector<T> owned_copy(const CArray<T>& a) {
  const T* p = a.data();
  return std::vector<T>(p, p + a.size());
}

/// The offsets of a ragged batch, as an owned copy (owned_copy), with the binding's share
/// of the checks made on it (shapes, GIL held): 1-d with n_rows + 1 >= 1 entries and, when
/// token_rows >= 0, offsets[-1] == token_rows (the rows of the token array). n_rows is
/// size() - 1. The values (offsets[0] == 0, monotone, no empty row) are checked once in
/// the core (util/ragged.hpp), on this copy.
inline std::vector<std::int64_t> ragged_offsets(const CArray<std::int64_t>& offsets, const char* what,
                                                py::ssize_t token_rows = -1) {
  require_ndim(offsets, 1, what);
  if (offsets.shape(0) < 1)
    throw InvalidArgument(std::string(what) + ": expected n + 1 >= 1 entries (" + what + "[0] == 0), got shape (0,)");
  std::vector<std::int64_t> copy = owned_copy(offsets);
  if (token_rows >= 0 && copy.back() != token_rows)
    throw InvalidArgument(std::string(what) + ": expected " + what + "[-1] == " + std::to_string(token_rows) +
                          " (the number of token rows), got " + std::to_string(copy.back()));
  return copy;
}

/// An optional array argument that must already be a C-contiguous numpy array of T, 1-d
/// or 2-d as `ndim` says: None gives nullopt. Any other object or another dtype is a
/// TypeError naming `what` (no silent casts); another ndim or a non-contiguous array a
/// ValueError (InvalidArgument). The result shares the caller's memory: copy (owned_copy)
/// what the core must see unchanged.
template <class T>
std::optional<CArray<T>> optional_strict_array(const py::object& obj, int ndim, const char* what,
                                               const char* expected) {
  if (obj.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(what) + ": expected None or " + expected + ", got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  const auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<T>>(arr))
    throw py::type_error(std::string(what) + ": expected " + expected + ", got dtype " +
                         std::string(py::str(arr.dtype())));
  if (arr.ndim() != ndim || !(arr.flags() & py::array::c_style))
    throw InvalidArgument(std::string(what) + ": expected " + expected + ", got " +
                          (arr.ndim() != ndim ? "shape " + shape_string(arr) : std::string("a non-contiguous array")));
  return py::reinterpret_borrow<CArray<T>>(arr);
}

/// The `allowed` argument of a filtered search over n_docs documents: None (every
/// document; an empty vector) or a 1-d C-contiguous uint64 array of exactly
/// filter_words(n_docs) words, bit (d & 63) of word (d >> 6) allowing document d. Copied
/// with the GIL held (owned_copy): the core reads the copy. TypeError / ValueError naming
/// `allowed` otherwise.
inline std::optional<std::vector<std::uint64_t>> allowed_arg(const py::object& allowed, std::size_t n_docs) {
  const std::size_t words = (n_docs + 63) / 64;
  const std::string expected = "a 1-d C-contiguous uint64 array of ceil(n_docs / 64) = " + std::to_string(words) +
                               " words";
  const auto arr = optional_strict_array<std::uint64_t>(allowed, 1, "allowed", expected.c_str());
  if (!arr) return std::nullopt;
  if (static_cast<std::size_t>(arr->shape(0)) != words)
    throw InvalidArgument("allowed: expected " + expected + ", got shape " + shape_string(*arr));
  return owned_copy(*arr);
}

/// The [n_queries, k] score and id arrays every top-k call returns, with `out` pointing
/// into them. Their size is checked before allocating (util/memory.hpp): a huge k on a
/// small index is a ValueError naming k, not a MemoryError or the OOM killer.
struct TopKArrays {
  CArray<float> scores;
  CArray<std::int64_t> ids;
  TopKOut out;

  TopKArrays(std::size_t n_queries, std::size_t k) {
    check_memory_need(bytes_product({n_queries, k, sizeof(float) + sizeof(std::int64_t)}),
                      "k: the [n_queries, k] = [" + std::to_string(n_queries) + ", " + std::to_string(k) +
                          "] results",
                      "lower k (rows are padded with -1 beyond the documents found)");
    scores = CArray<float>({n_queries, k});
    ids = CArray<std::int64_t>({n_queries, k});
    out = TopKOut{scores.mutable_data(), ids.mutable_data(), k};
  }

  py::tuple result() const { return py::make_tuple(scores, ids); }
};

}  // namespace aftershock::bindings

namespace aftershock::bindings {

/// save(path) / load(path) / to_bytes() / from_bytes(data) for a class with those C++
/// members, each releasing the GIL (without_gil). One definition for every persistent type.
/// save / to_bytes / from_bytes only, for a class that binds its own load (SparseIndex:
/// load with mmap options).
template <class T, class PyClass>
PyClass def_persistence_without_load(PyClass cls) {
  cls.def(
         "save",
         [](const T& self, const std::string& path) { without_gil([&] { self.save(path); }); },
         py::arg("path"))
      .def("to_bytes",
           [](const T& self) { return py::bytes(without_gil([&] { return self.to_bytes(); })); })
      .def_static(
          "from_bytes",
          [](const py::bytes& data) {
            std::string bytes = data;
            return without_gil([&] { return T::from_bytes(std::move(bytes)); });
          },
          py::arg("data"));
  return cls;
}

template <class T, class PyClass>
PyClass def_persistence(PyClass cls) {
  def_persistence_without_load<T>(cls).def_static(
      "load", [](const std::string& path) { return without_gil([&] { return T::load(path); }); }, py::arg("path"));
  return cls;
}

}  // namespace aftershock::bindings
