#include "aftershock/multivector/index.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/ragged.hpp"
#include "aftershock/util/topk.hpp"
#include "kernels.hpp"
#include "util.hpp"

namespace aftershock::multivector {
namespace {

constexpr std::uint32_t kLayoutVersion = 1;
constexpr std::size_t kDefaultCandidatesMuvera = 1024;
constexpr std::size_t kDefaultCandidatesCentroid = 256;
constexpr std::size_t kDefaultProbe = 4;
constexpr std::size_t kDefaultInteractionFactor = 8;  // n_interaction = 8 * n_candidates

const std::set<std::string> kCommonBuild = {"pool_factor", "pool_iters"};
const std::set<std::string> kMuveraBuild = {"k_sim", "r_reps", "d_proj", "fill_empty", "final_dim", "fde_precision"};
const std::set<std::string> kCentroidBuild = {"n_centroids", "kmeans_iters", "kmeans_points_per_centroid"};
const std::set<std::string> kMuveraSearch = {"n_candidates"};
const std::set<std::string> kCentroidSearch = {"n_candidates", "n_probe", "n_interaction", "bitvector_threshold",
                                               "n_bitvector"};

std::string join(const std::set<std::string>& a, const std::set<std::string>& b = {}) {
  std::set<std::string> all(a);
  all.insert(b.begin(), b.end());
  std::string s;
  for (const auto& k : all) s += (s.empty() ? "" : ", ") + k;
  return s;
}

void check_known(const ParamMap& params, const std::set<std::string>& a, const std::set<std::string>& b,
                 const char* what, Method method) {
  for (const auto& kv : params)
    if (!a.count(kv.first) && !b.count(kv.first))
      throw InvalidArgument(std::string("unknown ") + what + " parameter '" + kv.first + "' for method '" +
                            method_name(method) + "'; expected one of: " + join(a, b));
}

// An integer parameter in [lo, hi].
std::size_t get_count(const ParamMap& params, const char* name, std::size_t fallback, double lo, double hi) {
  auto it = params.find(name);
  if (it == params.end()) return fallback;
  const double v = it->second;
  if (!(v >= lo && v <= hi) || v != std::floor(v))
    throw InvalidArgument(std::string(name) + ": expected an integer in [" + std::to_string(static_cast<long long>(lo)) +
                          ", " + std::to_string(static_cast<long long>(hi)) + "], got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

}  // namespace

Method parse_method(const std::string& name) {
  if (name == "muvera") return Method::kMuvera;
  if (name == "centroid") return Method::kCentroid;
  throw InvalidArgument("method: expected 'muvera' or 'centroid', got '" + name + "'");
}

const char* method_name(Method method) { return method == Method::kMuvera ? "muvera" : "centroid"; }

struct MultiVectorIndex::SearchConfig {
  std::size_t n_candidates = 0;
  CentroidSearchParams centroid;
};

MultiVectorIndex MultiVectorIndex::build(const float* vectors, std::size_t total_tokens, std::size_t dim,
                                         const std::int64_t* offsets, std::size_t n_docs, const std::string& method,
                                         const std::string& precision, const ParamMap& params, std::uint64_t seed,
                                         std::size_t num_threads, const ProgressFn& progress) {
  MultiVectorIndex ix;
  ix.method_ = parse_method(method);
  const Precision prec = maxsim::parse_precision(precision);
  check_known(params, kCommonBuild, ix.method_ == Method::kMuvera ? kMuveraBuild : kCentroidBuild, "build",
              ix.method_);
  if (dim == 0) throw InvalidArgument("vectors: expected dim >= 1, got 0");
  if (n_docs == 0) throw InvalidArgument("offsets: expected at least one document, got 0");
  // Offsets are checked here (cheap) since pooling reads them. The values are checked once:
  // by the store when it receives the caller's vectors, here only when pooling reads them
  // first (the store then sees pooled rows, whose indices are not the caller's).
  check_ragged_offsets(offsets, n_docs, total_tokens, "offsets", "document", EmptyRows::kRejected);
  ix.seed_ = seed;
  ix.original_tokens_ = total_tokens;

  // Parameters, validated before any heavy work.
  {
    auto it = params.find("pool_factor");
    ix.pool_factor_ = it == params.end() ? 1.0 : it->second;
    if (!(ix.pool_factor_ >= 1.0 && ix.pool_factor_ <= 1e6))
      throw InvalidArgument("pool_factor: expected a number in [1, 1e6], got " + std::to_string(ix.pool_factor_));
    ix.pool_iters_ = get_count(params, "pool_iters", 4, 0, 1000);
  }
  FdeParams fp;
  CentroidParams cp;
  if (ix.method_ == Method::kMuvera) {
    fp.k_sim = get_count(params, "k_sim", fp.k_sim, 0, 12);
    fp.r_reps = get_count(params, "r_reps", fp.r_reps, 1, 4096);
    fp.d_proj = get_count(params, "d_proj", fp.d_proj, 0, 4096);
    fp.fill_empty = get_count(params, "fill_empty", 1, 0, 1) != 0;
    fp.final_dim = get_count(params, "final_dim", 0, 0, double(1 << 26));
    ix.fde_int8_ = get_count(params, "fde_precision", 1, 0, 1) == 1;
  } else {
    cp.n_centroids = get_count(params, "n_centroids", 0, 0, 65536);
    cp.kmeans_iters = get_count(params, "kmeans_iters", cp.kmeans_iters, 0, 1000);
    cp.kmeans_points_per_centroid =
        get_count(params, "kmeans_points_per_centroid", cp.kmeans_points_per_centroid, 1, 1e9);
  }

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

  if (progress) progress("store", 0, 1);
  ix.store_ = MultiVectorStore(docs, n_tokens, dim, doc_offsets, n_docs, prec, num_threads);
  if (progress) progress("store", 1, 1);

  if (ix.method_ == Method::kMuvera) {
    ix.fde_ = FdeEncoder(dim, fp, seed);
    ix.encode_documents(docs, doc_offsets, num_threads, progress);
  } else {
    ix.centroids_ = CentroidIndex::build(docs, n_tokens, dim, doc_offsets, n_docs, cp, seed, num_threads, progress);
  }
  return ix;
}

void MultiVectorIndex::encode_documents(const float* vectors, const std::int64_t* offsets, std::size_t num_threads,
                                        const ProgressFn& progress) {
  const std::size_t n_docs = store_.n_docs();
  const std::size_t fd = fde_.fde_dim();
  if (fde_int8_) {
    fde_i8_.assign(n_docs * fd, 0);
    fde_scale_.assign(n_docs, 0.0f);
  } else {
    fde_f32_.assign(n_docs * fd, 0.0f);
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
          fde_.encode_document(tok, n, fde_f32_.data() + d * fd, work);
          continue;
        }
        // Symmetric int8 per document: scale = max|v| / 127, code = round(v / scale).
        fde_.encode_document(tok, n, row, work);
        float amax = 0.0f;
        for (std::size_t j = 0; j < fd; ++j) amax = std::max(amax, std::fabs(row[j]));
        const float scale = amax > 0.0f ? amax / 127.0f : 0.0f;
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        std::int8_t* dst = fde_i8_.data() + d * fd;
        for (std::size_t j = 0; j < fd; ++j) {
          const float v = std::nearbyint(row[j] * inv);
          dst[j] = static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, v)));
        }
        fde_scale_[d] = scale;
      }
    });
    if (progress) progress("fde", std::min(n_docs, b1 * kBlock), n_docs);
  }
}

MultiVectorIndex::SearchConfig MultiVectorIndex::resolve_search(const ParamMap& params) const {
  SearchConfig c;
  const double big = 4294967295.0;
  if (method_ == Method::kMuvera) {
    check_known(params, kMuveraSearch, {}, "search", method_);
    c.n_candidates = get_count(params, "n_candidates", kDefaultCandidatesMuvera, 1, big);
  } else {
    check_known(params, kCentroidSearch, {}, "search", method_);
    c.n_candidates = get_count(params, "n_candidates", kDefaultCandidatesCentroid, 1, big);
    c.centroid.n_candidates = c.n_candidates;
    c.centroid.n_probe = get_count(params, "n_probe", kDefaultProbe, 1, big);
    c.centroid.n_interaction = get_count(params, "n_interaction", kDefaultInteractionFactor * c.n_candidates, 0, big);
    if (c.centroid.n_interaction > 0 && c.centroid.n_interaction < c.n_candidates)
      throw InvalidArgument("n_interaction: expected 0 (off) or >= n_candidates (" + std::to_string(c.n_candidates) +
                            "), got " + std::to_string(c.centroid.n_interaction));
    auto it = params.find("bitvector_threshold");
    c.centroid.bitvector_threshold = it == params.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
    if (std::isinf(c.centroid.bitvector_threshold))
      throw InvalidArgument("bitvector_threshold: expected a finite number or NaN (off), got infinity");
    c.centroid.n_bitvector = get_count(params, "n_bitvector", 0, 0, big);
    if (c.centroid.n_bitvector > 0 && c.centroid.n_bitvector < c.n_candidates)
      throw InvalidArgument("n_bitvector: expected 0 (off) or >= n_candidates (" + std::to_string(c.n_candidates) +
                            "), got " + std::to_string(c.centroid.n_bitvector));
  }
  return c;
}

void MultiVectorIndex::search(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                              const ParamMap& params, std::size_t num_threads, TopKOut out) const {
  if (out.k == 0) throw InvalidArgument("k: expected >= 1, got 0");
  const SearchConfig cfg = resolve_search(params);
  if (n_queries == 0) return;
  // The binding checked query_offsets[n_queries] against the rows of `queries` (a shape).
  const std::int64_t total = query_offsets[n_queries];
  check_ragged_offsets(query_offsets, n_queries, total < 0 ? 0 : static_cast<std::size_t>(total), "query_offsets",
                       "query", EmptyRows::kRejected);
  maxsim::check_query_values(queries, static_cast<std::size_t>(total), dim(), store_.precision(), "queries",
                             num_threads);

  const std::size_t n_docs = store_.n_docs();
  const std::size_t workers = parallel_workers(n_queries, num_threads);
  struct Scratch {
    std::vector<DocId> cand;
    std::vector<float> fde_q, fde_work, scores;
    CentroidIndex::Scratch centroid;
    TopK top;
  };
  std::vector<Scratch> scratch(workers);
  parallel_for(n_queries, num_threads, [&](std::size_t q, std::size_t worker) {
    Scratch& s = scratch[worker];
    const std::size_t m = static_cast<std::size_t>(query_offsets[q + 1] - query_offsets[q]);
    const float* qv = queries + static_cast<std::size_t>(query_offsets[q]) * dim();
    // PRECONDITION of unchecked: offsets and values checked above, once for the batch.
    const PreparedQuery prepared = PreparedQuery::unchecked(qv, m, dim(), store_.precision());
    s.cand.clear();
    if (cfg.n_candidates >= n_docs) {
      s.cand.resize(n_docs);
      for (std::size_t d = 0; d < n_docs; ++d) s.cand[d] = static_cast<DocId>(d);
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
      for (std::size_t d = 0; d < n_docs; ++d)
        if (s.top.admits(s.scores[d])) s.top.push(s.scores[d], static_cast<std::uint32_t>(d));
      for (const auto& item : s.top.entries()) s.cand.push_back(item.second);
    } else {
      centroids_.candidates(qv, m, cfg.centroid, s.centroid, s.cand);
    }
    store_.rerank(prepared, s.cand.data(), s.cand.size(), out.k, out.scores + q * out.k, out.ids + q * out.k);
  });
}

void MultiVectorIndex::search_exact(const float* queries, const std::int64_t* query_offsets, std::size_t n_queries,
                                    std::size_t num_threads, TopKOut out) const {
  if (out.k == 0) throw InvalidArgument("k: expected >= 1, got 0");
  if (n_queries == 0) return;
  // The store checks the offsets and the values once (prepare_queries in store.cpp).
  store_.search_exact(queries, query_offsets, n_queries, num_threads, out);
}

ParamMap MultiVectorIndex::info() const {
  ParamMap m;
  m["n_docs"] = static_cast<double>(n_docs());
  m["dim"] = static_cast<double>(dim());
  m["total_tokens"] = static_cast<double>(store_.total_tokens());
  m["original_tokens"] = static_cast<double>(original_tokens_);
  m["pool_factor"] = pool_factor_;
  m["pool_iters"] = static_cast<double>(pool_iters_);
  m["seed"] = static_cast<double>(seed_);
  m["size_bytes"] = static_cast<double>(size_bytes());
  m["index_size_bytes"] = static_cast<double>(index_size_bytes());
  if (method_ == Method::kMuvera) {
    const FdeParams& p = fde_.params();
    m["k_sim"] = static_cast<double>(p.k_sim);
    m["r_reps"] = static_cast<double>(p.r_reps);
    m["d_proj"] = static_cast<double>(p.d_proj);
    m["fill_empty"] = p.fill_empty ? 1.0 : 0.0;
    m["final_dim"] = static_cast<double>(p.final_dim);
    m["fde_precision"] = fde_int8_ ? 1.0 : 0.0;
    m["fde_dim"] = static_cast<double>(fde_.fde_dim());
    m["n_candidates"] = static_cast<double>(kDefaultCandidatesMuvera);
  } else {
    const CentroidParams& p = centroids_.params();
    m["n_centroids"] = static_cast<double>(centroids_.n_centroids());
    m["kmeans_iters"] = static_cast<double>(p.kmeans_iters);
    m["kmeans_points_per_centroid"] = static_cast<double>(p.kmeans_points_per_centroid);
    m["n_postings"] = static_cast<double>(centroids_.n_postings());
    m["n_candidates"] = static_cast<double>(kDefaultCandidatesCentroid);
    m["n_probe"] = static_cast<double>(kDefaultProbe);
    m["n_interaction"] = static_cast<double>(kDefaultInteractionFactor * kDefaultCandidatesCentroid);
  }
  return m;
}

std::size_t MultiVectorIndex::index_size_bytes() const {
  if (method_ == Method::kMuvera)
    return fde_f32_.size() * sizeof(float) + fde_i8_.size() + fde_scale_.size() * sizeof(float);
  return centroids_.size_bytes();
}

std::size_t MultiVectorIndex::size_bytes() const { return store_.size_bytes() + index_size_bytes(); }

void MultiVectorIndex::fill_writer(io::FileWriter& w, std::string& conf_text) const {
  io::Config conf;
  conf.set("index.layout_version", kLayoutVersion);
  conf.set("index.method", static_cast<double>(method_));
  conf.set("index.seed_lo", static_cast<double>(seed_ & 0xffffffffu));
  conf.set("index.seed_hi", static_cast<double>(seed_ >> 32));
  conf.set("index.pool_factor", pool_factor_);
  conf.set("index.pool_iters", static_cast<double>(pool_iters_));
  conf.set("index.original_tokens", static_cast<double>(original_tokens_));
  store_.save_sections(w);
  if (method_ == Method::kMuvera) {
    fde_.save(w, conf);
    conf.set("fde.int8", fde_int8_ ? 1.0 : 0.0);
    if (fde_int8_) {
      w.add_vector("FDEQ", fde_i8_);
      w.add_vector("FDSC", fde_scale_);
    } else {
      w.add_vector("FDEV", fde_f32_);
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

MultiVectorIndex MultiVectorIndex::load(const std::string& path) {
  return from_reader(io::FileReader::from_file(path, kKind));
}

MultiVectorIndex MultiVectorIndex::from_bytes(std::string bytes) {
  return from_reader(io::FileReader::from_bytes(std::move(bytes), kKind));
}

MultiVectorIndex MultiVectorIndex::from_reader(const io::FileReader& r) {
  auto bad = [](const std::string& why) { throw FormatError("aftershock file: multi-vector index: " + why); };
  const std::vector<char> text = r.read_vector<char>("CONF");
  const io::Config conf = io::Config::parse(std::string(text.begin(), text.end()));
  auto count = [&](const char* key, double hi) {
    const double v = conf.get(key);
    if (!(v >= 0 && v <= hi) || v != std::floor(v)) bad(std::string("config value ") + key + " out of range");
    return static_cast<std::uint64_t>(v);
  };
  if (count("index.layout_version", 1e9) != kLayoutVersion) bad("unknown layout version");
  MultiVectorIndex ix;
  ix.method_ = static_cast<Method>(count("index.method", 1));
  ix.seed_ = count("index.seed_lo", 4294967295.0) | (count("index.seed_hi", 4294967295.0) << 32);
  ix.pool_factor_ = conf.get("index.pool_factor");
  if (!(ix.pool_factor_ >= 1.0 && ix.pool_factor_ <= 1e6)) bad("pool_factor out of range");
  ix.pool_iters_ = count("index.pool_iters", 1000);
  ix.original_tokens_ = count("index.original_tokens", 1e15);
  ix.store_ = MultiVectorStore::load_sections(r);
  const std::size_t n_docs = ix.store_.n_docs();
  if (n_docs == 0) bad("no documents");
  if (ix.method_ == Method::kMuvera) {
    ix.fde_ = FdeEncoder::load(r, conf, ix.store_.dim());
    ix.fde_int8_ = count("fde.int8", 1) == 1;
    const long long n = static_cast<long long>(n_docs * ix.fde_.fde_dim());
    if (ix.fde_int8_) {
      ix.fde_i8_ = r.read_vector<std::int8_t>("FDEQ", n);
      ix.fde_scale_ = r.read_vector<float>("FDSC", static_cast<long long>(n_docs));
      for (float s : ix.fde_scale_)
        if (!(s >= 0.0f) || !std::isfinite(s)) bad("bad FDE scale");
    } else {
      ix.fde_f32_ = r.read_vector<float>("FDEV", n);
      for (float v : ix.fde_f32_)
        if (!std::isfinite(v)) bad("non-finite FDE value");
    }
  } else {
    ix.centroids_ = CentroidIndex::load(r, conf, ix.store_.dim(), n_docs);
  }
  r.verify_unread();
  return ix;
}

}  // namespace aftershock::multivector
