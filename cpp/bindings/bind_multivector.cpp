// Bindings of the multi-vector index (aftershock._core.MultiVectorIndex). Strict: exact
// dtypes, shapes checked here with the GIL held, values checked by the core with the GIL
// released. No algorithm code.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "aftershock/multivector/index.hpp"
#include "arrays.hpp"
#include "progress.hpp"

namespace aftershock::bindings {
namespace {

using multivector::MultiVectorIndex;
using multivector::ParamMap;

py::tuple run_search(const MultiVectorIndex& self, const CArray<float>& queries, const CArray<std::int64_t>& offsets,
                     std::size_t k, const ParamMap* params, std::size_t num_threads) {
  require_ndim(queries, 2, "queries");
  if (static_cast<std::size_t>(queries.shape(1)) != self.dim())
    throw InvalidArgument("queries: expected (n, " + std::to_string(self.dim()) + ") float32, got " +
                          shape_string(queries));
  if (k == 0) throw InvalidArgument("k: expected >= 1, got 0");
  const std::size_t n_queries = ragged_rows(offsets, "query_offsets", queries.shape(0));
  CArray<float> scores({static_cast<py::ssize_t>(n_queries), static_cast<py::ssize_t>(k)});
  CArray<std::int64_t> ids({static_cast<py::ssize_t>(n_queries), static_cast<py::ssize_t>(k)});
  TopKOut out{scores.mutable_data(), ids.mutable_data(), k};
  const float* q = queries.data();
  const std::int64_t* o = offsets.data();
  {
    py::gil_scoped_release release;
    if (params)
      self.search(q, o, n_queries, *params, num_threads, out);
    else
      self.search_exact(q, o, n_queries, num_threads, out);
  }
  return py::make_tuple(scores, ids);
}

}  // namespace

void bind_multivector(py::module_& m) {
  def_persistence<MultiVectorIndex>(py::class_<MultiVectorIndex>(
      m, "MultiVectorIndex", "Multi-vector retrieval index (private; use aftershock.MultiVectorIndex)"))
      .def_static(
          "build",
          [](const CArray<float>& vectors, const CArray<std::int64_t>& offsets, const std::string& method,
             const std::string& precision, const ParamMap& params, std::uint64_t seed, std::size_t num_threads,
             py::object progress) {
            require_ndim(vectors, 2, "vectors");
            const std::size_t n_docs = ragged_rows(offsets, "offsets");
            const float* v = vectors.data();
            const std::int64_t* o = offsets.data();
            const std::size_t total = static_cast<std::size_t>(vectors.shape(0));
            const std::size_t dim = static_cast<std::size_t>(vectors.shape(1));
            multivector::ProgressFn fn = make_progress(std::move(progress));
            py::gil_scoped_release release;
            return MultiVectorIndex::build(v, total, dim, o, n_docs, method, precision, params, seed, num_threads,
                                           fn);
          },
          py::arg("vectors").noconvert(), py::arg("offsets").noconvert(), py::arg("method"), py::arg("precision"),
          py::arg("params"), py::arg("seed"), py::arg("num_threads"), py::arg("progress") = py::none())
      .def(
          "search",
          [](const MultiVectorIndex& self, const CArray<float>& queries, const CArray<std::int64_t>& offsets,
             std::size_t k, const ParamMap& params, std::size_t num_threads) {
            return run_search(self, queries, offsets, k, &params, num_threads);
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(), py::arg("k"), py::arg("params"),
          py::arg("num_threads"))
      .def(
          "search_exact",
          [](const MultiVectorIndex& self, const CArray<float>& queries, const CArray<std::int64_t>& offsets,
             std::size_t k, std::size_t num_threads) {
            return run_search(self, queries, offsets, k, nullptr, num_threads);
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(), py::arg("k"), py::arg("num_threads"))
      .def_property_readonly("method",
                             [](const MultiVectorIndex& self) { return multivector::method_name(self.method()); })
      .def_property_readonly(
          "precision", [](const MultiVectorIndex& self) { return maxsim::precision_name(self.store().precision()); })
      .def_property_readonly("n_docs", &MultiVectorIndex::n_docs)
      .def_property_readonly("dim", &MultiVectorIndex::dim)
      .def_property_readonly("size_bytes", &MultiVectorIndex::size_bytes)
      .def("info", &MultiVectorIndex::info);

  // Kernel access for the tests (every SIMD level against the scalar oracle).
  m.def(
      "_mv_dot_rows",
      [](int level, const CArray<float>& x, const CArray<float>& w) {
        require_ndim(x, 2, "x");
        require_ndim(w, 2, "w");
        if (x.shape(1) != w.shape(1)) throw InvalidArgument("w: dim differs from x");
        CArray<float> out({x.shape(0), w.shape(0)});
        multivector::testing::dot_rows(level, x.data(), x.shape(0), x.shape(1), w.data(), w.shape(0),
                                       out.mutable_data());
        return out;
      },
      py::arg("level"), py::arg("x").noconvert(), py::arg("w").noconvert());
  m.def(
      "_mv_scan_f32",
      [](int level, const CArray<float>& rows, const CArray<float>& q) {
        require_ndim(rows, 2, "rows");
        require_ndim(q, 1, "q");
        if (q.shape(0) != rows.shape(1)) throw InvalidArgument("q: dim differs from rows");
        CArray<float> out({rows.shape(0)});
        multivector::testing::scan_f32(level, rows.data(), rows.shape(0), rows.shape(1), q.data(), out.mutable_data());
        return out;
      },
      py::arg("level"), py::arg("rows").noconvert(), py::arg("q").noconvert());
  m.def(
      "_mv_scan_i8",
      [](int level, const CArray<std::int8_t>& codes, const CArray<float>& scales, const CArray<float>& q) {
        require_ndim(codes, 2, "codes");
        require_ndim(scales, 1, "scales");
        require_ndim(q, 1, "q");
        if (q.shape(0) != codes.shape(1) || scales.shape(0) != codes.shape(0))
          throw InvalidArgument("scales/q: shapes do not match codes");
        CArray<float> out({codes.shape(0)});
        multivector::testing::scan_i8(level, codes.data(), scales.data(), codes.shape(0), codes.shape(1), q.data(),
                                      out.mutable_data());
        return out;
      },
      py::arg("level"), py::arg("codes").noconvert(), py::arg("scales").noconvert(), py::arg("q").noconvert());
  m.def(
      "_mv_interaction",
      [](int level, const CArray<std::uint16_t>& codes, const CArray<float>& table) {
        require_ndim(codes, 1, "codes");
        require_ndim(table, 2, "table");
        return multivector::testing::interaction(level, codes.data(), codes.shape(0), table.data(), table.shape(0),
                                                 table.shape(1));
      },
      py::arg("level"), py::arg("codes").noconvert(), py::arg("table").noconvert());
}

}  // namespace aftershock::bindings
