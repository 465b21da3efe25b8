// Index construction: forward index, static pruning, per-list clustering into blocks,
// and quantized block summaries. See README.md in this folder for the why of each step.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"
#include "aftershock/util/bits.hpp"
#include "aftershock/util/huge_pages.hpp"
#include "aftershock/util/memory.hpp"
#include "aftershock/util/random.hpp"

namespace aftershock::sparse {

std::uint64_t knn_graph_bytes(std::size_t n_docs, std::size_t knn);  // search.cpp

namespace {

// Clustering compares documents through their kClusterTerms heaviest terms only: learned
// sparse vectors keep most of their mass there, and the cost of the inner products
// falls roughly with the square of the terms kept (see README.md for measurements).
constexpr std::size_t kClusterTerms = 32;

struct Posting {
  DocId doc;
  float weight;
};

// One pruned, clustered list with its summaries, before concatenation.
struct ListOut {
  std::vector<DocId> docs;                 // block-ordered
  std::vector<std::uint32_t> block_begin;  // relative to the list
  std::vector<float> block_scale;
  BlockSummaries::ListPart summaries;
};

struct SummaryCuts;

constexpr std::uint32_t kNoList = std::numeric_limits<std::uint32_t>::max();

// Per-worker scratch sized by the vocabulary; every use resets what it touched.
struct Scratch {
  std::vector<float> dense;       // summary max accumulation
  std::vector<std::int32_t> pos;  // term -> slot in the centroid inverted index, -1 if none
  std::vector<TermId> touched;
  std::vector<std::uint32_t> head;
  std::vector<std::uint32_t> cent_id;
  std::vector<float> cent_w;
  std::vector<float> scores;
  const SummaryCuts* cuts = nullptr;  // shared, read-only: what each row lends a summary

  void ensure(std::size_t dim) {
    if (dense.size() != dim) {
      dense.assign(dim, 0.0f);
      pos.assign(dim, -1);
    }
  }
};

// Smallest weight tau such that at least `target` positive postings have weight >= tau.
// Non-negative floats order like their bit patterns, so two 16-bit histogram passes find
// tau exactly without copying or sorting the nnz weights.
float global_threshold(const SparseBatchView& docs, std::size_t target) {
  std::vector<std::uint64_t> hist(65536, 0);
  const std::size_t nnz = docs.nnz();
  for (std::size_t j = 0; j < nnz; ++j)
    if (docs.values[j] > 0.0f) ++hist[bits_of(docs.values[j]) >> 16];
  std::uint64_t above = 0;
  std::uint32_t hi = 65535;
  for (;; --hi) {
    if (above + hist[hi] >= target || hi == 0) break;
    above += hist[hi];
  }
  std::fill(hist.begin(), hist.end(), 0);
  for (std::size_t j = 0; j < nnz; ++j) {
    const std::uint32_t b = bits_of(docs.values[j]);
    if (docs.values[j] > 0.0f && (b >> 16) == hi) ++hist[b & 0xffffu];
  }
  std::uint32_t lo = 65535;
  for (;; --lo) {
    if (above + hist[lo] >= target || lo == 0) break;
    above += hist[lo];
  }
  return float_of((hi << 16) | lo);
}

bool heavier(const Posting& a, const Posting& b) {
  return a.weight > b.weight || (a.weight == b.weight && a.doc < b.doc);
}

// Seismic's one-pass clustering: sample centroids among the list's documents, assign
// every document to the centroid of largest inner product (full vectors), then dissolve
// clusters smaller than min_cluster_size into the rest. Returns cluster id per document.
std::vector<std::uint32_t> cluster(const std::vector<Posting>& list, std::size_t n_centroids,
                                   std::size_t min_cluster_size, Rng& rng, const SparseBatchView& docs,
                                   Scratch& s) {
  const std::size_t n = list.size();
  std::vector<std::uint32_t> assign(n, 0);
  if (n_centroids <= 1) return assign;

  std::vector<std::uint32_t> pick(n);
  std::iota(pick.begin(), pick.end(), 0u);
  for (std::size_t i = 0; i < n_centroids; ++i) {
    std::swap(pick[i], pick[i + static_cast<std::size_t>(rng.below(n - i))]);
  }
  pick.resize(n_centroids);
  std::sort(pick.begin(), pick.end());

  // Inverted index over the centroids' vectors: term -> (centroid, weight).
  s.touched.clear();
  s.head.clear();
  for (std::size_t c = 0; c < n_centroids; ++c) {
    const DocId d = list[pick[c]].doc;
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
      if (!(docs.values[j] > 0.0f)) continue;
      const TermId u = docs.indices[j];
      if (s.pos[u] < 0) {
        s.pos[u] = static_cast<std::int32_t>(s.touched.size());
        s.touched.push_back(u);
        s.head.push_back(0);
      }
      ++s.head[s.pos[u]];
    }
  }
  std::uint32_t total = 0;
  for (auto& h : s.head) {
    std::uint32_t c = h;
    h = total;
    total += c;
  }
  s.head.push_back(total);
  s.cent_id.resize(total);
  s.cent_w.resize(total);
  {
    std::vector<std::uint32_t> fill(s.head.begin(), s.head.end() - 1);
    for (std::size_t c = 0; c < n_centroids; ++c) {
      const DocId d = list[pick[c]].doc;
      for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
        if (!(docs.values[j] > 0.0f)) continue;
        const std::uint32_t slot = fill[s.pos[docs.indices[j]]]++;
        s.cent_id[slot] = static_cast<std::uint32_t>(c);
        s.cent_w[slot] = docs.values[j];
      }
    }
  }

  s.scores.assign(n_centroids, 0.0f);
  std::vector<std::uint8_t> alive(n_centroids, 1);
  std::vector<std::uint32_t> hit;
  auto best_centroid = [&](DocId d) {
    hit.clear();
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
      const std::int32_t slot = s.pos[docs.indices[j]];
      if (slot < 0) continue;
      const float w = docs.values[j];
      for (std::uint32_t e = s.head[slot]; e < s.head[slot + 1]; ++e) {
        const std::uint32_t c = s.cent_id[e];
        if (s.scores[c] == 0.0f) hit.push_back(c);
        s.scores[c] += w * s.cent_w[e];
      }
    }
    std::uint32_t best = std::numeric_limits<std::uint32_t>::max();
    float best_score = -1.0f;
    for (std::uint32_t c : hit) {
      if (alive[c] && (s.scores[c] > best_score || (s.scores[c] == best_score && c < best))) {
        best = c;
        best_score = s.scores[c];
      }
      s.scores[c] = 0.0f;
    }
    return best;
  };

  std::vector<std::size_t> size(n_centroids, 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t c = best_centroid(list[i].doc);
    // Every document of the list shares this list's term with every centroid, so some
    // centroid is always hit; the fallback guards zero products (underflow).
    if (c == std::numeric_limits<std::uint32_t>::max()) c = 0;
    assign[i] = c;
    ++size[c];
  }
  if (min_cluster_size > 1) {
    bool any_small = false, any_big = false;
    for (std::size_t c = 0; c < n_centroids; ++c) {
      if (size[c] == 0) continue;
      (size[c] < min_cluster_size ? any_small : any_big) = true;
    }
    if (any_small && any_big) {
      for (std::size_t c = 0; c < n_centroids; ++c) alive[c] = size[c] >= min_cluster_size;
      for (std::size_t i = 0; i < n; ++i) {
        if (alive[assign[i]]) continue;
        std::uint32_t c = best_centroid(list[i].doc);
        if (c == std::numeric_limits<std::uint32_t>::max()) {  // shares nothing with survivors
          c = static_cast<std::uint32_t>(std::find(alive.begin(), alive.end(), 1) - alive.begin());
        }
        assign[i] = c;
      }
    }
  }
  for (TermId u : s.touched) s.pos[u] = -1;
  return assign;
}

// Keeps the smallest set of largest entries whose sum reaches `target` (ties: smaller
// term first), i.e. the prefix of the entries sorted by decreasing value. Entries are
// bucketed by value so that only the boundary bucket needs sorting: O(m), not O(m log m).
void select_by_energy(std::vector<std::pair<TermId, float>>& entries, double target) {
  auto heavier = [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  if (entries.size() <= 1) return;
  constexpr std::size_t kBuckets = 64;
  float vmax = 0.0f;
  for (const auto& e : entries) vmax = std::max(vmax, e.second);
  const float to_bucket = static_cast<float>(kBuckets) / vmax;
  auto bucket_of = [&](float v) { return std::min<std::size_t>(kBuckets - 1, static_cast<std::size_t>(v * to_bucket)); };
  double sums[kBuckets] = {};
  for (const auto& e : entries) sums[bucket_of(e.second)] += e.second;
  double above = 0.0;
  std::size_t boundary = kBuckets - 1;
  while (boundary > 0 && above + sums[boundary] < target) above += sums[boundary--];
  // Entries of higher buckets are all kept; sort the boundary bucket, take its prefix.
  std::vector<std::pair<TermId, float>> kept, edge;
  for (const auto& e : entries) {
    const std::size_t b = bucket_of(e.second);
    if (b > boundary) kept.push_back(e);
    else if (b == boundary) edge.push_back(e);
  }
  std::sort(edge.begin(), edge.end(), heavier);
  double sum = above;
  for (std::size_t i = 0; i < edge.size() && (kept.empty() || sum < target); ++i) {
    kept.push_back(edge[i]);
    sum += edge[i].second;
  }
  entries.swap(kept);
}

// What one document may lend a block summary: its row_terms heaviest positive terms (ties:
// smaller term). A summary is the coordinate-wise max of its block's rows, pruned to a
// fraction of its L1 mass; without this cut, one row with every term of the vocabulary
// (a concatenation, a boilerplate page) puts its long tail of small weights into every
// block it joins, and since that tail is most of the block's mass, the energy pruning keeps
// thousands of its terms: on 20,000 synthetic documents (defaults) one row of all 30,522
// terms took the index from 191 to 732 MB; with the cut, 212 MB. A row adds at most
// row_terms entries to a summary, whatever its length. row_terms is kSummaryRowFactor times the
// corpus' median row length (at least kSummaryMinRowTerms): learned sparse rows rarely
// reach it (the longest Debian row has 3.2x the median), so ordinary indexes are
// unchanged; a dropped component is one of a row's lightest, which the energy pruning
// would drop first anyway.
constexpr std::size_t kSummaryRowFactor = 4;
constexpr std::size_t kSummaryMinRowTerms = 64;

struct SummaryCuts {
  std::size_t row_terms = 0;
  // Rows above row_terms positive terms, ascending, with the weight and term of their
  // row_terms-th heaviest entry: entries lighter than it (or as heavy, of a larger term)
  // are left out. 12 bytes per long row; ordinary corpora have none.
  std::vector<DocId> long_rows;
  std::vector<float> cut_weight;
  std::vector<TermId> cut_term;

  // The cut of row d: (weight, term) at or above which an entry counts; (0, max) keeps all.
  std::pair<float, TermId> of(DocId d) const {
    const auto it = std::lower_bound(long_rows.begin(), long_rows.end(), d);
    if (it == long_rows.end() || *it != d) return {0.0f, std::numeric_limits<TermId>::max()};
    const auto at = static_cast<std::size_t>(it - long_rows.begin());
    return {cut_weight[at], cut_term[at]};
  }
};

SummaryCuts summary_cuts(const SparseBatchView& docs) {
  SummaryCuts c;
  std::vector<std::uint32_t> len(docs.n_rows);
  for (std::size_t d = 0; d < docs.n_rows; ++d) {
    std::uint32_t n = 0;
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) n += docs.values[j] > 0.0f;
    len[d] = n;
  }
  std::vector<std::uint32_t> sorted = len;
  std::uint32_t median = 0;
  if (!sorted.empty()) {
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
    median = sorted[sorted.size() / 2];
  }
  c.row_terms = std::max(kSummaryMinRowTerms, kSummaryRowFactor * static_cast<std::size_t>(median));
  std::vector<std::pair<float, TermId>> row;
  for (std::size_t d = 0; d < docs.n_rows; ++d) {
    if (len[d] <= c.row_terms) continue;
    row.clear();
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j)
      if (docs.values[j] > 0.0f) row.emplace_back(docs.values[j], docs.indices[j]);
    const auto nth = row.begin() + static_cast<std::ptrdiff_t>(c.row_terms - 1);
    std::nth_element(row.begin(), nth, row.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    c.long_rows.push_back(static_cast<DocId>(d));
    c.cut_weight.push_back(nth->first);
    c.cut_term.push_back(nth->second);
  }
  return c;
}

// Coordinate-wise max of the block's documents (each lending at most its
// SummaryCuts::row_terms heaviest terms), pruned to `energy` of its L1 mass and quantized
// to 8 bits. Codes round up, so a kept component never underestimates.
void summarize(const std::vector<Posting>& list, const std::vector<std::uint32_t>& members, double energy,
               const SparseBatchView& docs, Scratch& s, std::vector<std::pair<TermId, float>>& out) {
  s.touched.clear();
  for (std::uint32_t i : members) {
    const DocId d = list[i].doc;
    const auto [cut_w, cut_u] = s.cuts ? s.cuts->of(d) : std::pair<float, TermId>{0.0f, std::numeric_limits<TermId>::max()};
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
      const float v = docs.values[j];
      if (!(v > 0.0f)) continue;
      const TermId u = docs.indices[j];
      if (v < cut_w || (v == cut_w && u > cut_u)) continue;
      if (s.dense[u] == 0.0f) s.touched.push_back(u);
      s.dense[u] = std::max(s.dense[u], v);
    }
  }
  out.clear();
  double mass = 0.0;
  for (TermId u : s.touched) {
    out.emplace_back(u, s.dense[u]);
    mass += s.dense[u];
    s.dense[u] = 0.0f;
  }
  select_by_energy(out, energy * mass);
}

ListOut build_list(std::vector<Posting>& list, const BuildParams& p, TermId term, const SparseBatchView& docs,
                   const SparseBatchView& cluster_docs, const BlockSummaries& summaries, Scratch& s) {
  ListOut out;
  const std::size_t n = list.size();
  std::sort(list.begin(), list.end(), [](const Posting& a, const Posting& b) { return a.doc < b.doc; });
  std::size_t n_centroids = static_cast<std::size_t>(std::ceil(p.centroid_fraction * static_cast<double>(n)));
  n_centroids = std::clamp<std::size_t>(n_centroids, 1, n);
  Rng rng(p.seed ^ (0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(term) + 1)));
  std::vector<std::uint32_t> assign = cluster(list, n_centroids, p.min_cluster_size, rng, cluster_docs, s);

  // Group by cluster (cluster order, then doc id: the list is sorted by doc).
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return assign[a] < assign[b]; });

  std::vector<BlockSummaries::Entry> entries;
  std::vector<std::pair<TermId, float>> summary;
  auto add_block = [&](std::vector<std::uint32_t>& members) {
    std::sort(members.begin(), members.end());  // doc order
    const auto block = static_cast<std::uint32_t>(out.block_begin.size());
    out.block_begin.push_back(static_cast<std::uint32_t>(out.docs.size()));
    for (std::uint32_t m : members) out.docs.push_back(list[m].doc);
    summarize(list, members, p.summary_energy, docs, s, summary);
    float vmax = 0.0f;
    for (const auto& e : summary) vmax = std::max(vmax, e.second);
    const float scale = vmax / 255.0f;
    out.block_scale.push_back(scale);
    for (const auto& [u, v] : summary) {
      const float q = std::ceil(v / scale);
      entries.push_back({u, block, static_cast<std::uint8_t>(std::clamp(q, 1.0f, 255.0f))});
    }
  };
  // A summary is a coordinate-wise max, so its bound loosens as its block grows, and the
  // largest clusters are the ones a query meets first. A cluster above the list's mean
  // cluster size is therefore cut, by weight on this list's term, into blocks of at most
  // that size: the heaviest part keeps a high bound, the others get tighter ones that the
  // search can skip. (Never below min_cluster_size: the cap is at least twice it.)
  const std::size_t cap = std::max((n + n_centroids - 1) / n_centroids, 2 * p.min_cluster_size);
  std::vector<std::uint32_t> cluster_members, members;
  for (std::size_t i = 0; i < n;) {
    cluster_members.clear();
    for (const std::uint32_t c = assign[order[i]]; i < n && assign[order[i]] == c; ++i) cluster_members.push_back(order[i]);
    if (cluster_members.size() <= cap) {
      add_block(cluster_members);
      continue;
    }
    std::sort(cluster_members.begin(), cluster_members.end(), [&](std::uint32_t a, std::uint32_t b) {
      return list[a].weight > list[b].weight || (list[a].weight == list[b].weight && a < b);
    });
    const std::size_t size = cluster_members.size(), parts = (size + cap - 1) / cap;
    for (std::size_t part = 0; part < parts; ++part) {
      members.assign(cluster_members.begin() + static_cast<std::ptrdiff_t>(part * size / parts),
                     cluster_members.begin() + static_cast<std::ptrdiff_t>((part + 1) * size / parts));
      add_block(members);
    }
  }
  out.summaries = summaries.make_part(entries, out.block_begin.size(), s.pos, s.touched);
  // Thousands of lists wait for concatenation at once: drop the growth slack of the pieces
  // built by push_back (up to half their capacity).
  out.docs.shrink_to_fit();
  out.block_begin.shrink_to_fit();
  out.block_scale.shrink_to_fit();
  return out;
}

// Each document's kClusterTerms heaviest positive terms (ties: smaller term), in term order.
void truncate_docs(const SparseBatchView& docs, std::size_t num_threads, std::vector<std::int64_t>& indptr,
                   std::vector<std::uint32_t>& terms, std::vector<float>& values) {
  for (std::size_t d = 0; d < docs.n_rows; ++d) {
    std::size_t n = 0;
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) n += docs.values[j] > 0.0f;
    indptr[d + 1] = indptr[d] + static_cast<std::int64_t>(std::min(n, kClusterTerms));
  }
  terms.resize(static_cast<std::size_t>(indptr[docs.n_rows]));
  values.resize(terms.size());
  const std::size_t chunk = 1024;
  parallel_for((docs.n_rows + chunk - 1) / chunk, num_threads, [&](std::size_t c, std::size_t) {
    std::vector<std::pair<float, std::uint32_t>> row;
    for (std::size_t d = c * chunk; d < std::min(docs.n_rows, (c + 1) * chunk); ++d) {
      row.clear();
      for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j)
        if (docs.values[j] > 0.0f) row.emplace_back(docs.values[j], docs.indices[j]);
      // The count pass above read the same weights: equal counts unless the caller's buffer
      // changed in between (the Python binding passes a copy; C++ callers must not write
      // it during the build). The clamp keeps a broken promise from sorting past the row.
      const std::size_t keep = std::min(row.size(), static_cast<std::size_t>(indptr[d + 1] - indptr[d]));
      AFTERSHOCK_DCHECK(keep == static_cast<std::size_t>(indptr[d + 1] - indptr[d]));
      std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(keep), row.end(),
                        [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      std::sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(keep),
                [](const auto& a, const auto& b) { return a.second < b.second; });
      for (std::size_t i = 0; i < keep; ++i) {
        terms[static_cast<std::size_t>(indptr[d]) + i] = row[i].second;
        values[static_cast<std::size_t>(indptr[d]) + i] = row[i].first;
      }
    }
  });
}

void release_free_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

template <class T>
void append(std::vector<T>& dst, const std::vector<T>& src) {
  dst.insert(dst.end(), src.begin(), src.end());
}

// The order of the forward-index rows. A block holds documents that are heavy in its list's
// term and alike otherwise, so documents sharing their heaviest and second-heaviest terms are
// stored next to each other: a visited block's rows then often share DRAM pages and lines the
// hardware prefetcher brings in. 1M synthetic documents, same blocks and results: 18-22% less
// time per query than rows by document id (cpp/src/sparse/README.md has the runs).
std::vector<DocId> row_order(const SparseBatchView& docs) {
  std::vector<std::uint64_t> key(docs.n_rows);
  for (std::size_t d = 0; d < docs.n_rows; ++d) {
    std::uint32_t t1 = std::numeric_limits<std::uint32_t>::max(), t2 = t1;  // empty rows go last
    float w1 = 0.0f, w2 = 0.0f;
    for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
      const float v = docs.values[j];
      if (v > w1) {
        t2 = t1, w2 = w1;
        t1 = docs.indices[j], w1 = v;
      } else if (v > w2) {
        t2 = docs.indices[j], w2 = v;
      }
    }
    key[d] = (std::uint64_t{t1} << 32) | t2;
  }
  std::vector<DocId> order(docs.n_rows);
  std::iota(order.begin(), order.end(), DocId{0});
  std::stable_sort(order.begin(), order.end(), [&](DocId a, DocId b) { return key[a] < key[b]; });
  return order;
}

// Bytes per vocabulary entry the build holds at its peak: df, count and wave cursors
// (3 x 8), a ListOut, the two list offsets and the summaries' page offsets (3 x 8), the
// sorted term ids (4), a summary part pointer (8), and per worker the dense summary
// accumulator and slot map (4 + 4).
std::uint64_t vocabulary_bytes_per_term(std::size_t dim, std::size_t num_threads) {
  // df, count, slot, the two list offsets and the summary directory; the term -> list
  // slot map and a summary-part pointer (ListOuts exist only for non-empty lists).
  return 6 * sizeof(std::uint64_t) + sizeof(std::uint32_t) + sizeof(TermId) + sizeof(void*) +
         parallel_workers(dim, num_threads) * (sizeof(float) + sizeof(std::int32_t));
}

}  // namespace

struct IndexBuilder {
  static SparseIndex build(const SparseBatchView& docs, const BuildParams& params, const ProgressFn& progress) {
    BuildParams p = params;
    if (p.n_postings == 0) p.n_postings = default_n_postings(docs.n_rows);
    check_build_params(p);
    if (docs.dim < 1) throw InvalidArgument("docs: the vocabulary size (number of columns) must be >= 1");
    if (docs.n_rows >= std::numeric_limits<DocId>::max())
      throw InvalidArgument("docs: at most 4294967294 documents per index");
    if (docs.dim > std::numeric_limits<TermId>::max())
      throw InvalidArgument("dim: expected a vocabulary of at most 2^32 - 1 terms (term ids are uint32), got " +
                            std::to_string(docs.dim));
    // The build holds about vocabulary_bytes_per_term() bytes per vocabulary entry, whether
    // or not a term occurs: refused here, before any work, when that alone exceeds what
    // the process can allocate (a stray id of 10^9 in tuple input means 10^9 entries).
    check_memory_need(bytes_product({docs.dim, vocabulary_bytes_per_term(docs.dim, p.num_threads)}),
                      "docs: a vocabulary of " + std::to_string(docs.dim) +
                          " terms (dim, or the largest term id + 1 when dim is not given)",
                      "pass dim= the true vocabulary size, or renumber the term ids to 0..n_terms - 1");
    if (p.knn > 0 && p.knn < docs.n_rows) check_memory_need(knn_graph_bytes(docs.n_rows, p.knn), "knn: the n_docs x knn neighbour graph", "lower knn");
    // A document's neighbours exclude itself: knn <= n_docs - 1 (refused before any work, and
    // before sizing an n_docs x knn graph).
    if (p.knn > 0 && p.knn >= docs.n_rows)
      throw InvalidArgument("knn: expected <= n_docs - 1 = " + std::to_string(docs.n_rows == 0 ? 0 : docs.n_rows - 1) +
                            ", got " + std::to_string(p.knn));
    validate_batch(docs, "docs", p.num_threads);

    SparseIndex ix;
    ix.params_ = p;
    ix.n_docs_ = docs.n_rows;
    ix.dim_ = docs.dim;
    ix.summaries_ = BlockSummaries(docs.dim);
    ix.fwd_ = ForwardIndex::build(docs, p.precision, p.num_threads, row_order(docs));
    build_lists(docs, p, ix, progress);
    if (p.knn > 0) {
      // The graph's own searches can be cheaper than the defaults: on the real set a graph
      // built at query_cut 5, heap_factor 0.9 took 7.6 s against 17.3 s at 10 / 0.8 (one
      // thread) and gave searches with n_knn the same recall-latency frontier.
      SearchParams sp;
      sp.query_cut = kKnnBuildQueryCut;
      sp.heap_factor = kKnnBuildHeapFactor;
      sp.n_knn = 0;
      sp.num_threads = p.num_threads;
      ix.build_knn(p.knn, sp, progress);
    }
    return ix;
  }

  static void build_lists(const SparseBatchView& docs, const BuildParams& p, SparseIndex& ix,
                          const ProgressFn& progress) {
    const std::size_t dim = docs.dim, nnz = docs.nnz();
    std::vector<std::uint64_t> df(dim, 0);
    std::size_t n_positive = 0;
    for (std::size_t j = 0; j < nnz; ++j) {
      if (docs.values[j] > 0.0f) {
        ++df[docs.indices[j]];
        ++n_positive;
      }
    }
    // Static pruning. Global: one threshold keeping n_postings per non-empty list on
    // average, each list capped at max_fraction * n_postings. Fixed: n_postings per list.
    float tau = 0.0f;
    std::size_t cap = p.n_postings;
    if (p.pruning == Pruning::kGlobalThreshold) {
      const std::size_t nonempty = static_cast<std::size_t>(std::count_if(df.begin(), df.end(), [](auto c) { return c > 0; }));
      const double target = static_cast<double>(p.n_postings) * static_cast<double>(nonempty);
      if (target < static_cast<double>(n_positive)) tau = global_threshold(docs, static_cast<std::size_t>(target));
      const double c = std::floor(p.max_fraction * static_cast<double>(p.n_postings));
      cap = c >= static_cast<double>(std::numeric_limits<std::size_t>::max()) ? std::numeric_limits<std::size_t>::max()
                                                                              : static_cast<std::size_t>(c);
    }
    std::vector<std::uint64_t> count(dim, 0);
    for (std::size_t j = 0; j < nnz; ++j)
      if (docs.values[j] >= tau && docs.values[j] > 0.0f) ++count[docs.indices[j]];

    // Largest lists first for load balance; results are stored per term, so the output
    // does not depend on the schedule.
    std::vector<TermId> terms;
    for (TermId t = 0; t < dim; ++t)
      if (count[t] > 0) terms.push_back(t);
    std::stable_sort(terms.begin(), terms.end(), [&](TermId a, TermId b) { return count[a] > count[b]; });
    // Truncated copies of the documents for clustering (see kClusterTerms).
    std::vector<std::int64_t> trunc_indptr(docs.n_rows + 1, 0);
    std::vector<std::uint32_t> trunc_terms;
    std::vector<float> trunc_values;
    truncate_docs(docs, p.num_threads, trunc_indptr, trunc_terms, trunc_values);
    const SparseBatchView trunc{trunc_indptr.data(), trunc_terms.data(), trunc_values.data(), docs.n_rows, dim};

    // The lists are transposed out of the documents in kWaves waves of terms, each holding
    // about 1/kWaves of the postings: one CSR scan per wave costs far less than holding
    // every posting at once (8 bytes each; 0.86 GB for 1M synthetic documents).
    constexpr std::size_t kWaves = 8;
    std::uint64_t total = 0;
    for (TermId t : terms) total += count[t];
    const std::uint64_t budget = std::max<std::uint64_t>(terms.empty() ? 0 : count[terms[0]], (total + kWaves - 1) / kWaves);
    constexpr std::uint64_t kNotInWave = std::numeric_limits<std::uint64_t>::max();
    std::vector<std::uint64_t> slot(dim, kNotInWave);  // fill cursor of each term of the wave
    std::vector<Posting> postings;
    // One ListOut per non-empty list (a ListOut is ~150 bytes; one per vocabulary term would
    // make a sparse vocabulary, e.g. ids up to 10^7 in use by few documents, cost gigabytes).
    std::vector<ListOut> lists(terms.size());
    const ListOut no_list;
    std::vector<std::uint32_t> list_of(dim, kNoList);  // term -> its slot in `lists`
    for (std::size_t i = 0; i < terms.size(); ++i) list_of[terms[i]] = static_cast<std::uint32_t>(i);
    auto list_at = [&](std::size_t t) -> ListOut* { return list_of[t] == kNoList ? nullptr : &lists[list_of[t]]; };
    std::vector<Scratch> scratch(parallel_workers(terms.size(), p.num_threads));
    const SummaryCuts cuts = summary_cuts(docs);
    for (Scratch& s : scratch) s.cuts = &cuts;
    std::atomic<std::size_t> lists_done{0};
    if (progress) progress("lists", 0, terms.size());
    for (std::size_t first = 0; first < terms.size();) {
      std::size_t last = first;
      std::uint64_t size = 0;
      for (; last < terms.size() && (last == first || size + count[terms[last]] <= budget); ++last) {
        slot[terms[last]] = size;
        size += count[terms[last]];
      }
      postings.resize(size);
      for (std::size_t d = 0; d < docs.n_rows; ++d)
        for (std::int64_t j = docs.indptr[d]; j < docs.indptr[d + 1]; ++j) {
          std::uint64_t& at = slot[docs.indices[j]];
          if (at != kNotInWave && docs.values[j] >= tau && docs.values[j] > 0.0f)
            postings[at++] = {static_cast<DocId>(d), docs.values[j]};
        }
      parallel_for(last - first, p.num_threads, [&](std::size_t i, std::size_t w) {
        const TermId t = terms[first + i];
        // The cursor ended at the list's end.
        std::vector<Posting> list(postings.begin() + static_cast<std::ptrdiff_t>(slot[t] - count[t]),
                                  postings.begin() + static_cast<std::ptrdiff_t>(slot[t]));
        if (list.size() > cap) {
          std::nth_element(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(cap), list.end(), heavier);
          list.resize(cap);
        }
        scratch[w].ensure(dim);
        lists[first + i] = build_list(list, p, t, docs, trunc, ix.summaries_, scratch[w]);
        const std::size_t done = lists_done.fetch_add(1, std::memory_order_relaxed) + 1;
        if (w == 0 && progress) progress("lists", done, terms.size());  // worker 0 is the calling thread
      });
      for (std::size_t i = first; i < last; ++i) slot[terms[i]] = kNotInWave;
      first = last;
    }
    postings = std::vector<Posting>();
    trunc_indptr = std::vector<std::int64_t>();
    trunc_terms = std::vector<std::uint32_t>();
    trunc_values = std::vector<float>();

    std::vector<std::uint64_t> list_post_begin(dim + 1, 0), list_block_begin(dim + 1, 0);
    std::vector<RowHandle> post_rows;
    std::vector<std::uint32_t> block_post_begin;
    std::vector<float> block_scale;
    for (std::size_t t = 0; t < dim; ++t) {
      const ListOut& l = list_at(t) ? *list_at(t) : no_list;
      list_post_begin[t + 1] = list_post_begin[t] + l.docs.size();
      list_block_begin[t + 1] = list_block_begin[t] + l.block_begin.size();
    }
    reserve_on_huge_pages(post_rows, list_post_begin[dim]);
    reserve_on_huge_pages(block_post_begin, list_block_begin[dim]);
    reserve_on_huge_pages(block_scale, list_block_begin[dim]);
    {
      std::vector<const BlockSummaries::ListPart*> parts;
      for (std::size_t t = 0; t < dim; ++t) parts.push_back(list_at(t) ? &list_at(t)->summaries : &no_list.summaries);
      ix.summaries_.reserve(parts);
    }
    for (std::size_t t = 0; t < dim; ++t) {
      if (list_at(t) == nullptr) {
        ix.summaries_.append(no_list.summaries);
        continue;
      }
      ListOut& l = *list_at(t);
      for (DocId d : l.docs) post_rows.push_back(ix.fwd_.handle(d));
      append(block_post_begin, l.block_begin);
      append(block_scale, l.block_scale);
      ix.summaries_.append(l.summaries);
      l = ListOut();
      // The per-list pieces are many small heap blocks that free() keeps in the process;
      // handing them back as we go keeps the peak near one copy of the index, not two.
      if (t % 1024 == 1023) release_free_memory();
    }
    ix.list_post_begin_ = std::move(list_post_begin);
    ix.list_block_begin_ = std::move(list_block_begin);
    ix.post_rows_ = std::move(post_rows);
    ix.block_post_begin_ = std::move(block_post_begin);
    ix.block_scale_ = std::move(block_scale);
    ix.summaries_.finish(ix.list_block_begin_);
  }
};

SparseIndex SparseIndex::build(const SparseBatchView& docs, const BuildParams& params, const ProgressFn& progress) {
  return IndexBuilder::build(docs, params, progress);
}

}  // namespace aftershock::sparse
