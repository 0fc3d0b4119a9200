# CLI and browser tests of issues 16 (shop_first_hour) and 14 (checkout): registered here, included from tests/CMakeLists.txt.
ecash_cli_test(cli.shop_first_hour cli_shop_first_hour_test.sh)
ecash_cli_test(cli.checkout cli_checkout_test.sh)
ecash_cli_test(browser.checkout browser_checkout_test.sh)
set_tests_properties(browser.checkout PROPERTIES SKIP_RETURN_CODE 77)
