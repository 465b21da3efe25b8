#include "aftershock/util/huge_pages.hpp"

#include <cstdlib>
#include <new>

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
bool huge_pages_enabled() { return enabled(); }

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
bool huge_pages_enabled() { return false; }

}  // namespace aftershock

#endif

namespace aftershock {

void* allocate_aligned(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  // 2 MiB alignment only where a huge page will be asked for: otherwise it wastes memory.
  const std::size_t align = bytes >= kHugePageMinBytes && huge_pages_enabled() ? kHuge : 64;
  const std::size_t rounded = (bytes + align - 1) / align * align;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
  advise_huge_pages(p, rounded);
  return p;
}

void free_aligned(void* p) noexcept { std::free(p); }

}  // namespace aftershock
