// The command families of the `ecash` binary, each added to the CLI11 app and run when chosen:
//   `ecash operator init|run|report|audit|cases|disclose|revoke|users|shops|certificates`: the
//   operator, on its data folder (and `ecash sandbox ...`: the institutions' stand-ins);
//   `ecash shop ...`: a shop: enrol and register, sell, see sales and payouts, get paid out,
//   follow its operator (relocate);
//   `ecash wallet ...`: a user's wallet, with its history, what is open (pending, cancel) and its
//   operator (info, relocate); messages between wallets are text on stdin/stdout or in files, so
//   any carrier will do.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace ecash::app {

// What every command that runs a server process takes for its operator's eyes: --metrics
// HOST:PORT|off and --log stderr|FILE|off (see net::NodeOptions).
struct Observability {
  std::string metrics;
  std::string log = "stderr";
};
void add_observability_options(CLI::App* run, Observability& into);

void add_operator_commands(CLI::App& app);
void add_shop_commands(CLI::App& app);
void add_wallet_commands(CLI::App& app);
// Each returns the process exit code, or -1 when none of its commands was chosen.
int run_operator_command();
int run_shop_command();
int run_wallet_command();

}  // namespace ecash::app
