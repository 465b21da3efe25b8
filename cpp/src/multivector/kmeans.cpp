#include "aftershock/multivector/kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "kernels.hpp"
#include "aftershock/util/random.hpp"
#include "util.hpp"

namespace aftershock::multivector {
namespace {

using detail::AlignedFloats;

constexpr std::size_t kAssignBlock = 64;  // rows per dot-product block: [64, C] floats of scratch

struct Assigner {
  const kernels::Kernels& k;
  std::size_t dim;
  std::size_t n_centroids;
  AlignedFloats panels;
  std::vector<float> half_norms;  // |c|^2 / 2

  Assigner(const float* centroids, std::size_t n_centroids_, std::size_t dim_)
      : k(kernels::active()), dim(dim_), n_centroids(n_centroids_),
        panels(detail::pack_panels(centroids, n_centroids_, dim_)), half_norms(n_centroids_) {
    for (std::size_t c = 0; c < n_centroids; ++c) {
      double s = 0.0;
      for (std::size_t d = 0; d < dim; ++d) s += static_cast<double>(centroids[c * dim + d]) * centroids[c * dim + d];
      half_norms[c] = static_cast<float>(0.5 * s);
    }
  }

  // Rows [0, rows) of x; dots: scratch of rows * n_centroids floats. best_score may be null.
  void assign(const float* x, std::size_t rows, float* dots, std::uint32_t* codes, float* best_score) const {
    k.dot_panels_f32(x, rows, dim, panels.data(), n_centroids, dots, n_centroids);
    for (std::size_t r = 0; r < rows; ++r) {
      const float* row = dots + r * n_centroids;
      float best = -std::numeric_limits<float>::infinity();
      std::uint32_t arg = 0;
      for (std::size_t c = 0; c < n_centroids; ++c) {
        const float v = row[c] - half_norms[c];
        if (v > best) {
          best = v;
          arg = static_cast<std::uint32_t>(c);
        }
      }
      codes[r] = arg;
      if (best_score) best_score[r] = best;
    }
  }

  // Parallel assignment of n rows, in `n_steps` progress steps.
  void assign_all(const float* x, std::size_t n, std::uint32_t* codes, float* best_score, std::size_t num_threads,
                  const ProgressFn& progress, const char* stage) const {
    const std::size_t n_blocks = (n + kAssignBlock - 1) / kAssignBlock;
    const std::size_t workers = parallel_workers(n_blocks, num_threads);
    std::vector<AlignedFloats> scratch(workers, AlignedFloats(kAssignBlock * n_centroids));
    // Progress steps of about 1/32 of the work each, so a progress callback can interrupt.
    const std::size_t step = progress ? std::max<std::size_t>(1, (n_blocks + 31) / 32) : n_blocks;
    for (std::size_t b0 = 0; b0 < n_blocks; b0 += step) {
      const std::size_t b1 = std::min(n_blocks, b0 + step);
      parallel_for(b1 - b0, num_threads, [&](std::size_t item, std::size_t worker) {
        const std::size_t r0 = (b0 + item) * kAssignBlock;
        const std::size_t rows = std::min(kAssignBlock, n - r0);
        assign(x + r0 * dim, rows, scratch[worker].data(), codes + r0, best_score ? best_score + r0 : nullptr);
      });
      if (progress) progress(stage, b1 * kAssignBlock < n ? b1 * kAssignBlock : n, n);
    }
  }
};

}  // namespace

std::vector<float> train_kmeans(const float* x, std::size_t n, std::size_t dim, const KMeansParams& params,
                                std::size_t num_threads, const ProgressFn& progress) {
  const std::size_t n_centroids = params.n_centroids;
  if (n_centroids == 0) throw InvalidArgument("n_centroids: expected >= 1, got 0");
  if (n_centroids > n)
    throw InvalidArgument("n_centroids: expected at most the number of training vectors (" + std::to_string(n) +
                          "), got " + std::to_string(n_centroids));
  if (n_centroids > std::numeric_limits<std::uint32_t>::max()) throw InvalidArgument("n_centroids: too large");

  // Training sample, copied contiguous so every pass streams it.
  const std::size_t per = std::max<std::size_t>(1, params.max_points_per_centroid);
  const std::size_t n_sample =
      n_centroids > n / per ? n : std::max(n_centroids, n_centroids * per);  // overflow-safe min(n, C * per)
  std::vector<std::size_t> rows = sample_indices(n, n_sample, params.seed);
  std::vector<float> sample(n_sample * dim);
  parallel_for((n_sample + 1023) / 1024, num_threads, [&](std::size_t item, std::size_t) {
    const std::size_t end = std::min(n_sample, (item + 1) * 1024);
    for (std::size_t i = item * 1024; i < end; ++i)
      std::copy(x + rows[i] * dim, x + (rows[i] + 1) * dim, sample.data() + i * dim);
  });
  std::vector<double> sample_norm2(n_sample);
  for (std::size_t i = 0; i < n_sample; ++i) {
    double s = 0.0;
    for (std::size_t d = 0; d < dim; ++d) s += static_cast<double>(sample[i * dim + d]) * sample[i * dim + d];
    sample_norm2[i] = s;
  }

  std::vector<float> centroids(n_centroids * dim);
  {
    std::vector<std::size_t> init = sample_indices(n_sample, n_centroids, params.seed ^ 0x5bd1e995ull);
    for (std::size_t c = 0; c < n_centroids; ++c)
      std::copy(sample.begin() + init[c] * dim, sample.begin() + (init[c] + 1) * dim, centroids.begin() + c * dim);
  }

  std::vector<std::uint32_t> codes(n_sample);
  std::vector<float> best(n_sample);
  std::vector<std::size_t> count(n_centroids), start(n_centroids + 1), members(n_sample);
  for (std::size_t it = 0; it < params.n_iters; ++it) {
    Assigner assigner(centroids.data(), n_centroids, dim);
    assigner.assign_all(sample.data(), n_sample, codes.data(), best.data(), num_threads, ProgressFn(), "kmeans");

    // Members of each cluster in point order (counting sort), then means in float64:
    // the sums run in a fixed order, so the centroids do not depend on num_threads.
    std::fill(count.begin(), count.end(), 0);
    for (std::uint32_t c : codes) ++count[c];
    start[0] = 0;
    for (std::size_t c = 0; c < n_centroids; ++c) start[c + 1] = start[c] + count[c];
    {
      std::vector<std::size_t> fill(start.begin(), start.end() - 1);
      for (std::size_t i = 0; i < n_sample; ++i) members[fill[codes[i]]++] = i;
    }
    parallel_for((n_centroids + 63) / 64, num_threads, [&](std::size_t item, std::size_t) {
      std::vector<double> acc(dim);
      const std::size_t c_end = std::min(n_centroids, (item + 1) * 64);
      for (std::size_t c = item * 64; c < c_end; ++c) {
        if (count[c] == 0) continue;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::size_t j = start[c]; j < start[c + 1]; ++j) {
          const float* p = sample.data() + members[j] * dim;
          for (std::size_t d = 0; d < dim; ++d) acc[d] += p[d];
        }
        const double inv = 1.0 / static_cast<double>(count[c]);
        for (std::size_t d = 0; d < dim; ++d) centroids[c * dim + d] = static_cast<float>(acc[d] * inv);
      }
    });

    // Empty clusters take the points farthest from their centroids
    // (|x - c|^2 = |x|^2 - 2 (<x, c> - |c|^2 / 2)), farthest first, ties to the smaller index.
    std::vector<std::size_t> empty;
    for (std::size_t c = 0; c < n_centroids; ++c)
      if (count[c] == 0) empty.push_back(c);
    if (!empty.empty()) {
      std::vector<std::size_t> order(n_sample);
      std::iota(order.begin(), order.end(), 0);
      auto dist = [&](std::size_t i) { return sample_norm2[i] - 2.0 * static_cast<double>(best[i]); };
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(empty.size()), order.end(),
                        [&](std::size_t a, std::size_t b) {
                          const double da = dist(a), db = dist(b);
                          return da > db || (da == db && a < b);
                        });
      for (std::size_t e = 0; e < empty.size(); ++e)
        std::copy(sample.begin() + order[e] * dim, sample.begin() + (order[e] + 1) * dim,
                  centroids.begin() + empty[e] * dim);
    }
    if (progress) progress("kmeans", it + 1, params.n_iters);
  }
  return centroids;
}

void assign_nearest(const float* x, std::size_t n, std::size_t dim, const float* centroids,
                    std::size_t n_centroids, std::uint32_t* codes, std::size_t num_threads,
                    const ProgressFn& progress) {
  if (n == 0) return;
  Assigner assigner(centroids, n_centroids, dim);
  assigner.assign_all(x, n, codes, nullptr, num_threads, progress, "assign");
}

std::vector<float> pool_tokens(const float* vectors, std::size_t dim, const std::int64_t* offsets,
                               std::size_t n_docs, double pool_factor, std::size_t n_iters,
                               std::vector<std::int64_t>& out_offsets, std::size_t num_threads,
                               const ProgressFn& progress) {
  if (!(pool_factor >= 1.0) || !std::isfinite(pool_factor))
    throw InvalidArgument("pool_factor: expected a finite number >= 1, got " + std::to_string(pool_factor));
  // Pass 1: pool each document into its own buffer (cluster means of non-empty clusters).
  std::vector<std::vector<float>> pooled(n_docs);
  const kernels::Kernels& kt = kernels::active();
  const std::size_t step = progress ? std::max<std::size_t>(1, (n_docs + 31) / 32) : std::max<std::size_t>(n_docs, 1);
  for (std::size_t d0 = 0; d0 < n_docs; d0 += step) {
    const std::size_t d1 = std::min(n_docs, d0 + step);
    parallel_for(d1 - d0, num_threads, [&](std::size_t item, std::size_t) {
      const std::size_t doc = d0 + item;
      const std::size_t n = static_cast<std::size_t>(offsets[doc + 1] - offsets[doc]);
      const float* tok = vectors + static_cast<std::size_t>(offsets[doc]) * dim;
      const std::size_t k = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(n / pool_factor)));
      std::vector<float>& out = pooled[doc];
      if (k >= n) {
        out.assign(tok, tok + n * dim);
        return;
      }
      // Init: tokens spread evenly along the sequence; then Lloyd iterations.
      std::vector<float> cent(k * dim);
      for (std::size_t j = 0; j < k; ++j) std::copy(tok + (j * n / k) * dim, tok + (j * n / k + 1) * dim, cent.begin() + j * dim);
      std::vector<std::uint32_t> code(n);
      std::vector<std::size_t> cnt(k);
      std::vector<double> acc(k * dim);
      std::vector<float> dots(n * k);
      std::vector<float> half(k);
      for (std::size_t it = 0; it <= n_iters; ++it) {
        AlignedFloats panels = detail::pack_panels(cent.data(), k, dim);
        for (std::size_t j = 0; j < k; ++j) {
          double s = 0.0;
          for (std::size_t e = 0; e < dim; ++e) s += static_cast<double>(cent[j * dim + e]) * cent[j * dim + e];
          half[j] = static_cast<float>(0.5 * s);
        }
        kt.dot_panels_f32(tok, n, dim, panels.data(), k, dots.data(), k);
        for (std::size_t t = 0; t < n; ++t) {
          float best = -std::numeric_limits<float>::infinity();
          std::uint32_t arg = 0;
          for (std::size_t j = 0; j < k; ++j) {
            const float v = dots[t * k + j] - half[j];
            if (v > best) {
              best = v;
              arg = static_cast<std::uint32_t>(j);
            }
          }
          code[t] = arg;
        }
        std::fill(cnt.begin(), cnt.end(), 0);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::size_t t = 0; t < n; ++t) {
          ++cnt[code[t]];
          for (std::size_t e = 0; e < dim; ++e) acc[code[t] * dim + e] += tok[t * dim + e];
        }
        for (std::size_t j = 0; j < k; ++j)
          if (cnt[j])
            for (std::size_t e = 0; e < dim; ++e)
              cent[j * dim + e] = static_cast<float>(acc[j * dim + e] / static_cast<double>(cnt[j]));
      }
      // The last pass's means, non-empty clusters only (an emptied cluster is dropped).
      out.clear();
      for (std::size_t j = 0; j < k; ++j)
        if (cnt[j]) out.insert(out.end(), cent.begin() + j * dim, cent.begin() + (j + 1) * dim);
    });
    if (progress) progress("pool", d1, n_docs);
  }
  out_offsets.assign(n_docs + 1, 0);
  for (std::size_t d = 0; d < n_docs; ++d)
    out_offsets[d + 1] = out_offsets[d] + static_cast<std::int64_t>(pooled[d].size() / dim);
  std::vector<float> result(static_cast<std::size_t>(out_offsets[n_docs]) * dim);
  for (std::size_t d = 0; d < n_docs; ++d) {
    std::copy(pooled[d].begin(), pooled[d].end(), result.begin() + out_offsets[d] * static_cast<std::int64_t>(dim));
    std::vector<float>().swap(pooled[d]);
  }
  return result;
}

}  // namespace aftershock::multivector
