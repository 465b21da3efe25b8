// The SIMD level registry (see aftershock/simd/level.hpp): the only place that lists the
// levels and extensions, what each needs from the CPU and whether this build compiled it.
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"

namespace aftershock::simd {
namespace {

#ifdef AFTERSHOCK_COMPILED_AVX2
constexpr bool kCompiledAvx2 = true;
#else
constexpr bool kCompiledAvx2 = false;
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512
constexpr bool kCompiledAvx512 = true;
#else
constexpr bool kCompiledAvx512 = false;
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512BF16
constexpr bool kCompiledAvx512Bf16 = true;
#else
constexpr bool kCompiledAvx512Bf16 = false;
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512VNNI
constexpr bool kCompiledAvx512Vnni = true;
#else
constexpr bool kCompiledAvx512Vnni = false;
#endif

// The registry rows, in Level / Extension order. Add a level or an extension here.
struct LevelRow {
  Level level;
  const char* name;
  const char* cpu_key;
  const char* cpu_requires;
  bool compiled;
  bool (*cpu_has)(const CpuFeatures&);
};
constexpr LevelRow kLevelRows[] = {
    {Level::kScalar, "scalar", nullptr, "", true, [](const CpuFeatures&) { return true; }},
    {Level::kAvx2, "avx2", "avx2_fma_f16c", "AVX2, FMA, F16C, POPCNT and OS-saved YMM state", kCompiledAvx2,
     [](const CpuFeatures& f) { return f.avx2_fma_f16c; }},
    {Level::kAvx512, "avx512", "avx512", "AVX-512 F/BW/VL/DQ, the avx2 features and OS-saved ZMM state",
     kCompiledAvx512, [](const CpuFeatures& f) { return f.avx512; }},
};
static_assert(sizeof kLevelRows / sizeof kLevelRows[0] == kLevelCount, "one registry row per Level");

struct ExtensionRow {
  Extension extension;
  Level level;
  const char* name;
  const char* cpu_requires;
  bool compiled;
  bool (*cpu_has)(const CpuFeatures&);
};
constexpr ExtensionRow kExtensionRows[] = {
    {Extension::kAvx512Bf16, Level::kAvx512, "avx512_bf16", "AVX512_BF16 (vdpbf16ps)",
     kCompiledAvx512 && kCompiledAvx512Bf16,
     [](const CpuFeatures& f) { return f.avx512_bf16; }},
    {Extension::kAvx512Vnni, Level::kAvx512, "avx512_vnni", "AVX512_VNNI (vpdpbusd)",
     kCompiledAvx512 && kCompiledAvx512Vnni,
     [](const CpuFeatures& f) { return f.avx512_vnni; }},
};
static_assert(sizeof kExtensionRows / sizeof kExtensionRows[0] == kExtensionCount, "one row per Extension");

constexpr int kUnset = -1;
std::atomic<int> g_level{kUnset};

// Why a level cannot run here, for the error messages.
std::string why_unsupported(const LevelInfo& l) {
  if (!l.compiled) return "not compiled into this build";
  return std::string("this CPU or OS lacks ") + l.cpu_requires;
}

std::string level_choices() {
  std::string out;
  for (const LevelInfo& l : levels()) out += (out.empty() ? "" : ", ") + std::string(l.name);
  return out;
}

Level best_supported() {
  Level best = Level::kScalar;
  for (const LevelInfo& l : levels())
    if (l.supported) best = l.level;
  return best;
}

}  // namespace

const std::vector<LevelInfo>& levels() {
  static const std::vector<LevelInfo> rows = [] {
    std::vector<LevelInfo> out;
    const CpuFeatures& f = cpu_features();
    for (std::size_t i = 0; i < kLevelCount; ++i) {
      const LevelRow& r = kLevelRows[i];
      if (static_cast<std::size_t>(r.level) != i) throw std::logic_error("simd registry out of Level order");
      const bool has = r.cpu_has(f);
      out.push_back({r.level, r.name, r.cpu_key, r.cpu_requires, has, r.compiled, r.compiled && has});
    }
    return out;
  }();
  return rows;
}

const std::vector<ExtensionInfo>& extensions() {
  static const std::vector<ExtensionInfo> rows = [] {
    std::vector<ExtensionInfo> out;
    const CpuFeatures& f = cpu_features();
    for (std::size_t i = 0; i < kExtensionCount; ++i) {
      const ExtensionRow& r = kExtensionRows[i];
      if (static_cast<std::size_t>(r.extension) != i) throw std::logic_error("simd registry out of Extension order");
      const bool has = r.cpu_has(f);
      out.push_back({r.extension, r.level, r.name, r.cpu_requires, has, r.compiled,
                     r.compiled && has && info(r.level).supported});
    }
    return out;
  }();
  return rows;
}

const LevelInfo& info(Level level) {
  const auto i = static_cast<std::size_t>(level);
  if (i >= kLevelCount) throw InvalidArgument("simd level " + std::to_string(static_cast<int>(level)) + " is unknown");
  return levels()[i];
}

const ExtensionInfo& info(Extension extension) {
  const auto i = static_cast<std::size_t>(extension);
  if (i >= kExtensionCount)
    throw InvalidArgument("simd extension " + std::to_string(static_cast<int>(extension)) + " is unknown");
  return extensions()[i];
}

const char* level_name(Level level) { return info(level).name; }
bool is_compiled(Level level) { return info(level).compiled; }
bool is_supported(Level level) { return info(level).supported; }
bool is_supported(Extension extension) { return info(extension).supported; }

Level parse_level(const std::string& name) {
  for (const LevelInfo& l : levels())
    if (name == l.name) return l.level;
  throw InvalidArgument("AFTERSHOCK_SIMD: expected one of " + level_choices() + ", got '" + name + "'");
}

std::vector<Level> compiled_levels() {
  std::vector<Level> out;
  for (const LevelInfo& l : levels())
    if (l.compiled) out.push_back(l.level);
  return out;
}

std::vector<std::string> compiled_features() {
  std::vector<std::string> out;
  for (const ExtensionInfo& e : extensions())
    if (e.compiled) out.emplace_back(e.name);
  return out;
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
                            ": this level is not supported by this CPU or build (" + why_unsupported(info(chosen)) +
                            ")");
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
                          "' is not supported by this CPU or build (" + why_unsupported(info(level)) + ")");
  }
  g_level.store(static_cast<int>(level), std::memory_order_release);
}

bool active_has(Extension extension) {
  const ExtensionInfo& e = info(extension);
  return e.supported && active_level() == e.level;
}

}  // namespace aftershock::simd
