// The block summaries of every inverted list, stored inverted by term so that a query reads
// only the summary components it shares with them.
//
// A list's blocks are cut into pages of 256. For each page and each term u present in the
// summary of any of its blocks there is one *run*: the entries (low byte of the block,
// 8-bit code) of u in that page, blocks ascending. All runs sit back to back in one entry
// array (2 bytes an entry), ordered by list, page, term. Two small structures find a run
// without any per-run offset, count or term id:
//  * a directory per page maps a term to its rank among the page's runs: a bitmap over
//    the vocabulary with rank samples when that is smaller, else the sorted term ids;
//  * one bit per entry marks the first entry of each run, and the start of every 64th run
//    is sampled, so a run is found from its global ordinal with a sample and a few popcounts.
// Ranks and samples are derived data; since the mapped load they are stored too (SRNK,
// SSMP), so a mapped open need not read the run bits and bitmaps; a full check rederives
// them and compares.
// cpp/src/sparse/README.md gives the measurements that chose this layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/io/format.hpp"
#include "aftershock/types.hpp"
#include "aftershock/util/array.hpp"

namespace aftershock::sparse {

// Internal kernel types (cpp/src/sparse/kernels.hpp).
struct SparseKernels;
struct SummaryPageView;

class BlockSummaries {
 public:
  static constexpr std::size_t kPageBlocks = 256;

  /// One summary entry while a list is being built: `code` (1..255) times the block's scale
  /// bounds the block's weights for `term`.
  struct Entry {
    TermId term;
    std::uint32_t block;
    std::uint8_t code;
  };

  /// One list's summaries in their final form, made by a build worker and appended in
  /// list order. Bits of `run_starts` count from the list's first entry.
  struct ListPart {
    std::vector<std::uint64_t> page_runs;  // runs (distinct terms) of each page
    std::vector<std::uint64_t> bitmaps;
    std::vector<std::uint16_t> terms16;
    std::vector<std::uint32_t> terms32;
    std::vector<std::uint64_t> run_starts;
    std::vector<std::uint8_t> entry_block;
    std::vector<std::uint8_t> entry_code;
  };

  BlockSummaries() = default;
  explicit BlockSummaries(std::size_t dim) : dim_(dim), wide_terms_(dim > 65536) {}

  /// The part of a list with n_blocks blocks from its entries, which must be in block order
  /// with one entry per (term, block). `pos` is scratch of size dim filled with -1 (left so).
  ListPart make_part(const std::vector<Entry>& entries, std::size_t n_blocks, std::vector<std::int32_t>& pos,
                     std::vector<TermId>& touched) const;
  /// Reserves room for these parts, so appending them never reallocates (a reallocation of
  /// the entries would briefly hold them twice).
  void reserve(const std::vector<const ListPart*>& parts);
  /// Appends the next list's part (lists in order, empty ones too).
  void append(const ListPart& part);
  /// After the last append, with the lists' block offsets (list t has
  /// list_block_begin[t + 1] - list_block_begin[t] blocks): verifies the parts and derives
  /// the ranks and samples search needs.
  void finish(const Array<std::uint64_t>& list_block_begin);

  /// Adds every summary score of list t's blocks for the query to bound[0, n_blocks):
  /// bound[b] += sum over the query's terms u of weight(u) * code(u, b). `terms` ascending,
  /// weights > 0.
  void accumulate(const SparseKernels& kern, TermId t, const TermId* terms, const float* weights, std::size_t n,
                  float* bound) const;

  /// Summary of block b of list t as (term, code) pairs, terms ascending.
  std::vector<std::pair<TermId, std::uint8_t>> block(TermId t, std::size_t b) const;

  std::size_t n_entries() const { return entry_block_.size(); }
  std::size_t n_runs() const { return page_run_begin_.empty() ? 0 : page_run_begin_.back(); }
  /// Bytes in all: mapped_bytes() + heap_bytes().
  std::size_t size_bytes() const;
  /// Bytes viewed in a mapped file (0 when in memory).
  std::size_t mapped_bytes() const;
  /// Bytes held in memory: every owned array, and the derived ranks and samples.
  std::size_t heap_bytes() const;

  void write(io::FileWriter& w) const;
  /// Reads the sections of a file (views when it is mapped) and verifies them against the
  /// lists' block offsets (list t has list_block_begin[t + 1] - list_block_begin[t]
  /// blocks); throws FormatError. Without `full_check` (a mapped load without verify) only
  /// the page table is read (O(pages)) and the stored rank and run samples (SRNK, SSMP)
  /// are used as they are; a file without them (written before) has them derived, which
  /// reads the run bits and bitmap directories (O(n_entries / 64 + bitmap words)). The
  /// rest is trusted until verify(). With full_check, stored samples must equal derived ones.
  static BlockSummaries read(const io::FileReader& r, std::size_t dim, const Array<std::uint64_t>& list_block_begin,
                             bool full_check = true);
  /// The full check of read() on the loaded arrays; FormatError. Const and thread-safe
  /// (works on a copy of the derived data).
  void verify(const Array<std::uint64_t>& list_block_begin) const;
  /// madvise hints for the mapped sections (random access).
  static void advise(const io::FileReader& r);

 private:
  static constexpr std::size_t kRunSampleStride = 64;
  static constexpr std::size_t kRankGroup = 4;  // bitmap words per rank sample

  std::size_t bitmap_words() const { return (dim_ + 63) / 64; }
  std::size_t rank_samples() const { return (bitmap_words() + kRankGroup - 1) / kRankGroup; }
  // A page's directory is a bitmap when that takes fewer bytes than its sorted term ids.
  bool uses_bitmap(std::size_t n_runs) const {
    return bitmap_words() * 8 + rank_samples() * 4 < n_runs * (wide_terms_ ? 4 : 2);
  }
  // Error message, empty when sound; derives list_page_begin_, page_dir_, ranks and samples.
  // kFull: every check, samples derived. kDerive: a mapped load without verify of a file
  // without stored samples: derives them (reads SBMP and SRUN), skips the entry checks.
  // kStored: a mapped load without verify of a file with stored samples (already set):
  // only the page table and sizes.
  enum class CheckMode { kFull, kDerive, kStored };
  std::string check(const Array<std::uint64_t>& list_block_begin, CheckMode mode);
  // Empty when the given samples equal the derived ones (after a kFull check).
  std::string same_samples(const Array<std::uint32_t>& ranks, const Array<std::uint64_t>& samples) const;
  SummaryPageView page_view(std::size_t page) const;

  std::size_t dim_ = 0;
  bool wide_terms_ = false;

  // Stored (views into the file when it is mapped, except the page table, always read).
  Array<std::uint64_t> page_run_begin_;  // global ordinal of each page's first run; n_pages + 1
  Array<std::uint64_t> bitmaps_;         // bitmap directories, bitmap_words() each
  Array<std::uint16_t> terms16_;         // sorted-id directories (u32 when dim > 65536)
  Array<std::uint32_t> terms32_;
  Array<std::uint64_t> run_starts_;      // bit e: entry e starts a run; a set bit after the last
  Array<std::uint8_t> entry_block_;
  Array<std::uint8_t> entry_code_;

  // The stored arrays while a build appends list parts; moved into them by finish().
  struct Staging {
    std::vector<std::uint64_t> page_run_begin, bitmaps, run_starts;
    std::vector<std::uint16_t> terms16;
    std::vector<std::uint32_t> terms32;
    std::vector<std::uint8_t> entry_block, entry_code;
  };
  Staging staging_;

  // Derived (by finish() or a load).
  std::vector<std::uint64_t> list_page_begin_;  // pages of list t; dim + 1
  std::vector<std::uint64_t> page_dir_;         // first bitmap word or term id of each page's directory
  // Derived, and stored since the mapped load (SRNK, SSMP; views when mapped).
  Array<std::uint32_t> bitmap_ranks_;  // runs before each group of kRankGroup bitmap words
  Array<std::uint64_t> run_samples_;   // first entry of every kRunSampleStride-th run
};

}  // namespace aftershock::sparse
