# CLI tests of issue 12, finding 5 (secrets at rest): registered here, included from tests/CMakeLists.txt.
add_test(NAME cli.secrets_unreadable_at_rest
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_secrets_test.sh $<TARGET_FILE:ecash>)
set_tests_properties(cli.secrets_unreadable_at_rest PROPERTIES TIMEOUT 300)
add_test(NAME cli.secrets_passphrase_typed_on_a_terminal
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/cli_secrets_prompt_test.py
                 $<TARGET_FILE:ecash>)
set_tests_properties(cli.secrets_passphrase_typed_on_a_terminal PROPERTIES TIMEOUT 300)
