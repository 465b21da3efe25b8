#include <atomic>
#include <cstdlib>

#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"

namespace aftershock::simd {
namespace {

constexpr int kUnset = -1;
std::atomic<int> g_level{kUnset};

Level best_supported() {
  if (is_supported(Level::kAvx512)) return Level::kAvx512;
  if (is_supported(Level::kAvx2)) return Level::kAvx2;
  return Level::kScalar;
}

}  // namespace

const char* level_name(Level level) {
  switch (level) {
    case Level::kScalar: return "scalar";
    case Level::kAvx2: return "avx2";
    case Level::kAvx512: return "avx512";
  }
  return "unknown";
}

Level parse_level(const std::string& name) {
  if (name == "scalar") return Level::kScalar;
  if (name == "avx2") return Level::kAvx2;
  if (name == "avx512") return Level::kAvx512;
  throw InvalidArgument("AFTERSHOCK_SIMD: expected one of scalar, avx2, avx512, got '" + name + "'");
}

bool is_compiled(Level level) {
  switch (level) {
    case Level::kScalar: return true;
    case Level::kAvx2:
#ifdef AFTERSHOCK_COMPILED_AVX2
      return true;
#else
      return false;
#endif
    case Level::kAvx512:
#ifdef AFTERSHOCK_COMPILED_AVX512
      return true;
#else
      return false;
#endif
  }
  return false;
}

std::vector<Level> compiled_levels() {
  std::vector<Level> out;
  for (Level l : {Level::kScalar, Level::kAvx2, Level::kAvx512})
    if (is_compiled(l)) out.push_back(l);
  return out;
}

std::vector<std::string> compiled_features() {
  std::vector<std::string> out;
#ifdef AFTERSHOCK_COMPILED_AVX512BF16
  out.emplace_back("avx512_bf16");
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512VNNI
  out.emplace_back("avx512_vnni");
#endif
  return out;
}

bool is_supported(Level level) {
  if (!is_compiled(level)) return false;
  const CpuFeatures& f = cpu_features();
  switch (level) {
    case Level::kScalar: return true;
    case Level::kAvx2: return f.avx2_fma_f16c;
    case Level::kAvx512: return f.avx512;
  }
  return false;
}

Level active_level() {
  int current = g_level.load(std::memory_order_acquire);
  if (current != kUnset) return static_cast<Level>(current);
  Level chosen;
  const char* env = std::getenv("AFTERSHOCK_SIMD");
  if (env != nullptr && *env != '\0') {
    chosen = parse_level(env);
    if (!is_supported(chosen)) {
      throw InvalidArgument(std::string("AFTERSHOCK_SIMD=") + env +
                            ": this level is not supported by this CPU or build");
    }
  } else {
    chosen = best_supported();
  }
  int expected = kUnset;
  g_level.compare_exchange_strong(expected, static_cast<int>(chosen), std::memory_order_acq_rel);
  return static_cast<Level>(g_level.load(std::memory_order_acquire));
}

void set_active_level(Level level) {
  if (!is_supported(level)) {
    throw InvalidArgument(std::string("simd level '") + level_name(level) +
                          "' is not supported by this CPU or build");
  }
  g_level.store(static_cast<int>(level), std::memory_order_release);
}

bool active_has_bf16() {
#ifdef AFTERSHOCK_COMPILED_AVX512BF16
  return active_level() == Level::kAvx512 && cpu_features().avx512_bf16;
#else
  return false;
#endif
}

bool active_has_vnni() {
#ifdef AFTERSHOCK_COMPILED_AVX512VNNI
  return active_level() == Level::kAvx512 && cpu_features().avx512_vnni;
#else
  return false;
#endif
}

}  // namespace aftershock::simd
