# CLI tests of issue 16 (shop_first_hour): registered here, included from tests/CMakeLists.txt.
ecash_cli_test(cli.shop_first_hour cli_shop_first_hour_test.sh)
