// A seed gives the same sparse index on every platform, compiler and standard library:
// the bytes of a small fixed index (built from a corpus drawn with the portable Rng) are
// pinned by their hash. Checked under GCC/libstdc++ and clang/libc++. If the file layout
// or the build algorithm changes on purpose, update the value and say why in the commit.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "aftershock/sparse/index.hpp"
#include "test_util.hpp"

namespace aftershock::sparse {
namespace {

std::uint64_t fnv1a(const std::string& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string build_bytes(std::size_t num_threads) {
  const test::Csr docs = test::random_csr(3000, 500, 24, 2024);
  BuildParams p;
  p.n_postings = 200;
  p.centroid_fraction = 0.1;  // clustering draws many random centroids
  p.seed = 0xDEADBEEFCAFEF00Dull;  // above 2^53: stored exactly
  p.num_threads = num_threads;
  return SparseIndex::build(docs.view(), p).to_bytes();
}

TEST(Determinism, SameSeedSameSparseIndexBytesEverywhere) {
  const std::string bytes = build_bytes(1);
  EXPECT_EQ(build_bytes(3), bytes);  // nor on the thread count
  EXPECT_EQ(SparseIndex::from_bytes(bytes).build_params().seed, 0xDEADBEEFCAFEF00Dull);
  // Changed when the files gained the stored rank and run samples (SRNK, SSMP).
  EXPECT_EQ(fnv1a(bytes), 0xaeb5b9095df73d5aull) << std::hex << fnv1a(bytes);
}

}  // namespace
}  // namespace aftershock::sparse
