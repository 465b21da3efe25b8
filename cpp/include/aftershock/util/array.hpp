// A read-only contiguous array that either owns its elements (a std::vector, moved in, so
// a vector allocated on huge pages stays there) or views memory someone else keeps alive
// (a file mapping, io::MappedFile), through a std::shared_ptr<const void> it holds. The
// large arrays of a loaded index are Arrays, so one class serves both an index built or
// read into memory and one served from a mapped file; build code keeps building
// std::vectors and moves them in.
//
// data() and size() are plain members: hot loops read the same raw pointer either way, at
// no extra cost over a vector. Copying an owning Array copies the elements; copying a view
// shares the mapping. Not thread-safe for writes (assignment); const use is.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace aftershock {

// `Owner` is the owning container: std::vector<T> (the default), or any movable and
// copyable type with data() and size() in elements whose moves keep the buffer (e.g.
// AlignedBuffer for a byte Array of 64-byte aligned token panels).
template <class T, class Owner = std::vector<T>>
class Array {
  static_assert(std::is_trivially_copyable_v<T>, "Array holds plain data");

 public:
  using value_type = T;

  Array() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): build code assigns vectors to members.
  Array(Owner&& v) : owned_(std::move(v)), data_(owned_.data()), size_(owned_.size()) {}

  /// A view of [data, data + size), valid while `keep_alive` (e.g. the mapping) lives.
  static Array view(const T* data, std::size_t size, std::shared_ptr<const void> keep_alive) {
    Array a;
    a.data_ = size ? data : nullptr;
    a.size_ = size;
    a.keep_alive_ = std::move(keep_alive);
    return a;
  }

  Array(const Array& o) : owned_(o.owned_), keep_alive_(o.keep_alive_), size_(o.size_) {
    data_ = o.is_view() ? o.data_ : owned_.data();
  }
  Array(Array&& o) noexcept
      : owned_(std::move(o.owned_)), keep_alive_(std::move(o.keep_alive_)), data_(o.data_), size_(o.size_) {
    o.reset_pointers();
  }
  Array& operator=(const Array& o) {
    if (this != &o) *this = Array(o);
    return *this;
  }
  Array& operator=(Array&& o) noexcept {
    if (this != &o) {
      owned_ = std::move(o.owned_);
      keep_alive_ = std::move(o.keep_alive_);
      data_ = o.data_;  // a moved vector keeps its buffer, so an owned pointer stays valid
      size_ = o.size_;
      o.reset_pointers();
    }
    return *this;
  }
  ~Array() = default;

  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t size_bytes() const { return size_ * sizeof(T); }
  /// True when the elements live in memory this Array does not own (a mapped file).
  bool is_view() const { return keep_alive_ != nullptr; }
  // PRECONDITION: i < size() (unchecked, like std::vector::operator[]).
  const T& operator[](std::size_t i) const { return data_[i]; }
  const T& back() const { return data_[size_ - 1]; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

  /// Writable elements of an owning Array (build and load fix-ups that rewrite elements in
  /// place; the size never changes). Throws std::logic_error on a view: mapped memory is
  /// read-only.
  T* mutable_data() {
    if (is_view()) throw std::logic_error("internal: writing to a read-only mapped array");
    return owned_.data();
  }
  /// The bytes as another plain type (a byte Array holding several element types).
  template <class U>
  const U* as() const {
    return reinterpret_cast<const U*>(data_);
  }
  template <class U>
  U* mutable_as() {
    return reinterpret_cast<U*>(mutable_data());
  }
  /// An owning copy of a view (its elements copied into memory); an owning Array is kept.
  /// (Owner = std::vector only.)
  void make_owned() {
    if (!is_view()) return;
    *this = Array(std::vector<T>(begin(), end()));
  }

 private:
  void reset_pointers() {
    owned_ = Owner();
    keep_alive_.reset();
    data_ = nullptr;
    size_ = 0;
  }

  Owner owned_;
  std::shared_ptr<const void> keep_alive_;  // non-null exactly for views
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace aftershock
