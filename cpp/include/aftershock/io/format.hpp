// The one binary format of aftershock files (indexes and stores), version 1.
//
// Layout, little-endian:
//   header (64 bytes): magic "AFTSHOCK", u16 format_major, u16 format_minor,
//     u32 endian tag 0x01020304, char kind[4] (what object: "SPRS", "MVST", ...),
//     u32 section_count, u64 table_offset, u64 file_size, zero padding,
//     u32 header_crc32c over bytes [0, 60) at offset 60.
//   section table at table_offset: section_count entries of 32 bytes:
//     char tag[4], u16 dtype, u16 reserved, u64 offset (64-byte aligned), u64 length,
//     u32 crc32c of the payload, u32 reserved.
//   payloads, each 64-byte aligned.
// A reader refuses another major version; a minor bump only adds sections, which older
// readers skip.
//
// What is checked when
// --------------------
// * Read into memory (FileReader::from_file / from_bytes, the default load): every offset
//   and length is bounds-checked, the padding must be zero, and every section's CRC is
//   verified as it is read; the loaders then check every structural invariant (offsets
//   monotone, ids in range, ...). A damaged file raises FormatError; nothing later reads
//   out of bounds.
// * Mapped (FileReader::map_file, load(path, mmap=True)): at open, the file size (fstat)
//   must equal the header's file_size, the header and section table CRCs must match, every
//   section's offset + length must lie inside the file, the padding must be zero, and a
//   section must be aligned for its element type -- so a truncated file raises FormatError
//   at load, never SIGBUS later. Small sections (configuration, per-term offset arrays of
//   dim + 1 entries) are still read and CRC-checked, and the loaders check their values and
//   that every section has the element count the metadata implies. The *content* of the
//   large sections (per-document, per-posting, per-block arrays) is trusted: not read, no
//   CRC, no per-element check, so open time does not grow with the index. A file damaged
//   inside a large section may give wrong results or crash at search time: load files of
//   unknown provenance with verify=True (or call verify() before serving), which checks
//   every CRC and every invariant of the in-memory path, reading the whole file once.
// * A file truncated by another process *after* it was mapped cannot be detected: touching
//   a page past its new end raises SIGBUS (io/mapped_file.hpp). Replace files atomically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/io/mapped_file.hpp"
#include "aftershock/util/array.hpp"
#include "aftershock/util/huge_pages.hpp"

namespace aftershock::io {

constexpr std::uint16_t kFormatMajor = 1;
constexpr std::uint16_t kFormatMinor = 0;
constexpr std::size_t kHeaderBytes = 64;
constexpr std::size_t kSectionEntryBytes = 32;
constexpr std::size_t kAlignment = 64;

enum class DType : std::uint16_t { kBytes = 0, kU8 = 1, kU16 = 2, kU32 = 3, kU64 = 4, kI64 = 5, kF32 = 6, kI8 = 7 };

/// CRC-32C of the bytes, continuing from `crc`; the fastest implementation the CPU has.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
/// One implementation by name, for the test that they agree: `hardware` (SSE4.2) throws
/// InvalidArgument where the build or the CPU lacks it.
std::uint32_t crc32c_using(bool hardware, const void* data, std::size_t size);
std::uint32_t crc32c_sse42(const void* data, std::size_t size, std::uint32_t crc);  // PRECONDITION: SSE4.2

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return DType::kU8;
  else if constexpr (std::is_same_v<T, std::int8_t>) return DType::kI8;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return DType::kU16;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return DType::kU32;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return DType::kU64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::kI64;
  else if constexpr (std::is_same_v<T, float>) return DType::kF32;
  else return DType::kBytes;
}

/// Collects sections (by reference: the data must outlive write/to_bytes) and writes
/// them as one file. Not thread-safe; one writer per save.
class FileWriter {
 public:
  explicit FileWriter(const char kind[4]);

  void add(const char tag[4], DType dtype, const void* data, std::size_t size_bytes);

  template <class T>
  void add_vector(const char tag[4], const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    add(tag, dtype_of<T>(), v.data(), v.size() * sizeof(T));
  }
  template <class T>
  void add_array(const char tag[4], const Array<T>& a) {
    add(tag, dtype_of<T>(), a.data(), a.size_bytes());
  }
  /// A temporary would be gone before write(): refused at compile time.
  template <class T>
  void add_vector(const char tag[4], std::vector<T>&& v) = delete;
  template <class T>
  void add_vector(const char tag[4], const std::vector<T>&& v) = delete;

  /// Atomic write. The bytes go to a new temporary in path's directory, named
  /// ".<basename>.<pid>.<16 hex digits>.aftershock-tmp" and created with O_EXCL|O_NOFOLLOW
  /// (an existing file or symlink is never opened; concurrent saves of one path never
  /// share a temporary); then fsync, rename over path, fsync of the directory. Stale
  /// temporaries of path (their pid no longer alive) are removed first. An existing file at
  /// path is left as it was when the save fails. Throws InvalidArgument for an empty path or
  /// one with a NUL byte; IoError (with errno and path) when the OS refuses.
  void write(const std::string& path) const;
  /// The same bytes as write() (used by pickle).
  std::string to_bytes() const;

 private:
  struct Section {
    char tag[4];
    DType dtype;
    const void* data;
    std::size_t size;
  };
  void emit(const std::function<void(const void*, std::size_t)>& sink) const;

  char kind_[4];
  std::vector<Section> sections_;
};

/// Removes the temporaries FileWriter::write left for `path` (exactly its naming pattern,
/// regular files only) whose writing process is no longer alive (a save killed by SIGKILL
/// or a power loss) and returns their paths. A temporary of a live process, including a
/// save in progress, is kept. Liveness is judged by pid on this machine: do not share a
/// directory between hosts or pid namespaces saving the same path. Throws InvalidArgument
/// for a path with a NUL byte; IoError when the directory cannot be listed or a temporary
/// cannot be removed (a missing directory holds none: empty result).
std::vector<std::string> remove_stale_temporaries(const std::string& path);

/// A verified reader of one file, in memory (from_bytes), on disk (from_file) or mapped
/// (map_file). Opening checks the header, the section table, every bound and the padding;
/// a section's CRC is checked as it is read, straight into the caller's vector (a file is
/// never held whole in memory besides the loaded object), and verify_unread() checks the
/// sections nobody read. A mapped reader also hands out views (view()) whose CRC only
/// verify_all() checks (see "What is checked when" above). Copies share the source. Throws FormatError for anything that is not a complete, undamaged version-1 file
/// of the expected kind; IoError (errno, path) if it cannot be read; InvalidArgument for a
/// path with a NUL byte.
class FileReader {
 public:
  static FileReader from_file(const std::string& path, const char kind[4]);
  static FileReader from_bytes(std::string bytes, const char kind[4]);
  /// Maps the file (MappedFile::open) and checks what is checked at open without reading
  /// the sections (see "What is checked when" above). view() then returns views into the
  /// mapping; read_vector() still copies (and CRC-checks) a section. Throws as from_file,
  /// and InvalidArgument where mmap is unsupported.
  static FileReader map_file(const std::string& path, const char kind[4], bool populate = false);

  bool has(const char tag[4]) const;
  /// The mapping of a reader made by map_file, else null.
  const std::shared_ptr<const MappedFile>& mapping() const;
  /// Byte range {offset, length} of section `tag` in the file; FormatError if missing.
  std::pair<std::size_t, std::size_t> section_range(const char tag[4]) const;
  /// madvise over section `tag`'s pages, when mapped and present (else nothing).
  void advise(const char tag[4], Advice advice) const;

  /// Section `tag` as an Array: on a mapped reader a view into the mapping (its CRC is not
  /// checked: verify_all() does), else read_vector (CRC checked). FormatError as
  /// read_vector, and on a mapped reader when the section is not aligned for T.
  template <class T>
  Array<T> view(const char tag[4], long long expected_count = -1) const {
    if (!mapping()) return Array<T>(read_vector<T>(tag, expected_count));
    const Entry& e = entry(tag, dtype_of<T>());
    if (e.length % sizeof(T) != 0) bad_section(tag, "length is not a whole number of elements");
    if (e.offset % alignof(T) != 0) bad_section(tag, "is not aligned for its element type");
    const std::size_t count = e.length / sizeof(T);
    if (expected_count >= 0 && count != static_cast<std::size_t>(expected_count))
      bad_section(tag, "has " + std::to_string(count) + " elements, expected " + std::to_string(expected_count));
    const auto* data = reinterpret_cast<const T*>(mapping()->data() + e.offset);
    return Array<T>::view(data, count, mapping());
  }

  /// Reads section `tag` into a vector; FormatError if missing, of another dtype, damaged,
  /// or its length is not a multiple of sizeof(T) or (when expected_count >= 0) not
  /// expected_count elements.
  template <class T>
  std::vector<T> read_vector(const char tag[4], long long expected_count = -1) const {
    const Entry& e = entry(tag, dtype_of<T>());
    if (e.length % sizeof(T) != 0) bad_section(tag, "length is not a whole number of elements");
    std::size_t count = e.length / sizeof(T);
    if (expected_count >= 0 && count != static_cast<std::size_t>(expected_count))
      bad_section(tag, "has " + std::to_string(count) + " elements, expected " + std::to_string(expected_count));
    std::vector<T> out = huge_page_vector<T>(count);
    read_section(e, out.data());
    return out;
  }

  /// FormatError unless section `tag` holds exactly `count` elements of T. Callers that
  /// allocate the destination call it first, so a damaged count in the metadata cannot
  /// make a small file allocate gigabytes before the mismatch is seen.
  template <class T>
  void expect_elements(const char tag[4], std::size_t count) const {
    const Entry& e = entry(tag, dtype_of<T>());
    if (e.length / sizeof(T) != count || e.length % sizeof(T) != 0)
      bad_section(tag, "has " + std::to_string(e.length) + " bytes, expected " + std::to_string(count) + " elements of " +
                           std::to_string(sizeof(T)) + " bytes");
  }

  /// Reads section `tag`, which must hold exactly `count` elements of T, into dst.
  template <class T>
  void read_into(const char tag[4], T* dst, std::size_t count) const {
    expect_elements<T>(tag, count);
    read_section(entry(tag, dtype_of<T>()), dst);
  }

  template <class T>
  T read_scalar(const char tag[4]) const {
    return read_vector<T>(tag, 1)[0];
  }

  /// Verifies the CRC of every section not read so far; loaders call it last, so damage
  /// anywhere in a file is reported even in a section this version ignores.
  void verify_unread() const;
  /// Verifies the CRC of every section, read or not (the check a mapped load defers to
  /// verify()). Reads the whole file; FormatError naming the first damaged section. Does
  /// not change the reader: safe to call concurrently.
  /// On a mapped reader each section is advised MADV_SEQUENTIAL first (callers restore
  /// their own advice afterwards).
  void verify_all() const;

  [[noreturn]] static void bad_section(const char tag[4], const std::string& why);

 private:
  struct Entry {
    std::string tag;
    DType dtype;
    std::size_t offset;
    std::size_t length;
    std::uint32_t crc;
    mutable bool verified = false;
  };
  struct Source;  // the bytes, an open file, or a mapping
  FileReader(std::shared_ptr<const Source> source, const char kind[4]);
  const Entry& entry(const char tag[4], DType dtype) const;
  void read_at(std::size_t offset, void* dst, std::size_t n) const;
  void read_section(const Entry& e, void* dst) const;
  void check_crc(const Entry& e) const;

  std::shared_ptr<const Source> source_;
  std::map<std::string, Entry> entries_;
};

/// A flat list of named numbers (configuration), stored as one "CONF" section of
/// key=value text lines. Keys are checked on read. Two value types: real numbers (written
/// with 17 significant digits, so a double round-trips) and unsigned integers (written as
/// decimal digits, exact over the whole uint64 range; a double would lose integers above
/// 2^53). Both read back any file of the same text layout: get_uint also accepts a value
/// written by set() when it is an integer in range (files of earlier versions).
class Config {
 public:
  void set(const std::string& key, double value);
  void set_uint(const std::string& key, std::uint64_t value);
  /// The value as a double. FormatError if missing.
  double get(const std::string& key) const;
  /// The value as an integer in [0, max]. FormatError if missing, not an integer or out
  /// of range.
  std::uint64_t get_uint(const std::string& key, std::uint64_t max) const;
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::string serialize() const;
  /// FormatError for a line without '=' or a value that is not a finite number.
  static Config parse(const std::string& text);

 private:
  std::map<std::string, std::string> values_;  // key -> value text
};

}  // namespace aftershock::io
