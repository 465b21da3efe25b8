// util/ragged.hpp: offsets and finiteness checks of ragged batches, their messages, and
// that the first bad row is reported whatever the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/ragged.hpp"

namespace aftershock {
namespace {

std::string why(const std::vector<std::int64_t>& o, std::size_t total, EmptyRows e = EmptyRows::kRejected) {
  return ragged_offsets_error(o.data(), o.size() - 1, total, "offsets", "document", e);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(RaggedOffsets, ValidBatches) {
  EXPECT_EQ(why({0}, 0), "");
  EXPECT_EQ(why({0, 2, 3, 7}, 7), "");
  EXPECT_EQ(why({0, 2, 2, 7}, 7, EmptyRows::kAllowed), "");
}

TEST(RaggedOffsets, MessagesNameTheArgumentAndGiveExpectedVersusActual) {
  EXPECT_EQ(why({1, 2}, 2), "offsets: expected offsets[0] == 0, got 1");
  EXPECT_EQ(why({0, 3, 2, 4}, 4),
            "offsets: document 1 has negative length (offsets[1] = 3 > offsets[2] = 2); expected non-decreasing offsets");
  EXPECT_EQ(why({0, 2, 2, 4}, 4), "offsets: document 1 is empty (offsets[1] = offsets[2] = 2); expected >= 1 token");
  EXPECT_EQ(why({0, 2, 3}, 4), "offsets: expected offsets[2] == 4 (the number of token rows), got 3");
  EXPECT_EQ(why({0, 2, 2, 4}, 5, EmptyRows::kAllowed),
            "offsets: expected offsets[3] == 5 (the number of token rows), got 4");
  EXPECT_EQ(message_of([] {
              const std::int64_t q[] = {0, 1, 1};
              check_ragged_offsets(q, 2, 1, "query_offsets", "query", EmptyRows::kRejected);
            }),
            "query_offsets: query 1 is empty (query_offsets[1] = query_offsets[2] = 1); expected >= 1 token");
}

TEST(RaggedOffsets, ReportsTheFirstBadRow) {
  std::vector<std::int64_t> o(1001);
  for (std::size_t i = 0; i <= 1000; ++i) o[i] = static_cast<std::int64_t>(2 * i);
  o[18] = o[17];  // row 17 empty ...
  o[500] = 0;     // ... and rows 499, 500 broken later
  EXPECT_EQ(why(o, 2000), "offsets: document 17 is empty (offsets[17] = offsets[18] = 34); expected >= 1 token");
}

TEST(FiniteRows, FirstBadValueWhateverTheThreadCount) {
  const std::size_t rows = 50000, dim = 7;
  std::vector<float> x(rows * dim, 1.0f);
  EXPECT_NO_THROW(check_finite_rows(x.data(), rows, dim, "vectors", 4));
  // Bad values in many work items; the first is in row 17000, column 3.
  for (std::size_t r = 49999; r >= 17001; r -= 1234) x[r * dim + 1] = std::numeric_limits<float>::infinity();
  x[17000 * dim + 3] = std::numeric_limits<float>::quiet_NaN();
  x[17000 * dim + 5] = -std::numeric_limits<float>::infinity();
  for (std::size_t threads : {1, 2, 3, 8, 0}) {
    for (int rep = 0; rep < 5; ++rep) {
      EXPECT_EQ(message_of([&] { check_finite_rows(x.data(), rows, dim, "vectors", threads); }),
                "vectors: value at row 17000, column 3 is not finite (nan)");
    }
  }
}

TEST(FiniteRows, OptionalLimitForStoragePrecisions) {
  std::vector<float> x{1.0f, 65504.0f, 2.0f, 65520.0f};
  EXPECT_NO_THROW(check_finite_rows(x.data(), 2, 2, "vectors", 1));
  EXPECT_EQ(message_of([&] {
              check_finite_rows(x.data(), 2, 2, "vectors", 1, kFp16OverflowBits, "float16 (|x| >= 65520)");
            }),
            "vectors: value at row 1, column 1 overflows float16 (|x| >= 65520)");
  x[0] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(message_of([&] {
              check_finite_rows(x.data(), 2, 2, "vectors", 1, kFp16OverflowBits, "float16 (|x| >= 65520)");
            }),
            "vectors: value at row 0, column 0 is not finite (-inf)");
}

}  // namespace
}  // namespace aftershock
