#include "wallet_commands.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "operator_location.hpp"
#include "parties/wallet/wallet.hpp"

namespace ecash::app {
namespace {

using protocol::Json;

struct Options {
  std::string home;
  std::string operator_location;
  std::string name;
  std::string address;
  std::string card;
  std::string amount;
  std::string input = "-";
  bool json = false;
  bool top_up = false;
};

Options g_options;
CLI::App* g_wallet = nullptr;

int fail_with(const Error& error) {
  std::cerr << "ecash wallet: " << error.to_string() << "\n";
  return 1;
}

std::string default_home() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.ecash/wallet";
}

Result<Json> read_message(const std::string& input) {
  std::string text;
  if (input == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(input);
    if (!in) return fail(ErrorCode::not_found, "cannot read " + input);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::malformed, "the message is not JSON");
  return j;
}

void print(const Json& j, const std::string& text) {
  if (g_options.json) std::cout << j.dump() << "\n";
  else std::cout << text << "\n";
}

}  // namespace

void add_wallet_commands(CLI::App& app) {
  g_wallet = app.add_subcommand("wallet", "A user's wallet: deposit, pay, hand value to other wallets");
  g_wallet->require_subcommand(1);
  g_wallet->fallthrough();  // --home and --json may also follow the sub-command
  g_wallet->add_option("--home", g_options.home, "The wallet's folder (default ~/.ecash/wallet)");
  g_wallet->add_flag("--json", g_options.json, "Print JSON instead of text");
  auto* init = g_wallet->add_subcommand("init", "Enrol this wallet with the operator's CA and connect");
  init->add_option("--operator", g_options.operator_location, "The operator (its data folder)")->required();
  init->add_option("--name", g_options.name, "Your name (goes to the CA alone)")->required();
  init->add_option("--address", g_options.address, "Your address (goes to the CA alone)");
  init->add_option("--card", g_options.card, "Your card number (stays on this device)")->required();
  g_wallet->add_subcommand("deposit", "Deposit from your card (reconciles transfers first)")
      ->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50 in the operator's currency")
      ->required();
  g_wallet->add_subcommand("balance", "Balance at the bank and value received or sent offline");
  g_wallet->add_subcommand("history", "What this wallet did");
  g_wallet->add_subcommand("sync", "Report offline transfers to the bank and take its balance");
  auto* pay = g_wallet->add_subcommand("pay", "Pay a shop's payment request (file or -)");
  pay->add_option("REQUEST", g_options.input, "The payment request (default stdin)");
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
  const auto home = g_options.home.empty() ? default_home() : g_options.home;
  const auto chosen_name = g_wallet->get_subcommands().front()->get_name();
  if (chosen_name != "init" && !std::filesystem::exists(home + "/wallet.db")) {
    return fail_with({ErrorCode::not_found,
                      "no wallet in " + home + ": run `ecash wallet init --home " + home + " ...`"});
  }
  auto wallet = wallet::Wallet::open(home, clock, random);
  if (!wallet) return fail_with(wallet.error());
  auto& w = **wallet;
  const auto chosen = g_wallet->get_subcommands().front()->get_name();

  const auto amount_arg = [&]() -> Result<Amount> {
    auto currency = w.currency();
    if (!currency) return fail(ErrorCode::invalid_argument, "run `ecash wallet init` first");
    return Amount::parse(g_options.amount, *currency);
  };
  // Commands that talk to the operator open it; the rest work offline.
  std::unique_ptr<local::LocalOperator> op;
  std::unique_ptr<protocol::Channel> center;
  const auto connect_operator = [&]() -> Status {
    auto location = chosen == "init" ? Result<std::optional<std::string>>(g_options.operator_location)
                                     : w.setting("operator_location");
    if (!location) return std::unexpected(location.error());
    if (!*location) return fail(ErrorCode::invalid_argument, "run `ecash wallet init` first");
    auto opened = open_operator_at(**location, clock, random);
    if (!opened) return std::unexpected(opened.error());
    op = std::move(*opened);
    center = op->to_center("wallet", w.certificate());
    return {};
  };

  if (chosen == "init") {
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    // The embedded operator hosts a card company sandbox: the card is opened there.
    (void)op->open_card(g_options.card, Amount::parse("1000.00", op->currency()).value());
    const auto address = g_options.address.empty() ? "(not given)" : g_options.address;
    if (auto ok = w.enrol(*op->to_ca("wallet"), g_options.name, address, g_options.card); !ok) {
      return fail_with(ok.error());
    }
    center = op->to_center("wallet", w.certificate());
    if (auto ok = w.connect(*center); !ok) return fail_with(ok.error());
    if (auto ok = w.set_setting("operator_location", g_options.operator_location); !ok) {
      return fail_with(ok.error());
    }
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
      auto balance = w.deposit(*center, *amount);
      if (!balance) return fail_with(balance.error());
      print({{"deposited", amount->to_string()}, {"balance", balance->to_string()}},
            "deposited " + amount->to_string() + "; balance " + balance->to_string());
    } else {
      auto done = w.sync(*center);
      if (!done) return fail_with(done.error());
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
    std::cout << request->dump() << "\n";
    return 0;
  }
  auto message = read_message(g_options.input);
  if (!message) return fail_with(message.error());
  if (chosen == "pay") {
    // In the embedded mode the request names the shop's folder; the shop answers in this process.
    if (!message->contains("shop_home") || !(*message)["shop_home"].is_string()) {
      return fail_with({ErrorCode::malformed, "the payment request names no shop"});
    }
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    auto shop = shop::Shop::open((*message)["shop_home"].get<std::string>(), clock, random);
    if (!shop) return fail_with(shop.error());
    op->connect_shop(**shop);
    auto to_shop = op->to_shop(**shop, "wallet", w.certificate());
    auto paid = w.pay(*to_shop, *message, g_options.top_up ? center.get() : nullptr);
    if (!paid) return fail_with(paid.error());
    print({{"paid", paid->paid.to_string()}, {"item", paid->item}, {"balance", paid->balance.to_string()},
           {"topped_up", paid->topped_up ? paid->topped_up->to_string() : "EUR:0.00"}},
          "paid " + paid->paid.to_string() + " for '" + paid->item + "'" +
              (paid->topped_up ? " (topped up " + paid->topped_up->to_string() + ")" : "") +
              "; balance " + paid->balance.to_string());
    return 0;
  }
  if (chosen == "send") {
    auto transfer = w.send(*message);
    if (!transfer) return fail_with(transfer.error());
    std::cout << transfer->dump() << "\n";
  } else if (chosen == "accept") {
    auto ack = w.accept(*message);
    if (!ack) return fail_with(ack.error());
    std::cout << ack->dump() << "\n";
  } else if (chosen == "confirm") {
    if (auto ok = w.confirm(*message); !ok) return fail_with(ok.error());
    print({{"confirmed", true}}, "transfer confirmed");
  }
  return 0;
}

}  // namespace ecash::app
