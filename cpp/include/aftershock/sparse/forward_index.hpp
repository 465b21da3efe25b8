// The forward index of the sparse engine: every document's (term, weight) row, stored back
// to back in one 8-byte-aligned array. A posting names its document by the position of its
// row (a handle, in 8-byte words), so scoring a document reads one contiguous region and
// needs no lookup through a per-document offset table first: that dependent random load
// cost more than the dot product itself (cpp/src/sparse/README.md has the measurement).
//
// Row layout at word `handle`: u32 doc id, u32 length n, n term ids (u16 when the
// vocabulary has at most 65,536 terms, else u32), zero padding to the value size, n values
// (IEEE half or float32), zero padding to 8 bytes. Entries are stored heaviest weight first
// (ties by their order in the input row), so scoring can stop once the rest of a row cannot
// lift a document into the top k (the dot kernels' early stop, cpp/src/sparse/kernels.hpp).
// Rows may be stored in any document order (the sparse build groups documents by their
// heaviest terms); handles_ maps a document to its row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/sparse/config.hpp"
#include "aftershock/util/array.hpp"
#include "aftershock/types.hpp"

namespace aftershock::sparse {

using RowHandle = std::uint32_t;

class ForwardIndex {
 public:
  /// Largest forward index: handles are u32 counts of 8-byte words (32 GiB).
  static constexpr std::uint64_t kMaxWords = std::uint64_t{1} << 32;

  struct Row {
    DocId doc;
    std::size_t n;
    const void* terms;   // u16 or u32 [n]
    const void* values;  // IEEE half bits or float32 [n]
  };

  ForwardIndex() = default;

  /// The rows of validated CSR docs. Throws InvalidArgument when the rows exceed kMaxWords,
  /// or (fp16) when a weight is at or above 65520, which float16 cannot hold. Parallel.
  /// Rows are laid out in `order` (a permutation of the documents), or by id when it is empty.
  static ForwardIndex build(const SparseBatchView& docs, Precision precision, std::size_t num_threads,
                            const std::vector<DocId>& order = {});

  /// Reassembles a loaded index; check() must pass before any other use.
  /// The arrays may be views into a mapped file.
  static ForwardIndex from_parts(bool wide_terms, Precision precision, Array<std::uint64_t> words,
                                 Array<RowHandle> handles);
  /// The O(1) part of check(): row count, term width and size. What a mapped load checks
  /// without verify (the rows themselves are trusted until verify()).
  std::string check_sizes(std::size_t n_docs, std::size_t dim) const;
  /// Verifies the layout against n_docs and dim (every row in place, ids and weights valid,
  /// and, when `heaviest_first`, every row's weights non-increasing); returns an error
  /// message, or an empty string when the rows are sound.
  std::string check(std::size_t n_docs, std::size_t dim, bool heaviest_first = true) const;
  /// Reorders every row's entries heaviest weight first (ties by position): rows of files
  /// written before that order (layout 4) are brought to it on load. Checked rows only.
  /// Rows viewed in a mapped file are copied into memory first.
  void sort_rows_heaviest_first(std::size_t num_threads);
  /// One bit per word of the rows, set where a row starts (checked rows only): loaded
  /// postings are validated against it. A bitmap of 1/64 the rows' size stays in cache,
  /// where looking each posting's header up would miss on every one.
  std::vector<std::uint64_t> row_starts() const {
    std::vector<std::uint64_t> bits((words_.size() + 63) / 64, 0);
    for (RowHandle h : handles_) bits[h >> 6] |= std::uint64_t{1} << (h & 63);
    return bits;
  }

  Row row(RowHandle h) const {
    const auto* base = reinterpret_cast<const unsigned char*>(words_.data() + h);
    std::uint32_t head[2];
    std::memcpy(head, base, sizeof(head));
    const std::size_t n = head[1];
    return {head[0], n, base + kHeaderBytes, base + kHeaderBytes + values_at(n)};
  }
  /// Entry i of row r as (term, weight), the weight widened to float32.
  std::pair<TermId, float> entry(const Row& r, std::size_t i) const;
  DocId doc(RowHandle h) const { return header_doc(h); }
  RowHandle handle(DocId d) const { return handles_[d]; }
  /// First byte of row h and its size, for prefetching.
  const void* row_begin(RowHandle h) const { return words_.data() + h; }
  std::size_t row_bytes(std::size_t n) const { return (kHeaderBytes + values_at(n) + n * value_bytes() + 7) / 8 * 8; }

  bool wide_terms() const { return wide_terms_; }
  Precision precision() const { return precision_; }
  std::size_t term_bytes() const { return wide_terms_ ? 4 : 2; }
  std::size_t value_bytes() const { return precision_ == Precision::kFp16 ? 2 : 4; }
  const Array<std::uint64_t>& words() const { return words_; }
  const Array<RowHandle>& handles() const { return handles_; }
  std::size_t size_bytes() const { return words_.size() * 8 + handles_.size() * sizeof(RowHandle); }

 private:
  static constexpr std::size_t kHeaderBytes = 8;

  // Byte offset of the values after the header: terms, padded to the value size.
  std::size_t values_at(std::size_t n) const {
    const std::size_t vb = value_bytes();
    return (n * term_bytes() + vb - 1) / vb * vb;
  }
  DocId header_doc(RowHandle h) const {
    DocId d;
    std::memcpy(&d, words_.data() + h, sizeof(d));
    return d;
  }

  bool wide_terms_ = false;
  Precision precision_ = Precision::kFp16;
  Array<std::uint64_t> words_;  // the rows
  Array<RowHandle> handles_;    // doc id -> its row
};

}  // namespace aftershock::sparse
