#include "aftershock/util/huge_pages.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__linux__) && defined(MADV_HUGEPAGE)
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace aftershock {
namespace {

// Off when AFTERSHOCK_HUGE_PAGES is 0, false, off or no (any case).
bool enabled() {
  static const bool on = [] {
    const char* env = std::getenv("AFTERSHOCK_HUGE_PAGES");
    if (env == nullptr) return true;
    std::string v(env);
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return !(v == "0" || v == "false" || v == "off" || v == "no");
  }();
  return on;
}

}  // namespace

// The whole 2 MiB pages inside [p, p + bytes) (the x86-64 huge page; a hint on a partial
// one would spill onto the neighbouring allocation). A failure is ignored on purpose: huge
// pages are a speed hint, never a requirement.
void advise_huge_pages(const void* p, std::size_t bytes) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  if (bytes < kHugePageMinBytes || !enabled()) return;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t lo = (a + kHuge - 1) & ~(kHuge - 1), hi = (a + bytes) & ~(kHuge - 1);
  if (hi > lo) (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
}

}  // namespace aftershock

#else

namespace aftershock {

void advise_huge_pages(const void*, std::size_t) {}  // no transparent huge pages here

}  // namespace aftershock

#endif
