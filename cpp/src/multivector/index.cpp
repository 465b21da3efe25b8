#include "aftershock/multivector/index.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/memory.hpp"
#include "aftershock/util/ragged.hpp"
#include "aftershock/util/topk.hpp"
#include "../maxsim/residual_codec.hpp"
#include "kernels.hpp"
#include "util.hpp"

namespace aftershock::multivector {
namespace {

constexpr std::uint32_t kLayoutVersion = 1;

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// An integer parameter in [lo, hi].
void check_range(const char* name, std::size_t value, std::size_t lo, std::size_t hi) {
  if (value < lo || value > hi)
    throw InvalidArgument(std::string(name) + ": expected an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], got " + std::to_string(value));
}

void check_method(Method method) {
  if (method != Method::kMuvera && method != Method::kCentroid)
    throw InvalidArgument("method: expected kMuvera (0) or kCentroid (1), got " +
                          std::to_string(static_cast<int>(method)));
}

// The values of `p` that do not depend on the data (ranges), for `dim`-dimensional tokens.
void validate_build(const BuildParams& p, std::size_t dim) {
  check_method(p.method);
  if (!is_precision(static_cast<std::uint64_t>(p.precision)))
    throw InvalidArgument("precision: expected fp32, fp16, bf16, int8, res1, res2 or res4, got " +
                          std::to_string(static_cast<int>(p.precision)));
  if (!(p.pool_factor >= 1.0 && p.pool_factor <= kMaxPoolFactor))
    throw InvalidArgument("pool_factor: expected a number in [1, " + num(kMaxPoolFactor) + "], got " +
                          num(p.pool_factor));
  check_range("pool_iters", p.pool_iters, 0, kMaxPoolIters);
  if (p.method == Method::kMuvera) {
    const FdeParams& f = p.muvera.fde;
    check_range("k_sim", f.k_sim, 0, kMaxKSim);
    check_range("r_reps", f.r_reps, 1, kMaxFdeValues);
    check_range("d_proj", f.d_proj, 0, kMaxDProj);
    check_range("final_dim", f.final_dim, 0, kMaxFdeValues);
    const std::size_t block = f.d_proj ? f.d_proj : std::max<std::size_t>(dim, 1);
    const std::size_t parts = std::size_t{1} << f.k_sim;
    if (f.r_reps > kMaxFdeValues / parts / block)
      throw InvalidArgument("r_reps: r_reps * 2^k_sim * " + std::string(f.d_proj ? "d_proj" : "dim") +
                            " expected at most 2^26 values, got " + std::to_string(f.r_reps) + " * " +
                            std::to_string(parts) + " * " + std::to_string(block));
    if (p.muvera.fde_precision != Precision::kFp32 && p.muvera.fde_precision != Precision::kInt8)
      throw InvalidArgument("fde_precision: expected fp32 or int8, got " +
                            std::string(is_precision(static_cast<std::uint64_t>(p.muvera.fde_precision))
                                            ? precision_name(p.muvera.fde_precision)
                                            : std::to_string(static_cast<int>(p.muvera.fde_precision))));
  } else {
    check_range("n_centroids", p.centroid.n_centroids, 0, kMaxCentroids);
    check_range("kmeans_iters", p.centroid.kmeans_iters, 0, kMaxKMeansIters);
    check_range("kmeans_points_per_centroid", p.centroid.kmeans_points_per_centroid, 1, kMaxPointsPerCentroid);
  }
}

}  // namespace

Method parse_method(const std::string& name) {
  if (name == "muvera") return Method::kMuvera;
  if (name == "centroid") return Method::kCentroid;
  throw InvalidArgument("method: expected 'muvera' or 'centroid', got '" + name + "'");
}

const char* method_name(Method method) { return method == Method::kMuvera ? "muvera" : "centroid"; }

MultiVectorIndex MultiVectorIndex::build(const float* vectors, std::size_t total_tokens, std::size_t dim,
                                         const std::int64_t* offsets, std::size_t n_docs, const BuildParams& params,
                                         const ProgressFn& progress, const float* centroids,
                                         std::size_t n_centroids) {
  // Parameters first, then shapes and offsets (cheap), all before any heavy work. The token
  // values are checked once: by the store when it receives the caller's vectors, here only
  // when pooling reads them first (the store then sees pooled rows).
  validate_build(params, dim);
  if (centroids != nullptr && params.method != Method::kCentroid)
    throw InvalidArgument(std::string("centroids: only method 'centroid' takes given centroids, got method '") +
                          method_name(params.method) + "'");
  if (dim == 0) throw InvalidArgument("vectors: expected dim >= 1, got 0");
  if (n_docs == 0) throw InvalidArgument("offsets: expected at least one document, got 0");
  check_ragged_offsets(offsets, n_docs, total_tokens, "offsets", "document", EmptyRows::kRejected);
  if (params.method == Method::kMuvera) {
    // Refused before any work when the encodings alone exceed what the process can hold
    // (r_reps = d_proj = 4096 on 100 documents: 6.4 GiB). Pooling only lowers token counts.
    std::size_t max_tokens = 0;
    for (std::size_t d = 0; d < n_docs; ++d)
      max_tokens = std::max<std::size_t>(max_tokens, static_cast<std::size_t>(offsets[d + 1] - offsets[d]));
    const std::size_t workers = parallel_workers((n_docs + 63) / 64, params.num_threads);
    check_memory_need(FdeEncoder::build_bytes(dim, params.muvera.fde, n_docs, max_tokens, workers,
                                              params.muvera.fde_precision == Precision::kInt8),
                      "k_sim/r_reps/d_proj: the MUVERA encodings (n_docs x r_reps x 2^k_sim x d_proj values, "
                      "with encoding scratch per thread)",
                      "lower r_reps, k_sim or d_proj, or set final_dim");
  }
  // Pooling can only lower the token count; CentroidIndex::build checks the pooled count.
  if (params.method == Method::kCentroid && params.centroid.n_centroids > total_tokens)
    throw InvalidArgument("n_centroids: expected at most the number of tokens (" + std::to_string(total_tokens) +
                          "), got " + std::to_string(params.centroid.n_centroids));
  const std::size_t num_threads = params.num_threads;

  MultiVectorIndex ix;
  ix.method_ = params.method;
  ix.seed_ = params.seed;
  ix.pool_factor_ = params.pool_factor;
  ix.pool_iters_ = params.pool_iters;
  ix.original_tokens_ = total_tokens;
  ix.fde_int8_ = params.method == Method::kMuvera && params.muvera.fde_precision == Precision::kInt8;

  // Optional token pooling: from here on the pooled tokens are the documents.
  std::vector<float> pooled;
  std::vector<std::int64_t> pooled_offsets;
  const float* docs = vectors;
  const std::int64_t* doc_offsets = offsets;
  std::size_t n_tokens = total_tokens;
  if (ix.pool_factor_ > 1.0) {
    check_finite_rows(vectors, total_tokens, dim, "vectors", num_threads);
    pooled = pool_tokens(vectors, dim, offsets, n_docs, ix.pool_factor_, ix.pool_iters_, pooled_offsets,
                         num_threads, progress);
    docs = pooled.data();
    doc_offsets = pooled_offsets.data();
    n_tokens = static_cast<std::size_t>(pooled_offsets[n_docs]);
  }

  // A centroid index with a residual store: one codebook. The index's centroids (trained or
  // given) and its token assignment code the store, so the store's codes are the index's.
  // Then the token values are checked before the k-means reads them.
  const bool shared_codebook = ix.method_ == Method::kCentroid && is_residual(params.precision);
  std::vector<std::uint32_t> token_codes;
  if (shared_codebook) {
    check_finite_rows(docs, n_tokens, dim, "vectors", num_threads, maxsim::kResidualLimitBits,
                      "residual compression (|x| >= 2^50)");
    ix.centroids_ = CentroidIndex::build(docs, n_tokens, dim, doc_offsets, n_docs, params.centroid, params.seed,
                                         num_threads, progress, centroids, n_centroids, &token_codes);
  }
  if (progress) progress("store", 0, 1);
  CodebookParams codebook;
  codebook.seed = params.seed;
  if (shared_codebook) {
    codebook.centroids = ix.centroids_.centroids().data();
    codebook.n_centroids = ix.centroids_.n_centroids();
    codebook.codes = token_codes.data();
  }
  ix.store_ = MultiVectorStore(docs, n_tokens, dim, doc_offsets, n_docs, params.precision, num_threads, codebook);
  if (progress) progress("store", 1, 1);

  if (ix.method_ == Method::kMuvera) {
    ix.fde_ = FdeEncoder(dim, params.muvera.fde, params.seed);
    ix.encode_documents(docs, doc_offsets, num_threads, progress);
  } else if (!shared_codebook) {
    ix.centroids_ = CentroidIndex::build(docs, n_tokens, dim, doc_offsets, n_docs, params.centroid, params.seed,
                                         num_threads, progress, centroids, n_centroids);
  }
  return ix;
}

void MultiVectorIndex::encode_documents(const float* vectors, const std::int64_t* offsets, std::size_t num_threads,
                                        const ProgressFn& progress) {
  const std::size_t n_docs = store_.n_docs();
  const std::size_t fd = fde_.fde_dim();
  // Built in vectors, then moved into the (read-only) Arrays.
  std::vector<std::int8_t> fde_i8;
  std::vector<float> fde_scale, fde_f32;
  if (fde_int8_) {
    fde_i8.assign(n_docs * fd, 0);
    fde_scale.assign(n_docs, 0.0f);
  } else {
    fde_f32.assign(n_docs * fd, 0.0f);
  }
  std::size_t max_tokens = 0;
  for (std::size_t d = 0; d < n_docs; ++d)
    max_tokens = std::max<std::size_t>(max_tokens, static_cast<std::size_t>(offsets[d + 1] - offsets[d]));
  constexpr std::size_t kBlock = 64;
  const std::size_t n_blocks = (n_docs + kBlock - 1) / kBlock;
  const std::size_t workers = parallel_workers(n_blocks, num_threads);
  std::vector<std::vector<float>> scratch(workers, std::vector<float>(fde_.scratch_floats(max_tokens) + fd));
  const std::size_t step = progress ? std::max<std::size_t>(1, (n_blocks + 31) / 32) : n_blocks;
  for (std::size_t b0 = 0; b0 < n_blocks; b0 += step) {
    const std::size_t b1 = std::min(n_blocks, b0 + step);
    parallel_for(b1 - b0, num_threads, [&](std::size_t item, std::size_t worker) {
      float* row = scratch[worker].data();
      float* work = row + fd;
      const std::size_t d_end = std::min(n_docs, (b0 + item + 1) * kBlock);
      for (std::size_t d = (b0 + item) * kBlock; d < d_end; ++d) {
        const std::size_t n = static_cast<std::size_t>(offsets[d + 1] - offsets[d]);
        const float* tok = vectors + static_cast<std::size_t>(offsets[d]) * dim();
        if (!fde_int8_) {
          fde_.encode_document(tok, n, fde_f32.data() + d * fd, work);
          continue;
        }
        // Symmetric int8 per document: scale = max|v| / 127, code = round(v / scale).
        fde_.encode_document(tok, n, row, work);
        float amax = 0.0f;
        for (std::size_t j = 0; j < fd; ++j) amax = std::max(amax, std::fabs(row[j]));
        const float scale = amax > 0.0f ? amax / 127.0f : 0.0f;
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        std::int8_t* dst = fde_i8.data() + d * fd;
        for (std::size_t j = 0; j < fd; ++j) {
          const float v = std::nearbyint(row[j] * inv);
          dst[j] = static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, v)));
        }
        fde_scale[d] = scale;
      }
    });
    if (progress) progress("fde", std::min(n_docs, b1 * kBlock), n_docs);
  }
  fde_i8_ = std::move(fde_i8);
  fde_scale_ = std::move(fde_scale);
  fde_f32_ = std::move(fde_f32);
}

SearchParams MultiVectorIndex::resolve_search(const SearchParams& params) const {
  SearchParams c = params;
  const std::size_t big = std::numeric_limits<std::uint32_t>::max();
  if (c.n_candidates == 0)
    c.n_candidates = method_ == Method::kMuvera ? kDefaultCandidatesMuvera : kDefaultCandidatesCentroid;
  check_range("n_candidates", c.n_candidates, 1, big);
  if (method_ == Method::kMuvera) {
    c.centroid = CentroidSearchParams();  // not used
    return c;
  }
  CentroidSearchParams& p = c.centroid;
  check_range("n_probe", p.n_probe, 1, big);
  if (!p.n_interaction) p.n_interaction = std::min(big, kDefaultInteractionFactor * c.n_candidates);
  if (*p.n_interaction > big || (*p.n_interaction > 0 && *p.n_interaction < c.n_candidates))
    throw InvalidArgument("n_interaction: expected 0 (off) or an integer in [n_candidates (" +
                          std::to_string(c.n_candidates) + "), " + std::to_string(big) + "], got " +
                          std::to_string(*p.n_interaction));
  if (p.bitvector_threshold && !std::isfinite(*p.bitvector_threshold))
    throw InvalidArgument("bitvector_threshold: expected a finite number (or unset: off), got " +
                          num(*p.bitvector_threshold));
  if (p.n_bitvector > big || (p.n_bitvector > 0 && p.n_bitvector < c.n_candidates))
    throw InvalidArgument("n_bitvector: expected 0 (off) or an integer in [n_candidates (" +
                          std::to_string(c.n_candidates) + "), " + std::to_string(big) + "], got " +
                          std::to_string(p.n_bitvector));
  return c;
}

void MultiVectorIndex::search(const float* caller_queries, const std::int64_t* caller_offsets,
                              std::size_t n_queries, const SearchParams& params, TopKOut out,
                              DocFilter filter) const {
  if (out.k == 0) throw InvalidArgument("k: expected >= 1, got 0");
  const SearchParams cfg = resolve_search(params);
  const std::size_t num_threads = cfg.num_threads;
  if (n_queries == 0) return;
  // The caller's buffers may change under us (another Python thread, the GIL released):
  // copy the offsets, check the copy, copy the tokens they span, check and use that copy.
  // Queries are small next to the work per query, so the copy costs nothing measurable.
  // PRECONDITION: caller_offsets[n_queries] is the number of rows of caller_queries (the
  // binding checks it on a copy it passes here).
  const std::vector<std::int64_t> offsets(caller_offsets, caller_offsets + n_queries + 1);
  const std::int64_t* query_offsets = offsets.data();
  // The binding checked query_offsets[n_queries] against the rows of `queries` (a shape).
  const std::int64_t total = query_offsets[n_queries];
  check_ragged_offsets(query_offsets, n_queries, total < 0 ? 0 : static_cast<std::size_t>(total), "query_offsets",
                       "query", EmptyRows::kRejected);
  const std::vector<float> tokens(caller_queries, caller_queries + static_cast<std::size_t>(total) * dim());
  const float* queries = tokens.data();
  maxsim::check_query_values(queries, static_cast<std::size_t>(total), dim(), store_.precision(), "queries",
                             num_threads);

  const std::size_t n_docs = store_.n_docs();
  // Candidate generation ranks allowed documents only; with a budget that covers them
  // all, every allowed document is reranked (exact search over the allowed set).
  const std::size_t n_allowed = count_allowed(filter, n_docs);
  const bool filtered = !filter.is_all();
  const std::size_t workers = parallel_workers(n_queries, num_threads);
  struct Scratch {
    std::vector<DocId> cand;
    std::vector<float> fde_q, fde_work, scores;
    CentroidIndex::Scratch centroid;
    TopK top;
  };
  if (method_ == Method::kMuvera && cfg.n_candidates < n_allowed) {
    std::size_t m_max = 0;
    for (std::size_t q = 0; q < n_queries; ++q)
      m_max = std::max<std::size_t>(m_max, static_cast<std::size_t>(query_offsets[q + 1] - query_offsets[q]));
    check_memory_need(bytes_product({workers, bytes_sum(fde_.scratch_floats(m_max), fde_.fde_dim() + n_docs), sizeof(float)}),
                      "queries: the MUVERA query encodings (" + std::to_string(m_max) + " tokens)",
                      "search fewer query tokens at once, or use fewer threads");
  }
  std::vector<Scratch> scratch(workers);
  parallel_for(n_queries, num_threads, [&](std::size_t q, std::size_t worker) {
    Scratch& s = scratch[worker];
    const std::size_t m = static_cast<std::size_t>(query_offsets[q + 1] - query_offsets[q]);
    const float* qv = queries + static_cast<std::size_t>(query_offsets[q]) * dim();
    // PRECONDITION of unchecked: offsets and values checked above, once for the batch.
    const PreparedQuery prepared = PreparedQuery::unchecked(qv, m, dim(), store_.precision());
    store_.check_score_bound(prepared, "queries");  // rerank_unchecked's precondition
    s.cand.clear();
    if (cfg.n_candidates >= n_allowed) {
      allowed_ids(filter, n_docs, s.cand);
    } else if (method_ == Method::kMuvera) {
      const std::size_t fd = fde_.fde_dim();
      s.fde_q.resize(fd);
      s.fde_work.resize(fde_.scratch_floats(m));
      fde_.encode_query(qv, m, s.fde_q.data(), s.fde_work.data());
      s.scores.resize(n_docs);
      const kernels::Kernels& kt = kernels::active();
      if (fde_int8_)
        kt.scan_i8(fde_i8_.data(), fd, fde_scale_.data(), n_docs, fd, s.fde_q.data(), s.scores.data());
      else
        kt.scan_f32(fde_f32_.data(), fd, n_docs, fd, s.fde_q.data(), s.scores.data());
      s.top.reset(cfg.n_candidates);
      if (filtered) {
        for (std::size_t d = 0; d < n_docs; ++d)
          if (s.top.admits(s.scores[d]) && filter.allows(static_cast<DocId>(d)))
            s.top.push(s.scores[d], static_cast<std::uint32_t>(d));
      } else {
        for (std::size_t d = 0; d < n_docs; ++d)
          if (s.top.admits(s.scores[d])) s.top.push(s.scores[d], static_cast<std::uint32_t>(d));
      }
      for (const auto& item : s.top.entries()) s.cand.push_back(item.second);
    } else {
      centroids_.candidates(qv, m, cfg.centroid, cfg.n_candidates, s.centroid, s.cand, filter, n_allowed);
    }
    // PRECONDITION of unchecked: candidates come from this index's own documents, out.k >= 1.
    store_.rerank_unchecked(prepared, s.cand.data(), s.cand.size(), out.k, out.scores + q * out.k,
                            out.ids + q * out.k);
  });
}

void MultiVectorIndex::search_exact(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                                    std::size_t num_threads, TopKOut out, DocFilter filter) const {
  if (out.k == 0) throw InvalidArgument("k: expected >= 1, got 0");
  if (n_queries == 0) return;
  // The store checks the offsets and the values once (prepare_queries in store.cpp).
  store_.search(queries, query_offsets, n_queries, num_threads, out, filter);
}

IndexInfo MultiVectorIndex::info() const {
  IndexInfo i;
  BuildParams& b = i.build;
  b.method = method_;
  b.precision = store_.precision();
  b.pool_factor = pool_factor_;
  b.pool_iters = pool_iters_;
  b.seed = seed_;
  b.num_threads = 0;
  i.n_docs = n_docs();
  i.dim = dim();
  i.total_tokens = store_.total_tokens();
  i.original_tokens = original_tokens_;
  if (method_ == Method::kMuvera) {
    b.muvera.fde = fde_.params();
    b.muvera.fde_precision = fde_int8_ ? Precision::kInt8 : Precision::kFp32;
    i.fde_dim = fde_.fde_dim();
  } else {
    b.centroid = centroids_.params();
    b.centroid.n_centroids = centroids_.n_centroids();
    i.n_centroids = centroids_.n_centroids();
    i.n_postings = centroids_.n_postings();
  }
  i.search = resolve_search(SearchParams());
  i.index_size_bytes = index_size_bytes();
  i.store_size_bytes = store_.size_bytes();
  i.size_bytes = size_bytes();
  i.is_mapped = is_mapped();
  i.mapped_bytes = mapped_bytes();
  return i;
}

std::size_t MultiVectorIndex::index_size_bytes() const {
  if (method_ == Method::kMuvera)
    return fde_f32_.size() * sizeof(float) + fde_i8_.size() + fde_scale_.size() * sizeof(float);
  return centroids_.size_bytes();
}

std::size_t MultiVectorIndex::size_bytes() const { return store_.size_bytes() + index_size_bytes(); }

void MultiVectorIndex::fill_writer(io::FileWriter& w, std::string& conf_text) const {
  io::Config conf;
  conf.set_uint("index.layout_version", kLayoutVersion);
  conf.set_uint("index.method", static_cast<std::uint64_t>(method_));
  conf.set_uint("index.seed", seed_);
  conf.set("index.pool_factor", pool_factor_);
  conf.set_uint("index.pool_iters", pool_iters_);
  conf.set_uint("index.original_tokens", original_tokens_);
  store_.save_sections(w);
  if (method_ == Method::kMuvera) {
    fde_.save(w, conf);
    conf.set_uint("fde.precision", static_cast<std::uint64_t>(fde_int8_ ? Precision::kInt8 : Precision::kFp32));
    if (fde_int8_) {
      w.add_array("FDEQ", fde_i8_);
      w.add_array("FDSC", fde_scale_);
    } else {
      w.add_array("FDEV", fde_f32_);
    }
  } else {
    centroids_.save(w, conf);
  }
  conf_text = conf.serialize();
  w.add("CONF", io::DType::kBytes, conf_text.data(), conf_text.size());
}

void MultiVectorIndex::save(const std::string& path) const {
  io::FileWriter w(kKind);
  std::string conf;
  fill_writer(w, conf);
  w.write(path);
}

std::string MultiVectorIndex::to_bytes() const {
  io::FileWriter w(kKind);
  std::string conf;
  fill_writer(w, conf);
  return w.to_bytes();
}

MultiVectorIndex MultiVectorIndex::load(const std::string& path, const LoadOptions& options) {
  if (!options.mmap) return from_reader(io::FileReader::from_file(path, kKind));
  auto reader = std::make_shared<const io::FileReader>(io::FileReader::map_file(path, kKind, options.populate));
  MultiVectorIndex ix = from_reader(*reader);
  ix.reader_ = reader;
  ix.advise_sections();
  if (options.verify) ix.verify();
  return ix;
}

void MultiVectorIndex::advise_sections() const {
  MultiVectorStore::advise_sections(*reader_);
  CentroidIndex::advise_sections(*reader_);
  // The MUVERA scan reads every document encoding front to back, once per query batch.
  for (const char* tag : {"FDEQ", "FDSC", "FDEV"}) reader_->advise(tag, io::Advice::kSequential);
}

void MultiVectorIndex::check_content() const {
  auto bad = [](const std::string& why) { throw FormatError("aftershock file: multi-vector index: " + why); };
  store_.check_content();
  if (method_ == Method::kMuvera) {
    for (float s : fde_scale_)
      if (!(s >= 0.0f) || !std::isfinite(s)) bad("bad FDE scale");
    for (float v : fde_f32_)
      if (!std::isfinite(v)) bad("non-finite FDE value");
  } else {
    centroids_.check_content();
  }
}

void MultiVectorIndex::verify() const {
  if (!reader_) return;
  reader_->verify_all();
  check_content();
  advise_sections();
}

std::size_t MultiVectorIndex::mapped_bytes() const { return reader_ ? reader_->mapping()->size() : 0; }

std::size_t MultiVectorIndex::resident_bytes() const { return reader_ ? reader_->mapping()->resident_bytes() : 0; }

MultiVectorIndex MultiVectorIndex::from_bytes(std::string bytes) {
  return from_reader(io::FileReader::from_bytes(std::move(bytes), kKind));
}

MultiVectorIndex MultiVectorIndex::from_reader(const io::FileReader& r) {
  auto bad = [](const std::string& why) { throw FormatError("aftershock file: multi-vector index: " + why); };
  const std::vector<char> text = r.read_vector<char>("CONF");
  const io::Config conf = io::Config::parse(std::string(text.begin(), text.end()));
  // Integers and enums are range-checked (get_uint: FormatError naming the key). Files
  // written before integers were stored as integers (doubles; the seed split in two
  // 32-bit halves, the FDE precision as a 0/1 "fde.int8") read the same way.
  auto count = [&](const char* key, std::uint64_t hi) { return conf.get_uint(key, hi); };
  if (count("index.layout_version", std::numeric_limits<std::uint32_t>::max()) != kLayoutVersion)
    bad("unknown layout version");
  MultiVectorIndex ix;
  ix.method_ = static_cast<Method>(count("index.method", static_cast<std::uint64_t>(Method::kCentroid)));
  if (conf.has("index.seed"))
    ix.seed_ = count("index.seed", std::numeric_limits<std::uint64_t>::max());
  else
    ix.seed_ = count("index.seed_lo", 0xffffffffu) | (count("index.seed_hi", 0xffffffffu) << 32);
  ix.pool_factor_ = conf.get("index.pool_factor");
  if (!(ix.pool_factor_ >= 1.0 && ix.pool_factor_ <= kMaxPoolFactor)) bad("pool_factor out of range");
  ix.pool_iters_ = count("index.pool_iters", kMaxPoolIters);
  ix.original_tokens_ = count("index.original_tokens", std::uint64_t{1} << 50);
  ix.store_ = MultiVectorStore::load_sections(r);
  const std::size_t n_docs = ix.store_.n_docs();
  if (n_docs == 0) bad("no documents");
  if (ix.method_ == Method::kMuvera) {
    ix.fde_ = FdeEncoder::load(r, conf, ix.store_.dim());
    if (conf.has("fde.precision")) {
      const std::uint64_t p = count("fde.precision", static_cast<std::uint64_t>(Precision::kInt8));
      if (p != static_cast<std::uint64_t>(Precision::kFp32) && p != static_cast<std::uint64_t>(Precision::kInt8))
        bad("config value fde.precision out of range");
      ix.fde_int8_ = p == static_cast<std::uint64_t>(Precision::kInt8);
    } else {
      ix.fde_int8_ = count("fde.int8", 1) == 1;
    }
    const long long n = static_cast<long long>(n_docs * ix.fde_.fde_dim());
    // Mapped: views, their values checked by verify() (check_content).
    if (ix.fde_int8_) {
      ix.fde_i8_ = r.view<std::int8_t>("FDEQ", n);
      ix.fde_scale_ = r.view<float>("FDSC", static_cast<long long>(n_docs));
    } else {
      ix.fde_f32_ = r.view<float>("FDEV", n);
    }
    if (!r.mapping()) {
      for (float s : ix.fde_scale_)
        if (!(s >= 0.0f) || !std::isfinite(s)) bad("bad FDE scale");
      for (float v : ix.fde_f32_)
        if (!std::isfinite(v)) bad("non-finite FDE value");
    }
  } else {
    ix.centroids_ = CentroidIndex::load(r, conf, ix.store_.dim(), n_docs);
  }
  // The values, not only their checksums: build's own check, on the parameters the file
  // holds (its message starts with the parameter's name).
  try {
    validate_build(ix.info().build, ix.store_.dim());
  } catch (const InvalidArgument& e) {
    bad(std::string("configuration value ") + e.what());
  }
  if (!r.mapping()) r.verify_unread();
  return ix;
}

}  // namespace aftershock::multivector
