#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_output.hpp"
#include "commands.hpp"
#include "crypto/random.hpp"
#include "kept_address.hpp"
#include "base/text_file.hpp"
#include "net/nodes.hpp"
#include "operator_location.hpp"
#include "parties/shop/shop.hpp"
#include "private_files.hpp"
#include "protocol/payment_uri.hpp"
#include "protocol/statements.hpp"
#include "relocate.hpp"

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
  std::string checkout;
  std::string checkout_certificate;
  std::string checkout_key;
  std::vector<std::string> checkout_proxies;
  Observability observed;
  std::string api;
  int crl_refresh = 60;
  int io_threads = 0;
  int workers = 0;
  std::string amount;
  std::string item;
  std::string expires;
  std::string order_id;
  std::string reason;
  std::string passphrase_file;
  bool json = false;
};

Options g_options;
CLI::App* g_shop = nullptr;

int fail_with(const Error& error) { return fail_as("shop", error); }

Reporter g_report("shop");
void print(const Json& j, const std::string& text) { g_report.print(g_options.json, j, text); }

// --expires: seconds, or a number with s, m, h or d.
Result<UnixSeconds> parse_lifetime(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  const UnixSeconds scale = unit.empty() || unit == "s" ? 1
                            : unit == "m"               ? 60
                            : unit == "h"               ? 3600
                            : unit == "d"               ? 86400
                                                        : 0;
  if (digits == 0 || digits > 9 || scale == 0) {
    return fail(ErrorCode::invalid_argument,
                "--expires takes 90s, 15m, 2h, 1d or seconds, not '" + text + "'");
  }
  return std::stoll(text.substr(0, digits)) * scale;
}

// "15 minutes", "1 hour", "90 seconds": a lifetime as a person says it (in whole units).
std::string lifetime_text(UnixSeconds seconds) {
  const auto in = [&](UnixSeconds n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
  };
  if (seconds % 86400 == 0) return in(seconds / 86400, "day");
  if (seconds % 3600 == 0) return in(seconds / 3600, "hour");
  if (seconds % 60 == 0) return in(seconds / 60, "minute");
  return in(seconds, "second");
}

// The text forms of `sales` and `payouts`, from their JSON forms (the shop's).
void print_sales(const Json& sales) {
  const auto& orders = sales["orders"];
  if (orders.empty()) std::cout << "no orders yet\n";
  for (const auto& o : orders) {
    std::cout << o["time"].get<std::string>() << "  " << o["order_id"].get<std::string>() << "  "
              << o["state"].get<std::string>() << "  " << o["amount"].get<std::string>() << "  "
              << o["item"].get<std::string>() << "\n";
  }
  const auto& t = sales["totals"];
  std::cout << "paid          " << t["paid"].get<std::string>() << "\n"
            << "  refunded    " << t["refunded"].get<std::string>() << "\n"
            << "  paid out    " << t["paid_out"].get<std::string>() << "\n"
            << "  to pay out  " << t["to_pay_out"].get<std::string>() << "\n"
            << "open          " << t["open"].get<std::string>() << "\n";
}

void print_payouts(const Json& payouts) {
  constexpr std::size_t kShown = 5;
  const auto& list = payouts["payouts"];
  if (list.empty()) std::cout << "no payouts yet\n";
  for (const auto& p : list) {
    const auto& orders = p["orders"];
    std::cout << p["time"].get<std::string>() << "  "
              << (p["paid"].get<bool>() ? "paid out" : "FAILED") << "  "
              << p["amount"].get<std::string>() << "  bank reference "
              << p["reference"].get<std::string>();
    if (!orders.empty()) {
      std::cout << "  " << orders.size() << (orders.size() == 1 ? " sale:" : " sales:");
      for (std::size_t i = 0; i < orders.size() && i < kShown; ++i) {
        std::cout << " " << orders[i].get<std::string>();
      }
      if (orders.size() > kShown) {
        std::cout << " and " << orders.size() - kShown << " more (--json lists them)";
      }
    }
    std::cout << "\n";
  }
}

}  // namespace

void add_shop_commands(CLI::App& app) {
  g_shop = app.add_subcommand("shop", "A shop: register, sell against payment requests, get paid out");
  g_shop->require_subcommand(1);
  g_shop->fallthrough();  // --home and --json may also follow the sub-command
  // Declared on each sub-command too, so that its --help lists them.
  const auto common = [](CLI::App* command) {
    command->add_option("--home", g_options.home, "The shop's folder (default ~/.ecash/shop)");
    command->add_flag("--json", g_options.json, "Print JSON instead of text");
    command->add_option("--passphrase-file", g_options.passphrase_file, kPassphraseFileHelp);
    return command;
  };
  common(g_shop);
  auto* init =
      common(g_shop->add_subcommand("init", "Enrol with the operator's CA and register the shop"));
  init->add_option("--operator", g_options.operator_location,
                   "The operator: https://HOST:PORT, or its data folder to run it embedded")
      ->required();
  init->add_option("--ca-fingerprint", g_options.ca_fingerprint,
                   "The operator CA's fingerprint, to check (otherwise trusted on first use)");
  init->add_option("--name", g_options.name, "The shop's name (goes to the CA alone)")->required();
  init->add_option("--address", g_options.address, "The shop's address (goes to the CA alone)");
  init->add_option("--account", g_options.account, "The IBAN proceeds are paid to (stays here)")->required();
  auto* run = common(
      g_shop->add_subcommand("run", "Serve wallets paying this shop's requests (until Ctrl-C)"));
  run->add_option("--listen", g_options.listen,
                  "HOST:PORT to listen on (default: where the till listened last, so the payment "
                  "requests handed out stay payable; on its first run 127.0.0.1 and a free port)");
  run->add_option("--checkout", g_options.checkout,
                  "HOST:PORT of the checkout pages customers open (plain HTTP, for loopback behind "
                  "the shop's web server; default 127.0.0.1 and a free port), or off");
  run->add_option("--checkout-cert", g_options.checkout_certificate,
                  "Serve the checkout pages over HTTPS with this certificate (PEM, with its chain)");
  run->add_option("--checkout-key", g_options.checkout_key, "The key of --checkout-cert (PEM)");
  run->add_option("--checkout-proxy-from", g_options.checkout_proxies,
                  "ADDRESS of the shop's own web server in front of the checkout pages (repeatable): "
                  "its connections are capped only in all (1,024), not per address (64)");
  run->add_option("--api", g_options.api,
                  "HOST:PORT of the merchant API for the shop's backend (HTTPS, the API token; "
                  "default 127.0.0.1 and a free port), or off");
  run->add_option("--crl-refresh", g_options.crl_refresh, "Seconds between CRL refreshes")->default_val(60);
  add_observability_options(run, g_options.observed);
  run->add_option("--io-threads", g_options.io_threads, "Threads for connections (default: one per core)");
  run->add_option("--workers", g_options.workers, "Threads answering payments (default: 16 per core)");
  auto* order = common(g_shop->add_subcommand(
      "order",
      "Print a signed payment request (ecash://pay?...) for a wallet to pay, alone on stdout; "
      "its order ID and expiry go to stderr"));
  order->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50")->required();
  order->add_option("--item", g_options.item, "What is sold")->required();
  order->add_option("--expires", g_options.expires,
                    "How long it can be paid: 90s, 15m, 2h, 1d (default 15m)");
  common(
      g_shop->add_subcommand("sales",
                             "Every order (time, order ID, state: open, expired, paid, paid out; "
                             "amount, article) and the totals"));
  auto* refund = common(g_shop->add_subcommand(
      "refund",
      "Give back all or part of a paid order to whoever paid it, from the sales not yet paid out"));
  refund->add_option("ORDER", g_options.order_id, "The order's ID (as `shop sales` lists it)")->required();
  refund->add_option("AMOUNT", g_options.amount,
                     "How much to give back: EUR:2.50, or 2.50 (default: all not yet given back)");
  refund->add_option("--reason", g_options.reason, "Why (kept by the shop alone)")->required();
  common(g_shop->add_subcommand("payout", "Have the proceeds paid to the shop's bank account"));
  common(g_shop->add_subcommand(
      "payouts", "Every payout: time, state, amount, bank reference, the sales it covered"));
  common(g_shop->add_subcommand(
      "api-token", "Make a new token for the merchant API, shown once (the one before stops working)"));
  auto* relocate = common(g_shop->add_subcommand("relocate",
                                                 "Follow the operator to a new address (refused "
                                                 "unless it has the CA this shop enrolled with)"));
  relocate
      ->add_option("--operator", g_options.operator_location,
                   "The operator's new address: https://HOST:PORT")
      ->required();
}

int run_shop_command() {
  if (g_shop == nullptr || !*g_shop) return -1;
  SystemClock clock;
  crypto::SecureRandom random;
  const auto home = g_options.home.empty() ? default_home("shop") : g_options.home;
  const auto chosen = g_shop->get_subcommands().front()->get_name();
  g_report.command(chosen);
  if (std::filesystem::exists(home + "/operator.json") || std::filesystem::exists(home + "/wallet.db")) {
    return fail_with({ErrorCode::invalid_argument,
                      home + " is " + (std::filesystem::exists(home + "/wallet.db") ? "a wallet's" : "an operator's") +
                          " folder, not a shop's: give --home the shop's own folder (default ~/.ecash/shop)"});
  }
  if (chosen != "init" && !std::filesystem::exists(home + "/shop.db")) {
    return fail_with({ErrorCode::not_found, "no shop in " + home + ": run `ecash shop init --home " + home + " ...`"});
  }
  make_private(home);
  // A new shop's keys may be sealed with a passphrase; an existing shop's asks for it if they are.
  if (auto ok = use_passphrase(g_options.passphrase_file,
                               chosen == "init" && !std::filesystem::exists(home + "/shop.keys"));
      !ok) {
    return fail_with(ok.error());
  }
  auto opened = shop::Shop::open(home, clock, random);
  if (!opened) return fail_with(opened.error());
  auto& shop = **opened;
  const auto say = [](const std::string& line) {
    if (!g_options.json) std::cout << line << "\n";
  };
  if (chosen == "run") {
    if (!shop.shop_id()) {
      return fail_with({ErrorCode::invalid_argument,
                        "this shop is not registered with its operator yet (its `shop init` did not "
                        "finish): run `ecash shop init` again first"});
    }
    opened->reset();  // the server opens the shop itself
    net::NodeOptions options;
    options.data = home;
    options.listen = g_options.listen;
    options.crl_refresh = std::chrono::seconds(std::max(1, g_options.crl_refresh));
    options.io_threads = g_options.io_threads;
    options.workers = g_options.workers;
    options.checkout = g_options.checkout;
    options.checkout_certificate = g_options.checkout_certificate;
    options.checkout_key = g_options.checkout_key;
    options.checkout_proxies = g_options.checkout_proxies;
    options.api = g_options.api;
    options.metrics = g_options.observed.metrics;
    options.access_log = g_options.observed.log;
    options.say = [](const std::string& line) { say_as(g_options.json, line); };
    // The till listens where it listened last, so the payment requests handed out, which name
    // it, stay payable.
    auto ok = serve_at_kept_address(
        home,
        {.who = "this till listened before (the payment requests handed out name it)",
         .again = " (the address it had before, which the payment requests handed out name; "
                  "--listen to change it)",
         .kept = " (kept for its next start: payment requests name it; --listen to change it)",
         .after_moving = "(requests handed out before then will not reach the till)"},
        options, net::run_shop);
    if (!ok) return fail_with(ok.error());
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
        return fail_with({ErrorCode::conflict,
                          "a shop is registered in " + home + " already, with the operator at " +
                              (*saved ? **saved : std::string("?")) +
                              ": if that operator moved, follow it with `ecash shop relocate "
                              "--operator URL`; for another operator, use another --home"});
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
    auto token = shop.new_api_token();
    if (!token) return fail_with(token.error());
    print({{"home", home}, {"shop_id", id->to_string()}, {"api_token", *token}},
          "shop registered in " + home + " with shop ID " + id->to_string() +
              "\nmerchant API token (shown this once; keep it secret; `ecash shop api-token` makes a new one):\n" + *token);
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
    UnixSeconds lifetime = shop::Shop::kOrderLifetime;
    if (!g_options.expires.empty()) {
      auto parsed = parse_lifetime(g_options.expires);
      if (!parsed) return fail_with(parsed.error());
      lifetime = *parsed;
    }
    auto request = shop.create_order(*amount, g_options.item, lifetime);
    if (!request) return fail_with(request.error());
    auto signed_request =
        protocol::Signed<protocol::PaymentRequest>::from_json((*request)["request"]);
    if (!signed_request) return fail_with(signed_request.error());
    const auto& made = signed_request->body;
    uri.request = *request;
    const auto text = protocol::to_payment_uri(uri);
    // stdout is the request alone (scripts take it whole: `wallet pay "$(ecash shop order ...)"`);
    // what a person reads besides goes to stderr, before it.
    g_report.reaching();
    // The till's checkout page for the order, when it serves them.
    std::string checkout;
    if (auto served = read_text_file(home + "/checkout"); !served.empty() && !uri.shop.empty()) {
      checkout = served;
      while (!checkout.empty() && std::isspace(static_cast<unsigned char>(checkout.back()))) checkout.pop_back();
      checkout += "/checkout/" + made.order_id.to_string();
    }
    if (!g_options.json) {
      std::cerr << "order ID  " << made.order_id.to_string() << "\n"
                << "expires   " << utc_time(made.expires) << " (in " << lifetime_text(lifetime)
                << ")\n";
      if (!checkout.empty()) std::cerr << "checkout  " << checkout << "\n";
    }
    print_as(g_options.json,
             {{"order_id", made.order_id.to_string()},
              {"checkout", checkout},
              {"amount", amount->to_string()},
              {"item", g_options.item},
              {"expires", utc_time(made.expires)},
              {"expires_unix", made.expires},
              {"uri", text}},
             text);
    return 0;
  }
  if (chosen == "sales" || chosen == "payouts") {
    auto listed = chosen == "sales" ? shop.sales() : shop.payouts();
    if (!listed) return fail_with(listed.error());
    if (g_options.json)
      std::cout << listed->dump() << "\n";
    else if (chosen == "sales")
      print_sales(*listed);
    else
      print_payouts(*listed);
    return 0;
  }
  if (chosen == "api-token") {
    auto token = shop.new_api_token();
    if (!token) return fail_with(token.error());
    print({{"api_token", *token}},
          "merchant API token (shown this once; keep it secret; `ecash shop api-token` makes a new one):\n" + *token);
    return 0;
  }
  if (chosen == "relocate") {
    auto moved =
        relocate_device(shop, home + "/shop.keys", g_options.operator_location, clock, random);
    if (!moved) return fail_with(moved.error());
    print({{"from", moved->from}, {"to", moved->to}, {"ca_fingerprint", moved->ca_fingerprint}},
          "shop moved from " + moved->from + " to " + moved->to +
              ": the same operator (CA fingerprint " + moved->ca_fingerprint +
              "); restart `ecash shop run` so the till uses it");
    return 0;
  }
  if (chosen == "refund") {
    auto order_id = Id128::parse(g_options.order_id);
    if (!order_id) return fail_with({ErrorCode::invalid_argument, "ORDER: " + order_id.error().message});
    std::optional<Amount> amount;
    if (!g_options.amount.empty()) {
      auto currency = shop.currency();
      if (!currency) return fail_with({ErrorCode::invalid_argument, "run `ecash shop init` first"});
      auto parsed = Amount::parse(g_options.amount, *currency);
      if (!parsed) return fail_with(parsed.error());
      amount = *parsed;
    }
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    auto refunded = shop.refund(link->center(), *order_id, amount, g_options.reason);
    if (!refunded) {
      if (outcome_unknown(refunded.error())) {
        return fail_with({refunded.error().code,
                          refunded.error().message +
                              " (the refund is kept and sent again, under the same ID, by the next "
                              "`ecash shop refund " + g_options.order_id + " ...`)"});
      }
      return fail_with(refunded.error());
    }
    print({{"request_id", refunded->request_id.to_string()},
           {"order_id", refunded->order_id.to_string()},
           {"amount", refunded->amount.to_string()},
           {"refunded", refunded->refunded.to_string()},
           {"resent", refunded->resent}},
          std::string(refunded->resent ? "an earlier refund, sent again: " : "") + "refunded " +
              refunded->amount.to_string() + " of order " + refunded->order_id.to_string() + " (" +
              refunded->refunded.to_string() + " given back of it in all)");
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
