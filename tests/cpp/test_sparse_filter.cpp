// SparseIndex::search with a SearchFilter (allowed bitset, per-query score floors),
// SparseIndex::search_subset and SparseIndex::documents, against a brute force. Weights are
// small integers, so every float32 sum is exact and the comparison is bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/util/random.hpp"
#include "test_util.hpp"

namespace aftershock::sparse {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// random_csr's rows with weights rounded to integers 0..8 (a few zeros: a shared term of
// weight 0 does not make a candidate).
test::Csr integer_csr(std::size_t rows, std::size_t dim, std::size_t nnz, std::uint64_t seed) {
  test::Csr c = test::random_csr(rows, dim, nnz, seed);
  for (float& v : c.values) v = std::min(8.0f, std::floor(v * 2.0f));
  return c;
}

struct Results {
  std::vector<float> scores;
  std::vector<std::int64_t> ids;
};

// Exact top k among allowed documents sharing a positive term with the query, scoring >= floor.
Results brute(const test::Csr& docs, const test::Csr& q, std::size_t k, const std::vector<bool>& allowed,
              const std::vector<float>& floors) {
  const std::size_t nq = q.indptr.size() - 1, nd = docs.indptr.size() - 1;
  Results r{std::vector<float>(nq * k, -kInf), std::vector<std::int64_t>(nq * k, -1)};
  std::vector<double> dense(q.dim, 0.0);
  for (std::size_t i = 0; i < nq; ++i) {
    for (std::int64_t j = q.indptr[i]; j < q.indptr[i + 1]; ++j) dense[q.indices[j]] = q.values[j];
    std::vector<std::pair<float, std::int64_t>> hits;
    for (std::size_t d = 0; d < nd; ++d) {
      if (!allowed.empty() && !allowed[d]) continue;
      double s = 0.0;
      bool shared = false;
      for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
        s += dense[docs.indices[j]] * docs.values[j];
        shared = shared || (dense[docs.indices[j]] > 0.0 && docs.values[j] > 0.0f);
      }
      if (shared && (floors.empty() || static_cast<float>(s) >= floors[i])) hits.emplace_back(static_cast<float>(s), d);
    }
    std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (std::size_t j = 0; j < std::min(k, hits.size()); ++j) {
      r.scores[i * k + j] = hits[j].first;
      r.ids[i * k + j] = hits[j].second;
    }
    for (std::int64_t j = q.indptr[i]; j < q.indptr[i + 1]; ++j) dense[q.indices[j]] = 0.0;
  }
  return r;
}

std::vector<std::uint64_t> bitset_of(const std::vector<bool>& allowed) {
  std::vector<std::uint64_t> bits((allowed.size() + 63) / 64, 0);
  for (std::size_t d = 0; d < allowed.size(); ++d)
    if (allowed[d]) bits[d >> 6] |= std::uint64_t{1} << (d & 63);
  return bits;
}

SparseIndex lossless_index(const test::Csr& docs) {
  BuildParams b;
  b.pruning = Pruning::kFixedSize;
  b.n_postings = docs.indptr.size();  // nothing pruned
  b.precision = Precision::kFp32;
  return SparseIndex::build(docs.view(), b);
}

Results search(const SparseIndex& ix, const test::Csr& q, const SearchParams& p, const SearchFilter& f) {
  const std::size_t n = q.indptr.size() - 1;
  Results r{std::vector<float>(n * p.k), std::vector<std::int64_t>(n * p.k)};
  ix.search(q.view(), p, TopKOut{r.scores.data(), r.ids.data(), p.k}, nullptr, f);
  return r;
}

Results subset(const SparseIndex& ix, const test::Csr& q, const std::vector<DocId>& docs, std::size_t k,
               const SearchFilter& f = SearchFilter()) {
  const std::size_t n = q.indptr.size() - 1;
  Results r{std::vector<float>(n * k), std::vector<std::int64_t>(n * k)};
  ix.search_subset(q.view(), docs.data(), docs.size(), 2, TopKOut{r.scores.data(), r.ids.data(), k}, f);
  return r;
}

// Allowed sets from a single document to all of them.
std::vector<std::vector<bool>> allowed_sets(std::size_t n_docs, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<bool>> out;
  for (double p : {0.0, 0.01, 0.1, 0.5, 0.9, 1.0}) {
    std::vector<bool> a(n_docs);
    for (std::size_t d = 0; d < n_docs; ++d) a[d] = rng.uniform() < p;
    if (p == 0.0) a[rng.below(n_docs)] = true;  // exactly one document
    out.push_back(a);
  }
  return out;
}

TEST(SparseFilter, AllowedSearchIsTheExactTopKAmongAllowedDocs) {
  const test::Csr docs = integer_csr(700, 200, 12, 11), queries = integer_csr(25, 200, 6, 12);
  const SparseIndex ix = lossless_index(docs);
  SearchParams p;
  p.k = 10;
  p.heap_factor = 0.0f;
  p.query_cut = 1000;
  for (const std::vector<bool>& allowed : allowed_sets(700, 13)) {
    const std::vector<std::uint64_t> bits = bitset_of(allowed);
    SearchFilter f;
    f.allowed = bits.data();
    f.allowed_words = bits.size();
    const Results got = search(ix, queries, p, f), want = brute(docs, queries, p.k, allowed, {});
    EXPECT_EQ(got.ids, want.ids);
    EXPECT_EQ(got.scores, want.scores);
  }
}

TEST(SparseFilter, FloorsKeepScoresAtOrAboveAndEqualTiesAreReturned) {
  const test::Csr docs = integer_csr(500, 150, 10, 21), queries = integer_csr(30, 150, 5, 22);
  const SparseIndex ix = lossless_index(docs);
  SearchParams p;
  p.k = 8;
  p.heap_factor = 0.0f;
  p.query_cut = 1000;
  const std::vector<bool> all(500, true);
  const Results plain = brute(docs, queries, p.k, all, {});
  // Floors exactly at a returned score (ties kept), above everything, -inf, and 0.
  std::vector<float> floors(30);
  for (std::size_t i = 0; i < 30; ++i) {
    const float third = plain.scores[i * p.k + 2];
    floors[i] = i % 4 == 0 ? third : i % 4 == 1 ? 1e9f : i % 4 == 2 ? -kInf : 0.0f;
  }
  SearchFilter f;
  f.floors = floors.data();
  f.n_floors = floors.size();
  const Results got = search(ix, queries, p, f), want = brute(docs, queries, p.k, all, floors);
  EXPECT_EQ(got.ids, want.ids);
  EXPECT_EQ(got.scores, want.scores);
  for (std::size_t i = 0; i < 30; i += 4)
    if (std::isfinite(floors[i])) {
      EXPECT_EQ(got.ids[i * p.k + 2], plain.ids[i * p.k + 2]);  // the tie is returned
    }
  // The approximate setting, with the early stop and the block cut: never a document below its floor.
  p.heap_factor = 0.8f;
  p.query_cut = 3;
  const Results approx = search(ix, queries, p, f);
  for (std::size_t i = 0; i < approx.ids.size(); ++i)
    if (approx.ids[i] >= 0) {
      EXPECT_GE(approx.scores[i], floors[i / p.k]);
    }
}

TEST(SparseFilter, AllowedAndFloorsTogetherInTheApproximateSetting) {
  const test::Csr docs = integer_csr(2000, 300, 20, 31), queries = integer_csr(40, 300, 8, 32);
  BuildParams b;
  b.n_postings = 150;  // pruned
  b.knn = 4;
  const SparseIndex ix = SparseIndex::build(docs.view(), b);
  for (const std::vector<bool>& allowed : allowed_sets(2000, 33)) {
    const std::vector<std::uint64_t> bits = bitset_of(allowed);
    std::vector<float> floors(40, 3.0f);
    SearchFilter f{bits.data(), bits.size(), floors.data(), floors.size()};
    SearchParams p;
    p.n_knn = 4;
    const Results got = search(ix, queries, p, f);
    for (std::size_t i = 0; i < got.ids.size(); ++i) {
      if (got.ids[i] < 0) continue;
      EXPECT_TRUE(allowed[static_cast<std::size_t>(got.ids[i])]);
      EXPECT_GE(got.scores[i], 3.0f);
    }
  }
}

TEST(SparseFilter, SearchSubsetEqualsBruteForceOverTheListedDocs) {
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    const test::Csr docs = integer_csr(600, 180, 10, 41), queries = integer_csr(30, 180, 6, 42);
    BuildParams b;
    b.precision = precision;  // integers up to 8 are exact in fp16 too
    const SparseIndex ix = SparseIndex::build(docs.view(), b);  // pruning is irrelevant: rows are scored
    for (const std::vector<bool>& listed : allowed_sets(600, 43)) {
      std::vector<DocId> ids;
      for (DocId d = 0; d < 600; ++d)
        if (listed[d]) ids.push_back(d);
      for (std::size_t k : {1, 7, 50}) {
        const Results got = subset(ix, queries, ids, k), want = brute(docs, queries, k, listed, {});
        EXPECT_EQ(got.ids, want.ids);
        EXPECT_EQ(got.scores, want.scores);
      }
      // With floors and an allowed bitset on top of the list.
      std::vector<bool> both(600);
      for (std::size_t d = 0; d < 600; ++d) both[d] = listed[d] && d % 3 != 0;
      std::vector<bool> every_third_out(600);
      for (std::size_t d = 0; d < 600; ++d) every_third_out[d] = d % 3 != 0;
      const std::vector<std::uint64_t> bits = bitset_of(every_third_out);
      std::vector<float> floors(30);
      for (std::size_t i = 0; i < 30; ++i) floors[i] = static_cast<float>(i % 5) * 4.0f;
      const SearchFilter f{bits.data(), bits.size(), floors.data(), floors.size()};
      const Results got = subset(ix, queries, ids, 10, f), want = brute(docs, queries, 10, both, floors);
      EXPECT_EQ(got.ids, want.ids);
      EXPECT_EQ(got.scores, want.scores);
    }
  }
}

TEST(SparseFilter, DocumentsRoundTripTheStoredRows) {
  const test::Csr docs = test::random_csr(3000, 70000, 15, 51);  // wide term ids
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    BuildParams b;
    b.precision = precision;
    const SparseIndex ix = SparseIndex::build(docs.view(), b);
    const std::size_t nnz = ix.n_stored_entries();
    ASSERT_EQ(nnz, docs.indices.size());
    std::vector<std::int64_t> indptr(3001);
    std::vector<TermId> indices(nnz);
    std::vector<float> values(nnz);
    ix.documents(indptr.data(), indices.data(), values.data(), 2);
    EXPECT_EQ(indptr, docs.indptr);
    EXPECT_EQ(indices, docs.indices);
    if (precision == Precision::kFp32) {
      EXPECT_EQ(values, docs.values);
    }
    for (DocId d = 0; d < 3000; d += 97) {
      const auto row = ix.document(d);
      for (std::size_t j = 0; j < row.size(); ++j) EXPECT_EQ(values[static_cast<std::size_t>(indptr[d]) + j], row[j].second);
    }
  }
}

template <class F>
void expect_invalid(F&& call, const std::string& names) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one naming '" << names << "'";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
}

TEST(SparseFilter, BadFiltersAndListsAreInvalidArguments) {
  const test::Csr docs = integer_csr(100, 50, 5, 61), queries = integer_csr(3, 50, 3, 62);
  const SparseIndex ix = SparseIndex::build(docs.view(), BuildParams{});
  const std::vector<std::uint64_t> bits(3, ~std::uint64_t{0});  // 2 words needed
  std::vector<float> floors(3, 0.0f);
  SearchParams p;
  expect_invalid([&] { search(ix, queries, p, SearchFilter{bits.data(), 3, nullptr, 0}); }, "allowed");
  expect_invalid([&] { search(ix, queries, p, SearchFilter{nullptr, 0, floors.data(), 2}); }, "floors");
  floors[1] = std::nanf("");
  expect_invalid([&] { search(ix, queries, p, SearchFilter{nullptr, 0, floors.data(), 3}); }, "floors");
  expect_invalid([&] { subset(ix, queries, {0}, 5, SearchFilter{nullptr, 0, floors.data(), 3}); }, "floors");
  expect_invalid([&] { subset(ix, queries, {3, 3}, 5); }, "docs");
  expect_invalid([&] { subset(ix, queries, {5, 2}, 5); }, "docs");
  expect_invalid([&] { subset(ix, queries, {1, 100}, 5); }, "docs");
  expect_invalid([&] { subset(ix, queries, {1}, 0); }, "k");
}

}  // namespace
}  // namespace aftershock::sparse
