// Internal helpers of the multi-vector index (baseline code only; never include from an
// ISA translation unit): 64-byte aligned float storage and column panel packing. The
// seeded generator is util/random.hpp, top-n selection util/topk.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "kernels.hpp"

namespace aftershock::multivector::detail {

template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const { return false; }
};
using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

/// Packs rows w[c * dim + k] (c < n_cols) as column panels (see kernels.hpp).
inline AlignedFloats pack_panels(const float* w, std::size_t n_cols, std::size_t dim) {
  constexpr std::size_t P = kernels::kPanelCols;
  const std::size_t n_panels = (n_cols + P - 1) / P;
  AlignedFloats out(n_panels * dim * P, 0.0f);
  for (std::size_t c = 0; c < n_cols; ++c) {
    float* dst = out.data() + (c / P) * dim * P + c % P;
    const float* src = w + c * dim;
    for (std::size_t k = 0; k < dim; ++k) dst[k * P] = src[k];
  }
  return out;
}

}  // namespace aftershock::multivector::detail
