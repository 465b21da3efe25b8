#include "aftershock/multivector/store.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "../maxsim/kernels.hpp"
#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/half.hpp"
#include "aftershock/util/huge_pages.hpp"
#include "aftershock/util/ragged.hpp"
#include "aftershock/util/topk.hpp"

namespace aftershock::multivector {
namespace {

constexpr std::size_t kP = maxsim::kPanelTokens;
constexpr std::size_t kDocsPerItem = 64;  // documents per parallel work item
constexpr std::uint64_t kLayoutVersion = 1;
constexpr std::size_t kMetaCount = 6;
constexpr char kTagMeta[4] = {'M', 'V', 'C', 'F'};
constexpr char kTagOffsets[4] = {'M', 'V', 'O', 'F'};
constexpr char kTagData[4] = {'M', 'V', 'D', 'A'};
constexpr char kTagScales[4] = {'M', 'V', 'S', 'C'};

// Rows of one panel (dimension rows, or pairs / quads of dimensions) and bytes per lane.
std::size_t panel_rows(Precision p, std::size_t dim) {
  switch (p) {
    case Precision::kBf16: return (dim + 1) / 2;
    case Precision::kInt8: return (dim + 3) / 4;
    default: return dim;
  }
}
std::size_t lane_bytes(Precision p) { return p == Precision::kFp16 ? 2 : 4; }

io::DType data_dtype(Precision p) {
  switch (p) {
    case Precision::kFp32: return io::DType::kF32;
    case Precision::kInt8: return io::DType::kI8;
    default: return io::DType::kU16;
  }
}

// Top-k of scores[0..n) with ids (ids == nullptr: id = t). Writes k entries best first,
// padded with -inf / -1; NaN scores are never selected (util/topk.hpp). Returns min(n, k)
// less the NaN scores.
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

// The value checks of document token rows stored in precision p: finite, and for
// fp16 / bf16 storage below the value that rounds to infinity. Deterministic first report.
void check_token_values(const float* x, std::size_t rows, std::size_t dim, Precision p, const char* what,
                        std::size_t num_threads) {
  switch (p) {
    case Precision::kFp16:
      check_finite_rows(x, rows, dim, what, num_threads, kFp16OverflowBits, "float16 (|x| >= 65520)");
      break;
    case Precision::kBf16:
      check_finite_rows(x, rows, dim, what, num_threads, kBf16OverflowBits, "bfloat16 (|x| >= 3.3961e38)");
      break;
    default: check_finite_rows(x, rows, dim, what, num_threads);
  }
}

// Float32 scratch for one kernel call: running max (m x P) then row maxima (m).
AlignedBuffer make_scratch(std::size_t m) { return AlignedBuffer((m * kP + m) * sizeof(float)); }

}  // namespace

// ---------------------------------------------------------------------------------------
// AlignedBuffer

void AlignedBuffer::Free::operator()(unsigned char* p) const { free_aligned(p); }

AlignedBuffer::AlignedBuffer(std::size_t size_bytes) : size_(size_bytes) {
  if (size_bytes == 0) return;
  // Large buffers (token panels) go on 2 MiB pages where the OS allows it
  // (util/huge_pages.hpp): documents are streamed once, and 4 KiB pages would cost a TLB
  // miss every 4 KiB of a scan.
  auto* p = static_cast<unsigned char*>(allocate_aligned(size_bytes));
  std::memset(p, 0, size_bytes);
  data_.reset(p);
}

AlignedBuffer::AlignedBuffer(const AlignedBuffer& other) : AlignedBuffer(other.size_) {
  if (size_) std::memcpy(data_.get(), other.data_.get(), size_);
}

AlignedBuffer& AlignedBuffer::operator=(const AlignedBuffer& other) {
  if (this != &other) *this = AlignedBuffer(other);
  return *this;
}

// ---------------------------------------------------------------------------------------
// Construction and layout

void MultiVectorStore::finish_layout() {
  panel_start_.assign(n_docs_ + 1, 0);
  for (std::size_t d = 0; d < n_docs_; ++d) {
    const auto n = static_cast<std::uint64_t>(offsets_[d + 1] - offsets_[d]);
    panel_start_[d + 1] = panel_start_[d] + (n + kP - 1) / kP;
  }
  panel_bytes_ = panel_rows(precision_, dim_) * kP * lane_bytes(precision_);
  meta_ = {kLayoutVersion, static_cast<std::uint64_t>(precision_), dim_, n_docs_, total_tokens_, kP};
}

MultiVectorStore::MultiVectorStore(const float* vectors, std::size_t total_tokens, std::size_t dim,
                                   const std::int64_t* offsets, std::size_t n_docs, Precision precision,
                                   std::size_t num_threads)
    : precision_(precision), dim_(dim), n_docs_(n_docs), total_tokens_(total_tokens) {
  if (static_cast<int>(precision) > 3) throw InvalidArgument("precision: unknown precision");
  if (dim == 0) throw InvalidArgument("vectors: dim must be >= 1, got 0");
  if (precision == Precision::kInt8 && dim > maxsim::kMaxInt8Dim)
    throw InvalidArgument("vectors: int8 storage supports dim <= " + std::to_string(maxsim::kMaxInt8Dim) +
                          ", got " + std::to_string(dim));
  if (n_docs > std::numeric_limits<DocId>::max())
    throw InvalidArgument("offsets: at most 2^32 - 1 documents per store, got " + std::to_string(n_docs));
  check_ragged_offsets(offsets, n_docs, total_tokens, "offsets", "document", EmptyRows::kRejected);
  check_token_values(vectors, total_tokens, dim, precision, "vectors", num_threads);
  offsets_.assign(offsets, offsets + n_docs + 1);
  finish_layout();
  const std::size_t n_panels = panel_start_[n_docs_];
  data_ = AlignedBuffer(n_panels * panel_bytes_);
  if (precision_ == Precision::kInt8) {
    scales_ = AlignedBuffer(n_panels * kP * sizeof(float));
    bias_ = AlignedBuffer(n_panels * kP * sizeof(std::int32_t));
  }

  const std::size_t rows = panel_rows(precision_, dim_);
  const std::size_t n_items = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  parallel_for(n_items, num_threads, [&](std::size_t item, std::size_t) {
    std::vector<std::int8_t> codes(dim);
    const std::size_t d_end = std::min(n_docs_, (item + 1) * kDocsPerItem);
    for (std::size_t d = item * kDocsPerItem; d < d_end; ++d) {
      const auto r0 = static_cast<std::size_t>(offsets_[d]);
      const std::size_t n = static_cast<std::size_t>(offsets_[d + 1]) - r0;
      for (std::uint64_t p = panel_start_[d]; p < panel_start_[d + 1]; ++p) {
        unsigned char* panel = data_.data() + p * panel_bytes_;
        const std::size_t first = static_cast<std::size_t>(p - panel_start_[d]) * kP;
        for (std::size_t t = 0; t < kP; ++t) {
          // Padding lanes repeat the last token: a duplicate never changes a max.
          const std::size_t j = std::min(first + t, n - 1);
          const float* src = vectors + (r0 + j) * dim;
          switch (precision_) {
            case Precision::kFp32: {
              auto* out = reinterpret_cast<float*>(panel);
              for (std::size_t k = 0; k < dim; ++k) out[k * kP + t] = src[k];
              break;
            }
            case Precision::kFp16: {
              auto* out = reinterpret_cast<std::uint16_t*>(panel);
              for (std::size_t k = 0; k < dim; ++k) out[k * kP + t] = float_to_fp16(src[k]);
              break;
            }
            case Precision::kBf16: {
              auto* out = reinterpret_cast<std::uint32_t*>(panel);
              for (std::size_t r = 0; r < rows; ++r) {
                std::uint32_t w = float_to_bf16(src[2 * r]);
                if (2 * r + 1 < dim) w |= static_cast<std::uint32_t>(float_to_bf16(src[2 * r + 1])) << 16;
                out[r * kP + t] = w;
              }
              break;
            }
            case Precision::kInt8: {
              auto* out = reinterpret_cast<std::uint32_t*>(panel);
              const float scale = maxsim::kernels::quantize_int8(src, dim, codes.data());
              std::int32_t sum = 0;
              for (std::size_t r = 0; r < rows; ++r) {
                std::uint32_t w = 0;
                for (std::size_t b = 0; b < 4 && 4 * r + b < dim; ++b) {
                  w |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(codes[4 * r + b])) << (8 * b);
                  sum += codes[4 * r + b];
                }
                out[r * kP + t] = w;
              }
              scales_.as<float>()[p * kP + t] = scale;
              bias_.as<std::int32_t>()[p * kP + t] = -128 * sum;
              break;
            }
          }
        }
      }
    }
  });
}

std::size_t MultiVectorStore::n_tokens(DocId doc) const {
  if (doc >= n_docs_)
    throw std::out_of_range("doc: id " + std::to_string(doc) + " out of range for " + std::to_string(n_docs_) +
                            " documents");
  return static_cast<std::size_t>(offsets_[doc + 1] - offsets_[doc]);
}

std::size_t MultiVectorStore::size_bytes() const {
  return data_.size() + scales_.size() + bias_.size() + offsets_.size() * sizeof(std::int64_t) +
         panel_start_.size() * sizeof(std::uint64_t);
}

void MultiVectorStore::check_ids(const DocId* ids, std::size_t n, const char* what) const {
  for (std::size_t t = 0; t < n; ++t)
    if (ids[t] >= n_docs_)
      throw std::out_of_range(std::string(what) + ": id " + std::to_string(ids[t]) + " at position " +
                              std::to_string(t) + " out of range for " + std::to_string(n_docs_) + " documents");
}

void MultiVectorStore::decode_doc(DocId doc, float* out) const {
  const std::size_t n = n_tokens(doc);
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t p = panel_start_[doc] + j / kP;
    const std::size_t t = j % kP;
    const unsigned char* panel = data_.data() + p * panel_bytes_;
    float* dst = out + j * dim_;
    switch (precision_) {
      case Precision::kFp32: {
        const auto* in = reinterpret_cast<const float*>(panel);
        for (std::size_t k = 0; k < dim_; ++k) dst[k] = in[k * kP + t];
        break;
      }
      case Precision::kFp16: {
        const auto* in = reinterpret_cast<const std::uint16_t*>(panel);
        for (std::size_t k = 0; k < dim_; ++k) dst[k] = fp16_to_float(in[k * kP + t]);
        break;
      }
      case Precision::kBf16: {
        const auto* in = reinterpret_cast<const std::uint32_t*>(panel);
        for (std::size_t k = 0; k < dim_; ++k)
          dst[k] = bf16_to_float(static_cast<std::uint16_t>(in[(k / 2) * kP + t] >> (16 * (k % 2))));
        break;
      }
      case Precision::kInt8: {
        const auto* in = reinterpret_cast<const std::uint32_t*>(panel);
        const float scale = scales_.as<float>()[p * kP + t];
        for (std::size_t k = 0; k < dim_; ++k) {
          const auto code = static_cast<std::int8_t>((in[(k / 4) * kP + t] >> (8 * (k % 4))) & 0xFFu);
          dst[k] = static_cast<float>(code) * scale;
        }
        break;
      }
    }
  }
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
  const maxsim::kernels::RowMaxFn fn = maxsim::kernels::select(static_cast<int>(precision_));
  const std::size_t m = q.m();
  const maxsim::kernels::QueryOps qo{q.f32(), q.words(), m, dim_};
  float* row_max = scratch + m * kP;
  const float* scales = scales_.as<float>();
  const auto* bias = bias_.as<std::int32_t>();
  const float* token_scales = q.token_scales();
  const bool prefetch = maxsim::kernels::prefetch_enabled();
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
  if (q.dim() != dim_ || q.precision() != precision_)
    throw InvalidArgument("query: prepared for dim " + std::to_string(q.dim()) + " " +
                          maxsim::precision_name(q.precision()) + ", the store has dim " + std::to_string(dim_) + " " +
                          maxsim::precision_name(precision_));
  check_ids(ids, n, "ids");
  if (n == 0) return;
  AlignedBuffer scratch = make_scratch(q.m());
  score_range(q, ids, n, out, scratch.as<float>());
}

void MultiVectorStore::score_all(const float* query, std::size_t m, float* out, std::size_t num_threads) const {
  const PreparedQuery q = prepare(query, m);
  score_all(q, out, num_threads);
}

void MultiVectorStore::score_all(const PreparedQuery& q, float* out, std::size_t num_threads) const {
  if (q.dim() != dim_ || q.precision() != precision_)
    throw InvalidArgument("query: prepared for another dim or precision than this store");
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

std::vector<PreparedQuery> prepare_queries(const MultiVectorStore& store, const float* queries,
                                           const std::int64_t* query_offsets, std::size_t n_queries,
                                           std::size_t num_threads) {
  if (n_queries == 0) return {};
  // The binding checked query_offsets[n_queries] against the rows of `queries` (a shape).
  const std::int64_t total = query_offsets[n_queries];
  check_ragged_offsets(query_offsets, n_queries, total < 0 ? 0 : static_cast<std::size_t>(total), "query_offsets",
                       "query", EmptyRows::kRejected);
  maxsim::check_query_values(queries, static_cast<std::size_t>(total), store.dim(), store.precision(), "queries",
                             num_threads);
  std::vector<PreparedQuery> prepared(n_queries);
  parallel_for(n_queries, num_threads, [&](std::size_t i, std::size_t) {
    const auto begin = static_cast<std::size_t>(query_offsets[i]);
    const auto m = static_cast<std::size_t>(query_offsets[i + 1]) - begin;
    prepared[i] = PreparedQuery::unchecked(queries + begin * store.dim(), m, store.dim(), store.precision());
  });
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
  if (ids != nullptr) check_ids(ids, n_ids, "doc_ids");
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
      score_range(prepared[qi], ids + first, count, dst, scratch[worker].as<float>());
    } else {
      DocId local[kDocsPerItem];
      for (std::size_t t = 0; t < count; ++t) local[t] = static_cast<DocId>(first + t);
      score_range(prepared[qi], local, count, dst, scratch[worker].as<float>());
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
  check_ids(candidates, n, "candidate_ids");
  std::vector<float> scores(n);
  score(q, candidates, n, scores.data());
  return select_top_k(scores.data(), candidates, n, k, out_scores, out_ids);
}

void MultiVectorStore::search_exact(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                                    std::size_t num_threads, TopKOut out) const {
  if (out.k == 0) throw InvalidArgument("k: must be >= 1, got 0");
  const std::vector<PreparedQuery> prepared = prepare_queries(*this, queries, query_offsets, n_queries, num_threads);
  if (n_queries == 0) return;
  // Score a group of queries against every document (parallel over query x document
  // block), then select each query's top-k (parallel over queries). The group is sized so
  // its score matrix stays under 64 MiB.
  const std::size_t per_group = std::max<std::size_t>(1, (std::size_t{64} << 20) / (sizeof(float) * std::max<std::size_t>(1, n_docs_)));
  const std::size_t blocks = (n_docs_ + kDocsPerItem - 1) / kDocsPerItem;
  const std::size_t m_max = max_tokens(prepared);
  std::vector<AlignedBuffer> scratch;
  for (std::size_t w = 0; w < resolve_num_threads(num_threads); ++w) scratch.push_back(make_scratch(m_max));
  std::vector<float> scores;
  for (std::size_t g0 = 0; g0 < n_queries; g0 += per_group) {
    const std::size_t g = std::min(per_group, n_queries - g0);
    scores.assign(g * n_docs_, 0.0f);
    parallel_for(g * blocks, num_threads, [&](std::size_t item, std::size_t worker) {
      const std::size_t qi = item / blocks;
      const std::size_t first = (item % blocks) * kDocsPerItem;
      const std::size_t count = std::min(kDocsPerItem, n_docs_ - first);
      DocId local[kDocsPerItem];
      for (std::size_t t = 0; t < count; ++t) local[t] = static_cast<DocId>(first + t);
      score_range(prepared[g0 + qi], local, count, scores.data() + qi * n_docs_ + first, scratch[worker].as<float>());
    });
    parallel_for(g, num_threads, [&](std::size_t qi, std::size_t) {
      select_top_k(scores.data() + qi * n_docs_, nullptr, n_docs_, out.k, out.scores + (g0 + qi) * out.k,
                   out.ids + (g0 + qi) * out.k);
    });
  }
}

// ---------------------------------------------------------------------------------------
// Serialization

void MultiVectorStore::save_sections(io::FileWriter& writer) const {
  writer.add_vector(kTagMeta, meta_);
  writer.add_vector(kTagOffsets, offsets_);
  writer.add(kTagData, data_dtype(precision_), data_.data(), data_.size());
  if (precision_ == Precision::kInt8) writer.add(kTagScales, io::DType::kF32, scales_.data(), scales_.size());
}

namespace {

[[noreturn]] void store_format_error(const std::string& why) { throw FormatError("multi-vector store: " + why); }

template <class T>
AlignedBuffer read_aligned(const io::FileReader& reader, const char tag[4], std::size_t count) {
  AlignedBuffer buffer(count * sizeof(T));
  reader.read_into(tag, static_cast<T*>(static_cast<void*>(buffer.data())), count);
  return buffer;
}

}  // namespace

MultiVectorStore MultiVectorStore::load_sections(const io::FileReader& reader) {
  const std::vector<std::uint64_t> meta = reader.read_vector<std::uint64_t>(kTagMeta, kMetaCount);
  if (meta[0] != kLayoutVersion)
    store_format_error("layout version " + std::to_string(meta[0]) + "; this build reads " +
                       std::to_string(kLayoutVersion));
  if (meta[1] > 3) store_format_error("unknown precision code " + std::to_string(meta[1]));
  if (meta[5] != kP) store_format_error("panel width " + std::to_string(meta[5]) + ", expected 16");
  // Sizes are bounded before any multiplication so damaged values cannot overflow.
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 40;
  if (meta[2] == 0 || meta[2] > (std::uint64_t{1} << 24)) store_format_error("bad dim " + std::to_string(meta[2]));
  if (meta[3] >= kLimit || meta[4] >= kLimit || meta[3] > std::numeric_limits<DocId>::max())
    store_format_error("bad document or token count");
  MultiVectorStore s;
  s.precision_ = static_cast<Precision>(meta[1]);
  s.dim_ = meta[2];
  s.n_docs_ = meta[3];
  s.total_tokens_ = meta[4];
  if (s.precision_ == Precision::kInt8 && s.dim_ > maxsim::kMaxInt8Dim) store_format_error("int8 dim too large");
  s.offsets_ = reader.read_vector<std::int64_t>(kTagOffsets, static_cast<long long>(s.n_docs_ + 1));
  if (const std::string why = ragged_offsets_error(s.offsets_.data(), s.n_docs_, s.total_tokens_, "offsets",
                                                    "document", EmptyRows::kRejected);
      !why.empty())
    store_format_error(why);
  s.finish_layout();
  const std::size_t n_panels = s.panel_start_[s.n_docs_];
  const std::size_t rows = panel_rows(s.precision_, s.dim_);
  const std::size_t lanes = n_panels * kP;
  if (lanes > (std::uint64_t{1} << 60) / (rows * 4)) store_format_error("token data too large");
  switch (s.precision_) {
    case Precision::kFp32: s.data_ = read_aligned<float>(reader, kTagData, lanes * rows); break;
    case Precision::kFp16:
    case Precision::kBf16: s.data_ = read_aligned<std::uint16_t>(reader, kTagData, lanes * rows * (s.precision_ == Precision::kBf16 ? 2 : 1)); break;
    case Precision::kInt8: s.data_ = read_aligned<std::int8_t>(reader, kTagData, lanes * rows * 4); break;
  }
  // Value checks: no inf/NaN in any precision.
  for (std::size_t i = 0; i < lanes * rows; ++i) {
    bool bad = false;
    switch (s.precision_) {
      case Precision::kFp32: bad = !std::isfinite(s.data_.as<float>()[i]); break;
      case Precision::kFp16: bad = (s.data_.as<std::uint16_t>()[i] & 0x7C00u) == 0x7C00u; break;
      case Precision::kBf16: {
        const std::uint32_t w = s.data_.as<std::uint32_t>()[i];
        bad = (w & 0x7F80u) == 0x7F80u || (w & 0x7F800000u) == 0x7F800000u;
        break;
      }
      case Precision::kInt8: {
        // -128 is never produced (codes are symmetric in [-127, 127]).
        const std::uint32_t w = s.data_.as<std::uint32_t>()[i];
        for (int b = 0; b < 4; ++b) bad = bad || ((w >> (8 * b)) & 0xFFu) == 0x80u;
        break;
      }
    }
    if (bad) store_format_error("token data holds a value this precision never stores (inf, NaN or -128)");
  }
  if (s.precision_ == Precision::kInt8) {
    s.scales_ = read_aligned<float>(reader, kTagScales, lanes);
    for (std::size_t i = 0; i < lanes; ++i) {
      const float sc = s.scales_.as<float>()[i];
      if (!std::isfinite(sc) || sc < 0.0f) store_format_error("int8 scales must be finite and >= 0");
    }
  }
  // Re-establish the layout invariants the kernels rely on, whatever the file holds:
  // padding dimensions are zero, padding lanes repeat the document's last token.
  const std::size_t lb = lane_bytes(s.precision_);
  for (std::size_t p = 0; p < n_panels; ++p) {
    unsigned char* panel = s.data_.data() + p * s.panel_bytes_;
    if (s.precision_ == Precision::kBf16 && s.dim_ % 2 == 1)
      for (std::size_t t = 0; t < kP; ++t) reinterpret_cast<std::uint32_t*>(panel)[(rows - 1) * kP + t] &= 0xFFFFu;
    if (s.precision_ == Precision::kInt8 && s.dim_ % 4 != 0) {
      const std::uint32_t keep = (std::uint32_t{1} << (8 * (s.dim_ % 4))) - 1u;
      for (std::size_t t = 0; t < kP; ++t) reinterpret_cast<std::uint32_t*>(panel)[(rows - 1) * kP + t] &= keep;
    }
  }
  for (std::size_t d = 0; d < s.n_docs_; ++d) {
    const auto n = static_cast<std::size_t>(s.offsets_[d + 1] - s.offsets_[d]);
    const std::size_t used = n - (s.panel_start_[d + 1] - 1 - s.panel_start_[d]) * kP;  // lanes used in last panel
    const std::size_t p = s.panel_start_[d + 1] - 1;
    unsigned char* panel = s.data_.data() + p * s.panel_bytes_;
    for (std::size_t t = used; t < kP; ++t) {
      for (std::size_t r = 0; r < rows; ++r)
        std::memcpy(panel + (r * kP + t) * lb, panel + (r * kP + used - 1) * lb, lb);
      if (s.precision_ == Precision::kInt8) s.scales_.as<float>()[p * kP + t] = s.scales_.as<float>()[p * kP + used - 1];
    }
  }
  if (s.precision_ == Precision::kInt8) {
    s.bias_ = AlignedBuffer(lanes * sizeof(std::int32_t));
    for (std::size_t p = 0; p < n_panels; ++p) {
      const auto* panel = reinterpret_cast<const std::uint32_t*>(s.data_.data() + p * s.panel_bytes_);
      for (std::size_t t = 0; t < kP; ++t) {
        std::int32_t sum = 0;
        for (std::size_t r = 0; r < rows; ++r)
          for (int b = 0; b < 4; ++b) sum += static_cast<std::int8_t>((panel[r * kP + t] >> (8 * b)) & 0xFFu);
        s.bias_.as<std::int32_t>()[p * kP + t] = -128 * sum;
      }
    }
  }
  return s;
}

void MultiVectorStore::save(const std::string& path) const {
  io::FileWriter writer(kKind);
  save_sections(writer);
  writer.write(path);
}

MultiVectorStore MultiVectorStore::load(const std::string& path) {
  const io::FileReader reader = io::FileReader::from_file(path, kKind);
  MultiVectorStore store = load_sections(reader);
  reader.verify_unread();
  return store;
}

std::string MultiVectorStore::to_bytes() const {
  io::FileWriter writer(kKind);
  save_sections(writer);
  return writer.to_bytes();
}

MultiVectorStore MultiVectorStore::from_bytes(std::string bytes) {
  const io::FileReader reader = io::FileReader::from_bytes(std::move(bytes), kKind);
  MultiVectorStore store = load_sections(reader);
  reader.verify_unread();
  return store;
}

}  // namespace aftershock::multivector
