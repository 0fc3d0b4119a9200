#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_output.hpp"
#include "crypto/random.hpp"
#include "operator_location.hpp"
#include "private_files.hpp"
#include "net/nodes.hpp"
#include "parties/shop/shop.hpp"
#include "protocol/payment_uri.hpp"

namespace ecash::app {
namespace {

using protocol::Json;

struct Options {
  std::string home;
  std::string operator_location;
  std::string name;
  std::string address;
  std::string account;
  std::string ca_fingerprint;
  std::string listen;
  int crl_refresh = 60;
  int io_threads = 0;
  int workers = 0;
  std::string amount;
  std::string item;
  bool json = false;
};

Options g_options;
CLI::App* g_shop = nullptr;

int fail_with(const Error& error) { return fail_as("shop", error); }

Reporter g_report("shop");
void print(const Json& j, const std::string& text) { g_report.print(g_options.json, j, text); }

}  // namespace

void add_shop_commands(CLI::App& app) {
  g_shop = app.add_subcommand("shop", "A shop: register, sell against payment requests, get paid out");
  g_shop->require_subcommand(1);
  g_shop->fallthrough();
  g_shop->add_option("--home", g_options.home, "The shop's folder (default ~/.ecash/shop)");
  g_shop->add_flag("--json", g_options.json, "Print JSON instead of text");
  auto* init = g_shop->add_subcommand("init", "Enrol with the operator's CA and register (Fig 6)");
  init->add_option("--operator", g_options.operator_location,
                   "The operator: https://HOST:PORT, or its data folder to run it embedded")
      ->required();
  init->add_option("--ca-fingerprint", g_options.ca_fingerprint,
                   "The operator CA's fingerprint, to check (otherwise trusted on first use)");
  init->add_option("--name", g_options.name, "The shop's name (goes to the CA alone)")->required();
  init->add_option("--address", g_options.address, "The shop's address (goes to the CA alone)");
  init->add_option("--account", g_options.account, "The IBAN proceeds are paid to (stays here)")->required();
  auto* run = g_shop->add_subcommand("run", "Serve wallets paying this shop's requests (until Ctrl-C)");
  run->add_option("--listen", g_options.listen, "HOST:PORT to listen on (default 127.0.0.1:0, a free port)");
  run->add_option("--crl-refresh", g_options.crl_refresh, "Seconds between CRL refreshes")->default_val(60);
  run->add_option("--io-threads", g_options.io_threads, "Threads for connections (default: one per core)");
  run->add_option("--workers", g_options.workers, "Threads answering payments (default: 16 per core)");
  auto* order = g_shop->add_subcommand("order", "Print a signed payment request (ecash://pay?...) for a wallet to pay");
  order->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50")->required();
  order->add_option("--item", g_options.item, "What is sold")->required();
  g_shop->add_subcommand("sales", "Orders and whether they are paid");
  g_shop->add_subcommand("payout", "Have the proceeds paid to the shop's bank account (Fig 11)");
}

int run_shop_command() {
  if (g_shop == nullptr || !*g_shop) return -1;
  SystemClock clock;
  crypto::SecureRandom random;
  const auto home = g_options.home.empty() ? default_home("shop") : g_options.home;
  const auto chosen = g_shop->get_subcommands().front()->get_name();
  g_report.command(chosen);
  if (chosen != "init" && !std::filesystem::exists(home + "/shop.db")) {
    return fail_with({ErrorCode::not_found, "no shop in " + home + ": run `ecash shop init --home " + home + " ...`"});
  }
  make_private(home);
  auto opened = shop::Shop::open(home, clock, random);
  if (!opened) return fail_with(opened.error());
  auto& shop = **opened;
  const auto say = [](const std::string& line) {
    if (!g_options.json) std::cout << line << "\n";
  };
  if (chosen == "run") {
    opened->reset();  // the server opens the shop itself
    net::NodeOptions options;
    options.data = home;
    options.listen = g_options.listen;
    options.crl_refresh = std::chrono::seconds(std::max(1, g_options.crl_refresh));
    options.io_threads = g_options.io_threads;
    options.workers = g_options.workers;
    options.say = [](const std::string& line) { say_as(g_options.json, line); };
    if (auto ok = net::run_shop(options); !ok) return fail_with(ok.error());
    return 0;
  }
  std::unique_ptr<OperatorLink> link;
  const auto connect_operator = [&]() -> Status {
    auto link_opened = link_device(shop, home + "/shop.keys", "shop", clock, random);
    if (!link_opened) return std::unexpected(link_opened.error());
    link = std::move(*link_opened);
    return {};
  };

  if (chosen == "init") {
    if (shop.shop_id()) {
      // Run again (its output lost, or killed after it registered): said so, with the shop ID,
      // for the same operator; another is refused.
      auto saved = shop.setting("operator_location");
      if (!saved) return fail_with(saved.error());
      if (!*saved || **saved != g_options.operator_location) {
        return fail_with({ErrorCode::conflict, "a shop is registered in " + home + " already"});
      }
      print({{"home", home}, {"shop_id", shop.shop_id()->to_string()}, {"earlier", true}},
            "shop registered in " + home + " with shop ID " + shop.shop_id()->to_string() +
                " already (by an earlier init): nothing more to do");
      return 0;
    }
    const auto address = g_options.address.empty() ? "(not given)" : g_options.address;
    auto enrolled = enrol_device(
        g_options.operator_location, g_options.ca_fingerprint, say,
        {.key_file = home + "/shop.keys",
         .prepare = [](local::LocalOperator& op) {
           // The embedded operator hosts the shops' bank as a sandbox: the account is opened there.
           (void)op.open_bank_account(g_options.account, g_options.name);
         },
         .enrol = [&](protocol::Channel& ca) { return shop.enrol(ca, g_options.name, address, g_options.account); },
         .save_location = [&](const std::string& at) { return shop.set_setting("operator_location", at); },
         .certificate = [&] { return shop.certificate(); },
         .connect = [&](protocol::Channel& center) { return shop.connect(center); },
         .pinned = [&] { return shop.trust_anchor(); }},
        clock, random);
    if (enrolled) {
      link = std::move(*enrolled);
    } else if (enrolled.error().code == ErrorCode::conflict) {
      // Enrolled and connected by an init that stopped before registering: register now.
      if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    } else {
      return fail_with(enrolled.error());
    }
    auto id = shop.register_shop(link->center());
    if (!id) return fail_with(id.error());
    print({{"home", home}, {"shop_id", id->to_string()}},
          "shop registered in " + home + " with shop ID " + id->to_string());
    return 0;
  }
  if (chosen == "order") {
    auto currency = shop.currency();
    if (!currency) return fail_with({ErrorCode::invalid_argument, "run `ecash shop init` first"});
    auto amount = Amount::parse(g_options.amount, *currency);
    if (!amount) return fail_with(amount.error());
    // Wallets reach the shop where `shop run` listens; an embedded shop is named by its folder.
    auto location = shop.setting("operator_location");
    if (!location) return fail_with(location.error());
    protocol::PaymentUri uri;
    if (*location && is_url(**location)) {
      // Just after `shop run &` the till may still be starting.
      auto url = net::listening_url(home, std::chrono::seconds(5));
      if (!url) {
        return fail_with({ErrorCode::unavailable,
                          "the shop is not running: start `ecash shop run --home " + home + "` first"});
      }
      auto address = net::parse_url(*url);
      if (!address) return fail_with(address.error());
      uri.shop = address->host + ":" + std::to_string(address->port);
    } else {
      uri.shop_home = std::filesystem::absolute(home).string();
    }
    auto request = shop.create_order(*amount, g_options.item);
    if (!request) return fail_with(request.error());
    uri.request = *request;
    const auto text = protocol::to_payment_uri(uri);
    print({{"payment_request", text}, {"amount", amount->to_string()}, {"item", g_options.item}}, text);
    return 0;
  }
  if (chosen == "sales") {
    auto sales = shop.sales();
    if (!sales) return fail_with(sales.error());
    if (g_options.json) {
      std::cout << sales->dump() << "\n";
    } else {
      for (const auto& o : (*sales)["orders"]) {
        std::cout << o["state"].get<std::string>() << "  " << o["amount"].get<std::string>() << "  "
                  << o["item"].get<std::string>() << "\n";
      }
    }
    return 0;
  }
  if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
  auto payout = shop.payout(link->center());
  if (!payout) return fail_with(payout.error());
  const bool nothing = payout->amount.minor() == 0;
  print({{"amount", payout->amount.to_string()}, {"paid", payout->paid}, {"reference", payout->reference}},
        nothing ? std::string("nothing to pay out: no paid sales since the last payout")
                : std::string(payout->paid ? "paid out " : "payout FAILED: ") + payout->amount.to_string() +
                      " (bank reference " + payout->reference + ")");
  return 0;
}

}  // namespace ecash::app
