// MultiVectorIndex (cpp/src/multivector/index.cpp) through its typed parameters
// (multivector/config.hpp): the lossless setting equals the store's exact search for both
// candidate generators, results and bytes do not depend on num_threads, serialization
// round-trips (results and info), a seed fixes the bytes, every parameter out of range is
// an InvalidArgument naming it (before any heavy work), and a damaged file a FormatError.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/io/format.hpp"
#include "aftershock/multivector/index.hpp"
#include "test_util.hpp"

namespace aftershock::multivector {
namespace {

// Ragged token sets: n sets of [min_len, max_len] tokens, dim floats each, around a few
// shared cluster centres (so centroids and SimHash partitions mean something).
struct Ragged {
  std::vector<float> vectors;
  std::vector<std::int64_t> offsets{0};
  std::size_t dim = 0;
  std::size_t n() const { return offsets.size() - 1; }
  std::size_t rows() const { return static_cast<std::size_t>(offsets.back()); }
};

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

Results search(const MultiVectorIndex& ix, const Ragged& q, std::size_t k, const SearchParams& p) {
  Results r;
  r.scores.resize(q.n() * k);
  r.ids.resize(q.n() * k);
  ix.search(q.vectors.data(), q.offsets.data(), q.n(), p, TopKOut{r.scores.data(), r.ids.data(), k});
  return r;
}

Results search_exact(const MultiVectorIndex& ix, const Ragged& q, std::size_t k) {
  Results r;
  r.scores.resize(q.n() * k);
  r.ids.resize(q.n() * k);
  ix.search_exact(q.vectors.data(), q.offsets.data(), q.n(), 1, TopKOut{r.scores.data(), r.ids.data(), k});
  return r;
}

MultiVectorIndex build(const Ragged& d, const BuildParams& p) {
  return MultiVectorIndex::build(d.vectors.data(), d.rows(), d.dim, d.offsets.data(), d.n(), p);
}

BuildParams params_for(Method method) {
  BuildParams p;
  p.method = method;
  p.seed = 3;
  p.muvera.fde.r_reps = 4;
  p.centroid.n_centroids = 32;
  return p;
}

void expect_same_info(const IndexInfo& a, const IndexInfo& b) {
  EXPECT_EQ(a.build.method, b.build.method);
  EXPECT_EQ(a.build.precision, b.build.precision);
  EXPECT_EQ(a.build.pool_factor, b.build.pool_factor);
  EXPECT_EQ(a.build.pool_iters, b.build.pool_iters);
  EXPECT_EQ(a.build.seed, b.build.seed);
  EXPECT_EQ(a.build.muvera.fde.k_sim, b.build.muvera.fde.k_sim);
  EXPECT_EQ(a.build.muvera.fde.r_reps, b.build.muvera.fde.r_reps);
  EXPECT_EQ(a.build.muvera.fde.d_proj, b.build.muvera.fde.d_proj);
  EXPECT_EQ(a.build.muvera.fde.fill_empty, b.build.muvera.fde.fill_empty);
  EXPECT_EQ(a.build.muvera.fde.final_dim, b.build.muvera.fde.final_dim);
  EXPECT_EQ(a.build.muvera.fde_precision, b.build.muvera.fde_precision);
  EXPECT_EQ(a.build.centroid.n_centroids, b.build.centroid.n_centroids);
  EXPECT_EQ(a.build.centroid.kmeans_iters, b.build.centroid.kmeans_iters);
  EXPECT_EQ(a.build.centroid.kmeans_points_per_centroid, b.build.centroid.kmeans_points_per_centroid);
  EXPECT_EQ(a.search.n_candidates, b.search.n_candidates);
  EXPECT_EQ(a.search.centroid.n_probe, b.search.centroid.n_probe);
  EXPECT_EQ(a.search.centroid.n_interaction, b.search.centroid.n_interaction);
  EXPECT_EQ(a.n_docs, b.n_docs);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.total_tokens, b.total_tokens);
  EXPECT_EQ(a.original_tokens, b.original_tokens);
  EXPECT_EQ(a.fde_dim, b.fde_dim);
  EXPECT_EQ(a.n_centroids, b.n_centroids);
  EXPECT_EQ(a.n_postings, b.n_postings);
  EXPECT_EQ(a.index_size_bytes, b.index_size_bytes);
  EXPECT_EQ(a.store_size_bytes, b.store_size_bytes);
  EXPECT_EQ(a.size_bytes, b.size_bytes);
}


// The file `bytes` with its CONF section's text replaced by edit(text), every checksum
// and the size fixed, so that only the loader's own checks of the values can refuse it
// (the layout is in aftershock/io/format.hpp). The old CONF payload is zeroed (padding)
// and the new one appended.
std::string with_conf(std::string bytes, const std::function<std::string(std::string)>& edit) {
  auto u32 = [&](std::size_t at) { std::uint32_t v; std::memcpy(&v, bytes.data() + at, 4); return v; };
  auto u64 = [&](std::size_t at) { std::uint64_t v; std::memcpy(&v, bytes.data() + at, 8); return v; };
  auto put32 = [&](std::size_t at, std::uint32_t v) { std::memcpy(&bytes[at], &v, 4); };
  auto put64 = [&](std::size_t at, std::uint64_t v) { std::memcpy(&bytes[at], &v, 8); };
  const std::uint32_t count = u32(20);
  const std::size_t table = u64(24);
  std::size_t entry = 0;
  for (std::uint32_t i = 0; i < count; ++i)
    if (std::memcmp(bytes.data() + table + i * io::kSectionEntryBytes, "CONF", 4) == 0)
      entry = table + i * io::kSectionEntryBytes;
  EXPECT_NE(entry, 0u);
  const std::size_t offset = u64(entry + 8), length = u64(entry + 16);
  const std::string text = edit(bytes.substr(offset, length));
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
            bytes.begin() + static_cast<std::ptrdiff_t>(offset + length), '\0');
  bytes.resize((bytes.size() + io::kAlignment - 1) / io::kAlignment * io::kAlignment, '\0');
  put64(entry + 8, bytes.size());
  put64(entry + 16, text.size());
  put32(entry + 24, io::crc32c(text.data(), text.size()));
  bytes += text;
  put64(32, bytes.size());
  put32(40, io::crc32c(bytes.data() + table, count * io::kSectionEntryBytes));
  put32(60, io::crc32c(bytes.data(), 60));
  return bytes;
}

// `text` with the line "key=..." replaced by `lines` (empty: removed).
std::string replace_line(const std::string& text, const std::string& key, const std::string& lines) {
  std::istringstream in(text);
  std::string out, line;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + "=") == 0) {
      out += lines;
      found = true;
    } else {
      out += line + "\n";
    }
  }
  EXPECT_TRUE(found) << key;
  return out;
}

class MultiVectorIndexPerMethod : public ::testing::TestWithParam<Method> {};

TEST_P(MultiVectorIndexPerMethod, LosslessSettingEqualsExactSearch) {
  const Ragged docs = random_sets(300, 16, 2, 10, 1), queries = random_sets(25, 16, 3, 8, 2);
  const MultiVectorIndex ix = build(docs, params_for(GetParam()));
  SearchParams p;
  p.n_candidates = docs.n();
  p.centroid.n_probe = 1 << 20;
  const Results got = search(ix, queries, 10, p), want = search_exact(ix, queries, 10);
  EXPECT_EQ(got.ids, want.ids);
  EXPECT_EQ(got.scores, want.scores);
  if (GetParam() == Method::kCentroid) {
    // Every document through probe, interaction and rerank (no shortcut): still exact.
    p.n_candidates = docs.n() - 1;
    p.centroid.n_interaction = 0;
    const Results all = search(ix, queries, 10, p);
    std::size_t same = 0;
    for (std::size_t i = 0; i < all.ids.size(); ++i) same += all.ids[i] == want.ids[i];
    EXPECT_GE(same, all.ids.size() * 9 / 10);
  }
}

TEST_P(MultiVectorIndexPerMethod, ResultsAndBytesDoNotDependOnThreads) {
  const Ragged docs = random_sets(400, 12, 2, 9, 3), queries = random_sets(30, 12, 2, 6, 4);
  BuildParams b = params_for(GetParam());
  b.num_threads = 1;
  const MultiVectorIndex one = build(docs, b);
  b.num_threads = 3;
  const MultiVectorIndex three = build(docs, b);
  EXPECT_EQ(one.to_bytes(), three.to_bytes());
  SearchParams p;
  p.n_candidates = 40;
  p.num_threads = 1;
  const Results r1 = search(one, queries, 10, p);
  p.num_threads = 3;
  const Results r3 = search(one, queries, 10, p);
  EXPECT_EQ(r1.ids, r3.ids);
  EXPECT_EQ(r1.scores, r3.scores);
}

TEST_P(MultiVectorIndexPerMethod, SerializationRoundTrips) {
  const Ragged docs = random_sets(200, 8, 1, 7, 5), queries = random_sets(20, 8, 2, 5, 6);
  BuildParams b = params_for(GetParam());
  b.pool_factor = 1.5;
  b.precision = Precision::kBf16;
  const MultiVectorIndex ix = build(docs, b);
  const std::string bytes = ix.to_bytes();
  const MultiVectorIndex from_bytes = MultiVectorIndex::from_bytes(bytes);
  const std::string path = ::testing::TempDir() + "/mvindex_roundtrip.mvix";
  ix.save(path);
  const MultiVectorIndex from_file = MultiVectorIndex::load(path);
  std::remove(path.c_str());
  SearchParams p;
  p.n_candidates = 30;
  const Results want = search(ix, queries, 10, p);
  for (const MultiVectorIndex* other : {&from_bytes, &from_file}) {
    const Results got = search(*other, queries, 10, p);
    EXPECT_EQ(got.ids, want.ids);
    EXPECT_EQ(got.scores, want.scores);
    expect_same_info(other->info(), ix.info());
    EXPECT_EQ(other->to_bytes(), bytes);
  }
  const IndexInfo info = ix.info();
  EXPECT_EQ(info.build.method, GetParam());
  EXPECT_EQ(info.build.precision, Precision::kBf16);
  EXPECT_EQ(info.original_tokens, docs.rows());
  EXPECT_LT(info.total_tokens, docs.rows());
  EXPECT_EQ(info.size_bytes, info.index_size_bytes + info.store_size_bytes);
  if (GetParam() == Method::kMuvera) {
    EXPECT_EQ(info.search.n_candidates, kDefaultCandidatesMuvera);
    EXPECT_EQ(info.fde_dim, 4u * 16u * 16u);  // r_reps * 2^k_sim * d_proj
  } else {
    EXPECT_EQ(info.search.n_candidates, kDefaultCandidatesCentroid);
    EXPECT_EQ(info.search.centroid.n_interaction, kDefaultInteractionFactor * kDefaultCandidatesCentroid);
    EXPECT_FALSE(info.search.centroid.bitvector_threshold.has_value());
    EXPECT_EQ(info.n_centroids, 32u);
    EXPECT_EQ(info.build.centroid.n_centroids, 32u);
    EXPECT_GT(info.n_postings, 0u);
  }
}

TEST_P(MultiVectorIndexPerMethod, SameSeedSameBytes) {
  const Ragged docs = random_sets(150, 8, 1, 6, 7);
  BuildParams b = params_for(GetParam());
  const std::string a = build(docs, b).to_bytes();
  EXPECT_EQ(build(docs, b).to_bytes(), a);
  b.seed = 4;
  EXPECT_NE(build(docs, b).to_bytes(), a);
}

TEST_P(MultiVectorIndexPerMethod, DamagedBytesAreAFormatError) {
  const Ragged docs = random_sets(60, 8, 1, 5, 8);
  const std::string good = build(docs, params_for(GetParam())).to_bytes();
  const std::size_t step = std::max<std::size_t>(1, good.size() / 300);
  std::size_t tried = 0, refused = 0;
  for (std::size_t i = 0; i < good.size(); i += step) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x21);
    ++tried;
    try {
      (void)MultiVectorIndex::from_bytes(bad);
    } catch (const FormatError&) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, tried);
  EXPECT_THROW(MultiVectorIndex::from_bytes(good.substr(0, good.size() / 2)), FormatError);
  EXPECT_THROW(MultiVectorIndex::from_bytes(good.substr(0, 64)), FormatError);
}


TEST_P(MultiVectorIndexPerMethod, FilesOfEarlierVersionsStillLoad) {
  // Before integers were stored as integers, CONF held doubles (the same text for
  // integers), the seed as two 32-bit halves and the FDE precision as a 0/1 "fde.int8".
  const Ragged docs = random_sets(80, 8, 1, 5, 12), queries = random_sets(6, 8, 2, 4, 13);
  BuildParams b = params_for(GetParam());
  b.seed = (std::uint64_t{5} << 32) | 7;
  const MultiVectorIndex ix = build(docs, b);
  const std::string old = with_conf(ix.to_bytes(), [&](std::string text) {
    text = replace_line(text, "index.seed", "index.seed_hi=5\nindex.seed_lo=7\n");
    if (GetParam() == Method::kMuvera) text = replace_line(text, "fde.precision", "fde.int8=1\n");
    return text;
  });
  const MultiVectorIndex loaded = MultiVectorIndex::from_bytes(old);
  expect_same_info(loaded.info(), ix.info());
  SearchParams p;
  p.n_candidates = 20;
  const Results a = search(ix, queries, 5, p), c = search(loaded, queries, 5, p);
  EXPECT_EQ(a.ids, c.ids);
  EXPECT_EQ(a.scores, c.scores);
  EXPECT_EQ(loaded.to_bytes(), ix.to_bytes());
}

TEST_P(MultiVectorIndexPerMethod, ConfigValuesOutOfRangeAreAFormatError) {
  const Ragged docs = random_sets(60, 8, 1, 5, 14);
  const std::string good = build(docs, params_for(GetParam())).to_bytes();
  EXPECT_NO_THROW(MultiVectorIndex::from_bytes(with_conf(good, [](std::string t) { return t; })));
  std::vector<std::pair<std::string, std::string>> edits = {
      {"index.layout_version", "2"}, {"index.method", "2"},         {"index.method", "0.5"},
      {"index.pool_factor", "0.5"},  {"index.pool_iters", "1001"},  {"index.seed", "-1"},
  };
  if (GetParam() == Method::kMuvera) {
    edits.insert(edits.end(), {{"fde.precision", "1"}, {"fde.precision", "9"}, {"fde.k_sim", "13"},
                               {"fde.fill_empty", "2"}, {"fde.r_reps", "0"}});
  } else {
    edits.insert(edits.end(), {{"centroid.n_centroids", "65537"}, {"centroid.n_centroids", "0"},
                               {"centroid.kmeans_iters", "1001"}});
  }
  for (const auto& edit : edits) {
    // Named copies: C++17 lambdas cannot capture structured bindings (clang refuses).
    const std::string& key = edit.first;
    const std::string& value = edit.second;
    const std::string bad =
        with_conf(good, [&](const std::string& t) { return replace_line(t, key, key + "=" + value + "\n"); });
    EXPECT_THROW(MultiVectorIndex::from_bytes(bad), FormatError) << key << "=" << value;
  }
  // A missing key, too.
  const std::string missing = with_conf(good, [](const std::string& t) { return replace_line(t, "index.method", ""); });
  EXPECT_THROW(MultiVectorIndex::from_bytes(missing), FormatError);
}

INSTANTIATE_TEST_SUITE_P(Methods, MultiVectorIndexPerMethod, ::testing::Values(Method::kCentroid, Method::kMuvera),
                         [](const ::testing::TestParamInfo<Method>& p) { return std::string(method_name(p.param)); });

// The call throws InvalidArgument and its message names `name`.
template <class F>
void expect_invalid(F&& call, const std::string& name) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one naming '" << name << "'";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST(MultiVectorIndexParams, EveryBuildParameterOutOfRangeIsNamed) {
  Ragged docs = random_sets(40, 8, 1, 5, 9);
  // A NaN in the vectors: the parameters are checked first, before the data is read.
  docs.vectors[5] = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    const char* name;
    void (*set)(BuildParams&);
  };
  const Case cases[] = {
      {"method", [](BuildParams& p) { p.method = static_cast<Method>(7); }},
      {"precision", [](BuildParams& p) { p.precision = static_cast<Precision>(9); }},
      {"pool_factor", [](BuildParams& p) { p.pool_factor = 0.5; }},
      {"pool_factor", [](BuildParams& p) { p.pool_factor = std::nan(""); }},
      {"pool_factor", [](BuildParams& p) { p.pool_factor = 1e7; }},
      {"pool_iters", [](BuildParams& p) { p.pool_iters = kMaxPoolIters + 1; }},
      {"n_centroids", [](BuildParams& p) { p.centroid.n_centroids = kMaxCentroids + 1; }},
      {"kmeans_iters", [](BuildParams& p) { p.centroid.kmeans_iters = kMaxKMeansIters + 1; }},
      {"kmeans_points_per_centroid", [](BuildParams& p) { p.centroid.kmeans_points_per_centroid = 0; }},
      {"k_sim", [](BuildParams& p) { p.method = Method::kMuvera, p.muvera.fde.k_sim = kMaxKSim + 1; }},
      {"r_reps", [](BuildParams& p) { p.method = Method::kMuvera, p.muvera.fde.r_reps = 0; }},
      {"r_reps", [](BuildParams& p) { p.method = Method::kMuvera, p.muvera.fde.r_reps = 1 << 20; }},
      {"d_proj", [](BuildParams& p) { p.method = Method::kMuvera, p.muvera.fde.d_proj = kMaxDProj + 1; }},
      {"final_dim", [](BuildParams& p) { p.method = Method::kMuvera, p.muvera.fde.final_dim = kMaxFdeValues + 1; }},
      {"fde_precision", [](BuildParams& p) { p.method = Method::kMuvera, p.muvera.fde_precision = Precision::kFp16; }},
  };
  for (const Case& c : cases) {
    BuildParams p;
    c.set(p);
    expect_invalid([&] { build(docs, p); }, c.name);
  }
  // Data-dependent: more centroids than tokens.
  docs = random_sets(40, 8, 1, 5, 9);
  BuildParams p;
  p.centroid.n_centroids = docs.rows() + 1;
  expect_invalid([&] { build(docs, p); }, "n_centroids");
  // The other method's struct is not read.
  p = BuildParams();
  p.method = Method::kMuvera;
  p.centroid.n_centroids = kMaxCentroids + 1;
  EXPECT_NO_THROW(build(docs, p));
}

TEST(MultiVectorIndexParams, EverySearchParameterOutOfRangeIsNamed) {
  const Ragged docs = random_sets(200, 8, 1, 5, 10), queries = random_sets(3, 8, 2, 4, 11);
  const MultiVectorIndex centroid = build(docs, params_for(Method::kCentroid));
  const MultiVectorIndex muvera = build(docs, params_for(Method::kMuvera));
  struct Case {
    const char* name;
    void (*set)(SearchParams&);
  };
  const Case cases[] = {
      {"n_candidates", [](SearchParams& p) { p.n_candidates = std::size_t{1} << 33; }},
      {"n_probe", [](SearchParams& p) { p.centroid.n_probe = 0; }},
      {"n_interaction", [](SearchParams& p) { p.n_candidates = 100, p.centroid.n_interaction = 10; }},
      {"bitvector_threshold",
       [](SearchParams& p) { p.centroid.bitvector_threshold = std::numeric_limits<float>::infinity(); }},
      {"bitvector_threshold", [](SearchParams& p) { p.centroid.bitvector_threshold = std::nanf(""); }},
      {"n_bitvector", [](SearchParams& p) { p.n_candidates = 100, p.centroid.n_bitvector = 10; }},
  };
  for (const Case& c : cases) {
    SearchParams p;
    c.set(p);
    expect_invalid([&] { search(centroid, queries, 5, p); }, c.name);
  }
  SearchParams big;
  big.n_candidates = std::size_t{1} << 33;
  expect_invalid([&] { search(muvera, queries, 5, big); }, "n_candidates");
  expect_invalid([&] { search(centroid, queries, 0, SearchParams()); }, "k");
  // Centroid parameters are not read by a muvera index.
  SearchParams p;
  p.centroid.n_probe = 0;
  EXPECT_NO_THROW(search(muvera, queries, 5, p));
  // Unset threshold: no prefilter, whatever n_bitvector.
  p = SearchParams();
  p.n_candidates = 20;
  p.centroid.n_bitvector = 50;
  const Results off = search(centroid, queries, 5, p);
  p.centroid.n_bitvector = 0;
  EXPECT_EQ(search(centroid, queries, 5, p).ids, off.ids);
}

}  // namespace
}  // namespace aftershock::multivector
