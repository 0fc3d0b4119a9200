// `ecash shop ...`: a shop on the command line: enrol and register, sell, see sales, get paid out.
#pragma once

namespace CLI {
class App;
}

namespace ecash::app {

void add_shop_commands(CLI::App& app);
// The process exit code, or -1 when no shop command was chosen.
int run_shop_command();

}  // namespace ecash::app
