// Runtime SIMD dispatch: the registry of SIMD levels.
//
// One list, levels(), says for every level its name, the CPU features it needs, whether this
// build has kernels for it and whether this CPU runs it; extensions() does the same for the
// optional sub-features inside a level (AVX512_BF16, AVX512_VNNI). Dispatch, simd_info()
// and the tests all iterate these lists. Each module (sparse, maxsim, multi-vector) keeps
// one table of plain function pointers per level (internal headers in cpp/src) and looks it
// up by active_level(); the level is chosen once, at first use, from CPU detection or the
// AFTERSHOCK_SIMD environment variable.
//
// Adding a level: a Level value (and kLevelCount), one row in the registry in
// cpp/src/simd/dispatch.cpp, its compiler flags in cpp/cmake/simd_flags.cmake, and one
// line per module in that module's table factory (cpp/src/<module>/kernels.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace aftershock::simd {

/// Levels in ascending preference: dispatch picks the last supported one.
enum class Level : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
inline constexpr std::size_t kLevelCount = 3;

/// Optional instruction-set extensions used by some kernels of one level.
enum class Extension : int { kAvx512Bf16 = 0, kAvx512Vnni = 1 };
inline constexpr std::size_t kExtensionCount = 2;

/// What the CPU *and* the OS support (cpuid + xgetbv: the OS must save the registers).
struct CpuFeatures {
  bool avx2_fma_f16c = false;  // and POPCNT
  bool avx512 = false;       // F + BW + VL + DQ
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd
};

const CpuFeatures& cpu_features();

/// One row of the level registry.
struct LevelInfo {
  Level level;
  const char* name;       // as in AFTERSHOCK_SIMD and simd_info(): "scalar", "avx2", "avx512"
  const char* cpu_key;    // its CpuFeatures flag as simd_info()["cpu"] names it; nullptr for scalar
  const char* cpu_requires;  // the CPU features it needs, for messages ("" for scalar)
  bool cpu_has;           // this CPU and OS provide the features (whether or not compiled)
  bool compiled;          // this build contains kernels for it
  bool supported;         // compiled and cpu_has
};

/// One row of the extension registry.
struct ExtensionInfo {
  Extension extension;
  Level level;       // the level whose kernels use it
  const char* name;  // "avx512_bf16", "avx512_vnni" (also its simd_info()["cpu"] key)
  const char* cpu_requires;
  bool cpu_has;
  bool compiled;
  bool supported;    // compiled, cpu_has, and its level supported
};

/// The registry, in Level order (levels()[i].level == Level(i)). Built once, thread-safe.
const std::vector<LevelInfo>& levels();
const std::vector<ExtensionInfo>& extensions();
const LevelInfo& info(Level level);
const ExtensionInfo& info(Extension extension);

// Shorthands for the registry's fields. Out of line on purpose: no inline code in this
// header, so an ISA translation unit that includes it cannot give the linker a wide copy
// (STYLE.md section 3).
const char* level_name(Level level);
/// Compiled into this build.
bool is_compiled(Level level);
/// Compiled and runnable on this CPU.
bool is_supported(Level level);
bool is_supported(Extension extension);

/// Parses a level name from the registry. Throws InvalidArgument naming the choices.
Level parse_level(const std::string& name);

/// Levels this build contains kernels for (scalar always), in registry order.
std::vector<Level> compiled_levels();

/// The level kernels dispatch to. First call: AFTERSHOCK_SIMD if set (throws
/// InvalidArgument when the name is unknown or the level is unsupported here, and keeps
/// throwing on later calls until a level is set), else the best supported level.
Level active_level();

/// Forces the level (tests, benchmarks). Throws InvalidArgument if unsupported.
/// Not meant to race with running searches: kernels already chosen by a call in flight
/// finish on their level.
void set_active_level(Level level);

/// The extension is supported and belongs to the active level.
bool active_has(Extension extension);

/// Extension names compiled into this build ("avx512_bf16", ...), for simd_info().
std::vector<std::string> compiled_features();

}  // namespace aftershock::simd
