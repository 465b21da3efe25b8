// Bindings of the sparse engine. Arrays must arrive with exact dtypes (the Python layer
// converts); shapes are checked here with the GIL held, values in the core without it.
#include <pybind11/stl.h>

#include <limits>
#include <optional>

#include "aftershock/sparse/index.hpp"
#include "aftershock/sparse/segments.hpp"
#include "aftershock/sparse/testing.hpp"
#include "arrays.hpp"
#include "progress.hpp"

namespace aftershock::bindings {
namespace {

using sparse::BuildParams;
using sparse::SearchParams;
using sparse::SparseIndex;

// A CSR batch, copied from three strict arrays with the GIL held (owned_copy: the core
// indexes with indptr and term ids, and reads the weights more than once, e.g. a count
// pass then a partial sort), with the O(1) invariants that make the O(nnz) validation in
// the core memory-safe checked on the copy: indptr[0] == 0 and indptr[-1] == nnz.
struct Csr {
  std::vector<std::int64_t> indptr;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;

  SparseBatchView view(std::size_t dim) const {
    return SparseBatchView{indptr.data(), indices.data(), values.data(), indptr.size() - 1, dim};
  }
};

Csr csr(const CArray<std::int64_t>& indptr, const CArray<std::uint32_t>& indices, const CArray<float>& values,
        const char* what) {
  const std::string name(what);
  require_ndim(indptr, 1, (name + " indptr").c_str());
  require_ndim(indices, 1, (name + " indices").c_str());
  require_ndim(values, 1, (name + " values").c_str());
  if (indptr.shape(0) < 1) throw InvalidArgument(name + ": indptr must have n_rows + 1 >= 1 entries");
  if (indices.shape(0) != values.shape(0))
    throw InvalidArgument(name + ": indices and values differ in length (" + std::to_string(indices.shape(0)) +
                          " vs " + std::to_string(values.shape(0)) + ")");
  Csr c{owned_copy(indptr), owned_copy(indices), owned_copy(values)};
  if (c.indptr.front() != 0)
    throw InvalidArgument(name + ": indptr[0] must be 0, got " + std::to_string(c.indptr.front()));
  if (c.indptr.back() != static_cast<std::int64_t>(c.indices.size()))
    throw InvalidArgument(name + ": indptr[-1] must equal the number of stored entries " +
                          std::to_string(c.indices.size()) + ", got " + std::to_string(c.indptr.back()));
  return c;
}


void check_k(long long k) {
  if (k < 1) throw InvalidArgument("k: expected k >= 1, got " + std::to_string(k));
}

// The `allowed` bitset and the `floors` of one call, both owned copies taken with the GIL
// held (allowed_arg, optional_strict_array): the core checks the floors for NaN, then reads
// them, and reads the bitset while other Python threads run.
struct Filter {
  std::optional<std::vector<std::uint64_t>> allowed;
  std::optional<std::vector<float>> floors;

  Filter(const SparseIndex& ix, const py::object& allowed_obj, const py::object& floors_obj, std::size_t n_queries)
      : allowed(allowed_arg(allowed_obj, ix.n_docs())) {
    const std::string expected = "a 1-d C-contiguous float32 array of one floor per query (" +
                                 std::to_string(n_queries) + ")";
    const auto f = optional_strict_array<float>(floors_obj, 1, "floors", expected.c_str());
    if (!f) return;
    if (static_cast<std::size_t>(f->shape(0)) != n_queries)
      throw InvalidArgument("floors: expected " + expected + ", got shape " + shape_string(*f));
    floors = owned_copy(*f);
  }

  sparse::SearchFilter view() const {
    sparse::SearchFilter out;
    if (allowed) {
      out.allowed = allowed->data();
      out.allowed_words = allowed->size();
    }
    if (floors) {
      out.floors = floors->data();
      out.n_floors = floors->size();
    }
    return out;
  }
};

template <class T>
std::size_t non_negative(long long v, const char* what) {
  if (v < 0) throw InvalidArgument(std::string(what) + ": expected >= 0, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

// True or False only (numpy.bool_ too): pybind11's bool would also take None or 1.
bool strict_bool(const py::object& v, const char* what) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::hasattr(v, "dtype") && py::str(v.attr("dtype")).cast<std::string>() == "bool" &&
      py::hasattr(v, "ndim") && v.attr("ndim").cast<int>() == 0)
    return v.cast<bool>();
  throw py::type_error(std::string(what) + ": expected a bool, got " + py::str(py::type::of(v).attr("__name__")).cast<std::string>());
}

// One segment of search_segments, parsed from its tuple (core, allowed | None, ids | None,
// heap_factor, exact_rows | None) with the GIL held. The bitset and the exact rows are owned
// copies (the core checks the rows, then indexes with them, and reads the bitset while
// other Python threads run); the ids are read in place (they only become output values, and
// a living index's are read-only arrays).
struct SegmentArg {
  std::optional<std::vector<std::uint64_t>> allowed;
  std::optional<CArray<std::int64_t>> ids;
  std::optional<std::vector<DocId>> exact_rows;
  sparse::SegmentRef ref;

  SegmentArg(py::handle item, std::size_t i) {
    const std::string name = "segments[" + std::to_string(i) + "]";
    if (!py::isinstance<py::tuple>(item) || py::len(item) != 5)
      throw py::type_error(name + ": expected a tuple (core, allowed | None, ids | None, heap_factor, exact_rows | None)");
    const py::tuple t = py::reinterpret_borrow<py::tuple>(item);
    if (!py::isinstance<SparseIndex>(t[0]))
      throw py::type_error(name + "[0]: expected a _core.SparseIndex, got " +
                           py::str(py::type::of(t[0]).attr("__name__")).cast<std::string>());
    const SparseIndex& ix = t[0].cast<const SparseIndex&>();
    const std::size_t n_docs = ix.n_docs();
    const std::size_t words = (n_docs + 63) / 64;
    const std::string allowed_name = name + ".allowed", ids_name = name + ".ids", rows_name = name + ".exact_rows";
    const std::string allowed_expected =
        "a 1-d C-contiguous uint64 array of ceil(n_docs / 64) = " + std::to_string(words) + " words";
    if (auto a = optional_strict_array<std::uint64_t>(t[1], 1, allowed_name.c_str(), allowed_expected.c_str())) {
      if (static_cast<std::size_t>(a->shape(0)) != words)
        throw InvalidArgument(allowed_name + ": expected " + allowed_expected + ", got shape " + shape_string(*a));
      allowed = owned_copy(*a);
    }
    const std::string ids_expected = "a 1-d C-contiguous int64 array of n_docs = " + std::to_string(n_docs) + " ids";
    ids = optional_strict_array<std::int64_t>(t[2], 1, ids_name.c_str(), ids_expected.c_str());
    if (ids && static_cast<std::size_t>(ids->shape(0)) != n_docs)
      throw InvalidArgument(ids_name + ": expected " + ids_expected + ", got shape " + shape_string(*ids));
    if (!py::isinstance<py::float_>(t[3]) && !py::isinstance<py::int_>(t[3]))
      throw py::type_error(name + ".heap_factor: expected a float, got " +
                           py::str(py::type::of(t[3]).attr("__name__")).cast<std::string>());
    const double heap_factor = t[3].cast<double>();
    if (auto r = optional_strict_array<std::uint32_t>(t[4], 1, rows_name.c_str(), "a 1-d C-contiguous uint32 array"))
      exact_rows = owned_copy(*r);
    ref.index = &ix;
    if (allowed) {
      ref.allowed = allowed->data();
      ref.allowed_words = allowed->size();
    }
    if (ids) ref.ids = ids->data();
    ref.heap_factor = static_cast<float>(heap_factor);
    if (exact_rows) {
      ref.is_exact = true;
      ref.exact_rows = exact_rows->data();
      ref.n_exact_rows = exact_rows->size();
    }
  }
};

// SearchStats rows as the [n, 5] int64 table search(with_stats=True) returns.
CArray<std::int64_t> stats_table(const std::vector<sparse::SearchStats>& stats) {
  CArray<std::int64_t> table({stats.size(), std::size_t{5}});
  std::int64_t* t = table.mutable_data();
  for (const sparse::SearchStats& st : stats) {
    for (std::uint64_t x : {st.lists, st.blocks, st.blocks_visited, st.postings, st.docs_scored})
      *t++ = static_cast<std::int64_t>(x);
  }
  return table;
}

}  // namespace

void bind_sparse(py::module_& m) {
  const auto nc = [](const char* name) { return py::arg(name).noconvert(); };

  def_persistence_without_load<SparseIndex>(py::class_<SparseIndex>(m, "SparseIndex"))
      .def_static(
          "load",
          [](const std::string& path, const py::object& mmap, const py::object& verify, const py::object& populate) {
            SparseIndex::LoadOptions o;
            o.mmap = strict_bool(mmap, "mmap");
            o.populate = strict_bool(populate, "populate");
            o.verify = verify.is_none() ? !o.mmap : strict_bool(verify, "verify");
            if (!o.mmap && !o.verify)
              throw InvalidArgument("verify: a load into memory always verifies; verify=False needs mmap=True");
            if (!o.mmap && o.populate)
              throw InvalidArgument("populate: needs mmap=True (a load into memory reads the whole file anyway)");
            return without_gil([&] { return SparseIndex::load(path, o); });
          },
          py::arg("path"), py::kw_only(), py::arg("mmap") = false, py::arg("verify") = py::none(),
          py::arg("populate") = false)
      .def("verify", [](const SparseIndex& ix) { without_gil([&] { ix.verify(); }); })
      .def_property_readonly("is_mapped", &SparseIndex::is_mapped)
      .def_property_readonly("mapped_bytes", &SparseIndex::mapped_bytes)
      .def_property_readonly("resident_bytes",
                             [](const SparseIndex& ix) { return without_gil([&] { return ix.resident_bytes(); }); })
      .def_static(
          "build",
          [](const CArray<std::int64_t>& indptr, const CArray<std::uint32_t>& indices, const CArray<float>& values,
             long long dim, const std::string& pruning, long long n_postings, double max_fraction, double centroid_fraction,
             long long min_cluster_size, double summary_energy, const std::string& precision, long long knn,
             long long num_threads, std::uint64_t seed, py::object progress) {
            BuildParams p;
            if (pruning == "global") p.pruning = sparse::Pruning::kGlobalThreshold;
            else if (pruning == "fixed") p.pruning = sparse::Pruning::kFixedSize;
            else throw InvalidArgument("pruning: expected 'global' or 'fixed', got '" + pruning + "'");
            p.precision = parse_precision(precision);
            // 0 leaves it to the index (sparse::default_n_postings).
            if (n_postings < 0) throw InvalidArgument("n_postings: expected >= 1, got " + std::to_string(n_postings));
            if (min_cluster_size < 1)
              throw InvalidArgument("min_cluster_size: expected >= 1, got " + std::to_string(min_cluster_size));
            p.n_postings = static_cast<std::size_t>(n_postings);
            p.max_fraction = max_fraction;
            p.centroid_fraction = centroid_fraction;
            p.min_cluster_size = static_cast<std::size_t>(min_cluster_size);
            p.summary_energy = summary_energy;
            p.knn = non_negative<std::size_t>(knn, "knn");
            p.num_threads = non_negative<std::size_t>(num_threads, "num_threads");
            p.seed = seed;
            const std::size_t d = non_negative<std::size_t>(dim, "dim");
            const Csr c = csr(indptr, indices, values, "docs");
            const ProgressFn fn = make_progress(std::move(progress));
            return without_gil([&] { return SparseIndex::build(c.view(d), p, fn); });
          },
          nc("indptr"), nc("indices"), nc("values"), py::arg("dim"), py::arg("pruning"), py::arg("n_postings"),
          py::arg("max_fraction"), py::arg("centroid_fraction"), py::arg("min_cluster_size"),
          py::arg("summary_energy"), py::arg("precision"), py::arg("knn"), py::arg("num_threads"), py::arg("seed"),
          py::arg("progress") = py::none())
      .def(
          "search",
          [](const SparseIndex& ix, const CArray<std::int64_t>& indptr, const CArray<std::uint32_t>& indices,
             const CArray<float>& values, long long dim, long long k, long long query_cut, double heap_factor, long long n_knn,
             long long num_threads, bool with_stats, const py::object& allowed, const py::object& floors) {
            check_k(k);
            SearchParams p;
            p.k = static_cast<std::size_t>(k);
            if (query_cut < 1) throw InvalidArgument("query_cut: expected >= 1, got " + std::to_string(query_cut));
            p.query_cut = static_cast<std::size_t>(query_cut);
            p.heap_factor = static_cast<float>(heap_factor);
            p.n_knn = non_negative<std::size_t>(n_knn, "n_knn");
            p.num_threads = non_negative<std::size_t>(num_threads, "num_threads");
            const std::size_t d = non_negative<std::size_t>(dim, "dim");
            const Csr c = csr(indptr, indices, values, "queries");
            const std::size_t n_queries = c.indptr.size() - 1;
            const Filter filter(ix, allowed, floors, n_queries);
            TopKArrays top(n_queries, p.k);
            std::vector<sparse::SearchStats> stats(with_stats ? n_queries : 0);
            without_gil([&] { ix.search(c.view(d), p, top.out, with_stats ? stats.data() : nullptr, filter.view()); });
            if (!with_stats) return top.result();
            // One row of counters per query, in SearchStats's field order.
            return py::tuple(py::make_tuple(top.scores, top.ids, stats_table(stats)));
          },
          nc("indptr"), nc("indices"), nc("values"), py::arg("dim"), py::arg("k"), py::arg("query_cut"),
          py::arg("heap_factor"), py::arg("n_knn"), py::arg("num_threads"), py::arg("with_stats") = false,
          py::arg("allowed") = py::none(), py::arg("floors") = py::none())
      .def(
          "search_subset",
          [](const SparseIndex& ix, const CArray<std::int64_t>& indptr, const CArray<std::uint32_t>& indices,
             const CArray<float>& values, long long dim, const py::object& docs, long long k, const py::object& floors,
             long long num_threads) {
            check_k(k);
            const std::size_t d = non_negative<std::size_t>(dim, "dim");
            const std::size_t threads = non_negative<std::size_t>(num_threads, "num_threads");
            // An owned copy: the core checks the ids (sorted, in range), then reads them.
            const auto listed = optional_strict_array<std::uint32_t>(docs, 1, "docs", "a 1-d C-contiguous uint32 array");
            if (!listed) throw py::type_error("docs: expected a 1-d C-contiguous uint32 array, got None");
            const std::vector<DocId> doc_ids = owned_copy(*listed);
            const Csr c = csr(indptr, indices, values, "queries");
            const std::size_t n_queries = c.indptr.size() - 1;
            const Filter filter(ix, py::none(), floors, n_queries);
            TopKArrays top(n_queries, static_cast<std::size_t>(k));
            without_gil([&] { ix.search_subset(c.view(d), doc_ids.data(), doc_ids.size(), threads, top.out, filter.view()); });
            return top.result();
          },
          nc("indptr"), nc("indices"), nc("values"), py::arg("dim"), py::arg("docs"), py::arg("k"),
          py::arg("floors") = py::none(), py::arg("num_threads") = 0)
      .def("documents",
           [](const SparseIndex& ix) {
             const std::size_t nnz = without_gil([&] { return ix.n_stored_entries(); });
             CArray<std::int64_t> indptr(ix.n_docs() + 1);
             CArray<std::uint32_t> indices(nnz);
             CArray<float> values(nnz);
             std::int64_t* ip = indptr.mutable_data();
             std::uint32_t* ind = indices.mutable_data();
             float* val = values.mutable_data();
             without_gil([&] { ix.documents(ip, ind, val, 0); });
             return py::make_tuple(indptr, indices, values);
           })
      .def(
          "build_knn",
          [](SparseIndex& ix, long long knn, long long query_cut, double heap_factor, long long num_threads,
             py::object progress) {
            SearchParams p;
            if (query_cut < 1) throw InvalidArgument("query_cut: expected >= 1, got " + std::to_string(query_cut));
            p.query_cut = static_cast<std::size_t>(query_cut);
            p.heap_factor = static_cast<float>(heap_factor);
            p.num_threads = non_negative<std::size_t>(num_threads, "num_threads");
            const std::size_t n = non_negative<std::size_t>(knn, "knn");
            const ProgressFn fn = make_progress(std::move(progress));
            without_gil([&] { ix.build_knn(n, p, fn); });
          },
          py::arg("knn"), py::arg("query_cut"), py::arg("heap_factor"), py::arg("num_threads"),
          py::arg("progress") = py::none())
      .def_property_readonly("n_docs", &SparseIndex::n_docs)
      .def_property_readonly("dim", &SparseIndex::dim)
      .def_property_readonly("knn", &SparseIndex::knn)
      .def_property_readonly("n_postings_total", &SparseIndex::n_postings_total)
      .def_property_readonly("n_blocks_total", &SparseIndex::n_blocks_total)
      .def_property_readonly("n_summary_entries", &SparseIndex::n_summary_entries)
      .def_property_readonly("precision",
                             [](const SparseIndex& ix) { return precision_name(ix.build_params().precision); })
      .def_property_readonly("size_bytes", &SparseIndex::size_bytes)
      .def_property_readonly("component_bytes", [](const SparseIndex& ix) {
            const SparseIndex::ComponentBytes c = ix.component_bytes();
            py::dict d;
            d["forward_index_bytes"] = c.forward_index;
            d["postings_bytes"] = c.postings;
            d["blocks_bytes"] = c.blocks;
            d["summaries_bytes"] = c.summaries;
            d["knn_graph_bytes"] = c.knn_graph;
            return d;
          })
      .def_property_readonly("build_params", [](const SparseIndex& ix) {
            const BuildParams& p = ix.build_params();
            py::dict d;
            d["pruning"] = p.pruning == sparse::Pruning::kGlobalThreshold ? "global" : "fixed";
            d["n_postings"] = p.n_postings;
            d["max_fraction"] = p.max_fraction;
            d["centroid_fraction"] = p.centroid_fraction;
            d["min_cluster_size"] = p.min_cluster_size;
            d["summary_energy"] = p.summary_energy;
            d["precision"] = precision_name(p.precision);
            d["knn"] = p.knn;
            d["seed"] = p.seed;
            return d;
          })
      .def("blocks_of", &SparseIndex::blocks_of, py::arg("term"))
      .def("summary_of", &SparseIndex::summary_of, py::arg("term"), py::arg("block"))
      .def("document", &SparseIndex::document, py::arg("doc"))
      .def(
          "_block_scores",
          [](const SparseIndex& ix, TermId t, const std::vector<TermId>& terms,
             const std::vector<float>& weights, const std::string& level) {
            const simd::Level lv = simd::parse_level(level);
            if (!simd::is_supported(lv)) throw InvalidArgument("level not supported here");
            return ix.block_scores(t, terms, weights, lv);
          },
          py::arg("term"), py::arg("terms"), py::arg("weights"), py::arg("level"));

  m.def(
      "sparse_exact_search",
      [](const CArray<std::int64_t>& d_indptr, const CArray<std::uint32_t>& d_indices, const CArray<float>& d_values,
         const CArray<std::int64_t>& q_indptr, const CArray<std::uint32_t>& q_indices,
         const CArray<float>& q_values, long long dim,
         long long k, long long num_threads) {
        check_k(k);
        const std::size_t d = non_negative<std::size_t>(dim, "dim");
        const Csr dc = csr(d_indptr, d_indices, d_values, "docs");
        const Csr qc = csr(q_indptr, q_indices, q_values, "queries");
        const std::size_t threads = non_negative<std::size_t>(num_threads, "num_threads");
        TopKArrays top(qc.indptr.size() - 1, static_cast<std::size_t>(k));
        without_gil(
            [&] { sparse::exact_search(dc.view(d), qc.view(d), static_cast<std::size_t>(k), threads, top.out); });
        return top.result();
      },
      nc("doc_indptr"), nc("doc_indices"), nc("doc_values"), nc("query_indptr"), nc("query_indices"),
      nc("query_values"), py::arg("dim"), py::arg("k"), py::arg("num_threads"));

  // A living index's segments in one call (sparse/segments.hpp): `segments` is a list of
  // (core, allowed | None, ids | None, heap_factor, exact_rows | None), searched in order.
  m.def(
      "search_segments",
      [](const py::list& segments, const CArray<std::int64_t>& indptr, const CArray<std::uint32_t>& indices,
         const CArray<float>& values, long long dim, long long k, long long query_cut, long long n_knn,
         long long num_threads, bool with_stats) {
        check_k(k);
        sparse::SegmentSearchParams p;
        p.k = static_cast<std::size_t>(k);
        if (query_cut < 1) throw InvalidArgument("query_cut: expected >= 1, got " + std::to_string(query_cut));
        p.query_cut = static_cast<std::size_t>(query_cut);
        p.n_knn = non_negative<std::size_t>(n_knn, "n_knn");
        p.num_threads = non_negative<std::size_t>(num_threads, "num_threads");
        const std::size_t d = non_negative<std::size_t>(dim, "dim");
        std::vector<SegmentArg> args;
        args.reserve(py::len(segments));
        for (py::handle item : segments) args.emplace_back(item, args.size());
        std::vector<sparse::SegmentRef> refs;
        for (const SegmentArg& a : args) refs.push_back(a.ref);
        const Csr c = csr(indptr, indices, values, "queries");
        const std::size_t n_queries = c.indptr.size() - 1;
        TopKArrays top(n_queries, p.k);
        std::vector<sparse::SearchStats> stats(with_stats ? n_queries : 0);
        without_gil([&] { sparse::search_segments(refs, c.view(d), p, top.out, with_stats ? stats.data() : nullptr); });
        if (!with_stats) return top.result();
        return py::tuple(py::make_tuple(top.scores, top.ids, stats_table(stats)));
      },
      py::arg("segments"), nc("indptr"), nc("indices"), nc("values"), py::arg("dim"), py::arg("k"),
      py::arg("query_cut"), py::arg("n_knn"), py::arg("num_threads"), py::arg("with_stats") = false);

  // Kernel entry for the SIMD-vs-scalar tests: one summary-component accumulation at an
  // explicit level, into a copy of `acc` (256 entries: one page), returned.
  m.def("_sparse_accumulate", [](const std::string& level, CArray<std::uint8_t> blocks, CArray<std::uint8_t> codes,
                                 float weight, CArray<float> acc) {
    const simd::Level lv = simd::parse_level(level);
    if (!simd::is_supported(lv)) throw InvalidArgument("level not supported here");
    if (blocks.ndim() != 1 || codes.ndim() != 1 || blocks.shape(0) != codes.shape(0) || acc.ndim() != 1 ||
        acc.shape(0) != 256)
      throw InvalidArgument("_sparse_accumulate: expected 1-d blocks and codes of equal length, 256 accumulators");
    std::vector<bool> used(256, false);
    for (py::ssize_t i = 0; i < blocks.shape(0); ++i) {
      if (used[blocks.data()[i]]) throw InvalidArgument("_sparse_accumulate: blocks must be distinct");
      used[blocks.data()[i]] = true;
    }
    py::array_t<float> out(256);
    std::copy(acc.data(), acc.data() + 256, out.mutable_data());
    sparse::testing::accumulate_codes_u8(lv, blocks.data(), codes.data(), static_cast<std::size_t>(blocks.shape(0)),
                                         weight, out.mutable_data());
    return out;
  });

  // Kernel entry for the SIMD-vs-scalar tests: one dot product at an explicit level.
  // `values` is float32, or uint16 holding IEEE half bits; `terms` is uint16 or uint32.
  // A finite `threshold` lets the kernel stop early (values non-increasing; kernels.hpp).
  m.def("_sparse_dot", [](const std::string& level, py::array terms, py::array values, CArray<float> query,
                          float query_mass, float threshold) {
    const simd::Level lv = simd::parse_level(level);
    if (!simd::is_supported(lv)) throw InvalidArgument("level not supported here");
    if (terms.ndim() != 1 || values.ndim() != 1 || terms.shape(0) != values.shape(0) || query.ndim() != 1)
      throw InvalidArgument("_sparse_dot: expected 1-d terms and values of equal length and a 1-d query");
    const std::size_t n = static_cast<std::size_t>(terms.shape(0));
    const bool t16 = terms.dtype().is(py::dtype::of<std::uint16_t>());
    const bool t32 = terms.dtype().is(py::dtype::of<std::uint32_t>());
    const bool v16 = values.dtype().is(py::dtype::of<std::uint16_t>());
    const bool v32 = values.dtype().is(py::dtype::of<float>());
    if (!(t16 || t32) || !(v16 || v32) || !(terms.flags() & py::array::c_style) || !(values.flags() & py::array::c_style))
      throw InvalidArgument("_sparse_dot: terms uint16/uint32 and values float32/uint16, contiguous");
    if (t16) {
      auto* tp = static_cast<const std::uint16_t*>(terms.data());
      for (std::size_t i = 0; i < n; ++i)
        if (tp[i] >= query.shape(0)) throw std::out_of_range("terms: id out of range of query");
      return v16 ? sparse::testing::dot(lv, tp, static_cast<const std::uint16_t*>(values.data()), n, query.data(), query_mass, threshold)
                 : sparse::testing::dot(lv, tp, static_cast<const float*>(values.data()), n, query.data(), query_mass,
                                        threshold);
    }
    auto* tp = static_cast<const std::uint32_t*>(terms.data());
    for (std::size_t i = 0; i < n; ++i)
      if (tp[i] >= query.shape(0)) throw std::out_of_range("terms: id out of range of query");
    return v16 ? sparse::testing::dot(lv, tp, static_cast<const std::uint16_t*>(values.data()), n, query.data(), query_mass, threshold)
               : sparse::testing::dot(lv, tp, static_cast<const float*>(values.data()), n, query.data(), query_mass,
                                      threshold);
  }, py::arg("level"), py::arg("terms"), py::arg("values"), py::arg("query"), py::arg("query_mass") = 0.0f,
     py::arg("threshold") = -std::numeric_limits<float>::infinity());
}

}  // namespace aftershock::bindings
