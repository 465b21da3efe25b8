// The build parameters an index derives from its corpus when the caller leaves them open.
//
// n_postings. Static pruning trades the length of the lists a query walks against the
// documents it can still find. The best trade grows with the corpus, but more slowly than
// the lists do: on the real SPLADE set (70,604 Debian passages, mean list 513 postings) the
// recall-latency frontier at recall@10 0.95-0.98 is n_postings 500-1000, where pruning
// only shortens the lists of the most common terms; Seismic's published configurations are
// 3,500-6,000 for 8.8M MS MARCO passages (mean list ~35,000). n_postings = 3 * sqrt(n_docs)
// passes through both (800 at 70k, 3,000 at 1M, 8,900 at 8.8M); benchmarks/python/
// bench_sparse.py measures it against Seismic's best build (README, "Sparse").
#include <algorithm>
#include <cmath>

#include "aftershock/sparse/config.hpp"

namespace aftershock::sparse {

std::size_t default_n_postings(std::size_t n_docs) {
  constexpr double kScale = 3.0;
  constexpr std::size_t kMinimum = 100;  // below this, pruning saves nothing worth a lost document
  const double n = kScale * std::sqrt(static_cast<double>(n_docs));
  // Rounded to a multiple of 50 so the number reads as a setting someone could have chosen.
  const auto rounded = static_cast<std::size_t>(std::llround(n / 50.0)) * 50;
  return std::max(kMinimum, rounded);
}

}  // namespace aftershock::sparse
