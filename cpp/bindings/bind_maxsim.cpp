// The MaxSim kernel entries of aftershock._core: the free MaxSim of one query and one
// document, the float64 reference, and the kernel-extension switch for tests. Strict:
// float32, C-contiguous, no silent casts. The store is bound in bind_store.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "aftershock/maxsim/maxsim.hpp"
#include "arrays.hpp"
#include "progress.hpp"

namespace aftershock::bindings {

void bind_maxsim(py::module_& m) {
  m.def(
      "maxsim_f32",
      [](const CArray<float>& query, const CArray<float>& doc) {
        require_ndim(query, 2, "query");
        require_ndim(doc, 2, "doc");
        if (query.shape(1) != doc.shape(1))
          throw InvalidArgument("doc: expected (n, " + std::to_string(query.shape(1)) + ") float32, got " +
                                shape_string(doc));
        const auto m = static_cast<std::size_t>(query.shape(0));
        const auto n = static_cast<std::size_t>(doc.shape(0));
        const auto dim = static_cast<std::size_t>(query.shape(1));
        // Dense floats only, read as numbers (the core checks copies it makes): zero-copy.
        return without_gil([&] { return maxsim::maxsim_f32(query.data(), m, doc.data(), n, dim); });
      },
      py::arg("query").noconvert(), py::arg("doc").noconvert(),
      "Exact MaxSim of one float32 query [m, dim] and one document [n, dim] with the active kernels.");
  m.def(
      "maxsim_reference_f64",
      [](const CArray<float>& query, const CArray<float>& doc) {
        require_ndim(query, 2, "query");
        require_ndim(doc, 2, "doc");
        if (query.shape(1) != doc.shape(1)) throw InvalidArgument("doc: dim differs from query");
        return maxsim::maxsim_reference_f64(query.data(), static_cast<std::size_t>(query.shape(0)), doc.data(),
                                            static_cast<std::size_t>(doc.shape(0)),
                                            static_cast<std::size_t>(query.shape(1)));
      },
      py::arg("query").noconvert(), py::arg("doc").noconvert());
  m.def("_set_maxsim_extensions", &maxsim::set_kernel_extensions, py::arg("allow_bf16_dot"), py::arg("allow_vnni"),
        "Tests: allow or forbid the AVX512_BF16 / VNNI MaxSim kernels (to exercise the AVX-512 fallbacks).");
}

}  // namespace aftershock::bindings
