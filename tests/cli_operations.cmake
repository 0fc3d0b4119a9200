# What operators watch (issue 15): metrics, the access log and what it must never hold. Registered here, included from
# tests/CMakeLists.txt.
ecash_cli_test(cli.metrics cli_metrics_test.sh)
ecash_cli_test(cli.log_privacy cli_log_privacy_test.sh)
