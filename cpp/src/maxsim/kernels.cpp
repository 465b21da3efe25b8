// MaxSim kernel selection: one table per SIMD level (the shared simd::PerLevel shape).
// The avx512 table also carries the extension kernels (AVX512_BF16, AVX512_VNNI) when the
// registry reports them supported; which of a table's kernels runs is then a per-call
// choice between its entries (set_kernel_extensions), not a separate CPU check.
#include <atomic>

#include "../simd/per_level.hpp"
#include "aftershock/maxsim/maxsim.hpp"
#include "aftershock/simd/level.hpp"
#include "kernels.hpp"

namespace aftershock::maxsim {
namespace kernels {
namespace {

const Kernels* make(simd::Level level) {
  switch (level) {
    case simd::Level::kScalar: {
      static const Kernels t{&scalar::rowmax_f32, &scalar::rowmax_f16, &scalar::rowmax_bf16, &scalar::rowmax_i8,
                             &scalar::rowmax_res, &scalar::decode_res, nullptr, nullptr};
      return &t;
    }
#ifdef AFTERSHOCK_COMPILED_AVX2
    case simd::Level::kAvx2: {
      static const Kernels t{&avx2::rowmax_f32, &avx2::rowmax_f16, &avx2::rowmax_bf16, &avx2::rowmax_i8,
                             &avx2::rowmax_res, &avx2::decode_res, nullptr, nullptr};
      return &t;
    }
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512
    case simd::Level::kAvx512: {
      static const Kernels t = [] {
        Kernels k{&avx512::rowmax_f32, &avx512::rowmax_f16, &avx512::rowmax_bf16, &avx512::rowmax_i8,
                    &avx512::rowmax_res, &avx512::decode_res, nullptr, nullptr};
#ifdef AFTERSHOCK_COMPILED_AVX512BF16
        if (simd::is_supported(simd::Extension::kAvx512Bf16)) k.rowmax_bf16_dot = &avx512bf16::rowmax_bf16;
#endif
#ifdef AFTERSHOCK_COMPILED_AVX512VNNI
        if (simd::is_supported(simd::Extension::kAvx512Vnni)) k.rowmax_i8_vnni = &avx512vnni::rowmax_i8;
#endif
        return k;
      }();
      return &t;
    }
#endif
    default: return nullptr;
  }
}

const simd::PerLevel<Kernels>& registry() {
  static const simd::PerLevel<Kernels> r(&make);
  return r;
}

// Which extension kernels a table may use (bit = 1 << int(simd::Extension)). vdpbf16ps is
// off by default: on the AVX512-BF16 cores measured here it issues at half the fp32 FMA
// rate, so widening bf16 to fp32 (a shift) and using FMA scored 1.4-1.6x more documents/s
// (bench_maxsim, see README.md). It stays available for CPUs where it wins.
constexpr unsigned bit(simd::Extension e) { return 1u << static_cast<unsigned>(e); }
std::atomic<unsigned> g_allowed{bit(simd::Extension::kAvx512Vnni)};
std::atomic<bool> g_prefetch{true};

bool allowed(simd::Extension e) { return (g_allowed.load(std::memory_order_relaxed) & bit(e)) != 0; }

// The extension kernel a table would use for `p`, and its extension; nullptr if none.
RowMaxFn extension_kernel(const Kernels& k, Precision p, simd::Extension& which) {
  if (p == Precision::kBf16 && k.rowmax_bf16_dot != nullptr && allowed(simd::Extension::kAvx512Bf16)) {
    which = simd::Extension::kAvx512Bf16;
    return k.rowmax_bf16_dot;
  }
  if (p == Precision::kInt8 && k.rowmax_i8_vnni != nullptr && allowed(simd::Extension::kAvx512Vnni)) {
    which = simd::Extension::kAvx512Vnni;
    return k.rowmax_i8_vnni;
  }
  return nullptr;
}

}  // namespace

const Kernels& table_for(simd::Level level) { return registry().at(level); }

bool prefetch_enabled() { return g_prefetch.load(std::memory_order_relaxed); }

RowMaxFn select(int precision) {
  const auto p = static_cast<Precision>(precision);
  const Kernels& k = registry().active();
  simd::Extension which{};
  if (RowMaxFn ext = extension_kernel(k, p, which)) return ext;
  switch (p) {
    case Precision::kFp32: return k.rowmax_f32;
    case Precision::kFp16: return k.rowmax_f16;
    case Precision::kBf16: return k.rowmax_bf16;
    case Precision::kInt8: return k.rowmax_i8;
    case Precision::kRes1:
    case Precision::kRes2:
    case Precision::kRes4: return k.rowmax_res;
  }
  return k.rowmax_f32;
}

const char* select_name(int precision) {
  const simd::Level level = simd::active_level();
  simd::Extension which{};
  if (extension_kernel(registry().at(level), static_cast<Precision>(precision), which) != nullptr)
    return simd::info(which).name;
  return simd::level_name(level);
}

}  // namespace kernels

void set_kernel_extensions(bool allow_bf16_dot, bool allow_vnni) {
  using simd::Extension;
  kernels::g_allowed.store((allow_bf16_dot ? kernels::bit(Extension::kAvx512Bf16) : 0u) |
                               (allow_vnni ? kernels::bit(Extension::kAvx512Vnni) : 0u),
                           std::memory_order_relaxed);
}

void set_kernel_prefetch(bool enabled) { kernels::g_prefetch.store(enabled, std::memory_order_relaxed); }

const char* active_kernel_name(Precision precision) { return kernels::select_name(static_cast<int>(precision)); }

}  // namespace aftershock::maxsim
