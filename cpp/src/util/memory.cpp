#include "aftershock/util/memory.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "aftershock/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#include <unistd.h>
#define AFTERSHOCK_HAVE_POSIX_LIMITS 1
#endif

namespace aftershock {
namespace {

constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

void tighten(MemoryLimit& best, std::uint64_t bytes, const char* source) {
  if (bytes < best.bytes) best = {bytes, source};
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

#if defined(__linux__)
// The address space (field 1) and the data + stack pages (field 6) of /proc/self/statm.
void address_space_in_use(std::uint64_t& total, std::uint64_t& data) {
  total = data = 0;
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0, shared = 0, text = 0, lib = 0, data_pages = 0;
  if (!(f >> size >> resident >> shared >> text >> lib >> data_pages)) return;
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return;
  total = size * static_cast<std::uint64_t>(page);
  data = data_pages * static_cast<std::uint64_t>(page);
}

// The smallest `file` limit from `base`/`rel` up to `base` (a cgroup's own limit and its
// ancestors' all apply). When `rel` does not exist below `base` (a cgroup namespace shows
// the process its own cgroup as the root) only `base`/`file` is read.
std::optional<std::uint64_t> cgroup_limit(const std::string& base, std::string rel, const char* file) {
  std::optional<std::uint64_t> best;
  auto offer = [&](const std::string& dir) {
    const std::optional<std::string> text = read_text(dir + "/" + file);
    if (!text) return;
    const std::optional<std::uint64_t> v = parse_cgroup_limit(*text);
    if (v && (!best || *v < *best)) best = v;
  };
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  for (;;) {
    offer(base + rel);
    if (rel.empty()) break;
    const std::size_t slash = rel.rfind('/');
    rel = slash == std::string::npos ? std::string() : rel.substr(0, slash);
  }
  return best;
}

// The memory cgroup limit of this process (v2, then v1), nullopt when none applies.
std::optional<std::uint64_t> cgroup_memory_limit() {
  const std::optional<std::string> self = read_text("/proc/self/cgroup");
  std::optional<std::uint64_t> best;
  auto offer = [&](std::optional<std::uint64_t> v) {
    if (v && (!best || *v < *best)) best = v;
  };
  std::istringstream lines(self ? *self : std::string());
  std::string line;
  bool seen_v2 = false, seen_v1 = false;
  while (std::getline(lines, line)) {
    // "hierarchy-id:controllers:path"; v2 is "0::path".
    const std::size_t a = line.find(':');
    const std::size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      seen_v2 = true;
      offer(cgroup_limit("/sys/fs/cgroup", path, "memory.max"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      seen_v1 = true;
      offer(cgroup_limit("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes"));
    }
  }
  if (!seen_v2) offer(cgroup_limit("/sys/fs/cgroup", "", "memory.max"));
  if (!seen_v1) offer(cgroup_limit("/sys/fs/cgroup/memory", "", "memory.limit_in_bytes"));
  return best;
}
#endif

}  // namespace

std::optional<std::uint64_t> parse_cgroup_limit(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  std::size_t end = i;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == i || end - i > 20) return std::nullopt;  // "max", empty, or not a count
  for (std::size_t j = end; j < text.size(); ++j)
    if (text[j] != '\n' && text[j] != ' ' && text[j] != '\r' && text[j] != '\t') return std::nullopt;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str() + i, nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

MemoryLimit usable_memory() {
  MemoryLimit best{kUnlimited, "no limit found"};
#if defined(AFTERSHOCK_HAVE_POSIX_LIMITS)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) tighten(best, bytes_product({static_cast<std::uint64_t>(pages), static_cast<std::uint64_t>(page)}), "RAM");
  std::uint64_t in_use = 0, data_in_use = 0;
#if defined(__linux__)
  address_space_in_use(in_use, data_in_use);
#endif
  auto remaining = [](std::uint64_t limit, std::uint64_t used) { return limit > used ? limit - used : 0; };
  rlimit lim{};
  if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    tighten(best, remaining(static_cast<std::uint64_t>(lim.rlim_cur), in_use), "address-space limit, RLIMIT_AS");
#if defined(RLIMIT_DATA)
  if (getrlimit(RLIMIT_DATA, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    tighten(best, remaining(static_cast<std::uint64_t>(lim.rlim_cur), data_in_use), "data-size limit, RLIMIT_DATA");
#endif
#endif
#if defined(__linux__)
  if (const std::optional<std::uint64_t> cg = cgroup_memory_limit()) tighten(best, *cg, "cgroup memory limit");
#endif
  return best;
}

void check_memory_need(std::uint64_t bytes, const std::string& what, const std::string& advice) {
  if (bytes <= kUncheckedBytes) return;
  const MemoryLimit usable = usable_memory();
  if (bytes <= usable.bytes) return;
  throw InvalidArgument(what + " needs " + format_bytes(bytes) + ", more than the " + format_bytes(usable.bytes) +
                        " this process can use (" + usable.source + ")" + (advice.empty() ? "" : "; " + advice));
}

std::uint64_t bytes_product(std::initializer_list<std::uint64_t> factors) {
  std::uint64_t p = 1;
  for (std::uint64_t f : factors) {
    if (f == 0) return 0;
    if (p > kUnlimited / f) p = kUnlimited;
    else p *= f;
  }
  return p;
}

std::uint64_t bytes_sum(std::uint64_t a, std::uint64_t b) { return a > kUnlimited - b ? kUnlimited : a + b; }

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace aftershock
