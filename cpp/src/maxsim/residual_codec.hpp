// Internal: PLAID-style residual compression of document tokens (precisions res1 / res2 /
// res4), and its panel layout. Baseline code: never include from an ISA translation unit.
//
// A token x is stored as code = its nearest centroid c (u16, n_centroids <= 65536) and, per
// dimension k, a bucket b_k in [0, 2^bits) of the residual r_k = x_k - c_k:
//   b_k = #{ j : cutoffs[k][j] <= r_k }        (cutoffs[k] non-decreasing, 2^bits - 1 of them)
//   decoded x'_k = c_k + weights[k][b_k]        (one float32 addition: the same bits everywhere)
// The cutoffs are Lloyd-Max cutoffs of the training residuals of dimension k (started at the
// quantiles j / 2^bits), the weights the mean training residual of each bucket (per
// dimension: measured better than one table shared by all dimensions at the same bytes, see
// README.md).
//
// Panel (16 tokens = lanes, dimension-major like the other precisions): for dimension k one
// little-endian word of 16 * bits bits (u16 / u32 / u64 for 1 / 2 / 4 bits), lane t in bits
// [t * bits, (t + 1) * bits). panel_bytes = dim * 2 * bits. Codes live beside the panels,
// one u16 per lane. Padding lanes repeat the document's last token (code and buckets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace aftershock::maxsim {

/// Floats per dimension in the kernels' weight table (bucket weights padded with zeros).
inline constexpr std::size_t kResTableStride = 16;
/// Values with |x| >= 2^50 are refused by the residual precisions (binary32 bits): dot
/// products in the k-means assignment and the decoded sums then stay far inside float32.
inline constexpr std::uint32_t kResidualLimitBits = 0x58800000u;

/// Everything a decode needs (non-owning).
struct ResidualCodebook {
  unsigned bits = 0;             // 1, 2 or 4
  std::size_t dim = 0;
  std::size_t n_centroids = 0;
  const float* centroids = nullptr;    // [n_centroids, dim] (encoding only; may be null otherwise)
  const float* centroids_t = nullptr;  // [dim, n_centroids] (the kernels gather from it)
  const float* cutoffs = nullptr;      // [dim, 2^bits - 1]
  const float* table = nullptr;        // [dim, kResTableStride] bucket weights, zero padded
};

inline std::size_t residual_panel_bytes(unsigned bits, std::size_t dim) { return dim * 2 * bits; }

/// Trains cutoffs [dim, 2^bits - 1] and weights [dim, 2^bits] from residual rows r [n, dim]
/// (n >= 1), per dimension: starting from the quantile cutoffs (cutoff j = the value of rank
/// floor(j n / 2^bits) of the sorted residuals), 20 Lloyd-Max rounds (cutoffs at the
/// midpoints of adjacent weights); weight j is the mean of the residuals in bucket j for the
/// final cutoffs (an empty bucket takes its lower cutoff, bucket 0 its upper one), so every
/// weight lies inside its bucket and cutoffs and weights are non-decreasing. Deterministic.
/// O(n log n * dim).
void train_residual_buckets(const float* residuals, std::size_t n, std::size_t dim, unsigned bits,
                            std::vector<float>& cutoffs, std::vector<float>& weights);

/// weights [dim, 2^bits] -> the kernels' table [dim, kResTableStride].
std::vector<float> residual_table(const std::vector<float>& weights, std::size_t dim, unsigned bits);

/// Bucket of residual r for a dimension with `n_cut` non-decreasing cutoffs.
inline unsigned residual_bucket(const float* cut, unsigned n_cut, float r) {
  unsigned b = 0;
  while (b < n_cut && cut[b] <= r) ++b;
  return b;
}

/// Encodes n >= 1 tokens (float32 [n, dim], finite, each row read once; cb.centroids set) with their codes
/// (< n_centroids, PRECONDITION) into panels_for(n) zeroed panels and codes_out
/// [panels_for(n) * 16]; padding lanes repeat the last token. O(n * dim).
void encode_residual_panels(const ResidualCodebook& cb, const float* tokens, const std::uint32_t* codes, std::size_t n,
                            unsigned char* panels, std::uint16_t* codes_out);

/// Decodes n tokens into float32 [n, dim] row-major: the exact values the kernels score.
void decode_residual_panels(const ResidualCodebook& cb, const unsigned char* panels, const std::uint16_t* codes,
                            std::size_t n, float* out);

/// For loaders: "" when the codebook's values are valid (centroids finite and below the
/// limit, cutoffs finite and non-decreasing per dimension, weights finite) and every one
/// of n_lanes codes is < n_centroids; the reason otherwise.
std::string residual_values_error(const ResidualCodebook& cb, const std::vector<float>& weights,
                                  const std::uint16_t* codes, std::size_t n_lanes);

/// For loaders: padding lanes of one document's panels (n >= 1 tokens) made copies of its
/// last token again, whatever the file held.
void restore_residual_padding(unsigned bits, std::size_t dim, unsigned char* panels, std::uint16_t* codes,
                              std::size_t n);

}  // namespace aftershock::maxsim
