# CLI tests of issue 16 (operator_lists): registered here, included from tests/CMakeLists.txt.
add_test(NAME cli.operator_lists_sandbox_lists_messages_and_kept_address
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_operator_lists_test.sh $<TARGET_FILE:ecash>)
set_tests_properties(cli.operator_lists_sandbox_lists_messages_and_kept_address PROPERTIES TIMEOUT 300)
