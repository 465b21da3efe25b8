// Ragged multi-vector document storage with exact MaxSim scoring (ColBERT late interaction).
//
// A MultiVectorStore owns n_docs documents; document d is a [n_tokens(d), dim] matrix of
// token vectors (n_tokens(d) >= 1), stored in one Precision (fp32 / fp16 / bf16 / int8, or
// the residual res1 / res2 / res4: a centroid code + 1/2/4-bit residual per dimension,
// decoded inside the kernels; cpp/src/maxsim/residual_codec.hpp).
// Internally each document is cut into panels of maxsim::kPanelTokens tokens laid out
// dimension-major so one SIMD register holds one dimension of 16 tokens; the last panel
// is filled by repeating the document's last token, which leaves every max unchanged.
// The layout is defined by the panel codec (cpp/src/maxsim/panel_codec.hpp), an
// implementation detail: read tokens back with decode_doc(). This file's members are
// implemented in store.cpp (construction, scoring, rerank, search) and store_io.cpp
// (sections, files, bytes).
//
// Thread safety: every const method may run concurrently from many threads; construction,
// assignment and load need exclusive access. Scores are deterministic: the same query and
// document give the same float at a given SIMD level whatever the thread count or batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/io/format.hpp"
#include "aftershock/maxsim/maxsim.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/aligned_buffer.hpp"
#include "aftershock/util/array.hpp"
#include "aftershock/util/doc_filter.hpp"

namespace aftershock::maxsim {
struct ResidualCodebook;  // cpp/src/maxsim/residual_codec.hpp (internal)
}

namespace aftershock::multivector {

using maxsim::Precision;
using maxsim::PreparedQuery;

/// How load() opens a file (MultiVectorStore::load, MultiVectorIndex::load); the same
/// three options as the sparse index's (sparse/index.hpp), see README.md "Serving from
/// disk".
struct LoadOptions {
  /// Map the file (io::MappedFile) instead of reading it: the token panels, centroid
  /// codes, int8 scales and bias, document encodings and inverted lists are views into the
  /// mapping, shared with every process mapping the same file. POSIX only (InvalidArgument
  /// elsewhere).
  bool mmap = false;
  /// Check every CRC and every structural invariant at load. Always done when reading into
  /// memory; with mmap, false defers it to verify() (the content of the large sections is
  /// then trusted; io/format.hpp, "What is checked when").
  bool verify = true;
  /// With mmap: fault the whole file in now (MAP_POPULATE). The binding refuses it without
  /// mmap.
  bool populate = false;
};

/// A read-only byte array of a store's token data: an owned AlignedBuffer (built or read
/// into memory: 64-byte aligned, huge pages) or a view of a mapped file (util/array.hpp).
using PanelBuffer = Array<unsigned char, AlignedBuffer>;

/// The codebook of a residual store (precisions res1 / res2 / res4); ignored otherwise.
/// Default: k-means centroids trained on a sample of the store's own tokens.
struct CodebookParams {
  /// Given centroids float32 [n_centroids, dim] (copied; finite, |c| < 2^50; 1 to 65536
  /// rows): every token is coded by its nearest one (multivector/kmeans.hpp assign_nearest,
  /// the assignment a centroid index uses), so a store given an index's centroids codes a
  /// token as that index does. nullptr: trained.
  const float* centroids = nullptr;
  /// Rows of `centroids`; without them, the number to train (0 = auto: the centroid
  /// index's rule, 2^floor(log2(2 sqrt(total_tokens))) in [16, 65536], at most total_tokens;
  /// PLAID's 16 sqrt rule was measured and not adopted: README.md, "Compressed token storage").
  std::size_t n_centroids = 0;
  /// Optional precomputed nearest-centroid codes [total_tokens] for the given centroids
  /// (an index that assigned them already). PRECONDITION: codes[t] is what assign_nearest
  /// gives for token t, < n_centroids.
  const std::uint32_t* codes = nullptr;
  std::size_t kmeans_iters = 8;
  std::uint64_t seed = 0;
};

/// Tokens the k-means of a trained codebook of n_centroids samples:
/// min(total_tokens, max(65,536, min(64 n_centroids, 262,144))), evenly spread.
std::size_t residual_sample_size(std::size_t total_tokens, std::size_t n_centroids);

class MultiVectorStore {
 public:
  /// An empty store (n_docs 0, dim 0); only useful as a target of assignment or load.
  MultiVectorStore() = default;

  /// Builds a store from all documents' tokens concatenated.
  ///   vectors: row-major float32 [total_tokens, dim]; offsets: int64 [n_docs + 1] with
  ///   offsets[0] == 0, offsets strictly increasing (every document has >= 1 token) and
  ///   offsets[n_docs] == total_tokens. Document d is rows offsets[d]:offsets[d+1].
  /// n_docs may be 0 (then total_tokens must be 0). dim >= 1.
  /// Throws InvalidArgument (naming `vectors`/`offsets`) for dim == 0, bad offsets,
  /// NaN/inf, fp16 values with |x| >= 65520, bf16 values that round to infinity, or
  /// int8 with dim > maxsim::kMaxInt8Dim; a bad value is reported as the first one (row,
  /// column), whatever num_threads. Copies and converts: O(total_tokens * dim), split
  /// over `num_threads` threads (0 = all cores). Every value is read once: it is checked
  /// inside the conversion, so a caller's array changed concurrently cannot put an
  /// unchecked value into the store; the offsets are copied before they are checked.
  ///
  /// Residual precisions (res1 / res2 / res4, cpp/src/maxsim/residual_codec.hpp): tokens
  /// are coded against `codebook` (given or trained centroids), the bucket cutoffs and
  /// weights are trained on a sample of residuals; values need |x| < 2^50. Extra cost:
  /// k-means on a sample (O(iters * 64 * C^2 * dim)) and the assignment O(total * C * dim).
  /// Throws InvalidArgument naming `centroids` for a bad given codebook, n_centroids for a
  /// bad count.
  MultiVectorStore(const float* vectors, std::size_t total_tokens, std::size_t dim, const std::int64_t* offsets,
                   std::size_t n_docs, Precision precision, std::size_t num_threads = 0,
                   const CodebookParams& codebook = CodebookParams());

  std::size_t n_docs() const { return n_docs_; }
  std::size_t dim() const { return dim_; }
  Precision precision() const { return precision_; }
  std::size_t total_tokens() const { return total_tokens_; }
  /// Tokens of document `doc`; throws std::out_of_range if doc >= n_docs.
  std::size_t n_tokens(DocId doc) const;
  /// int64 [n_docs + 1] token offsets, as given at construction.
  const std::vector<std::int64_t>& offsets() const { return offsets_; }
  /// Bytes held (token data incl. panel padding, scales, offsets) = the sum of the four
  /// component sizes below.
  std::size_t size_bytes() const;
  /// Panels of kPanelTokens tokens over all documents (each document rounds up).
  std::size_t n_panels() const { return n_docs_ == 0 ? 0 : static_cast<std::size_t>(panel_start_[n_docs_]); }
  /// Bytes of the token panels, of the int8 scales, of the int8 bias terms (0 unless
  /// int8), and of the offsets and per-document panel starts.
  std::size_t data_bytes() const { return data_.size(); }
  std::size_t scales_bytes() const { return scales_.size(); }
  std::size_t bias_bytes() const { return bias_.size(); }
  std::size_t offsets_bytes() const;
  /// Residual precisions: bytes of the per-token centroid codes (u16 per padded token) and
  /// of the codebook (centroids, bucket cutoffs and weights); 0 otherwise.
  std::size_t codes_bytes() const { return codes_.size(); }
  std::size_t codebook_bytes() const;
  /// size_bytes() / total_tokens(): everything held, per stored token (0 when empty).
  double bytes_per_token() const;
  /// Residual precisions: the number of centroids and the centroids, float32
  /// [n_centroids, dim] (a copy, transposed back from the kernels' layout); 0 / empty otherwise.
  std::size_t n_centroids() const { return n_centroids_; }
  std::vector<float> centroids() const;
  /// Residual precisions: every stored token's centroid code, u16 [total_tokens] in
  /// document order (tests, tools); empty otherwise. Bucket cutoffs [dim, 2^bits - 1] and
  /// bucket weights [dim, 2^bits] (residual_codec.hpp); empty otherwise.
  std::vector<std::uint16_t> token_codes() const;
  const std::vector<float>& bucket_cutoffs() const { return cutoffs_; }
  const std::vector<float>& bucket_weights() const { return weights_; }

  /// Writes document `doc` as float32 [n_tokens(doc), dim] row-major into `out`: the
  /// exact values the kernels use (fp16/bf16 widened; int8 code * scale in float32;
  /// residual: centroid + bucket weight in float32, the decompressed token).
  /// Throws std::out_of_range for a bad doc.
  void decode_doc(DocId doc, float* out) const;
  /// Every document decoded as by decode_doc: out float32 [total_tokens, dim] row-major,
  /// document d at rows offsets()[d]:offsets()[d+1] (bulk export, e.g. to merge stores).
  /// Parallel over document blocks on num_threads threads (0 = all cores). Never throws.
  /// O(total_tokens * dim).
  void decode_all(float* out, std::size_t num_threads = 0) const;

  /// Converts a float32 [m, dim] query for this store's precision (validates it: m >= 1,
  /// finite values; InvalidArgument naming `query` otherwise). Reuse it across calls.
  PreparedQuery prepare(const float* query, std::size_t m) const;

  /// Largest L2 norm of a stored document token (as stored: the values the kernels read),
  /// computed in float64 when the store is built or loaded.
  double max_token_norm() const { return max_token_norm_; }
  /// Throws InvalidArgument (naming `what`) when a MaxSim score of this query could
  /// overflow float32: by Cauchy-Schwarz every dot product, row maximum and partial sum is
  /// at most m * max_i |q_i| * max_token_norm(), and that must stay below FLT_MAX (with a
  /// margin for rounding), else scores could reach +-inf and +inf + -inf = NaN. Every
  /// public scoring entry checks it; internal callers of the *_unchecked functions must.
  void check_score_bound(const PreparedQuery& query, const char* what = "query") const;

  /// Exact MaxSim of one query against documents ids[0..n): out[t] = score(query, ids[t]).
  /// query: float32 [m, dim]. Single-threaded. Throws InvalidArgument for a bad query,
  /// std::out_of_range (naming `ids`) if an id >= n_docs. O(n * m * mean_tokens * dim).
  void score(const float* query, std::size_t m, const DocId* ids, std::size_t n, float* out) const;
  void score(const PreparedQuery& query, const DocId* ids, std::size_t n, float* out) const;
  /// score() for internal callers that know their ids valid (an index scoring its own
  /// candidates). No checks.
  /// PRECONDITION: `query` prepared by this store (or for its dim and precision) and
  /// passing check_score_bound, every ids[t] < n_docs. Debug builds assert the first and
  /// the last (AFTERSHOCK_DCHECK).
  void score_unchecked(const PreparedQuery& query, const DocId* ids, std::size_t n, float* out) const;

  /// out[d] = score(query, d) for every document: float32 [n_docs]. Parallel over
  /// document blocks on `num_threads` threads (0 = all cores); results do not depend on it.
  void score_all(const float* query, std::size_t m, float* out, std::size_t num_threads = 1) const;
  void score_all(const PreparedQuery& query, float* out, std::size_t num_threads = 1) const;

  /// Many queries, concatenated: queries float32 [total_query_tokens, dim], query_offsets
  /// int64 [n_queries + 1] (same rules as document offsets). out: float32 row-major
  /// [n_queries, n_ids] with out[q, t] = score(query q, ids[t]); ids == nullptr means
  /// every document (n_ids must then be n_docs). Parallel over (query, block of docs).
  void score_batch(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                   const DocId* ids, std::size_t n_ids, float* out, std::size_t num_threads = 0) const;

  /// Top-k of candidates[0..n) by exact MaxSim: writes k scores (best first) and ids into
  /// out_scores / out_ids, padding with -inf / -1 when n < k; ties go to the smaller id.
  /// Duplicate candidates are scored (and may be returned) twice. k >= 1 (InvalidArgument).
  /// Returns the number of real results, min(n, k). Single-threaded.
  std::size_t rerank(const float* query, std::size_t m, const DocId* candidates, std::size_t n, std::size_t k,
                     float* out_scores, std::int64_t* out_ids) const;
  std::size_t rerank(const PreparedQuery& query, const DocId* candidates, std::size_t n, std::size_t k,
                     float* out_scores, std::int64_t* out_ids) const;
  /// rerank() for internal callers (an index reranking its own candidates): no checks.
  /// PRECONDITION: `query` prepared for this store's dim and precision and passing
  /// check_score_bound, k >= 1, every candidates[t] < n_docs. Debug builds assert the
  /// shape and range ones (AFTERSHOCK_DCHECK).
  std::size_t rerank_unchecked(const PreparedQuery& query, const DocId* candidates, std::size_t n, std::size_t k,
                               float* out_scores, std::int64_t* out_ids) const;

  /// Reranks a batch: query q (queries / query_offsets as in score_batch) keeps the best
  /// out.k of row q of candidate_ids, int64 row-major [n_queries, n_candidates], by exact
  /// MaxSim. A -1 entry is padding and skipped (so a first stage's padded ids feed it
  /// directly); duplicates are scored twice. out.scores / out.ids are [n_queries, out.k],
  /// best first, ties to the smaller id, padded with -inf / -1. Each id is read once, then
  /// checked and used. Throws InvalidArgument (bad queries, out.k == 0),
  /// std::out_of_range naming `candidate_ids` and the first bad (query, position) for an
  /// id outside [0, n_docs) other than -1. Parallel over queries on num_threads threads
  /// (0 = all cores); results do not depend on it. O(sum of candidates * m * tokens * dim).
  void rerank_batch(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                    const std::int64_t* candidate_ids, std::size_t n_candidates, std::size_t num_threads,
                    TopKOut out) const;

  /// Brute-force top-k over all documents for each query (queries/query_offsets as in
  /// score_batch). out.scores / out.ids are [n_queries, out.k] row-major, padded with
  /// -inf / -1 when n_docs < k, ties to the smaller id. out.k >= 1. Parallel over
  /// queries and document blocks; results do not depend on num_threads.
  /// `filter` (util/doc_filter.hpp; words: filter_words(n_docs) u64, PRECONDITION): the
  /// exact top-k among the allowed documents only (padded when fewer than k are
  /// allowed); the default allows all. Cost O(allowed * ...) + O(n_docs / 64).
  void search(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
              std::size_t num_threads, TopKOut out, DocFilter filter = DocFilter()) const;
  /// The former name of search() (the multi-vector index calls it); the same call.
  void search_exact(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                    std::size_t num_threads, TopKOut out, DocFilter filter = DocFilter()) const {
    search(queries, query_offsets, n_queries, num_threads, out, filter);
  }

  // Serialization (aftershock format v1, object kind "MVST" when standalone).
  // Sections: "MVCF" u64[6] {layout_version, precision, dim, n_docs, total_tokens,
  // panel_tokens}; "MVOF" i64[n_docs+1] offsets; "MVDA" panel data (f32 / u16 / i8);
  // "MVSC" f32 per padded token scales (int8 only); residual precisions (res1/2/4) also
  // "MVCT" f32 [dim, n_centroids] centroids (transposed), "MVCD" u16 [n_panels * 16]
  // centroid codes per padded token, "MVCU" f32 [dim, 2^bits - 1] bucket cutoffs, "MVWT"
  // f32 [dim, 2^bits] bucket weights ("MVDA" then holds u8 bucket words,
  // residual_codec.hpp). Since the mappable load, also "MVNM" (the largest token norm,
  // float64 bits as u64[1]) and, int8, "MVBI" (the bias, int32 per padded token, as
  // bytes): derived data stored so that a mapped load need not read the panels; files
  // without them still load (a mapped load then derives them, reading the panels), and an
  // in-memory load or verify() recomputes them (and refuses stored copies that disagree).
  // Another object (e.g. an index) can embed a store by calling
  // save_sections on its own writer and load_sections on its reader; it must not use
  // these tags itself.
  static constexpr char kKind[4] = {'M', 'V', 'S', 'T'};
  /// Adds this store's sections to `writer` by reference: the store must outlive the
  /// writer's write()/to_bytes().
  void save_sections(io::FileWriter& writer) const;
  /// Rebuilds a store from the sections of a verified reader. Throws FormatError for
  /// missing/mis-sized sections or values that break the invariants (bad offsets, an
  /// unknown precision, non-finite values). On a mapped reader (io::FileReader::map_file)
  /// the token panels, codes, int8 scales and bias become views into the mapping, and only
  /// the metadata, offsets and codebook are read and checked; check_content() then runs the
  /// checks of their values the in-memory path makes (the caller checks the CRCs).
  static MultiVectorStore load_sections(const io::FileReader& reader);
  /// Of a store loaded from a mapped reader: every value and layout check the in-memory
  /// load makes on the mapped sections (stored values, codes < n_centroids, padding lanes
  /// and dimensions as the kernels need them, the int8 bias and the stored largest token
  /// norm equal to what they derive from). No CRC (io::FileReader::verify_all). Nothing to
  /// do for an owned store. Throws FormatError. O(store bytes).
  void check_content() const;
  /// Atomic write (io::FileWriter::write: a unique temporary, fsync, rename). Throws IoError.
  void save(const std::string& path) const;
  /// Reads and verifies every CRC (options.mmap: maps it, see LoadOptions). Throws
  /// FormatError (a damaged, truncated or foreign file: with mmap and no verify as far as
  /// checked at open), IoError, InvalidArgument (bad path; mmap where unsupported).
  /// O(file size) in memory or with verify; mapped without verify O(n_docs + codebook).
  static MultiVectorStore load(const std::string& path, const LoadOptions& options);
  static MultiVectorStore load(const std::string& path) { return load(path, LoadOptions()); }
  /// Checks every CRC and every value and layout invariant of a mapped store, as an
  /// in-memory load does (the whole file read once, advised sequential). Nothing to do for
  /// an owned store. Throws FormatError. Const and thread-safe.
  void verify() const;
  /// madvise of a mapped reader's store sections: MADV_RANDOM for the panels, codes,
  /// scales and bias (search and rerank read one candidate document at a time). For the
  /// loaders of objects embedding a store; a hint, never throws.
  static void advise_sections(const io::FileReader& reader);
  /// True when the store's large arrays are views into a mapped file.
  bool is_mapped() const { return data_.is_view(); }
  /// Bytes of the mapped file (0 unless mapped by this store's own load()).
  std::size_t mapped_bytes() const;
  /// Bytes of the mapped file resident in memory now (mincore); 0 unless mapped.
  std::size_t resident_bytes() const;
  /// The same bytes as save() writes (pickle).
  std::string to_bytes() const;
  static MultiVectorStore from_bytes(std::string bytes);

  /// Throws std::out_of_range naming `what` if any of ids[0..n) is >= n_docs.
  void check_ids(const DocId* ids, std::size_t n, const char* what) const;

 private:
  void score_range(const PreparedQuery& q, const DocId* ids, std::size_t n, float* out, float* scratch) const;
  void finish_layout();  // panel_start_, panel_bytes_, meta_ from offsets_ and the configuration
  void find_max_token_norm(std::size_t num_threads);  // max_token_norm_ from the stored panels
  double compute_max_token_norm(std::size_t num_threads) const;

  static constexpr std::uint64_t kLayoutVersion = 1;  // meta_[0]

  Precision precision_ = Precision::kFp32;
  std::size_t dim_ = 0;
  std::size_t n_docs_ = 0;
  std::size_t total_tokens_ = 0;
  std::size_t panel_bytes_ = 0;  // bytes of one panel of kPanelTokens tokens
  std::vector<std::int64_t> offsets_;
  std::vector<std::uint64_t> panel_start_;  // [n_docs + 1] first panel of each document
  PanelBuffer data_;                        // panels
  PanelBuffer scales_;                      // int8: float per padded token
  PanelBuffer bias_;                        // int8: int32 -128 * row sum per padded token
  std::vector<std::uint64_t> meta_;         // the MVCF section
  std::shared_ptr<const io::FileReader> reader_;  // the mapped file's reader (load with mmap), else null
  // Residual precisions (residual_codec.hpp).
  std::size_t n_centroids_ = 0;
  std::vector<float> centroids_t_;  // [dim, n_centroids] (gathers, the scalar decode)
  std::vector<float> centroids_;    // [n_centroids, dim] derived (the AVX2 decode reads rows)
  std::vector<float> cutoffs_;      // [dim, 2^bits - 1]
  std::vector<float> weights_;      // [dim, 2^bits]
  std::vector<float> table_;        // [dim, 16] derived from weights_
  PanelBuffer codes_;               // u16 per padded token
  // The residual codebook's view of the members above (store.cpp).
  maxsim::ResidualCodebook codebook() const;
  void build_residual(const float* vectors, const CodebookParams& codebook, std::size_t num_threads);
  static void load_residual(const io::FileReader& reader, MultiVectorStore& s);  // store_io.cpp
  // Float32 scratch for one kernel call: running max (m x P), row maxima (m), then (residual
  // precisions) the decode buffer of kResDecodePanels fp32 panels, 64-byte aligned.
  AlignedBuffer make_scratch(std::size_t m) const;
  double max_token_norm_ = 0.0;             // derived (build / in-memory load); stored in "MVNM"
};

}  // namespace aftershock::multivector
