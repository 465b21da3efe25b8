// SparseIndex end to end from C++: exactness in the lossless setting, Seismic's structural
// invariants (pruned lists partitioned into capped blocks), persistence, threads, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/sparse/index.hpp"
#include "test_util.hpp"

namespace aftershock::sparse {
namespace {

struct Results {
  std::vector<float> scores;
  std::vector<std::int64_t> ids;
};

Results search(const SparseIndex& ix, const test::Csr& q, const SearchParams& p) {
  const std::size_t n = q.indptr.size() - 1;
  Results r{std::vector<float>(n * p.k), std::vector<std::int64_t>(n * p.k)};
  ix.search(q.view(), p, TopKOut{r.scores.data(), r.ids.data(), p.k});
  return r;
}

Results exact(const test::Csr& docs, const test::Csr& q, std::size_t k) {
  const std::size_t n = q.indptr.size() - 1;
  Results r{std::vector<float>(n * k), std::vector<std::int64_t>(n * k)};
  exact_search(docs.view(), q.view(), k, 1, TopKOut{r.scores.data(), r.ids.data(), k});
  return r;
}

TEST(SparseIndex, LosslessSettingEqualsExactSearch) {
  const test::Csr docs = test::random_csr(600, 300, 20, 1), queries = test::random_csr(20, 300, 10, 2);
  BuildParams b;
  b.pruning = Pruning::kFixedSize;
  b.n_postings = 600;  // nothing pruned
  b.precision = Precision::kFp32;
  const SparseIndex ix = SparseIndex::build(docs.view(), b);
  SearchParams p;
  p.k = 10;
  p.heap_factor = 0.0f;  // nothing skipped
  p.query_cut = 300;     // every query term walked
  const Results got = search(ix, queries, p), want = exact(docs, queries, p.k);
  EXPECT_EQ(got.ids, want.ids);
  // Forward rows are summed heaviest term first, exact search in term order: the same
  // float32 products, added in another order.
  ASSERT_EQ(got.scores.size(), want.scores.size());
  for (std::size_t i = 0; i < got.scores.size(); ++i) EXPECT_NEAR(got.scores[i], want.scores[i], 1e-5f * std::abs(want.scores[i]));
}

TEST(SparseIndex, DefaultSearchHasHighRecall) {
  const test::Csr docs = test::random_csr(3000, 2000, 40, 3), queries = test::random_csr(50, 2000, 15, 4);
  const SparseIndex ix = SparseIndex::build(docs.view(), BuildParams{});
  const Results got = search(ix, queries, SearchParams{}), want = exact(docs, queries, 10);
  std::size_t hits = 0;
  for (std::size_t q = 0; q < 50; ++q) {
    const std::set<std::int64_t> truth(want.ids.begin() + q * 10, want.ids.begin() + q * 10 + 10);
    for (std::size_t j = 0; j < 10; ++j) hits += truth.count(got.ids[q * 10 + j]);
  }
  EXPECT_GE(static_cast<double>(hits) / 500.0, 0.9);
}

TEST(SparseIndex, BlocksPartitionThePrunedListsAndAreCapped) {
  const test::Csr docs = test::random_csr(2000, 400, 30, 5);
  BuildParams b;
  b.pruning = Pruning::kFixedSize;
  b.n_postings = 120;
  b.centroid_fraction = 0.1;
  b.min_cluster_size = 2;
  const SparseIndex ix = SparseIndex::build(docs.view(), b);
  std::size_t lists_with_cut_clusters = 0;
  for (TermId t = 0; t < 400; ++t) {
    std::size_t df = 0;
    for (std::uint32_t u : docs.indices) df += u == t;
    const std::vector<std::vector<DocId>> blocks = ix.blocks_of(t);
    std::vector<DocId> members;
    std::size_t largest = 0;
    for (const auto& block : blocks) {
      EXPECT_FALSE(block.empty());
      EXPECT_TRUE(std::is_sorted(block.begin(), block.end()));
      members.insert(members.end(), block.begin(), block.end());
      largest = std::max(largest, block.size());
    }
    ASSERT_EQ(members.size(), std::min<std::size_t>(df, 120)) << "term " << t;
    std::sort(members.begin(), members.end());
    EXPECT_TRUE(std::adjacent_find(members.begin(), members.end()) == members.end()) << "a document twice in term " << t;
    if (!members.empty()) {
      const std::size_t clusters = static_cast<std::size_t>(std::ceil(0.1 * static_cast<double>(members.size())));
      const std::size_t cap = std::max<std::size_t>((members.size() + clusters - 1) / clusters, 4);
      EXPECT_LE(largest, cap) << "term " << t;
      lists_with_cut_clusters += blocks.size() > clusters;
    }
  }
  EXPECT_GT(lists_with_cut_clusters, 0u);  // the cap did cut something
}

TEST(SparseIndex, SaveLoadAndThreadsLeaveResultsUnchanged) {
  const test::Csr docs = test::random_csr(2500, 1000, 30, 6), queries = test::random_csr(40, 1000, 12, 7);
  BuildParams b;
  b.num_threads = 1;
  const SparseIndex one = SparseIndex::build(docs.view(), b);
  b.num_threads = 2;
  const SparseIndex two = SparseIndex::build(docs.view(), b);
  const SparseIndex loaded = SparseIndex::from_bytes(two.to_bytes());
  SearchParams p;
  p.heap_factor = 0.9f;
  p.num_threads = 1;
  const Results r1 = search(one, queries, p);
  p.num_threads = 2;
  const Results r2 = search(two, queries, p), r3 = search(loaded, queries, p);
  EXPECT_EQ(r1.ids, r2.ids);
  EXPECT_EQ(r1.scores, r2.scores);
  EXPECT_EQ(r2.ids, r3.ids);
  EXPECT_EQ(r2.scores, r3.scores);
}

TEST(SparseIndex, DamagedBytesAreAFormatError) {
  const test::Csr docs = test::random_csr(60, 50, 6, 8);
  const std::string good = SparseIndex::build(docs.view(), BuildParams{}).to_bytes();
  std::size_t refused = 0;
  for (std::size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x21);
    try {
      (void)SparseIndex::from_bytes(bad);
    } catch (const FormatError&) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, (good.size() + 6) / 7);
  EXPECT_THROW(SparseIndex::from_bytes(good.substr(0, good.size() / 2)), FormatError);
}

// The call throws InvalidArgument and its message names what is wrong.
template <class F>
void expect_invalid(F&& call, const std::string& names) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one naming '" << names << "'";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
}

TEST(SparseIndex, BadInputIsAnInvalidArgumentNamingTheArgument) {
  test::Csr docs = test::random_csr(30, 20, 4, 9);
  const SparseIndex ix = SparseIndex::build(docs.view(), BuildParams{});
  SearchParams p;
  p.k = 0;
  expect_invalid([&] { search(ix, docs, p); }, "k");
  p.k = 3;
  test::Csr q = docs;
  q.indices[static_cast<std::size_t>(q.indptr[1]) - 1] = 20;  // row 0's last term: still ascending, out of range
  expect_invalid([&] { search(ix, q, p); }, "queries");
  q = docs;
  q.values[1] = std::nanf("");
  expect_invalid([&] { search(ix, q, p); }, "queries");
  q = docs;
  q.values[2] = -1.0f;
  expect_invalid([&] { SparseIndex::build(q.view(), BuildParams{}); }, "docs");
  BuildParams b;
  b.centroid_fraction = 0.0;
  expect_invalid([&] { SparseIndex::build(docs.view(), b); }, "centroid_fraction");
}

}  // namespace
}  // namespace aftershock::sparse
