#include "aftershock/util/huge_pages.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace aftershock {
namespace {

bool enabled() {
  static const bool on = [] {
    const char* env = std::getenv("AFTERSHOCK_HUGE_PAGES");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return on;
}

// The whole 2 MiB pages inside [p, p + bytes): a hint on a partial page would spill onto
// the neighbouring allocation.
bool huge_range(const void* p, std::size_t bytes, void*& begin, std::size_t& length) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  if (bytes < kHugePageMinBytes || !enabled()) return false;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t lo = (a + kHuge - 1) & ~(kHuge - 1), hi = (a + bytes) & ~(kHuge - 1);
  if (hi <= lo) return false;
  begin = reinterpret_cast<void*>(lo);
  length = hi - lo;
  return true;
}

}  // namespace

// A failure is ignored on purpose: huge pages are a speed hint, never a requirement.
void advise_huge_pages(const void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  void* begin;
  std::size_t length;
  if (huge_range(p, bytes, begin, length)) (void)::madvise(begin, length, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace aftershock
