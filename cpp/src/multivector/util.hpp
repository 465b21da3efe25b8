// Internal helpers of the multi-vector index (baseline code only; never include from an
// ISA translation unit): a portable seeded RNG, 64-byte aligned float storage, column
// panel packing and deterministic top-n selection.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "kernels.hpp"

namespace aftershock::multivector::detail {

/// splitmix64-seeded xoshiro256**: the same stream on every platform and compiler
/// (std::normal_distribution is implementation-defined, so it is not used).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform integer in [0, n), n >= 1 (multiply-shift; bias < n / 2^64).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  /// Standard normal (Box-Muller; one value per call, the pair's second is dropped so the
  /// stream does not depend on call history).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

/// Sorted sample of `count` distinct indices from [0, n) (Knuth's selection sampling,
/// one pass, deterministic for a seed). PRECONDITION: count <= n.
inline std::vector<std::size_t> sample_indices(std::size_t n, std::size_t count, std::uint64_t seed) {
  std::vector<std::size_t> out;
  out.reserve(count);
  Rng rng(seed);
  for (std::size_t i = 0; i < n && out.size() < count; ++i) {
    if (static_cast<double>(n - i) * rng.uniform() < static_cast<double>(count - out.size())) out.push_back(i);
  }
  return out;
}

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

/// Keeps the best `n` (score, id) pairs: higher score first, ties to the smaller id, so
/// the kept set never depends on the order ids are offered in.
class TopN {
 public:
  explicit TopN(std::size_t n = 0) : n_(n) {}
  void reset(std::size_t n) {
    n_ = n;
    heap_.clear();
  }
  void push(float score, std::uint32_t id) {
    if (n_ == 0) return;
    if (heap_.size() < n_) {
      heap_.emplace_back(score, id);
      std::push_heap(heap_.begin(), heap_.end(), worse_first);
    } else if (better(score, id, heap_.front().first, heap_.front().second)) {
      std::pop_heap(heap_.begin(), heap_.end(), worse_first);
      heap_.back() = {score, id};
      std::push_heap(heap_.begin(), heap_.end(), worse_first);
    }
  }
  /// Whether (score, id) would enter now (a cheap pre-check for hot loops).
  bool admits(float score) const { return heap_.size() < n_ || score >= heap_.front().first; }
  const std::vector<std::pair<float, std::uint32_t>>& items() const { return heap_; }

  static bool better(float s1, std::uint32_t i1, float s2, std::uint32_t i2) {
    return s1 > s2 || (s1 == s2 && i1 < i2);
  }

 private:
  // Heap "less" puts the worst item at the front.
  static bool worse_first(const std::pair<float, std::uint32_t>& a, const std::pair<float, std::uint32_t>& b) {
    return better(a.first, a.second, b.first, b.second);
  }
  std::size_t n_;
  std::vector<std::pair<float, std::uint32_t>> heap_;
};

}  // namespace aftershock::multivector::detail
