#include "operator_commands.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "operator_location.hpp"

namespace ecash::app {
namespace {

namespace fs = std::filesystem;
using protocol::Json;

struct Options {
  std::string data;
  std::string currency = "EUR";
  bool json = false;
  std::string user_id;
  std::string case_id;
  std::string reason;
};

Options g_options;
CLI::App* g_init = nullptr;
CLI::App* g_report = nullptr;
CLI::App* g_audit = nullptr;
CLI::App* g_cases = nullptr;
CLI::App* g_disclose = nullptr;

int fail_with(const Error& error) {
  std::cerr << "ecash operator: " << error.to_string() << "\n";
  return 1;
}

void print_report(const Json& report) {
  const auto& f = report["figures"];
  std::cout << "deposited        " << f["deposited"].get<std::string>() << "\n"
            << "paid out         " << f["paid_out"].get<std::string>() << "\n"
            << "user balances    " << f["balances"].get<std::string>() << "  (" << f["users"] << " users)\n"
            << "in flight        " << f["in_flight"].get<std::string>() << "\n"
            << "unpaid sales     " << f["unpaid_sales"].get<std::string>() << "  (" << f["shops"] << " shops)\n"
            << "paying out       " << f["paying_out"].get<std::string>() << "\n"
            << "deposited - paid out = " << report["in_circulation"].get<std::string>()
            << "; balances + in flight + unpaid sales + paying out = "
            << report["accounted_for"].get<std::string>() << "\n"
            << (report["balanced"].get<bool>() ? "balanced: every cent accounted for\n"
                                               : "NOT BALANCED\n");
}

}  // namespace

void add_operator_commands(CLI::App& app) {
  auto* op = app.add_subcommand("operator", "Run and inspect an operator (CA, center, bank, clearing)");
  op->require_subcommand(1);
  const auto data = [](CLI::App* cmd) {
    cmd->add_option("--data", g_options.data, "The operator's data folder")->required();
    cmd->add_flag("--json", g_options.json, "Print JSON instead of text");
  };
  g_init = op->add_subcommand("init", "Create the operator: CA, keys and certificates of every role, stores");
  data(g_init);
  g_init->add_option("--currency", g_options.currency, "ISO 4217 currency of the operator")
      ->default_val("EUR");
  g_report = op->add_subcommand("report", "Money in circulation, and whether every cent is accounted for");
  data(g_report);
  g_audit = op->add_subcommand("audit", "The report, plus every stored signature chain and the disclosure log re-verified");
  data(g_audit);
  g_cases = op->add_subcommand("cases", "Fraud cases the bank has opened, with their evidence");
  data(g_cases);
  g_disclose = op->add_subcommand("disclose", "Ask clearing for the account behind a user ID (needs an open case; logged)");
  data(g_disclose);
  g_disclose->add_option("USER_ID", g_options.user_id, "The user ID")->required();
  g_disclose->add_option("--case", g_options.case_id, "The open case")->required();
  g_disclose->add_option("--reason", g_options.reason, "Why, for the log")->required();
}

int run_operator_command() {
  SystemClock clock;
  crypto::SecureRandom random;
  if (*g_init) {
    auto currency = Currency::from_code(g_options.currency);
    if (!currency) return fail_with(currency.error());
    if (fs::exists(g_options.data + "/operator.json")) {
      return fail_with({ErrorCode::conflict, "an operator exists in " + g_options.data});
    }
    fs::create_directories(g_options.data);
    auto op = local::LocalOperator::open(g_options.data, *currency, clock, random);
    if (!op) return fail_with(op.error());
    std::ofstream(g_options.data + "/operator.json") << Json{{"currency", g_options.currency}}.dump() << "\n";
    const auto fingerprint = (*op)->ca().certificate().fingerprint();
    if (g_options.json) {
      std::cout << Json{{"data", g_options.data}, {"currency", g_options.currency},
                        {"ca_fingerprint", fingerprint}}.dump() << "\n";
    } else {
      std::cout << "operator created in " << g_options.data << " (" << g_options.currency << ")\n"
                << "CA fingerprint: " << fingerprint << "\n";
    }
    return 0;
  }
  if (!*g_report && !*g_audit && !*g_cases && !*g_disclose) return -1;
  auto op = open_operator_at(g_options.data, clock, random);
  if (!op) return fail_with(op.error());
  if (*g_report) {
    auto report = (*op)->report();
    if (!report) return fail_with(report.error());
    if (g_options.json) std::cout << report->dump() << "\n";
    else print_report(*report);
    return (*report)["balanced"].get<bool>() ? 0 : 1;
  }
  if (*g_audit) {
    auto audit = (*op)->audit();
    if (!audit) return fail_with(audit.error());
    if (g_options.json) {
      std::cout << audit->dump() << "\n";
    } else {
      print_report((*audit)["report"]);
      std::cout << "signatures and chains re-verified: " << (*audit)["checked"] << "; disclosure log entries: "
                << (*audit)["disclosure_log_entries"] << "\n";
      for (const auto& p : (*audit)["problems"]) std::cout << "PROBLEM: " << p.get<std::string>() << "\n";
      std::cout << ((*audit)["ok"].get<bool>() ? "audit passed\n" : "audit FAILED\n");
    }
    return (*audit)["ok"].get<bool>() ? 0 : 1;
  }
  if (*g_cases) {
    auto cases = (*op)->center().cases();
    if (!cases) return fail_with(cases.error());
    if (g_options.json) {
      std::cout << cases->dump() << "\n";
    } else {
      if (cases->empty()) std::cout << "no cases\n";
      for (const auto& c : *cases) {
        std::cout << c["case_id"].get<std::string>() << "  " << c["kind"].get<std::string>()
                  << "  user " << c["user_id"].get<std::string>() << "  " << c["state"].get<std::string>()
                  << "\n    evidence: " << c["evidence"].dump().substr(0, 200) << "\n";
      }
    }
    return 0;
  }
  auto user = Id128::parse(g_options.user_id);
  if (!user) return fail_with({ErrorCode::invalid_argument, "USER_ID: " + user.error().message});
  auto case_id = Id128::parse(g_options.case_id);
  if (!case_id) return fail_with({ErrorCode::invalid_argument, "--case: " + case_id.error().message});
  auto disclosed = (*op)->center().disclose(*user, *case_id, g_options.reason, random);
  if (!disclosed) return fail_with(disclosed.error());
  if (g_options.json) {
    std::cout << disclosed->dump() << "\n";
  } else {
    const auto& d = (*disclosed)["disclosure"];
    std::cout << "user " << d["user_id"].get<std::string>() << " (case " << d["case_id"].get<std::string>()
              << "): account " << d["account"].get<std::string>() << "\n"
              << "logged as disclosure log entry " << d["entry"] << "\n";
  }
  return 0;
}

}  // namespace ecash::app
