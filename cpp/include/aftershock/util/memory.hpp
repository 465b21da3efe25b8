// How much memory this process can still obtain, and the one check that refuses a
// parameter-driven allocation before it is made.
//
// A vocabulary of 10^9 terms, an FDE of 2^24 floats per document or an n_docs x knn graph
// are each one parameter away from more memory than the machine has. Allocating them
// anyway ends in std::bad_alloc at best and, with overcommit, in the kernel's OOM killer
// taking the interpreter down. Callers state the bytes an allocation needs first; the check
// compares them with the tightest of the limits below and throws InvalidArgument (Python
// ValueError) naming the parameter, so the caller learns what to change.
//
// The limits (each ignored where absent or unlimited):
//  * physical RAM (sysconf), without swap;
//  * RLIMIT_AS and RLIMIT_DATA (soft), less the address space the process already holds;
//  * the memory cgroup: v2 memory.max (its own cgroup and every ancestor), v1
//    memory.limit_in_bytes.
// The numbers are upper bounds: a need below them may still fail if other processes hold
// the memory; the check exists for the needs no machine here could meet.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace aftershock {

/// The tightest limit and what it is ("RAM", "address-space limit (RLIMIT_AS)", ...).
struct MemoryLimit {
  std::uint64_t bytes = 0;
  std::string source;
};

/// The bytes this process can still allocate at most (see above). Reads /proc and /sys on
/// every call (a few microseconds): limits may change while the process runs.
MemoryLimit usable_memory();
inline std::uint64_t usable_memory_bytes() { return usable_memory().bytes; }

/// Throws InvalidArgument("<what> needs 7.5 GiB, more than the 4.0 GiB this process can use
/// (<limit>)<advice>") when `bytes` exceeds usable_memory_bytes(). `advice`, when not
/// empty, is appended after "; ". Requests up to kUncheckedBytes pass without a look:
/// reading the limits (files under /proc and /sys) costs about 0.2 ms, more than a whole
/// single-query search, and an allocation that small is not what the check guards against.
inline constexpr std::uint64_t kUncheckedBytes = std::uint64_t{4} << 20;
void check_memory_need(std::uint64_t bytes, const std::string& what, const std::string& advice = "");

/// The product of the factors, saturating at UINT64_MAX (a need that overflows 64 bits is
/// certainly refused, never wrapped to a small number).
std::uint64_t bytes_product(std::initializer_list<std::uint64_t> factors);
/// a + b, saturating at UINT64_MAX.
std::uint64_t bytes_sum(std::uint64_t a, std::uint64_t b);

/// "7.5 GiB", "12.0 MiB", "512 bytes": one decimal, binary units.
std::string format_bytes(std::uint64_t bytes);

/// A cgroup limit file's value: a byte count, or nullopt for "max", an empty or malformed
/// text. (v1 writes its "unlimited" as a huge count; the minimum over the limits ignores it.)
std::optional<std::uint64_t> parse_cgroup_limit(const std::string& text);

}  // namespace aftershock
