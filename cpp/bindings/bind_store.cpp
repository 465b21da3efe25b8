// aftershock._core.MultiVectorStore. Strict: exact dtypes (float32 token vectors, int64
// offsets and candidate ids, uint32 doc ids), C-contiguous, no silent casts; the public
// class in python/aftershock/store.py converts. Shapes are checked here with the GIL held;
// value checks (finiteness, offsets, id ranges) run in the core with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/maxsim/maxsim.hpp"
#include "aftershock/multivector/store.hpp"
#include "arrays.hpp"
#include "mappable_load.hpp"
#include "progress.hpp"

namespace aftershock::bindings {

namespace {

using multivector::MultiVectorStore;

void require_dim(const CArray<float>& a, std::size_t dim, const char* what) {
  if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(1)) != dim)
    throw InvalidArgument(std::string(what) + ": expected (n, " + std::to_string(dim) + ") float32, got " +
                          shape_string(a));
}

std::size_t require_k(std::size_t k) {
  if (k == 0) throw InvalidArgument("k: must be >= 1, got 0");
  return k;
}

}  // namespace

// Every stored token decoded (MultiVectorStore::decode_all), with the offsets: (float32
// [total_tokens, dim], int64 [n_docs + 1]). Shared with the index binding (its store).
py::tuple tokens_tuple(const MultiVectorStore& s, std::size_t num_threads) {
  check_memory_need(bytes_product({s.total_tokens(), s.dim(), sizeof(float)}),
                    "tokens: the [" + std::to_string(s.total_tokens()) + ", " + std::to_string(s.dim()) +
                        "] float32 token matrix",
                    "decode documents one at a time with decode_doc");
  CArray<float> vectors({static_cast<py::ssize_t>(s.total_tokens()), static_cast<py::ssize_t>(s.dim())});
  const auto& o = s.offsets();
  CArray<std::int64_t> offsets(static_cast<py::ssize_t>(o.size()));
  std::copy(o.begin(), o.end(), offsets.mutable_data());
  float* dst = vectors.mutable_data();
  without_gil([&] { s.decode_all(dst, num_threads); });
  return py::make_tuple(vectors, offsets);
}

// The residual codebook and codes of a store (tests, tools): {"codes", "centroids",
// "cutoffs", "weights"}; shared with the index binding.
py::dict residual_parts(const MultiVectorStore& s) {
  const auto codes = s.token_codes();
  CArray<std::uint16_t> c(static_cast<py::ssize_t>(codes.size()));
  std::copy(codes.begin(), codes.end(), c.mutable_data());
  const std::vector<float> cent = s.centroids();
  CArray<float> ce({static_cast<py::ssize_t>(s.n_centroids()), static_cast<py::ssize_t>(s.dim())});
  std::copy(cent.begin(), cent.end(), ce.mutable_data());
  const auto& cu = s.bucket_cutoffs();
  const auto& w = s.bucket_weights();
  const auto dim = static_cast<py::ssize_t>(s.dim());
  CArray<float> cuts({dim, dim ? static_cast<py::ssize_t>(cu.size()) / dim : 0});
  std::copy(cu.begin(), cu.end(), cuts.mutable_data());
  CArray<float> ws({dim, dim ? static_cast<py::ssize_t>(w.size()) / dim : 0});
  std::copy(w.begin(), w.end(), ws.mutable_data());
  py::dict d;
  d["codes"] = c;
  d["centroids"] = ce;
  d["cutoffs"] = cuts;
  d["weights"] = ws;
  return d;
}

void bind_store(py::module_& m) {
  def_mappable_load<MultiVectorStore>(def_persistence_without_load<MultiVectorStore>(py::class_<MultiVectorStore>(
      m, "MultiVectorStore", "Ragged token vectors with exact MaxSim scoring (strict; use aftershock.MultiVectorStore)")))
      .def(py::init([](const CArray<float>& vectors, const CArray<std::int64_t>& offsets, const std::string& precision,
                       std::size_t num_threads, std::optional<CArray<float>> centroids, std::size_t n_centroids,
                       std::uint64_t seed) {
             const Precision p = parse_precision(precision);
             require_ndim(vectors, 2, "vectors");
             const std::vector<std::int64_t> offs = ragged_offsets(offsets, "offsets");
             const auto total = static_cast<std::size_t>(vectors.shape(0));
             const auto dim = static_cast<std::size_t>(vectors.shape(1));
             const float* v = vectors.data();
             multivector::CodebookParams codebook;
             codebook.n_centroids = n_centroids;
             codebook.seed = seed;
             if (centroids) {
               if (!is_residual(p))
                 throw InvalidArgument("centroids: only the residual precisions (res1, res2, res4) take centroids, "
                                       "got precision '" + precision + "'");
               require_dim(*centroids, dim, "centroids");
               codebook.centroids = centroids->data();
               codebook.n_centroids = static_cast<std::size_t>(centroids->shape(0));
             }
             return without_gil([&] {
               return MultiVectorStore(v, total, dim, offs.data(), offs.size() - 1, p, num_threads, codebook);
             });
           }),
           py::arg("vectors").noconvert(), py::arg("offsets").noconvert(), py::arg("precision") = "fp32",
           py::arg("num_threads") = 0, py::arg("centroids").noconvert() = py::none(), py::arg("n_centroids") = 0,
           py::arg("seed") = 0)
      .def_property_readonly("n_centroids", &MultiVectorStore::n_centroids)
      .def_property_readonly("bytes_per_token", &MultiVectorStore::bytes_per_token)
      .def("_residual_parts", &residual_parts)
      .def_property_readonly("centroids",
                             [](const MultiVectorStore& s) {
                               const std::vector<float> c = s.centroids();
                               CArray<float> out({static_cast<py::ssize_t>(s.n_centroids()),
                                                  static_cast<py::ssize_t>(s.dim())});
                               std::copy(c.begin(), c.end(), out.mutable_data());
                               return out;
                             })
      .def_property_readonly("n_docs", &MultiVectorStore::n_docs)
      .def_property_readonly("dim", &MultiVectorStore::dim)
      .def_property_readonly("total_tokens", &MultiVectorStore::total_tokens)
      .def_property_readonly("size_bytes", &MultiVectorStore::size_bytes)
      .def_property_readonly("precision",
                             [](const MultiVectorStore& s) { return std::string(precision_name(s.precision())); })
      .def_property_readonly(
          "kernel", [](const MultiVectorStore& s) { return std::string(maxsim::active_kernel_name(s.precision())); })
      .def_property_readonly("stats",
                             [](const MultiVectorStore& s) {
                               py::dict d;
                               d["total_tokens"] = s.total_tokens();
                               d["n_panels"] = s.n_panels();
                               d["panel_tokens"] = maxsim::kPanelTokens;
                               d["data_bytes"] = s.data_bytes();
                               d["scales_bytes"] = s.scales_bytes();
                               d["bias_bytes"] = s.bias_bytes();
                               d["offsets_bytes"] = s.offsets_bytes();
                               d["codes_bytes"] = s.codes_bytes();
                               d["codebook_bytes"] = s.codebook_bytes();
                               return d;
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
          "tokens", [](const MultiVectorStore& s, std::size_t num_threads) { return tokens_tuple(s, num_threads); },
          py::kw_only(), py::arg("num_threads") = 0)
      .def(
          "decode_doc",
          [](const MultiVectorStore& s, DocId doc) {
            const std::size_t n = s.n_tokens(doc);
            CArray<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(s.dim())});
            float* dst = out.mutable_data();
            without_gil([&] { s.decode_doc(doc, dst); });
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
            const float* q = query.data();
            without_gil([&] { s.score_all(q, m, dst, num_threads); });
            return out;
          },
          py::arg("query").noconvert(), py::arg("num_threads") = 0)
      .def(
          "maxsim_batch",
          [](const MultiVectorStore& s, const CArray<float>& queries, const CArray<std::int64_t>& query_offsets,
             std::optional<CArray<std::uint32_t>> doc_ids, std::size_t num_threads) {
            require_dim(queries, s.dim(), "queries");
            const std::vector<std::int64_t> offs = ragged_offsets(query_offsets, "query_offsets", queries.shape(0));
            const std::size_t nq = offs.size() - 1;
            std::vector<DocId> id_copy;
            const DocId* ids = nullptr;
            std::size_t n = s.n_docs();
            if (doc_ids) {
              require_ndim(*doc_ids, 1, "doc_ids");
              id_copy = owned_copy(*doc_ids);
              ids = id_copy.data();
              n = id_copy.size();
            }
            CArray<float> out({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(n)});
            float* dst = out.mutable_data();
            const float* q = queries.data();
            without_gil([&] { s.score_batch(q, offs.data(), nq, ids, n, dst, num_threads); });
            return out;
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(),
          py::arg("doc_ids").noconvert() = py::none(), py::arg("num_threads") = 0)
      .def(
          "rerank",
          [](const MultiVectorStore& s, const CArray<float>& queries, const CArray<std::int64_t>& query_offsets,
             const CArray<std::int64_t>& candidate_ids, std::size_t k, std::size_t num_threads) {
            require_dim(queries, s.dim(), "queries");
            const std::vector<std::int64_t> offs = ragged_offsets(query_offsets, "query_offsets", queries.shape(0));
            const std::size_t nq = offs.size() - 1;
            require_ndim(candidate_ids, 2, "candidate_ids");
            if (static_cast<std::size_t>(candidate_ids.shape(0)) != nq)
              throw InvalidArgument("candidate_ids: expected (" + std::to_string(nq) +
                                    ", n_candidates) int64 (one row per query), got " + shape_string(candidate_ids));
            require_k(k);
            TopKArrays top(nq, k);
            const auto n_candidates = static_cast<std::size_t>(candidate_ids.shape(1));
            const std::vector<std::int64_t> cand = owned_copy(candidate_ids);
            const float* q = queries.data();
            without_gil([&] { s.rerank_batch(q, offs.data(), nq, cand.data(), n_candidates, num_threads, top.out); });
            return top.result();
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(),
          py::arg("candidate_ids").noconvert(), py::arg("k"), py::arg("num_threads") = 0)
      .def(
          "search",
          [](const MultiVectorStore& s, const CArray<float>& queries, const CArray<std::int64_t>& query_offsets,
             std::size_t k, std::size_t num_threads, const py::object& allowed) {
            require_dim(queries, s.dim(), "queries");
            const std::vector<std::int64_t> offs = ragged_offsets(query_offsets, "query_offsets", queries.shape(0));
            const std::size_t nq = offs.size() - 1;
            require_k(k);
            const std::optional<std::vector<std::uint64_t>> words = allowed_arg(allowed, s.n_docs());
            const DocFilter filter{words ? words->data() : nullptr};
            TopKArrays top(nq, k);
            const float* q = queries.data();
            without_gil([&] { s.search(q, offs.data(), nq, num_threads, top.out, filter); });
            return top.result();
          },
          py::arg("queries").noconvert(), py::arg("query_offsets").noconvert(), py::arg("k"),
          py::arg("num_threads") = 0, py::arg("allowed") = py::none());
}

}  // namespace aftershock::bindings
