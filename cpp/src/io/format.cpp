#include "aftershock/io/format.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <utility>

namespace aftershock::io {
namespace {

constexpr char kMagic[8] = {'A', 'F', 'T', 'S', 'H', 'O', 'C', 'K'};
constexpr std::uint32_t kEndianTag = 0x01020304u;

template <class T>
void put(unsigned char* dst, std::size_t offset, T value) {
  std::memcpy(dst + offset, &value, sizeof(T));
}
template <class T>
T get(const char* src, std::size_t offset) {
  T value;
  std::memcpy(&value, src + offset, sizeof(T));
  return value;
}

std::size_t align_up(std::size_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

std::string tag_string(const char tag[4]) { return std::string(tag, 4); }

[[noreturn]] void format_error(const std::string& what) { throw FormatError("aftershock file: " + what); }

}  // namespace

FileWriter::FileWriter(const char kind[4]) { std::memcpy(kind_, kind, 4); }

void FileWriter::add(const char tag[4], DType dtype, const void* data, std::size_t size_bytes) {
  Section s;
  std::memcpy(s.tag, tag, 4);
  s.dtype = dtype;
  s.data = data;
  s.size = size_bytes;
  sections_.push_back(s);
}

void FileWriter::emit(const std::function<void(const void*, std::size_t)>& sink) const {
  const std::size_t table_offset = kHeaderBytes;
  std::size_t offset = align_up(table_offset + sections_.size() * kSectionEntryBytes);
  std::vector<unsigned char> table(sections_.size() * kSectionEntryBytes, 0);
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < sections_.size(); ++i) {
    const Section& s = sections_[i];
    unsigned char* e = table.data() + i * kSectionEntryBytes;
    std::memcpy(e, s.tag, 4);
    put<std::uint16_t>(e, 4, static_cast<std::uint16_t>(s.dtype));
    put<std::uint64_t>(e, 8, offset);
    put<std::uint64_t>(e, 16, s.size);
    put<std::uint32_t>(e, 24, crc32c(s.data, s.size));
    offsets.push_back(offset);
    offset = align_up(offset + s.size);
  }
  const std::size_t file_size = offset;

  unsigned char header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, 8);
  put<std::uint16_t>(header, 8, kFormatMajor);
  put<std::uint16_t>(header, 10, kFormatMinor);
  put<std::uint32_t>(header, 12, kEndianTag);
  std::memcpy(header + 16, kind_, 4);
  put<std::uint32_t>(header, 20, static_cast<std::uint32_t>(sections_.size()));
  put<std::uint64_t>(header, 24, table_offset);
  put<std::uint64_t>(header, 32, file_size);
  // The table's CRC is folded into the header CRC, so a damaged table is caught first.
  put<std::uint32_t>(header, 40, crc32c(table.data(), table.size()));
  put<std::uint32_t>(header, 60, crc32c(header, 60));

  static const char zeros[kAlignment] = {};
  std::size_t written = 0;
  auto pad_to = [&](std::size_t target) {
    while (written < target) {
      std::size_t n = std::min(target - written, kAlignment);
      sink(zeros, n);
      written += n;
    }
  };
  sink(header, kHeaderBytes);
  written += kHeaderBytes;
  sink(table.data(), table.size());
  written += table.size();
  for (std::size_t i = 0; i < sections_.size(); ++i) {
    pad_to(offsets[i]);
    if (sections_[i].size) sink(sections_[i].data, sections_[i].size);
    written += sections_[i].size;
  }
  pad_to(file_size);
}

std::string FileWriter::to_bytes() const {
  std::string out;
  emit([&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); });
  return out;
}

namespace {

constexpr char kTempSuffix[] = ".aftershock-tmp";
constexpr std::size_t kTempSuffixLength = sizeof(kTempSuffix) - 1;
constexpr std::size_t kTempTagDigits = 16;  // hex digits of the random part

// A path the OS would silently cut at a NUL byte (save("victim.aft\0x") would write
// victim.aft): refused here as well as in Python, whoever calls the core.
void check_path(const std::string& path) {
  if (path.empty()) throw InvalidArgument("path: expected a file name, got an empty string");
  if (path.find('\0') != std::string::npos)
    throw InvalidArgument("path: expected a file name without NUL bytes, got one containing a NUL byte");
}

// "dir/name" -> {"dir/", "name"}; "name" -> {"", "name"}. Temporaries go in the same
// directory (rename is atomic only within one file system).
std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {std::string(), path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// The pid in a temporary's name ".<base>.<pid>.<16 hex digits>.aftershock-tmp", or 0 when
// `name` is not exactly a temporary of `base` (so nothing else is ever removed).
long temporary_owner(const std::string& name, const std::string& base) {
  const std::string head = "." + base + ".";
  if (name.size() <= head.size() + kTempSuffixLength || name.compare(0, head.size(), head) != 0 ||
      name.compare(name.size() - kTempSuffixLength, kTempSuffixLength, kTempSuffix) != 0)
    return 0;
  const std::string middle = name.substr(head.size(), name.size() - head.size() - kTempSuffixLength);
  const std::size_t dot = middle.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 9 || middle.size() - dot - 1 != kTempTagDigits) return 0;
  long pid = 0;
  for (std::size_t i = 0; i < dot; ++i) {
    if (middle[i] < '0' || middle[i] > '9') return 0;
    pid = pid * 10 + (middle[i] - '0');
  }
  for (std::size_t i = dot + 1; i < middle.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(middle[i])) || std::isupper(static_cast<unsigned char>(middle[i])))
      return 0;
  return pid;
}

bool process_alive(long pid) {
  // EPERM: it exists but belongs to someone else.
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

std::uint64_t random_tag() {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x ^= counter.fetch_add(1) * 0x9E3779B97F4A7C15ull;
  try {
    std::random_device device;
    x ^= (std::uint64_t{device()} << 32) ^ device();
  } catch (const std::exception&) {
    // No entropy source: the clock and counter still differ between attempts, and
    // O_EXCL refuses a name already taken.
  }
  // splitmix64 finaliser, so close inputs give unrelated names
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Removes the temporaries of `path` whose writer is no longer alive. strict: the errors of
// listing and removing are raised (cleanup()); otherwise ignored (a save goes on).
std::vector<std::string> remove_stale(const std::string& path, bool strict) {
  const auto [dir, base] = split_path(path);
  std::vector<std::string> removed;
  if (base.empty()) return removed;
  DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
  if (d == nullptr) {
    if (strict && errno != ENOENT) throw IoError(errno, path, "listing its directory");
    return removed;
  }
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const long pid = temporary_owner(e->d_name, base);
    if (pid > 0 && !process_alive(pid)) stale.push_back(dir + e->d_name);
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    struct stat st;
    // Only regular files: write() makes nothing else.
    if (::lstat(name.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::unlink(name.c_str()) == 0) {
      removed.push_back(name);
    } else if (strict && errno != ENOENT) {
      throw IoError(errno, name, "removing a stale temporary");
    }
  }
  return removed;
}

}  // namespace

std::vector<std::string> remove_stale_temporaries(const std::string& path) {
  check_path(path);
  return remove_stale(path, true);
}

void FileWriter::write(const std::string& path) const {
  check_path(path);
  remove_stale(path, false);
  const auto [dir, base] = split_path(path);
  if (base.empty()) throw IoError(EISDIR, path, "saving to a directory name");
  // A fresh name per save (O_EXCL): an existing file or symlink is never opened, and two
  // processes saving the same path never share a temporary. O_NOFOLLOW: a symlink planted
  // at the chosen name between the checks is refused.
  const std::string head = dir + "." + base + "." + std::to_string(::getpid()) + ".";
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    char tag[kTempTagDigits + 1];
    std::snprintf(tag, sizeof tag, "%016llx", static_cast<unsigned long long>(random_tag()));
    tmp = head + tag + kTempSuffix;
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && (errno != EEXIST || attempt >= 100)) throw IoError(errno, path, "creating a temporary file beside it");
  }
  int error_number = 0;
  std::string operation;
  auto fail = [&](const std::string& what) {
    if (error_number == 0) {
      error_number = errno;
      operation = what;
    }
  };
  // Buffer small pieces (header, padding) so the file is written in large chunks.
  std::vector<char> buffer;
  buffer.reserve(1 << 20);
  auto flush = [&] {
    std::size_t done = 0;
    while (error_number == 0 && done < buffer.size()) {
      ssize_t n = ::write(fd, buffer.data() + done, buffer.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("writing the temporary '" + tmp + "'");
      } else {
        done += static_cast<std::size_t>(n);
      }
    }
    buffer.clear();
  };
  emit([&](const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0 && error_number == 0) {
      std::size_t take = std::min(n, buffer.capacity() - buffer.size());
      buffer.insert(buffer.end(), c, c + take);
      c += take;
      n -= take;
      if (buffer.size() == buffer.capacity()) flush();
    }
  });
  flush();
  if (error_number == 0 && ::fsync(fd) != 0) fail("syncing the temporary '" + tmp + "'");
  if (::close(fd) != 0) fail("closing the temporary '" + tmp + "'");
  if (error_number == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) fail("renaming the temporary over it");
  if (error_number != 0) {
    ::unlink(tmp.c_str());
    throw IoError(error_number, path, operation);
  }
  // The rename is durable once the directory is synced. Some file systems cannot sync a
  // directory (EINVAL) and a write-only directory cannot be opened: the file is in place
  // either way, so only a real I/O error is reported.
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (::fsync(dfd) != 0 && errno == EIO) {
      error_number = errno;
      ::close(dfd);
      throw IoError(error_number, path, "syncing its directory after the rename");
    }
    ::close(dfd);
  }
}

// Where a reader's bytes come from: a string (from_bytes), an open file read with pread,
// or a mapping (map_file).
struct FileReader::Source {
  std::string bytes;
  int fd = -1;
  std::string path;
  std::size_t size = 0;
  std::shared_ptr<const MappedFile> map;

  ~Source() {
    if (fd >= 0) ::close(fd);
  }
};

FileReader FileReader::from_file(const std::string& path, const char kind[4]) {
  check_path(path);
  auto source = std::make_shared<Source>();
  source->path = path;
  // O_NONBLOCK: opening a FIFO (or a device) for reading would otherwise block until a
  // writer appears; the regular-file check below then refuses it. Reads of a regular file
  // ignore the flag.
  source->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (source->fd < 0) throw IoError(errno, path, "opening for reading");
  struct stat st;
  if (::fstat(source->fd, &st) != 0) throw IoError(errno, path, "reading its status");
  if (S_ISDIR(st.st_mode)) throw IoError(EISDIR, path, "opening for reading; not a regular file");
  if (!S_ISREG(st.st_mode)) throw IoError("cannot read '" + path + "': not a regular file", path);
  source->size = static_cast<std::size_t>(st.st_size);
  return FileReader(std::move(source), kind);
}

FileReader FileReader::map_file(const std::string& path, const char kind[4], bool populate) {
  check_path(path);
  auto source = std::make_shared<Source>();
  source->path = path;
  source->map = MappedFile::open(path, populate);
  source->size = source->map->size();  // fstat'd before mapping: the header must agree
  return FileReader(std::move(source), kind);
}

const std::shared_ptr<const MappedFile>& FileReader::mapping() const { return source_->map; }

std::pair<std::size_t, std::size_t> FileReader::section_range(const char tag[4]) const {
  auto it = entries_.find(tag_string(tag));
  if (it == entries_.end()) bad_section(tag, "is missing");
  return {it->second.offset, it->second.length};
}

void FileReader::advise(const char tag[4], Advice advice) const {
  auto it = entries_.find(tag_string(tag));
  if (source_->map && it != entries_.end()) source_->map->advise(it->second.offset, it->second.length, advice);
}

FileReader FileReader::from_bytes(std::string bytes, const char kind[4]) {
  auto source = std::make_shared<Source>();
  source->size = bytes.size();
  source->bytes = std::move(bytes);
  return FileReader(std::move(source), kind);
}

void FileReader::read_at(std::size_t offset, void* dst, std::size_t n) const {
  const Source& s = *source_;
  if (offset > s.size || n > s.size - offset) format_error("read past the end of the file");
  if (s.map) {
    if (n) std::memcpy(dst, s.map->data() + offset, n);
    return;
  }
  if (s.fd < 0) {
    if (n) std::memcpy(dst, s.bytes.data() + offset, n);
    return;
  }
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    // At most 1 GiB a call: Linux reads no more than about 2 GiB at once.
    const ssize_t got = ::pread(s.fd, out, std::min<std::size_t>(n, std::size_t{1} << 30), static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError(errno, s.path, "reading");
    }
    if (got == 0) format_error("file shrank while being read");
    out += got;
    offset += static_cast<std::size_t>(got);
    n -= static_cast<std::size_t>(got);
  }
}

void FileReader::read_section(const Entry& e, void* dst) const {
  read_at(e.offset, dst, e.length);
  if (crc32c(dst, e.length) != e.crc) format_error("section '" + e.tag + "' checksum mismatch (damaged file)");
  e.verified = true;
}

void FileReader::check_crc(const Entry& e) const {
  const Source& s = *source_;
  const unsigned char* base = nullptr;
  if (s.map) base = s.map->data();
  else if (s.fd < 0) base = reinterpret_cast<const unsigned char*>(s.bytes.data());
  std::uint32_t crc = 0;
  if (base != nullptr) {
    crc = crc32c(base + e.offset, e.length);  // bounds checked at open
  } else {
    std::vector<char> buffer(std::min<std::size_t>(e.length, std::size_t{1} << 24));
    for (std::size_t at = 0; at < e.length; at += buffer.size()) {
      const std::size_t n = std::min(buffer.size(), e.length - at);
      read_at(e.offset + at, buffer.data(), n);
      crc = crc32c(buffer.data(), n, crc);
    }
  }
  if (crc != e.crc) format_error("section '" + e.tag + "' checksum mismatch (damaged file)");
}

void FileReader::verify_all() const {
  for (const auto& [tag, e] : entries_) {
    if (source_->map) source_->map->advise(e.offset, e.length, Advice::kSequential);
    check_crc(e);
  }
}

void FileReader::verify_unread() const {
  std::vector<char> buffer;
  for (const auto& [tag, e] : entries_) {
    if (e.verified) continue;
    buffer.resize(e.length);
    read_section(e, buffer.data());
  }
}

FileReader::FileReader(std::shared_ptr<const Source> source, const char kind[4]) : source_(std::move(source)) {
  const std::size_t size = source_->size;
  char b[kHeaderBytes];
  if (size < kHeaderBytes) format_error("not an aftershock file (shorter than the header)");
  read_at(0, b, kHeaderBytes);
  if (std::memcmp(b, kMagic, 8) != 0) format_error("not an aftershock file (bad magic)");
  if (get<std::uint32_t>(b, 60) != crc32c(b, 60)) format_error("header checksum mismatch (damaged file)");
  const auto major = get<std::uint16_t>(b, 8);
  const auto minor = get<std::uint16_t>(b, 10);
  if (major != kFormatMajor)
    format_error("format " + std::to_string(major) + "." + std::to_string(minor) + "; this build reads " +
                 std::to_string(kFormatMajor) + ".x");
  if (get<std::uint32_t>(b, 12) != kEndianTag) format_error("not little-endian");
  if (std::memcmp(b + 16, kind, 4) != 0)
    format_error("holds a '" + std::string(b + 16, 4) + "' object, expected '" + tag_string(kind) + "'");
  const auto count = get<std::uint32_t>(b, 20);
  const auto table_offset = get<std::uint64_t>(b, 24);
  const auto file_size = get<std::uint64_t>(b, 32);
  if (file_size != size)
    format_error("truncated or extended: header says " + std::to_string(file_size) + " bytes, file has " +
                 std::to_string(size));
  if (table_offset < kHeaderBytes || table_offset > file_size ||
      count > (file_size - table_offset) / kSectionEntryBytes)
    format_error("section table out of bounds");
  std::vector<char> table(count * kSectionEntryBytes);
  read_at(table_offset, table.data(), table.size());
  if (get<std::uint32_t>(b, 40) != crc32c(table.data(), table.size()))
    format_error("section table checksum mismatch (damaged file)");
  for (std::uint32_t i = 0; i < count; ++i) {
    const char* e = table.data() + i * kSectionEntryBytes;
    Entry entry;
    entry.tag = std::string(e, 4);
    auto dtype = get<std::uint16_t>(e, 4);
    if (dtype > static_cast<std::uint16_t>(DType::kI8)) format_error("unknown section dtype");
    entry.dtype = static_cast<DType>(dtype);
    auto offset = get<std::uint64_t>(e, 8);
    auto length = get<std::uint64_t>(e, 16);
    if (offset > file_size || length > file_size - offset) format_error("section out of bounds");
    entry.offset = offset;
    entry.length = length;
    entry.crc = get<std::uint32_t>(e, 24);
    if (!entries_.emplace(entry.tag, entry).second) format_error("section '" + entry.tag + "' appears twice");
  }
  // Bytes outside the header, table and sections (alignment padding) are not covered by
  // any checksum; they must be zero, so a damaged pad byte is caught as well.
  std::vector<std::pair<std::size_t, std::size_t>> used = {{0, kHeaderBytes},
                                                           {table_offset, table_offset + table.size()}};
  for (const auto& [tag, entry] : entries_) used.emplace_back(entry.offset, entry.offset + entry.length);
  used.emplace_back(size, size);
  std::sort(used.begin(), used.end());
  std::size_t covered = 0;
  std::vector<char> gap;
  for (const auto& [begin, end] : used) {
    while (covered < begin) {  // in pieces: a hostile file may claim a huge gap
      gap.resize(std::min<std::size_t>(begin - covered, std::size_t{1} << 20));
      read_at(covered, gap.data(), gap.size());
      for (std::size_t i = 0; i < gap.size(); ++i)
        if (gap[i] != 0) format_error("non-zero padding byte at offset " + std::to_string(covered + i) + " (damaged file)");
      covered += gap.size();
    }
    covered = std::max(covered, end);
  }
}

bool FileReader::has(const char tag[4]) const { return entries_.count(tag_string(tag)) != 0; }

const FileReader::Entry& FileReader::entry(const char tag[4], DType dtype) const {
  auto it = entries_.find(tag_string(tag));
  if (it == entries_.end()) bad_section(tag, "is missing");
  if (it->second.dtype != dtype) bad_section(tag, "has an unexpected dtype");
  return it->second;
}

void FileReader::bad_section(const char tag[4], const std::string& why) {
  format_error("section '" + tag_string(tag) + "' " + why);
}

void Config::set(const std::string& key, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  values_[key] = buf;
}

void Config::set_uint(const std::string& key, std::uint64_t value) { values_[key] = std::to_string(value); }

double Config::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) format_error("configuration lacks '" + key + "'");
  return std::strtod(it->second.c_str(), nullptr);  // checked by parse
}

std::uint64_t Config::get_uint(const std::string& key, std::uint64_t max) const {
  auto it = values_.find(key);
  if (it == values_.end()) format_error("configuration lacks '" + key + "'");
  const std::string& text = it->second;
  auto bad = [&]() { format_error("configuration '" + key + "' is not an integer in [0, " + std::to_string(max) + "]"); };
  std::uint64_t v = 0;
  if (!text.empty() && text.size() <= 20 && std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    for (char ch : text) {
      const auto digit = static_cast<std::uint64_t>(ch - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) bad();
      v = v * 10 + digit;
    }
  } else {  // written by set() (a double), as earlier versions did for integers
    const double d = std::strtod(text.c_str(), nullptr);
    if (!(d >= 0.0 && d < 18446744073709551616.0) || d != std::floor(d)) bad();
    v = static_cast<std::uint64_t>(d);
  }
  if (v > max) bad();
  return v;
}

std::string Config::serialize() const {
  std::string out;
  for (const auto& [k, v] : values_) out += k + "=" + v + "\n";
  return out;
}

Config Config::parse(const std::string& text) {
  Config c;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) format_error("malformed configuration line");
    char* end = nullptr;
    std::string num = line.substr(eq + 1);
    double v = std::strtod(num.c_str(), &end);
    if (end == num.c_str() || *end != '\0' || !std::isfinite(v)) format_error("malformed configuration value");
    c.values_[line.substr(0, eq)] = num;
  }
  return c;
}

}  // namespace aftershock::io
