// A read-only memory mapping of a whole file: the mechanism behind load(path, mmap=True).
//
// Why map: a mapped index is not read at load, so opening takes the same time whatever its
// size (the header, section table, configuration and the per-term arrays are still read
// and checked), its pages are faulted in on first use, and every process serving the same
// file shares one copy of them in the page cache (MAP_SHARED, PROT_READ: nothing is ever
// written, so no private copy is made). The cost: the first touch of each page is a page
// fault (a disk read when the page is cold), and the content of the large sections is not
// checked at open (see io/format.hpp, "What is checked when").
//
// Truncation: the file size is taken with fstat before mapping, and FileReader checks the
// header's file_size and every section's offset + length against it, so a file that is
// already truncated raises FormatError at load. A file truncated by another process
// *after* it was mapped cannot be detected: touching a page past the new end raises SIGBUS
// and kills the process. Replace index files atomically (FileWriter::write writes a
// temporary and renames it over the old file, which leaves an open mapping of the old file
// intact); never truncate or rewrite a file in place while it is served.
//
// madvise choices (hints; the kernel may ignore them): the postings and the forward index
// are read at random (one row or block per hit), so they are advised MADV_RANDOM, which
// stops read-ahead from pulling in 128 KiB around every fault on a cold file; verify() reads
// every section front to back, advised MADV_SEQUENTIAL; populate asks for the whole file up
// front (MAP_POPULATE on Linux, else MADV_WILLNEED and a touch of every page).
//
// When to map rather than read (measured numbers in cpp/src/sparse/README.md, "Serving
// from disk"): several processes serving one file, fast start-up, or an index larger than
// the memory it should hold. Reading into memory stays the default: warm searches on huge
// pages, no page faults, every check at load.
//
// POSIX only (Linux, macOS, BSDs). mmap_supported() is false elsewhere, and open() throws
// InvalidArgument there.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace aftershock::io {

/// True where memory-mapped loading is implemented (POSIX systems).
bool mmap_supported();

enum class Advice { kNormal, kRandom, kSequential, kWillNeed };

class MappedFile {
 public:
  /// Maps `path` whole, read-only and shared. populate: fault every page in now (reads the
  /// whole file; no page fault later while it stays in the page cache). Throws
  /// InvalidArgument for an empty path, one with a NUL byte, or where mmap is unsupported;
  /// IoError (errno, path) when the file cannot be opened, is not a regular file, or the
  /// mapping is refused. An empty file gives an empty mapping (data() null). The file
  /// descriptor is closed once mapped: the mapping alone keeps the file's pages alive, also
  /// after the path is unlinked.
  static std::shared_ptr<const MappedFile> open(const std::string& path, bool populate = false);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return static_cast<const unsigned char*>(base_); }
  /// The file's size when mapped (fstat), in bytes.
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  /// madvise over the pages covering [offset, offset + length) (clipped to the file). A
  /// hint: errors are ignored. Thread-safe.
  void advise(std::size_t offset, std::size_t length, Advice advice) const;
  /// Bytes of [offset, offset + length) whose pages are resident in memory now (mincore),
  /// counted in whole pages, clipped to the file. O(length / page size). Thread-safe.
  std::size_t resident_bytes(std::size_t offset, std::size_t length) const;
  std::size_t resident_bytes() const { return resident_bytes(0, size_); }
  /// Reads one byte of every page of [offset, offset + length): faults the range in.
  void touch(std::size_t offset, std::size_t length) const;

 private:
  MappedFile() = default;

  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

}  // namespace aftershock::io
