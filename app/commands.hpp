// The command families of the `ecash` binary, each added to the CLI11 app and run when chosen:
//   `ecash operator init|run|report|audit|cases|disclose|revoke|users|shops|certificates`: the
//   operator, on its data folder (and `ecash sandbox ...`: the institutions' stand-ins);
//   `ecash shop ...`: a shop: enrol and register, sell, see sales and payouts, get paid out,
//   follow its operator (relocate);
//   `ecash wallet ...`: a user's wallet, with its history, what is open (pending, cancel) and its
//   operator (info, relocate); messages between wallets are text on stdin/stdout or in files, so
//   any carrier will do.
#pragma once

namespace CLI {
class App;
}

namespace ecash::app {

void add_operator_commands(CLI::App& app);
void add_shop_commands(CLI::App& app);
void add_wallet_commands(CLI::App& app);
// Each returns the process exit code, or -1 when none of its commands was chosen.
int run_operator_command();
int run_shop_command();
int run_wallet_command();

}  // namespace ecash::app
