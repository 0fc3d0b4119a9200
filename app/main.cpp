// The single `ecash` binary: parses the command line and hands over to the parts. No business rule
// lives here.
#include <CLI/CLI.hpp>

#include <iostream>

#include "demo.hpp"
#include "operator_commands.hpp"
#include "shop_commands.hpp"
#include "wallet_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ecash - an electronic cash system: deposit, pay shops, pass value device to "
               "device, pay shops out"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ecash ") + ECASH_VERSION);

  ecash::app::DemoOptions demo_options;
  auto* demo = app.add_subcommand(
      "demo", "Run the whole system on this machine, narrated step by step (temporary files)");
  demo->add_option("--keep", demo_options.keep_dir,
                   "Write the demo's files to this folder and keep them (default: a temporary "
                   "folder, removed at the end)");

  ecash::app::add_operator_commands(app);
  ecash::app::add_wallet_commands(app);
  ecash::app::add_shop_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*demo) return ecash::app::run_demo(demo_options);
  if (const int code = ecash::app::run_operator_command(); code >= 0) return code;
  if (const int code = ecash::app::run_wallet_command(); code >= 0) return code;
  if (const int code = ecash::app::run_shop_command(); code >= 0) return code;
  return 0;
}
