// Microbenchmark of the sparse engine's hot kernels at every supported SIMD level:
// forward-index dot products (gather from a dense query) and summary accumulation.
// Prints one JSON line per (kernel, level, size). Build with -DAFTERSHOCK_BUILD_BENCHMARKS=ON.
// NDOCS=<n> sets the forward index size (default 20000 rows, larger than L2: rows come from
// L3/DRAM as in a search; NDOCS=1000 keeps them in cache and measures the kernel alone).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "aftershock/simd/level.hpp"
#include "sparse/kernels.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/random.hpp"

using namespace aftershock;

namespace {

template <class F>
double seconds_per_call(F&& f, std::size_t calls) {
  f();  // warm up
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(calls);
}

}  // namespace

int main() {
  const std::size_t vocab = 30522, n_docs = std::getenv("NDOCS") ? std::atoi(std::getenv("NDOCS")) : 20000;
  aftershock::Rng rng(42);  // the core's portable generator: the same inputs everywhere
  // A SPLADE-like query: 40 nonzero terms, scattered into a dense vector as the search does.
  std::vector<float> query(vocab, 0.0f);
  auto w = [](aftershock::Rng& r) { return static_cast<float>(std::exp(r.normal())); };
  for (int i = 0; i < 40; ++i) {
    const std::size_t t = rng.below(vocab);
    query[t] = w(rng);
  }
  volatile float sink = 0;

  for (std::size_t nnz : {40, 150, 400}) {
    // A forward index of n_docs documents, visited in random order like a real search.
    std::vector<std::uint16_t> terms(n_docs * nnz), values(n_docs * nnz);
    // Documents a search scores share a few terms with the query: 8 of each row's terms
    // are query terms, the rest are drawn uniformly.
    std::vector<std::uint32_t> query_terms;
    for (std::uint32_t t = 0; t < vocab; ++t)
      if (query[t] != 0.0f) query_terms.push_back(t);
    std::vector<std::uint8_t> taken(vocab, 0);
    for (std::size_t d = 0; d < n_docs; ++d) {
      std::vector<std::uint32_t> row;
      auto take = [&](std::uint32_t t) {
        if (!taken[t]) row.push_back(t), taken[t] = 1;
      };
      for (std::size_t i = 0; i < 8; ++i) take(query_terms[rng.below(query_terms.size())]);
      while (row.size() < nnz) take(static_cast<std::uint32_t>(rng.below(vocab)));
      for (std::uint32_t t : row) taken[t] = 0;
      std::sort(row.begin(), row.end());
      for (std::size_t i = 0; i < nnz; ++i) {
        terms[d * nnz + i] = static_cast<std::uint16_t>(row[i]);
        values[d * nnz + i] = float_to_fp16(w(rng));
      }
    }
    std::vector<std::uint32_t> order(n_docs);
    std::iota(order.begin(), order.end(), 0u);
    aftershock::shuffle(order.begin(), order.end(), rng);
    for (simd::Level level : simd::compiled_levels()) {
      if (!simd::is_supported(level)) continue;
      const sparse::SparseKernels& k = sparse::sparse_kernels(level);
      const double s = seconds_per_call(
          [&] {
            float acc = 0;
            for (std::uint32_t d : order) acc += k.dot_u16_f16(&terms[d * nnz], &values[d * nnz], nnz, query.data(), 0.0f,
                                          -std::numeric_limits<float>::infinity());
            sink = acc;
          },
          20);
      std::printf("{\"kernel\": \"dot_u16_f16\", \"level\": \"%s\", \"nnz\": %zu, \"ns_per_doc\": %.1f, \"gnnz_per_s\": %.3f}\n",
                  simd::level_name(level), nnz, s / n_docs * 1e9, n_docs * nnz / s / 1e9);
    }
  }

  // Summary accumulation: one summary component (distinct blocks of one 256-block page).
  for (std::size_t n : {16, 100, 255}) {
    std::vector<std::uint8_t> blocks(256);
    std::iota(blocks.begin(), blocks.end(), 0);
    aftershock::shuffle(blocks.begin(), blocks.end(), rng);
    std::vector<std::uint8_t> codes(n);
    for (auto& c : codes) c = static_cast<std::uint8_t>(rng.below(255) + 1);
    std::vector<float> acc(256, 0.0f);
    for (simd::Level level : simd::compiled_levels()) {
      if (!simd::is_supported(level)) continue;
      const sparse::SparseKernels& k = sparse::sparse_kernels(level);
      const double s = seconds_per_call([&] { k.accumulate_codes_u8(blocks.data(), codes.data(), n, 0.5f, acc.data()); },
                                        200000);
      std::printf("{\"kernel\": \"accumulate_codes_u8\", \"level\": \"%s\", \"entries\": %zu, \"ns_per_entry\": %.3f}\n",
                  simd::level_name(level), n, s / static_cast<double>(n) * 1e9);
    }
    sink = acc[0];
  }
  return 0;
}
