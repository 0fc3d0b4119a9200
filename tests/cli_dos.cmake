# Denial of service against a real operator and till (issue 12, findings 3 and 4): registered
# here, included from tests/CMakeLists.txt. Loopback addresses other than 127.0.0.1 stand for
# other hosts.
ecash_cli_test(cli.dos cli_dos_test.py ${CMAKE_SOURCE_DIR}/bench/dos_bench.py)
