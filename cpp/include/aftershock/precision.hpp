// The stored precision of vectors: one enum and one set of names for every engine
// (the sparse forward index stores fp32 or fp16 weights; the multi-vector store any of
// the four). The numeric values are written into files: never renumber them.
#pragma once

#include <cstdint>
#include <string>

namespace aftershock {

/// kFp32: exact float32. kFp16: IEEE binary16, round to nearest even (|x| < 65520).
/// kBf16: bfloat16, round to nearest even. kInt8: symmetric int8 with one float32 scale
/// per vector. What each engine does with them is documented where they are accepted.
enum class Precision : std::uint8_t { kFp32 = 0, kFp16 = 1, kBf16 = 2, kInt8 = 3 };

/// "fp32" | "fp16" | "bf16" | "int8".
const char* precision_name(Precision p);
/// Parses a precision name; throws InvalidArgument naming `what` and the choices.
Precision parse_precision(const std::string& name, const char* what = "precision");
/// Whether a stored byte names a Precision (for file loaders).
bool is_precision(std::uint64_t value);

}  // namespace aftershock
