// DocFilter: which documents a search may return, as a bitset over document ids. A
// living index keeps deleted documents (tombstones) and filters in such a set; the
// multi-vector searches apply it inside candidate generation, so the candidates they
// rerank are all allowed. Baseline code only: never include from an ISA translation unit
// (STYLE §3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "aftershock/types.hpp"

namespace aftershock {

/// Words of a filter over n_docs documents: ceil(n_docs / 64).
inline constexpr std::size_t filter_words(std::size_t n_docs) { return (n_docs + 63) / 64; }

/// Non-owning. Document d is allowed when bit (d & 63) of words[d >> 6] is set;
/// words == nullptr allows every document. Bits at or beyond n_docs are ignored.
/// PRECONDITION (callers): words holds filter_words(n_docs) words that do not change
/// while a search reads them (the bindings pass an owned copy).
struct DocFilter {
  const std::uint64_t* words = nullptr;

  bool is_all() const { return words == nullptr; }
  /// PRECONDITION: d < n_docs of the searched object.
  bool allows(DocId d) const { return words == nullptr || ((words[d >> 6] >> (d & 63)) & 1u) != 0; }
};

/// Allowed documents among the first n_docs: n_docs for an all-filter. O(n_docs / 64).
inline std::size_t count_allowed(DocFilter filter, std::size_t n_docs) {
  if (filter.is_all()) return n_docs;
  std::size_t count = 0;
  const std::size_t full = n_docs / 64;
  for (std::size_t w = 0; w < full; ++w) count += static_cast<std::size_t>(__builtin_popcountll(filter.words[w]));
  if (n_docs % 64)
    count += static_cast<std::size_t>(
        __builtin_popcountll(filter.words[full] & ((std::uint64_t{1} << (n_docs % 64)) - 1)));
  return count;
}

/// Writes the allowed ids among the first n_docs into `out`, ascending (every id for an
/// all-filter). O(n_docs / 64 + allowed).
inline void allowed_ids(DocFilter filter, std::size_t n_docs, std::vector<DocId>& out) {
  out.clear();
  for (std::size_t w = 0; w < filter_words(n_docs); ++w) {
    std::uint64_t bits = filter.is_all() ? ~std::uint64_t{0} : filter.words[w];
    while (bits) {
      const std::size_t d = w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
      if (d >= n_docs) break;
      out.push_back(static_cast<DocId>(d));
      bits &= bits - 1;
    }
  }
}

}  // namespace aftershock
