# AFTERSHOCK_SANITIZE: OFF, ON (= address,undefined), or the list given to -fsanitize=
# (e.g. "address,undefined", "undefined", "thread"). Applied PUBLIC to aftershock_core, so
# the C++ tests, the benchmarks and the _core module are compiled and linked the same way.
# Undefined behaviour aborts (-fno-sanitize-recover) instead of printing and going on, so a
# ctest run fails on the first report. See docs/testing.md.
function(aftershock_apply_sanitizers target)
  if(NOT AFTERSHOCK_SANITIZE)
    return()
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "AFTERSHOCK_SANITIZE needs GCC or Clang, not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  set(list "${AFTERSHOCK_SANITIZE}")
  if(list MATCHES "^(ON|On|on|TRUE|True|true|YES|Yes|yes|1)$")
    set(list "address,undefined")
  endif()
  set(flags "-fsanitize=${list}" -fno-omit-frame-pointer)
  if(list MATCHES "undefined")
    list(APPEND flags -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(${target} PUBLIC ${flags})
  target_link_options(${target} PUBLIC "-fsanitize=${list}")
  message(STATUS "aftershock: sanitizers ${list}")
endfunction()
