// The one bounded top-k collector of the core (sparse search, exact search, multi-vector
// candidate generation and rerank). Baseline code only: never include from an ISA
// translation unit (STYLE §3).
//
// Order: higher score first; equal scores go to the smaller id. The kept set and the
// written order are therefore a function of the (score, id) multiset alone, never of the
// order the pairs were pushed in, nor of the thread count.
//
// Floor: reset(k, floor) admits only scores >= floor (a score equal to the floor enters),
// and threshold() starts at the floor instead of -inf, so a caller that already knows a
// score the results must reach (the k-th score of an earlier segment) prunes with it from
// the first document on. A score below the floor never enters, even while fewer than k
// are kept: an early-stopped document's upper bound below the threshold stays out.
//
// NaN: a NaN score is never admitted (push ignores it, admits() is false). So a NaN can
// neither enter ahead of a real score nor break the heap order (every comparison with a
// NaN is false, which would make the heap's strict weak ordering invalid). -inf and +inf
// are ordinary scores.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "aftershock/error.hpp"
#include "aftershock/types.hpp"

namespace aftershock {

class TopK {
 public:
  using Entry = std::pair<float, DocId>;  // (score, id)

  /// Keeps the best `k` pairs (k == 0: keeps nothing). Allocates k + 1 entries.
  explicit TopK(std::size_t k = 0) { reset(k); }

  /// Empties the collector for a new k, keeping its storage (per-thread reuse). Only
  /// scores >= `score_floor` are admitted (-inf: every score but NaN). PRECONDITION: score_floor is
  /// not NaN (callers validate it).
  void reset(std::size_t k, float score_floor = -std::numeric_limits<float>::infinity()) {
    AFTERSHOCK_DCHECK(score_floor == score_floor);
    k_ = k;
    floor_ = score_floor;
    heap_.clear();
    heap_.reserve(k + 1);
    threshold_ = k == 0 ? std::numeric_limits<float>::infinity() : score_floor;
  }
  void clear() { reset(k_, floor_); }

  std::size_t k() const { return k_; }
  float floor() const { return floor_; }
  std::size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }

  /// The score a new pair must reach to enter: the floor (-inf by default) until k pairs
  /// are held, then the worst kept score (a pair equal to it enters only with a smaller
  /// id; it is never below the floor); +inf for k == 0.
  /// O(1) (kept up to date by push, so hot loops can call it per item).
  float threshold() const { return threshold_; }

  /// Cheap pre-check for hot loops: false when push(score, id) cannot change the kept set
  /// for any id (and always for NaN).
  bool admits(float score) const { return score >= threshold_ && k_ != 0; }

  /// Offers one pair. O(log k). NaN scores and scores below the floor are ignored.
  void push(float score, DocId id) {
    if (heap_.size() < k_) {
      if (!(score >= floor_)) return;  // below the floor, or NaN
      heap_.emplace_back(score, id);
      std::push_heap(heap_.begin(), heap_.end(), worse_on_top);
      if (heap_.size() == k_) threshold_ = heap_.front().first;
      return;
    }
    // Full. False for NaN; for k == 0 (threshold +inf, empty heap) nothing enters.
    if (!(score > threshold_ || (score == threshold_ && k_ != 0 && id < heap_.front().second))) return;
    std::pop_heap(heap_.begin(), heap_.end(), worse_on_top);
    heap_.back() = {score, id};
    std::push_heap(heap_.begin(), heap_.end(), worse_on_top);
    threshold_ = heap_.front().first;
  }

  /// The kept pairs in heap order (unsorted).
  const std::vector<Entry>& entries() const { return heap_; }

  /// Sorts the kept pairs best first and returns them. Ends the collection: call reset()
  /// or clear() before pushing again. O(k log k).
  const std::vector<Entry>& sorted() {
    std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) { return better(a, b); });
    return heap_;
  }

  /// Writes exactly k() results best first, padded with -inf / -1 when fewer were kept;
  /// returns how many were kept. Ends the collection like sorted().
  std::size_t write(float* scores, std::int64_t* ids) {
    sorted();
    for (std::size_t i = 0; i < k_; ++i) {
      if (i < heap_.size()) {
        scores[i] = heap_[i].first;
        ids[i] = static_cast<std::int64_t>(heap_[i].second);
      } else {
        scores[i] = -std::numeric_limits<float>::infinity();
        ids[i] = -1;
      }
    }
    return heap_.size();
  }

  /// The order itself: true when (sa, ia) ranks before (sb, ib). False whenever a score is
  /// NaN.
  static bool better(float sa, DocId ia, float sb, DocId ib) { return sa > sb || (sa == sb && ia < ib); }
  static bool better(const Entry& a, const Entry& b) { return better(a.first, a.second, b.first, b.second); }

 private:
  // Heap comparator: the root is the worst kept pair.
  static bool worse_on_top(const Entry& a, const Entry& b) { return better(a, b); }

  std::size_t k_ = 0;
  float floor_ = -std::numeric_limits<float>::infinity();
  float threshold_ = 0.0f;  // see threshold()
  std::vector<Entry> heap_;
};

}  // namespace aftershock
