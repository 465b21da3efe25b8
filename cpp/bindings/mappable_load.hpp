// load(path, *, mmap, verify, populate), verify(), is_mapped, mapped_bytes and
// resident_bytes for the multi-vector classes (MultiVectorStore, MultiVectorIndex): the
// same arguments and checks as SparseIndex.load (bind_sparse.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "aftershock/error.hpp"
#include "aftershock/multivector/store.hpp"
#include "arrays.hpp"

namespace aftershock::bindings {

inline bool mv_strict_bool(const pybind11::object& v, const char* what) {
  namespace py = pybind11;
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::hasattr(v, "dtype") && py::str(v.attr("dtype")).cast<std::string>() == "bool" && py::hasattr(v, "ndim") &&
      v.attr("ndim").cast<int>() == 0)
    return v.cast<bool>();
  throw py::type_error(std::string(what) + ": expected a bool, got " +
                       py::str(py::type::of(v).attr("__name__")).cast<std::string>());
}

template <class T, class PyClass>
PyClass def_mappable_load(PyClass cls) {
  namespace py = pybind11;
  cls.def_static(
         "load",
         [](const std::string& path, const py::object& mmap, const py::object& verify, const py::object& populate) {
           multivector::LoadOptions o;
           o.mmap = mv_strict_bool(mmap, "mmap");
           o.populate = mv_strict_bool(populate, "populate");
           o.verify = verify.is_none() ? !o.mmap : mv_strict_bool(verify, "verify");
           if (!o.mmap && !o.verify)
             throw InvalidArgument("verify: a load into memory always verifies; verify=False needs mmap=True");
           if (!o.mmap && o.populate)
             throw InvalidArgument("populate: needs mmap=True (a load into memory reads the whole file anyway)");
           return without_gil([&] { return T::load(path, o); });
         },
         py::arg("path"), py::kw_only(), py::arg("mmap") = false, py::arg("verify") = py::none(),
         py::arg("populate") = false)
      .def("verify", [](const T& self) { without_gil([&] { self.verify(); }); })
      .def_property_readonly("is_mapped", &T::is_mapped)
      .def_property_readonly("mapped_bytes", &T::mapped_bytes)
      .def_property_readonly("resident_bytes",
                             [](const T& self) { return without_gil([&] { return self.resident_bytes(); }); });
  return cls;
}

}  // namespace aftershock::bindings
