// The core's one random generator: every random draw (sparse clustering, k-means sampling,
// FDE projections) comes from here, so an index built with a seed is the same on every
// platform, compiler and standard library. The std:: distributions are not used: their
// algorithms are implementation-defined (std::uniform_int_distribution draws differently
// under libc++ and libstdc++). Baseline code only: never include from an ISA translation
// unit (STYLE §3).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace aftershock {

/// xoshiro256** (Blackman & Vigna) seeded through splitmix64: a fixed stream for a seed.
/// Not thread-safe (one generator per thread or per task); copyable.
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
  /// stream does not depend on call history). Uses std::log / std::cos, so the values are
  /// as portable as the C math library (identical for glibc under libstdc++ and libc++).
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

/// Fisher-Yates shuffle of [first, last) drawn from rng (std::shuffle's draws are
/// implementation-defined). O(last - first).
template <class RandomIt>
void shuffle(RandomIt first, RandomIt last, Rng& rng) {
  for (auto n = last - first; n > 1; --n)
    std::iter_swap(first + (n - 1), first + static_cast<decltype(n)>(rng.below(static_cast<std::uint64_t>(n))));
}

}  // namespace aftershock
