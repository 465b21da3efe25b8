// aftershock._core.MultiVectorStore and MaxSim helpers. Strict: exact dtypes (float32
// token vectors, int64 offsets, uint32 ids), C-contiguous, no silent casts; the public
// class in python/aftershock/maxsim.py converts. Shapes are checked here with the GIL
// held; value checks (finiteness, offsets, id ranges) run in the core with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "aftershock/maxsim/maxsim.hpp"
#include "aftershock/multivector/store.hpp"
#include "arrays.hpp"

namespace aftershock::bindings {

namespace {

using multivector::MultiVectorStore;

std::string expected_rows(const char* what, std::size_t dim, const py::array& a) {
  return std::string(what) + ": expected (n, " + std::to_string(dim) + ") float32, got " + shape_string(a);
}

void require_dim(const CArray<float>& a, std::size_t dim, const char* what) {
  if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(1)) != dim) throw InvalidArgument(expected_rows(what, dim, a));
}

}  // namespace

void bind_maxsim(py::module_& m) {
  def_persistence<MultiVectorStore>(py::class_<MultiVectorStore>(
      m, "MultiVectorStore", "Ragged token vectors with exact MaxSim scoring (strict; use aftershock.MultiVectorStore)"))
      .def(py::init([](const CArray<float>& vectors, const CArray<std::int64_t>& offsets, const std::string& precision,
                       std::size_t num_threads) {
             const maxsim::Precision p = maxsim::parse_precision(precision);
             require_ndim(vectors, 2, "vectors");
             const std::size_t n_docs = ragged_rows(offsets, "offsets");
             const auto total = static_cast<std::size_t>(vectors.shape(0));
             const auto dim = static_cast<std::size_t>(vectors.shape(1));
             py::gil_scoped_release release;
             return MultiVectorStore(vectors.data(), total, dim, offsets.data(), n_docs, p, num_threads);
           }),
           py::arg("vectors").noconvert(), py::arg("offsets").noconvert(), py::arg("precision") = "fp32",
           py::arg("num_threads") = 0)
      .def_property_readonly("n_docs", &MultiVectorStore::n_docs)
      .def_property_readonly("dim", &MultiVectorStore::dim)
      .def_property_readonly("total_tokens", &MultiVectorStore::total_tokens)
      .def_property_readonly("size_bytes", &MultiVectorStore::size_bytes)
      .def_property_readonly("precision",
                             [](const MultiVectorStore& s) { return std::string(maxsim::precision_name(s.precision())); })
      .def_property_readonly("kernel",
                             [](const MultiVectorStore& s) {
                               return std::string(maxsim::active_kernel_name(s.precision()));
                             })
      .def_property_readonly("offsets",
                             [](const MultiVectorStore& s) {
                               const auto& o = s.offsets();
                               CArray<std::int64_t> out(static_cast<py::ssize_t>(o.size()));
                               std::copy(o.begin(), o.end(), out.mutable_data());
                               return out;
                             })
      .def("n_tokens", &MultiVectorStore::n_tokens, py::arg("doc"))
      .def(
          "decode_doc",
          [](const MultiVectorStore& s, DocId doc) {
            const std::size_t n = s.n_tokens(doc);
            CArray<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(s.dim())});
            float* dst = out.mutable_data();
            py::gil_scoped_release release;
            s.decode_doc(doc, dst);
            return out;
          },
          py::arg("doc"))
      .def(
          "maxsim",
          [](const MultiVectorStore& s, const CArray<float>& query, std::size_t num_threads) {
            require_dim(query, s.dim(), "query");
            CArray<float> out(static_cast<py::ssize_t>(s.n_docs()));
            float* dst = out.mutable_data();
            const auto m = static_cast<std::size_t>(query.shape(0));
            {
              py::gil_scoped_release release;
              s.score_all(query.data(), m, dst, num_threads);
            }
            return out;
          },
          py::arg("query").noconvert(), py::arg("num_threads") = 0)
      .def(
          "maxsim_batch",
          [](const MultiVectorStore& s, const CArray<float>& queries, const CArray<std::int64_t>& query_offsets,
             std::optional<CArray<std::uint32_t>> doc_ids, std::size_t num_threads) {
            require_dim(queries, s.dim(), "queries");
            const std::size_t nq = ragged_rows(query_offsets, "query_offsets", queries.shape(0));
            const DocId* ids = nullptr;
            std::size_t n = s.n_docs();
            if (doc_ids) {
              require_ndim(*doc_ids, 1, "doc_ids");
              ids = doc_ids->data();
              n = static_cast<std::size_t>(doc_ids->shape(0));
            }
            CArray<float> out({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(n)});
            float* dst = out.mutable_data();
            {
              py::gil_scoped_release release;
              s.score_batch(queries.data(), query_offsets.data(), nq, ids, n, dst, num_threads);
            }
            return out;
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(), py::arg("doc_ids").noconvert() = py::none(),
          py::arg("num_threads") = 0)
      .def(
          "rerank",
          [](const MultiVectorStore& s, const CArray<float>& query, const CArray<std::uint32_t>& candidate_ids,
             std::size_t k) {
            require_dim(query, s.dim(), "query");
            require_ndim(candidate_ids, 1, "candidate_ids");
            if (k == 0) throw InvalidArgument("k: must be >= 1, got 0");
            CArray<float> scores(static_cast<py::ssize_t>(k));
            CArray<std::int64_t> ids(static_cast<py::ssize_t>(k));
            float* sp = scores.mutable_data();
            std::int64_t* ip = ids.mutable_data();
            const auto m = static_cast<std::size_t>(query.shape(0));
            const auto n = static_cast<std::size_t>(candidate_ids.shape(0));
            {
              py::gil_scoped_release release;
              s.rerank(query.data(), m, candidate_ids.data(), n, k, sp, ip);
            }
            return py::make_tuple(scores, ids);
          },
          py::arg("query").noconvert(), py::arg("candidate_ids").noconvert(), py::arg("k"))
      .def(
          "search_exact",
          [](const MultiVectorStore& s, const CArray<float>& queries, const CArray<std::int64_t>& query_offsets,
             std::size_t k, std::size_t num_threads) {
            require_dim(queries, s.dim(), "queries");
            const std::size_t nq = ragged_rows(query_offsets, "query_offsets", queries.shape(0));
            if (k == 0) throw InvalidArgument("k: must be >= 1, got 0");
            CArray<float> scores({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
            CArray<std::int64_t> ids({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
            TopKOut out{scores.mutable_data(), ids.mutable_data(), k};
            {
              py::gil_scoped_release release;
              s.search_exact(queries.data(), query_offsets.data(), nq, num_threads, out);
            }
            return py::make_tuple(scores, ids);
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(), py::arg("k"),
          py::arg("num_threads") = 0);

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
        py::gil_scoped_release release;
        return maxsim::maxsim_f32(query.data(), m, doc.data(), n, dim);
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
