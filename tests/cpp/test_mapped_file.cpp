// Memory-mapped loading: io::MappedFile, FileReader::map_file / view / verify_all, Array,
// and SparseIndex::load with LoadOptions{mmap}.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/io/format.hpp"
#include "aftershock/io/mapped_file.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/util/array.hpp"
#include "test_util.hpp"

namespace aftershock {
namespace {

const std::vector<std::uint64_t> kU64{1, 2, 3, 1ull << 60};
const std::vector<float> kF32{0.5f, -2.0f, 7.0f};
const std::vector<std::uint16_t> kU16{7, 65535, 0};

std::string sample_file() {
  io::FileWriter w("TEST");
  w.add_vector("AU64", kU64);
  w.add_vector("BF32", kF32);
  w.add_vector("CU16", kU16);
  return w.to_bytes();
}

// A file under the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir ? dir : "/tmp") + "/aftershock_mmap_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter_++) + ".aft";
    write(bytes);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  void write(const std::string& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  static inline int counter_ = 0;
};

TEST(Array, OwnsOrViews) {
  Array<std::uint32_t> a(std::vector<std::uint32_t>{1, 2, 3});
  EXPECT_FALSE(a.is_view());
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a.size_bytes(), 12u);
  EXPECT_EQ(a[2], 3u);
  Array<std::uint32_t> copy = a;  // owning: copies the elements
  EXPECT_NE(copy.data(), a.data());
  EXPECT_EQ(std::vector<std::uint32_t>(copy.begin(), copy.end()), (std::vector<std::uint32_t>{1, 2, 3}));
  const std::uint32_t* p = a.data();
  Array<std::uint32_t> moved = std::move(a);  // moving keeps the buffer
  EXPECT_EQ(moved.data(), p);
  EXPECT_TRUE(a.empty());

  auto keep = std::make_shared<std::vector<std::uint32_t>>(std::vector<std::uint32_t>{4, 5});
  Array<std::uint32_t> v = Array<std::uint32_t>::view(keep->data(), keep->size(), keep);
  EXPECT_TRUE(v.is_view());
  EXPECT_THROW(v.mutable_data(), std::logic_error);
  Array<std::uint32_t> vcopy = v;  // a view copies the pointer and shares the owner
  EXPECT_EQ(vcopy.data(), keep->data());
  const std::weak_ptr<std::vector<std::uint32_t>> weak = keep;
  keep.reset();
  EXPECT_FALSE(weak.expired());  // kept alive by the views
  EXPECT_EQ(v[1], 5u);
  v.make_owned();
  EXPECT_FALSE(v.is_view());
  EXPECT_EQ(v[0], 4u);
  vcopy = Array<std::uint32_t>();
  EXPECT_TRUE(weak.expired());
}

TEST(MappedFile, MapsViewsAndCountsResidentPages) {
  if (!io::mmap_supported()) GTEST_SKIP() << "no mmap here";
  const TempFile f(sample_file());
  const io::FileReader r = io::FileReader::map_file(f.path(), "TEST");
  ASSERT_TRUE(r.mapping());
  EXPECT_EQ(r.mapping()->size(), sample_file().size());
  const Array<std::uint64_t> a = r.view<std::uint64_t>("AU64", 4);
  EXPECT_TRUE(a.is_view());
  EXPECT_EQ(std::vector<std::uint64_t>(a.begin(), a.end()), kU64);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % io::kAlignment, 0u);
  const Array<float> b = r.view<float>("BF32");
  EXPECT_EQ(std::vector<float>(b.begin(), b.end()), kF32);
  EXPECT_EQ(r.read_vector<std::uint16_t>("CU16"), kU16);  // a copy from the mapping
  EXPECT_THROW(r.view<float>("AU64"), FormatError);        // dtype
  EXPECT_THROW(r.view<std::uint64_t>("AU64", 5), FormatError);
  EXPECT_THROW(r.view<std::uint64_t>("MISS"), FormatError);
  r.verify_all();
  r.advise("AU64", io::Advice::kRandom);
  EXPECT_EQ(r.mapping()->resident_bytes(), r.mapping()->size());  // just written: cached
  EXPECT_EQ(r.mapping()->resident_bytes(0, 10), 10u);
  EXPECT_EQ(r.mapping()->resident_bytes(r.mapping()->size(), 10), 0u);
  // The views keep the mapping alive after the reader is gone and the file unlinked.
  const Array<std::uint64_t> kept = r.view<std::uint64_t>("AU64");
  std::remove(f.path().c_str());
  EXPECT_EQ(kept[3], kU64[3]);
}

TEST(MappedFile, VerifyAllPassesOnEveryReaderOfAGoodFile) {
  // verify_all of a file read with pread goes 16 MiB at a time, continuing the CRC.
  const std::string text(1000, 'x');
  EXPECT_EQ(io::crc32c(text.data() + 300, 700, io::crc32c(text.data(), 300)), io::crc32c(text.data(), 1000));
  const TempFile f(sample_file());
  io::FileReader::from_file(f.path(), "TEST").verify_all();
  io::FileReader::from_bytes(sample_file(), "TEST").verify_all();
  if (io::mmap_supported()) io::FileReader::map_file(f.path(), "TEST").verify_all();
}

TEST(MappedFile, BadPathsAreRefused) {
  if (!io::mmap_supported()) GTEST_SKIP() << "no mmap here";
  EXPECT_THROW(io::MappedFile::open(""), InvalidArgument);
  EXPECT_THROW(io::MappedFile::open(std::string("a\0b", 3)), InvalidArgument);
  EXPECT_THROW(io::MappedFile::open("/nonexistent/aftershock.aft"), IoError);
  EXPECT_THROW(io::MappedFile::open("/"), IoError);
  const TempFile empty("");
  EXPECT_EQ(io::MappedFile::open(empty.path())->size(), 0u);
  EXPECT_THROW(io::FileReader::map_file(empty.path(), "TEST"), FormatError);
}

TEST(MappedFile, TruncationIsAFormatErrorAtOpen) {
  if (!io::mmap_supported()) GTEST_SKIP() << "no mmap here";
  const std::string good = sample_file();
  const TempFile f(good);
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{64}, good.size() / 2, good.size() - 1}) {
    f.write(good.substr(0, cut));
    EXPECT_THROW(io::FileReader::map_file(f.path(), "TEST"), FormatError) << cut;
  }
}

TEST(MappedFile, VerifyAllFindsAFlippedByteInEverySection) {
  if (!io::mmap_supported()) GTEST_SKIP() << "no mmap here";
  const std::string good = sample_file();
  const TempFile f(good);
  // Every byte: refused at open (header, table, padding) or by verify_all (payloads).
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    f.write(bad);
    EXPECT_THROW(io::FileReader::map_file(f.path(), "TEST").verify_all(), FormatError) << "byte " << i;
  }
  // A payload byte passes the open (content is trusted) and is found by verify_all.
  const io::FileReader clean = io::FileReader::from_bytes(good, "TEST");
  for (const char* tag : {"AU64", "BF32", "CU16"}) {
    std::string bad = good;
    const auto [offset, length] = clean.section_range(tag);
    bad[offset + length - 1] = static_cast<char>(bad[offset + length - 1] ^ 1);
    f.write(bad);
    const io::FileReader r = io::FileReader::map_file(f.path(), "TEST");
    EXPECT_THROW(r.verify_all(), FormatError) << tag;
    // The in-memory reader reports it too, also through verify_all().
    EXPECT_THROW(io::FileReader::from_file(f.path(), "TEST").verify_all(), FormatError) << tag;
    EXPECT_THROW(io::FileReader::from_bytes(bad, "TEST").verify_all(), FormatError) << tag;
  }
}

sparse::BuildParams small_params(std::size_t knn) {
  sparse::BuildParams b;
  b.num_threads = 1;
  b.n_postings = 50;
  b.knn = knn;
  return b;
}

TEST(SparseMmap, MappedSearchEqualsInMemoryAndVerifyFindsDamage) {
  if (!io::mmap_supported()) GTEST_SKIP() << "no mmap here";
  const test::Csr docs = test::random_csr(800, 300, 15, 11), queries = test::random_csr(30, 300, 8, 12);
  const sparse::SparseIndex built = sparse::SparseIndex::build(docs.view(), small_params(2));
  const std::string bytes = built.to_bytes();
  const TempFile f(bytes);
  sparse::SparseIndex::LoadOptions o;
  o.mmap = true;
  o.verify = false;
  const sparse::SparseIndex mapped = sparse::SparseIndex::load(f.path(), o);
  EXPECT_TRUE(mapped.is_mapped());
  EXPECT_FALSE(built.is_mapped());
  EXPECT_EQ(mapped.mapped_bytes(), bytes.size());
  EXPECT_LE(mapped.resident_bytes(), mapped.mapped_bytes());
  EXPECT_EQ(mapped.to_bytes(), bytes);
  EXPECT_EQ(mapped.component_bytes().forward_index, built.component_bytes().forward_index);
  mapped.verify();
  for (std::size_t n_knn : {std::size_t{0}, std::size_t{2}}) {
    sparse::SearchParams p;
    p.k = 10;
    p.n_knn = n_knn;
    p.num_threads = 1;
    std::vector<float> s1(30 * p.k), s2(30 * p.k);
    std::vector<std::int64_t> i1(30 * p.k), i2(30 * p.k);
    built.search(queries.view(), p, TopKOut{s1.data(), i1.data(), p.k});
    mapped.search(queries.view(), p, TopKOut{s2.data(), i2.data(), p.k});
    EXPECT_EQ(i1, i2);
    EXPECT_EQ(s1, s2);
  }
  // A flipped byte inside each large section: the open without verify trusts most of
  // them; verify() and a load with verify refuse every one.
  const io::FileReader clean = io::FileReader::from_bytes(bytes, "SPRS");
  for (const char* tag : {"FWDR", "FWDH", "PROW", "BPST", "BSCL", "SBMP", "SRUN", "EBLK", "ECOD", "KNNG"}) {
    const auto [offset, length] = clean.section_range(tag);
    if (length == 0) continue;
    std::string bad = bytes;
    bad[offset + length / 2] = static_cast<char>(bad[offset + length / 2] ^ 0x10);
    const TempFile damaged(bad);
    // (The bitmap directories and run bits are read at open to derive the ranks and run
    // samples, so damage there may already be refused by the open.)
    EXPECT_THROW(sparse::SparseIndex::load(damaged.path(), o).verify(), FormatError) << tag;
    sparse::SparseIndex::LoadOptions v = o;
    v.verify = true;
    EXPECT_THROW(sparse::SparseIndex::load(damaged.path(), v), FormatError) << tag;
  }
  // Truncated: refused at the open, without verify.
  const TempFile cut(bytes.substr(0, bytes.size() - 64));
  EXPECT_THROW(sparse::SparseIndex::load(cut.path(), o), FormatError);
}

}  // namespace
}  // namespace aftershock
