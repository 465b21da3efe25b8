// Internal: the one shape every module's kernel table takes. Baseline code only (it holds a
// template): never include it from a kernels_<level>.cpp translation unit (STYLE.md section 3).
//
// A module defines a struct of plain function pointers (its Table), one instance per level
// in its kernels_<level>.cpp, and a factory `const Table* make(simd::Level)` that returns
// the level's instance, or nullptr when this build has no kernels for the level (the
// factory may also patch in extension kernels the registry reports supported). The module
// then keeps one PerLevel<Table> in a function-local static, so the tables are built once,
// at first use, thread-safely, with no global written from a constructor:
//
//   const simd::PerLevel<Kernels>& registry() {
//     static const simd::PerLevel<Kernels> r(&make);
//     return r;
//   }
//   const Kernels& table_for(simd::Level l) { return registry().at(l); }
//   const Kernels& active() { return registry().active(); }
#pragma once

#include <array>
#include <string>

#include "aftershock/error.hpp"
#include "aftershock/simd/level.hpp"

namespace aftershock::simd {

template <class Table>
class PerLevel {
 public:
  using Make = const Table* (*)(Level);

  /// Calls make once per compiled level of the registry.
  explicit PerLevel(Make make) {
    for (const LevelInfo& l : levels())
      if (l.compiled) tables_[static_cast<std::size_t>(l.level)] = make(l.level);
  }

  /// The level's table. Throws InvalidArgument if the level is not compiled in.
  const Table& at(Level level) const {
    const auto i = static_cast<std::size_t>(level);
    if (i < kLevelCount && tables_[i] != nullptr) return *tables_[i];
    throw InvalidArgument(std::string("simd level '") + level_name(level) + "' is not compiled in");
  }

  /// The table of simd::active_level() (one atomic load, then an array lookup).
  const Table& active() const { return at(active_level()); }

 private:
  std::array<const Table*, kLevelCount> tables_{};
};

}  // namespace aftershock::simd
