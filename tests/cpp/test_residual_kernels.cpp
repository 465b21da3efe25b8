// Residual (res1/2/4) kernels at every SIMD level against the scalar oracle: decode_res
// bit for bit (one float32 addition of the same operands), rowmax_res within the fp32
// reordering bound. Uses the internal kernel header (no public API exposes one level's
// kernels), as the multivector kernel tests do through their testing namespace.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "../../cpp/src/maxsim/kernels.hpp"
#include "aftershock/util/aligned_buffer.hpp"
#include "test_util.hpp"

namespace aftershock {
namespace {

using maxsim::kernels::DocOps;
using maxsim::kernels::QueryOps;
using maxsim::kernels::ResidualOps;
using maxsim::kernels::table_for;
constexpr std::size_t kP = 16;

using ResidualAt = test::PerLevelTest;

TEST_P(ResidualAt, DecodeBitExactAndRowMaxWithinBound) {
  Rng rng(29);
  const auto& scalar = table_for(simd::Level::kScalar);
  const auto& mine = table_for(this->level());
  for (unsigned bits : {1u, 2u, 4u}) {
    for (std::size_t dim : {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 128, 129}) {
      const std::size_t C = 1 + rng.below(300), n_panels = 1 + rng.below(7), m = 1 + rng.below(20);
      std::vector<float> ct(dim * C), table(dim * 16, 0.0f), q(m * dim);
      for (float& x : ct) x = static_cast<float>(rng.normal());
      for (std::size_t k = 0; k < dim; ++k)
        for (std::size_t j = 0; j < (1u << bits); ++j) table[k * 16 + j] = static_cast<float>(0.1 * rng.normal());
      for (float& x : q) x = static_cast<float>(rng.normal());
      std::vector<std::uint16_t> codes(n_panels * kP);
      for (auto& c : codes) c = static_cast<std::uint16_t>(rng.below(C));
      // +1 byte: the panels start misaligned.
      std::vector<unsigned char> raw(n_panels * dim * 2 * bits + 1);
      for (auto& b : raw) b = static_cast<unsigned char>(rng.below(256));
      ResidualOps r;
      r.bits = bits;
      r.n_centroids = C;
      r.centroids_t = ct.data();
      r.table = table.data();
      r.codes = codes.data();
      DocOps d;
      d.panels = raw.data() + 1;
      d.panel_bytes = dim * 2 * bits;
      d.n_panels = n_panels;
      d.res = &r;
      AlignedBuffer a(n_panels * dim * kP * sizeof(float)), b(n_panels * dim * kP * sizeof(float));
      scalar.decode_res(d, dim, 0, n_panels, a.as<float>());
      const std::size_t p0 = n_panels > 1 ? 1 : 0;
      // Both decode paths: gathers from the transposed centroids only, and rows
      // (row-major centroids, transposed in registers) where a level uses them.
      std::vector<float> rows(C * dim);
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t k = 0; k < dim; ++k) rows[c * dim + k] = ct[k * C + c];
      for (const float* row_major : {static_cast<const float*>(nullptr), static_cast<const float*>(rows.data())}) {
        r.centroids = row_major;
        mine.decode_res(d, dim, p0, n_panels - p0, b.as<float>());
        ASSERT_EQ(
            std::memcmp(a.as<float>() + p0 * dim * kP, b.as<float>(), (n_panels - p0) * dim * kP * sizeof(float)), 0)
            << simd::level_name(this->level()) << " bits=" << bits << " dim=" << dim << " rows=" << (row_major != nullptr);
      }
      // rowmax against the float64 maxima over the scalar-decoded panels.
      AlignedBuffer scratch((m * kP + m + 16 + maxsim::kernels::kResDecodePanels * dim * kP) * sizeof(float));
      r.decode = scratch.as<float>() + (m * kP + m + 15) / 16 * 16;
      std::vector<float> row(m);
      QueryOps qo{q.data(), nullptr, m, dim};
      mine.rowmax_res(qo, d, scratch.as<float>(), row.data());
      const float* dec = a.as<float>();
      for (std::size_t i = 0; i < m; ++i) {
        double best = -HUGE_VAL, mass = 0.0;
        for (std::size_t t = 0; t < n_panels * kP; ++t) {
          double s = 0.0, ab = 0.0;
          for (std::size_t k = 0; k < dim; ++k) {
            const double v = dec[(t / kP) * dim * kP + k * kP + t % kP];
            s += q[i * dim + k] * v;
            ab += std::abs(q[i * dim + k] * v);
          }
          best = std::max(best, s);
          mass = std::max(mass, ab);
        }
        EXPECT_LE(std::abs(row[i] - best), (dim + 2) * FLT_EPSILON * mass + 1e-30)
            << simd::level_name(this->level()) << " bits=" << bits << " dim=" << dim << " i=" << i;
      }
    }
  }
}

INSTANTIATE_PER_LEVEL(ResidualAt);

}  // namespace
}  // namespace aftershock
