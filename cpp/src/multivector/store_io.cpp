// MultiVectorStore serialization: its sections (standalone files, bytes, or embedded in
// another object's file), with every value checked on load. The format is unchanged from
// aftershock 0.1 (layout version 1): files written before still load.
#include <limits>
#include <string>

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

template <class T>
AlignedBuffer read_aligned(const io::FileReader& reader, const char tag[4], std::size_t count) {
  reader.expect_elements<T>(tag, count);  // before allocating
  AlignedBuffer buffer(count * sizeof(T));
  reader.read_into(tag, static_cast<T*>(static_cast<void*>(buffer.data())), count);
  return buffer;
}

}  // namespace

void MultiVectorStore::save_sections(io::FileWriter& writer) const {
  writer.add_vector(kTagMeta, meta_);
  writer.add_vector(kTagOffsets, offsets_);
  writer.add(kTagData, data_dtype(precision_), data_.data(), data_.size());
  if (precision_ == Precision::kInt8) writer.add(kTagScales, io::DType::kF32, scales_.data(), scales_.size());
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
  if (is_residual(s.precision_)) {
    load_residual(reader, s);
    s.find_max_token_norm(0);
    return s;
  }
  switch (s.precision_) {
    case Precision::kFp32: s.data_ = read_aligned<float>(reader, kTagData, elements); break;
    case Precision::kFp16: s.data_ = read_aligned<std::uint16_t>(reader, kTagData, elements); break;
    case Precision::kBf16: s.data_ = read_aligned<std::uint16_t>(reader, kTagData, elements * 2); break;
    case Precision::kInt8: s.data_ = read_aligned<std::int8_t>(reader, kTagData, elements * 4); break;
    default: break;
  }
  if (s.precision_ == Precision::kInt8) {
    s.scales_ = read_aligned<float>(reader, kTagScales, lanes);
    s.bias_ = AlignedBuffer(lanes * sizeof(std::int32_t));
  }
  if (const std::string why = maxsim::stored_values_error(layout, s.data_.data(), n_panels, s.scales_.as<float>());
      !why.empty())
    store_format_error(why);
  // Re-establish the layout invariants the kernels rely on, whatever the file holds.
  for (std::size_t d = 0; d < s.n_docs_; ++d) {
    const std::size_t p0 = s.panel_start_[d];
    maxsim::restore_invariants(layout, s.data_.data() + p0 * s.panel_bytes_,
                               s.scales_.size() ? s.scales_.as<float>() + p0 * kP : nullptr,
                               s.bias_.size() ? s.bias_.as<std::int32_t>() + p0 * kP : nullptr,
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
  maxsim::ResidualCodebook cb;
  cb.bits = bits;
  cb.dim = dim;
  cb.n_centroids = s.n_centroids_;
  cb.centroids_t = s.centroids_t_.data();
  cb.cutoffs = s.cutoffs_.data();
  cb.table = s.table_.data();
  if (const std::string why = maxsim::residual_values_error(cb, s.weights_, s.codes_.as<std::uint16_t>(), n_panels * kP);
      !why.empty())
    store_format_error(why);
  for (std::size_t d = 0; d < s.n_docs_; ++d) {
    const std::size_t p0 = s.panel_start_[d];
    maxsim::restore_residual_padding(bits, dim, s.data_.data() + p0 * s.panel_bytes_,
                                     s.codes_.as<std::uint16_t>() + p0 * kP,
                                     static_cast<std::size_t>(s.offsets_[d + 1] - s.offsets_[d]));
  }
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
