// The stored precision of vectors: one enum and one set of names for every engine
// (the sparse forward index stores fp32 or fp16 weights; the multi-vector store any of
// the four). The numeric values are written into files: never renumber them.
#pragma once

#include <cstdint>
#include <string>

namespace aftershock {

/// kFp32: exact float32. kFp16: IEEE binary16, round to nearest even (|x| < 65520).
/// kBf16: bfloat16, round to nearest even. kInt8: symmetric int8 with one float32 scale
/// per vector. kRes1 / kRes2 / kRes4 (multi-vector store only): PLAID-style residual
/// compression, each vector stored as its nearest centroid's id plus the residual
/// (vector - centroid) quantized to 1, 2 or 4 bits per dimension (cpp/src/maxsim/README.md).
/// What each engine does with them is documented where they are accepted.
enum class Precision : std::uint8_t { kFp32 = 0, kFp16 = 1, kBf16 = 2, kInt8 = 3, kRes1 = 4, kRes2 = 5, kRes4 = 6 };

/// Bits per dimension of a residual precision (1, 2, 4), 0 for the others.
unsigned residual_bits(Precision p);
inline bool is_residual(Precision p) { return residual_bits(p) != 0; }

/// "fp32" | "fp16" | "bf16" | "int8" | "res1" | "res2" | "res4".
const char* precision_name(Precision p);
/// Parses a precision name; throws InvalidArgument naming `what` and the choices.
Precision parse_precision(const std::string& name, const char* what = "precision");
/// Whether a stored byte names a Precision (for file loaders).
bool is_precision(std::uint64_t value);

}  // namespace aftershock
