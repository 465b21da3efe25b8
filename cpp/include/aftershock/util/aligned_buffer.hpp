// An owning, 64-byte aligned, zero-initialised, copyable byte buffer: the storage of
// arrays that SIMD kernels stream (MaxSim panels, int8 scales), so that no aligned load
// ever splits a cache line. Buffers of at least kHugePageMinBytes go on 2 MiB pages where
// the OS allows it (util/huge_pages.hpp). Baseline code only.
//
// Thread safety: const access may run concurrently; copy, assignment and writes need
// exclusive access. Allocation throws std::bad_alloc.
#pragma once

#include <cstddef>
#include <memory>

namespace aftershock {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  /// size_bytes zero bytes (size_bytes == 0: no allocation, data() == nullptr). O(size_bytes).
  explicit AlignedBuffer(std::size_t size_bytes);
  AlignedBuffer(const AlignedBuffer& other);
  AlignedBuffer& operator=(const AlignedBuffer& other);
  AlignedBuffer(AlignedBuffer&&) noexcept = default;
  AlignedBuffer& operator=(AlignedBuffer&&) noexcept = default;

  unsigned char* data() { return data_.get(); }
  const unsigned char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  template <class T>
  T* as() {
    return reinterpret_cast<T*>(data_.get());
  }
  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_.get());
  }

 private:
  struct Free {
    void operator()(unsigned char* p) const noexcept;
  };
  std::unique_ptr<unsigned char[], Free> data_;
  std::size_t size_ = 0;
};

}  // namespace aftershock
