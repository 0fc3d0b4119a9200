// The single `ecash` binary: parses the command line and hands over to the parts. No business rule
// lives here.
#include <CLI/CLI.hpp>
#include <sys/stat.h>

#include <iostream>

#include "bench_pay.hpp"
#include "demo.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
  // Every folder and file a party makes is its owner's alone (keys, stores, transfers).
  ::umask(077);
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

  ecash::app::BenchOptions bench_options;
  auto* bench = app.add_subcommand("bench", "Measure the system under load");
  bench->require_subcommand(1);
  auto* bench_pay = bench->add_subcommand(
      "pay",
      "The load generator: start an operator and shop tills as processes on loopback (durable "
      "stores), enrol wallets here, and time payments; prints payments/s, latency, CPU per "
      "payment by process, and the floor the cryptography allows");
  bench_pay->add_option("--wallets", bench_options.wallets, "Wallets paying (each its own keys, certificate and TLS connection)")
      ->capture_default_str();
  bench_pay->add_option("--payments", bench_options.payments, "Payments to time")->capture_default_str();
  bench_pay->add_option("--concurrency", bench_options.concurrency,
                        "Payments under way at once (closed loop; at most --wallets)")
      ->capture_default_str();
  bench_pay->add_option("--rate", bench_options.rate,
                        "Open loop: start this many payments a second, whatever the answers (latency counts from when each was due)");
  bench_pay->add_option("--handshake", bench_options.handshake,
                        "kept: connections kept alive; full: a full mutual-TLS handshake per payment, no resumption")
      ->capture_default_str();
  bench_pay->add_option("--shops", bench_options.shops, "Shop tills the payments are spread over")->capture_default_str();
  bench_pay->add_option("--users", bench_options.users,
                        "Registered users with balances put into the operator first (only --wallets of them pay)")
      ->capture_default_str();
  bench_pay->add_option("--roles", bench_options.roles, "together: the operator in one process; apart: one process per role")
      ->capture_default_str();
  bench_pay->add_option("--nodes", bench_options.nodes,
                        "N center nodes and N bank nodes (one process per role) on the --store database, "
                        "HAProxy in front of the center nodes")
      ->capture_default_str();
  bench_pay->add_option("--amount", bench_options.amount, "What each payment pays, in EUR")->capture_default_str();
  bench_pay->add_option("--idle", bench_options.idle, "Idle TLS connections held open to the operator during the run")
      ->capture_default_str();
  bench_pay->add_option("--idle-from", bench_options.idle_from, "Loopback address the idle connections come from")
      ->capture_default_str();
  bench_pay->add_option("--json", bench_options.json, "Also write the results to this file as JSON");
  bench_pay->add_option("--store", bench_options.store,
                        "postgresql://...: the operator's stores on this (empty) PostgreSQL database "
                        "(operator init --store); default SQLite files");
  bench_pay->add_option("--answered", bench_options.answered,
                        "Write each answered payment to this file, a line each: its order ID, a tab, and when "
                        "it was answered (milliseconds since 1970)");
  bench_pay->add_option("--keep", bench_options.keep, "Keep every party's files in this folder (default: removed at the end)");

  ecash::app::add_operator_commands(app);
  ecash::app::add_wallet_commands(app);
  ecash::app::add_shop_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*demo) return ecash::app::run_demo(demo_options);
  if (*bench_pay) return ecash::app::run_bench_pay(bench_options);
  if (const int code = ecash::app::run_operator_command(); code >= 0) return code;
  if (const int code = ecash::app::run_wallet_command(); code >= 0) return code;
  if (const int code = ecash::app::run_shop_command(); code >= 0) return code;
  return 0;
}
