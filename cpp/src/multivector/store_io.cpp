// MultiVectorStore serialization: its sections (standalone files, bytes, or embedded in
// another object's file), with every value checked on load. The format is unchanged from
// aftershock 0.1 (layout version 1): files written before still load.
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../maxsim/panel_codec.hpp"
#include "../maxsim/residual_codec.hpp"
#include "aftershock/multivector/config.hpp"
#include "aftershock/error.hpp"
#include "aftershock/multivector/store.hpp"
#include "aftershock/util/ragged.hpp"

namespace aftershock::multivector {
namespace {

constexpr std::size_t kP = maxsim::kPanelTokens;
constexpr std::size_t kMetaCount = 6;
constexpr char kTagMeta[4] = {'M', 'V', 'C', 'F'};
constexpr char kTagOffsets[4] = {'M', 'V', 'O', 'F'};
constexpr char kTagData[4] = {'M', 'V', 'D', 'A'};
constexpr char kTagScales[4] = {'M', 'V', 'S', 'C'};
constexpr char kTagCentroids[4] = {'M', 'V', 'C', 'T'};
constexpr char kTagCodes[4] = {'M', 'V', 'C', 'D'};
constexpr char kTagCutoffs[4] = {'M', 'V', 'C', 'U'};
constexpr char kTagWeights[4] = {'M', 'V', 'W', 'T'};
constexpr char kTagNorm[4] = {'M', 'V', 'N', 'M'};
constexpr char kTagBias[4] = {'M', 'V', 'B', 'I'};

io::DType data_dtype(Precision p) {
  switch (p) {
    case Precision::kFp32: return io::DType::kF32;
    case Precision::kInt8: return io::DType::kI8;
    case Precision::kRes1:
    case Precision::kRes2:
    case Precision::kRes4: return io::DType::kU8;
    default: return io::DType::kU16;
  }
}

[[noreturn]] void store_format_error(const std::string& why) { throw FormatError("multi-vector store: " + why); }

// Section `tag` (count elements of T): read into an aligned buffer, or on a mapped reader a
// view into the mapping (its content is not read: check_content() and the CRCs of
// verify_all() check it later).
template <class T>
PanelBuffer read_aligned(const io::FileReader& reader, const char tag[4], std::size_t count) {
  if (reader.mapping()) {
    const Array<T> a = reader.view<T>(tag, static_cast<long long>(count));
    return PanelBuffer::view(reinterpret_cast<const unsigned char*>(a.data()), a.size_bytes(), reader.mapping());
  }
  reader.expect_elements<T>(tag, count);  // before allocating
  AlignedBuffer buffer(count * sizeof(T));
  reader.read_into(tag, static_cast<T*>(static_cast<void*>(buffer.data())), count);
  return buffer;
}

// int8: the bias of every lane, -128 * the sum of its codes (what restore_invariants
// computes; a valid file's padding dimensions are zero, so they add nothing).
AlignedBuffer int8_bias(const maxsim::PanelLayout& layout, const unsigned char* panels, std::size_t n_panels) {
  AlignedBuffer bias(n_panels * kP * sizeof(std::int32_t));
  auto* out = bias.as<std::int32_t>();
  for (std::size_t p = 0; p < n_panels; ++p) {
    const auto* words = reinterpret_cast<const std::uint32_t*>(panels + p * layout.panel_bytes);
    for (std::size_t t = 0; t < kP; ++t) {
      std::int32_t sum = 0;
      for (std::size_t r = 0; r < layout.rows; ++r)
        for (int b = 0; b < 4; ++b) sum += static_cast<std::int8_t>((words[r * kP + t] >> (8 * b)) & 0xFFu);
      out[p * kP + t] = -128 * sum;
    }
  }
  return bias;
}

}  // namespace

static_assert(sizeof(double) == sizeof(std::uint64_t), "MVNM holds a float64 as u64 bits");

void MultiVectorStore::save_sections(io::FileWriter& writer) const {
  writer.add_vector(kTagMeta, meta_);
  writer.add_vector(kTagOffsets, offsets_);
  writer.add(kTagData, data_dtype(precision_), data_.data(), data_.size());
  if (precision_ == Precision::kInt8) writer.add(kTagScales, io::DType::kF32, scales_.data(), scales_.size());
  writer.add(kTagNorm, io::DType::kU64, &max_token_norm_, sizeof(double));
  if (precision_ == Precision::kInt8) writer.add(kTagBias, io::DType::kBytes, bias_.data(), bias_.size());
  if (is_residual(precision_)) {
    writer.add_vector(kTagCentroids, centroids_t_);
    writer.add(kTagCodes, io::DType::kU16, codes_.data(), codes_.size());
    writer.add_vector(kTagCutoffs, cutoffs_);
    writer.add_vector(kTagWeights, weights_);
  }
}

MultiVectorStore MultiVectorStore::load_sections(const io::FileReader& reader) {
  const std::vector<std::uint64_t> meta = reader.read_vector<std::uint64_t>(kTagMeta, kMetaCount);
  if (meta[0] != kLayoutVersion)
    store_format_error("layout version " + std::to_string(meta[0]) + "; this build reads " +
                       std::to_string(kLayoutVersion));
  if (!is_precision(meta[1])) store_format_error("unknown precision code " + std::to_string(meta[1]));
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
  const maxsim::PanelLayout layout = maxsim::PanelLayout::of(s.precision_, s.dim_);
  const std::size_t n_panels = s.n_panels();
  const std::size_t lanes = n_panels * kP;
  if (lanes > (std::uint64_t{1} << 60) / (layout.rows * 4)) store_format_error("token data too large");
  const std::size_t elements = lanes * layout.rows;  // (row, lane) elements of lane_bytes each
  const bool mapped = reader.mapping() != nullptr;
  // Mapped: the largest token norm as stored (when the file has it), so the panels are not
  // read at open; check_content() recomputes it.
  auto find_norm = [&] {
    if (mapped && reader.has(kTagNorm)) {
      const std::uint64_t bits = reader.read_scalar<std::uint64_t>(kTagNorm);
      std::memcpy(&s.max_token_norm_, &bits, sizeof(double));
      if (!(s.max_token_norm_ >= 0.0) || !std::isfinite(s.max_token_norm_))
        store_format_error("bad largest token norm");
    } else {
      s.find_max_token_norm(0);
    }
  };
  if (is_residual(s.precision_)) {
    load_residual(reader, s);
    find_norm();
    return s;
  }
  switch (s.precision_) {
    case Precision::kFp32: s.data_ = read_aligned<float>(reader, kTagData, elements); break;
    case Precision::kFp16: s.data_ = read_aligned<std::uint16_t>(reader, kTagData, elements); break;
    case Precision::kBf16: s.data_ = read_aligned<std::uint16_t>(reader, kTagData, elements * 2); break;
    case Precision::kInt8: s.data_ = read_aligned<std::int8_t>(reader, kTagData, elements * 4); break;
    default: break;
  }
  if (s.precision_ == Precision::kInt8) s.scales_ = read_aligned<float>(reader, kTagScales, lanes);
  if (mapped) {
    if (s.precision_ == Precision::kInt8)
      s.bias_ = reader.has(kTagBias) ? read_aligned<std::int32_t>(reader, kTagBias, lanes)
                                     : PanelBuffer(int8_bias(layout, s.data_.data(), n_panels));
    find_norm();
    return s;
  }
  if (s.precision_ == Precision::kInt8) s.bias_ = AlignedBuffer(lanes * sizeof(std::int32_t));
  if (const std::string why = maxsim::stored_values_error(layout, s.data_.data(), n_panels, s.scales_.as<float>());
      !why.empty())
    store_format_error(why);
  // Re-establish the layout invariants the kernels rely on, whatever the file holds.
  for (std::size_t d = 0; d < s.n_docs_; ++d) {
    const std::size_t p0 = s.panel_start_[d];
    maxsim::restore_invariants(layout, s.data_.mutable_data() + p0 * s.panel_bytes_,
                               s.scales_.size() ? s.scales_.mutable_as<float>() + p0 * kP : nullptr,
                               s.bias_.size() ? s.bias_.mutable_as<std::int32_t>() + p0 * kP : nullptr,
                               static_cast<std::size_t>(s.offsets_[d + 1] - s.offsets_[d]));
  }
  s.find_max_token_norm(0);
  return s;
}

void MultiVectorStore::load_residual(const io::FileReader& reader, MultiVectorStore& s) {
  const unsigned bits = residual_bits(s.precision_);
  const std::size_t n_panels = s.n_panels();
  const std::size_t dim = s.dim_;
  s.data_ = read_aligned<std::uint8_t>(reader, kTagData, n_panels * s.panel_bytes_);
  s.codes_ = read_aligned<std::uint16_t>(reader, kTagCodes, n_panels * kP);
  s.centroids_t_ = reader.read_vector<float>(kTagCentroids);
  if (s.centroids_t_.size() % dim != 0) store_format_error("centroid section is not a multiple of dim");
  s.n_centroids_ = s.centroids_t_.size() / dim;
  s.centroids_.assign(s.centroids_t_.size(), 0.0f);
  for (std::size_t k = 0; k < dim; ++k)
    for (std::size_t c = 0; c < s.n_centroids_; ++c) s.centroids_[c * dim + k] = s.centroids_t_[k * s.n_centroids_ + c];
  if (s.n_centroids_ > kMaxCentroids || (s.n_centroids_ == 0 && s.total_tokens_ > 0))
    store_format_error("bad centroid count " + std::to_string(s.n_centroids_));
  const std::size_t n_buckets = std::size_t{1} << bits;
  const bool empty = s.total_tokens_ == 0;
  s.cutoffs_ = reader.read_vector<float>(kTagCutoffs, static_cast<long long>(empty ? 0 : dim * (n_buckets - 1)));
  s.weights_ = reader.read_vector<float>(kTagWeights, static_cast<long long>(empty ? 0 : dim * n_buckets));
  if (empty) return;
  s.table_ = maxsim::residual_table(s.weights_, dim, bits);
  const maxsim::ResidualCodebook cb = s.codebook();
  if (reader.mapping()) {
    // The codebook's own values (cutoffs, weights) are checked now: they are small. The
    // codes and padding are the mapped sections' content: check_content().
    if (const std::string why = maxsim::residual_values_error(cb, s.weights_, nullptr, 0); !why.empty())
      store_format_error(why);
    return;
  }
  if (const std::string why = maxsim::residual_values_error(cb, s.weights_, s.codes_.as<std::uint16_t>(), n_panels * kP);
      !why.empty())
    store_format_error(why);
  for (std::size_t d = 0; d < s.n_docs_; ++d) {
    const std::size_t p0 = s.panel_start_[d];
    maxsim::restore_residual_padding(bits, dim, s.data_.mutable_data() + p0 * s.panel_bytes_,
                                     s.codes_.mutable_as<std::uint16_t>() + p0 * kP,
                                     static_cast<std::size_t>(s.offsets_[d + 1] - s.offsets_[d]));
  }
}

void MultiVectorStore::save(const std::string& path) const {
  io::FileWriter writer(kKind);
  save_sections(writer);
  writer.write(path);
}

void MultiVectorStore::check_content() const {
  if (!data_.is_view() || n_docs_ == 0) return;
  const std::size_t n_panels = this->n_panels();
  if (is_residual(precision_)) {
    const unsigned bits = residual_bits(precision_);
    const maxsim::ResidualCodebook cb = codebook();
    if (const std::string why = maxsim::residual_values_error(cb, weights_, codes_.as<std::uint16_t>(), n_panels * kP);
        !why.empty())
      store_format_error(why);
    // Padding lanes of each document's last panel: what restore_residual_padding makes them.
    std::vector<unsigned char> panel(panel_bytes_);
    std::uint16_t codes[kP];
    for (std::size_t d = 0; d < n_docs_; ++d) {
      const std::size_t last = panel_start_[d + 1] - 1;
      const auto n = static_cast<std::size_t>(offsets_[d + 1] - offsets_[d]);
      const std::size_t used = n - (last - panel_start_[d]) * kP;
      std::memcpy(panel.data(), data_.data() + last * panel_bytes_, panel_bytes_);
      std::memcpy(codes, codes_.as<std::uint16_t>() + last * kP, sizeof codes);
      maxsim::restore_residual_padding(bits, dim_, panel.data(), codes, used);
      if (std::memcmp(panel.data(), data_.data() + last * panel_bytes_, panel_bytes_) != 0 ||
          std::memcmp(codes, codes_.as<std::uint16_t>() + last * kP, sizeof codes) != 0)
        store_format_error("document " + std::to_string(d) + ": padding lanes are not copies of its last token");
    }
  } else {
    const maxsim::PanelLayout layout = maxsim::PanelLayout::of(precision_, dim_);
    if (const std::string why = maxsim::stored_values_error(layout, data_.data(), n_panels, scales_.as<float>());
        !why.empty())
      store_format_error(why);
    // Padding (dimensions and lanes) and the int8 bias: what restore_invariants makes them,
    // checked on a copy of each document's panels.
    std::vector<unsigned char> panels;
    std::vector<float> scales;
    std::vector<std::int32_t> bias;
    const bool int8 = precision_ == Precision::kInt8;
    for (std::size_t d = 0; d < n_docs_; ++d) {
      const std::size_t p0 = panel_start_[d], np = panel_start_[d + 1] - p0;
      panels.assign(data_.data() + p0 * panel_bytes_, data_.data() + (p0 + np) * panel_bytes_);
      if (int8) {
        scales.assign(scales_.as<float>() + p0 * kP, scales_.as<float>() + (p0 + np) * kP);
        bias.assign(np * kP, 0);
      }
      maxsim::restore_invariants(layout, panels.data(), int8 ? scales.data() : nullptr, int8 ? bias.data() : nullptr,
                                 static_cast<std::size_t>(offsets_[d + 1] - offsets_[d]));
      if (std::memcmp(panels.data(), data_.data() + p0 * panel_bytes_, panels.size()) != 0 ||
          (int8 && (std::memcmp(scales.data(), scales_.as<float>() + p0 * kP, scales.size() * sizeof(float)) != 0 ||
                    std::memcmp(bias.data(), bias_.as<std::int32_t>() + p0 * kP,
                                bias.size() * sizeof(std::int32_t)) != 0)))
        store_format_error("document " + std::to_string(d) +
                           ": padding or int8 bias differs from what its tokens give");
    }
  }
  if (compute_max_token_norm(0) != max_token_norm_)
    store_format_error("the stored largest token norm differs from the tokens'");
}

void MultiVectorStore::advise_sections(const io::FileReader& reader) {
  // Search and rerank read the panels (and codes, scales, bias) of one candidate at a time.
  for (const char* tag : {kTagData, kTagCodes, kTagScales, kTagBias}) reader.advise(tag, io::Advice::kRandom);
}

MultiVectorStore MultiVectorStore::load(const std::string& path, const LoadOptions& options) {
  if (!options.mmap) {
    const io::FileReader reader = io::FileReader::from_file(path, kKind);
    MultiVectorStore store = load_sections(reader);
    reader.verify_unread();
    return store;
  }
  auto reader = std::make_shared<const io::FileReader>(io::FileReader::map_file(path, kKind, options.populate));
  MultiVectorStore store = load_sections(*reader);
  store.reader_ = reader;
  advise_sections(*reader);
  if (options.verify) store.verify();
  return store;
}

void MultiVectorStore::verify() const {
  if (!reader_) return;
  reader_->verify_all();
  check_content();
  advise_sections(*reader_);
}

std::size_t MultiVectorStore::mapped_bytes() const { return reader_ ? reader_->mapping()->size() : 0; }

std::size_t MultiVectorStore::resident_bytes() const { return reader_ ? reader_->mapping()->resident_bytes() : 0; }

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
