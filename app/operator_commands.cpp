#include "commands.hpp"
#include "private_files.hpp"

#include <CLI/CLI.hpp>
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_output.hpp"
#include "crypto/random.hpp"
#include "kept_address.hpp"
#include "local/local_operator.hpp"
#include "base/account_number.hpp"
#include "net/nodes.hpp"
#include "operator_location.hpp"

namespace ecash::app {
namespace {

namespace fs = std::filesystem;
using protocol::Json;

struct Options {
  std::string data;
  std::string currency = "EUR";
  bool json = false;
  bool books_only = false;
  std::string user_id;
  std::string case_id;
  std::string reason;
  std::string card_company;
  std::string bank;
  std::string store;
  std::string listen;
  std::string role = "all";
  std::string dashboard;
  std::string node;
  int crl_refresh = 60;
  int io_threads = 0;
  std::vector<std::string> proxy_from;
  int workers = 0;
  int credit_deadline = 24 * 3600;
  int enrol_limit = 10;
  int open_limit = 60;
  std::string serial;
  // sandbox
  std::string number;
  std::string limit = "1000.00";
  std::string expiry;
  std::string cvc;
  std::string holder;
  std::string passphrase_file;
  Observability observed;
};

Options g_options;
CLI::App* g_init = nullptr;
CLI::App* g_report = nullptr;
CLI::App* g_audit = nullptr;
CLI::App* g_cases = nullptr;
CLI::App* g_disclose = nullptr;
CLI::App* g_run = nullptr;
CLI::App* g_revoke = nullptr;
CLI::App* g_expire = nullptr;
CLI::App* g_sandbox_run = nullptr;
CLI::App* g_sandbox_card = nullptr;
CLI::App* g_sandbox_code = nullptr;
CLI::App* g_sandbox_account = nullptr;
CLI::App* g_users = nullptr;
CLI::App* g_shops = nullptr;
CLI::App* g_certificates = nullptr;
CLI::App* g_sandbox_cards = nullptr;
CLI::App* g_sandbox_accounts = nullptr;

int fail_with(const Error& error) { return fail_as("operator", error); }
int sandbox_fail(const Error& error) {
  return fail_as("sandbox", error);
}

// A moment in a list ("2026-11-27T20:41:05Z"), or "-" for none.
std::string time_text(const Json& seconds) {
  return seconds.is_number_integer() ? utc_time(seconds.get<UnixSeconds>()) : "-";
}

// A list as text: a header line and one line a row, each column as wide as its widest cell.
std::string columns(const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string text;
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    text += out + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  text.pop_back();
  return text;
}

std::string revoked_text(const Json& revoked) {
  return revoked.is_null() ? "no" : time_text(revoked);
}

std::string users_text(const Json& users) {
  if (users.empty()) return "no users yet (a wallet is given its user ID by its first deposit)";
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : users) {
    rows.push_back({u["user_id"].get<std::string>(), u["certificate_serial"].get<std::string>(),
                    time_text(u["enrolled"]), revoked_text(u["revoked"]),
                    std::to_string(u["open_cases"].get<std::int64_t>())});
  }
  return columns({"USER ID", "CERTIFICATE", "ENROLLED", "REVOKED", "OPEN CASES"}, rows);
}

std::string shops_text(const Json& shops) {
  if (shops.empty()) return "no shops yet";
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : shops) {
    rows.push_back({s["shop_id"].get<std::string>(),
                    s["name"].is_string() ? s["name"].get<std::string>() : "-",
                    s["certificate_serial"].get<std::string>(), time_text(s["enrolled"]),
                    revoked_text(s["revoked"])});
  }
  return columns({"SHOP ID", "NAME", "CERTIFICATE", "ENROLLED", "REVOKED"}, rows);
}

std::string certificates_text(const Json& certificates) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : certificates) {
    rows.push_back({c["serial"].get<std::string>(), c["role"].get<std::string>(),
                    c["subject"].get<std::string>(), time_text(c["issued"]),
                    time_text(c["expires"]), revoked_text(c["revoked"])});
  }
  return columns({"SERIAL", "ROLE", "SUBJECT", "ISSUED", "EXPIRES", "REVOKED"}, rows);
}

std::string cards_text(const Json& cards) {
  if (cards.empty()) return "no cards (open one with `ecash sandbox card NUMBER --data DIR`)";
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : cards) {
    rows.push_back({c["card"].get<std::string>(), c["limit"].get<std::string>(),
                    c["charged"].get<std::string>(), c["refunded"].get<std::string>(),
                    c["available"].get<std::string>(), time_text(c["opened"])});
  }
  return columns({"CARD", "LIMIT", "CHARGED", "REFUNDED", "AVAILABLE", "OPENED"}, rows);
}

std::string accounts_text(const Json& accounts) {
  if (accounts.empty()) {
    return "no accounts (open one with `ecash sandbox account IBAN --holder NAME --data DIR`)";
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : accounts) {
    rows.push_back({a["iban"].get<std::string>(), a["holder"].get<std::string>(),
                    a["balance"].get<std::string>(),
                    std::to_string(a["transfers"].get<std::int64_t>()), time_text(a["opened"])});
  }
  return columns({"IBAN", "HOLDER", "BALANCE", "TRANSFERS", "OPENED"}, rows);
}

void print_report(const Json& report) {
  const auto& f = report["figures"];
  // One figure a line: its label, its amount, and what it counts (if anything is said).
  const auto line = [&](const char* label, const char* key, const std::string& note = "") {
    std::cout << label << f[key].get<std::string>() << note << "\n";
  };
  const auto owing = f["owing_users"].get<std::int64_t>();
  const auto uncased = f["owing_without_case"].get<std::int64_t>();
  line("deposited        ", "deposited");
  line("paid out         ", "paid_out");
  line("user balances    ", "balances", "  (" + f["users"].dump() + " users)");
  line("owed by users    ", "owed",
       "  (negative balances of " + std::to_string(owing) + (owing == 1 ? " user" : " users") +
           (uncased == 0 ? (owing == 0 ? "" : ", each under a fraud case")
                         : ", " + std::to_string(uncased) + " of them under NO fraud case") +
           "; " + f["open_cases"].dump() + " fraud cases)");
  line("in flight        ", "in_flight");
  line("offline reserve  ", "offline_reserve");
  line("unpaid sales     ", "unpaid_sales", "  (" + f["shops"].dump() + " shops)");
  line("paying out       ", "paying_out");
  line("refunded         ", "refunded", "  (from sales back to users, in all)");
  std::cout << "deposited - paid out = " << report["in_circulation"].get<std::string>()
            << "; balances - owed + in flight + offline reserve + unpaid sales + paying out = "
            << report["accounted_for"].get<std::string>() << "\n";
  if (report.contains("institutions")) {
    const auto& i = report["institutions"];
    if (i.contains("unread")) {
      std::cout << "institutions     NOT RECONCILED: " << i["unread"].get<std::string>()
                << "\n                 (--books-only leaves them out)\n";
    } else {
      std::cout << "card charges     " << i["card_charges"].get<std::string>() << "  (the card company's statement; "
                << i["being_credited"].get<std::string>() << " of it being credited)\n"
                << "bank transfers   " << i["bank_transfers"].get<std::string>() << "  (the bank's statement; "
                << i["being_recorded"].get<std::string>() << " of it being recorded)\n"
                << "differences      " << i["differences"] << "  (request by request)\n";
      for (const auto& named : i["named"]) std::cout << "  DIFFERENCE: " << named.get<std::string>() << "\n";
    }
  }
  // Balanced never hides a loss: what users owe is the operator's until the cases recover it.
  const std::string loss = owing > 0 ? "; of it " + f["owed"].get<std::string>() +
                                           " is owed by users under fraud cases (a loss until recovered)"
                                     : "";
  if (!report["balanced"].get<bool>()) {
    std::cout << "NOT BALANCED"
              << (uncased > 0 ? ": " + std::to_string(uncased) + " user(s) owe money with no fraud case" : "")
              << "\n";
  } else {
    std::cout << "balanced: every cent accounted for"
              << (report.contains("institutions") ? ", and the institutions agree" : " (institutions not read)")
              << loss << "\n";
  }
}

}  // namespace

void add_observability_options(CLI::App* run, Observability& into) {
  run->add_option("--metrics", into.metrics,
                  "HOST:PORT of /metrics, the Prometheus text format over plain HTTP (default "
                  "127.0.0.1 and a free port, its URL in the folder's `metrics` file), or off")
      ->capture_default_str();
  run->add_option("--log", into.log,
                  "The access log, one JSON line per request (time, role, route, request ID, "
                  "caller's certificate serial, outcome code, milliseconds): stderr, a FILE "
                  "(appended) or off")
      ->capture_default_str();
}

void add_sandbox_commands(CLI::App& app) {
  auto* sb = app.add_subcommand("sandbox", "The card company and bank SANDBOXES (stand-ins for real institutions)");
  sb->require_subcommand(1);
  const auto data = [](CLI::App* cmd) {
    cmd->add_option("--data", g_options.data, "The operator's data folder (the sandboxes keep theirs in DIR/sandbox)")
        ->required();
    cmd->add_flag("--json", g_options.json, "Print JSON instead of text");
    cmd->add_option("--passphrase-file", g_options.passphrase_file, kPassphraseFileHelp);
  };
  g_sandbox_run = sb->add_subcommand("run", "Serve the sandboxes to the clearing house (until Ctrl-C)");
  data(g_sandbox_run);
  g_sandbox_run->add_option(
      "--listen", g_options.listen,
      "HOST:PORT (default: the address it had before, kept in DIR/sandbox/listen_address; "
      "the first time 127.0.0.1:0, a free port)");
  g_sandbox_run->add_option("--crl-refresh", g_options.crl_refresh, "Seconds between CRL refreshes")->default_val(60);
  add_observability_options(g_sandbox_run, g_options.observed);
  g_sandbox_card = sb->add_subcommand("card", "Open a card at the sandbox card company");
  data(g_sandbox_card);
  g_sandbox_card->add_option("NUMBER", g_options.number, "The card number (Luhn-checked)")->required();
  g_sandbox_card->add_option("--limit", g_options.limit, "Credit limit, e.g. 1000.00")->default_val("1000.00");
  g_sandbox_card->add_option("--expiry", g_options.expiry,
                             "The expiry printed on the card, MM/YY (default " +
                                 std::string(sandbox::kSandboxExpiry) + ")");
  g_sandbox_card->add_option("--cvc", g_options.cvc,
                             "The CVC on the card's back (default " + std::string(sandbox::kSandboxCvc) +
                                 "); the card company keeps only a keyed hash of it");
  g_sandbox_code = sb->add_subcommand(
      "code", "The one-time code the card company sent the card's holder to confirm the card (what "
              "their banking app would show)");
  data(g_sandbox_code);
  g_sandbox_code->add_option("CARD", g_options.number, "The card number")->required();
  g_sandbox_account = sb->add_subcommand("account", "Open an account at the sandbox bank");
  data(g_sandbox_account);
  g_sandbox_account->add_option("IBAN", g_options.number, "The IBAN")->required();
  g_sandbox_account->add_option("--holder", g_options.holder, "The account holder")->required();
  g_sandbox_cards =
      sb->add_subcommand("cards", "The cards the sandbox card company holds (numbers masked)");
  data(g_sandbox_cards);
  g_sandbox_accounts =
      sb->add_subcommand("accounts", "The accounts the sandbox bank holds (IBANs masked)");
  data(g_sandbox_accounts);
}

void add_operator_commands(CLI::App& app) {
  add_sandbox_commands(app);
  auto* op = app.add_subcommand("operator", "Run and inspect an operator (CA, center, bank, clearing)");
  op->require_subcommand(1);
  const auto data = [](CLI::App* cmd) {
    cmd->add_option("--data", g_options.data, "The operator's data folder")->required();
    cmd->add_flag("--json", g_options.json, "Print JSON instead of text");
    cmd->add_option("--passphrase-file", g_options.passphrase_file, kPassphraseFileHelp);
  };
  g_init = op->add_subcommand("init", "Create the operator: CA, keys and certificates of every role, stores");
  data(g_init);
  g_init->add_option("--currency", g_options.currency, "ISO 4217 currency of the operator")
      ->default_val("EUR");
  g_init->add_option("--card-company", g_options.card_company,
                     "URL of the card company (default: a sandbox hosted by `operator run`)");
  g_init->add_option("--bank", g_options.bank,
                     "URL of the shops' bank (default: a sandbox hosted by `operator run`)");
  g_init
      ->add_option("--store", g_options.store,
                   "postgresql://USER@HOST:PORT/DB: keep the stores of the CA, center, bank and "
                   "clearing in this PostgreSQL database, a schema each (libpq's URL; several "
                   "hosts with target_session_attrs=read-write find the primary). Default: "
                   "SQLite files in the data folder")
      ->check([](const std::string& url) -> std::string {
        return store::is_postgres_url(url) ? "" : "--store takes a postgresql:// URL";
      });
  g_run = op->add_subcommand("run", "Serve wallets and shops (until Ctrl-C): every role here, or one with --role");
  data(g_run);
  g_run->add_option(
      "--listen", g_options.listen,
      "HOST:PORT (all and center: default the address it had before, kept in "
      "DIR/center/listen_address, the first time 127.0.0.1:8443; the others: a free port)");
  g_run->add_option("--role", g_options.role,
                    "all (default), or one of ca, center, bank, clearing: one role per process, over mutual TLS; "
                    "admin: the operator's dashboard, asking those roles for their figures")
      ->check(CLI::IsMember({"all", "ca", "center", "bank", "clearing", "admin"}));
  g_run->add_option("--dashboard", g_options.dashboard,
                    "HOST:PORT of the operator's dashboard (--role admin and all-in-one), plain HTTP "
                    "(default 127.0.0.1 and a free port, its URL in DIR/admin/dashboard or "
                    "DIR/center/dashboard), or off");
  g_run->add_option("--node", g_options.node,
                    "NAME: one of several processes of --role center or bank, sharing the role's "
                    "keys and its stores on PostgreSQL (operator init --store); each center node "
                    "behind the load balancer that devices reach (see docs/deploy.md)");
  g_run->add_option("--crl-refresh", g_options.crl_refresh, "Seconds between CRL refreshes")->default_val(60);
  add_observability_options(g_run, g_options.observed);
  g_run->add_option("--io-threads", g_options.io_threads, "Threads for connections (default: one per core)");
  g_run->add_option("--workers", g_options.workers, "Threads answering requests (default: 16 per core)");
  g_run->add_option("--credit-deadline", g_options.credit_deadline,
                    "Seconds a charged deposit may wait for its credit before the charge is reversed")
      ->capture_default_str();
  g_run
      ->add_option("--proxy-from", g_options.proxy_from,
                   "ADDRESS of a load balancer in front of the front door (repeatable): its "
                   "connections must open with a PROXY protocol v2 header naming the client "
                   "(HAProxy: send-proxy-v2), whose address the per-source limits then count")
      ->check([](const std::string& address) -> std::string {
        in6_addr v6{};
        in_addr v4{};
        const bool ip = inet_pton(AF_INET, address.c_str(), &v4) == 1 ||
                        inet_pton(AF_INET6, address.c_str(), &v6) == 1;
        return ip ? "" : "not an IP address: " + address;
      });
  g_run->add_option("--enrol-limit", g_options.enrol_limit,
                    "Enrolments a minute one source address may make (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  g_run->add_option("--open-limit", g_options.open_limit,
                    "Requests a minute one source address may make without a certificate to the "
                    "open routes that only read (the CA's trust, the center's directory; 0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  g_run->add_option("--card-company", g_options.card_company, "URL of the card company (overrides init's)");
  g_run->add_option("--bank", g_options.bank, "URL of the shops' bank (overrides init's)");
  g_revoke = op->add_subcommand("revoke", "Revoke a certificate (by serial); running roles refuse it from their next CRL refresh");
  data(g_revoke);
  g_revoke->add_option("SERIAL", g_options.serial, "The certificate's serial (hex)")->required();
  g_expire = op->add_subcommand(
      "sweep",
      "Revoke the certificates of users with an open fraud case, and wallet certificates enrolled "
      "more than a day ago whose first deposit never completed, and publish the CRL (the all-in-one "
      "`operator run` does it at every CRL refresh; with one process per role, run it from a timer)");
  data(g_expire);
  g_report = op->add_subcommand(
      "report", "Money in circulation, whether every cent is accounted for, and the books reconciled "
                "request by request with the card company's and the bank's statements");
  data(g_report);
  g_audit = op->add_subcommand("audit", "The report, plus every stored signature chain and the disclosure log re-verified");
  data(g_audit);
  for (auto* cmd : {g_report, g_audit}) {
    cmd->add_flag("--books-only", g_options.books_only,
                  "Leave out the institutions' statements (when they cannot be reached)");
  }
  g_cases = op->add_subcommand("cases", "Fraud cases the bank has opened, with their evidence");
  data(g_cases);
  g_users = op->add_subcommand(
      "users",
      "The registered users: user ID, certificate, enrolled, revoked, open fraud cases "
      "(no card number, name or address)");
  data(g_users);
  g_shops = op->add_subcommand(
      "shops",
      "The registered shops: shop ID, name, certificate, enrolled, revoked (no account number)");
  data(g_shops);
  g_certificates =
      op->add_subcommand("certificates",
                         "Every certificate the CA issued: serial (for `operator revoke`), role, "
                         "pseudonym, issued, expires, revoked");
  data(g_certificates);
  g_disclose = op->add_subcommand("disclose", "Ask clearing for the account behind a user ID (needs an open case; logged)");
  data(g_disclose);
  g_disclose->add_option("USER_ID", g_options.user_id, "The user ID")->required();
  g_disclose->add_option("--case", g_options.case_id, "The open case")->required();
  g_disclose->add_option("--reason", g_options.reason, "Why, for the log")->required();
}

net::NodeOptions node_options() {
  net::NodeOptions options;
  options.data = g_options.data;
  options.role = g_options.role;
  options.node = g_options.node;
  options.listen = g_options.listen;
  options.crl_refresh = std::chrono::seconds(std::max(1, g_options.crl_refresh));
  options.io_threads = g_options.io_threads;
  options.workers = g_options.workers;
  options.enrol_per_minute = g_options.enrol_limit;
  options.open_per_minute = g_options.open_limit;
  options.proxy_from = g_options.proxy_from;
  options.credit_deadline = std::chrono::seconds(std::max(1, g_options.credit_deadline));
  options.card_company_url = g_options.card_company;
  options.bank_url = g_options.bank;
  options.metrics = g_options.observed.metrics;
  options.dashboard = g_options.dashboard;
  options.access_log = g_options.observed.log;
  options.say = [](const std::string& line) { say_as(g_options.json, line); };
  return options;
}

// Runs one of the operator's servers that others find by its address (the front door, the
// sandboxes) where it listened before (kept_address.hpp). who names the server and who reaches it
// ("this operator listened before (its wallets and shops reach it there)").
Status serve_operator_server(const std::string& folder, const char* first_default,
                             const std::string& who,
                             const std::function<Status(const net::NodeOptions&)>& run) {
  return serve_at_kept_address(
      folder,
      {.who = who,
       .again = " (the address it had before; --listen to change it)",
       .kept = " (kept for its next start; --listen to change it)",
       .after_moving = "(and give them the new address)",
       .first_default = first_default},
      node_options(), run);
}

// What a folder given as --data is when it holds no operator: a wallet's or a shop's, or a part
// of an operator (its parent holds one). Said instead of suggesting an operator be made there.
Status check_operator_folder(const std::string& data, bool creating) {
  fs::path folder = fs::path(data).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();
  if (fs::exists(folder / "operator.json")) {
    if (!creating) return {};
    return fail(ErrorCode::conflict, "an operator exists in " + data);
  }
  const char* device = fs::exists(folder / "wallet.db") ? "wallet"
                       : fs::exists(folder / "shop.db") ? "shop"
                                                        : nullptr;
  if (device != nullptr) {
    return fail(ErrorCode::invalid_argument, data + " is a " + device +
                                                 "'s folder, not an operator's: give the folder " +
                                                 "`ecash operator init --data` made");
  }
  std::error_code ec;
  const fs::path parent = folder.has_parent_path() && folder.filename() != ".."
                              ? folder.parent_path()
                              : fs::weakly_canonical(fs::absolute(folder), ec).parent_path();
  if (fs::exists(parent / "operator.json")) {
    return fail(ErrorCode::invalid_argument, data + " is a part of the operator in " +
                                                 parent.string() + ": give --data " +
                                                 parent.string());
  }
  return {};
}

int run_sandbox_command() {
  SystemClock clock;
  if (*g_sandbox_run) {
    if (auto ok = serve_operator_server(
            g_options.data + "/sandbox", "127.0.0.1:0",
            "the sandboxes listened before (the operator's clearing house reaches them there)",
            net::run_sandbox);
        !ok) {
      return sandbox_fail(ok.error());
    }
    return 0;
  }
  auto settings = net::read_operator_settings(g_options.data);
  if (!settings) return sandbox_fail(settings.error());
  if (*g_sandbox_cards || *g_sandbox_accounts) {
    Result<Json> list = fail(ErrorCode::internal, "no list");
    if (*g_sandbox_cards) {
      auto cards = sandbox::CardCompany::open(g_options.data + "/sandbox/card_company.db", clock);
      if (!cards) return sandbox_fail(cards.error());
      list = (*cards)->cards();
    } else {
      auto bank = sandbox::BankInstitution::open(g_options.data + "/sandbox/bank.db", clock);
      if (!bank) return sandbox_fail(bank.error());
      list = (*bank)->accounts();
    }
    if (!list) return sandbox_fail(list.error());
    print_as(g_options.json, *list, *g_sandbox_cards ? cards_text(*list) : accounts_text(*list));
    return 0;
  }
  Result<Json> done = fail(ErrorCode::internal, "no command");
  std::string text;
  if (*g_sandbox_card) {
    auto limit = Amount::parse(g_options.limit, settings->currency);
    if (!limit) return sandbox_fail(limit.error());
    auto cards = sandbox::CardCompany::open(g_options.data + "/sandbox/card_company.db", clock);
    if (!cards) return sandbox_fail(cards.error());
    // Scripts written before cards had an expiry and a CVC keep working: the defaults are said.
    const auto expiry = g_options.expiry.empty() ? std::string(sandbox::kSandboxExpiry) : g_options.expiry;
    const auto cvc = g_options.cvc.empty() ? std::string(sandbox::kSandboxCvc) : g_options.cvc;
    done = (*cards)->handle({}, "open_card", {{"card_number", g_options.number},
                                              {"limit", limit->to_string()},
                                              {"expiry", expiry},
                                              {"cvc", cvc}});
    text = "sandbox card company: card " + mask_account(g_options.number) + " opened, limit " +
           limit->to_string() + ", expiry " + expiry + ", CVC " + cvc +
           (g_options.expiry.empty() && g_options.cvc.empty() ? " (the sandbox's defaults)" : "");
  } else if (*g_sandbox_code) {
    auto cards = sandbox::CardCompany::open(g_options.data + "/sandbox/card_company.db", clock);
    if (!cards) return sandbox_fail(cards.error());
    done = (*cards)->pending_code(g_options.number);
    if (done) text = (*done)["code"].get<std::string>();
  } else {
    auto bank = sandbox::BankInstitution::open(g_options.data + "/sandbox/bank.db", clock);
    if (!bank) return sandbox_fail(bank.error());
    done = (*bank)->handle({}, "open_account",
                           {{"iban", g_options.number}, {"holder", g_options.holder},
                            {"currency", std::string(settings->currency.code())}});
    text = "sandbox bank: account " + mask_account(g_options.number) + " opened for " + g_options.holder;
  }
  if (!done) return sandbox_fail(done.error());
  if (g_options.json) std::cout << done->dump() << "\n";
  else std::cout << text << "\n";
  return 0;
}

int run_operator_command() {
  SystemClock clock;
  crypto::SecureRandom random;
  const bool sandbox_chosen = *g_sandbox_run || *g_sandbox_card || *g_sandbox_code || *g_sandbox_account ||
                              *g_sandbox_cards || *g_sandbox_accounts;
  const bool operator_chosen = *g_init || *g_run || *g_revoke || *g_expire || *g_report || *g_audit ||
                               *g_cases || *g_disclose || *g_users || *g_shops || *g_certificates;
  if (!sandbox_chosen && !operator_chosen) return -1;
  if (!g_options.data.empty()) make_private(g_options.data);
  if (auto ok = check_operator_folder(g_options.data, static_cast<bool>(*g_init)); !ok) {
    return fail_as(sandbox_chosen ? "sandbox" : "operator", ok.error());
  }
  // init offers to seal every role's keys with a passphrase; later commands ask for it if sealed.
  if (auto ok = use_passphrase(g_options.passphrase_file, static_cast<bool>(*g_init)); !ok) {
    return fail_as(sandbox_chosen ? "sandbox" : "operator", ok.error());
  }
  if (sandbox_chosen) return run_sandbox_command();
  if (*g_run) {
    // The front door (all, or center) is where wallets and shops find the operator; the other
    // roles are found by the center through their `listening` files, on any port.
    // A center node keeps its own address (under DATA/center/nodes/NODE), behind the balancer
    // that devices reach; the first time, a free port unless --listen says.
    const bool front_door = g_options.role == "all" || g_options.role == "center";
    if (!g_options.node.empty() && g_options.role != "center" && g_options.role != "bank") {
      return fail_with(Error{ErrorCode::invalid_argument,
                             "--node is for the roles that run as several processes: --role center "
                             "or --role bank"});
    }
    auto kept = net::node_folder(g_options.data + "/center", front_door ? g_options.node : "");
    if (!kept) return fail_with(kept.error());
    auto ok = front_door
                  ? serve_operator_server(
                        *kept, g_options.node.empty() ? "127.0.0.1:8443" : "127.0.0.1:0",
                        "this operator listened before (its wallets and shops reach it there)",
                        net::run_operator)
                  : net::run_operator(node_options());
    if (!ok) return fail_with(ok.error());
    return 0;
  }
  if (*g_revoke) {
    auto settings = net::read_operator_settings(g_options.data);
    if (!settings) return fail_with(settings.error());
    auto ca = ca::CaParty::open(g_options.data + "/ca", "ecash CA", clock, random, settings->store);
    if (!ca) return fail_with(ca.error());
    // Serials are kept in lower case; openssl prints them in upper case.
    std::transform(g_options.serial.begin(), g_options.serial.end(), g_options.serial.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (auto ok = (*ca)->revoke(g_options.serial); !ok) return fail_with(ok.error());
    auto crl = (*ca)->crl();
    if (!crl) return fail_with(crl.error());
    if (auto ok = net::publish_crl(g_options.data, *crl); !ok) return fail_with(ok.error());
    std::cout << (g_options.json ? Json{{"revoked", g_options.serial}}.dump()
                                 : "revoked " + g_options.serial + "; the new CRL is published")
              << "\n";
    return 0;
  }
  if (*g_init) {
    auto currency = Currency::from_code(g_options.currency);
    if (!currency) return fail_with(currency.error());
    if (g_options.card_company.empty() != g_options.bank.empty()) {
      return fail_with({ErrorCode::invalid_argument, "give both --card-company and --bank, or neither"});
    }
    for (const auto* url : {&g_options.card_company, &g_options.bank}) {
      if (!url->empty()) {
        if (auto ok = net::parse_url(*url); !ok) return fail_with(ok.error());
      }
    }
    fs::create_directories(g_options.data);
    local::OpenOptions stores;
    stores.store_server = g_options.store;
    auto op =
        local::LocalOperator::open(g_options.data, *currency, clock, random, std::move(stores));
    if (!op) return fail_with(op.error());
    auto crl = (*op)->ca().crl();
    if (!crl) return fail_with(crl.error());
    if (auto ok = net::publish_crl(g_options.data, *crl); !ok) return fail_with(ok.error());
    if (auto ok = net::write_operator_settings(
            g_options.data, {*currency, g_options.card_company, g_options.bank, g_options.store});
        !ok) {
      return fail_with(ok.error());
    }
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
  // Inspection leaves the center's open sagas to the running operator.
  auto op = open_operator_at(g_options.data, clock, random, false);
  if (!op) return fail_with(op.error());
  if (*g_expire) {
    auto under_cases = (*op)->revoke_under_cases();
    if (!under_cases) return fail_with(under_cases.error());
    auto unconfirmed = (*op)->expire_unconfirmed();
    if (!unconfirmed) return fail_with(unconfirmed.error());
    auto crl = (*op)->ca().crl();
    if (!crl) return fail_with(crl.error());
    if (auto ok = net::publish_crl(g_options.data, *crl); !ok) return fail_with(ok.error());
    print_as(g_options.json, Json{{"under_cases", *under_cases}, {"unconfirmed", *unconfirmed}},
             "certificates revoked: " + std::to_string(under_cases->size()) +
                 " of users with an open fraud case, " + std::to_string(unconfirmed->size()) +
                 " of wallets enrolled more than a day ago with no deposit");
    return 0;
  }
  if (*g_users || *g_shops || *g_certificates) {
    auto list = *g_users ? (*op)->users() : *g_shops ? (*op)->shops() : (*op)->certificates();
    if (!list) return fail_with(list.error());
    print_as(g_options.json, *list,
             *g_users   ? users_text(*list)
             : *g_shops ? shops_text(*list)
                        : certificates_text(*list));
    return 0;
  }
  if (*g_report) {
    auto report = (*op)->report(!g_options.books_only);
    if (!report) return fail_with(report.error());
    if (g_options.json) std::cout << report->dump() << "\n";
    else print_report(*report);
    return (*report)["balanced"].get<bool>() ? 0 : 1;
  }
  if (*g_audit) {
    auto audit = (*op)->audit(!g_options.books_only);
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
    auto cases = (*op)->cases();
    if (!cases) return fail_with(cases.error());
    if (g_options.json) {
      std::cout << cases->dump() << "\n";
    } else {
      if (cases->empty()) std::cout << "no cases\n";
      for (const auto& c : *cases) {
        std::cout << c["case_id"].get<std::string>() << "  " << c["kind"].get<std::string>()
                  << "  user " << c["user_id"].get<std::string>() << "  " << c["state"].get<std::string>()
                  << "\n    evidence (kept by the bank; "
                  << (c["evidence_matches"].get<bool>() ? "matches the bank's signed case"
                                                        : "DOES NOT MATCH the bank's signed case")
                  << "): " << c["evidence"].dump() << "\n";
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
