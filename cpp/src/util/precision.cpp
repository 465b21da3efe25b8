#include "aftershock/precision.hpp"

#include "aftershock/error.hpp"

namespace aftershock {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
    case Precision::kInt8: return "int8";
    case Precision::kRes1: return "res1";
    case Precision::kRes2: return "res2";
    case Precision::kRes4: return "res4";
  }
  return "unknown";
}

Precision parse_precision(const std::string& name, const char* what) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "fp16") return Precision::kFp16;
  if (name == "bf16") return Precision::kBf16;
  if (name == "int8") return Precision::kInt8;
  if (name == "res1") return Precision::kRes1;
  if (name == "res2") return Precision::kRes2;
  if (name == "res4") return Precision::kRes4;
  throw InvalidArgument(std::string(what) + ": expected one of 'fp32', 'fp16', 'bf16', 'int8', 'res1', 'res2', 'res4', got '" +
                        name + "'");
}

bool is_precision(std::uint64_t value) { return value <= static_cast<std::uint64_t>(Precision::kRes4); }

unsigned residual_bits(Precision p) {
  switch (p) {
    case Precision::kRes1: return 1;
    case Precision::kRes2: return 2;
    case Precision::kRes4: return 4;
    default: return 0;
  }
}

}  // namespace aftershock
