// `ecash wallet ...`: a user's wallet on the command line. Messages between wallets are text on
// stdin/stdout or in files, so any carrier will do.
#pragma once

namespace CLI {
class App;
}

namespace ecash::app {

void add_wallet_commands(CLI::App& app);
// The process exit code, or -1 when no wallet command was chosen.
int run_wallet_command();

}  // namespace ecash::app
