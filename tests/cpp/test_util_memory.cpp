// util/memory.hpp: the usable-memory estimate and the refusal of needs above it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "aftershock/error.hpp"
#include "aftershock/util/memory.hpp"

namespace aftershock {
namespace {

TEST(Memory, ParsesCgroupLimits) {
  EXPECT_EQ(parse_cgroup_limit("1073741824\n"), std::uint64_t{1} << 30);
  EXPECT_EQ(parse_cgroup_limit("9223372036854771712\n"), std::uint64_t{9223372036854771712u});  // v1 "unlimited"
  EXPECT_FALSE(parse_cgroup_limit("max\n").has_value());
  EXPECT_FALSE(parse_cgroup_limit("").has_value());
  EXPECT_FALSE(parse_cgroup_limit("12 34").has_value());
  EXPECT_FALSE(parse_cgroup_limit("-5").has_value());
  EXPECT_FALSE(parse_cgroup_limit("99999999999999999999999").has_value());  // beyond 64 bits
}

TEST(Memory, SaturatingArithmetic) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(bytes_product({3, 5, 7}), 105u);
  EXPECT_EQ(bytes_product({std::uint64_t{1} << 40, std::uint64_t{1} << 40}), kMax);
  EXPECT_EQ(bytes_product({kMax, 0}), 0u);
  EXPECT_EQ(bytes_sum(kMax - 1, 5), kMax);
  EXPECT_EQ(bytes_sum(2, 3), 5u);
}

TEST(Memory, FormatsBinaryUnits) {
  EXPECT_EQ(format_bytes(512), "512 bytes");
  EXPECT_EQ(format_bytes(std::uint64_t{15} << 29), "7.5 GiB");
  EXPECT_EQ(format_bytes(std::uint64_t{4} << 30), "4.0 GiB");
}

TEST(Memory, UsableIsAtMostPhysicalRam) {
  const MemoryLimit usable = usable_memory();
  EXPECT_GT(usable.bytes, 0u);
#if defined(__linux__)
  const std::uint64_t ram = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  EXPECT_LE(usable.bytes, ram);
#endif
}

TEST(Memory, RefusesNeedsAboveTheLimitAndNamesThem) {
  const std::uint64_t usable = usable_memory_bytes();
  EXPECT_NO_THROW(check_memory_need(0, "nothing"));
  EXPECT_NO_THROW(check_memory_need(usable / 2, "half"));
  try {
    check_memory_need(usable + (std::uint64_t{1} << 30), "dim: the vocabulary", "pass dim");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dim: the vocabulary needs "), std::string::npos) << msg;
    EXPECT_NE(msg.find("this process can use"), std::string::npos) << msg;
    EXPECT_NE(msg.find("; pass dim"), std::string::npos) << msg;
  }
}

#if defined(__linux__)
// A lowered RLIMIT_AS becomes the binding limit (less what the process already maps).
TEST(Memory, FollowsTheAddressSpaceLimit) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &saved), 0);
  const std::uint64_t before = usable_memory_bytes();
  std::uint64_t in_use = 0;
  {
    long pages = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fscanf(f, "%ld", &pages), 1);
    std::fclose(f);
    in_use = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  }
  const std::uint64_t limit = in_use + std::min<std::uint64_t>(before / 2, std::uint64_t{1} << 30);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < limit) GTEST_SKIP() << "hard RLIMIT_AS too low";
  rlimit lowered = saved;
  lowered.rlim_cur = limit;
  ASSERT_EQ(setrlimit(RLIMIT_AS, &lowered), 0);
  const MemoryLimit usable = usable_memory();
  setrlimit(RLIMIT_AS, &saved);
  EXPECT_LE(usable.bytes, limit - in_use + (std::uint64_t{16} << 20));  // statm moves a little between reads
  EXPECT_NE(usable.source.find("RLIMIT_AS"), std::string::npos) << usable.source;
}
#endif

}  // namespace
}  // namespace aftershock
