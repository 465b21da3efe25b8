// Serialization of SparseIndex (kind "SPRS") and the read-only accessors. A load checks
// every CRC, then every structural invariant, so a damaged or hostile file raises
// FormatError instead of reading out of bounds later.
#include <cmath>

#include "aftershock/error.hpp"
#include "aftershock/sparse/index.hpp"

namespace aftershock::sparse {
namespace {

constexpr char kKind[4] = {'S', 'P', 'R', 'S'};
// Layout 3: forward rows addressed by handle (FWDR/FWDH/PROW), summary entries as (u8 block
// low byte, u8 code) under paged components (CPAG). Older layouts are refused with a
// message to rebuild.
constexpr double kLayout = 3;

[[noreturn]] void corrupt(const std::string& what) { throw FormatError("aftershock file: sparse index " + what); }

template <class T>
void check_offsets(const std::vector<T>& off, std::size_t n, std::uint64_t limit, const char* what) {
  if (off.size() != n + 1 || off[0] != 0 || off[n] != limit) corrupt(std::string(what) + " offsets are inconsistent");
  for (std::size_t i = 0; i < n; ++i)
    if (off[i + 1] < off[i]) corrupt(std::string(what) + " offsets are not monotone");
}

}  // namespace

void SparseIndex::write(io::FileWriter& w, std::string& conf_text) const {
  io::Config c;
  c.set("n_docs", static_cast<double>(n_docs_));
  c.set("dim", static_cast<double>(dim_));
  c.set("wide_terms", wide_terms_ ? 1 : 0);
  c.set("knn", static_cast<double>(knn_));
  c.set("pruning", static_cast<double>(params_.pruning));
  c.set("n_postings", static_cast<double>(params_.n_postings));
  c.set("max_fraction", params_.max_fraction);
  c.set("centroid_fraction", params_.centroid_fraction);
  c.set("min_cluster_size", static_cast<double>(params_.min_cluster_size));
  c.set("summary_energy", params_.summary_energy);
  c.set("value_type", static_cast<double>(params_.value_type));
  c.set("seed", static_cast<double>(params_.seed));
  c.set("layout", kLayout);
  conf_text = c.serialize();
  w.add("CONF", io::DType::kBytes, conf_text.data(), conf_text.size());
  w.add_vector("FWDR", fwd_.words());
  w.add_vector("FWDH", fwd_.handles());
  w.add_vector("LPST", list_post_begin_);
  w.add_vector("LBLK", list_block_begin_);
  w.add_vector("PROW", post_rows_);
  w.add_vector("BPST", block_post_begin_);
  w.add_vector("BSCL", block_scale_);
  w.add_vector("LCMP", list_comp_begin_);
  w.add_vector("LENT", list_entry_begin_);
  w.add_vector("LCHK", list_check_begin_);
  w.add_vector("CT16", summ_comp_term16_);
  w.add_vector("CT32", summ_comp_term32_);
  w.add_vector("CPAG", summ_comp_page_);
  w.add_vector("CCNT", summ_comp_count_);
  w.add_vector("CCHK", summ_comp_check_);
  w.add_vector("EBLK", summ_entry_block_);
  w.add_vector("ECOD", summ_entry_code_);
  w.add_vector("KNNG", knn_graph_);
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

SparseIndex SparseIndex::load(const std::string& path) { return read(io::FileReader::from_file(path, kKind)); }

SparseIndex SparseIndex::from_bytes(std::string bytes) {
  return read(io::FileReader::from_bytes(std::move(bytes), kKind));
}

SparseIndex SparseIndex::read(const io::FileReader& r) {
  const auto conf_bytes = r.read_vector<char>("CONF");
  const io::Config c = io::Config::parse(std::string(conf_bytes.begin(), conf_bytes.end()));
  auto count = [&](const char* key, double max) {
    const double v = c.get(key);
    if (!(v >= 0 && v <= max) || v != std::floor(v)) corrupt(std::string("configuration '") + key + "' is invalid");
    return static_cast<std::size_t>(v);
  };
  SparseIndex ix;
  ix.n_docs_ = count("n_docs", 4294967294.0);
  ix.dim_ = count("dim", 4294967295.0);
  ix.wide_terms_ = count("wide_terms", 1) == 1;
  ix.knn_ = count("knn", 1e9);
  ix.params_.pruning = static_cast<Pruning>(count("pruning", 1));
  ix.params_.n_postings = count("n_postings", 1e15);
  ix.params_.max_fraction = c.get("max_fraction");
  ix.params_.centroid_fraction = c.get("centroid_fraction");
  ix.params_.min_cluster_size = count("min_cluster_size", 1e15);
  ix.params_.summary_energy = c.get("summary_energy");
  ix.params_.value_type = static_cast<ValueType>(count("value_type", 1));
  ix.params_.seed = static_cast<std::uint64_t>(c.get("seed"));
  ix.params_.knn = ix.knn_;
  if (!c.has("layout") || c.get("layout") != kLayout)
    corrupt("was written by another version of aftershock (forward-index layout); rebuild it");
  ix.fwd_ = ForwardIndex::from_parts(ix.wide_terms_, ix.params_.value_type, r.read_vector<std::uint64_t>("FWDR"),
                                     r.read_vector<RowHandle>("FWDH"));
  ix.list_post_begin_ = r.read_vector<std::uint64_t>("LPST");
  ix.list_block_begin_ = r.read_vector<std::uint64_t>("LBLK");
  ix.post_rows_ = r.read_vector<RowHandle>("PROW");
  ix.block_post_begin_ = r.read_vector<std::uint32_t>("BPST");
  ix.block_scale_ = r.read_vector<float>("BSCL");
  ix.list_comp_begin_ = r.read_vector<std::uint64_t>("LCMP");
  ix.list_entry_begin_ = r.read_vector<std::uint64_t>("LENT");
  ix.list_check_begin_ = r.read_vector<std::uint64_t>("LCHK");
  ix.summ_comp_term16_ = r.read_vector<std::uint16_t>("CT16");
  ix.summ_comp_term32_ = r.read_vector<std::uint32_t>("CT32");
  ix.summ_comp_page_ = r.read_vector<std::uint8_t>("CPAG");
  ix.summ_comp_count_ = r.read_vector<std::uint8_t>("CCNT");
  ix.summ_comp_check_ = r.read_vector<std::uint32_t>("CCHK");
  ix.summ_entry_block_ = r.read_vector<std::uint8_t>("EBLK");
  ix.summ_entry_code_ = r.read_vector<std::uint8_t>("ECOD");
  ix.knn_graph_ = r.read_vector<DocId>("KNNG");
  ix.check_invariants();
  return ix;
}

void SparseIndex::check_invariants() const {
  if (params_.value_type != ValueType::kFloat16 && params_.value_type != ValueType::kFloat32)
    corrupt("value type is invalid");
  if (const std::string why = fwd_.check(n_docs_, dim_); !why.empty()) corrupt(why);
  check_offsets(list_post_begin_, dim_, post_rows_.size(), "posting list");
  check_offsets(list_block_begin_, dim_, block_scale_.size(), "block");
  const std::size_t n_comps = summ_comp_count_.size();
  if ((wide_terms_ ? summ_comp_term32_.size() : summ_comp_term16_.size()) != n_comps ||
      (wide_terms_ ? summ_comp_term16_.size() : summ_comp_term32_.size()) != 0)
    corrupt("summary component terms have the wrong length");
  check_offsets(list_comp_begin_, dim_, n_comps, "summary component");
  check_offsets(list_entry_begin_, dim_, summ_entry_block_.size(), "summary entry");
  check_offsets(list_check_begin_, dim_, summ_comp_check_.size(), "summary checkpoint");
  if (block_post_begin_.size() != block_scale_.size() || summ_entry_code_.size() != summ_entry_block_.size() ||
      summ_comp_page_.size() != n_comps)
    corrupt("section lengths disagree");
  for (RowHandle h : post_rows_)
    if (!fwd_.is_row(h)) corrupt("posting does not name a document");
  for (float s : block_scale_)
    if (!std::isfinite(s) || s < 0.0f) corrupt("block scale is invalid");
  auto comp_term = [&](std::size_t c) -> std::size_t { return wide_terms_ ? summ_comp_term32_[c] : summ_comp_term16_[c]; };
  for (std::size_t t = 0; t < dim_; ++t) {
    const std::size_t b0 = list_block_begin_[t], b1 = list_block_begin_[t + 1];
    const std::size_t len = list_post_begin_[t + 1] - list_post_begin_[t];
    if ((b1 == b0) != (len == 0) || b1 - b0 > 65535) corrupt("list has an invalid block count");
    for (std::size_t b = b0; b < b1; ++b) {
      const std::size_t end = b + 1 < b1 ? block_post_begin_[b + 1] : len;
      if ((b == b0 && block_post_begin_[b] != 0) || block_post_begin_[b] > end) corrupt("block offsets are invalid");
    }
    const std::size_t c0 = list_comp_begin_[t], c1 = list_comp_begin_[t + 1];
    const std::size_t n_checks = (c1 - c0 + kSummaryCheckpointStride - 1) / kSummaryCheckpointStride;
    if (list_check_begin_[t + 1] - list_check_begin_[t] != n_checks) corrupt("summary checkpoints are invalid");
    std::size_t entries = 0;
    for (std::size_t c = c0; c < c1; ++c) {
      if ((c - c0) % kSummaryCheckpointStride == 0 &&
          summ_comp_check_[list_check_begin_[t] + (c - c0) / kSummaryCheckpointStride] != entries)
        corrupt("summary checkpoints are invalid");
      if (comp_term(c) >= dim_ || (c > c0 && comp_term(c) < comp_term(c - 1)) || summ_comp_count_[c] == 0)
        corrupt("summary components are invalid");
      const std::size_t first = list_entry_begin_[t] + entries;
      entries += summ_comp_count_[c];
      if (entries > list_entry_begin_[t + 1] - list_entry_begin_[t]) corrupt("summary entry counts are invalid");
      for (std::size_t e = first; e < list_entry_begin_[t] + entries; ++e)
        if (256 * std::size_t{summ_comp_page_[c]} + summ_entry_block_[e] >= b1 - b0)
          corrupt("summary entry names a block out of range");
    }
    if (entries != list_entry_begin_[t + 1] - list_entry_begin_[t]) corrupt("summary entry counts are invalid");
  }
  if (knn_graph_.size() != n_docs_ * knn_) corrupt("kNN graph has the wrong size");
  for (DocId d : knn_graph_)
    if (d >= n_docs_) corrupt("kNN graph holds a document id out of range");
}

std::size_t SparseIndex::memory_bytes() const {
  auto bytes = [](const auto& v) { return v.size() * sizeof(v[0]); };
  return fwd_.memory_bytes() + bytes(list_post_begin_) + bytes(list_block_begin_) + bytes(post_rows_) +
         bytes(block_post_begin_) + bytes(block_scale_) + bytes(list_comp_begin_) + bytes(list_entry_begin_) +
         bytes(list_check_begin_) + bytes(summ_comp_term16_) + bytes(summ_comp_term32_) + bytes(summ_comp_page_) +
         bytes(summ_comp_count_) +
         bytes(summ_comp_check_) + bytes(summ_entry_block_) + bytes(summ_entry_code_) +
         bytes(knn_graph_);
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
  std::vector<std::pair<TermId, float>> out;
  const float scale = block_scale_[list_block_begin_[t] + b];
  std::size_t e = list_entry_begin_[t];
  for (std::size_t c = list_comp_begin_[t]; c < list_comp_begin_[t + 1]; ++c) {
    const TermId u = wide_terms_ ? summ_comp_term32_[c] : summ_comp_term16_[c];
    for (std::size_t end = e + summ_comp_count_[c]; e < end; ++e)
      if (256 * std::size_t{summ_comp_page_[c]} + summ_entry_block_[e] == b)
        out.emplace_back(u, scale * summ_entry_code_[e]);
  }
  return out;
}

std::vector<std::pair<TermId, float>> SparseIndex::document(DocId d) const {
  if (d >= n_docs_) throw std::out_of_range("doc: " + std::to_string(d) + " is out of range [0, " + std::to_string(n_docs_) + ")");
  const ForwardIndex::Row r = fwd_.row(fwd_.handle(d));
  std::vector<std::pair<TermId, float>> out(r.n);
  for (std::size_t i = 0; i < r.n; ++i) out[i] = fwd_.entry(r, i);
  return out;
}

}  // namespace aftershock::sparse
