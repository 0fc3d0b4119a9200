# The operator's dashboard (issue 15): in the browser after the demo, and as a role of its own whose
# admin certificate reaches the roles' figures and nothing else. Registered here, included from
# tests/CMakeLists.txt.
ecash_cli_test(browser.dashboard browser_dashboard_test.sh)
set_tests_properties(browser.dashboard PROPERTIES SKIP_RETURN_CODE 77)
ecash_cli_test(cli.dashboard_role_admin cli_dashboard_test.sh)
set_tests_properties(cli.dashboard_role_admin PROPERTIES SKIP_RETURN_CODE 77)
