// MUVERA fixed dimensional encodings (FDE): a multi-vector set becomes one vector whose
// inner products approximate MaxSim (Dhulipala et al., 2024). Implemented from the paper:
//
//   for each repetition r < r_reps:
//     SimHash: k_sim Gaussian hyperplanes g_{r,b}; token x falls in partition
//       p_r(x) = sum_b [<g_{r,b}, x> > 0] << b        (2^k_sim partitions)
//     inner projection: psi_r(x) = S_r x / sqrt(d_proj), S_r a random +-1 matrix
//       [d_proj, dim] (d_proj = 0: psi_r(x) = x, no projection)
//     block (r, p) of the query FDE    = sum  of psi_r(q) over query tokens with p_r(q) = p
//     block (r, p) of the document FDE = mean of psi_r(d) over doc tokens   with p_r(d) = p;
//       an empty block (fill_empty) takes psi_r of the document token whose SimHash code
//       is nearest to p in Hamming distance (ties: the first such token)
//   FDE = concatenation over (r, p): r_reps * 2^k_sim * d_proj values, then optionally a
//   final count-sketch projection to final_dim values (coordinate j goes to bucket h(j)
//   with sign s(j)), which preserves inner products in expectation.
//
// <FDE(q), FDE(d)> approximates sum_i <q_i, d_{j(i)}> where d_{j(i)} stands for the
// document tokens that share q_i's partition, i.e. a MaxSim estimate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aftershock/io/format.hpp"

namespace aftershock::multivector {

struct FdeParams {
  std::size_t k_sim = 4;     // SimHash bits per repetition: 2^k_sim partitions (0..12)
  std::size_t r_reps = 8;    // independent repetitions (>= 1)
  std::size_t d_proj = 16;   // values per partition block; 0 = no projection (dim values)
  bool fill_empty = true;    // fill empty document partitions from the nearest token
  std::size_t final_dim = 0; // 0 = no final projection; else count-sketch to this many values
};

/// The random maps of one FDE configuration. Immutable after construction: encode_*
/// may run concurrently from many threads (each with its own scratch).
class FdeEncoder {
 public:
  FdeEncoder() = default;
  /// Draws the SimHash planes, projections and sketch from `seed`. Throws
  /// InvalidArgument naming the parameter if k_sim > 12, r_reps == 0, dim == 0, or the
  /// encoding would exceed 2^26 values.
  FdeEncoder(std::size_t dim, const FdeParams& params, std::uint64_t seed);

  std::size_t dim() const { return dim_; }
  const FdeParams& params() const { return params_; }
  /// Values per FDE before the final projection: r_reps * 2^k_sim * block_dim().
  std::size_t raw_dim() const;
  /// Length of the encodings encode_* writes.
  std::size_t fde_dim() const { return params_.final_dim ? params_.final_dim : raw_dim(); }
  std::size_t block_dim() const { return params_.d_proj ? params_.d_proj : dim_; }
  /// Floats of scratch encode_* needs for n tokens.
  std::size_t scratch_floats(std::size_t n_tokens) const;

  /// Bytes an encoder of these (range-checked) parameters holds: the projection weights,
  /// their packed copy and the count sketch. Saturates instead of overflowing.
  static std::uint64_t encoder_bytes(std::size_t dim, const FdeParams& params);
  /// Bytes a MUVERA build holds for its encodings: the encoder, n_docs document encodings
  /// (fde_dim values each: 1 byte and a per-document scale with int8, 4 bytes with fp32),
  /// and `workers` encoding scratches for documents of up to max_tokens tokens.
  static std::uint64_t build_bytes(std::size_t dim, const FdeParams& params, std::size_t n_docs,
                                   std::size_t max_tokens, std::size_t workers, bool int8);

  /// tokens: float32 [n, dim] row-major, n >= 1; out: fde_dim() floats. O(n * dim *
  /// r_reps * (k_sim + d_proj) + fde_dim). scratch: scratch_floats(n) floats.
  void encode_query(const float* tokens, std::size_t n, float* out, float* scratch) const;
  void encode_document(const float* tokens, std::size_t n, float* out, float* scratch) const;

  /// Serialization: sections "FDEW" (the stacked SimHash/projection rows, f32),
  /// "FDEH" (sketch buckets, u32), "FDES" (sketch signs, f32); parameters go in CONF
  /// under the given prefix.
  void save(io::FileWriter& writer, io::Config& config) const;
  static FdeEncoder load(const io::FileReader& reader, const io::Config& config, std::size_t dim);

 private:
  void encode(const float* tokens, std::size_t n, float* out, float* scratch, bool is_query) const;

  std::size_t dim_ = 0;
  FdeParams params_;
  std::size_t cols_per_rep_ = 0;          // k_sim + d_proj
  std::vector<float> weights_;            // [r_reps * cols_per_rep_, dim]: per rep k_sim planes then d_proj rows
  std::vector<float> panels_;             // weights_ packed as column panels (kernels)
  std::vector<std::uint32_t> sketch_bucket_;  // [raw_dim] (final_dim > 0)
  std::vector<float> sketch_sign_;            // [raw_dim] +-1
};

}  // namespace aftershock::multivector
