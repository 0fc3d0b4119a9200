# CLI tests of issue 16 (wallet_first_hour): registered here, included from tests/CMakeLists.txt.
ecash_cli_test(cli.wallet_first_hour cli_wallet_first_hour_test.sh)
