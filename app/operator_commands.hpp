// `ecash operator init|report|audit|cases|disclose`: the operator's commands on its data folder.
#pragma once

namespace CLI {
class App;
}

namespace ecash::app {

// Adds the operator sub-commands to app; run_operator runs whichever was chosen.
void add_operator_commands(CLI::App& app);
// Returns the process exit code, or -1 when no operator command was chosen.
int run_operator_command();

}  // namespace ecash::app
