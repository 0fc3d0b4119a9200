#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli_output.hpp"
#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "operator_location.hpp"
#include "private_files.hpp"
#include "net/net.hpp"
#include "parties/shop/shop.hpp"
#include "parties/wallet/wallet.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/payment_uri.hpp"

namespace ecash::app {
namespace {

using protocol::Json;

struct Options {
  std::string home;
  std::string operator_location;
  std::string name;
  std::string address;
  std::string card;
  std::string ca_fingerprint;
  std::string amount;
  std::string input = "-";
  bool json = false;
  bool top_up = false;
  bool again = false;
};

Options g_options;
CLI::App* g_wallet = nullptr;

int fail_with(const Error& error) { return fail_as("wallet", error); }

// An online request that got no answer may have been carried out: say what happens to it.
int fail_online(const Error& error) {
  if (error.code != ErrorCode::unavailable) return fail_with(error);
  return fail_with({error.code, error.message + " -- the request is kept: the next deposit, sync, or "
                                                "payment of the same request sends it again, and it "
                                                "is carried out once"});
}

Result<std::string> read_text(const std::string& input);

Result<Json> read_message(const std::string& input) {
  auto text = read_text(input);
  if (!text) return std::unexpected(text.error());
  Json j = protocol::parse_limited(*text);
  if (j.is_discarded()) return fail(ErrorCode::malformed, "the message is not JSON");
  return j;
}

Result<std::string> read_text(const std::string& input) {
  std::string text;
  if (input == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(input);
    if (!in) return fail(ErrorCode::not_found, "cannot read " + input);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  return text;
}

// A payment request given as the URI itself, a file holding it, or stdin; the JSON a shop
// printed in earlier versions ({"request", "shop_certificate", "shop_home"}) is taken too.
Result<protocol::PaymentUri> payment_request(const std::string& input) {
  std::string text = input;
  if (input.rfind("ecash://", 0) != 0) {
    auto read = read_text(input);
    if (!read) return std::unexpected(read.error());
    text = *read;
  }
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start != std::string::npos && text[start] == '{') {
    Json j = protocol::parse_limited(text);
    if (j.is_discarded() || !j.contains("shop_home") || !j["shop_home"].is_string()) {
      return fail(ErrorCode::malformed, "the payment request names no shop");
    }
    return protocol::PaymentUri{"", j["shop_home"].get<std::string>(), j};
  }
  return protocol::parse_payment_uri(start == std::string::npos ? "" : text.substr(start));
}

Reporter g_report("wallet");
void print(const Json& j, const std::string& text) { g_report.print(g_options.json, j, text); }

}  // namespace

void add_wallet_commands(CLI::App& app) {
  g_wallet = app.add_subcommand("wallet", "A user's wallet: deposit, pay, hand value to other wallets");
  g_wallet->require_subcommand(1);
  g_wallet->fallthrough();  // --home and --json may also follow the sub-command
  g_wallet->add_option("--home", g_options.home, "The wallet's folder (default ~/.ecash/wallet)");
  g_wallet->add_flag("--json", g_options.json, "Print JSON instead of text");
  auto* init = g_wallet->add_subcommand("init", "Enrol this wallet with the operator's CA and connect");
  init->add_option("--operator", g_options.operator_location,
                   "The operator: https://HOST:PORT, or its data folder to run it embedded")
      ->required();
  init->add_option("--ca-fingerprint", g_options.ca_fingerprint,
                   "The operator CA's fingerprint, to check (otherwise trusted on first use)");
  init->add_option("--name", g_options.name, "Your name (goes to the CA alone)")->required();
  init->add_option("--address", g_options.address, "Your address (goes to the CA alone)");
  init->add_option("--card", g_options.card, "Your card number (stays on this device)")->required();
  auto* deposit = g_wallet->add_subcommand(
      "deposit",
      "Deposit from your card (reconciles transfers first). A deposit an earlier run left "
      "unanswered is finished first; when it was of the same amount, that is all");
  deposit->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50 in the operator's currency")
      ->required();
  deposit->add_flag("--again", g_options.again,
                    "Deposit the amount even when an unanswered deposit of it was just finished");
  g_wallet->add_subcommand("balance", "Balance at the bank and value received or sent offline");
  g_wallet->add_subcommand("history", "What this wallet did");
  g_wallet->add_subcommand("sync", "Report offline transfers to the bank and take its balance");
  auto* pay = g_wallet->add_subcommand("pay", "Pay a shop's payment request (ecash://pay?...)");
  pay->add_option("REQUEST", g_options.input,
                  "The payment request: the ecash://pay?... text, a file holding it, or - (stdin)");
  pay->add_flag("--top-up", g_options.top_up, "When the balance is short, deposit the difference first");
  g_wallet->add_subcommand("receive", "Ask another wallet for AMOUNT: prints a request")
      ->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50")
      ->required();
  g_wallet->add_subcommand("send", "Pay a request (file or - for stdin) offline: prints a transfer")
      ->add_option("REQUEST", g_options.input, "The request (default stdin)");
  g_wallet->add_subcommand("accept", "Take a transfer (file or -): prints an acknowledgement")
      ->add_option("TRANSFER", g_options.input, "The transfer (default stdin)");
  g_wallet->add_subcommand("confirm", "Close a sent transfer with its acknowledgement (file or -)")
      ->add_option("ACK", g_options.input, "The acknowledgement (default stdin)");
}

int run_wallet_command() {
  if (g_wallet == nullptr || !*g_wallet) return -1;
  SystemClock clock;
  crypto::SecureRandom random;
  const auto home = g_options.home.empty() ? default_home("wallet") : g_options.home;
  const auto chosen_name = g_wallet->get_subcommands().front()->get_name();
  if (chosen_name != "init" && !std::filesystem::exists(home + "/wallet.db")) {
    return fail_with({ErrorCode::not_found,
                      "no wallet in " + home + ": run `ecash wallet init --home " + home + " ...`"});
  }
  make_private(home);
  auto wallet = wallet::Wallet::open(home, clock, random);
  if (!wallet) return fail_with(wallet.error());
  auto& w = **wallet;
  const auto chosen = g_wallet->get_subcommands().front()->get_name();
  g_report.command(chosen);

  const auto amount_arg = [&]() -> Result<Amount> {
    auto currency = w.currency();
    if (!currency) return fail(ErrorCode::invalid_argument, "run `ecash wallet init` first");
    return Amount::parse(g_options.amount, *currency);
  };
  // Commands that talk to the operator open a link to it; the rest work offline.
  std::unique_ptr<OperatorLink> link;
  std::unique_ptr<pki::TrustStore> shop_trust;
  const auto say = [](const std::string& line) {
    if (!g_options.json) std::cout << line << "\n";
  };
  const auto connect_operator = [&]() -> Status {
    auto opened = link_device(w, home + "/wallet.keys", "wallet", clock, random);
    if (!opened) return std::unexpected(opened.error());
    link = std::move(*opened);
    return {};
  };

  if (chosen == "init") {
    if (w.certificate() != nullptr && w.trust_anchor()) {
      // Run again (its output lost, or killed after it enrolled): the same operator is
      // connected to again, and the wallet said to be enrolled; another is refused.
      auto saved = w.setting("operator_location");
      if (!saved) return fail_with(saved.error());
      if (!*saved || **saved != g_options.operator_location) {
        return fail_with({ErrorCode::conflict, "a wallet is enrolled in " + home + " already"});
      }
      if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
      if (auto ok = w.connect(link->center()); !ok) return fail_with(ok.error());
      print({{"home", home}, {"certificate_subject", w.certificate()->subject()}, {"earlier", true}},
            "wallet enrolled in " + home + " as " + w.certificate()->subject() +
                " already (by an earlier init): nothing more to do");
      return 0;
    }
    const auto address = g_options.address.empty() ? "(not given)" : g_options.address;
    auto enrolled = enrol_device(
        g_options.operator_location, g_options.ca_fingerprint, say,
        {.key_file = home + "/wallet.keys",
         .prepare = [](local::LocalOperator& op) {
           // The embedded operator hosts a card company sandbox: the card is opened there.
           (void)op.open_card(g_options.card, Amount::parse("1000.00", op.currency()).value());
         },
         .enrol = [&](protocol::Channel& ca) { return w.enrol(ca, g_options.name, address, g_options.card); },
         .save_location = [&](const std::string& at) { return w.set_setting("operator_location", at); },
         .certificate = [&] { return w.certificate(); },
         .connect = [&](protocol::Channel& center) { return w.connect(center); },
         .pinned = [&] { return w.trust_anchor(); }},
        clock, random);
    if (!enrolled) return fail_with(enrolled.error());
    print({{"home", home}, {"certificate_subject", w.certificate()->subject()}},
          "wallet enrolled in " + home + " as " + w.certificate()->subject() +
              " (a pseudonym; your card number stayed here)");
    return 0;
  }
  if (chosen == "deposit" || chosen == "sync") {
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    if (chosen == "deposit") {
      auto amount = amount_arg();
      if (!amount) return fail_with(amount.error());
      auto done = w.deposit(link->center(), *amount, g_options.again);
      if (!done) return fail_online(done.error());
      Json finished = Json::array();
      std::string text;
      Json refused = Json::array();
      for (const auto& [earlier, why] : done->refused_earlier) {
        refused.push_back({{"amount", earlier.to_string()}, {"code", std::string(to_string(why.code))},
                           {"message", why.message}});
        text += "an earlier deposit of " + earlier.to_string() + " was refused (" + why.to_string() +
                "): forgotten\n";
      }
      for (const auto& earlier : done->finished_earlier) {
        finished.push_back(earlier.to_string());
        text += "finished an earlier deposit of " + earlier.to_string() +
                " (its answer had not arrived)\n";
      }
      if (done->unreported_earlier) {
        finished.push_back(done->unreported_earlier->to_string());
        text += "an earlier deposit of " + done->unreported_earlier->to_string() +
                " was made (its command did not get to say so)\n";
      }
      if (done->made) {
        text += "deposited " + amount->to_string() + "; balance " + done->balance.to_string();
      } else {
        text += "that was the deposit of " + amount->to_string() + " asked for: nothing more charged (" +
                "--again deposits it a second time); balance " + done->balance.to_string();
      }
      print({{"deposited", done->made ? amount->to_string() : Amount::zero(amount->currency()).to_string()},
             {"finished_earlier", finished},
             {"refused_earlier", refused},
             {"balance", done->balance.to_string()}},
            text);
      std::cout.flush();
      if (std::cout) (void)w.deposit_reported();  // said: a deposit of the same amount is new
    } else {
      auto done = w.sync(link->center());
      if (!done) return fail_online(done.error());
      print({{"balance", done->balance.to_string()}, {"accepted", done->accepted},
             {"refused", done->refused}, {"returned", done->returned}},
            "balance " + done->balance.to_string() + " (" + std::to_string(done->accepted) +
                " transfers accepted, " + std::to_string(done->refused) + " refused, " +
                std::to_string(done->returned) + " returned)");
    }
    return 0;
  }
  if (chosen == "balance") {
    auto balance = w.balance();
    auto uncleared = w.uncleared();
    if (!balance) return fail_with(balance.error());
    if (!uncleared) return fail_with(uncleared.error());
    print({{"balance", balance->to_string()}, {"uncleared", uncleared->to_string()}},
          "balance " + balance->to_string() + ", uncleared (offline, not yet synced) " +
              uncleared->to_string());
    return 0;
  }
  if (chosen == "history") {
    auto history = w.history();
    if (!history) return fail_with(history.error());
    if (g_options.json) {
      std::cout << history->dump() << "\n";
    } else {
      for (const auto& h : *history) {
        std::cout << h["kind"].get<std::string>() << "  " << h["amount"].get<std::string>()
                  << "  balance " << h["balance"].get<std::string>() << "  "
                  << h["detail"].get<std::string>() << "\n";
      }
    }
    return 0;
  }
  if (chosen == "receive") {
    auto amount = amount_arg();
    if (!amount) return fail_with(amount.error());
    auto request = w.request_transfer(*amount);
    if (!request) return fail_with(request.error());
    g_report.reaching();
    std::cout << request->dump() << "\n";
    return 0;
  }
  if (chosen == "pay") {
    auto uri = payment_request(g_options.input);
    if (!uri) return fail_with(uri.error());
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    std::unique_ptr<shop::Shop> embedded_shop;
    std::unique_ptr<protocol::Channel> to_shop;
    if (!uri->shop_home.empty()) {
      // Embedded mode: the request names the shop's folder; the shop answers in this process.
      auto* op = link->local();
      if (op == nullptr) return fail_with({ErrorCode::invalid_argument, "an embedded shop needs an embedded operator"});
      auto opened = shop::Shop::open(uri->shop_home, clock, random);
      if (!opened) return fail_with(opened.error());
      embedded_shop = std::move(*opened);
      op->connect_shop(*embedded_shop);
      to_shop = op->to_shop(*embedded_shop, "wallet", w.certificate());
    } else {
      // The shop must hold the certificate its request names, from this wallet's CA.
      auto shop_cert = uri->request.contains("shop_certificate") && uri->request["shop_certificate"].is_string()
                           ? pki::Certificate::from_pem(uri->request["shop_certificate"].get<std::string>())
                           : Result<pki::Certificate>(fail(ErrorCode::malformed, "the request names no shop certificate"));
      if (!shop_cert) return fail_with(shop_cert.error());
      auto identity = identity_of(home + "/wallet.keys", w.certificate());
      if (!identity) return fail_with(identity.error());
      shop_trust = std::make_unique<pki::TrustStore>(*w.trust_anchor());
      net::PeerPolicy policy{shop_trust.get(), {pki::Role::shop}};
      policy.pinned_fingerprint = shop_cert->fingerprint();
      auto connection = net::connect("https://" + uri->shop, *identity, policy, clock);
      if (!connection) return fail_with(connection.error());
      to_shop = net::channel(*connection, "shop");
    }
    auto paid = w.pay(*to_shop, uri->request, g_options.top_up ? &link->center() : nullptr);
    if (!paid) return fail_online(paid.error());
    print({{"paid", paid->paid.to_string()}, {"item", paid->item}, {"balance", paid->balance.to_string()},
           {"topped_up", paid->topped_up ? paid->topped_up->to_string() : "EUR:0.00"},
           {"earlier", paid->earlier}},
          (paid->earlier ? "this wallet paid " + paid->paid.to_string() + " for '" + paid->item +
                               "' already: nothing more paid"
                         : "paid " + paid->paid.to_string() + " for '" + paid->item + "'") +
              (paid->topped_up ? " (topped up " + paid->topped_up->to_string() + ")" : "") +
              "; balance " + paid->balance.to_string());
    return 0;
  }
  auto message = read_message(g_options.input);
  if (!message) return fail_with(message.error());
  if (chosen == "send") {
    auto transfer = w.send(*message);
    if (!transfer) return fail_with(transfer.error());
    g_report.reaching();
    std::cout << transfer->dump() << "\n";
  } else if (chosen == "accept") {
    auto ack = w.accept(*message);
    if (!ack) return fail_with(ack.error());
    g_report.reaching();
    if (ack->contains("again")) {
      ack->erase("again");
      std::cerr << "this transfer was accepted already: its acknowledgement again, nothing more credited\n";
    }
    std::cout << ack->dump() << "\n";
  } else if (chosen == "confirm") {
    if (auto ok = w.confirm(*message); !ok) return fail_with(ok.error());
    print({{"confirmed", true}}, "transfer confirmed");
  }
  return 0;
}

}  // namespace ecash::app
