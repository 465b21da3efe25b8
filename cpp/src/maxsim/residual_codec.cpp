#include "residual_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "aftershock/maxsim/maxsim.hpp"
#include "panel_codec.hpp"

namespace aftershock::maxsim {
namespace {

constexpr std::size_t kP = kPanelTokens;

std::uint64_t load_word(const unsigned char* p, unsigned bits) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, 2 * bits);  // little-endian (the format is little-endian only)
  return w;
}

void store_word(unsigned char* p, unsigned bits, std::uint64_t w) { std::memcpy(p, &w, 2 * bits); }

}  // namespace

void train_residual_buckets(const float* residuals, std::size_t n, std::size_t dim, unsigned bits,
                            std::vector<float>& cutoffs, std::vector<float>& weights) {
  const std::size_t n_buckets = std::size_t{1} << bits;
  cutoffs.assign(dim * (n_buckets - 1), 0.0f);
  weights.assign(dim * n_buckets, 0.0f);
  std::vector<float> v(n);
  for (std::size_t k = 0; k < dim; ++k) {
    for (std::size_t i = 0; i < n; ++i) v[i] = residuals[i * dim + k];
    std::sort(v.begin(), v.end());
    float* cut = cutoffs.data() + k * (n_buckets - 1);
    for (std::size_t j = 1; j < n_buckets; ++j) cut[j - 1] = v[std::min(n - 1, j * n / n_buckets)];
    // Bucket j holds the sorted values in [first of j, first of j+1): the values >= cut[j-1]
    // and < cut[j] (bucket_of counts the cutoffs <= r).
    std::size_t i = 0;
    for (std::size_t j = 0; j < n_buckets; ++j) {
      double sum = 0.0;
      std::size_t count = 0;
      while (i < n && (j + 1 == n_buckets || v[i] < cut[j])) {
        sum += v[i];
        ++count;
        ++i;
      }
      float w;
      if (count > 0)
        w = static_cast<float>(sum / static_cast<double>(count));
      else
        w = j > 0 ? cut[j - 1] : cut[0];
      weights[k * n_buckets + j] = w;
    }
  }
}

std::vector<float> residual_table(const std::vector<float>& weights, std::size_t dim, unsigned bits) {
  const std::size_t n_buckets = std::size_t{1} << bits;
  std::vector<float> table(dim * kResTableStride, 0.0f);
  for (std::size_t k = 0; k < dim; ++k)
    for (std::size_t j = 0; j < n_buckets; ++j) table[k * kResTableStride + j] = weights[k * n_buckets + j];
  return table;
}

void encode_residual_panels(const ResidualCodebook& cb, const float* tokens, const std::uint32_t* codes, std::size_t n,
                            unsigned char* panels, std::uint16_t* codes_out) {
  const std::size_t dim = cb.dim;
  const unsigned bits = cb.bits;
  const unsigned n_cut = (1u << bits) - 1;
  const std::size_t word_bytes = 2 * bits;
  const std::size_t panel_bytes = residual_panel_bytes(bits, dim);
  for (std::size_t j = 0; j < n; ++j) {
    const float* x = tokens + j * dim;
    const std::uint32_t code = codes[j];
    const float* c = cb.centroids + static_cast<std::size_t>(code) * dim;
    unsigned char* panel = panels + (j / kP) * panel_bytes;
    const unsigned shift = static_cast<unsigned>(j % kP) * bits;
    for (std::size_t k = 0; k < dim; ++k) {
      const float r = x[k] - c[k];
      const std::uint64_t b = residual_bucket(cb.cutoffs + k * n_cut, n_cut, r);
      unsigned char* w = panel + k * word_bytes;
      store_word(w, bits, load_word(w, bits) | (b << shift));
    }
    codes_out[j] = static_cast<std::uint16_t>(code);
  }
  restore_residual_padding(bits, dim, panels, codes_out, n);
}

void decode_residual_panels(const ResidualCodebook& cb, const unsigned char* panels, const std::uint16_t* codes,
                            std::size_t n, float* out) {
  const std::size_t dim = cb.dim;
  const unsigned bits = cb.bits;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  const std::size_t panel_bytes = residual_panel_bytes(bits, dim);
  for (std::size_t j = 0; j < n; ++j) {
    const unsigned char* panel = panels + (j / kP) * panel_bytes;
    const unsigned shift = static_cast<unsigned>(j % kP) * bits;
    const std::size_t code = codes[j];
    for (std::size_t k = 0; k < dim; ++k) {
      const auto b = static_cast<std::size_t>((load_word(panel + k * 2 * bits, bits) >> shift) & mask);
      out[j * dim + k] = cb.centroids_t[k * cb.n_centroids + code] + cb.table[k * kResTableStride + b];
    }
  }
}

std::string residual_values_error(const ResidualCodebook& cb, const std::vector<float>& weights,
                                  const std::uint16_t* codes, std::size_t n_lanes) {
  const std::size_t n_cut = (std::size_t{1} << cb.bits) - 1;
  float limit;
  std::memcpy(&limit, &kResidualLimitBits, sizeof limit);
  for (std::size_t i = 0; i < cb.n_centroids * cb.dim; ++i)
    if (!(std::fabs(cb.centroids_t[i]) < limit)) return "centroids must be finite with |c| < 2^50";
  for (std::size_t k = 0; k < cb.dim; ++k)
    for (std::size_t j = 0; j < n_cut; ++j) {
      const float v = cb.cutoffs[k * n_cut + j];
      if (!std::isfinite(v) || (j > 0 && v < cb.cutoffs[k * n_cut + j - 1]))
        return "bucket cutoffs must be finite and non-decreasing per dimension";
    }
  for (float w : weights)
    if (!(std::fabs(w) < 2.0f * limit)) return "bucket weights must be finite with |w| < 2^51";
  for (std::size_t i = 0; i < n_lanes; ++i)
    if (codes[i] >= cb.n_centroids)
      return "centroid code " + std::to_string(codes[i]) + " >= n_centroids " + std::to_string(cb.n_centroids);
  return std::string();
}

void restore_residual_padding(unsigned bits, std::size_t dim, unsigned char* panels, std::uint16_t* codes,
                              std::size_t n) {
  const std::size_t last = panels_for(n) - 1;
  const std::size_t used = n - last * kP;
  if (used == kP) return;
  const std::size_t panel_bytes = residual_panel_bytes(bits, dim);
  unsigned char* panel = panels + last * panel_bytes;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  const unsigned src = static_cast<unsigned>(used - 1) * bits;
  for (std::size_t k = 0; k < dim; ++k) {
    unsigned char* wp = panel + k * 2 * bits;
    std::uint64_t w = load_word(wp, bits);
    const std::uint64_t b = (w >> src) & mask;
    for (std::size_t t = used; t < kP; ++t) {
      const unsigned s = static_cast<unsigned>(t) * bits;
      w = (w & ~(mask << s)) | (b << s);
    }
    store_word(wp, bits, w);
  }
  for (std::size_t t = used; t < kP; ++t) codes[last * kP + t] = codes[last * kP + used - 1];
}

}  // namespace aftershock::maxsim
