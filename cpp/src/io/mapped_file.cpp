// Read-only file mappings (see io/mapped_file.hpp).
#include "aftershock/io/mapped_file.hpp"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "aftershock/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#define AFTERSHOCK_HAS_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#define AFTERSHOCK_HAS_MMAP 0
#endif

namespace aftershock::io {

#if AFTERSHOCK_HAS_MMAP

namespace {

std::size_t page_size() {
  static const std::size_t size = [] {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
  }();
  return size;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool mmap_supported() { return true; }

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path, bool populate) {
  if (path.empty()) throw InvalidArgument("path: expected a file name, got an empty string");
  if (path.find('\0') != std::string::npos)
    throw InvalidArgument("path: expected a file name without NUL bytes, got one containing a NUL byte");
  // O_NONBLOCK: a FIFO would otherwise block the open until a writer appears; the
  // regular-file check refuses it.
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw IoError(errno, path, "opening for reading");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw IoError(errno, path, "reading its status");
  if (S_ISDIR(st.st_mode)) throw IoError(EISDIR, path, "opening for reading; not a regular file");
  if (!S_ISREG(st.st_mode)) throw IoError("cannot read '" + path + "': not a regular file", path);
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<std::size_t>(st.st_size);
  if (m->size_ == 0) return m;
  int flags = MAP_SHARED;
#if defined(MAP_POPULATE)
  if (populate) flags |= MAP_POPULATE;
#endif
  void* p = ::mmap(nullptr, m->size_, PROT_READ, flags, fd.get(), 0);
  if (p == MAP_FAILED) throw IoError(errno, path, "mapping into memory");
  m->base_ = p;
#if !defined(MAP_POPULATE)
  if (populate) {
    m->advise(0, m->size_, Advice::kWillNeed);
    m->touch(0, m->size_);
  }
#endif
  return m;
}

MappedFile::~MappedFile() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

void MappedFile::advise(std::size_t offset, std::size_t length, Advice advice) const {
  if (base_ == nullptr || offset >= size_) return;
  length = std::min(length, size_ - offset);
  const std::size_t page = page_size();
  const std::size_t begin = offset / page * page;  // madvise wants a page-aligned start
  const std::size_t end = offset + length;
  int how = MADV_NORMAL;
  switch (advice) {
    case Advice::kNormal: how = MADV_NORMAL; break;
    case Advice::kRandom: how = MADV_RANDOM; break;
    case Advice::kSequential: how = MADV_SEQUENTIAL; break;
    case Advice::kWillNeed: how = MADV_WILLNEED; break;
  }
  ::madvise(static_cast<char*>(base_) + begin, end - begin, how);
}

std::size_t MappedFile::resident_bytes(std::size_t offset, std::size_t length) const {
  if (base_ == nullptr || offset >= size_) return 0;
  length = std::min(length, size_ - offset);
  if (length == 0) return 0;
  const std::size_t page = page_size();
  const std::size_t begin = offset / page * page;
  const std::size_t end = offset + length;
  const std::size_t n_pages = (end - begin + page - 1) / page;
  std::size_t resident = 0;
  // In chunks, so the status vector stays small for a huge file.
  constexpr std::size_t kChunkPages = 1 << 16;
  std::vector<unsigned char> status(std::min(n_pages, kChunkPages));
  for (std::size_t first = 0; first < n_pages; first += kChunkPages) {
    const std::size_t count = std::min(kChunkPages, n_pages - first);
    const std::size_t at = begin + first * page;
    const std::size_t bytes = std::min(count * page, end - at);
#if defined(__APPLE__)
    if (::mincore(static_cast<char*>(base_) + at, bytes, reinterpret_cast<char*>(status.data())) != 0) return 0;
#else
    if (::mincore(static_cast<char*>(base_) + at, bytes, status.data()) != 0) return 0;
#endif
    for (std::size_t i = 0; i < count; ++i) {
      if (!(status[i] & 1)) continue;
      const std::size_t lo = std::max(at + i * page, offset);
      const std::size_t hi = std::min(at + (i + 1) * page, end);
      resident += hi - lo;
    }
  }
  return resident;
}

void MappedFile::touch(std::size_t offset, std::size_t length) const {
  if (base_ == nullptr || offset >= size_) return;
  length = std::min(length, size_ - offset);
  const std::size_t page = page_size();
  const volatile unsigned char* p = data();
  unsigned char sink = 0;
  for (std::size_t at = offset; at < offset + length; at += page) sink ^= p[at];
  if (length) sink ^= p[offset + length - 1];
  (void)sink;
}

#else  // no mmap

bool mmap_supported() { return false; }

std::shared_ptr<const MappedFile> MappedFile::open(const std::string&, bool) {
  throw InvalidArgument("mmap: memory-mapped loading is not supported on this platform; load with mmap=False");
}

MappedFile::~MappedFile() = default;
void MappedFile::advise(std::size_t, std::size_t, Advice) const {}
std::size_t MappedFile::resident_bytes(std::size_t, std::size_t) const { return 0; }
void MappedFile::touch(std::size_t, std::size_t) const {}

#endif

}  // namespace aftershock::io
