#include "aftershock/io/format.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <cstring>

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

void FileWriter::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot open '" + tmp + "' for writing: " + std::strerror(errno));
  std::string error;
  // Buffer small pieces (header, padding) so the file is written in large chunks.
  std::vector<char> buffer;
  buffer.reserve(1 << 20);
  auto flush = [&] {
    std::size_t done = 0;
    while (error.empty() && done < buffer.size()) {
      ssize_t n = ::write(fd, buffer.data() + done, buffer.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        error = std::strerror(errno);
      } else {
        done += static_cast<std::size_t>(n);
      }
    }
    buffer.clear();
  };
  emit([&](const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0 && error.empty()) {
      std::size_t take = std::min(n, buffer.capacity() - buffer.size());
      buffer.insert(buffer.end(), c, c + take);
      c += take;
      n -= take;
      if (buffer.size() == buffer.capacity()) flush();
    }
  });
  flush();
  if (error.empty() && ::fsync(fd) != 0) error = std::strerror(errno);
  if (::close(fd) != 0 && error.empty()) error = std::strerror(errno);
  if (error.empty() && std::rename(tmp.c_str(), path.c_str()) != 0) error = std::strerror(errno);
  if (!error.empty()) {
    ::unlink(tmp.c_str());
    throw IoError("cannot write '" + path + "': " + error);
  }
}

// Where a reader's bytes come from: a string (from_bytes) or an open file read with pread.
struct FileReader::Source {
  std::string bytes;
  int fd = -1;
  std::string path;
  std::size_t size = 0;

  ~Source() {
    if (fd >= 0) ::close(fd);
  }
};

FileReader FileReader::from_file(const std::string& path, const char kind[4]) {
  auto source = std::make_shared<Source>();
  source->path = path;
  // O_NONBLOCK: opening a FIFO (or a device) for reading would otherwise block until a
  // writer appears; the regular-file check below then refuses it. Reads of a regular file
  // ignore the flag.
  source->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (source->fd < 0) throw IoError("cannot open '" + path + "' for reading: " + std::strerror(errno));
  struct stat st;
  if (::fstat(source->fd, &st) != 0) throw IoError("cannot read '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw IoError("cannot read '" + path + "': not a regular file");
  source->size = static_cast<std::size_t>(st.st_size);
  return FileReader(std::move(source), kind);
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
      throw IoError("cannot read '" + s.path + "': " + std::strerror(errno));
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
