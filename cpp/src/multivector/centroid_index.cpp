#include "aftershock/multivector/centroid_index.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "aftershock/error.hpp"
#include "aftershock/multivector/config.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/util/topk.hpp"
#include "kernels.hpp"
#include "util.hpp"

namespace aftershock::multivector {
std::size_t auto_n_centroids(std::size_t total_tokens) {
  const double target = 2.0 * std::sqrt(static_cast<double>(total_tokens));
  std::size_t c = 16;
  while (c * 2 <= target && c * 2 <= kMaxCentroids) c *= 2;
  return std::min(c, total_tokens);
}

CentroidIndex CentroidIndex::build(const float* vectors, std::size_t total_tokens, std::size_t dim,
                                   const std::int64_t* offsets, std::size_t n_docs, const CentroidParams& params,
                                   std::uint64_t seed, std::size_t num_threads, const ProgressFn& progress,
                                   const float* given_centroids, std::size_t n_given,
                                   std::vector<std::uint32_t>* token_codes) {
  CentroidIndex ix;
  ix.dim_ = dim;
  ix.n_docs_ = n_docs;
  ix.params_ = params;
  std::size_t c = 0;
  if (given_centroids != nullptr) {
    if (n_given == 0 || n_given > kMaxCentroids)
      throw InvalidArgument("centroids: expected 1 to " + std::to_string(kMaxCentroids) + " rows, got " +
                            std::to_string(n_given));
    if (params.n_centroids != 0 && params.n_centroids != n_given)
      throw InvalidArgument("n_centroids: expected 0 (auto) or the number of given centroids (" +
                            std::to_string(n_given) + "), got " + std::to_string(params.n_centroids));
    c = n_given;
    // Checked on this copy, the one the assignment and the index then read.
    ix.centroids_.assign(given_centroids, given_centroids + n_given * dim);
    for (std::size_t i = 0; i < ix.centroids_.size(); ++i)
      if (!std::isfinite(ix.centroids_[i]))
        throw InvalidArgument("centroids: expected finite values, got " + std::to_string(ix.centroids_[i]) +
                              " at (" + std::to_string(i / dim) + ", " + std::to_string(i % dim) + ")");
  } else {
    c = params.n_centroids ? params.n_centroids : auto_n_centroids(total_tokens);
    if (c > kMaxCentroids)
      throw InvalidArgument("n_centroids: expected at most " + std::to_string(kMaxCentroids) + ", got " +
                            std::to_string(c));
    if (c > total_tokens)
      throw InvalidArgument("n_centroids: expected at most the number of tokens (" + std::to_string(total_tokens) +
                            "), got " + std::to_string(c));
  }
  ix.n_centroids_ = c;
  ix.params_.n_centroids = c;

  if (given_centroids == nullptr) {
    KMeansParams km;
    km.n_centroids = c;
    km.n_iters = params.kmeans_iters;
    km.max_points_per_centroid = params.kmeans_points_per_centroid;
    km.seed = seed;
    ix.centroids_ = train_kmeans(vectors, total_tokens, dim, km, num_threads, progress);
  }

  std::vector<std::uint32_t> codes(total_tokens);
  assign_nearest(vectors, total_tokens, dim, ix.centroids_.data(), c, codes.data(), num_threads, progress);
  if (token_codes != nullptr) *token_codes = codes;

  // Distinct sorted codes per document.
  std::vector<std::uint64_t> n_distinct(n_docs);
  parallel_for((n_docs + 255) / 256, num_threads, [&](std::size_t item, std::size_t) {
    const std::size_t end = std::min(n_docs, (item + 1) * 256);
    for (std::size_t d = item * 256; d < end; ++d) {
      auto b = codes.begin() + offsets[d], e = codes.begin() + offsets[d + 1];
      std::sort(b, e);
      n_distinct[d] = static_cast<std::uint64_t>(std::unique(b, e) - b);
    }
  });
  ix.doc_offsets_.assign(n_docs + 1, 0);
  for (std::size_t d = 0; d < n_docs; ++d) ix.doc_offsets_[d + 1] = ix.doc_offsets_[d] + n_distinct[d];
  std::vector<std::uint16_t> doc_codes(ix.doc_offsets_[n_docs]);
  for (std::size_t d = 0; d < n_docs; ++d)
    for (std::uint64_t j = 0; j < n_distinct[d]; ++j)
      doc_codes[ix.doc_offsets_[d] + j] = static_cast<std::uint16_t>(codes[offsets[d] + j]);
  ix.doc_codes_ = std::move(doc_codes);
  ix.build_lists();
  return ix;
}

void CentroidIndex::build_lists() { derive_lists(list_offsets_, list_docs_); }

void CentroidIndex::derive_lists(std::vector<std::uint64_t>& list_offsets, Array<DocId>& list_docs) const {
  // PRECONDITION: doc_offsets_ / doc_codes_ checked (codes < n_centroids_).
  list_offsets.assign(n_centroids_ + 1, 0);
  for (std::uint16_t code : doc_codes_) ++list_offsets[code + 1];
  for (std::size_t c = 0; c < n_centroids_; ++c) list_offsets[c + 1] += list_offsets[c];
  std::vector<DocId> docs(doc_codes_.size());
  std::vector<std::uint64_t> fill(list_offsets.begin(), list_offsets.end() - 1);
  for (std::size_t d = 0; d < n_docs_; ++d)
    for (std::uint64_t j = doc_offsets_[d]; j < doc_offsets_[d + 1]; ++j)
      docs[fill[doc_codes_[j]]++] = static_cast<DocId>(d);
  list_docs = std::move(docs);
}

std::size_t CentroidIndex::size_bytes() const {
  return centroids_.size() * sizeof(float) + doc_offsets_.size() * sizeof(std::uint64_t) +
         doc_codes_.size() * sizeof(std::uint16_t) + list_offsets_.size() * sizeof(std::uint64_t) +
         list_docs_.size() * sizeof(DocId);
}

void CentroidIndex::candidates(const float* query, std::size_t m, const CentroidSearchParams& params,
                               std::size_t n_candidates, Scratch& s, std::vector<DocId>& out,
                               DocFilter filter, std::size_t n_allowed) const {
  constexpr std::size_t P = kernels::kPanelCols;
  const kernels::Kernels& kt = kernels::active();
  const std::size_t lanes = (m + P - 1) / P * P;
  const std::size_t C = n_centroids_;

  // 1. Centroid x query-token scores, laid out [C, lanes] for the interaction kernel
  // (padding lanes are dot products with zero columns, i.e. exactly zero).
  {
    detail::AlignedFloats qp = detail::pack_panels(query, m, dim_);
    s.query_panels.assign(qp.begin(), qp.end());
  }
  s.table.resize(C * lanes);
  kt.dot_panels_f32(centroids_.data(), C, dim_, s.query_panels.data(), lanes, s.table.data(), lanes);
  const float* table = s.table.data();

  // 2. Probe the n_probe best centroids of each query token, best first.
  std::vector<DocId>& cand = s.probed;
  cand.clear();
  TopK top;
  const bool filtered = !filter.is_all();
  if (params.n_probe >= C) {
    allowed_ids(filter, n_docs_, cand);
  } else {
    if (s.stamp.size() != n_docs_) {
      s.stamp.assign(n_docs_, 0);
      s.probe_score.assign(n_docs_, 0.0f);
      s.stamp_base = 0;
    }
    // Stamps: this query's token i writes base + i; anything below base is an older query.
    if (static_cast<std::uint64_t>(s.stamp_base) + m + 2 > std::numeric_limits<std::uint32_t>::max()) {
      std::fill(s.stamp.begin(), s.stamp.end(), 0u);
      s.stamp_base = 0;
    }
    const std::uint32_t base = s.stamp_base + 1;
    s.stamp_base += static_cast<std::uint32_t>(m) + 1;
    std::uint32_t* stamp = s.stamp.data();
    float* score = s.probe_score.data();
    // One extra centroid per token: the best one NOT probed gives the imputed bound tau_i.
    const std::size_t keep = params.n_probe + 1;
    std::vector<std::pair<float, std::uint32_t>> best;
    // The filter test sits in the innermost loop: compiled in only for a filtered search,
    // so the unfiltered loop is the one it always was.
    auto probe = [&](auto filter_tag) {
      constexpr bool kFiltered = decltype(filter_tag)::value;
      for (std::size_t i = 0; i < m; ++i) {
        top.reset(keep);
        for (std::size_t c = 0; c < C; ++c) {
          const float v = table[c * lanes + i];
          if (top.admits(v)) top.push(v, static_cast<std::uint32_t>(c));
        }
        best = top.sorted();
        const float tau = best.size() > params.n_probe ? best[params.n_probe].first : best.back().first;
        const std::uint32_t t = base + static_cast<std::uint32_t>(i);
        for (std::size_t j = 0; j < params.n_probe && j < best.size(); ++j) {
          const std::uint32_t c = best[j].second;
          const float gain = best[j].first - tau;
          for (std::uint64_t p = list_offsets_[c]; p < list_offsets_[c + 1]; ++p) {
            const DocId d = list_docs_[p];
            if constexpr (kFiltered) {
              if (!filter.allows(d)) continue;
            }
            const std::uint32_t st = stamp[d];
            if (st == t) continue;  // token i already counted its best centroid for d
            if (st < base) {        // first touch in this query
              score[d] = 0.0f;
              cand.push_back(d);
            }
            stamp[d] = t;
            score[d] += gain;
          }
        }
      }
    };
    if (filtered)
      probe(std::true_type());
    else
      probe(std::false_type());
    if (filtered && cand.size() < n_candidates && cand.size() < n_allowed) {
      // A selective filter: the probed lists hold too few allowed documents to fill the
      // budget, so every allowed document goes on (as with n_probe >= n_centroids).
      allowed_ids(filter, n_docs_, cand);
    } else {
      const std::size_t n_interaction = params.n_interaction.value_or(0);
      if (n_interaction > 0 && n_interaction < cand.size()) {
        top.reset(n_interaction);
        for (DocId d : cand)
          if (top.admits(score[d])) top.push(score[d], d);
        cand.clear();
        for (const auto& item : top.entries()) cand.push_back(item.second);
      }
    }
  }

  // 3. Optional bit-vector prefilter on the first 64 query tokens.
  if (params.n_bitvector > 0 && params.bitvector_threshold.has_value() && params.n_bitvector < cand.size()) {
    const float th = *params.bitvector_threshold;
    const std::size_t mb = std::min<std::size_t>(m, 64);
    s.masks.assign(C, 0);
    for (std::size_t c = 0; c < C; ++c) {
      std::uint64_t bits = 0;
      for (std::size_t i = 0; i < mb; ++i) bits |= static_cast<std::uint64_t>(table[c * lanes + i] >= th) << i;
      s.masks[c] = bits;
    }
    top.reset(params.n_bitvector);
    for (DocId d : cand) {
      std::uint64_t bits = 0;
      for (std::uint64_t j = doc_offsets_[d]; j < doc_offsets_[d + 1]; ++j) bits |= s.masks[doc_codes_[j]];
      top.push(static_cast<float>(__builtin_popcountll(bits)), d);
    }
    cand.clear();
    for (const auto& item : top.entries()) cand.push_back(item.second);
  }

  // 4. Centroid interaction; keep the n_candidates best.
  out.clear();
  if (n_candidates >= cand.size()) {
    out.assign(cand.begin(), cand.end());
    return;
  }
  top.reset(n_candidates);
  for (DocId d : cand) {
    const std::uint64_t b = doc_offsets_[d];
    const float score = kt.interaction_u16(doc_codes_.data() + b, doc_offsets_[d + 1] - b, table, lanes);
    if (top.admits(score)) top.push(score, d);
  }
  for (const auto& item : top.entries()) out.push_back(item.second);
}

void CentroidIndex::save(io::FileWriter& writer, io::Config& config) const {
  config.set_uint("centroid.n_centroids", n_centroids_);
  config.set_uint("centroid.kmeans_iters", params_.kmeans_iters);
  config.set_uint("centroid.kmeans_points_per_centroid", params_.kmeans_points_per_centroid);
  writer.add_vector("CENT", centroids_);
  writer.add_vector("CDOF", doc_offsets_);
  writer.add_array("CDCO", doc_codes_);
  // The inverted lists, derived data stored so that a mapped load need not rebuild them
  // (an in-memory load rebuilds them; verify() compares).
  writer.add_vector("CLOF", list_offsets_);
  writer.add_array("CLDO", list_docs_);
}

CentroidIndex CentroidIndex::load(const io::FileReader& reader, const io::Config& config, std::size_t dim,
                                  std::size_t n_docs) {
  auto bad = [](const std::string& why) { throw FormatError("aftershock file: centroid index: " + why); };
  // get_uint also reads the integers earlier files wrote as doubles.
  auto count = [&](const char* key, std::uint64_t hi) { return static_cast<std::size_t>(config.get_uint(key, hi)); };
  CentroidIndex ix;
  ix.dim_ = dim;
  ix.n_docs_ = n_docs;
  ix.n_centroids_ = count("centroid.n_centroids", kMaxCentroids);
  if (ix.n_centroids_ == 0) bad("no centroids");
  ix.params_.n_centroids = ix.n_centroids_;
  ix.params_.kmeans_iters = count("centroid.kmeans_iters", kMaxKMeansIters);
  ix.params_.kmeans_points_per_centroid = count("centroid.kmeans_points_per_centroid", kMaxPointsPerCentroid);
  ix.centroids_ = reader.read_vector<float>("CENT", static_cast<long long>(ix.n_centroids_ * dim));
  for (float v : ix.centroids_)
    if (!std::isfinite(v)) bad("non-finite centroid");
  ix.doc_offsets_ = reader.read_vector<std::uint64_t>("CDOF", static_cast<long long>(n_docs + 1));
  ix.doc_codes_ = reader.view<std::uint16_t>("CDCO");
  if (ix.doc_offsets_[0] != 0 || ix.doc_offsets_[n_docs] != ix.doc_codes_.size()) bad("code offsets do not match");
  for (std::size_t d = 0; d < n_docs; ++d) {
    const std::uint64_t b = ix.doc_offsets_[d], e = ix.doc_offsets_[d + 1];
    if (e <= b || e > ix.doc_codes_.size()) bad("code offsets are not increasing");
  }
  if (!reader.mapping()) {
    ix.check_codes();
    ix.build_lists();
    return ix;
  }
  // Mapped: the stored lists when the file has them (their offsets read and checked now,
  // the documents trusted until check_content()); older files rebuild them in memory,
  // which reads every code, so those are checked first.
  if (!reader.has("CLOF") || !reader.has("CLDO")) {
    ix.check_codes();
    ix.build_lists();
    return ix;
  }
  ix.list_offsets_ = reader.read_vector<std::uint64_t>("CLOF", static_cast<long long>(ix.n_centroids_ + 1));
  ix.list_docs_ = reader.view<DocId>("CLDO", static_cast<long long>(ix.doc_codes_.size()));
  if (ix.list_offsets_[0] != 0 || ix.list_offsets_[ix.n_centroids_] != ix.list_docs_.size())
    bad("list offsets do not match");
  for (std::size_t c = 0; c < ix.n_centroids_; ++c)
    if (ix.list_offsets_[c + 1] < ix.list_offsets_[c]) bad("list offsets are not monotone");
  advise_sections(reader);
  return ix;
}

void CentroidIndex::check_codes() const {
  auto bad = [](const std::string& why) { throw FormatError("aftershock file: centroid index: " + why); };
  for (std::size_t d = 0; d < n_docs_; ++d) {
    const std::uint64_t b = doc_offsets_[d], e = doc_offsets_[d + 1];
    for (std::uint64_t j = b; j < e; ++j) {
      if (doc_codes_[j] >= n_centroids_) bad("code out of range");
      if (j > b && doc_codes_[j] <= doc_codes_[j - 1]) bad("codes not sorted");
    }
  }
}

void CentroidIndex::check_content() const {
  if (!doc_codes_.is_view()) return;
  check_codes();
  std::vector<std::uint64_t> list_offsets;
  Array<DocId> list_docs;
  derive_lists(list_offsets, list_docs);
  if (list_offsets != list_offsets_ || list_docs.size() != list_docs_.size() ||
      !std::equal(list_docs.begin(), list_docs.end(), list_docs_.begin()))
    throw FormatError("aftershock file: centroid index: stored inverted lists differ from the documents' codes");
}

void CentroidIndex::advise_sections(const io::FileReader& reader) {
  reader.advise("CDCO", io::Advice::kRandom);
  reader.advise("CLDO", io::Advice::kRandom);
}

}  // namespace aftershock::multivector
