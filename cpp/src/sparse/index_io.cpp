// Serialization of SparseIndex (kind "SPRS") and the read-only accessors. A load checks
// every CRC, then every structural invariant, so a damaged or hostile file raises
// FormatError instead of reading out of bounds later. A mapped load without verify checks
// the small metadata only and defers the rest to verify() (io/format.hpp, "What is
// checked when").
#include <algorithm>
#include <cmath>
#include <limits>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/sparse/index.hpp"

namespace aftershock::sparse {
namespace {

constexpr char kKind[4] = {'S', 'P', 'R', 'S'};
// Layout 5: forward rows addressed by handle (FWDR/FWDH/PROW), each row heaviest weight
// first; summaries as runs under per-page term directories (BlockSummaries). Layout 4 is
// layout 5 with rows in term order: its rows are reordered on load (the one difference),
// so saved indexes keep working. Older layouts are refused with a message to rebuild.
// Integers in CONF are written as integers (io::Config::set_uint, exact up to 2^64 - 1,
// e.g. the seed); files that wrote them as doubles read the same way.
constexpr std::uint64_t kLayout = 5;
constexpr std::uint64_t kTermOrderLayout = 4;

[[noreturn]] void corrupt(const std::string& what) { throw FormatError("aftershock file: sparse index " + what); }

template <class T>
void check_offsets(const Array<T>& off, std::size_t n, std::uint64_t limit, const char* what) {
  if (off.size() != n + 1 || off[0] != 0 || off[n] != limit) corrupt(std::string(what) + " offsets are inconsistent");
  for (std::size_t i = 0; i < n; ++i)
    if (off[i + 1] < off[i]) corrupt(std::string(what) + " offsets are not monotone");
}

}  // namespace

void SparseIndex::write(io::FileWriter& w, std::string& conf_text) const {
  io::Config c;
  c.set_uint("n_docs", n_docs_);
  c.set_uint("dim", dim_);
  c.set_uint("wide_terms", fwd_.wide_terms() ? 1 : 0);
  c.set_uint("knn", knn_);
  c.set_uint("pruning", static_cast<std::uint64_t>(params_.pruning));
  c.set_uint("n_postings", params_.n_postings);
  c.set("max_fraction", params_.max_fraction);
  c.set("centroid_fraction", params_.centroid_fraction);
  c.set_uint("min_cluster_size", params_.min_cluster_size);
  c.set("summary_energy", params_.summary_energy);
  c.set_uint("precision", static_cast<std::uint64_t>(params_.precision));
  c.set_uint("seed", params_.seed);
  c.set_uint("layout", kLayout);
  conf_text = c.serialize();
  w.add("CONF", io::DType::kBytes, conf_text.data(), conf_text.size());
  w.add_array("FWDR", fwd_.words());
  w.add_array("FWDH", fwd_.handles());
  w.add_array("LPST", list_post_begin_);
  w.add_array("LBLK", list_block_begin_);
  w.add_array("PROW", post_rows_);
  w.add_array("BPST", block_post_begin_);
  w.add_array("BSCL", block_scale_);
  summaries_.write(w);
  w.add_array("KNNG", knn_graph_);
}

void SparseIndex::save(const std::string& path) const {
  io::FileWriter w(kKind);
  std::string conf;
  write(w, conf);
  w.write(path);
}

std::string SparseIndex::to_bytes() const {
  io::FileWriter w(kKind);
  std::string conf;
  write(w, conf);
  return w.to_bytes();
}

SparseIndex SparseIndex::load(const std::string& path, const LoadOptions& options) {
  if (!options.mmap) return read(io::FileReader::from_file(path, kKind), true);
  auto reader = std::make_shared<const io::FileReader>(io::FileReader::map_file(path, kKind, options.populate));
  if (options.verify) reader->verify_all();  // every CRC first: then the structure is read from checked bytes
  SparseIndex ix = read(*reader, options.verify);
  advise(*reader);
  ix.mapping_ = reader->mapping();
  ix.mapped_reader_ = std::move(reader);
  ix.verified_ = options.verify;
  return ix;
}

SparseIndex SparseIndex::from_bytes(std::string bytes) {
  return read(io::FileReader::from_bytes(std::move(bytes), kKind), true);
}

void SparseIndex::advise(const io::FileReader& r) {
  // Search reads one block of postings, one row and one kNN neighbour list per hit, all
  // at random: read-ahead around each fault would only pull in pages nobody asked for.
  for (const char* tag : {"FWDR", "FWDH", "PROW", "BPST", "BSCL", "KNNG"}) r.advise(tag, io::Advice::kRandom);
  BlockSummaries::advise(r);
}

void SparseIndex::verify() const {
  if (verified_ || !mapped_reader_) return;  // read into memory: checked at load
  mapped_reader_->verify_all();
  advise(*mapped_reader_);  // verify_all advised the sections sequential
  check_invariants(!layout_term_order_, true);
  summaries_.verify(list_block_begin_);
}

std::size_t SparseIndex::mapped_bytes() const { return mapping_ ? mapping_->size() : 0; }

std::size_t SparseIndex::resident_bytes() const { return mapping_ ? mapping_->resident_bytes() : 0; }

SparseIndex SparseIndex::read(const io::FileReader& r, bool full_check) {
  const auto conf_bytes = r.read_vector<char>("CONF");
  const io::Config c = io::Config::parse(std::string(conf_bytes.begin(), conf_bytes.end()));
  auto count = [&](const char* key, std::uint64_t max) {
    try {
      return static_cast<std::size_t>(c.get_uint(key, max));
    } catch (const FormatError&) {
      corrupt(std::string("configuration '") + key + "' is invalid");
    }
  };
  SparseIndex ix;
  ix.n_docs_ = count("n_docs", 4294967294u);
  ix.dim_ = count("dim", 4294967295u);
  if (ix.dim_ == 0) corrupt("configuration 'dim' is 0 (an index has at least one term)");
  const bool wide_terms = count("wide_terms", 1) == 1;
  ix.knn_ = count("knn", 1000000000u);
  ix.params_.pruning = static_cast<Pruning>(count("pruning", 1));
  ix.params_.n_postings = count("n_postings", 1000000000000000u);
  ix.params_.max_fraction = c.get("max_fraction");
  ix.params_.centroid_fraction = c.get("centroid_fraction");
  ix.params_.min_cluster_size = count("min_cluster_size", 1000000000000000u);
  ix.params_.summary_energy = c.get("summary_energy");
  // "precision" holds an aftershock::Precision; files of 0.1 hold "value_type" (0 = fp16, 1 = fp32).
  if (c.has("precision")) {
    const std::uint64_t v = count("precision", static_cast<std::uint64_t>(Precision::kInt8));
    ix.params_.precision = static_cast<Precision>(v);
  } else {
    ix.params_.precision = count("value_type", 1) == 0 ? Precision::kFp16 : Precision::kFp32;
  }
  ix.params_.seed = c.get_uint("seed", std::numeric_limits<std::uint64_t>::max());
  ix.params_.knn = ix.knn_;
  const double layout = c.has("layout") ? c.get("layout") : 0.0;
  if (layout != static_cast<double>(kLayout) && layout != static_cast<double>(kTermOrderLayout))
    corrupt("was written by another version of aftershock (an older layout); rebuild it");
  const bool term_order_rows = layout == static_cast<double>(kTermOrderLayout);
  ix.layout_term_order_ = term_order_rows;
  if (term_order_rows) full_check = true;  // its rows are rewritten in memory below: checked first
  // The values, not only their checksums: the check build runs (a parameter build refuses
  // would reach the search code otherwise). Its message starts with the key.
  try {
    check_build_params(ix.params_);
  } catch (const InvalidArgument& e) {
    corrupt(std::string("configuration value ") + e.what());
  }
  // Views when mapped (their content checked by verify()); the per-term offsets (dim + 1
  // each) are read and CRC-checked either way.
  ix.fwd_ = ForwardIndex::from_parts(wide_terms, ix.params_.precision, r.view<std::uint64_t>("FWDR"),
                                     r.view<RowHandle>("FWDH"));
  ix.list_post_begin_ = r.read_vector<std::uint64_t>("LPST");
  ix.list_block_begin_ = r.read_vector<std::uint64_t>("LBLK");
  ix.post_rows_ = r.view<RowHandle>("PROW");
  ix.block_post_begin_ = r.view<std::uint32_t>("BPST");
  ix.block_scale_ = r.view<float>("BSCL");
  ix.knn_graph_ = r.view<DocId>("KNNG");
  ix.check_invariants(!term_order_rows, full_check);
  if (term_order_rows) ix.fwd_.sort_rows_heaviest_first(0);
  ix.summaries_ = BlockSummaries::read(r, ix.dim_, ix.list_block_begin_, full_check);
  if (!r.mapping()) r.verify_unread();
  return ix;
}

void SparseIndex::check_invariants(bool heaviest_first_rows, bool full) const {
  if (params_.precision != Precision::kFp16 && params_.precision != Precision::kFp32)
    corrupt("the stored precision is neither fp16 nor fp32");
  if (const std::string why = full ? fwd_.check(n_docs_, dim_, heaviest_first_rows) : fwd_.check_sizes(n_docs_, dim_);
      !why.empty())
    corrupt(why);
  check_offsets(list_post_begin_, dim_, post_rows_.size(), "posting list");
  check_offsets(list_block_begin_, dim_, block_scale_.size(), "block");
  if (block_post_begin_.size() != block_scale_.size()) corrupt("section lengths disagree");
  if (knn_graph_.size() != n_docs_ * knn_) corrupt("kNN graph has the wrong size");
  if (!full) return;
  {
    const std::vector<std::uint64_t> starts = fwd_.row_starts();
    for (RowHandle h : post_rows_)
      if (h >= fwd_.words().size() || !((starts[h >> 6] >> (h & 63)) & 1)) corrupt("posting does not name a document");
  }
  for (float s : block_scale_)
    if (!std::isfinite(s) || s < 0.0f) corrupt("block scale is invalid");
  for (std::size_t t = 0; t < dim_; ++t) {
    const std::size_t b0 = list_block_begin_[t], b1 = list_block_begin_[t + 1];
    const std::size_t len = list_post_begin_[t + 1] - list_post_begin_[t];
    if ((b1 == b0) != (len == 0) || b1 - b0 > len) corrupt("list has an invalid block count");
    for (std::size_t b = b0; b < b1; ++b) {
      const std::size_t end = b + 1 < b1 ? block_post_begin_[b + 1] : len;
      if ((b == b0 && block_post_begin_[b] != 0) || block_post_begin_[b] > end) corrupt("block offsets are invalid");
    }
  }
  if (knn_graph_.size() != n_docs_ * knn_) corrupt("kNN graph has the wrong size");
  for (DocId d : knn_graph_)
    if (d >= n_docs_) corrupt("kNN graph holds a document id out of range");
}

SparseIndex::ComponentBytes SparseIndex::component_bytes() const {
  auto bytes = [](const auto& v) { return v.size_bytes(); };
  ComponentBytes c;
  c.forward_index = fwd_.size_bytes();
  c.postings = bytes(list_post_begin_) + bytes(post_rows_);
  c.blocks = bytes(list_block_begin_) + bytes(block_post_begin_) + bytes(block_scale_);
  c.summaries = summaries_.size_bytes();
  c.knn_graph = bytes(knn_graph_);
  return c;
}

std::size_t SparseIndex::size_bytes() const {
  const ComponentBytes c = component_bytes();
  return c.forward_index + c.postings + c.blocks + c.summaries + c.knn_graph;
}

std::vector<std::vector<DocId>> SparseIndex::blocks_of(TermId t) const {
  if (t >= dim_) throw std::out_of_range("term: " + std::to_string(t) + " is out of range [0, " + std::to_string(dim_) + ")");
  std::vector<std::vector<DocId>> out;
  const std::size_t b0 = list_block_begin_[t], b1 = list_block_begin_[t + 1];
  const std::size_t base = list_post_begin_[t], len = list_post_begin_[t + 1] - base;
  for (std::size_t b = b0; b < b1; ++b) {
    const std::size_t end = b + 1 < b1 ? block_post_begin_[b + 1] : len;
    out.emplace_back();
    for (std::size_t i = base + block_post_begin_[b]; i < base + end; ++i) out.back().push_back(fwd_.doc(post_rows_[i]));
  }
  return out;
}

std::vector<std::pair<TermId, float>> SparseIndex::summary_of(TermId t, std::size_t b) const {
  if (t >= dim_) throw std::out_of_range("term: " + std::to_string(t) + " is out of range [0, " + std::to_string(dim_) + ")");
  const std::size_t nb = list_block_begin_[t + 1] - list_block_begin_[t];
  if (b >= nb) throw std::out_of_range("block: " + std::to_string(b) + " is out of range [0, " + std::to_string(nb) + ")");
  const float scale = block_scale_[list_block_begin_[t] + b];
  std::vector<std::pair<TermId, float>> out;
  for (const auto& [u, code] : summaries_.block(t, b)) out.emplace_back(u, scale * code);
  return out;
}

std::vector<std::pair<TermId, float>> SparseIndex::document(DocId d) const {
  if (d >= n_docs_) throw std::out_of_range("doc: " + std::to_string(d) + " is out of range [0, " + std::to_string(n_docs_) + ")");
  const ForwardIndex::Row r = fwd_.row(fwd_.handle(d));
  std::vector<std::pair<TermId, float>> out(r.n);
  for (std::size_t i = 0; i < r.n; ++i) out[i] = fwd_.entry(r, i);
  std::sort(out.begin(), out.end());  // rows are stored heaviest first; documents read in term order
  return out;
}

std::size_t SparseIndex::n_stored_entries() const {
  std::size_t n = 0;
  for (RowHandle h : fwd_.handles()) n += fwd_.row(h).n;
  return n;
}

void SparseIndex::documents(std::int64_t* indptr, TermId* indices, float* values, std::size_t num_threads) const {
  indptr[0] = 0;
  for (std::size_t d = 0; d < n_docs_; ++d)
    indptr[d + 1] = indptr[d] + static_cast<std::int64_t>(fwd_.row(fwd_.handle(static_cast<DocId>(d))).n);
  // Chunks of documents, so a worker's sort buffer is reused across many short rows.
  constexpr std::size_t kChunk = 1024;
  parallel_for((n_docs_ + kChunk - 1) / kChunk, num_threads, [&](std::size_t c, std::size_t) {
    std::vector<std::pair<TermId, float>> row;
    for (std::size_t d = c * kChunk; d < std::min(n_docs_, (c + 1) * kChunk); ++d) {
      const ForwardIndex::Row r = fwd_.row(fwd_.handle(static_cast<DocId>(d)));
      row.resize(r.n);
      for (std::size_t i = 0; i < r.n; ++i) row[i] = fwd_.entry(r, i);
      // Stored heaviest first; terms are distinct, so sorting by term alone is a total order.
      std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      const auto at = static_cast<std::size_t>(indptr[d]);
      for (std::size_t i = 0; i < r.n; ++i) {
        indices[at + i] = row[i].first;
        values[at + i] = row[i].second;
      }
    }
  });
}

}  // namespace aftershock::sparse
