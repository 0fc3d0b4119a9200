# CLI tests of issue 12, finding 5 (secrets at rest): registered here, included from tests/CMakeLists.txt.
ecash_cli_test(cli.secrets_unreadable_at_rest cli_secrets_test.sh)
ecash_cli_test(cli.secrets_passphrase_typed_on_a_terminal cli_secrets_prompt_test.py)
