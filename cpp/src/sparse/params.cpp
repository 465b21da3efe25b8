// The one check of the sparse build parameters' values: build runs it before any work, load
// runs it on the values a file holds (so a CRC-valid file with centroid_fraction = -1 is a
// FormatError, not an index that misbehaves later).
#include <cmath>
#include <cstdio>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/sparse/config.hpp"

namespace aftershock::sparse {
namespace {

// Shortest exact form: 1e300 prints as "1e+300", not 300 digits.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

}  // namespace

void check_build_params(const BuildParams& p) {
  if (p.n_postings < 1) throw InvalidArgument("n_postings: expected >= 1, got 0");
  if (!(p.centroid_fraction > 0.0 && p.centroid_fraction <= 1.0))
    throw InvalidArgument("centroid_fraction: expected a value in (0, 1], got " + num(p.centroid_fraction));
  if (p.min_cluster_size < 1) throw InvalidArgument("min_cluster_size: expected >= 1, got 0");
  if (!(p.summary_energy > 0.0 && p.summary_energy <= 1.0))
    throw InvalidArgument("summary_energy: expected a value in (0, 1], got " + num(p.summary_energy));
  if (!(p.max_fraction >= 1.0) || !std::isfinite(p.max_fraction))
    throw InvalidArgument("max_fraction: expected a finite value >= 1, got " + num(p.max_fraction));
  if (p.pruning != Pruning::kGlobalThreshold && p.pruning != Pruning::kFixedSize)
    throw InvalidArgument("pruning: expected 'global' or 'fixed'");
  if (p.precision != Precision::kFp16 && p.precision != Precision::kFp32)
    throw InvalidArgument(std::string("precision: expected 'fp16' or 'fp32' for a sparse index, got '") +
                          precision_name(p.precision) + "'");
}

}  // namespace aftershock::sparse
