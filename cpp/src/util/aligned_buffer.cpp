#include "aftershock/util/aligned_buffer.hpp"

#include <cstring>

#include "aftershock/util/huge_pages.hpp"

namespace aftershock {

void AlignedBuffer::Free::operator()(unsigned char* p) const noexcept { free_aligned(p); }

AlignedBuffer::AlignedBuffer(std::size_t size_bytes) : size_(size_bytes) {
  if (size_bytes == 0) return;
  // Large buffers (token panels) go on 2 MiB pages where the OS allows it: documents are
  // streamed once, and 4 KiB pages would cost a TLB miss every 4 KiB of a scan.
  auto* p = static_cast<unsigned char*>(allocate_aligned(size_bytes));
  std::memset(p, 0, size_bytes);
  data_.reset(p);
}

AlignedBuffer::AlignedBuffer(const AlignedBuffer& other) : AlignedBuffer(other.size_) {
  if (size_) std::memcpy(data_.get(), other.data_.get(), size_);
}

AlignedBuffer& AlignedBuffer::operator=(const AlignedBuffer& other) {
  if (this != &other) *this = AlignedBuffer(other);
  return *this;
}

}  // namespace aftershock
