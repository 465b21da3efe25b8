// MaxSim kernel microbenchmark (plain C++ and std::chrono; no benchmark library).
//
//   bench_maxsim [--quick] [--probe-only] [--m 32] [--dim 128] [--len 80] [--docs N] [--seconds 0.5]
//
// 1. Peak probes, one core: fp32 FMA (ymm and zmm), bf16 dot (vdpbf16ps) and int8 VNNI
//    (vpdpbusd), each with 16 independent accumulator chains so the loop is throughput
//    bound. FLOPs: 2 per multiply-add (FMA zmm: 32, vdpbf16ps: 64, vpdpbusd: 128).
// 2. MaxSim over a store of documents (one thread) for every precision and SIMD level:
//    GFLOP/s counting 2 * m * n * dim per query-document pair (real tokens only, not panel
//    padding), documents/s, and the fraction of the peak of the instruction the kernel
//    is built on. Two working sets: "l2" (documents fit in the core's L2) and "stream"
//    (documents come from DRAM).
// Output: one JSON object per line.
#include <immintrin.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "aftershock/maxsim/maxsim.hpp"
#include "aftershock/multivector/store.hpp"
#include "aftershock/simd/level.hpp"
#include "aftershock/util/random.hpp"

using Clock = std::chrono::steady_clock;
using aftershock::maxsim::Precision;
namespace simd = aftershock::simd;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

volatile float g_sink_f;
volatile int g_sink_i;

__attribute__((target("avx2,fma"))) double probe_fma256(long iters) {
  // 12 chains: AVX2 has 16 ymm registers, and 12 > latency (4) x ports (2).
  __m256 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(0.001f * static_cast<float>(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  double s = seconds_since(t0);
  __m256 t = acc[0];
  for (int j = 1; j < 12; ++j) t = _mm256_add_ps(t, acc[j]);
  g_sink_f = _mm256_cvtss_f32(t);
  return 2.0 * 8 * 12 * static_cast<double>(iters) / s / 1e9;
}

__attribute__((target("avx512f"))) double probe_fma512(long iters) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(0.001f * static_cast<float>(j));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  double s = seconds_since(t0);
  __m512 t = acc[0];
  for (int j = 1; j < 16; ++j) t = _mm512_add_ps(t, acc[j]);
  g_sink_f = _mm512_reduce_add_ps(t);
  return 2.0 * 16 * 16 * static_cast<double>(iters) / s / 1e9;
}

__attribute__((target("avx512f,avx512bf16"))) double probe_bf16(long iters) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_setzero_ps();
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3A833A83);  // bf16 ~0.001 pairs
  const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3A833A83);
  auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  double s = seconds_since(t0);
  __m512 t = acc[0];
  for (int j = 1; j < 16; ++j) t = _mm512_add_ps(t, acc[j]);
  g_sink_f = _mm512_reduce_add_ps(t);
  return 2.0 * 32 * 16 * static_cast<double>(iters) / s / 1e9;
}

__attribute__((target("avx512f,avx512vnni"))) double probe_vnni(long iters) {
  __m512i acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_epi32(j);
  const __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x01FF0102);
  auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
  double s = seconds_since(t0);
  __m512i t = acc[0];
  for (int j = 1; j < 16; ++j) t = _mm512_add_epi32(t, acc[j]);
  g_sink_i = _mm512_reduce_add_epi32(t);
  return 2.0 * 64 * 16 * static_cast<double>(iters) / s / 1e9;
}

// Best of 3 runs of ~0.1 s each.
template <class F>
double best_of(F probe, long iters) {
  double best = 0;
  for (int r = 0; r < 3; ++r) best = std::max(best, probe(iters));
  return best;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      return pos == std::string::npos ? line : line.substr(pos + 2);
    }
  return "unknown";
}

struct Peaks {
  double fma256 = 0, fma512 = 0, bf16 = 0, vnni = 0;
};

Peaks measure_peaks(long iters) {
  const auto& f = simd::cpu_features();
  Peaks pk;
  if (f.avx2_fma_f16c) pk.fma256 = best_of(probe_fma256, iters);
  if (f.avx512) pk.fma512 = best_of(probe_fma512, iters);
  if (f.avx512 && f.avx512_bf16) pk.bf16 = best_of(probe_bf16, iters);
  if (f.avx512 && f.avx512_vnni) pk.vnni = best_of(probe_vnni, iters);
  return pk;
}

struct Args {
  std::size_t m = 32, dim = 128, len = 80, docs_stream = 20000;
  double seconds = 0.5;
  bool quick = false;
  bool probe_only = false;
};

// The peak the kernel's inner instruction can reach on this core.
double peak_for(const Peaks& pk, const std::string& kernel) {
  if (kernel == "avx512_bf16") return pk.bf16;
  if (kernel == "avx512_vnni") return pk.vnni;
  if (kernel == "avx512") return pk.fma512;
  if (kernel == "avx2") return pk.fma256;
  return 0;
}

void run_store(const Args& a, const Peaks& /*startup_peaks*/, const std::vector<float>& vectors, const std::vector<std::int64_t>& offsets,
               const std::vector<float>& query, Precision precision, const char* regime) {
  const std::size_t n_docs = offsets.size() - 1;
  aftershock::multivector::MultiVectorStore store(vectors.data(), static_cast<std::size_t>(offsets.back()), a.dim,
                                                  offsets.data(), n_docs, precision, 0);
  std::vector<float> out(n_docs);
  const double flops_per_pass = 2.0 * static_cast<double>(a.m) * static_cast<double>(offsets.back()) * a.dim;
  struct Variant {
    simd::Level level;
    bool extensions;
  };
  std::vector<Variant> variants;
  for (simd::Level l : simd::compiled_levels()) {
    if (!simd::is_supported(l)) continue;
    if (l == simd::Level::kScalar && std::strcmp(regime, "l2") != 0) continue;  // too slow to stream
    variants.push_back({l, true});
    if (l == simd::Level::kAvx512 && (precision == Precision::kBf16 || precision == Precision::kInt8))
      variants.push_back({l, false});
  }
  for (const Variant& v : variants) {
    simd::set_active_level(v.level);
    aftershock::maxsim::set_kernel_extensions(v.extensions, v.extensions);
    const aftershock::maxsim::PreparedQuery q = store.prepare(query.data(), a.m);
    // The host may be shared: probe the peak again next to each measurement.
    const Peaks pk = measure_peaks(a.quick ? 100000 : 400000);
    const std::string kernel = aftershock::maxsim::active_kernel_name(precision);
    store.score_all(q, out.data(), 1);  // warm up
    // Interleave runs with software prefetch on and off so both see the same machine
    // state (the host is shared); keep the best time of each.
    double best = 1e30, best_nopf = 1e30;
    const double budget = v.level == simd::Level::kScalar ? 0.2 : a.seconds;
    const bool ab = std::strcmp(regime, "stream") == 0 && v.level != simd::Level::kScalar;
    auto t_start = Clock::now();
    int reps = 0;
    do {
      aftershock::maxsim::set_kernel_prefetch(true);
      auto t0 = Clock::now();
      store.score_all(q, out.data(), 1);
      best = std::min(best, seconds_since(t0));
      if (ab) {
        aftershock::maxsim::set_kernel_prefetch(false);
        t0 = Clock::now();
        store.score_all(q, out.data(), 1);
        best_nopf = std::min(best_nopf, seconds_since(t0));
        aftershock::maxsim::set_kernel_prefetch(true);
      }
      ++reps;
    } while (seconds_since(t_start) < budget || reps < 2);
    const double gflops = flops_per_pass / best / 1e9;
    const double peak = peak_for(pk, kernel);
    std::printf(
        "{\"bench\": \"maxsim_kernel\", \"regime\": \"%s\", \"precision\": \"%s\", \"level\": \"%s\", "
        "\"kernel\": \"%s\", \"m\": %zu, \"dim\": %zu, \"mean_doc_tokens\": %.1f, \"n_docs\": %zu, "
        "\"store_mib\": %.1f, \"threads\": 1, \"reps\": %d, \"seconds\": %.6f, \"docs_per_s\": %.0f, "
        "\"gflops\": %.2f, \"peak_gflops\": %.2f, \"pct_of_peak\": %.1f, \"docs_per_s_without_prefetch\": %.0f, "
        "\"checksum\": %.6g}\n",
        regime, aftershock::maxsim::precision_name(precision), simd::level_name(v.level), kernel.c_str(), a.m, a.dim,
        static_cast<double>(offsets.back()) / static_cast<double>(n_docs), n_docs,
        static_cast<double>(store.size_bytes()) / (1 << 20), reps, best, static_cast<double>(n_docs) / best, gflops,
        peak, peak > 0 ? 100.0 * gflops / peak : 0.0, ab ? static_cast<double>(n_docs) / best_nopf : 0.0,
        static_cast<double>(out[0]));
    std::fflush(stdout);
  }
  aftershock::maxsim::set_kernel_extensions(true, true);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", s.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (s == "--quick") a.quick = true;
    else if (s == "--probe-only") a.probe_only = true;
    else if (s == "--m") a.m = std::strtoul(next(), nullptr, 10);
    else if (s == "--dim") a.dim = std::strtoul(next(), nullptr, 10);
    else if (s == "--len") a.len = std::strtoul(next(), nullptr, 10);
    else if (s == "--docs") a.docs_stream = std::strtoul(next(), nullptr, 10);
    else if (s == "--seconds") a.seconds = std::strtod(next(), nullptr);
    else {
      std::fprintf(stderr, "usage: bench_maxsim [--quick] [--probe-only] [--m M] [--dim D] [--len L] [--docs N] [--seconds S]\n");
      return 2;
    }
  }
  if (a.quick) {
    a.seconds = 0.1;
    a.docs_stream = 2000;
  }
  const auto& f = simd::cpu_features();
  std::printf("{\"bench\": \"context\", \"cpu\": \"%s\", \"avx2\": %s, \"avx512\": %s, \"avx512_bf16\": %s, "
              "\"avx512_vnni\": %s, \"best_level\": \"%s\", \"threads\": 1}\n",
              cpu_model().c_str(), f.avx2_fma_f16c ? "true" : "false", f.avx512 ? "true" : "false",
              f.avx512_bf16 ? "true" : "false", f.avx512_vnni ? "true" : "false",
              simd::level_name(simd::active_level()));

  const Peaks pk = measure_peaks(a.quick ? 200000 : 2000000);
  std::printf("{\"bench\": \"peak_probe\", \"fp32_fma_ymm_gflops\": %.2f, \"fp32_fma_zmm_gflops\": %.2f, "
              "\"bf16_dot_gflops\": %.2f, \"int8_vnni_gops\": %.2f}\n",
              pk.fma256, pk.fma512, pk.bf16, pk.vnni);
  std::fflush(stdout);
  if (a.probe_only) return 0;

  aftershock::Rng rng(42);  // the core's portable generator: the same inputs everywhere
  auto normal = [](aftershock::Rng& r) { return static_cast<float>(r.normal()); };
  std::vector<float> query(a.m * a.dim);
  for (float& x : query) x = normal(rng);

  // L2-resident: about 1 MiB of fp32 token data. Stream: docs_stream documents.
  const std::size_t docs_l2 = std::max<std::size_t>(4, (1u << 20) / (a.len * a.dim * sizeof(float)));
  for (const char* regime : {"l2", "stream"}) {
    const std::size_t n_docs = std::strcmp(regime, "l2") == 0 ? docs_l2 : a.docs_stream;
    std::vector<std::int64_t> offsets(n_docs + 1, 0);
    for (std::size_t d = 0; d < n_docs; ++d) offsets[d + 1] = offsets[d] + static_cast<std::int64_t>(a.len);
    std::vector<float> vectors(static_cast<std::size_t>(offsets.back()) * a.dim);
    for (float& x : vectors) x = normal(rng);
    for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kBf16, Precision::kInt8})
      run_store(a, pk, vectors, offsets, query, p, regime);
  }
  return 0;
}
