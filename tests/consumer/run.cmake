# ctest: install ocibake into a scratch prefix, then build and run a separate project
# against it, once through find_package(ocibake CONFIG) and once through pkg-config.
# Inputs: SOURCE_DIR, BINARY_DIR, WORK_DIR.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run_checked)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run_checked(${CMAKE_COMMAND} --install "${BINARY_DIR}" --prefix "${prefix}")
foreach(f include/ocibake/ocibake.hpp lib/cmake/ocibake/ocibakeConfig.cmake lib/pkgconfig/ocibake.pc bin/ocibake)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install did not produce ${f}")
  endif()
endforeach()
# No C library header leaks into the public headers.
file(GLOB headers "${prefix}/include/ocibake/*.hpp")
foreach(h ${headers})
  file(STRINGS "${h}" bad REGEX "#include <(archive|curl|openssl|zstd|zlib|libdeflate|toml|nlohmann)")
  if(bad)
    message(FATAL_ERROR "${h} includes a private dependency: ${bad}")
  endif()
endforeach()

# 1. find_package(ocibake CONFIG)
run_checked(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build"
            "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
run_checked(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run_checked("${WORK_DIR}/build/embed" "${WORK_DIR}/run-cmake")
message(STATUS "find_package consumer: ${last_output}")
if(NOT last_output MATCHES "recipe image sha256:[0-9a-f]+")
  message(FATAL_ERROR "unexpected output: ${last_output}")
endif()

# 2. pkg-config
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
run_checked(pkg-config --cflags --libs ocibake)
string(STRIP "${last_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run_checked(c++ -std=c++20 "${SOURCE_DIR}/tests/consumer/embed.cpp" ${flags} "-Wl,-rpath,${prefix}/lib"
            -o "${WORK_DIR}/embed-pc")
run_checked("${WORK_DIR}/embed-pc" "${WORK_DIR}/run-pc")
message(STATUS "pkg-config consumer: ${last_output}")

# The installed CLI runs too.
run_checked("${prefix}/bin/ocibake" --version)
