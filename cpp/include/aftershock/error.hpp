// Exception hierarchy. The bindings translate: InvalidArgument -> ValueError,
// std::out_of_range -> IndexError, FormatError -> aftershock.FormatError (a ValueError),
// IoError -> OSError. The core never aborts or prints on user input.
#pragma once

#include <stdexcept>
#include <string>

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

/// The operating system refused a read or write.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace aftershock

#ifndef NDEBUG
#include <cassert>
#define AFTERSHOCK_DCHECK(cond) assert(cond)
#else
#define AFTERSHOCK_DCHECK(cond) ((void)0)
#endif
