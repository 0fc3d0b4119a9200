# CLI tests of issue 16 (shop_first_hour): registered here, included from tests/CMakeLists.txt.
add_test(NAME cli.shop_first_hour
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_shop_first_hour_test.sh $<TARGET_FILE:ecash>)
set_tests_properties(cli.shop_first_hour PROPERTIES TIMEOUT 300)
