// k-means over token vectors (for the centroid index) and per-document token pooling
// (CRISP-style post-hoc reduction). Euclidean Lloyd iterations; the assignment step is
// argmax_c (<x, c> - |c|^2 / 2), computed with the SIMD panel kernels, so it costs one
// [n, dim] x [dim, n_centroids] product per pass. See cpp/src/multivector/README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "aftershock/progress.hpp"

namespace aftershock::multivector {

using aftershock::ProgressFn;  // see aftershock/progress.hpp

struct KMeansParams {
  std::size_t n_centroids = 0;               // >= 1 and <= number of points
  std::size_t n_iters = 8;                   // Lloyd iterations after the random init
  std::size_t max_points_per_centroid = 64;  // training sample = this * n_centroids points
  std::uint64_t seed = 0;
};

/// Trains centroids on a uniform sample of the rows of x (row-major float32 [n, dim]).
/// Returns float32 [n_centroids, dim]. Init: n_centroids distinct sample points; a cluster
/// that empties is re-seeded with the sample point farthest from its centroid.
/// Deterministic for a seed, whatever num_threads (0 = all cores).
/// Throws InvalidArgument if n_centroids is 0 or exceeds n.
/// O(n_iters * sample * n_centroids * dim).
std::vector<float> train_kmeans(const float* x, std::size_t n, std::size_t dim, const KMeansParams& params,
                                std::size_t num_threads, const ProgressFn& progress);

/// codes[i] = index of the nearest centroid (Euclidean) to row i of x; ties go to the
/// smaller index. x: float32 [n, dim]; centroids: float32 [n_centroids, dim].
/// O(n * n_centroids * dim), parallel over row blocks.
void assign_nearest(const float* x, std::size_t n, std::size_t dim, const float* centroids,
                    std::size_t n_centroids, std::uint32_t* codes, std::size_t num_threads,
                    const ProgressFn& progress);

/// CRISP-style post-hoc token reduction: each document's tokens are clustered by k-means
/// into ceil(n_tokens / pool_factor) clusters and replaced by the cluster means.
/// vectors: float32 [total, dim], offsets: int64 [n_docs + 1] (validated by the caller).
/// Returns the pooled vectors and fills out_offsets (n_docs + 1 entries). pool_factor
/// >= 1 (1 keeps every token and returns a copy). Deterministic; parallel over documents.
std::vector<float> pool_tokens(const float* vectors, std::size_t dim, const std::int64_t* offsets,
                               std::size_t n_docs, double pool_factor, std::size_t n_iters,
                               std::vector<std::int64_t>& out_offsets, std::size_t num_threads,
                               const ProgressFn& progress);

}  // namespace aftershock::multivector
