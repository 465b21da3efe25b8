// MultiVectorStore: construction (tokens -> panels through the panel codec), exact MaxSim
// scoring, rerank and brute-force search. Serialization is in store_io.cpp; the panel
// layout and its codec in cpp/src/maxsim/panel_codec.{hpp,cpp}.
#include "aftershock/multivector/store.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "../maxsim/kernels.hpp"
#include "../maxsim/panel_codec.hpp"
#include "../maxsim/residual_codec.hpp"
#include "aftershock/error.hpp"
#include "aftershock/multivector/centroid_index.hpp"
#include "aftershock/multivector/config.hpp"
#include "aftershock/multivector/kmeans.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/ragged.hpp"
#include "aftershock/util/topk.hpp"

namespace aftershock::multivector {
namespace {

constexpr std::size_t kP = maxsim::kPanelTokens;
constexpr std::size_t kDocsPerItem = 64;  // documents per parallel work item

// Top-k of scores[0..n) with ids (ids == nullptr: id = t). Writes k entries best first,
// padded with -inf / -1; NaN scores are never selected (util/topk.hpp). Returns the number
// of real results.
std::size_t select_top_k(const float* scores, const DocId* ids, std::size_t n, std::size_t k, float* out_scores,
                         std::int64_t* out_ids) {
  TopK top(std::min(n, k));
  for (std::size_t t = 0; t < n; ++t) top.push(scores[t], ids ? ids[t] : static_cast<DocId>(t));
  const std::size_t found = top.write(out_scores, out_ids);
  for (std::size_t i = top.k(); i < k; ++i) {
    out_scores[i] = -std::numeric_limits<float>::infinity();
    out_ids[i] = -1;
  }
  return found;
}

// Floats before the residual decode buffer in a scratch for m query tokens (64-byte multiple).
std::size_t decode_offset(std::size_t m) { return (m * kP + m + 15) / 16 * 16; }

std::string prepared_mismatch(const PreparedQuery& q, std::size_t dim, Precision p) {
  return "query: prepared for dim " + std::to_string(q.dim()) + " " + maxsim::precision_name(q.precision()) +
         ", the store has dim " + std::to_string(dim) + " " + maxsim::precision_name(p);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Construction and layout

void MultiVectorStore::finish_layout() {
  panel_start_.assign(n_docs_ + 1, 0);
  for (std::size_t d = 0; d < n_docs_; ++d) {
    const auto n = static_cast<std::uint64_t>(offsets_[d + 1] - offsets_[d]);
    panel_start_[d + 1] = panel_start_[d] + maxsim::panels_for(n);
  }
  panel_bytes_ = maxsim::PanelLayout::of(precision_, dim_).panel_bytes;
  meta_ = {kLayoutVersion, static_cast<std::uint64_t>(precision_), dim_, n_docs_, total_tokens_, kP};
}

MultiVectorStore::MultiVectorStore(const float* vectors, std::size_t total_tokens, std::size_t dim,
                                   const std::int64_t* offsets, std::size_t n_docs, Precision precision,
                                   std::size_t num_threads, const CodebookParams& codebook)
    : precision_(precision), dim_(dim), n_docs_(n_docs), total_tokens_(total_tokens) {
  if (!is_precision(static_cast<std::uint64_t>(precision))) throw InvalidArgument("precision: unknown precision");
  if (dim == 0) throw InvalidArgument("vectors: dim must be >= 1, got 0");
  if (precision == Precision::kInt8 && dim > maxsim::kMaxInt8Dim)
    throw InvalidArgument("vectors: int8 storage supports dim <= " + std::to_string(maxsim::kMaxInt8Dim) +
                          ", got " + std::to_string(dim));
  if (n_docs > std::numeric_limits<DocId>::max())
    throw InvalidArgument("offsets: at most 2^32 - 1 documents per store, got " + std::to_string(n_docs));
  // Copy first, then check the copy: it is what the layout below is built from.
  offsets_.assign(offsets, offsets + n_docs + 1);
  check_ragged_offsets(offsets_.data(), n_docs, total_tokens, "offsets", "document", EmptyRows::kRejected);
  finish_layout();
  const std::size_t n_panels = this->n_panels();
  data_ = AlignedBuffer(n_panels * panel_bytes_);
  if (is_residual(precision_)) {
    build_residual(vectors, codebook, num_threads);
    find_max_token_norm(num_threads);
    return;
  }
  if (precision_ == Precision::kInt8) {
    scales_ = AlignedBuffer(n_panels * kP * sizeof(float));
    bias_ = AlignedBuffer(n_panels * kP * sizeof(std::int32_t));
  }
  // The values are checked inside the conversion, each read once (STYLE 2.3: a caller's
  // array changed by another thread cannot slip an unchecked value in). The first bad
  // value (smallest row, then column) is reported whatever the thread count: an item
  // starting past the first bad value found so far cannot hold a smaller one.
  const maxsim::PanelLayout layout = maxsim::PanelLayout::of(precision_, dim_);
  FirstBadValue bad;
  const std::size_t n_items = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t) {
    std::vector<float> row;
    const std::size_t d_begin = item * kDocsPerItem;
    const std::size_t d_end = std::min(n_docs_, d_begin + kDocsPerItem);
    if (static_cast<std::size_t>(offsets_[d_begin]) * dim_ >= bad.first()) return;
    for (std::size_t d = d_begin; d < d_end; ++d) {
      const auto r0 = static_cast<std::size_t>(offsets_[d]);
      const std::size_t n = static_cast<std::size_t>(offsets_[d + 1]) - r0;
      const std::size_t p0 = panel_start_[d];
      float bad_value = 0.0f;
      const std::size_t at = maxsim::encode_panels(
          layout, vectors + r0 * dim_, n, data_.mutable_data() + p0 * panel_bytes_,
          scales_.size() ? scales_.mutable_as<float>() + p0 * kP : nullptr,
          bias_.size() ? bias_.mutable_as<std::int32_t>() + p0 * kP : nullptr, row, &bad_value);
      if (at != maxsim::kNoBadValue) {
        bad.offer(r0 * dim_ + at, bad_value);
        return;
      }
    }
  });
  bad.throw_if_found("vectors", dim_, maxsim::value_limit_name(precision_));
  find_max_token_norm(num_threads);
}

std::size_t residual_sample_size(std::size_t total_tokens, std::size_t n_centroids) {
  // 64 points per centroid up to 262,144 (4,096 centroids); larger codebooks get fewer per
  // centroid, so k-means costs at most iters * 2^18 * C * dim (the assignment of every
  // token, total * C * dim, dominates from 2^18 / iters tokens on).
  constexpr std::size_t kMin = std::size_t{1} << 16, kMax = std::size_t{1} << 18;
  return std::min(total_tokens, std::max(kMin, std::min(64 * n_centroids, kMax)));
}

void MultiVectorStore::build_residual(const float* vectors, const CodebookParams& codebook, std::size_t num_threads) {
  const unsigned bits = residual_bits(precision_);
  const std::uint32_t limit = maxsim::kResidualLimitBits;
  const char* limit_name = maxsim::value_limit_name(precision_);
  // Every value checked first (the first bad one is reported); the encoding below reads
  // each row once more into a copy, checks that copy and codes it.
  check_finite_rows(vectors, total_tokens_, dim_, "vectors", num_threads, limit, limit_name);
  std::size_t C = 0;
  std::vector<float> centroids;  // row-major [C, dim]
  if (codebook.centroids != nullptr) {
    C = codebook.n_centroids;
    if (C == 0 || C > kMaxCentroids)
      throw InvalidArgument("centroids: expected 1 to " + std::to_string(kMaxCentroids) + " rows, got " +
                            std::to_string(C));
    centroids.assign(codebook.centroids, codebook.centroids + C * dim_);
    check_finite_rows(centroids.data(), C, dim_, "centroids", 1, limit, limit_name);
  } else {
    if (total_tokens_ == 0) {
      C = 0;
    } else {
      C = codebook.n_centroids ? codebook.n_centroids : auto_n_centroids(total_tokens_);
      if (C > kMaxCentroids || C > total_tokens_)
        throw InvalidArgument("n_centroids: expected at most min(65536, the number of tokens (" +
                              std::to_string(total_tokens_) + ")), got " + std::to_string(C));
    }
  }
  n_centroids_ = C;
  codes_ = AlignedBuffer(n_panels() * kP * sizeof(std::uint16_t));
  if (total_tokens_ == 0) return;
  // A sample of rows (evenly spread, a copy) trains the centroids and the bucket cutoffs.
  const std::size_t n_sample = residual_sample_size(total_tokens_, C);
  std::vector<float> sample(n_sample * dim_);
  for (std::size_t i = 0; i < n_sample; ++i) {
    const std::size_t row = static_cast<std::size_t>(static_cast<unsigned __int128>(i) * total_tokens_ / n_sample);
    std::copy(vectors + row * dim_, vectors + (row + 1) * dim_, sample.data() + i * dim_);
  }
  check_finite_rows(sample.data(), n_sample, dim_, "vectors", num_threads, limit, limit_name);
  if (codebook.centroids == nullptr) {
    KMeansParams km;
    km.n_centroids = C;
    km.n_iters = codebook.kmeans_iters;
    km.seed = codebook.seed;
    centroids = train_kmeans(sample.data(), n_sample, dim_, km, num_threads, ProgressFn());
  }
  {
    std::vector<std::uint32_t> sample_codes(n_sample);
    assign_nearest(sample.data(), n_sample, dim_, centroids.data(), C, sample_codes.data(), num_threads, ProgressFn());
    for (std::size_t i = 0; i < n_sample; ++i)
      for (std::size_t k = 0; k < dim_; ++k) sample[i * dim_ + k] -= centroids[sample_codes[i] * dim_ + k];
    maxsim::train_residual_buckets(sample.data(), n_sample, dim_, bits, cutoffs_, weights_);
  }
  table_ = maxsim::residual_table(weights_, dim_, bits);
  centroids_ = centroids;
  centroids_t_.assign(dim_ * C, 0.0f);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t k = 0; k < dim_; ++k) centroids_t_[k * C + c] = centroids[c * dim_ + k];
  const maxsim::ResidualCodebook cb = this->codebook();  // (the parameter `codebook` shadows it)
  FirstBadValue bad;
  const std::size_t n_items = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t) {
    const std::size_t d_begin = item * kDocsPerItem;
    const std::size_t d_end = std::min(n_docs_, d_begin + kDocsPerItem);
    const auto r0 = static_cast<std::size_t>(offsets_[d_begin]);
    const auto r1 = static_cast<std::size_t>(offsets_[d_end]);
    // The block's rows, read once: this copy is checked, assigned and encoded.
    std::vector<float> rows(vectors + r0 * dim_, vectors + r1 * dim_);
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (!is_within_limit(rows[i], limit)) {
        bad.offer(r0 * dim_ + i, rows[i]);
        return;
      }
    std::vector<std::uint32_t> codes(r1 - r0);
    if (codebook.codes != nullptr) {
      std::copy(codebook.codes + r0, codebook.codes + r1, codes.begin());
      AFTERSHOCK_DCHECK(*std::max_element(codes.begin(), codes.end()) < C);
    } else {
      assign_nearest(rows.data(), r1 - r0, dim_, centroids.data(), C, codes.data(), 1, ProgressFn());
    }
    for (std::size_t d = d_begin; d < d_end; ++d) {
      const auto t0 = static_cast<std::size_t>(offsets_[d]) - r0;
      const std::size_t n = static_cast<std::size_t>(offsets_[d + 1] - offsets_[d]);
      const std::size_t p0 = panel_start_[d];
      maxsim::encode_residual_panels(cb, rows.data() + t0 * dim_, codes.data() + t0, n,
                                     data_.mutable_data() + p0 * panel_bytes_,
                                     codes_.mutable_as<std::uint16_t>() + p0 * kP);
    }
  });
  bad.throw_if_found("vectors", dim_, limit_name);
}

std::size_t MultiVectorStore::codebook_bytes() const {
  return (centroids_t_.size() + centroids_.size() + cutoffs_.size() + weights_.size() + table_.size()) *
         sizeof(float);
}

double MultiVectorStore::bytes_per_token() const {
  return total_tokens_ == 0 ? 0.0 : static_cast<double>(size_bytes()) / static_cast<double>(total_tokens_);
}

std::vector<float> MultiVectorStore::centroids() const { return centroids_; }

std::vector<std::uint16_t> MultiVectorStore::token_codes() const {
  std::vector<std::uint16_t> out;
  if (!is_residual(precision_)) return out;
  out.reserve(total_tokens_);
  for (std::size_t d = 0; d < n_docs_; ++d) {
    const std::uint16_t* c = codes_.as<std::uint16_t>() + panel_start_[d] * kP;
    out.insert(out.end(), c, c + (offsets_[d + 1] - offsets_[d]));
  }
  return out;
}

AlignedBuffer MultiVectorStore::make_scratch(std::size_t m) const {
  std::size_t floats = m * kP + m;
  if (is_residual(precision_)) floats = decode_offset(m) + maxsim::kernels::kResDecodePanels * dim_ * kP;
  return AlignedBuffer(floats * sizeof(float));
}

void MultiVectorStore::find_max_token_norm(std::size_t num_threads) {
  max_token_norm_ = compute_max_token_norm(num_threads);
  // Residual precisions: |x'| <= |c| + |w| < 2^50 + 2^51 per value (the build's and the
  // loader's limits), so the norm is finite; kept as a guard for the score bound.
  if (!std::isfinite(max_token_norm_)) throw InvalidArgument("vectors: decoded token values are not finite");
}

double MultiVectorStore::compute_max_token_norm(std::size_t num_threads) const {
  // From the stored panels, decoded: the values the kernels multiply (after fp16 / bf16 /
  // int8 rounding), so the bound holds for what is scored. Squares summed in float64:
  // values near FLT_MAX square far inside its range.
  const std::size_t n_items = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  std::vector<double> item_max(n_items, 0.0);
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t) {
    std::vector<float> doc;
    const std::size_t d_end = std::min(n_docs_, (item + 1) * kDocsPerItem);
    for (std::size_t d = item * kDocsPerItem; d < d_end; ++d) {
      const auto n = static_cast<std::size_t>(offsets_[d + 1] - offsets_[d]);
      doc.resize(n * dim_);
      decode_doc(static_cast<DocId>(d), doc.data());
      for (std::size_t t = 0; t < n; ++t) {
        double sq = 0.0;
        for (std::size_t k = 0; k < dim_; ++k) sq += static_cast<double>(doc[t * dim_ + k]) * doc[t * dim_ + k];
        item_max[item] = std::max(item_max[item], sq);
      }
    }
  });
  double sq = 0.0;
  for (double v : item_max) sq = std::max(sq, v);
  return std::sqrt(sq);
}

void MultiVectorStore::check_score_bound(const PreparedQuery& q, const char* what) const {
  // Rounding inside a dot product of dim terms stays far below 1% of the bound for any
  // dim the store accepts; the margin keeps the rounded sums finite.
  constexpr double kMargin = 1.01;
  const double limit = static_cast<double>(std::numeric_limits<float>::max()) / kMargin;
  const std::size_t m = q.m(), dim = q.dim();
  // Row layout of the prepared values (maxsim.hpp): fp32 / fp16 [m, dim], bf16 rounded
  // [m, 2 * dim2], int8 codes [m, 4 * dim4] times a scale per token.
  const std::size_t stride = precision_ == Precision::kBf16 ? (dim + 1) / 2 * 2
                             : precision_ == Precision::kInt8 ? (dim + 3) / 4 * 4
                                                              : dim;
  const float* v = precision_ == Precision::kInt8 ? q.int_values() : q.f32();
  double q_sq = 0.0, code_sq = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    double sq = 0.0;
    for (std::size_t k = 0; k < dim; ++k) sq += static_cast<double>(v[i * stride + k]) * v[i * stride + k];
    if (precision_ == Precision::kInt8) {
      code_sq = std::max(code_sq, sq);
      sq *= static_cast<double>(q.token_scales()[i]) * q.token_scales()[i];
    }
    q_sq = std::max(q_sq, sq);
  }
  // int8 also forms sum(c_q * c_d) * s_d before the query scale: at most |c_q| * |d|.
  const double bound = std::max(static_cast<double>(m) * std::sqrt(q_sq), std::sqrt(code_sq)) * max_token_norm_;
  if (bound > limit) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%zu tokens x largest query token norm %.4g x largest document token norm %.4g = %.4g",
                  m, std::sqrt(q_sq), max_token_norm_, static_cast<double>(m) * std::sqrt(q_sq) * max_token_norm_);
    throw InvalidArgument(std::string(what) + ": MaxSim scores could overflow float32 (" + buf +
                          " exceeds the float32 maximum 3.4028e38), giving inf or NaN scores; scale the query "
                          "or document vectors down (MaxSim rankings do not change under scaling)");
  }
}

std::size_t MultiVectorStore::n_tokens(DocId doc) const {
  if (doc >= n_docs_)
    throw std::out_of_range("doc: id " + std::to_string(doc) + " out of range for " + std::to_string(n_docs_) +
                            " documents");
  return static_cast<std::size_t>(offsets_[doc + 1] - offsets_[doc]);
}

std::size_t MultiVectorStore::offsets_bytes() const {
  return offsets_.size() * sizeof(std::int64_t) + panel_start_.size() * sizeof(std::uint64_t);
}

std::size_t MultiVectorStore::size_bytes() const {
  return data_bytes() + scales_bytes() + bias_bytes() + offsets_bytes() + codes_bytes() + codebook_bytes();
}

void MultiVectorStore::check_ids(const DocId* ids, std::size_t n, const char* what) const {
  for (std::size_t t = 0; t < n; ++t)
    if (ids[t] >= n_docs_)
      throw std::out_of_range(std::string(what) + ": id " + std::to_string(ids[t]) + " at position " +
                              std::to_string(t) + " out of range for " + std::to_string(n_docs_) + " documents");
}

maxsim::ResidualCodebook MultiVectorStore::codebook() const {
  maxsim::ResidualCodebook cb;
  cb.bits = residual_bits(precision_);
  cb.dim = dim_;
  cb.n_centroids = n_centroids_;
  cb.centroids = centroids_.data();
  cb.centroids_t = centroids_t_.data();
  cb.cutoffs = cutoffs_.data();
  cb.table = table_.data();
  return cb;
}

void MultiVectorStore::decode_doc(DocId doc, float* out) const {
  const std::size_t n = n_tokens(doc);
  const std::size_t p0 = panel_start_[doc];
  if (is_residual(precision_)) {
    const maxsim::ResidualCodebook cb = codebook();
    maxsim::decode_residual_panels(cb, data_.data() + p0 * panel_bytes_, codes_.as<std::uint16_t>() + p0 * kP, n,
                                   out);
    return;
  }
  maxsim::decode_panels(maxsim::PanelLayout::of(precision_, dim_), data_.data() + p0 * panel_bytes_,
                        scales_.size() ? scales_.as<float>() + p0 * kP : nullptr, n, out);
}

// ---------------------------------------------------------------------------------------
// Scoring

PreparedQuery MultiVectorStore::prepare(const float* query, std::size_t m) const {
  if (dim_ == 0) throw InvalidArgument("query: the store is empty (dim 0)");
  return PreparedQuery(query, m, dim_, precision_);
}

// PRECONDITION: ids valid (checked by the public callers), q matches this store,
// scratch from make_scratch(m) with m >= q.m().
void MultiVectorStore::score_range(const PreparedQuery& q, const DocId* ids, std::size_t n, float* out,
                                   float* scratch) const {
  AFTERSHOCK_DCHECK(q.dim() == dim_ && q.precision() == precision_);
  const maxsim::kernels::RowMaxFn fn = maxsim::kernels::select(static_cast<int>(precision_));
  const std::size_t m = q.m();
  const maxsim::kernels::QueryOps qo{q.f32(), q.words(), m, dim_};
  float* row_max = scratch + m * kP;
  const float* scales = scales_.as<float>();
  const auto* bias = bias_.as<std::int32_t>();
  const float* token_scales = q.token_scales();
  const bool prefetch = maxsim::kernels::prefetch_enabled();
  maxsim::kernels::ResidualOps res;
  if (is_residual(precision_)) {
    res.bits = residual_bits(precision_);
    res.n_centroids = n_centroids_;
    res.centroids_t = centroids_t_.data();
    res.centroids = centroids_.data();
    res.table = table_.data();
    res.decode = scratch + decode_offset(m);
  }
  const std::uint16_t* codes = is_residual(precision_) ? codes_.as<std::uint16_t>() : nullptr;
  for (std::size_t t = 0; t < n; ++t) {
    const DocId doc = ids[t];
    AFTERSHOCK_DCHECK(doc < n_docs_);
    const std::uint64_t p0 = panel_start_[doc];
    maxsim::kernels::DocOps d;
    d.panels = data_.data() + p0 * panel_bytes_;
    d.scales = scales ? scales + p0 * kP : nullptr;
    d.bias = bias ? bias + p0 * kP : nullptr;
    d.n_panels = static_cast<std::size_t>(panel_start_[doc + 1] - p0);
    d.panel_bytes = panel_bytes_;
    d.prefetch = prefetch;
    if (codes != nullptr) {
      res.codes = codes + p0 * kP;
      d.res = &res;
    }
    if (prefetch && t + 1 < n) {
      const DocId next = ids[t + 1];
      d.next_panels = data_.data() + panel_start_[next] * panel_bytes_;
      d.next_bytes = static_cast<std::size_t>(panel_start_[next + 1] - panel_start_[next]) * panel_bytes_;
    }
    fn(qo, d, scratch, row_max);
    // The sum over query tokens runs here, in baseline code and in token order, so its
    // rounding is the same at every SIMD level (int8 scores are bit-identical).
    float s = 0.0f;
    if (precision_ == Precision::kInt8) {
      for (std::size_t i = 0; i < m; ++i) {
        const float v = token_scales[i] * row_max[i];
        s += v;
      }
    } else {
      for (std::size_t i = 0; i < m; ++i) s += row_max[i];
    }
    out[t] = s;
  }
}

void MultiVectorStore::score(const float* query, std::size_t m, const DocId* ids, std::size_t n, float* out) const {
  const PreparedQuery q = prepare(query, m);
  score(q, ids, n, out);
}

void MultiVectorStore::score(const PreparedQuery& q, const DocId* ids, std::size_t n, float* out) const {
  if (q.dim() != dim_ || q.precision() != precision_) throw InvalidArgument(prepared_mismatch(q, dim_, precision_));
  check_score_bound(q);
  // Copy, then check the copy and score from it: the ids are read once.
  const std::vector<DocId> local(ids, ids + n);
  check_ids(local.data(), n, "ids");
  score_unchecked(q, local.data(), n, out);
}

void MultiVectorStore::score_unchecked(const PreparedQuery& q, const DocId* ids, std::size_t n, float* out) const {
  // PRECONDITION: q matches this store, ids < n_docs (the caller's own candidates).
  AFTERSHOCK_DCHECK(q.dim() == dim_ && q.precision() == precision_);
  if (n == 0) return;
  AlignedBuffer scratch = make_scratch(q.m());
  score_range(q, ids, n, out, scratch.as<float>());
}

void MultiVectorStore::score_all(const float* query, std::size_t m, float* out, std::size_t num_threads) const {
  const PreparedQuery q = prepare(query, m);
  score_all(q, out, num_threads);
}

void MultiVectorStore::score_all(const PreparedQuery& q, float* out, std::size_t num_threads) const {
  if (q.dim() != dim_ || q.precision() != precision_) throw InvalidArgument(prepared_mismatch(q, dim_, precision_));
  check_score_bound(q);
  const std::size_t n_items = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  const std::size_t workers = parallel_workers(n_items, num_threads);
  std::vector<AlignedBuffer> scratch;
  for (std::size_t w = 0; w < workers; ++w) scratch.push_back(make_scratch(q.m()));
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t worker) {
    const std::size_t first = item * kDocsPerItem;
    const std::size_t count = std::min(kDocsPerItem, n_docs_ - first);
    DocId ids[kDocsPerItem];
    for (std::size_t t = 0; t < count; ++t) ids[t] = static_cast<DocId>(first + t);
    score_range(q, ids, count, out + first, scratch[worker].as<float>());
  });
}

namespace {

// Checks a batch of queries once and prepares each. The offsets and the query tokens are
// copied first (queries are small next to the documents) and the copies are checked and
// converted, so each caller value is read once (STYLE 2.3).
std::vector<PreparedQuery> prepare_queries(const MultiVectorStore& store, const float* queries,
                                           const std::int64_t* query_offsets, std::size_t n_queries,
                                           std::size_t num_threads) {
  if (n_queries == 0) return {};
  const std::vector<std::int64_t> offs(query_offsets, query_offsets + n_queries + 1);
  // The binding checked offs[n_queries] against the rows of `queries` (a shape).
  const std::int64_t total = offs[n_queries];
  check_ragged_offsets(offs.data(), n_queries, total < 0 ? 0 : static_cast<std::size_t>(total), "query_offsets",
                       "query", EmptyRows::kRejected);
  const std::size_t dim = store.dim();
  const std::vector<float> values(queries, queries + static_cast<std::size_t>(total) * dim);
  maxsim::check_query_values(values.data(), static_cast<std::size_t>(total), dim, store.precision(), "queries",
                             num_threads);
  std::vector<PreparedQuery> prepared(n_queries);
  parallel_for(n_queries, num_threads, [&](std::size_t i, std::size_t) {
    const auto begin = static_cast<std::size_t>(offs[i]);
    const auto m = static_cast<std::size_t>(offs[i + 1]) - begin;
    prepared[i] = PreparedQuery::unchecked(values.data() + begin * dim, m, dim, store.precision());
  });
  for (std::size_t i = 0; i < n_queries; ++i)
    store.check_score_bound(prepared[i], ("queries: query " + std::to_string(i)).c_str());
  return prepared;
}

std::size_t max_tokens(const std::vector<PreparedQuery>& qs) {
  std::size_t m = 0;
  for (const auto& q : qs) m = std::max(m, q.m());
  return m;
}

}  // namespace

void MultiVectorStore::score_batch(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                                   const DocId* ids, std::size_t n_ids, float* out, std::size_t num_threads) const {
  if (ids == nullptr && n_ids != n_docs_)
    throw InvalidArgument("ids: without ids, n_ids must equal n_docs (" + std::to_string(n_docs_) + ")");
  // The ids are copied, then checked and used from the copy.
  std::vector<DocId> local;
  if (ids != nullptr) {
    local.assign(ids, ids + n_ids);
    check_ids(local.data(), n_ids, "doc_ids");
  }
  const std::vector<PreparedQuery> prepared = prepare_queries(*this, queries, query_offsets, n_queries, num_threads);
  if (n_queries == 0 || n_ids == 0) return;
  const std::size_t blocks = (n_ids + kDocsPerItem - 1) / kDocsPerItem;
  const std::size_t n_items = n_queries * blocks;
  const std::size_t workers = parallel_workers(n_items, num_threads);
  const std::size_t m_max = max_tokens(prepared);
  std::vector<AlignedBuffer> scratch;
  for (std::size_t w = 0; w < workers; ++w) scratch.push_back(make_scratch(m_max));
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t worker) {
    const std::size_t qi = item / blocks;
    const std::size_t first = (item % blocks) * kDocsPerItem;
    const std::size_t count = std::min(kDocsPerItem, n_ids - first);
    float* dst = out + qi * n_ids + first;
    if (ids != nullptr) {
      score_range(prepared[qi], local.data() + first, count, dst, scratch[worker].as<float>());
    } else {
      DocId block[kDocsPerItem];
      for (std::size_t t = 0; t < count; ++t) block[t] = static_cast<DocId>(first + t);
      score_range(prepared[qi], block, count, dst, scratch[worker].as<float>());
    }
  });
}

std::size_t MultiVectorStore::rerank(const float* query, std::size_t m, const DocId* candidates, std::size_t n,
                                     std::size_t k, float* out_scores, std::int64_t* out_ids) const {
  if (k == 0) throw InvalidArgument("k: must be >= 1, got 0");
  const PreparedQuery q = prepare(query, m);
  return rerank(q, candidates, n, k, out_scores, out_ids);
}

std::size_t MultiVectorStore::rerank(const PreparedQuery& q, const DocId* candidates, std::size_t n, std::size_t k,
                                     float* out_scores, std::int64_t* out_ids) const {
  if (k == 0) throw InvalidArgument("k: must be >= 1, got 0");
  if (q.dim() != dim_ || q.precision() != precision_) throw InvalidArgument(prepared_mismatch(q, dim_, precision_));
  check_score_bound(q);
  const std::vector<DocId> local(candidates, candidates + n);
  check_ids(local.data(), n, "candidate_ids");
  return rerank_unchecked(q, local.data(), n, k, out_scores, out_ids);
}

std::size_t MultiVectorStore::rerank_unchecked(const PreparedQuery& q, const DocId* candidates, std::size_t n,
                                               std::size_t k, float* out_scores, std::int64_t* out_ids) const {
  // PRECONDITION: k >= 1, q matches this store, candidates < n_docs (an index's own ids).
  AFTERSHOCK_DCHECK(k >= 1);
  AFTERSHOCK_DCHECK(q.dim() == dim_ && q.precision() == precision_);
  std::vector<float> scores(n);
  score_unchecked(q, candidates, n, scores.data());
  return select_top_k(scores.data(), candidates, n, k, out_scores, out_ids);
}

void MultiVectorStore::rerank_batch(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                                    const std::int64_t* candidate_ids, std::size_t n_candidates,
                                    std::size_t num_threads, TopKOut out) const {
  if (out.k == 0) throw InvalidArgument("k: must be >= 1, got 0");
  const std::vector<PreparedQuery> prepared = prepare_queries(*this, queries, query_offsets, n_queries, num_threads);
  if (n_queries == 0) return;
  // Each query reads its row of ids once into `ids`, checking each as it goes; the first
  // bad (query, position) in row-major order is reported, whatever the thread count.
  std::mutex bad_mutex;
  std::size_t bad_at = std::numeric_limits<std::size_t>::max();
  std::int64_t bad_id = 0;
  const std::size_t workers = parallel_workers(n_queries, num_threads);
  std::vector<AlignedBuffer> scratch;
  for (std::size_t w = 0; w < workers; ++w) scratch.push_back(make_scratch(max_tokens(prepared)));
  std::vector<std::vector<DocId>> ids(workers);
  std::vector<std::vector<float>> scores(workers);
  parallel_for(n_queries, num_threads, [&](std::size_t qi, std::size_t worker) {
    std::vector<DocId>& row = ids[worker];
    row.clear();
    const std::int64_t* src = candidate_ids + qi * n_candidates;
    for (std::size_t t = 0; t < n_candidates; ++t) {
      const std::int64_t id = src[t];
      if (id == -1) continue;
      if (id < 0 || static_cast<std::uint64_t>(id) >= n_docs_) {
        std::lock_guard<std::mutex> lock(bad_mutex);
        if (qi * n_candidates + t < bad_at) {
          bad_at = qi * n_candidates + t;
          bad_id = id;
        }
        return;
      }
      row.push_back(static_cast<DocId>(id));
    }
    scores[worker].resize(row.size());
    if (!row.empty()) score_range(prepared[qi], row.data(), row.size(), scores[worker].data(), scratch[worker].as<float>());
    select_top_k(scores[worker].data(), row.data(), row.size(), out.k, out.scores + qi * out.k, out.ids + qi * out.k);
  });
  if (bad_at != std::numeric_limits<std::size_t>::max())
    throw std::out_of_range("candidate_ids: id " + std::to_string(bad_id) + " at query " +
                            std::to_string(bad_at / n_candidates) + ", position " +
                            std::to_string(bad_at % n_candidates) + " is out of range for " +
                            std::to_string(n_docs_) + " documents (-1 marks padding)");
}

void MultiVectorStore::search(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                              std::size_t num_threads, TopKOut out, DocFilter filter) const {
  if (out.k == 0) throw InvalidArgument("k: must be >= 1, got 0");
  const std::vector<PreparedQuery> prepared = prepare_queries(*this, queries, query_offsets, n_queries, num_threads);
  if (n_queries == 0) return;
  // The documents searched: every one (ids == nullptr), or the allowed ones in ascending order.
  std::vector<DocId> allowed;
  if (!filter.is_all()) allowed_ids(filter, n_docs_, allowed);
  const DocId* ids = filter.is_all() ? nullptr : allowed.data();
  const std::size_t n = filter.is_all() ? n_docs_ : allowed.size();
  // Score a group of queries against every searched document (parallel over query x
  // document block), then select each query's top-k (parallel over queries). The group is
  // sized so its score matrix stays under 64 MiB.
  const std::size_t per_group =
      std::max<std::size_t>(1, (std::size_t{64} << 20) / (sizeof(float) * std::max<std::size_t>(1, n)));
  const std::size_t blocks = (n + kDocsPerItem - 1) / kDocsPerItem;
  const std::size_t m_max = max_tokens(prepared);
  std::vector<AlignedBuffer> scratch;
  // One scratch per worker parallel_for will use on the largest group, not per requested thread.
  const std::size_t workers = parallel_workers(std::min(per_group, n_queries) * blocks, num_threads);
  for (std::size_t w = 0; w < workers; ++w) scratch.push_back(make_scratch(m_max));
  std::vector<float> scores;
  for (std::size_t g0 = 0; g0 < n_queries; g0 += per_group) {
    const std::size_t g = std::min(per_group, n_queries - g0);
    scores.assign(g * n, 0.0f);
    parallel_for(g * blocks, num_threads, [&](std::size_t item, std::size_t worker) {
      const std::size_t qi = item / blocks;
      const std::size_t first = (item % blocks) * kDocsPerItem;
      const std::size_t count = std::min(kDocsPerItem, n - first);
      DocId local[kDocsPerItem];
      for (std::size_t t = 0; t < count; ++t) local[t] = ids ? ids[first + t] : static_cast<DocId>(first + t);
      score_range(prepared[g0 + qi], local, count, scores.data() + qi * n + first, scratch[worker].as<float>());
    });
    parallel_for(g, num_threads, [&](std::size_t qi, std::size_t) {
      select_top_k(scores.data() + qi * n, ids, n, out.k, out.scores + (g0 + qi) * out.k,
                   out.ids + (g0 + qi) * out.k);
    });
  }
}

void MultiVectorStore::decode_all(float* out, std::size_t num_threads) const {
  const std::size_t n_items = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t) {
    const std::size_t d_end = std::min(n_docs_, (item + 1) * kDocsPerItem);
    for (std::size_t d = item * kDocsPerItem; d < d_end; ++d)
      decode_doc(static_cast<DocId>(d), out + static_cast<std::size_t>(offsets_[d]) * dim_);
  });
}

}  // namespace aftershock::multivector
