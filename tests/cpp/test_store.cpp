// MultiVectorStore (cpp/src/multivector/store*.cpp) and the panel codec
// (cpp/src/maxsim/panel_codec.hpp): every precision against the float64 reference within
// the STYLE section 3 bound, the codec round trip, rerank / search against score-all +
// sort, persistence and corruption, and the validation messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/maxsim/maxsim.hpp"
#include "aftershock/multivector/store.hpp"
#include "aftershock/util/half.hpp"
#include "maxsim/kernels.hpp"
#include "maxsim/panel_codec.hpp"
#include "test_util.hpp"

namespace aftershock::multivector {
namespace {

constexpr Precision kPrecisions[] = {Precision::kFp32, Precision::kFp16, Precision::kBf16, Precision::kInt8};
constexpr std::size_t kP = maxsim::kPanelTokens;

struct Ragged {
  std::vector<float> vectors;  // [total, dim]
  std::vector<std::int64_t> offsets{0};
  std::size_t dim = 0;

  std::size_t n_docs() const { return offsets.size() - 1; }
  std::size_t total() const { return static_cast<std::size_t>(offsets.back()); }
  const float* doc(std::size_t d) const { return vectors.data() + static_cast<std::size_t>(offsets[d]) * dim; }
  std::size_t len(std::size_t d) const { return static_cast<std::size_t>(offsets[d + 1] - offsets[d]); }
  MultiVectorStore store(Precision p, std::size_t num_threads = 0) const {
    return MultiVectorStore(vectors.data(), total(), dim, offsets.data(), n_docs(), p, num_threads);
  }
};

// Documents of 1..max_len tokens (lengths around panel boundaries included), values with
// magnitudes spread over a few binades.
Ragged random_docs(std::size_t n_docs, std::size_t dim, std::size_t max_len, std::uint64_t seed) {
  Rng rng(seed);
  Ragged r;
  r.dim = dim;
  const std::size_t special[] = {1, 15, 16, 17, 32, 33};
  for (std::size_t d = 0; d < n_docs; ++d) {
    const std::size_t n = d < 6 ? std::min(special[d], max_len) : 1 + rng.below(max_len);
    for (std::size_t j = 0; j < n; ++j) {
      const double scale = std::ldexp(1.0, static_cast<int>(rng.below(7)) - 3);
      for (std::size_t k = 0; k < dim; ++k) r.vectors.push_back(static_cast<float>(rng.normal() * scale));
    }
    r.offsets.push_back(r.offsets.back() + static_cast<std::int64_t>(n));
  }
  return r;
}

std::vector<float> random_query(std::size_t m, std::size_t dim, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> q(m * dim);
  for (float& x : q) x = static_cast<float>(rng.normal());
  return q;
}

// The query values the kernels of a precision use (cpp/src/maxsim/README.md): as given
// (fp32, fp16), bf16-rounded, or int8 code * scale per token.
std::vector<float> query_as_used(const std::vector<float>& q, std::size_t dim, Precision p) {
  std::vector<float> out(q);
  if (p == Precision::kBf16)
    for (float& x : out) x = bf16_to_float(float_to_bf16(x));
  if (p == Precision::kInt8) {
    std::vector<std::int8_t> codes(dim);
    for (std::size_t i = 0; i < q.size() / dim; ++i) {
      const float s = maxsim::kernels::quantize_int8(q.data() + i * dim, dim, codes.data());
      for (std::size_t k = 0; k < dim; ++k) out[i * dim + k] = static_cast<float>(codes[k]) * s;
    }
  }
  return out;
}

// STYLE section 3: |a - b| <= dim * eps * sum |x_i y_i|, summed over query tokens (of the
// row maximum), plus the m roundings of the sum and (int8) the scale products.
double bound(const std::vector<float>& q, std::size_t m, const float* doc, std::size_t n, std::size_t dim) {
  const double total = test::maxsim_abs_mass(q.data(), m, doc, n, dim);
  return static_cast<double>(dim + m + 3) * FLT_EPSILON * total + 1e-30;
}

TEST(Store, EveryPrecisionAgreesWithFloat64Reference) {
  for (const std::size_t dim : {1, 3, 7, 16, 17, 33, 128}) {
    const Ragged docs = random_docs(40, dim, 70, 100 + dim);
    for (const Precision p : kPrecisions) {
      const MultiVectorStore store = docs.store(p);
      for (const std::size_t m : {1, 5, 32}) {
        const std::vector<float> q = random_query(m, dim, 7 * m + dim);
        std::vector<float> got(store.n_docs());
        store.score_all(q.data(), m, got.data(), 2);
        const std::vector<float> qu = query_as_used(q, dim, p);
        for (std::size_t d = 0; d < store.n_docs(); ++d) {
          // The stored values are the decoded document; the score is MaxSim of them.
          std::vector<float> stored(docs.len(d) * dim);
          store.decode_doc(static_cast<DocId>(d), stored.data());
          const double want = maxsim::maxsim_reference_f64(qu.data(), m, stored.data(), docs.len(d), dim);
          EXPECT_LE(std::abs(got[d] - want), bound(qu, m, stored.data(), docs.len(d), dim))
              << precision_name(p) << " dim=" << dim << " m=" << m << " doc=" << d;
        }
      }
    }
  }
}

TEST(PanelCodec, RoundTripIsTheDocumentedRounding) {
  for (const std::size_t dim : {1, 2, 3, 4, 5, 8, 17, 64, 129}) {
    for (const Precision p : kPrecisions) {
      const maxsim::PanelLayout layout = maxsim::PanelLayout::of(p, dim);
      for (const std::size_t n : {1, 15, 16, 17, 40}) {
        std::vector<float> x = random_query(n, dim, 11 * n + dim);
        x[0] = 0.0f;
        x[x.size() - 1] = -1e-30f;  // subnormal territory for fp16 / bf16
        const std::size_t panels = maxsim::panels_for(n);
        AlignedBuffer data(panels * layout.panel_bytes);
        std::vector<float> scales(panels * kP);
        std::vector<std::int32_t> bias(panels * kP);
        std::vector<float> row;
        float bad = 0.0f;
        const bool int8 = p == Precision::kInt8;
        ASSERT_EQ(maxsim::encode_panels(layout, x.data(), n, data.data(), int8 ? scales.data() : nullptr,
                                        int8 ? bias.data() : nullptr, row, &bad),
                  maxsim::kNoBadValue);
        // Decode every lane: padding lanes must repeat the last token.
        std::vector<float> out(panels * kP * dim);
        maxsim::decode_panels(layout, data.data(), scales.data(), panels * kP, out.data());
        std::vector<std::int8_t> codes(dim);
        for (std::size_t j = 0; j < panels * kP; ++j) {
          const std::size_t src = std::min(j, n - 1);
          const float* in = x.data() + src * dim;
          float s = 0.0f;
          if (int8) s = maxsim::kernels::quantize_int8(in, dim, codes.data());
          for (std::size_t k = 0; k < dim; ++k) {
            float want = in[k];
            if (p == Precision::kFp16) want = fp16_to_float(float_to_fp16(in[k]));
            if (p == Precision::kBf16) want = bf16_to_float(float_to_bf16(in[k]));
            if (int8) want = static_cast<float>(codes[k]) * s;
            ASSERT_EQ(out[j * dim + k], want) << precision_name(p) << " dim=" << dim << " n=" << n << " lane=" << j
                                              << " k=" << k;
          }
        }
        // Padding dimensions stay zero (bf16 high half, int8 high bytes).
        if ((p == Precision::kBf16 && dim % 2) || (int8 && dim % 4)) {
          const auto* words = data.as<std::uint32_t>();
          const std::uint32_t keep = int8 ? (std::uint32_t{1} << (8 * (dim % 4))) - 1u : 0xFFFFu;
          for (std::size_t pi = 0; pi < panels; ++pi)
            for (std::size_t t = 0; t < kP; ++t)
              EXPECT_EQ(words[pi * layout.panel_bytes / 4 + (layout.rows - 1) * kP + t] & ~keep, 0u);
        }
      }
    }
  }
}

TEST(PanelCodec, RefusesTheFirstBadValueOfEachPrecision) {
  const std::size_t dim = 5;
  std::vector<float> x(3 * dim, 1.0f);
  x[2 * dim + 1] = std::numeric_limits<float>::quiet_NaN();
  x[1 * dim + 3] = 70000.0f;  // overflows fp16 only
  for (const Precision p : kPrecisions) {
    const maxsim::PanelLayout layout = maxsim::PanelLayout::of(p, dim);
    AlignedBuffer data(layout.panel_bytes);
    std::vector<float> scales(kP);
    std::vector<std::int32_t> bias(kP);
    std::vector<float> row;
    float bad = 0.0f;
    const std::size_t at = maxsim::encode_panels(layout, x.data(), 3, data.data(), scales.data(), bias.data(), row, &bad);
    if (p == Precision::kFp16) {
      EXPECT_EQ(at, 1 * dim + 3);
      EXPECT_EQ(bad, 70000.0f);
    } else {
      EXPECT_EQ(at, 2 * dim + 1) << precision_name(p);
      EXPECT_TRUE(std::isnan(bad));
    }
  }
}

// Score every document, then sort: (score desc, id asc), the reference order.
std::vector<std::pair<float, std::int64_t>> sorted_scores(const std::vector<float>& s,
                                                          const std::vector<std::int64_t>& ids) {
  std::vector<std::pair<float, std::int64_t>> v;
  for (std::size_t i = 0; i < ids.size(); ++i) v.emplace_back(s[i], ids[i]);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  return v;
}

TEST(Store, SearchAndRerankAgreeWithScoreAllAndSort) {
  // Ties: documents 10..19 repeat documents 0..9.
  Ragged docs = random_docs(10, 24, 40, 5);
  const std::size_t first_half = docs.vectors.size();
  for (std::size_t i = 0; i < first_half; ++i) docs.vectors.push_back(docs.vectors[i]);
  for (std::size_t d = 0; d < 10; ++d) docs.offsets.push_back(docs.offsets.back() + static_cast<std::int64_t>(docs.len(d)));
  for (const Precision p : kPrecisions) {
    const MultiVectorStore store = docs.store(p);
    const std::size_t n_docs = store.n_docs(), nq = 3, k = 25;  // k > n_docs: padded
    std::vector<float> queries;
    std::vector<std::int64_t> qoff{0};
    for (std::size_t qi = 0; qi < nq; ++qi) {
      const std::size_t m = 1 + 4 * qi;
      const std::vector<float> q = random_query(m, 24, 50 + qi);
      queries.insert(queries.end(), q.begin(), q.end());
      qoff.push_back(qoff.back() + static_cast<std::int64_t>(m));
    }
    std::vector<float> all(nq * n_docs);
    store.score_batch(queries.data(), qoff.data(), nq, nullptr, n_docs, all.data(), 2);
    std::vector<float> scores(nq * k);
    std::vector<std::int64_t> ids(nq * k);
    for (const std::size_t threads : {1, 2}) {
      store.search(queries.data(), qoff.data(), nq, threads, {scores.data(), ids.data(), k});
      for (std::size_t qi = 0; qi < nq; ++qi) {
        std::vector<std::int64_t> every(n_docs);
        std::iota(every.begin(), every.end(), 0);
        const auto want = sorted_scores({all.begin() + qi * n_docs, all.begin() + (qi + 1) * n_docs}, every);
        for (std::size_t r = 0; r < k; ++r) {
          if (r < n_docs) {
            EXPECT_EQ(ids[qi * k + r], want[r].second);
            EXPECT_EQ(scores[qi * k + r], want[r].first);
          } else {
            EXPECT_EQ(ids[qi * k + r], -1);
            EXPECT_EQ(scores[qi * k + r], -std::numeric_limits<float>::infinity());
          }
        }
      }
    }
    // Batch rerank with -1 padding (and a duplicate), against score-all + sort.
    const std::size_t nc = 6, kr = 4;
    const std::vector<std::int64_t> cand = {3, -1, 13, 7, -1, 3,  -1, -1, -1, -1, -1, -1,  19, 0, 9, 10, 1, -1};
    std::vector<float> rs(nq * kr);
    std::vector<std::int64_t> ri(nq * kr);
    store.rerank_batch(queries.data(), qoff.data(), nq, cand.data(), nc, 2, {rs.data(), ri.data(), kr});
    for (std::size_t qi = 0; qi < nq; ++qi) {
      std::vector<float> s;
      std::vector<std::int64_t> real;
      for (std::size_t t = 0; t < nc; ++t) {
        const std::int64_t id = cand[qi * nc + t];
        if (id < 0) continue;
        real.push_back(id);
        s.push_back(all[qi * n_docs + static_cast<std::size_t>(id)]);
      }
      const auto want = sorted_scores(s, real);
      for (std::size_t r = 0; r < kr; ++r) {
        EXPECT_EQ(ri[qi * kr + r], r < want.size() ? want[r].second : -1) << precision_name(p) << " q" << qi;
        if (r < want.size()) {
          EXPECT_EQ(rs[qi * kr + r], want[r].first);
        }
      }
      // The single-query checked and unchecked entry points give the same rows.
      const maxsim::PreparedQuery pq = store.prepare(queries.data() + qoff[qi] * 24, qoff[qi + 1] - qoff[qi]);
      std::vector<DocId> real32(real.begin(), real.end());
      std::vector<float> s1(kr), s2(kr);
      std::vector<std::int64_t> i1(kr), i2(kr);
      EXPECT_EQ(store.rerank(pq, real32.data(), real32.size(), kr, s1.data(), i1.data()), std::min(kr, real.size()));
      store.rerank_unchecked(pq, real32.data(), real32.size(), kr, s2.data(), i2.data());
      EXPECT_EQ(i1, i2);
      EXPECT_EQ(s1, s2);
      for (std::size_t r = 0; r < kr; ++r) EXPECT_EQ(i1[r], ri[qi * kr + r]);
    }
    // Out-of-range candidates name the argument and the first bad (query, position).
    std::vector<std::int64_t> bad = cand;
    bad[2 * nc + 1] = 20;
    bad[1 * nc + 4] = -2;
    try {
      store.rerank_batch(queries.data(), qoff.data(), nq, bad.data(), nc, 2, {rs.data(), ri.data(), kr});
      ADD_FAILURE() << "expected std::out_of_range";
    } catch (const std::out_of_range& e) {
      EXPECT_NE(std::string(e.what()).find("candidate_ids: id -2 at query 1, position 4"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Store, SaveLoadRoundTripAndCorruption) {
  const Ragged docs = random_docs(30, 19, 50, 9);
  const std::vector<float> q = random_query(6, 19, 1);
  for (const Precision p : kPrecisions) {
    const MultiVectorStore store = docs.store(p);
    std::vector<float> want(store.n_docs()), got(store.n_docs());
    store.score_all(q.data(), 6, want.data(), 1);
    const std::string bytes = store.to_bytes();
    const MultiVectorStore clone = MultiVectorStore::from_bytes(bytes);
    clone.score_all(q.data(), 6, got.data(), 1);
    EXPECT_EQ(got, want);
    EXPECT_EQ(clone.to_bytes(), bytes);
    const std::string path = ::testing::TempDir() + "aftershock_store_" + precision_name(p) + ".aft";
    store.save(path);
    const MultiVectorStore loaded = MultiVectorStore::load(path);
    std::remove(path.c_str());
    EXPECT_EQ(loaded.to_bytes(), bytes);
    EXPECT_EQ(loaded.size_bytes(), store.size_bytes());
    for (const std::size_t pos : {std::size_t{0}, std::size_t{12}, std::size_t{70}, bytes.size() / 2, bytes.size() - 1}) {
      std::string bad = bytes;
      bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
      if (pos == bytes.size() / 2) {
        // The middle byte may be inter-section padding (outside any checksum): either refused
        // or harmless, never a crash.
        try {
          MultiVectorStore::from_bytes(bad);
        } catch (const FormatError&) {
        }
        continue;
      }
      EXPECT_THROW(MultiVectorStore::from_bytes(bad), FormatError) << precision_name(p) << " byte " << pos;
    }
    EXPECT_THROW(MultiVectorStore::from_bytes(bytes.substr(0, bytes.size() - 1)), FormatError);
  }
}

TEST(Store, MappedLoadScoresAsInMemoryAndRefusesTruncation) {
  if (!aftershock::io::mmap_supported()) GTEST_SKIP() << "no mmap here";
  const Ragged docs = random_docs(30, 19, 50, 9);
  const std::vector<float> q = random_query(6, 19, 1);
  for (const Precision p : kPrecisions) {
    const MultiVectorStore store = docs.store(p);
    std::vector<float> want(store.n_docs()), got(store.n_docs());
    store.score_all(q.data(), 6, want.data(), 1);
    const std::string path = ::testing::TempDir() + "aftershock_store_mapped_" + precision_name(p) + ".aft";
    store.save(path);
    for (const bool verify : {false, true}) {
      aftershock::multivector::LoadOptions o;
      o.mmap = true;
      o.verify = verify;
      const MultiVectorStore mapped = MultiVectorStore::load(path, o);
      EXPECT_TRUE(mapped.is_mapped());
      EXPECT_GT(mapped.mapped_bytes(), 0u);
      mapped.score_all(q.data(), 6, got.data(), 1);
      EXPECT_EQ(got, want) << precision_name(p);
      EXPECT_EQ(mapped.to_bytes(), store.to_bytes());
      mapped.verify();
    }
    const std::string bytes = store.to_bytes();
    {
      std::FILE* f = std::fopen(path.c_str(), "wb");
      ASSERT_NE(f, nullptr);
      std::fwrite(bytes.data(), 1, bytes.size() - 64, f);
      std::fclose(f);
    }
    aftershock::multivector::LoadOptions o;
    o.mmap = true;
    o.verify = false;
    EXPECT_THROW(MultiVectorStore::load(path, o), FormatError) << precision_name(p);
    std::remove(path.c_str());
  }
}

std::string message_of(const Ragged& r, Precision p, std::size_t threads) {
  try {
    r.store(p, threads);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(Store, BadInputsNameTheArgumentAndTheFirstBadRow) {
  Ragged r = random_docs(300, 8, 20, 4);  // several parallel work items of 64 documents
  Ragged empty_doc = r;
  empty_doc.offsets[5] = empty_doc.offsets[4];
  EXPECT_NE(message_of(empty_doc, Precision::kFp32, 2).find("offsets: document"), std::string::npos);
  Ragged not_zero = r;
  not_zero.offsets[0] = 1;
  EXPECT_NE(message_of(not_zero, Precision::kFp32, 2).find("offsets: expected offsets[0] == 0"), std::string::npos);
  Ragged decreasing = r;
  decreasing.offsets[10] = decreasing.offsets[9] - 1;
  EXPECT_NE(message_of(decreasing, Precision::kFp32, 2).find("offsets: document 9 has negative length"),
            std::string::npos);
  try {
    MultiVectorStore(r.vectors.data(), r.total() + 1, 8, r.offsets.data(), r.n_docs(), Precision::kFp32);
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("offsets: expected offsets[300] =="), std::string::npos) << e.what();
  }

  // Bad values in documents of different work items: the smallest row is reported, on
  // every thread count, for every precision.
  Ragged nan = r;
  const std::size_t late = static_cast<std::size_t>(nan.offsets[250]), early = static_cast<std::size_t>(nan.offsets[70]) + 1;
  nan.vectors[late * 8 + 2] = std::numeric_limits<float>::quiet_NaN();
  nan.vectors[early * 8 + 5] = -std::numeric_limits<float>::infinity();
  const std::string want = "vectors: value at row " + std::to_string(early) + ", column 5 is not finite (-inf)";
  for (const Precision p : kPrecisions)
    for (const std::size_t threads : {1, 2, 0}) EXPECT_EQ(message_of(nan, p, threads), want) << precision_name(p);

  Ragged big = r;
  big.vectors[3 * 8 + 1] = 1e5f;
  EXPECT_EQ(message_of(big, Precision::kFp16, 2), "vectors: value at row 3, column 1 overflows float16 (|x| >= 65520)");
  EXPECT_NO_THROW(big.store(Precision::kBf16, 2));

  // Queries: a bad value, an empty query, k == 0.
  const MultiVectorStore store = r.store(Precision::kFp32);
  std::vector<float> q(4 * 8, 1.0f);
  q[2 * 8 + 3] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::int64_t> qoff{0, 2, 4};
  std::vector<float> s(4);
  std::vector<std::int64_t> ids(4);
  EXPECT_THROW(store.search(q.data(), qoff.data(), 2, 1, {s.data(), ids.data(), 2}), InvalidArgument);
  const std::vector<std::int64_t> empty_query{0, 0, 4};
  q[2 * 8 + 3] = 1.0f;
  EXPECT_THROW(store.search(q.data(), empty_query.data(), 2, 1, {s.data(), ids.data(), 2}), InvalidArgument);
  EXPECT_THROW(store.search(q.data(), qoff.data(), 2, 1, {s.data(), ids.data(), 0}), InvalidArgument);
}

}  // namespace
}  // namespace aftershock::multivector
