// Exact late-interaction (ColBERT MaxSim) scoring.
//
//   score(q, d) = sum_{i < m} max_{j < n} <q_i, d_j>,  accumulated in float32.
//
// q is a [m, dim] float32 query (m >= 1 tokens), d a [n, dim] document (n >= 1 tokens)
// stored in one of four precisions. The kernels are register-blocked: a tile of query
// tokens x document tokens lives in vector registers, the running max too, and documents
// stream through once; no similarity matrix is ever written. See cpp/src/maxsim/README.md
// for the score definition per precision and the error bounds the tests enforce.
//
// Kernels dispatch per call on simd::active_level(): one kernel table per level of the
// registry (aftershock/simd/level.hpp); the avx512 table also holds the AVX512_BF16 /
// AVX512_VNNI kernels when the registry reports those extensions supported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aftershock/precision.hpp"

namespace aftershock::maxsim {

/// Storage precision of document token vectors (aftershock/precision.hpp), as MaxSim uses it:
///   kFp32: exact float32.
///   kFp16: IEEE binary16 (round to nearest even); values must satisfy |x| < 65520.
///   kBf16: bfloat16 (round to nearest even). The query is rounded to bf16 as well, on
///          every SIMD level, so that the score is one well-defined number (vdpbf16ps
///          takes bf16 on both sides).
///   kInt8: symmetric int8 with one float32 scale per token (s = max|x| / 127); the query
///          is quantized the same way per token; the integer dot products are exact, so
///          int8 scores are bit-identical across SIMD levels.
///   kRes1 / kRes2 / kRes4: a centroid code + the residual quantized to 1 / 2 / 4 bits
///          per dimension (multi-vector store only; cpp/src/maxsim/residual_codec.hpp);
///          the query stays float32 and is scored against the decoded fp32 tokens.
using aftershock::Precision;
using aftershock::parse_precision;
using aftershock::precision_name;

/// Document tokens are stored in panels of kPanelTokens tokens (the layout and its codec:
/// cpp/src/maxsim/panel_codec.hpp).
constexpr std::size_t kPanelTokens = 16;
/// Largest dim accepted for int8 storage (keeps every int32 dot product exact).
constexpr std::size_t kMaxInt8Dim = 65536;

/// A query converted once for documents of one precision: fp32 as given (copied),
/// bf16 pairs, or per-token int8 codes + scales. Immutable after construction, so one
/// PreparedQuery can be used from many threads at once.
class PreparedQuery {
 public:
  PreparedQuery() = default;
  /// query: row-major [m, dim] float32. Throws InvalidArgument if m == 0, dim == 0,
  /// a value is NaN/inf, or (bf16) a value rounds to infinity in bf16, or (int8) dim
  /// > kMaxInt8Dim. O(m * dim).
  PreparedQuery(const float* query, std::size_t m, std::size_t dim, Precision precision);
  /// The same conversion without the checks, for internal callers that validated the
  /// whole batch once (util/ragged.hpp). PRECONDITION: m >= 1, dim >= 1, (int8) dim <=
  /// kMaxInt8Dim, every value finite and (bf16) below kBf16OverflowBits (util/half.hpp).
  static PreparedQuery unchecked(const float* query, std::size_t m, std::size_t dim, Precision precision);

  std::size_t m() const { return m_; }
  std::size_t dim() const { return dim_; }
  Precision precision() const { return precision_; }

  // Kernel operands (layouts documented in cpp/src/maxsim/README.md).
  const float* f32() const { return f32_.data(); }            // [m, dim] (fp32, fp16); [m, dim2*2] (bf16, rounded)
  const std::uint32_t* words() const { return words_.data(); }  // bf16 pairs [m, dim2] / u8 quads [m, dim4]
  const float* int_values() const { return f32_.data(); }     // int8: codes as float [m, dim4*4]
  const float* token_scales() const { return scales_.data(); }  // int8: [m]

 private:
  void convert(const float* query);

  std::size_t m_ = 0;
  std::size_t dim_ = 0;
  Precision precision_ = Precision::kFp32;
  std::vector<float> f32_;
  std::vector<std::uint32_t> words_;
  std::vector<float> scales_;
};

/// The value checks of the PreparedQuery constructor over a batch of query token rows
/// q[rows, dim]: every value finite and, for bf16, below kBf16OverflowBits. Throws
/// InvalidArgument naming `what` and the first bad value (util/ragged.hpp), whatever
/// num_threads (0 = all cores). O(rows * dim).
void check_query_values(const float* q, std::size_t rows, std::size_t dim, Precision precision, const char* what,
                        std::size_t num_threads);

/// Exact MaxSim of one float32 query [m, dim] against one float32 document [n, dim]
/// (both row-major), with the active SIMD kernels. Packs the document into a temporary
/// panel buffer (O(n * dim) copy): for many documents use multivector::MultiVectorStore.
/// Throws InvalidArgument for m == 0, n == 0, dim == 0 or non-finite values.
/// Thread-safe.
float maxsim_f32(const float* query, std::size_t m, const float* doc, std::size_t n, std::size_t dim);

/// Plain float64 MaxSim (obvious loops, no SIMD): the reference for tests and tools.
/// No validation beyond pointers being valid for the given shapes.
double maxsim_reference_f64(const float* query, std::size_t m, const float* doc, std::size_t n,
                            std::size_t dim);

/// Name of the kernel family a store of this precision uses at the active level, e.g.
/// "avx512_bf16", "avx512_vnni", "avx512", "avx2", "scalar" (for simd_info / benchmarks).
const char* active_kernel_name(Precision precision);

/// Tests and benchmarks: allow (default) or forbid the AVX512_BF16 / AVX512_VNNI kernels
/// at the avx512 level, to exercise the plain AVX-512 fallbacks on CPUs that have them.
/// Process-wide; do not call while other threads are scoring.
void set_kernel_extensions(bool allow_bf16_dot, bool allow_vnni);
/// Benchmarks: turn the kernels' software prefetch of the next panels / document on
/// (default) or off. Process-wide; results are identical either way.
void set_kernel_prefetch(bool enabled);

}  // namespace aftershock::maxsim
