// util/topk.hpp: the one top-k collector. Order, ties, NaN, padding, reuse, and that the
// result never depends on push order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "aftershock/util/random.hpp"
#include "aftershock/util/topk.hpp"

namespace aftershock {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Out {
  std::vector<float> scores;
  std::vector<std::int64_t> ids;
};

Out collect(std::size_t k, const std::vector<std::pair<float, DocId>>& items) {
  TopK top(k);
  for (const auto& [s, id] : items) top.push(s, id);
  Out o{std::vector<float>(k), std::vector<std::int64_t>(k)};
  top.write(o.scores.data(), o.ids.data());
  return o;
}

TEST(TopK, BestFirstTiesToTheSmallerIdPaddedWithMinusInfAndMinusOne) {
  const Out o = collect(5, {{1.0f, 9}, {3.0f, 4}, {3.0f, 2}, {2.0f, 7}});
  EXPECT_EQ(o.scores, (std::vector<float>{3.0f, 3.0f, 2.0f, 1.0f, -kInf}));
  EXPECT_EQ(o.ids, (std::vector<std::int64_t>{2, 4, 7, 9, -1}));
}

TEST(TopK, KeepsTheSmallerIdsAmongEqualScoresAtTheBoundary) {
  const Out o = collect(2, {{1.0f, 5}, {1.0f, 3}, {1.0f, 8}, {1.0f, 1}});
  EXPECT_EQ(o.ids, (std::vector<std::int64_t>{1, 3}));
}

TEST(TopK, ResultDoesNotDependOnPushOrder) {
  std::vector<std::pair<float, DocId>> items;
  Rng rng(3);
  for (DocId i = 0; i < 500; ++i) items.emplace_back(static_cast<float>(rng.below(20)), i);  // many ties
  const Out want = collect(37, items);
  for (int round = 0; round < 20; ++round) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
    const Out got = collect(37, items);
    EXPECT_EQ(got.scores, want.scores);
    EXPECT_EQ(got.ids, want.ids);
  }
}

TEST(TopK, NaNIsNeverAdmittedAndLeavesTheHeapIntact) {
  // NaN first (heap not full), in the middle, and last (heap full).
  const Out o = collect(3, {{kNaN, 0}, {1.0f, 1}, {kNaN, 2}, {5.0f, 3}, {-kInf, 4}, {2.0f, 5}, {kNaN, 6}});
  EXPECT_EQ(o.scores, (std::vector<float>{5.0f, 2.0f, 1.0f}));
  EXPECT_EQ(o.ids, (std::vector<std::int64_t>{3, 5, 1}));
  const Out only_nan = collect(2, {{kNaN, 0}, {kNaN, 1}});
  EXPECT_EQ(only_nan.ids, (std::vector<std::int64_t>{-1, -1}));
  TopK top(1);
  EXPECT_FALSE(top.admits(kNaN));
  EXPECT_TRUE(top.admits(-kInf));  // a real score, if a poor one
}

TEST(TopK, ThresholdAdmitsAndFull) {
  TopK top(2);
  EXPECT_EQ(top.threshold(), -kInf);
  EXPECT_FALSE(top.full());
  top.push(4.0f, 1);
  top.push(6.0f, 2);
  EXPECT_TRUE(top.full());
  EXPECT_EQ(top.threshold(), 4.0f);
  EXPECT_TRUE(top.admits(4.0f));  // enters with a smaller id
  EXPECT_FALSE(top.admits(3.0f));
  top.push(4.0f, 0);
  std::vector<float> s(2);
  std::vector<std::int64_t> ids(2);
  EXPECT_EQ(top.write(s.data(), ids.data()), 2u);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{2, 0}));
}

TEST(TopK, KZeroKeepsNothingAndResetReuses) {
  TopK top(0);
  top.push(kInf, 1);
  EXPECT_EQ(top.size(), 0u);
  EXPECT_FALSE(top.admits(kInf));
  top.reset(1);
  top.push(1.0f, 7);
  top.reset(2);  // per-thread reuse: nothing carried over
  top.push(0.5f, 3);
  float s[2];
  std::int64_t ids[2];
  top.write(s, ids);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], -1);
  EXPECT_EQ(s[1], -kInf);
}

TEST(TopK, AFloorRejectsLowerScoresEvenWhenNotFullAndAdmitsEqualOnes) {
  TopK top;
  top.reset(3, 2.0f);
  EXPECT_EQ(top.floor(), 2.0f);
  EXPECT_EQ(top.threshold(), 2.0f);  // the floor, before anything is kept
  EXPECT_FALSE(top.admits(1.5f));
  EXPECT_TRUE(top.admits(2.0f));
  top.push(1.9f, 0);  // e.g. an early-stopped upper bound below the threshold
  top.push(kNaN, 1);
  top.push(-kInf, 2);
  EXPECT_EQ(top.size(), 0u);
  top.push(2.0f, 5);  // equal to the floor: returned
  top.push(4.0f, 3);
  EXPECT_EQ(top.threshold(), 2.0f);
  top.push(3.0f, 4);
  EXPECT_EQ(top.threshold(), 2.0f);  // full: the worst kept score
  top.push(5.0f, 6);
  EXPECT_EQ(top.threshold(), 3.0f);
  Out o{std::vector<float>(3), std::vector<std::int64_t>(3)};
  top.write(o.scores.data(), o.ids.data());
  EXPECT_EQ(o.ids, (std::vector<std::int64_t>{6, 3, 4}));
  top.clear();  // keeps the floor
  EXPECT_EQ(top.threshold(), 2.0f);
  top.push(1.0f, 9);
  EXPECT_EQ(top.size(), 0u);
  top.reset(2);  // a reset without a floor drops it
  EXPECT_EQ(top.threshold(), -kInf);
  top.push(1.0f, 9);
  EXPECT_EQ(top.size(), 1u);
}

TEST(TopK, AFloorPadsWhenTooFewReachIt) {
  TopK top;
  top.reset(4, 10.0f);
  for (DocId i = 0; i < 20; ++i) top.push(static_cast<float>(i), i);
  Out o{std::vector<float>(4), std::vector<std::int64_t>(4)};
  EXPECT_EQ(top.write(o.scores.data(), o.ids.data()), 4u);
  EXPECT_EQ(o.ids, (std::vector<std::int64_t>{19, 18, 17, 16}));
  top.reset(4, 17.5f);
  for (DocId i = 0; i < 20; ++i) top.push(static_cast<float>(i), i);
  EXPECT_EQ(top.write(o.scores.data(), o.ids.data()), 2u);
  EXPECT_EQ(o.ids, (std::vector<std::int64_t>{19, 18, -1, -1}));
  EXPECT_EQ(o.scores[2], -kInf);
}

}  // namespace
}  // namespace aftershock
