// Building and verifying the forward index rows (layout in forward_index.hpp).
#include "aftershock/sparse/forward_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/huge_pages.hpp"

namespace aftershock::sparse {

ForwardIndex ForwardIndex::build(const SparseBatchView& docs, Precision precision, std::size_t num_threads,
                                 const std::vector<DocId>& order) {
  ForwardIndex f;
  f.wide_terms_ = docs.dim > 65536;
  f.precision_ = precision;
  std::vector<RowHandle> handles(docs.n_rows);
  std::uint64_t words = 0;
  auto too_large = [&] {
    return InvalidArgument("docs: the forward index would exceed 32 GiB (" + std::to_string(docs.nnz()) +
                           " nonzeros); split the collection into several indexes");
  };
  for (std::size_t i = 0; i < docs.n_rows; ++i) {
    const std::size_t d = order.empty() ? i : order[i];
    if (words >= kMaxWords) throw too_large();
    handles[d] = static_cast<RowHandle>(words);
    words += f.row_bytes(static_cast<std::size_t>(docs.indptr[d + 1] - docs.indptr[d])) / 8;
  }
  if (words > kMaxWords) throw too_large();
  f.handles_ = std::move(handles);
  f.words_ = huge_page_vector<std::uint64_t>(words);
  std::uint64_t* const out_words = f.words_.mutable_data();
  const std::size_t chunk = 4096;
  // fp16 holds weights below 65520 (the largest is 65504): the largest weight that would
  // overflow is found while converting (each value read once) and refused below, never
  // stored clamped (a weight of 150000 scoring as 65504 would be a silent wrong answer).
  const float fp16_limit = float_of(kFp16OverflowBits);
  std::vector<float> too_large_for_fp16((docs.n_rows + chunk - 1) / chunk, 0.0f);
  parallel_for((docs.n_rows + chunk - 1) / chunk, num_threads, [&](std::size_t c, std::size_t) {
    std::vector<std::uint32_t> by_weight;
    for (std::size_t d = c * chunk; d < std::min(docs.n_rows, (c + 1) * chunk); ++d) {
      const std::size_t b = static_cast<std::size_t>(docs.indptr[d]);
      const std::size_t n = static_cast<std::size_t>(docs.indptr[d + 1]) - b;
      auto* row = reinterpret_cast<unsigned char*>(out_words + f.handles_[d]);
      const std::uint32_t head[2] = {static_cast<std::uint32_t>(d), static_cast<std::uint32_t>(n)};
      std::memcpy(row, head, sizeof(head));
      unsigned char* terms = row + kHeaderBytes;
      unsigned char* values = terms + f.values_at(n);
      // Heaviest first (ties by term), the order the dot kernels' early stop needs.
      by_weight.resize(n);
      for (std::size_t i = 0; i < n; ++i) by_weight[i] = static_cast<std::uint32_t>(i);
      const float* w = docs.values + b;
      std::sort(by_weight.begin(), by_weight.end(),
                [w](std::uint32_t x, std::uint32_t y) { return w[x] > w[y] || (w[x] == w[y] && x < y); });
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t j = b + by_weight[i];
        const std::uint32_t t = docs.indices[j];
        if (f.wide_terms_) {
          std::memcpy(terms + 4 * i, &t, 4);
        } else {
          const auto t16 = static_cast<std::uint16_t>(t);
          std::memcpy(terms + 2 * i, &t16, 2);
        }
        const float v = docs.values[j];
        if (precision == Precision::kFp32) {
          std::memcpy(values + 4 * i, &v, 4);
        } else {
          if (!(std::fabs(v) < fp16_limit)) too_large_for_fp16[c] = std::max(too_large_for_fp16[c], std::fabs(v));
          const std::uint16_t h = float_to_fp16(v);
          std::memcpy(values + 2 * i, &h, 2);
        }
      }
    }
  });
  float largest = 0.0f;
  for (float v : too_large_for_fp16) largest = std::max(largest, v);
  if (largest > 0.0f) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(largest));
    throw InvalidArgument(std::string("precision: 'fp16' stores weights up to 65504, but docs holds a weight of ") +
                          buf + "; use precision='fp32', or rescale the weights (scores scale with them)");
  }
  return f;
}

std::pair<TermId, float> ForwardIndex::entry(const Row& r, std::size_t i) const {
  const auto* terms = static_cast<const unsigned char*>(r.terms);
  const auto* values = static_cast<const unsigned char*>(r.values);
  TermId t;
  if (wide_terms_) {
    std::memcpy(&t, terms + 4 * i, 4);
  } else {
    std::uint16_t t16;
    std::memcpy(&t16, terms + 2 * i, 2);
    t = t16;
  }
  float v;
  if (precision_ == Precision::kFp32) {
    std::memcpy(&v, values + 4 * i, 4);
  } else {
    std::uint16_t h;
    std::memcpy(&h, values + 2 * i, 2);
    v = fp16_to_float(h);
  }
  return {t, v};
}

ForwardIndex ForwardIndex::from_parts(bool wide_terms, Precision precision, Array<std::uint64_t> words,
                                      Array<RowHandle> handles) {
  ForwardIndex f;
  f.wide_terms_ = wide_terms;
  f.precision_ = precision;
  f.words_ = std::move(words);
  f.handles_ = std::move(handles);
  return f;
}

std::string ForwardIndex::check_sizes(std::size_t n_docs, std::size_t dim) const {
  if (handles_.size() != n_docs) return "forward index has the wrong number of rows";
  if (wide_terms_ != (dim > 65536)) return "forward index term width does not match the vocabulary";
  if (words_.size() > kMaxWords) return "forward index is too large";
  return {};
}

std::string ForwardIndex::check(std::size_t n_docs, std::size_t dim, bool heaviest_first) const {
  if (std::string why = check_sizes(n_docs, dim); !why.empty()) return why;
  // Rows are back to back, each fully inside the array, in any document order: row i names
  // a document d with handles_[d] == its position, so n_docs rows name n_docs distinct ones.
  std::uint64_t at = 0;
  for (std::size_t i = 0; i < n_docs; ++i) {
    if (at >= words_.size()) return "forward index rows are out of place";
    std::uint32_t head[2];
    std::memcpy(head, words_.data() + at, sizeof(head));
    const std::size_t d = head[0];
    if (d >= n_docs || handles_[d] != at) return "forward index row names the wrong document";
    if (head[1] > dim) return "forward index row is longer than the vocabulary";
    const std::uint64_t next = at + row_bytes(head[1]) / 8;
    if (next > words_.size()) return "forward index row runs past the end";
    const Row r = row(static_cast<RowHandle>(at));
    float previous = std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < r.n; ++j) {
      const auto [t, v] = entry(r, j);
      if (t >= dim) return "forward index holds a term id out of range";
      if (!std::isfinite(v) || v < 0.0f) return "forward index holds an invalid weight";
      // Search stops scoring a row early on this order (kernels.hpp): a row out of order
      // would lose documents silently.
      if (heaviest_first && v > previous) return "forward index row is not stored heaviest weight first";
      previous = v;
    }
    at = next;
  }
  if (at != words_.size()) return "forward index has trailing bytes";
  if (words_.size() > kMaxWords) return "forward index is too large";
  return {};
}

void ForwardIndex::sort_rows_heaviest_first(std::size_t num_threads) {
  words_.make_owned();  // rewritten in place: a mapped file is read-only
  const std::size_t vb = value_bytes(), tb = term_bytes();
  const std::size_t chunk = 4096;
  parallel_for((handles_.size() + chunk - 1) / chunk, num_threads, [&](std::size_t c, std::size_t) {
    std::vector<std::pair<float, std::uint32_t>> entries;  // (weight, position in the row)
    std::vector<unsigned char> terms, values;
    for (std::size_t d = c * chunk; d < std::min(handles_.size(), (c + 1) * chunk); ++d) {
      const Row r = row(handles_[d]);
      entries.resize(r.n);
      for (std::size_t i = 0; i < r.n; ++i) entries[i] = {entry(r, i).second, static_cast<std::uint32_t>(i)};
      std::sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) {
        return x.first > y.first || (x.first == y.first && x.second < y.second);
      });
      auto* t = static_cast<unsigned char*>(const_cast<void*>(r.terms));
      auto* v = static_cast<unsigned char*>(const_cast<void*>(r.values));
      terms.assign(t, t + r.n * tb);
      values.assign(v, v + r.n * vb);
      for (std::size_t i = 0; i < r.n; ++i) {
        std::memcpy(t + i * tb, terms.data() + entries[i].second * tb, tb);
        std::memcpy(v + i * vb, values.data() + entries[i].second * vb, vb);
      }
    }
  });
}

}  // namespace aftershock::sparse
