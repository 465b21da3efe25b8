// The sectioned file format: round trips, and every kind of damage refused with FormatError.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/io/format.hpp"

namespace aftershock::io {
namespace {

// The writer holds its sections by reference, so the data lives as long as the test.
const std::vector<std::uint64_t> kU64{1, 2, 3, 1ull << 60};
const std::vector<float> kF32{0.5f, -2.0f};
const std::vector<std::uint16_t> kU16{7, 65535, 0};
const std::vector<std::uint8_t> kEmpty;

std::string sample_file() {
  FileWriter w("TEST");
  w.add_vector("AU64", kU64);
  w.add_vector("BF32", kF32);
  w.add_vector("CU16", kU16);
  w.add_vector("DEMP", kEmpty);
  return w.to_bytes();
}

TEST(Format, RoundTripReadsEverySectionBack) {
  const FileReader r = FileReader::from_bytes(sample_file(), "TEST");
  EXPECT_EQ(r.read_vector<std::uint64_t>("AU64"), kU64);
  EXPECT_EQ(r.read_vector<float>("BF32", 2), kF32);
  EXPECT_EQ(r.read_vector<std::uint16_t>("CU16"), kU16);
  EXPECT_TRUE(r.read_vector<std::uint8_t>("DEMP").empty());
  EXPECT_TRUE(r.has("AU64"));
  EXPECT_FALSE(r.has("ZZZZ"));
  r.verify_unread();
}

TEST(Format, WrongKindDtypeOrCountIsAFormatError) {
  EXPECT_THROW(FileReader::from_bytes(sample_file(), "SPRS"), FormatError);
  const FileReader r = FileReader::from_bytes(sample_file(), "TEST");
  EXPECT_THROW(r.read_vector<float>("AU64"), FormatError);
  EXPECT_THROW(r.read_vector<float>("BF32", 3), FormatError);
  EXPECT_THROW(r.read_vector<float>("MISS"), FormatError);
}

TEST(Format, EverySingleByteFlipIsRefused) {
  const std::string good = sample_file();
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    try {
      const FileReader r = FileReader::from_bytes(bad, "TEST");
      (void)r.read_vector<std::uint64_t>("AU64");
      (void)r.read_vector<float>("BF32");
      (void)r.read_vector<std::uint16_t>("CU16");
      (void)r.read_vector<std::uint8_t>("DEMP");
      r.verify_unread();
      ADD_FAILURE() << "flip at byte " << i << " of " << good.size() << " went unnoticed";
    } catch (const FormatError&) {
    }
  }
}

TEST(Format, EveryTruncationIsRefused) {
  const std::string good = sample_file();
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(
        {
          const FileReader r = FileReader::from_bytes(good.substr(0, n), "TEST");
          (void)r.read_vector<std::uint64_t>("AU64");
          (void)r.read_vector<float>("BF32");
          (void)r.read_vector<std::uint16_t>("CU16");
          r.verify_unread();
        },
        FormatError)
        << "truncated to " << n << " bytes";
  }
}

TEST(Format, WriteIsAtomicAndReadsBackFromDisk) {
  const std::string path = ::testing::TempDir() + "aftershock_format_test.bin";
  const std::vector<std::uint64_t> answer{42};
  FileWriter w("TEST");
  w.add_vector("AU64", answer);
  w.write(path);
  EXPECT_EQ(FileReader::from_file(path, "TEST").read_vector<std::uint64_t>("AU64"), answer);
  // Written beside the target, then renamed over it: nothing of the temporary is left.
  EXPECT_EQ(std::fopen((path + ".tmp").c_str(), "rb"), nullptr);
  EXPECT_THROW(w.write(::testing::TempDir() + "no/such/dir/x.bin"), IoError);
  std::remove(path.c_str());
}

TEST(Format, IoErrorCarriesErrnoAndPathAndNulPathsAreRefused) {
  const std::string missing = ::testing::TempDir() + "no/such/dir/x.bin";
  FileWriter w("TEST");
  try {
    w.write(missing);
    FAIL() << "write into a missing directory succeeded";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_EQ(e.path(), missing);
  }
  try {
    FileReader::from_file(missing, "TEST");
    FAIL() << "reading a missing file succeeded";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_EQ(e.path(), missing);
  }
  // The OS would stop at the NUL and write "x.bin": refused before any system call.
  const std::string with_nul = ::testing::TempDir() + std::string("x.bin\0y", 7);
  EXPECT_THROW(w.write(with_nul), InvalidArgument);
  EXPECT_THROW(FileReader::from_file(with_nul, "TEST"), InvalidArgument);
  EXPECT_THROW(remove_stale_temporaries(with_nul), InvalidArgument);
}

TEST(Format, Crc32cMatchesTheStandardCheckValue) {
  const std::string s = "123456789";  // the CRC-32C check value (RFC 3720)
  EXPECT_EQ(crc32c(s.data(), s.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_using(false, s.data(), s.size()), 0xE3069283u);
}

}  // namespace
}  // namespace aftershock::io

namespace aftershock::io {
namespace {

TEST(Config, IntegersAreStoredExactlyAndOldDoubleTextStillReads) {
  Config c;
  c.set_uint("seed", 0xFFFFFFFFFFFFFFFFull);
  c.set_uint("big", (1ull << 53) + 1);  // not a double
  c.set("ratio", 0.1);
  const Config r = Config::parse(c.serialize());
  EXPECT_EQ(r.get_uint("seed", ~0ull), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(r.get_uint("big", ~0ull), (1ull << 53) + 1);
  EXPECT_EQ(r.get("ratio"), 0.1);
  // As earlier versions wrote integers (%.17g of a double):
  const Config old = Config::parse("n=42\nseed=1.8446744073709552e+19\nlarge=9007199254740992\nbad=1.5\n");
  EXPECT_EQ(old.get_uint("n", 100), 42u);
  EXPECT_EQ(old.get_uint("large", ~0ull), 9007199254740992ull);
  EXPECT_THROW(old.get_uint("seed", ~0ull), FormatError);  // 2^64 does not fit
  EXPECT_THROW(old.get_uint("bad", 100), FormatError);
  EXPECT_THROW(old.get_uint("n", 41), FormatError);
  EXPECT_THROW(old.get_uint("missing", 1), FormatError);
  EXPECT_THROW(Config::parse("x=99999999999999999999999\n").get_uint("x", ~0ull), FormatError);  // > 2^64 - 1
}

}  // namespace
}  // namespace aftershock::io
