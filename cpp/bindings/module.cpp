// The private extension module aftershock._core. Strict: exact dtypes, no silent casts.
#include <pybind11/pybind11.h>

#include <cstring>
#include <pybind11/stl.h>

#include "aftershock/error.hpp"
#include "aftershock/parallel.hpp"
#include "aftershock/io/format.hpp"
#include "aftershock/simd/level.hpp"
#include "progress.hpp"

namespace py = pybind11;

namespace aftershock::bindings {
void bind_sparse(py::module_& m);
void bind_maxsim(py::module_& m);
void bind_store(py::module_& m);
void bind_multivector(py::module_& m);
}  // namespace aftershock::bindings

namespace {

// The file name as Python spells it: bytes decoded as os.fsdecode does, so a name that is
// not UTF-8 comes back as the str the caller passed.
py::object filename(const std::string& path) {
  PyObject* s = PyUnicode_DecodeFSDefaultAndSize(path.data(), static_cast<Py_ssize_t>(path.size()));
  if (s == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(s);
}

// OSError(errno, strerror, filename) is what open() raises: Python picks the errno's own
// subclass (FileNotFoundError, PermissionError, IsADirectoryError, ...).
void set_os_error(const aftershock::IoError& e) {
  try {
    const py::handle os_error(PyExc_OSError);
    py::object exc;
    if (e.error_number() != 0) {
      exc = os_error(e.error_number(), e.reason(), filename(e.path()));
    } else {
      // No errno (e.g. "not a regular file"): the message names the path. A filename
      // without an errno would print as "[Errno None] None: ...".
      exc = os_error(e.what());
    }
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  } catch (py::error_already_set& err) {
    err.restore();
  }
}

// Sets `type(message)`. Messages may quote bytes of a damaged file or a path that are not
// UTF-8: they are decoded with backslashreplace, so the error raised is always the one
// meant, never a UnicodeDecodeError in its place.
void set_error(PyObject* type, const char* message) {
  PyObject* text = PyUnicode_DecodeUTF8(message, static_cast<Py_ssize_t>(std::strlen(message)), "backslashreplace");
  if (text == nullptr) return;  // MemoryError is set
  PyErr_SetObject(type, text);
  Py_DECREF(text);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  using namespace aftershock;
  m.doc() = "aftershock private C++ core; use the public classes in aftershock instead";
  bindings::main_thread_ident() =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  static py::exception<FormatError> format_error(m, "FormatError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FormatError& e) {
      set_error(format_error.ptr(), e.what());
    } catch (const IoError& e) {
      set_os_error(e);
    } catch (const std::invalid_argument& e) {  // InvalidArgument among them
      set_error(PyExc_ValueError, e.what());
    } catch (const std::out_of_range& e) {
      set_error(PyExc_IndexError, e.what());
    }
  });

  m.def("simd_info", [] {
    // Every key comes from the level registry (aftershock/simd/level.hpp).
    py::dict d;
    py::list compiled, supported, compiled_features;
    py::dict cpu;
    for (const simd::LevelInfo& l : simd::levels()) {
      if (l.compiled) compiled.append(l.name);
      if (l.supported) supported.append(l.name);
      if (l.cpu_key != nullptr) cpu[l.cpu_key] = l.cpu_has;
    }
    for (const simd::ExtensionInfo& e : simd::extensions()) {
      cpu[e.name] = e.cpu_has;
      if (e.compiled) compiled_features.append(e.name);
    }
    d["compiled"] = compiled;
    d["supported"] = supported;
    d["active"] = simd::level_name(simd::active_level());
    d["cpu"] = cpu;
    d["compiled_features"] = compiled_features;
    d["bf16_dot"] = simd::active_has(simd::Extension::kAvx512Bf16);
    d["vnni"] = simd::active_has(simd::Extension::kAvx512Vnni);
    return d;
  }, "SIMD levels: compiled into this build, supported by this CPU, and active.");

  m.def("set_simd_level", [](const std::string& name) { simd::set_active_level(simd::parse_level(name)); },
        py::arg("level"), "Force the SIMD level (tests and benchmarks). Raises ValueError if unsupported.");
  m.def("resolve_num_threads", &resolve_num_threads, py::arg("num_threads"));
  // Both CRC-32C implementations, for the test that they agree; "hardware" needs SSE4.2.
  m.def("_crc32c", [](const py::bytes& data, bool hardware) {
    const std::string bytes = data;
    return io::crc32c_using(hardware, bytes.data(), bytes.size());
  });

  m.def(
      "cleanup",
      [](const std::string& path) {
        py::list out;
        for (const std::string& p : io::remove_stale_temporaries(path)) out.append(filename(p));
        return out;
      },
      py::arg("path"), "Remove the stale save temporaries of path (bytes or str); returns their paths.");

  bindings::bind_sparse(m);
  bindings::bind_maxsim(m);
  bindings::bind_store(m);
  bindings::bind_multivector(m);
}
