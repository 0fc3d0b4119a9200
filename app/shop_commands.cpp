#include "shop_commands.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "crypto/random.hpp"
#include "operator_location.hpp"
#include "parties/shop/shop.hpp"

namespace ecash::app {
namespace {

using protocol::Json;

struct Options {
  std::string home;
  std::string operator_location;
  std::string name;
  std::string address;
  std::string account;
  std::string amount;
  std::string item;
  bool json = false;
};

Options g_options;
CLI::App* g_shop = nullptr;

int fail_with(const Error& error) {
  std::cerr << "ecash shop: " << error.to_string() << "\n";
  return 1;
}

void print(const Json& j, const std::string& text) {
  if (g_options.json) std::cout << j.dump() << "\n";
  else std::cout << text << "\n";
}

}  // namespace

void add_shop_commands(CLI::App& app) {
  g_shop = app.add_subcommand("shop", "A shop: register, sell against payment requests, get paid out");
  g_shop->require_subcommand(1);
  g_shop->fallthrough();
  g_shop->add_option("--home", g_options.home, "The shop's folder (default ~/.ecash/shop)");
  g_shop->add_flag("--json", g_options.json, "Print JSON instead of text");
  auto* init = g_shop->add_subcommand("init", "Enrol with the operator's CA and register (Fig 6)");
  init->add_option("--operator", g_options.operator_location, "The operator (its data folder)")->required();
  init->add_option("--name", g_options.name, "The shop's name (goes to the CA alone)")->required();
  init->add_option("--address", g_options.address, "The shop's address (goes to the CA alone)");
  init->add_option("--account", g_options.account, "The IBAN proceeds are paid to (stays here)")->required();
  auto* order = g_shop->add_subcommand("order", "Print a signed payment request for a wallet to pay");
  order->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50")->required();
  order->add_option("--item", g_options.item, "What is sold")->required();
  g_shop->add_subcommand("sales", "Orders and whether they are paid");
  g_shop->add_subcommand("payout", "Have the proceeds paid to the shop's bank account (Fig 11)");
}

int run_shop_command() {
  if (g_shop == nullptr || !*g_shop) return -1;
  SystemClock clock;
  crypto::SecureRandom random;
  const char* env_home = std::getenv("HOME");
  const auto home = g_options.home.empty() ? std::string(env_home ? env_home : ".") + "/.ecash/shop"
                                           : g_options.home;
  const auto chosen = g_shop->get_subcommands().front()->get_name();
  if (chosen != "init" && !std::filesystem::exists(home + "/shop.db")) {
    return fail_with({ErrorCode::not_found, "no shop in " + home + ": run `ecash shop init --home " + home + " ...`"});
  }
  auto opened = shop::Shop::open(home, clock, random);
  if (!opened) return fail_with(opened.error());
  auto& shop = **opened;
  std::string location = g_options.operator_location;
  if (chosen != "init") {
    auto saved = shop.setting("operator_location");
    if (!saved || !*saved) return fail_with({ErrorCode::invalid_argument, "run `ecash shop init` first"});
    location = **saved;
  }
  auto op = open_operator_at(location, clock, random);
  if (!op) return fail_with(op.error());
  auto center = (*op)->to_center("shop", shop.certificate());

  if (chosen == "init") {
    // The embedded operator hosts the shops' bank as a sandbox: the account is opened there.
    (void)(*op)->open_bank_account(g_options.account, g_options.name);
    const auto address = g_options.address.empty() ? "(not given)" : g_options.address;
    if (auto ok = shop.enrol(*(*op)->to_ca("shop"), g_options.name, address, g_options.account); !ok) {
      return fail_with(ok.error());
    }
    center = (*op)->to_center("shop", shop.certificate());
    if (auto ok = shop.connect(*center); !ok) return fail_with(ok.error());
    auto id = shop.register_shop(*center);
    if (!id) return fail_with(id.error());
    if (auto ok = shop.set_setting("operator_location", location); !ok) return fail_with(ok.error());
    print({{"home", home}, {"shop_id", id->to_string()}},
          "shop registered in " + home + " with shop ID " + id->to_string());
    return 0;
  }
  if (chosen == "order") {
    auto currency = shop.currency();
    if (!currency) return fail_with({ErrorCode::invalid_argument, "run `ecash shop init` first"});
    auto amount = Amount::parse(g_options.amount, *currency);
    if (!amount) return fail_with(amount.error());
    auto request = shop.create_order(*amount, g_options.item);
    if (!request) return fail_with(request.error());
    (*request)["shop_home"] = std::filesystem::absolute(home).string();
    std::cout << request->dump() << "\n";
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
  auto payout = shop.payout(*center);
  if (!payout) return fail_with(payout.error());
  print({{"amount", payout->amount.to_string()}, {"paid", payout->paid}, {"reference", payout->reference}},
        std::string(payout->paid ? "paid out " : "payout FAILED: ") + payout->amount.to_string() +
            " (bank reference " + payout->reference + ")");
  return 0;
}

}  // namespace ecash::app
