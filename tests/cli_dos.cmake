# Denial of service against a real operator and till (issue 12, findings 3 and 4): registered
# here, included from tests/CMakeLists.txt. Loopback addresses other than 127.0.0.1 stand for
# other hosts.
add_test(NAME cli.dos
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/cli_dos_test.py $<TARGET_FILE:ecash>
                 ${CMAKE_SOURCE_DIR}/bench/dos_bench.py)
set_tests_properties(cli.dos PROPERTIES TIMEOUT 300)
