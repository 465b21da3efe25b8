// A bounded top-k collector shared by the sparse search paths (index search, exact search).
// Order: higher score first; equal scores go to the smaller id, so results never depend
// on visiting order or thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "aftershock/types.hpp"

namespace aftershock::sparse {

class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) { heap_.reserve(k + 1); }

  void clear() { heap_.clear(); }
  /// Empties the collector for a new k, keeping its storage (per-thread reuse).
  void reset(std::size_t k) {
    k_ = k;
    heap_.clear();
    heap_.reserve(k + 1);
  }
  bool full() const { return heap_.size() == k_; }
  /// The score a new document must reach to enter (-inf until full).
  float threshold() const { return full() ? heap_.front().first : -std::numeric_limits<float>::infinity(); }

  void push(float score, DocId id) {
    if (full()) {
      if (!better(score, id, heap_.front().first, heap_.front().second)) return;
      std::pop_heap(heap_.begin(), heap_.end(), worse_on_top);
      heap_.back() = {score, id};
    } else {
      heap_.emplace_back(score, id);
    }
    std::push_heap(heap_.begin(), heap_.end(), worse_on_top);
  }

  /// Best first, padded with -inf / -1 to k.
  void write(float* scores, std::int64_t* ids) {
    std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) {
      return better(a.first, a.second, b.first, b.second);
    });
    for (std::size_t i = 0; i < k_; ++i) {
      if (i < heap_.size()) {
        scores[i] = heap_[i].first;
        ids[i] = heap_[i].second;
      } else {
        scores[i] = -std::numeric_limits<float>::infinity();
        ids[i] = -1;
      }
    }
  }

  const std::vector<std::pair<float, DocId>>& entries() const { return heap_; }

 private:
  using Entry = std::pair<float, DocId>;
  static bool better(float sa, DocId ia, float sb, DocId ib) { return sa > sb || (sa == sb && ia < ib); }
  // Heap comparator: the root is the worst entry.
  static bool worse_on_top(const Entry& a, const Entry& b) { return better(a.first, a.second, b.first, b.second); }

  std::size_t k_;
  std::vector<Entry> heap_;
};

}  // namespace aftershock::sparse
