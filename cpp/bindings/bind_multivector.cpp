// Bindings of the multi-vector index (aftershock._core.MultiVectorIndex). Strict: exact
// dtypes, shapes checked here with the GIL held, values checked by the core with the GIL
// released. No algorithm code.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "aftershock/multivector/index.hpp"
#include "arrays.hpp"
#include "mappable_load.hpp"
#include "progress.hpp"

namespace aftershock::bindings {

// Defined in bind_store.cpp: a store's tokens as (vectors, offsets) numpy arrays.
py::tuple tokens_tuple(const multivector::MultiVectorStore& store, std::size_t num_threads);
py::dict residual_parts(const multivector::MultiVectorStore& store);

namespace {

using multivector::BuildParams;
using multivector::IndexInfo;
using multivector::MultiVectorIndex;
using multivector::MultiVectorStore;
using multivector::SearchParams;

// A count argument: None keeps `fallback` (the C++ default), a negative value is refused
// naming it; the core checks the range.
std::size_t count_arg(const std::optional<long long>& v, std::size_t fallback, const char* name) {
  if (!v) return fallback;
  if (*v < 0) throw InvalidArgument(std::string(name) + ": expected an integer >= 0, got " + std::to_string(*v));
  return static_cast<std::size_t>(*v);
}

// Shapes checked with the GIL held; then the GIL is released for the core, which checks
// the parameters (first) and the values. `params == nullptr`: exact search.
py::tuple run_search(const MultiVectorIndex& self, const CArray<float>& queries, const CArray<std::int64_t>& offsets,
                     long long k, const SearchParams* params, std::size_t num_threads, const py::object& allowed) {
  require_ndim(queries, 2, "queries");
  if (static_cast<std::size_t>(queries.shape(1)) != self.dim())
    throw InvalidArgument("queries: expected (n, " + std::to_string(self.dim()) + ") float32, got " +
                          shape_string(queries));
  if (k < 1) throw InvalidArgument("k: expected >= 1, got " + std::to_string(k));
  // Offsets copied and checked on the copy (owned_copy): offsets[-1] == rows stays true
  // while the core, without the GIL, copies the tokens the offsets span.
  const std::vector<std::int64_t> offs = ragged_offsets(offsets, "query_offsets", queries.shape(0));
  const std::size_t n_queries = offs.size() - 1;
  const auto kk = static_cast<std::size_t>(k);
  TopKArrays top(n_queries, kk);
  const TopKOut out = top.out;
  const float* q = queries.data();
  const std::int64_t* o = offs.data();
  const std::optional<std::vector<std::uint64_t>> words = allowed_arg(allowed, self.n_docs());
  const DocFilter filter{words ? words->data() : nullptr};
  without_gil([&] {
    if (params)
      self.search(q, o, n_queries, *params, out, filter);
    else
      self.search_exact(q, o, n_queries, num_threads, out, filter);
  });
  return top.result();
}

// The typed info as nested dicts (the Python layer assembles the shared layout). Only the
// parameters of the index's method are listed.
py::dict info_dict(const IndexInfo& i) {
  const bool muvera = i.build.method == multivector::Method::kMuvera;
  py::dict build;
  build["method"] = multivector::method_name(i.build.method);
  build["pool_factor"] = i.build.pool_factor;
  build["pool_iters"] = i.build.pool_iters;
  if (muvera) {
    const multivector::FdeParams& f = i.build.muvera.fde;
    build["k_sim"] = f.k_sim;
    build["r_reps"] = f.r_reps;
    build["d_proj"] = f.d_proj;
    build["fill_empty"] = f.fill_empty;
    build["final_dim"] = f.final_dim;
    build["fde_precision"] = precision_name(i.build.muvera.fde_precision);
  } else {
    build["n_centroids"] = i.build.centroid.n_centroids;
    build["kmeans_iters"] = i.build.centroid.kmeans_iters;
    build["kmeans_points_per_centroid"] = i.build.centroid.kmeans_points_per_centroid;
  }
  build["seed"] = i.build.seed;
  py::dict search;
  search["n_candidates"] = i.search.n_candidates;
  if (!muvera) {
    const multivector::CentroidSearchParams& c = i.search.centroid;
    search["n_probe"] = c.n_probe;
    search["n_interaction"] = c.n_interaction.value_or(0);
    search["bitvector_threshold"] = c.bitvector_threshold ? py::object(py::float_(*c.bitvector_threshold)) : py::none();
    search["n_bitvector"] = c.n_bitvector;
  }
  py::dict stats;
  stats["total_tokens"] = i.total_tokens;
  stats["original_tokens"] = i.original_tokens;
  if (muvera) {
    stats["fde_dim"] = i.fde_dim;
  } else {
    stats["n_centroids"] = i.n_centroids;
    stats["n_postings"] = i.n_postings;
  }
  stats["index_size_bytes"] = i.index_size_bytes;
  stats["store_size_bytes"] = i.store_size_bytes;
  py::dict d;
  d["build"] = build;
  d["search"] = search;
  d["stats"] = stats;
  return d;
}

}  // namespace

void bind_multivector(py::module_& m) {
  const auto nc = [](const char* name) { return py::arg(name).noconvert(); };
  const auto opt = [](const char* name) { return py::arg(name) = py::none(); };

  def_mappable_load<MultiVectorIndex>(def_persistence_without_load<MultiVectorIndex>(py::class_<MultiVectorIndex>(
      m, "MultiVectorIndex", "Multi-vector retrieval index (private; use aftershock.MultiVectorIndex)")))
      .def_static(
          "build",
          [](const CArray<float>& vectors, const CArray<std::int64_t>& offsets, const std::string& method,
             const std::string& precision, std::optional<double> pool_factor, std::optional<long long> pool_iters,
             std::optional<long long> n_centroids, std::optional<long long> kmeans_iters,
             std::optional<long long> kmeans_points_per_centroid, std::optional<long long> k_sim,
             std::optional<long long> r_reps, std::optional<long long> d_proj, std::optional<bool> fill_empty,
             std::optional<long long> final_dim, std::optional<std::string> fde_precision, std::uint64_t seed,
             long long num_threads, py::object progress, const py::object& centroids) {
            // None keeps the C++ default (config.hpp); parameters of the other method are ignored.
            BuildParams p;
            p.method = multivector::parse_method(method);
            p.precision = parse_precision(precision);
            if (pool_factor) p.pool_factor = *pool_factor;
            p.pool_iters = count_arg(pool_iters, p.pool_iters, "pool_iters");
            p.centroid.n_centroids = count_arg(n_centroids, p.centroid.n_centroids, "n_centroids");
            p.centroid.kmeans_iters = count_arg(kmeans_iters, p.centroid.kmeans_iters, "kmeans_iters");
            p.centroid.kmeans_points_per_centroid =
                count_arg(kmeans_points_per_centroid, p.centroid.kmeans_points_per_centroid,
                          "kmeans_points_per_centroid");
            multivector::FdeParams& f = p.muvera.fde;
            f.k_sim = count_arg(k_sim, f.k_sim, "k_sim");
            f.r_reps = count_arg(r_reps, f.r_reps, "r_reps");
            f.d_proj = count_arg(d_proj, f.d_proj, "d_proj");
            if (fill_empty) f.fill_empty = *fill_empty;
            f.final_dim = count_arg(final_dim, f.final_dim, "final_dim");
            if (fde_precision) p.muvera.fde_precision = parse_precision(*fde_precision, "fde_precision");
            p.seed = seed;
            p.num_threads = count_arg(num_threads, 0, "num_threads");
            require_ndim(vectors, 2, "vectors");
            const std::vector<std::int64_t> offs = ragged_offsets(offsets, "offsets");
            const float* v = vectors.data();
            const std::size_t total = static_cast<std::size_t>(vectors.shape(0));
            const std::size_t dim = static_cast<std::size_t>(vectors.shape(1));
            // Given centroids: float32 [n_centroids, dim], zero-copy (the core copies them
            // before checking the values). Refused for muvera by the core.
            const auto given = optional_strict_array<float>(centroids, 2, "centroids",
                                                            "a C-contiguous float32 [n_centroids, dim] array");
            const float* c = nullptr;
            std::size_t n_given = 0;
            if (given) {
              if (static_cast<std::size_t>(given->shape(1)) != dim || given->shape(0) < 1)
                throw InvalidArgument("centroids: expected (n_centroids >= 1, " + std::to_string(dim) +
                                      ") float32, got " + shape_string(*given));
              c = given->data();
              n_given = static_cast<std::size_t>(given->shape(0));
            }
            const multivector::ProgressFn fn = make_progress(std::move(progress));
            return without_gil([&] {
              return MultiVectorIndex::build(v, total, dim, offs.data(), offs.size() - 1, p, fn, c, n_given);
            });
          },
          nc("vectors"), nc("offsets"), py::kw_only(), py::arg("method") = "centroid",
          py::arg("precision") = "fp32", opt("pool_factor"), opt("pool_iters"), opt("n_centroids"),
          opt("kmeans_iters"), opt("kmeans_points_per_centroid"), opt("k_sim"), opt("r_reps"), opt("d_proj"),
          opt("fill_empty"), opt("final_dim"), opt("fde_precision"), py::arg("seed") = 0,
          py::arg("num_threads") = 0, py::arg("progress") = py::none(), py::arg("centroids") = py::none())
      .def(
          "search",
          [](const MultiVectorIndex& self, const CArray<float>& queries, const CArray<std::int64_t>& offsets,
             long long k, std::optional<long long> n_candidates, std::optional<long long> n_probe,
             std::optional<long long> n_interaction, std::optional<double> bitvector_threshold,
             std::optional<long long> n_bitvector, long long num_threads, const py::object& allowed) {
            // None keeps the default; the centroid parameters are ignored by a muvera index.
            SearchParams p;
            p.n_candidates = count_arg(n_candidates, 0, "n_candidates");
            p.centroid.n_probe = count_arg(n_probe, p.centroid.n_probe, "n_probe");
            if (n_interaction) p.centroid.n_interaction = count_arg(n_interaction, 0, "n_interaction");
            if (bitvector_threshold) p.centroid.bitvector_threshold = static_cast<float>(*bitvector_threshold);
            p.centroid.n_bitvector = count_arg(n_bitvector, 0, "n_bitvector");
            p.num_threads = count_arg(num_threads, 0, "num_threads");
            return run_search(self, queries, offsets, k, &p, p.num_threads, allowed);
          },
          nc("queries"), nc("query_offsets"), py::arg("k"), py::kw_only(), opt("n_candidates"), opt("n_probe"),
          opt("n_interaction"), opt("bitvector_threshold"), opt("n_bitvector"), py::arg("num_threads") = 0,
          opt("allowed"))
      .def(
          "search_exact",
          [](const MultiVectorIndex& self, const CArray<float>& queries, const CArray<std::int64_t>& offsets,
             long long k, long long num_threads, const py::object& allowed) {
            return run_search(self, queries, offsets, k, nullptr, count_arg(num_threads, 0, "num_threads"), allowed);
          },
          nc("queries"), nc("query_offsets"), py::arg("k"), py::kw_only(), py::arg("num_threads") = 0,
          opt("allowed"))
      .def_property_readonly("method",
                             [](const MultiVectorIndex& self) { return multivector::method_name(self.method()); })
      .def_property_readonly("precision",
                             [](const MultiVectorIndex& self) { return precision_name(self.store().precision()); })
      .def("_store_residual_parts", [](const MultiVectorIndex& self) { return residual_parts(self.store()); })
      .def_property_readonly("store_bytes_per_token",
                             [](const MultiVectorIndex& self) { return self.store().bytes_per_token(); })
      .def_property_readonly("n_docs", &MultiVectorIndex::n_docs)
      .def_property_readonly("dim", &MultiVectorIndex::dim)
      .def_property_readonly("size_bytes", &MultiVectorIndex::size_bytes)
      .def("info", [](const MultiVectorIndex& self) { return info_dict(self.info()); })
      // Centroid index: a float32 [n_centroids, dim] copy of its centroids (pass them to
      // build(centroids=...) for a segment with comparable codes); None for muvera.
      .def_property_readonly("centroids",
                             [](const MultiVectorIndex& self) -> py::object {
                               if (self.method() != multivector::Method::kCentroid) return py::none();
                               const std::vector<float>& c = self.centroids();
                               const auto rows = static_cast<py::ssize_t>(c.size() / self.dim());
                               CArray<float> out({rows, static_cast<py::ssize_t>(self.dim())});
                               std::copy(c.begin(), c.end(), out.mutable_data());
                               return std::move(out);
                             })
      // Every stored token (after pooling), decoded: (float32 [total_tokens, dim], int64 [n_docs + 1]).
      .def(
          "tokens", [](const MultiVectorIndex& self, long long num_threads) {
            return tokens_tuple(self.store(), count_arg(num_threads, 0, "num_threads"));
          },
          py::kw_only(), py::arg("num_threads") = 0)
      // The stored tokens of one document (after pooling; fp16/bf16 widened, int8 code * scale),
      // float32 [n_tokens, dim]: what the rerank scores, and what tune() samples as queries.
      .def(
          "decode_doc",
          [](const MultiVectorIndex& self, DocId doc) {
            const MultiVectorStore& s = self.store();
            const std::size_t n = s.n_tokens(doc);  // std::out_of_range for a bad doc
            CArray<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(s.dim())});
            float* dst = out.mutable_data();
            without_gil([&] { s.decode_doc(doc, dst); });
            return out;
          },
          py::arg("doc"));

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
