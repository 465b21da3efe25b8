// MultiVectorIndex: approximate top-k MaxSim retrieval over ColBERT-style token vectors.
// A candidate generator (MUVERA FDE scan, or the token-centroid index) proposes
// documents; the MultiVectorStore scores them exactly, so every returned score is the
// exact MaxSim over the stored precision. See cpp/src/multivector/README.md for the
// algorithms and every parameter.
//
// Thread safety: const methods (search, search_exact, save, to_bytes) may run
// concurrently; build and load produce new objects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aftershock/multivector/centroid_index.hpp"
#include "aftershock/multivector/config.hpp"
#include "aftershock/multivector/fde.hpp"
#include "aftershock/multivector/kmeans.hpp"
#include "aftershock/multivector/store.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/doc_filter.hpp"

namespace aftershock::multivector {

/// "muvera" | "centroid"; InvalidArgument naming `method` otherwise.
Method parse_method(const std::string& name);
const char* method_name(Method method);

/// What MultiVectorIndex::info() reports: the resolved configuration and the sizes.
struct IndexInfo {
  /// Build parameters as resolved (e.g. the actual centroid.n_centroids); num_threads is 0
  /// (not recorded). Only the struct of `build.method` is meaningful.
  BuildParams build;
  /// The default search parameters, resolved (n_candidates and centroid.n_interaction set).
  SearchParams search;
  std::size_t n_docs = 0;
  std::size_t dim = 0;
  std::size_t total_tokens = 0;     // stored tokens (after pooling)
  std::size_t original_tokens = 0;  // tokens given to build (before pooling)
  std::size_t fde_dim = 0;          // muvera: values per document encoding
  std::size_t n_centroids = 0;      // centroid
  std::size_t n_postings = 0;       // centroid: total length of the inverted lists
  std::size_t index_size_bytes = 0; // candidate-generation structures
  std::size_t store_size_bytes = 0; // stored tokens
  std::size_t size_bytes = 0;       // index_size_bytes + store_size_bytes
  bool is_mapped = false;           // loaded with LoadOptions::mmap: the large arrays are in the mapping
  std::size_t mapped_bytes = 0;     // the mapped file's bytes (0 in memory)
};

class MultiVectorIndex {
 public:
  MultiVectorIndex() = default;

  /// Builds the index over documents given as vectors float32 [total_tokens, dim] and
  /// offsets int64 [n_docs + 1] (document d = rows offsets[d]:offsets[d+1]; n_docs >= 1,
  /// every document >= 1 token). `params` (config.hpp) are validated first, before any
  /// heavy work: InvalidArgument naming the parameter (e.g. "n_centroids: expected at
  /// most the number of tokens (200), got 201"); then the offsets and the values
  /// (InvalidArgument naming vectors / offsets). Everything after validation is
  /// deterministic for params.seed whatever params.num_threads. `progress` is called
  /// from this thread only; an exception it throws stops the build.
  /// Cost: O(store + pooling + method build), see README.md.
  ///
  /// Given centroids (method kCentroid only): `centroids` float32 [n_centroids, dim]
  /// (n_centroids in [1, 65536], may exceed the number of tokens) replaces k-means: every
  /// stored token (after pooling) goes to its nearest given centroid by the assignment a
  /// k-means build uses, so an index built with another index's centroids() gives a
  /// document the codes that index would (PLAID-style segments sharing one codebook).
  /// params.centroid.n_centroids must then be 0 or n_centroids (InvalidArgument naming
  /// n_centroids); the k-means parameters are kept in the configuration but unused.
  /// InvalidArgument naming `centroids` for a muvera build, a bad count or a non-finite
  /// value (checked on the index's own copy).
  static MultiVectorIndex build(const float* vectors, std::size_t total_tokens, std::size_t dim,
                                const std::int64_t* offsets, std::size_t n_docs, const BuildParams& params,
                                const ProgressFn& progress = ProgressFn(), const float* centroids = nullptr,
                                std::size_t n_centroids = 0);

  /// Top-k for each query: queries float32 [total_query_tokens, dim], query_offsets int64
  /// [n_queries + 1] (every query >= 1 token). out.scores / out.ids: [n_queries, out.k],
  /// best first, padded with -inf / -1, ties to the smaller id; scores are exact MaxSim
  /// over the stored documents. `params.centroid` is read only by a centroid index.
  /// Parallel over queries; results do not depend on num_threads. Throws InvalidArgument
  /// naming k, a parameter out of range (checked first), query_offsets or queries.
  ///
  /// `filter` (util/doc_filter.hpp; words: filter_words(n_docs) u64, PRECONDITION):
  /// only allowed documents are returned, and they are excluded inside candidate
  /// generation (the MUVERA scan keeps the best allowed encodings; the centroid stages
  /// touch allowed documents only), so the n_candidates reranked are all allowed. With
  /// n_candidates >= the number of allowed documents the search is exact over them (the
  /// unfiltered rule n_candidates >= n_docs is the special case). A filtered query gets
  /// min(k, allowed) results whenever n_candidates >= k (centroid: the selective-filter
  /// fallback in centroid_index.hpp). An all-filter (the default) is the unfiltered
  /// search, unchanged. Cost: + O(n_docs / 64) per batch.
  void search(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
              const SearchParams& params, TopKOut out, DocFilter filter = DocFilter()) const;

  /// `params` with the defaults filled in (n_candidates, centroid.n_interaction) and
  /// validated for this index: InvalidArgument naming the parameter.
  SearchParams resolve_search(const SearchParams& params) const;

  /// Brute force over every (allowed) document with the store (the reference for recall);
  /// `filter` as in search() and MultiVectorStore::search.
  void search_exact(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                    std::size_t num_threads, TopKOut out, DocFilter filter = DocFilter()) const;

  Method method() const { return method_; }
  std::size_t n_docs() const { return store_.n_docs(); }
  std::size_t dim() const { return store_.dim(); }
  const MultiVectorStore& store() const { return store_; }
  /// Centroid index: its float32 [n_centroids, dim] centroids (row-major), the only state
  /// it trains; empty for a muvera index (whose encoder is drawn from seed and the FDE
  /// parameters alone, independent of the documents). O(1).
  const std::vector<float>& centroids() const { return centroids_.centroids(); }
  /// Resolved build configuration, default search parameters and sizes. O(1).
  IndexInfo info() const;
  /// Bytes held: store + candidate structures.
  std::size_t size_bytes() const;
  std::size_t index_size_bytes() const;  // candidate structures only

  // Serialization: aftershock format v1, kind "MVIX". CONF holds the configuration
  // (integers as integers, enums as their numbers, range-checked on load; files that
  // wrote them as doubles still load);
  // the store's own sections are embedded (store.hpp); "FDEV"/"FDEQ"/"FDSC" hold document
  // encodings (f32 or i8 + scales); the centroid sections are in centroid_index.hpp.
  static constexpr char kKind[4] = {'M', 'V', 'I', 'X'};
  void save(const std::string& path) const;
  ///
  /// load: reads and checks everything, or with options.mmap maps the file (store.hpp
  /// LoadOptions): the store's panels and codes, the document encodings (FDEQ / FDEV /
  /// FDSC) and the centroid codes and inverted lists become views into the mapping; the
  /// configuration, encoder, centroids, codebook and per-document offsets are read and
  /// checked at open. Throws FormatError (damaged, truncated or foreign file; mapped without
  /// verify as far as checked at open), IoError, InvalidArgument (bad path, mmap where
  /// unsupported). O(file size) in memory or with verify; mapped without verify
  /// O(n_docs + codebook + encoder).
  static MultiVectorIndex load(const std::string& path, const LoadOptions& options);
  static MultiVectorIndex load(const std::string& path) { return load(path, LoadOptions()); }
  /// Every CRC and every check of the in-memory load, on a mapped index (the whole file
  /// read once, advised sequential); nothing to do otherwise. Throws FormatError. Const and
  /// thread-safe.
  void verify() const;
  bool is_mapped() const { return reader_ != nullptr; }
  std::size_t mapped_bytes() const;
  /// Bytes of the mapped file resident in memory now (mincore); 0 in memory. O(pages).
  std::size_t resident_bytes() const;
  std::string to_bytes() const;
  static MultiVectorIndex from_bytes(std::string bytes);

 private:
  void fill_writer(io::FileWriter& writer, std::string& conf_text) const;
  static MultiVectorIndex from_reader(const io::FileReader& reader);
  void check_content() const;  // the mapped sections' values (verify)
  void advise_sections() const;
  void encode_documents(const float* vectors, const std::int64_t* offsets, std::size_t num_threads,
                        const ProgressFn& progress);

  Method method_ = Method::kCentroid;
  std::uint64_t seed_ = 0;
  double pool_factor_ = 1.0;
  std::size_t pool_iters_ = 4;
  std::size_t original_tokens_ = 0;  // tokens before pooling
  MultiVectorStore store_;
  // muvera
  FdeEncoder fde_;
  bool fde_int8_ = false;
  Array<float> fde_f32_;             // [n_docs, fde_dim]
  Array<std::int8_t> fde_i8_;        // [n_docs, fde_dim]
  Array<float> fde_scale_;           // [n_docs]
  std::shared_ptr<const io::FileReader> reader_;  // the mapped file's reader (load with mmap), else null
  // centroid
  CentroidIndex centroids_;
};

/// Direct access to the candidate-generation kernels at one SIMD level (an int of
/// simd::Level), for the tests that compare every level against the scalar oracle.
/// Throws InvalidArgument if the level is not compiled in or not supported here.
namespace testing {
/// out[r, c] = <x_r, w_c>: x float32 [n_rows, dim], w float32 [n_cols, dim], out [n_rows, n_cols].
void dot_rows(int level, const float* x, std::size_t n_rows, std::size_t dim, const float* w, std::size_t n_cols,
              float* out);
/// out[r] = <rows_r, q>: rows float32 [n_rows, dim].
void scan_f32(int level, const float* rows, std::size_t n_rows, std::size_t dim, const float* q, float* out);
/// out[r] = scales[r] * <codes_r, q>: codes int8 [n_rows, dim].
void scan_i8(int level, const std::int8_t* codes, const float* scales, std::size_t n_rows, std::size_t dim,
             const float* q, float* out);
/// sum_l max_t table[codes[t], l]: table float32 [n_centroids, lanes], lanes % 16 == 0,
/// n >= 1 (InvalidArgument otherwise), codes < n_centroids (std::out_of_range otherwise).
float interaction(int level, const std::uint16_t* codes, std::size_t n, const float* table, std::size_t n_centroids,
                  std::size_t lanes);
}  // namespace testing

}  // namespace aftershock::multivector
