// Block summaries inverted by term: building a list's part, appending parts, the derived
// ranks and samples, the scan entry point, serialization and load-time verification.
#include "aftershock/sparse/summaries.hpp"

#include <algorithm>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "aftershock/error.hpp"
#include "kernels.hpp"
#include "aftershock/util/huge_pages.hpp"

namespace aftershock::sparse {
namespace {

template <class Bits>
bool test_bit(const Bits& bits, std::uint64_t i) { return (bits[i >> 6] >> (i & 63)) & 1; }

// Bit j set where block[j] <= block[j - 1], for the 64 entries from `block` (block[-1] readable).
std::uint64_t not_ascending_64(const std::uint8_t* block) {
  std::uint64_t mask = 0;
#if defined(__SSE2__)
  // SSE2 is part of x86-64 itself: no dispatch needed. a <= b (unsigned) iff max(a, b) == b.
  for (int k = 0; k < 4; ++k) {
    const __m128i cur = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * k));
    const __m128i prev = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * k - 1));
    const auto bits = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(cur, prev), prev)));
    mask |= std::uint64_t{bits} << (16 * k);
  }
#else
  for (int j = 0; j < 64; ++j) mask |= std::uint64_t{block[j] <= block[j - 1]} << j;
#endif
  return mask;
}

// Within every run (a run starts at each set bit of run_starts), blocks ascend strictly.
// The 1M-document index has 1.7 billion entries: 64 at a time, this check is no longer
// a visible part of loading.
bool blocks_ascend_within_runs(const Array<std::uint8_t>& block, const Array<std::uint64_t>& run_starts) {
  const std::uint64_t n = block.size();
  std::uint64_t bad = 0;
  std::uint64_t e = 1;
  for (; e < 64 && e < n; ++e) bad |= ~(run_starts[0] >> e) & std::uint64_t{block[e] <= block[e - 1]};
  for (; e + 64 <= n; e += 64) bad |= not_ascending_64(block.data() + e) & ~run_starts[e >> 6];  // e % 64 == 0
  for (; e < n; ++e) bad |= ~(run_starts[e >> 6] >> (e & 63)) & std::uint64_t{block[e] <= block[e - 1]} & 1;
  return bad == 0;
}

void set_bit(std::vector<std::uint64_t>& bits, std::uint64_t i) { bits[i >> 6] |= std::uint64_t{1} << (i & 63); }

// Position of the ranks[i]-th set bit (counting from 0) for every i, ranks ascending and
// each below the number of set bits: one pass over the words.
std::vector<std::uint64_t> select_ranks(const Array<std::uint64_t>& bits, const Array<std::uint64_t>& ranks) {
  std::vector<std::uint64_t> out;
  reserve_on_huge_pages(out, ranks.size());  // run samples: read for every run a query looks up
  std::uint64_t seen = 0;
  for (std::size_t w = 0; w < bits.size() && out.size() < ranks.size(); ++w) {
    const auto c = static_cast<std::uint64_t>(__builtin_popcountll(bits[w]));
    while (out.size() < ranks.size() && ranks[out.size()] < seen + c) {
      std::uint64_t x = bits[w];
      for (std::uint64_t k = ranks[out.size()] - seen; k > 0; --k) x &= x - 1;
      out.push_back(w * 64 + static_cast<std::uint64_t>(__builtin_ctzll(x)));
    }
    seen += c;
  }
  return out;
}

// dst holds n_dst bits; appends the first n_src bits of src.
void append_bits(std::vector<std::uint64_t>& dst, std::uint64_t n_dst, const std::vector<std::uint64_t>& src,
                 std::uint64_t n_src) {
  dst.resize((n_dst + n_src + 63) / 64, 0);
  const std::uint64_t shift = n_dst & 63, w0 = n_dst >> 6;
  for (std::uint64_t i = 0; i < (n_src + 63) / 64; ++i) {
    dst[w0 + i] |= src[i] << shift;
    if (shift && w0 + i + 1 < dst.size()) dst[w0 + i + 1] |= src[i] >> (64 - shift);
  }
}

}  // namespace

BlockSummaries::ListPart BlockSummaries::make_part(const std::vector<Entry>& entries, std::size_t n_blocks,
                                                   std::vector<std::int32_t>& pos, std::vector<TermId>& touched) const {
  // The counting sort below keeps entry offsets in the int32 scratch.
  if (entries.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw InvalidArgument("docs: one inverted list's summaries exceed 2^31 entries; lower n_postings or centroid_fraction");
  ListPart part;
  part.entry_block.resize(entries.size());
  part.entry_code.resize(entries.size());
  part.run_starts.assign((entries.size() + 63) / 64, 0);
  std::size_t e0 = 0;
  for (std::size_t page = 0; page * kPageBlocks < n_blocks; ++page) {
    // Entries are in block order, so a page is a contiguous range; a stable counting sort
    // by term puts it in (term, block) order.
    std::size_t e1 = e0;
    while (e1 < entries.size() && entries[e1].block < (page + 1) * kPageBlocks) ++e1;
    touched.clear();
    for (std::size_t e = e0; e < e1; ++e) {
      const TermId u = entries[e].term;
      if (pos[u] < 0) {
        pos[u] = 0;
        touched.push_back(u);
      }
      ++pos[u];
    }
    std::sort(touched.begin(), touched.end());
    std::size_t cursor = e0;
    for (TermId u : touched) {
      set_bit(part.run_starts, cursor);
      const auto count = static_cast<std::size_t>(pos[u]);
      pos[u] = static_cast<std::int32_t>(cursor);
      cursor += count;
    }
    for (std::size_t e = e0; e < e1; ++e) {
      const auto slot = static_cast<std::size_t>(pos[entries[e].term]++);
      part.entry_block[slot] = static_cast<std::uint8_t>(entries[e].block % kPageBlocks);
      part.entry_code[slot] = entries[e].code;
    }
    part.page_runs.push_back(touched.size());
    if (uses_bitmap(touched.size())) {
      const std::size_t base = part.bitmaps.size();
      part.bitmaps.resize(base + bitmap_words(), 0);
      for (TermId u : touched) part.bitmaps[base + u / 64] |= std::uint64_t{1} << (u % 64);
    } else if (wide_terms_) {
      part.terms32.insert(part.terms32.end(), touched.begin(), touched.end());
    } else {
      for (TermId u : touched) part.terms16.push_back(static_cast<std::uint16_t>(u));
    }
    for (TermId u : touched) pos[u] = -1;
    e0 = e1;
  }
  part.page_runs.shrink_to_fit();
  part.bitmaps.shrink_to_fit();
  part.terms16.shrink_to_fit();
  part.terms32.shrink_to_fit();
  return part;
}

void BlockSummaries::reserve(const std::vector<const ListPart*>& parts) {
  std::size_t pages = 1, bitmap_words = 0, ids16 = 0, ids32 = 0, entries = 0;
  for (const ListPart* part : parts) {
    pages += part->page_runs.size();
    bitmap_words += part->bitmaps.size();
    ids16 += part->terms16.size();
    ids32 += part->terms32.size();
    entries += part->entry_block.size();
  }
  staging_.page_run_begin.reserve(pages);
  reserve_on_huge_pages(staging_.bitmaps, bitmap_words);
  reserve_on_huge_pages(staging_.terms16, ids16);
  reserve_on_huge_pages(staging_.terms32, ids32);
  reserve_on_huge_pages(staging_.run_starts, (entries + 1 + 63) / 64);
  reserve_on_huge_pages(staging_.entry_block, entries);
  reserve_on_huge_pages(staging_.entry_code, entries);
}

void BlockSummaries::append(const ListPart& part) {
  if (staging_.page_run_begin.empty()) staging_.page_run_begin.push_back(0);
  for (std::uint64_t runs : part.page_runs) staging_.page_run_begin.push_back(staging_.page_run_begin.back() + runs);
  staging_.bitmaps.insert(staging_.bitmaps.end(), part.bitmaps.begin(), part.bitmaps.end());
  staging_.terms16.insert(staging_.terms16.end(), part.terms16.begin(), part.terms16.end());
  staging_.terms32.insert(staging_.terms32.end(), part.terms32.begin(), part.terms32.end());
  append_bits(staging_.run_starts, staging_.entry_block.size(), part.run_starts, part.entry_block.size());
  staging_.entry_block.insert(staging_.entry_block.end(), part.entry_block.begin(), part.entry_block.end());
  staging_.entry_code.insert(staging_.entry_code.end(), part.entry_code.begin(), part.entry_code.end());
}

void BlockSummaries::finish(const Array<std::uint64_t>& list_block_begin) {
  if (staging_.page_run_begin.empty()) staging_.page_run_begin.push_back(0);
  append_bits(staging_.run_starts, staging_.entry_block.size(), std::vector<std::uint64_t>{1}, 1);  // the sentinel
  page_run_begin_ = std::move(staging_.page_run_begin);
  bitmaps_ = std::move(staging_.bitmaps);
  terms16_ = std::move(staging_.terms16);
  terms32_ = std::move(staging_.terms32);
  run_starts_ = std::move(staging_.run_starts);
  entry_block_ = std::move(staging_.entry_block);
  entry_code_ = std::move(staging_.entry_code);
  staging_ = Staging();
  if (const std::string why = check(list_block_begin, CheckMode::kFull); !why.empty())
    throw std::logic_error("internal: summaries " + why);
}

void BlockSummaries::accumulate(const SparseKernels& kern, TermId t, const TermId* terms, const float* weights,
                                std::size_t n, float* bound) const {
  for (std::uint64_t page = list_page_begin_[t]; page < list_page_begin_[t + 1]; ++page)
    kern.accumulate_summary_page(page_view(page), terms, weights, n,
                                 bound + kPageBlocks * (page - list_page_begin_[t]));
}

SummaryPageView BlockSummaries::page_view(std::size_t page) const {
  SummaryPageView v{};
  v.n_runs = page_run_begin_[page + 1] - page_run_begin_[page];
  v.first_run = page_run_begin_[page];
  if (uses_bitmap(v.n_runs)) {
    v.bitmap = bitmaps_.data() + page_dir_[page];
    v.ranks = bitmap_ranks_.data() + page_dir_[page] / bitmap_words() * rank_samples();
  } else if (wide_terms_) {
    v.terms32 = terms32_.data() + page_dir_[page];
  } else {
    v.terms16 = terms16_.data() + page_dir_[page];
  }
  v.run_starts = run_starts_.data();
  v.run_samples = run_samples_.data();
  v.entry_block = entry_block_.data();
  v.entry_code = entry_code_.data();
  return v;
}

std::vector<std::pair<TermId, std::uint8_t>> BlockSummaries::block(TermId t, std::size_t b) const {
  const std::size_t page = list_page_begin_[t] + b / kPageBlocks;
  const SummaryPageView v = page_view(page);
  std::vector<TermId> ids;
  if (v.bitmap) {
    for (std::size_t w = 0; w < bitmap_words(); ++w)
      for (std::uint64_t x = v.bitmap[w]; x; x &= x - 1) ids.push_back(static_cast<TermId>(w * 64 + __builtin_ctzll(x)));
  } else {
    for (std::size_t r = 0; r < v.n_runs; ++r) ids.push_back(v.terms32 ? v.terms32[r] : v.terms16[r]);
  }
  std::vector<std::pair<TermId, std::uint8_t>> out;
  std::uint64_t e = v.first_run / kRunSampleStride < run_samples_.size() ? run_samples_[v.first_run / kRunSampleStride] : 0;
  for (std::uint64_t g = v.first_run / kRunSampleStride * kRunSampleStride; g < v.first_run; ++g)
    do ++e; while (!test_bit(run_starts_, e));
  for (std::size_t r = 0; r < v.n_runs; ++r) {
    do {
      if (entry_block_[e] == b % kPageBlocks) out.emplace_back(ids[r], entry_code_[e]);
      ++e;
    } while (!test_bit(run_starts_, e));
  }
  return out;
}

std::size_t BlockSummaries::size_bytes() const { return mapped_bytes() + heap_bytes(); }

std::size_t BlockSummaries::mapped_bytes() const {
  std::size_t n = 0;
  auto add = [&](const auto& a) { n += a.is_view() ? a.size_bytes() : 0; };
  add(bitmaps_), add(terms16_), add(terms32_), add(run_starts_), add(entry_block_), add(entry_code_);
  add(bitmap_ranks_), add(run_samples_);
  return n;
}

std::size_t BlockSummaries::heap_bytes() const {
  auto bytes = [](const auto& v) { return v.size() * sizeof(v[0]); };
  std::size_t n = bytes(page_run_begin_) + bytes(list_page_begin_) + bytes(page_dir_);
  auto add = [&](const auto& a) { n += a.is_view() ? 0 : a.size_bytes(); };
  add(bitmaps_), add(terms16_), add(terms32_), add(run_starts_), add(entry_block_), add(entry_code_);
  add(bitmap_ranks_), add(run_samples_);
  return n;
}

void BlockSummaries::advise(const io::FileReader& r) {
  // Read per (list, query term) run: random, a few cache lines at a time.
  for (const char* tag : {"SBMP", "ST16", "ST32", "SRUN", "EBLK", "ECOD", "SRNK", "SSMP"})
    r.advise(tag, io::Advice::kRandom);
}

void BlockSummaries::write(io::FileWriter& w) const {
  w.add_array("SPGR", page_run_begin_);
  w.add_array("SBMP", bitmaps_);
  w.add_array("ST16", terms16_);
  w.add_array("ST32", terms32_);
  w.add_array("SRUN", run_starts_);
  w.add_array("EBLK", entry_block_);
  w.add_array("ECOD", entry_code_);
  // Derived, but stored so that a mapped load need not read SBMP and SRUN whole.
  w.add_array("SRNK", bitmap_ranks_);
  w.add_array("SSMP", run_samples_);
}

BlockSummaries BlockSummaries::read(const io::FileReader& r, std::size_t dim, const Array<std::uint64_t>& list_block_begin,
                                    bool full_check) {
  BlockSummaries s(dim);
  s.page_run_begin_ = r.read_vector<std::uint64_t>("SPGR");  // per page: read and CRC-checked even when mapped
  s.bitmaps_ = r.view<std::uint64_t>("SBMP");
  s.terms16_ = r.view<std::uint16_t>("ST16");
  s.terms32_ = r.view<std::uint32_t>("ST32");
  s.run_starts_ = r.view<std::uint64_t>("SRUN");
  s.entry_block_ = r.view<std::uint8_t>("EBLK");
  s.entry_code_ = r.view<std::uint8_t>("ECOD");
  // Files since the mapped load store the rank and run samples (SRNK, SSMP); earlier ones
  // do not, and theirs are derived, which reads SBMP and SRUN whole.
  const bool stored = r.has("SRNK") && r.has("SSMP");
  CheckMode mode = full_check ? CheckMode::kFull : CheckMode::kDerive;
  if (stored && !full_check) {
    s.bitmap_ranks_ = r.view<std::uint32_t>("SRNK");
    s.run_samples_ = r.view<std::uint64_t>("SSMP");
    mode = CheckMode::kStored;
  }
  if (const std::string why = s.check(list_block_begin, mode); !why.empty())
    throw FormatError("aftershock file: sparse index summaries " + why);
  if (stored && full_check) {  // derived anew: the stored copies must agree
    if (const std::string why = s.same_samples(r.view<std::uint32_t>("SRNK"), r.view<std::uint64_t>("SSMP"));
        !why.empty())
      throw FormatError("aftershock file: sparse index summaries " + why);
  }
  return s;
}

std::string BlockSummaries::same_samples(const Array<std::uint32_t>& ranks, const Array<std::uint64_t>& samples) const {
  if (!std::equal(ranks.begin(), ranks.end(), bitmap_ranks_.begin(), bitmap_ranks_.end()) ||
      !std::equal(samples.begin(), samples.end(), run_samples_.begin(), run_samples_.end()))
    return "stored rank or run samples disagree with the directories";
  return "";
}

void BlockSummaries::verify(const Array<std::uint64_t>& list_block_begin) const {
  BlockSummaries derived = *this;  // check() rederives: on a copy (const, thread-safe)
  std::string why = derived.check(list_block_begin, CheckMode::kFull);
  if (why.empty()) why = derived.same_samples(bitmap_ranks_, run_samples_);
  if (!why.empty()) throw FormatError("aftershock file: sparse index summaries " + why);
}

// Verifies every stored structure against the others and derives page_dir_, the ranks and
// the samples. Runs on every load, so it must reject anything search could misread:
// afterwards every run lies inside the entries, names blocks of its own page, and every
// directory lookup stays inside its bitmap or id range.
std::string BlockSummaries::check(const Array<std::uint64_t>& list_block_begin, CheckMode mode) {
  const bool full = mode == CheckMode::kFull;
  const bool derive = mode != CheckMode::kStored;  // else bitmap_ranks_ and run_samples_ hold the stored ones
  list_page_begin_.assign(dim_ + 1, 0);
  for (std::size_t t = 0; t < dim_; ++t) {
    const std::uint64_t nb = list_block_begin[t + 1] - list_block_begin[t];  // the caller checked the offsets
    list_page_begin_[t + 1] = list_page_begin_[t] + (nb + kPageBlocks - 1) / kPageBlocks;
  }
  const std::size_t n_pages = list_page_begin_.back();
  if (page_run_begin_.size() != n_pages + 1 || page_run_begin_[0] != 0) return "page offsets are inconsistent";
  for (std::size_t p = 0; p < n_pages; ++p)
    if (page_run_begin_[p + 1] < page_run_begin_[p]) return "page offsets are not monotone";
  const std::uint64_t n_entries = entry_block_.size();
  if (entry_code_.size() != n_entries) return "entry sections disagree";
  if (run_starts_.size() != (n_entries + 1 + 63) / 64 || !test_bit(run_starts_, n_entries) ||
      (run_starts_.back() >> (n_entries & 63) >> 1) != 0)
    return "run bits have the wrong length";
  if (derive) {
    std::uint64_t n_set = 0;
    for (std::uint64_t w : run_starts_) n_set += static_cast<std::uint64_t>(__builtin_popcountll(w));
    if (n_set != page_run_begin_[n_pages] + 1 || (n_entries > 0 && !test_bit(run_starts_, 0)))
      return "run bits do not match the run count";
  }

  // Directories, in page order.
  page_dir_.assign(n_pages, 0);
  std::vector<std::uint32_t> ranks;
  if (derive) reserve_on_huge_pages(ranks, bitmaps_.size() / bitmap_words() * rank_samples());
  std::uint64_t bitmap_at = 0, ids_at = 0;
  for (std::size_t p = 0; p < n_pages; ++p) {
    const std::uint64_t runs = page_run_begin_[p + 1] - page_run_begin_[p];
    if (uses_bitmap(runs)) {
      if (bitmap_at + bitmap_words() > bitmaps_.size()) return "bitmap directories are truncated";
      page_dir_[p] = bitmap_at;
      if (!derive) {
        bitmap_at += bitmap_words();
        continue;
      }
      std::uint64_t rank = 0;
      for (std::size_t w = 0; w < bitmap_words(); ++w) {
        if (w % kRankGroup == 0) ranks.push_back(static_cast<std::uint32_t>(rank));
        rank += static_cast<std::uint64_t>(__builtin_popcountll(bitmaps_[bitmap_at + w]));
      }
      if (rank != runs || (dim_ % 64 && bitmaps_[bitmap_at + bitmap_words() - 1] >> (dim_ % 64)))
        return "a bitmap directory does not match its page";
      bitmap_at += bitmap_words();
    } else {
      const std::size_t n_ids = wide_terms_ ? terms32_.size() : terms16_.size();
      if (ids_at + runs > n_ids) return "term directories are truncated";
      page_dir_[p] = ids_at;
      for (std::uint64_t i = ids_at; full && i < ids_at + runs; ++i) {
        const std::uint64_t u = wide_terms_ ? terms32_[i] : terms16_[i];
        const std::uint64_t prev = i == ids_at ? 0 : (wide_terms_ ? terms32_[i - 1] : terms16_[i - 1]);
        if (u >= dim_ || (i > ids_at && u <= prev)) return "a term directory is not sorted or names a term out of range";
      }
      ids_at += runs;
    }
  }
  if (bitmap_at != bitmaps_.size() || ids_at != (wide_terms_ ? terms32_.size() : terms16_.size()) ||
      (wide_terms_ ? terms16_.size() : terms32_.size()) != 0)
    return "directory sections have the wrong length";

  // Runs. The counts above make every entry part of exactly one non-empty run, and the
  // page offsets give each page its runs. Within a run, blocks must ascend strictly:
  if (full && !blocks_ascend_within_runs(entry_block_, run_starts_)) return "a run names blocks out of order";
  // ...and name blocks of their page: 256, or what the list's last page has left.
  const std::vector<std::uint64_t> page_entry = full ? select_ranks(run_starts_, page_run_begin_) : std::vector<std::uint64_t>();
  for (std::size_t t = 0; full && t < dim_; ++t) {
    const std::uint64_t nb = list_block_begin[t + 1] - list_block_begin[t];
    if (nb % kPageBlocks == 0) continue;  // every u8 names a block of a full page
    const std::uint64_t p = list_page_begin_[t + 1] - 1;
    for (std::uint64_t e = page_entry[p]; e < page_entry[p + 1]; ++e)
      if (entry_block_[e] >= nb % kPageBlocks) return "a run names a block out of range";
  }
  const std::uint64_t n_samples = (page_run_begin_[n_pages] + kRunSampleStride - 1) / kRunSampleStride;
  if (!derive) {  // stored: the sizes here, the values by verify()
    if (bitmap_ranks_.size() != bitmaps_.size() / bitmap_words() * rank_samples() || run_samples_.size() != n_samples)
      return "stored rank or run samples have the wrong length";
    return "";
  }
  std::vector<std::uint64_t> sampled;
  for (std::uint64_t g = 0; g < page_run_begin_[n_pages]; g += kRunSampleStride) sampled.push_back(g);
  bitmap_ranks_ = std::move(ranks);
  run_samples_ = select_ranks(run_starts_, Array<std::uint64_t>(std::move(sampled)));
  return "";
}

}  // namespace aftershock::sparse
