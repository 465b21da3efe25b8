// Runtime SIMD dispatch. Each module keeps a table of plain function pointers per level
// (scalar, avx2, avx512) and picks one with active_level(); the level is chosen once, at
// first use, from CPU detection or the AFTERSHOCK_SIMD environment variable.
#pragma once

#include <string>
#include <vector>

namespace aftershock::simd {

enum class Level : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

/// What the CPU *and* the OS support (cpuid + xgetbv: the OS must save the registers).
struct CpuFeatures {
  bool avx2_fma_f16c = false;  // and POPCNT
  bool avx512 = false;       // F + BW + VL + DQ
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd
};

const CpuFeatures& cpu_features();

const char* level_name(Level level);

/// Parses "scalar" | "avx2" | "avx512". Throws InvalidArgument naming the choices.
Level parse_level(const std::string& name);

/// Levels this build contains kernels for (scalar always).
std::vector<Level> compiled_levels();
bool is_compiled(Level level);
/// Compiled and runnable on this CPU.
bool is_supported(Level level);

/// The level kernels dispatch to. First call: AFTERSHOCK_SIMD if set (throws
/// InvalidArgument when the name is unknown or the level is unsupported here, and keeps
/// throwing on later calls until a level is set), else the best supported level.
Level active_level();

/// Forces the level (tests, benchmarks). Throws InvalidArgument if unsupported.
/// Not meant to race with running searches: kernels already chosen by a call in flight
/// finish on their level.
void set_active_level(Level level);

/// Sub-features used inside the avx512 level when the active level is avx512.
bool active_has_bf16();
bool active_has_vnni();

/// Feature names compiled into this build ("avx512_bf16", ...), for simd_info().
std::vector<std::string> compiled_features();

}  // namespace aftershock::simd
