#include <pybind11/pybind11.h>

namespace aftershock::bindings {
void bind_multivector(pybind11::module_& m) {}
}  // namespace aftershock::bindings
