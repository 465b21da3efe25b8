// Transparent huge pages for the large arrays that search reads at random.
//
// A search touches a few thousand forward-index rows and posting blocks spread over
// gigabytes: with 4 KiB pages nearly every one is also a TLB miss and a page walk. On
// 2 MiB pages the same arrays need 512 times fewer TLB entries; at 1M documents search
// took 0.78-0.92 instead of 1.00-1.31 ms/query (cpp/src/sparse/README.md). Only a hint:
// where the kernel has THP disabled, or off Linux, nothing changes.
// AFTERSHOCK_HUGE_PAGES=0 (or false/off/no) turns it off.
#pragma once

#include <cstddef>
#include <vector>

namespace aftershock {

/// Arrays smaller than this stay on ordinary pages: they are not worth a huge page's rounding.
inline constexpr std::size_t kHugePageMinBytes = std::size_t{8} << 20;

/// False when AFTERSHOCK_HUGE_PAGES is 0, false, off or no (read once), or off Linux.
bool huge_pages_enabled();

/// Asks for huge pages on [p, p + bytes) before it is first touched, so it is faulted in
/// 2 MiB at a time (memory already touched would need a copy to move).
void advise_huge_pages(const void* p, std::size_t bytes);

/// Allocates `bytes` bytes of uninitialized memory aligned to 64 bytes; arrays of at
/// least kHugePageMinBytes are aligned to 2 MiB and advised as huge pages before first
/// touch (unless AFTERSHOCK_HUGE_PAGES turns them off). bytes == 0 returns nullptr.
/// Release with free_aligned. Throws std::bad_alloc. Thread-safe.
void* allocate_aligned(std::size_t bytes);
/// Releases memory from allocate_aligned (nullptr is fine).
void free_aligned(void* p) noexcept;

/// Reserves room for n elements of an empty vector, on huge pages.
template <class T>
void reserve_on_huge_pages(std::vector<T>& v, std::size_t n) {
  v.reserve(n);
  advise_huge_pages(v.data(), n * sizeof(T));
}

/// A vector of n value-initialized elements on huge pages.
template <class T>
std::vector<T> huge_page_vector(std::size_t n) {
  std::vector<T> v;
  reserve_on_huge_pages(v, n);
  v.resize(n);
  return v;
}

}  // namespace aftershock
