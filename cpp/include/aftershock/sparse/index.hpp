// The learned-sparse (Seismic-style) index: statically pruned inverted lists, each split
// into blocks of similar documents with a quantized summary vector per block, plus a
// forward index for exact scoring. See cpp/src/sparse/README.md for the algorithm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aftershock/io/format.hpp"
#include "aftershock/progress.hpp"
#include "aftershock/sparse/config.hpp"
#include "aftershock/sparse/forward_index.hpp"
#include "aftershock/simd/level.hpp"
#include "aftershock/sparse/summaries.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/array.hpp"

namespace aftershock::sparse {

/// Validates a CSR batch: indptr[0] == 0, monotone, indptr[n] == nnz; indices strictly
/// increasing within a row and < dim; values finite and >= 0. `what` names the argument in
/// messages. O(nnz), parallel over rows. Throws InvalidArgument.
void validate_batch(const SparseBatchView& batch, const char* what, std::size_t num_threads);

/// Exact top-k by inner product, the ground truth for tests and benchmarks.
/// A document is a candidate when it shares a term with the query (both weights > 0);
/// rows with fewer candidates are padded with -inf / -1. Ties go to the smaller id.
/// Scores use the same dot kernel as SparseIndex with float32 values, so in the lossless
/// setting both return bit-identical scores. Validates both inputs; `k >= 1`.
/// O(nnz(docs)) to invert the documents, then per query the postings of its terms plus a
/// kernel dot product for each candidate that rounding leaves in reach of the top k
/// (see exact.cpp). Parallel over queries.
void exact_search(const SparseBatchView& docs, const SparseBatchView& queries, std::size_t k,
                  std::size_t num_threads, TopKOut out);

/// Optional restrictions of one search call (a segment of a living index: deleted or
/// filtered-out documents, and the score an earlier segment's results already reach).
/// Non-owning; the default restricts nothing and costs one predictable branch per document.
struct SearchFilter {
  /// Null (every document may be returned) or a bitset of allowed_words == ceil(n_docs / 64)
  /// words: bit (d & 63) of word d >> 6 set = document d may be returned. A cleared
  /// document is skipped before it is scored (no dot product), from the lists and from
  /// the kNN graph alike. Bits at or beyond n_docs are ignored. Read in place (the
  /// bindings pass an owned copy), as DocFilter (util/doc_filter.hpp) reads it.
  const std::uint64_t* allowed = nullptr;
  std::size_t allowed_words = 0;
  /// Null (no floor) or n_floors == n_queries score floors: query i returns only documents
  /// scoring >= floors[i] (-inf: no floor; NaN is refused). The floor is also the initial
  /// pruning threshold: blocks are cut at heap_factor * max(floor, k-th score) and the dot
  /// kernels stop early below max(floor, k-th score).
  const float* floors = nullptr;
  std::size_t n_floors = 0;
};

class SparseIndex {
 public:
  /// Builds from validated-on-entry CSR docs (see validate_batch). Doc ids are row
  /// numbers. Throws InvalidArgument for bad parameters or input. Uses num_threads.
  /// `progress` sees the stages "lists" and, with a kNN graph, "knn"; it may throw to abort.
  static SparseIndex build(const SparseBatchView& docs, const BuildParams& params,
                           const ProgressFn& progress = ProgressFn());

  /// Top-k for every row of `queries` (same dim as the index). out.k must be params.k.
  /// Const and thread-safe: concurrent searches are fine. Throws InvalidArgument.
  /// When `stats` is given it receives one SearchStats per query (n_rows entries).
  /// With `filter` (see SearchFilter): only allowed documents, scoring >= the query's
  /// floor, are returned. In the lossless setting (heap_factor 0, query_cut >= the query's
  /// terms, no list pruning) that is exactly the unfiltered top k restricted to them.
  /// Throws InvalidArgument (naming `allowed` or `floors`) for a wrong length or a NaN floor.
  void search(const SparseBatchView& queries, const SearchParams& params, TopKOut out,
              SearchStats* stats = nullptr, const SearchFilter& filter = SearchFilter()) const;

  /// Exact top-out.k of every query among the listed documents `docs[0, n_listed)`
  /// (strictly increasing ids < n_docs; otherwise InvalidArgument naming `docs`), further
  /// restricted by `filter` (allowed and floors as in search). A document is a candidate
  /// when it shares a term with the query (both weights > 0), as in exact_search; scores
  /// use the search's dot kernels on the forward index, so they equal a lossless search's
  /// bit for bit. Ties go to the smaller id; padded with -inf / -1. Queries are validated as
  /// in search; out.k >= 1. O(n_listed) row dot products per query (rows stop early once
  /// they cannot reach the k-th score). Parallel over queries; const and thread-safe.
  void search_subset(const SparseBatchView& queries, const DocId* docs, std::size_t n_listed, std::size_t num_threads,
                     TopKOut out, const SearchFilter& filter = SearchFilter()) const;

  /// (Re)builds the kNN graph: each document's `knn` nearest documents found by searching
  /// the index itself with the document as query (`params`, k = knn + 1, self excluded).
  /// Needs exclusive access. `progress` sees the stage "knn"; if it throws, the index is
  /// left without a graph.
  void build_knn(std::size_t knn, const SearchParams& params, const ProgressFn& progress = ProgressFn());

  void save(const std::string& path) const;
  std::string to_bytes() const;
  /// How load() reads a file (cpp/src/sparse/README.md, "Serving from disk").
  struct LoadOptions {
    /// Map the file (io::MappedFile) instead of reading it: the large arrays are views into
    /// the mapping, shared with every process mapping the same file. POSIX only
    /// (InvalidArgument elsewhere).
    bool mmap = false;
    /// Check every CRC and every structural invariant at load. Always done when reading into
    /// memory; with mmap, false defers it to verify() (see io/format.hpp, "What is checked
    /// when": the content of the large sections is then trusted).
    bool verify = true;
    /// With mmap: fault the whole file in now (MAP_POPULATE), so the first searches take no
    /// page faults. Without mmap it changes nothing (the file is read whole anyway); the
    /// binding refuses it there.
    bool populate = false;
  };
  /// Reads an index written by save(). Throws FormatError for a damaged, truncated or
  /// foreign file (a mapped load without verify: see LoadOptions), IoError when the file
  /// cannot be read, InvalidArgument for a bad path or mmap where unsupported. O(file size)
  /// in memory or with verify; mapped without verify O(dim + pages + summary entries / 64).
  static SparseIndex load(const std::string& path, const LoadOptions& options);
  static SparseIndex load(const std::string& path) { return load(path, LoadOptions()); }
  static SparseIndex from_bytes(std::string bytes);

  /// Checks every CRC and every structural invariant, as an in-memory load does: O(file
  /// size), reading the whole mapping once. Cheap (nothing to do) for an index verified at
  /// load or built in memory. Throws FormatError. Const and thread-safe.
  void verify() const;
  /// True when the large arrays are views into a mapped file.
  bool is_mapped() const { return mapping_ != nullptr; }
  /// Of a mapped index: the file's size, and the bytes of it resident in memory now
  /// (mincore; pages other processes faulted in count too). Zeros when not mapped.
  std::size_t mapped_bytes() const;
  std::size_t resident_bytes() const;

  std::size_t n_docs() const { return n_docs_; }
  std::size_t dim() const { return dim_; }
  std::size_t knn() const { return knn_; }
  std::size_t n_postings_total() const { return post_rows_.size(); }
  std::size_t n_blocks_total() const { return block_scale_.size(); }
  std::size_t n_summary_entries() const { return summaries_.n_entries(); }
  /// Bytes of each component, and in all (in memory or, when mapped, in the mapping; the
  /// derived summary ranks and the per-term offsets are in memory either way).
  struct ComponentBytes {
    std::size_t forward_index = 0;  // document rows (terms and weights)
    std::size_t postings = 0;       // pruned lists: row handles and list offsets
    std::size_t blocks = 0;         // block offsets and summary scales
    std::size_t summaries = 0;      // quantized block summaries
    std::size_t knn_graph = 0;
  };
  ComponentBytes component_bytes() const;
  std::size_t size_bytes() const;
  const BuildParams& build_params() const { return params_; }

  /// The documents of each block of term t's list, after pruning and blocking, in stored
  /// order. For tests of invariants.
  std::vector<std::vector<DocId>> blocks_of(TermId t) const;
  /// Dequantized summary of block b of term t as (term, value) pairs.
  std::vector<std::pair<TermId, float>> summary_of(TermId t, std::size_t b) const;
  /// Summary score of every block of term t's list for a query given as strictly ascending
  /// terms with positive weights, computed with the kernels of `level`: what search compares
  /// with heap_factor × the k-th score. For tests and diagnostics. Throws InvalidArgument.
  std::vector<float> block_scores(TermId t, const std::vector<TermId>& terms, const std::vector<float>& weights,
                                  simd::Level level) const;
  /// The document as stored in the forward index (values after quantization).
  std::vector<std::pair<TermId, float>> document(DocId d) const;
  /// Entries stored in the forward index over all documents (the nnz of documents()). O(n_docs).
  std::size_t n_stored_entries() const;
  /// Every stored document as CSR, in document order: indptr [n_docs + 1] (int64),
  /// indices and values [n_stored_entries()], terms ascending within a row, values as
  /// stored (fp16 widened to float32) -- document(d) for every d, in bulk.
  /// PRECONDITION: the buffers hold that many entries. O(nnz log(row length)), parallel
  /// over documents.
  void documents(std::int64_t* indptr, TermId* indices, float* values, std::size_t num_threads) const;

 private:
  /// search() without its checks, for internal callers (build_knn). PRECONDITIONs in
  /// search.cpp.
  void search_unchecked(const SparseBatchView& queries, const SearchParams& params, TopKOut out,
                        SearchStats* stats = nullptr, const SearchFilter& filter = SearchFilter()) const;
  // Throws InvalidArgument unless `filter` fits this index and n_queries queries.
  void check_filter(const SearchFilter& filter, std::size_t n_queries) const;
  void write(io::FileWriter& w, std::string& conf_text) const;
  static SparseIndex read(const io::FileReader& r, bool full_check);
  // After load: every offset and id in range; rows heaviest first unless the file predates it.
  // Without `full`, only what a mapped load checks: sizes and the per-term offsets.
  void check_invariants(bool heaviest_first_rows, bool full) const;
  // madvise hints for the mapped sections.
  static void advise(const io::FileReader& r);

  BuildParams params_;
  std::size_t n_docs_ = 0;
  std::size_t dim_ = 0;

  ForwardIndex fwd_;

  // Inverted lists: list t holds postings [list_post_begin_[t], list_post_begin_[t+1])
  // and blocks [list_block_begin_[t], list_block_begin_[t+1]); block j's postings start
  // at list_post_begin_[t] + block_post_begin_[j] (relative), ending where the next
  // block of the list starts (or at the list end). A posting is its document's row.
  // list_*_begin_ (dim + 1) are always read into memory; the rest may be mapped views.
  Array<std::uint64_t> list_post_begin_;
  Array<std::uint64_t> list_block_begin_;
  Array<RowHandle> post_rows_;
  Array<std::uint32_t> block_post_begin_;
  Array<float> block_scale_;  // summary value = code * scale

  BlockSummaries summaries_;  // the blocks' summaries, inverted by term

  // kNN graph: knn_ neighbours per doc, row-major [n_docs, knn_].
  std::size_t knn_ = 0;
  Array<DocId> knn_graph_;

  // A mapped index: its reader (section table, for verify()) and the mapping; else null.
  std::shared_ptr<const io::FileReader> mapped_reader_;
  std::shared_ptr<const io::MappedFile> mapping_;
  bool layout_term_order_ = false;  // the file predates heaviest-first rows (layout 4)
  bool verified_ = true;            // every CRC and invariant checked (false: mapped without verify)

  friend struct IndexBuilder;
  friend struct Searcher;
};

}  // namespace aftershock::sparse
