# CLI tests of issue 16 (operator_lists): registered here, included from tests/CMakeLists.txt.
ecash_cli_test(cli.operator_lists_sandbox_lists_messages_and_kept_address cli_operator_lists_test.sh)
