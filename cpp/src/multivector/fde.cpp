#include "aftershock/multivector/fde.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/multivector/config.hpp"
#include "kernels.hpp"
#include "aftershock/util/memory.hpp"
#include "aftershock/util/random.hpp"
#include "util.hpp"

namespace aftershock::multivector {

std::uint64_t FdeEncoder::encoder_bytes(std::size_t dim, const FdeParams& p) {
  const std::size_t block = p.d_proj ? p.d_proj : dim;
  const std::uint64_t raw = bytes_product({p.r_reps, std::uint64_t{1} << p.k_sim, block});
  // weights_ and panels_ (a packed copy, padded to whole panels: at most twice), then the
  // sketch's bucket and sign per raw value.
  const std::uint64_t weights = bytes_product({p.r_reps, p.k_sim + p.d_proj, dim, sizeof(float)});
  return bytes_sum(bytes_product({weights, 3}), p.final_dim ? bytes_product({raw, 8}) : 0);
}

std::uint64_t FdeEncoder::build_bytes(std::size_t dim, const FdeParams& p, std::size_t n_docs, std::size_t max_tokens,
                                      std::size_t workers, bool int8) {
  const std::size_t block = p.d_proj ? p.d_proj : dim;
  const std::uint64_t raw = bytes_product({p.r_reps, std::uint64_t{1} << p.k_sim, block});
  const std::uint64_t fde = p.final_dim ? p.final_dim : raw;
  const std::uint64_t encodings =
      int8 ? bytes_sum(bytes_product({n_docs, fde}), bytes_product({n_docs, sizeof(float)}))
           : bytes_product({n_docs, fde, sizeof(float)});
  // scratch_floats(max_tokens) + fde_dim floats per worker.
  const std::uint64_t scratch_floats = bytes_sum(bytes_product({max_tokens, p.r_reps, p.k_sim + p.d_proj}),
                                                 bytes_sum(p.final_dim ? raw : 0, fde));
  return bytes_sum(bytes_sum(encoder_bytes(dim, p), encodings),
                   bytes_product({workers, scratch_floats, sizeof(float)}));
}

FdeEncoder::FdeEncoder(std::size_t dim, const FdeParams& params, std::uint64_t seed) : dim_(dim), params_(params) {
  if (dim == 0) throw InvalidArgument("vectors: dim must be >= 1");
  if (params.k_sim > kMaxKSim)
    throw InvalidArgument("k_sim: expected 0.." + std::to_string(kMaxKSim) + ", got " + std::to_string(params.k_sim));
  if (params.r_reps == 0) throw InvalidArgument("r_reps: expected >= 1, got 0");
  if (params.d_proj > kMaxDProj) throw InvalidArgument("d_proj: expected 0.." + std::to_string(kMaxDProj) + ", got " + std::to_string(params.d_proj));
  const std::size_t bd = block_dim();
  const std::size_t raw = params.r_reps * (std::size_t{1} << params.k_sim);
  if (raw > kMaxFdeValues / bd || params.final_dim > kMaxFdeValues)
    throw InvalidArgument("k_sim/r_reps/d_proj/final_dim: the encoding would exceed 2^26 values");

  check_memory_need(encoder_bytes(dim, params), "r_reps/d_proj: the FDE projection matrices (r_reps x (k_sim + d_proj) x dim floats)",
                    "lower r_reps or d_proj");
  cols_per_rep_ = params.k_sim + params.d_proj;
  weights_.assign(params.r_reps * cols_per_rep_ * dim, 0.0f);
  Rng rng(seed);
  const float proj_scale = params.d_proj ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(params.d_proj))) : 0.0f;
  for (std::size_t r = 0; r < params.r_reps; ++r) {
    float* w = weights_.data() + r * cols_per_rep_ * dim;
    for (std::size_t i = 0; i < params.k_sim * dim; ++i) w[i] = static_cast<float>(rng.normal());
    for (std::size_t i = params.k_sim * dim; i < cols_per_rep_ * dim; ++i)
      w[i] = (rng.next() >> 63) ? proj_scale : -proj_scale;
  }
  if (!weights_.empty()) {
    detail::AlignedFloats p = detail::pack_panels(weights_.data(), params.r_reps * cols_per_rep_, dim);
    panels_.assign(p.begin(), p.end());
  }
  if (params.final_dim) {
    const std::size_t n = raw_dim();
    sketch_bucket_.resize(n);
    sketch_sign_.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      sketch_bucket_[j] = static_cast<std::uint32_t>(rng.below(params.final_dim));
      sketch_sign_[j] = (rng.next() >> 63) ? 1.0f : -1.0f;
    }
  }
}

std::size_t FdeEncoder::raw_dim() const { return params_.r_reps * (std::size_t{1} << params_.k_sim) * block_dim(); }

std::size_t FdeEncoder::scratch_floats(std::size_t n_tokens) const {
  return n_tokens * params_.r_reps * cols_per_rep_ + (params_.final_dim ? raw_dim() : 0);
}

void FdeEncoder::encode_query(const float* tokens, std::size_t n, float* out, float* scratch) const {
  encode(tokens, n, out, scratch, true);
}
void FdeEncoder::encode_document(const float* tokens, std::size_t n, float* out, float* scratch) const {
  encode(tokens, n, out, scratch, false);
}

void FdeEncoder::encode(const float* tokens, std::size_t n, float* out, float* scratch, bool is_query) const {
  // PRECONDITION: n >= 1, tokens finite (validated by the index before encoding).
  AFTERSHOCK_DCHECK(n >= 1);
  const std::size_t n_cols = params_.r_reps * cols_per_rep_;
  const std::size_t n_parts = std::size_t{1} << params_.k_sim;
  const std::size_t bd = block_dim();
  float* proj = scratch;
  float* raw = params_.final_dim ? scratch + n * n_cols : out;
  if (n_cols) kernels::active().dot_panels_f32(tokens, n, dim_, panels_.data(), n_cols, proj, n_cols);
  std::fill(raw, raw + raw_dim(), 0.0f);

  std::vector<std::uint32_t> part(n), count(n_parts);
  for (std::size_t r = 0; r < params_.r_reps; ++r) {
    std::fill(count.begin(), count.end(), 0u);
    float* rep = raw + r * n_parts * bd;
    for (std::size_t t = 0; t < n; ++t) {
      const float* row = proj + t * n_cols + r * cols_per_rep_;
      std::uint32_t p = 0;
      for (std::size_t b = 0; b < params_.k_sim; ++b) p |= static_cast<std::uint32_t>(row[b] > 0.0f) << b;
      part[t] = p;
      ++count[p];
      const float* psi = params_.d_proj ? row + params_.k_sim : tokens + t * dim_;
      float* block = rep + p * bd;
      for (std::size_t e = 0; e < bd; ++e) block[e] += psi[e];
    }
    if (is_query) continue;
    for (std::size_t p = 0; p < n_parts; ++p) {
      float* block = rep + p * bd;
      if (count[p] > 1) {
        const float inv = 1.0f / static_cast<float>(count[p]);
        for (std::size_t e = 0; e < bd; ++e) block[e] *= inv;
      } else if (count[p] == 0 && params_.fill_empty) {
        std::size_t best_t = 0;
        int best_h = 64;
        for (std::size_t t = 0; t < n; ++t) {
          const int h = __builtin_popcount(part[t] ^ static_cast<std::uint32_t>(p));
          if (h < best_h) {
            best_h = h;
            best_t = t;
          }
        }
        const float* psi =
            params_.d_proj ? proj + best_t * n_cols + r * cols_per_rep_ + params_.k_sim : tokens + best_t * dim_;
        std::copy(psi, psi + bd, block);
      }
    }
  }
  if (params_.final_dim) {
    std::fill(out, out + params_.final_dim, 0.0f);
    const std::size_t n_raw = raw_dim();
    for (std::size_t j = 0; j < n_raw; ++j) out[sketch_bucket_[j]] += sketch_sign_[j] * raw[j];
  }
}

void FdeEncoder::save(io::FileWriter& writer, io::Config& config) const {
  config.set_uint("fde.k_sim", params_.k_sim);
  config.set_uint("fde.r_reps", params_.r_reps);
  config.set_uint("fde.d_proj", params_.d_proj);
  config.set_uint("fde.fill_empty", params_.fill_empty ? 1 : 0);
  config.set_uint("fde.final_dim", params_.final_dim);
  writer.add_vector("FDEW", weights_);
  writer.add_vector("FDEH", sketch_bucket_);
  writer.add_vector("FDES", sketch_sign_);
}

FdeEncoder FdeEncoder::load(const io::FileReader& reader, const io::Config& config, std::size_t dim) {
  // get_uint also reads the integers earlier files wrote as doubles.
  auto count = [&](const char* key, std::uint64_t hi) { return static_cast<std::size_t>(config.get_uint(key, hi)); };
  FdeParams p;
  p.k_sim = count("fde.k_sim", kMaxKSim);
  p.r_reps = count("fde.r_reps", kMaxFdeValues);
  p.d_proj = count("fde.d_proj", kMaxDProj);
  p.fill_empty = count("fde.fill_empty", 1) != 0;
  p.final_dim = count("fde.final_dim", kMaxFdeValues);
  if (p.r_reps == 0 || dim == 0) throw FormatError("aftershock file: bad FDE configuration");
  const std::size_t bd = p.d_proj ? p.d_proj : dim;
  if (p.r_reps * (std::size_t{1} << p.k_sim) > kMaxFdeValues / bd)
    throw FormatError("aftershock file: bad FDE configuration");

  FdeEncoder e;
  e.dim_ = dim;
  e.params_ = p;
  e.cols_per_rep_ = p.k_sim + p.d_proj;
  e.weights_ = reader.read_vector<float>("FDEW", static_cast<long long>(p.r_reps * e.cols_per_rep_ * dim));
  for (float w : e.weights_)
    if (!std::isfinite(w)) throw FormatError("aftershock file: section FDEW holds a non-finite value");
  if (!e.weights_.empty()) {
    detail::AlignedFloats packed = detail::pack_panels(e.weights_.data(), p.r_reps * e.cols_per_rep_, dim);
    e.panels_.assign(packed.begin(), packed.end());
  }
  const long long n_sketch = p.final_dim ? static_cast<long long>(e.raw_dim()) : 0;
  e.sketch_bucket_ = reader.read_vector<std::uint32_t>("FDEH", n_sketch);
  e.sketch_sign_ = reader.read_vector<float>("FDES", n_sketch);
  for (std::size_t j = 0; j < e.sketch_bucket_.size(); ++j)
    if (e.sketch_bucket_[j] >= p.final_dim || (e.sketch_sign_[j] != 1.0f && e.sketch_sign_[j] != -1.0f))
      throw FormatError("aftershock file: sections FDEH/FDES hold an invalid count sketch");
  return e;
}

}  // namespace aftershock::multivector
