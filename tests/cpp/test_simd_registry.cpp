// The SIMD level registry and the per-level kernel tables of every module: one list of
// levels, and every module has a complete table for each compiled level and none otherwise.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"
#include "maxsim/kernels.hpp"
#include "multivector/kernels.hpp"
#include "sparse/kernels.hpp"
#include "test_util.hpp"

namespace aftershock {
namespace {

TEST(SimdRegistry, LevelsAreListedOnceInLevelOrder) {
  const auto& levels = simd::levels();
  ASSERT_EQ(levels.size(), simd::kLevelCount);
  std::set<std::string> names;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const simd::LevelInfo& l = levels[i];
    EXPECT_EQ(static_cast<std::size_t>(l.level), i);
    EXPECT_TRUE(names.insert(l.name).second) << l.name;
    EXPECT_EQ(simd::parse_level(l.name), l.level);
    EXPECT_EQ(std::string(simd::level_name(l.level)), l.name);
    EXPECT_EQ(l.supported, l.compiled && l.cpu_has) << l.name;
  }
  EXPECT_TRUE(simd::is_supported(simd::Level::kScalar));
  EXPECT_TRUE(simd::info(simd::active_level()).supported);
  EXPECT_THROW(simd::parse_level("neon9"), InvalidArgument);
  for (const simd::LevelInfo& l : levels) {
    if (l.supported) continue;
    try {
      simd::set_active_level(l.level);
      ADD_FAILURE() << l.name << " was accepted";
    } catch (const InvalidArgument& e) {  // the message says why
      EXPECT_NE(std::string(e.what()).find(l.compiled ? l.cpu_requires : "not compiled"), std::string::npos) << e.what();
    }
  }
  for (const simd::ExtensionInfo& e : simd::extensions()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    if (e.supported) {
      EXPECT_TRUE(simd::is_supported(e.level)) << e.name;
    }
    EXPECT_EQ(simd::active_has(e.extension), e.supported && simd::active_level() == e.level) << e.name;
  }
}

TEST(SimdRegistry, EveryModuleHasACompleteTableForEachCompiledLevelAndNoneOtherwise) {
  for (const simd::LevelInfo& l : simd::levels()) {
    if (!l.compiled) {
      EXPECT_THROW(sparse::sparse_kernels(l.level), InvalidArgument) << l.name;
      EXPECT_THROW(multivector::kernels::table_for(l.level), InvalidArgument) << l.name;
      EXPECT_THROW(maxsim::kernels::table_for(l.level), InvalidArgument) << l.name;
      continue;
    }
    const sparse::SparseKernels& s = sparse::sparse_kernels(l.level);
    EXPECT_TRUE(s.dot_u16_f16 && s.dot_u16_f32 && s.dot_u32_f16 && s.dot_u32_f32 && s.accumulate_codes_u8 &&
                s.accumulate_summary_page)
        << l.name;
    const multivector::kernels::Kernels& v = multivector::kernels::table_for(l.level);
    EXPECT_TRUE(v.dot_panels_f32 && v.scan_f32 && v.scan_i8 && v.interaction_u16) << l.name;
    const maxsim::kernels::Kernels& m = maxsim::kernels::table_for(l.level);
    EXPECT_TRUE(m.rowmax_f32 && m.rowmax_f16 && m.rowmax_bf16 && m.rowmax_i8) << l.name;
    // Extension kernels sit in their level's table exactly when the registry supports them.
    const bool bf16 = simd::is_supported(simd::Extension::kAvx512Bf16) &&
                      simd::info(simd::Extension::kAvx512Bf16).level == l.level;
    const bool vnni = simd::is_supported(simd::Extension::kAvx512Vnni) &&
                      simd::info(simd::Extension::kAvx512Vnni).level == l.level;
    EXPECT_EQ(m.rowmax_bf16_dot != nullptr, bf16) << l.name;
    EXPECT_EQ(m.rowmax_i8_vnni != nullptr, vnni) << l.name;
  }
  EXPECT_EQ(&sparse::sparse_kernels(), &sparse::sparse_kernels(simd::active_level()));
  EXPECT_EQ(&multivector::kernels::active(), &multivector::kernels::table_for(simd::active_level()));
}

}  // namespace
}  // namespace aftershock
