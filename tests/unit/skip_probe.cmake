# Runs the skip probe (a hidden test of test_rules that always skips) the two ways the
# suite runs: by hand it passes and prints the line ctest reports as "Skipped"; under
# OCIBAKE_REQUIRE_ALL_TESTS=1 (scripts/test.sh, CI) it fails. Usage:
#   cmake -DPROBE=<path to test_rules> -P skip_probe.cmake
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env --unset=OCIBAKE_REQUIRE_ALL_TESTS ${PROBE} "[skip-probe]" --reporter compact
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "(^|\n)OCIBAKE_TEST_SKIPPED: the skip probe skips on purpose\n")
  string(REPLACE "OCIBAKE_TEST_SKIPPED" "(marker)" out "${out}")
  message(FATAL_ERROR "by hand, the probe should pass and print the skip marker; exit ${rc}:\n${out}${err}")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env OCIBAKE_REQUIRE_ALL_TESTS=1 ${PROBE} "[skip-probe]" --reporter compact
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR out MATCHES "OCIBAKE_TEST_SKIPPED"
   OR NOT out MATCHES "this test must run here \\(OCIBAKE_REQUIRE_ALL_TESTS=1\\), but it would skip: the skip probe skips on purpose")
  string(REPLACE "OCIBAKE_TEST_SKIPPED" "(marker)" out "${out}")
  message(FATAL_ERROR "under OCIBAKE_REQUIRE_ALL_TESTS=1 the probe should fail; exit ${rc}:\n${out}${err}")
endif()
message(STATUS "skip probe: skipped by hand, failed where every test must run")
