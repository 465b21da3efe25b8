// Exception hierarchy. The bindings translate: InvalidArgument -> ValueError,
// std::out_of_range -> IndexError, FormatError -> aftershock.FormatError (a ValueError),
// IoError -> OSError (the errno's own subclass, with errno and filename set, as open() raises).
// The core never aborts or prints on user input.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace aftershock {

class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A file is not an aftershock file, is of another major version, or is damaged.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The operating system refused a read or write. Carries the errno (0 when the refusal is
/// ours, e.g. "not a regular file") and the path the caller named, so the binding can raise
/// the matching OSError subclass (FileNotFoundError, PermissionError, ...).
class IoError : public std::runtime_error {
 public:
  /// A refusal without an errno; `path` may be empty.
  explicit IoError(const std::string& what, std::string path = {})
      : std::runtime_error(what), path_(std::move(path)) {}
  /// `operation` (e.g. "opening for reading") on `path` failed with `error_number`.
  /// what() reads "'x.aft': No such file or directory (opening for reading)".
  IoError(int error_number, std::string path, const std::string& operation)
      : std::runtime_error("'" + path + "': " + std::strerror(error_number) + " (" + operation + ")"),
        error_number_(error_number),
        path_(std::move(path)),
        reason_(std::string(std::strerror(error_number)) + " (" + operation + ")") {}

  int error_number() const noexcept { return error_number_; }
  const std::string& path() const noexcept { return path_; }
  /// strerror(errno) and the operation, without the path (OSError's strerror).
  const std::string& reason() const noexcept { return reason_; }

 private:
  int error_number_ = 0;
  std::string path_;
  std::string reason_;
};

}  // namespace aftershock

#ifndef NDEBUG
#include <cassert>
#define AFTERSHOCK_DCHECK(cond) assert(cond)
#else
#define AFTERSHOCK_DCHECK(cond) ((void)0)
#endif
