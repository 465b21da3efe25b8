// What a living index needs from the multi-vector core (segments + tombstones): filtered
// search (DocFilter) for MultiVectorIndex (both candidate generators) and
// MultiVectorStore, builds with given centroids, the bulk token export, and the MUVERA
// encoder's independence of the documents.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/io/format.hpp"
#include "aftershock/multivector/index.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/topk.hpp"
#include "test_util.hpp"

namespace aftershock::multivector {
namespace {

struct Ragged {
  std::vector<float> vectors;
  std::vector<std::int64_t> offsets{0};
  std::size_t dim = 0;
  std::size_t n() const { return offsets.size() - 1; }
  std::size_t rows() const { return static_cast<std::size_t>(offsets.back()); }
  const float* doc(std::size_t d) const { return vectors.data() + static_cast<std::size_t>(offsets[d]) * dim; }
  std::size_t len(std::size_t d) const { return static_cast<std::size_t>(offsets[d + 1] - offsets[d]); }
  void append(const Ragged& other, std::size_t d) {
    vectors.insert(vectors.end(), other.doc(d), other.doc(d) + other.len(d) * dim);
    offsets.push_back(offsets.back() + static_cast<std::int64_t>(other.len(d)));
  }
};

// Token sets around a few shared cluster centres (so centroids and partitions mean something).
Ragged random_sets(std::size_t n, std::size_t dim, std::size_t min_len, std::size_t max_len, std::uint64_t seed) {
  Rng rng(seed);
  constexpr std::size_t kClusters = 12;
  std::vector<float> centres(kClusters * dim);
  for (float& c : centres) c = static_cast<float>(rng.normal());
  Ragged r;
  r.dim = dim;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t len = min_len + static_cast<std::size_t>(rng.below(max_len - min_len + 1));
    for (std::size_t t = 0; t < len; ++t) {
      const std::size_t c = static_cast<std::size_t>(rng.below(kClusters));
      for (std::size_t j = 0; j < dim; ++j)
        r.vectors.push_back(centres[c * dim + j] + 0.3f * static_cast<float>(rng.normal()));
    }
    r.offsets.push_back(r.offsets.back() + static_cast<std::int64_t>(len));
  }
  return r;
}

struct Results {
  std::vector<float> scores;
  std::vector<std::int64_t> ids;
};

BuildParams params_for(Method method) {
  BuildParams p;
  p.method = method;
  p.seed = 3;
  p.muvera.fde.r_reps = 4;
  p.centroid.n_centroids = 32;
  return p;
}

MultiVectorIndex build(const Ragged& d, const BuildParams& p, const std::vector<float>* centroids = nullptr) {
  return MultiVectorIndex::build(d.vectors.data(), d.rows(), d.dim, d.offsets.data(), d.n(), p, ProgressFn(),
                                 centroids ? centroids->data() : nullptr,
                                 centroids ? centroids->size() / d.dim : 0);
}

Results search(const MultiVectorIndex& ix, const Ragged& q, std::size_t k, const SearchParams& p,
               const std::vector<std::uint64_t>* words = nullptr) {
  Results r;
  r.scores.resize(q.n() * k);
  r.ids.resize(q.n() * k);
  ix.search(q.vectors.data(), q.offsets.data(), q.n(), p, TopKOut{r.scores.data(), r.ids.data(), k},
            DocFilter{words ? words->data() : nullptr});
  return r;
}

// A filter allowing every `step`-th document from `first` (step 0: only `first`).
std::vector<std::uint64_t> every(std::size_t n_docs, std::size_t first, std::size_t step) {
  std::vector<std::uint64_t> w(filter_words(n_docs), 0);
  for (std::size_t d = first; d < n_docs; d += (step ? step : n_docs)) w[d >> 6] |= std::uint64_t{1} << (d & 63);
  return w;
}

bool allowed(const std::vector<std::uint64_t>& w, std::int64_t d) { return (w[d >> 6] >> (d & 63)) & 1u; }

double maxsim_f64(const float* q, std::size_t m, const float* doc, std::size_t n, std::size_t dim) {
  double total = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    double best = -std::numeric_limits<double>::infinity();
    for (std::size_t t = 0; t < n; ++t) {
      double s = 0.0;
      for (std::size_t j = 0; j < dim; ++j) s += static_cast<double>(q[i * dim + j]) * doc[t * dim + j];
      best = std::max(best, s);
    }
    total += best;
  }
  return total;
}

// Brute force over the allowed documents: the float64 MaxSim picks the top k (ties to the
// smaller id); the store's float32 score of each is what an exact search must return.
Results brute_force(const MultiVectorStore& store, const Ragged& docs, const Ragged& q, std::size_t k,
                    const std::vector<std::uint64_t>& w) {
  Results r;
  for (std::size_t qi = 0; qi < q.n(); ++qi) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (std::size_t d = 0; d < docs.n(); ++d)
      if (allowed(w, static_cast<std::int64_t>(d)))
        all.emplace_back(maxsim_f64(q.doc(qi), q.len(qi), docs.doc(d), docs.len(d), docs.dim),
                         static_cast<std::int64_t>(d));
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (std::size_t i = 0; i < k; ++i) {
      if (i < all.size()) {
        const DocId id = static_cast<DocId>(all[i].second);
        float s = 0.0f;
        store.score(q.doc(qi), q.len(qi), &id, 1, &s);
        r.scores.push_back(s);
        r.ids.push_back(all[i].second);
      } else {
        r.scores.push_back(-std::numeric_limits<float>::infinity());
        r.ids.push_back(-1);
      }
    }
  }
  return r;
}

class FilterPerMethod : public ::testing::TestWithParam<Method> {};

TEST_P(FilterPerMethod, BudgetCoveringTheAllowedDocumentsIsExactOverThem) {
  const Ragged docs = random_sets(300, 16, 2, 10, 11), queries = random_sets(20, 16, 3, 8, 12);
  const MultiVectorIndex ix = build(docs, params_for(GetParam()));
  const std::size_t k = 10;
  struct Case {
    std::size_t first, step;
  };
  for (const Case c : {Case{7, 0}, Case{3, 37}, Case{1, 9}, Case{0, 2}, Case{0, 1}}) {
    const std::vector<std::uint64_t> w = every(docs.n(), c.first, c.step);
    const Results want = brute_force(ix.store(), docs, queries, k, w);
    const std::size_t n_allowed = count_allowed(DocFilter{w.data()}, docs.n());
    SearchParams p;
    p.n_candidates = n_allowed;  // the default n_probe: the budget alone makes it exact
    const Results got = search(ix, queries, k, p, &w);
    EXPECT_EQ(got.ids, want.ids) << "allowed " << n_allowed;
    EXPECT_EQ(got.scores, want.scores) << "allowed " << n_allowed;
    Results exact;
    exact.scores.resize(want.scores.size());
    exact.ids.resize(want.ids.size());
    ix.search_exact(queries.vectors.data(), queries.offsets.data(), queries.n(), 2,
                    TopKOut{exact.scores.data(), exact.ids.data(), k}, DocFilter{w.data()});
    EXPECT_EQ(exact.ids, want.ids);
    EXPECT_EQ(exact.scores, want.scores);
  }
}

TEST_P(FilterPerMethod, ApproximateSearchReturnsOnlyAllowedDocumentsAndFillsK) {
  const Ragged docs = random_sets(600, 16, 2, 10, 13), queries = random_sets(30, 16, 3, 8, 14);
  const MultiVectorIndex ix = build(docs, params_for(GetParam()));
  const std::size_t k = 10;
  // From selective (20 of 600, far fewer than the probe reaches) to half the documents.
  for (const std::size_t step : {30, 7, 2}) {
    const std::vector<std::uint64_t> w = every(docs.n(), 5, step);
    SearchParams p;
    p.n_candidates = 15;
    p.centroid.n_probe = 1;
    const Results got = search(ix, queries, k, p, &w);
    for (std::int64_t id : got.ids) {
      ASSERT_GE(id, 0) << "step " << step << ": fewer than k results";
      EXPECT_TRUE(allowed(w, id)) << id;
    }
  }
  // Nothing allowed: padding only.
  const std::vector<std::uint64_t> none(filter_words(docs.n()), 0);
  const Results empty = search(ix, queries, k, SearchParams(), &none);
  for (std::int64_t id : empty.ids) EXPECT_EQ(id, -1);
}

TEST_P(FilterPerMethod, AnAllFilterGivesTheUnfilteredResults) {
  const Ragged docs = random_sets(300, 12, 2, 9, 15), queries = random_sets(20, 12, 2, 6, 16);
  const MultiVectorIndex ix = build(docs, params_for(GetParam()));
  std::vector<std::uint64_t> w = every(docs.n(), 0, 1);
  w.back() = ~std::uint64_t{0};  // bits beyond n_docs are ignored
  SearchParams p;
  p.n_candidates = 20;
  const Results a = search(ix, queries, 10, p), b = search(ix, queries, 10, p, &w);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.scores, b.scores);
}

INSTANTIATE_TEST_SUITE_P(Methods, FilterPerMethod, ::testing::Values(Method::kMuvera, Method::kCentroid),
                         [](const ::testing::TestParamInfo<Method>& i) { return std::string(method_name(i.param)); });

TEST(StoreFilter, SearchIsExactOverTheAllowedDocuments) {
  const Ragged docs = random_sets(250, 8, 1, 20, 17), queries = random_sets(12, 8, 1, 6, 18);
  const MultiVectorStore store(docs.vectors.data(), docs.rows(), docs.dim, docs.offsets.data(), docs.n(),
                               Precision::kFp32);
  for (const std::size_t step : {0, 13, 3, 1}) {
    const std::vector<std::uint64_t> w = every(docs.n(), 4, step);
    const Results want = brute_force(store, docs, queries, 7, w);
    Results got;
    got.scores.resize(want.scores.size());
    got.ids.resize(want.ids.size());
    store.search(queries.vectors.data(), queries.offsets.data(), queries.n(), 3,
                 TopKOut{got.scores.data(), got.ids.data(), 7}, DocFilter{w.data()});
    EXPECT_EQ(got.ids, want.ids) << "step " << step;
    EXPECT_EQ(got.scores, want.scores) << "step " << step;
  }
}

TEST(GivenCentroids, TheIndexsOwnCentroidsRebuildTheSameIndex) {
  const Ragged docs = random_sets(300, 16, 2, 10, 19), queries = random_sets(20, 16, 3, 8, 20);
  const BuildParams p = params_for(Method::kCentroid);
  const MultiVectorIndex a = build(docs, p);
  ASSERT_EQ(a.centroids().size(), 32u * docs.dim);
  const std::vector<float> c = a.centroids();
  // Another seed: k-means would differ, the given centroids make it irrelevant.
  BuildParams q = p;
  q.seed = 99;
  q.centroid.n_centroids = 0;  // 0: take the number of given centroids
  const MultiVectorIndex b = build(docs, q, &c);
  EXPECT_EQ(b.centroids(), c);
  EXPECT_EQ(b.info().n_postings, a.info().n_postings);
  SearchParams s;
  s.n_candidates = 20;
  for (std::size_t n_probe : {1, 4}) {
    s.centroid.n_probe = n_probe;
    const Results ra = search(a, queries, 10, s), rb = search(b, queries, 10, s);
    EXPECT_EQ(ra.ids, rb.ids);
    EXPECT_EQ(ra.scores, rb.scores);
  }
  // Same seed and parameters: the very same bytes (the codes were assigned identically).
  const MultiVectorIndex b2 = build(docs, p, &c);
  EXPECT_EQ(b2.to_bytes(), a.to_bytes());
  // A small segment of other documents may use more centroids than it has tokens.
  const Ragged few = random_sets(3, 16, 1, 2, 21);
  const MultiVectorIndex seg = build(few, q, &c);
  EXPECT_EQ(seg.info().n_centroids, 32u);
}

TEST(GivenCentroids, BadCentroidsAreNamed) {
  const Ragged docs = random_sets(50, 8, 2, 6, 22);
  const std::vector<float> c(16 * docs.dim, 0.5f);
  auto expect_named = [&](const BuildParams& p, const std::vector<float>& cs, const std::string& name) {
    try {
      build(docs, p, &cs);
      ADD_FAILURE() << "no error for " << name;
    } catch (const InvalidArgument& e) {
      EXPECT_EQ(std::string(e.what()).rfind(name + ":", 0), 0u) << e.what();
    }
  };
  expect_named(params_for(Method::kMuvera), c, "centroids");
  BuildParams disagree = params_for(Method::kCentroid);  // n_centroids 32, 16 given
  expect_named(disagree, c, "n_centroids");
  BuildParams p = params_for(Method::kCentroid);
  p.centroid.n_centroids = 0;
  std::vector<float> bad = c;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  expect_named(p, bad, "centroids");
  bad[5] = std::numeric_limits<float>::infinity();
  expect_named(p, bad, "centroids");
  EXPECT_NO_THROW(build(docs, p, &c));
}

TEST(Tokens, DecodeAllRoundTrips) {
  const Ragged docs = random_sets(90, 12, 1, 40, 23);
  for (const Precision prec : {Precision::kFp32, Precision::kFp16, Precision::kBf16, Precision::kInt8}) {
    const MultiVectorStore store(docs.vectors.data(), docs.rows(), docs.dim, docs.offsets.data(), docs.n(), prec);
    std::vector<float> all(docs.rows() * docs.dim, std::numeric_limits<float>::quiet_NaN());
    store.decode_all(all.data(), 3);
    EXPECT_EQ(store.offsets(), docs.offsets);
    for (std::size_t i = 0; i < all.size(); ++i) {
      const float x = docs.vectors[i];
      if (prec == Precision::kFp32) {
        ASSERT_EQ(all[i], x) << i;
      } else if (prec == Precision::kFp16) {
        ASSERT_EQ(all[i], fp16_to_float(float_to_fp16(x))) << i;
      } else if (prec == Precision::kBf16) {
        ASSERT_EQ(all[i], bf16_to_float(float_to_bf16(x))) << i;
      }
    }
    // Every precision: the rows decode_doc gives, document by document.
    std::vector<float> one;
    for (std::size_t d = 0; d < docs.n(); ++d) {
      one.assign(docs.len(d) * docs.dim, 0.0f);
      store.decode_doc(static_cast<DocId>(d), one.data());
      ASSERT_TRUE(std::equal(one.begin(), one.end(), all.begin() + docs.offsets[d] * docs.dim)) << d;
    }
  }
  // The index's store: its tokens as given (no pooling).
  const MultiVectorIndex ix = build(docs, params_for(Method::kCentroid));
  std::vector<float> all(docs.rows() * docs.dim);
  ix.store().decode_all(all.data());
  EXPECT_EQ(all, docs.vectors);
}

// MUVERA's encoder is drawn from (dim, FDE parameters, seed) alone: two indexes over
// different documents encode a document they share identically.
TEST(MuveraEncoder, IsIndependentOfTheDocuments) {
  const Ragged a_docs = random_sets(40, 8, 2, 9, 24), b_docs = random_sets(70, 8, 2, 9, 25);
  Ragged a = a_docs, b = b_docs;
  b.append(a_docs, 5);  // document 5 of `a` is the last document of `b`
  BuildParams p = params_for(Method::kMuvera);
  p.muvera.fde_precision = Precision::kFp32;
  for (const std::size_t final_dim : {0, 96}) {
    p.muvera.fde.final_dim = final_dim;
    const MultiVectorIndex ia = build(a, p), ib = build(b, p);
    const io::FileReader ra = io::FileReader::from_bytes(ia.to_bytes(), MultiVectorIndex::kKind);
    const io::FileReader rb = io::FileReader::from_bytes(ib.to_bytes(), MultiVectorIndex::kKind);
    EXPECT_EQ(ra.read_vector<float>("FDEW"), rb.read_vector<float>("FDEW"));
    const std::vector<float> fa = ra.read_vector<float>("FDEV"), fb = rb.read_vector<float>("FDEV");
    const std::size_t fd = ia.info().fde_dim;
    ASSERT_EQ(fd, ib.info().fde_dim);
    const std::vector<float> row_a(fa.begin() + 5 * fd, fa.begin() + 6 * fd);
    const std::vector<float> row_b(fb.end() - static_cast<std::ptrdiff_t>(fd), fb.end());
    EXPECT_EQ(row_a, row_b);
    EXPECT_NE(row_a, std::vector<float>(fb.begin(), fb.begin() + fd));  // and not trivially
  }
}

}  // namespace
}  // namespace aftershock::multivector
