#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdlib>
#include <functional>
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
#include "relocate.hpp"
#include "net/net.hpp"
#include "net/pages.hpp"
#include "parties/shop/shop.hpp"
#include "parties/wallet/wallet.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/payment_uri.hpp"
#include "protocol/statements.hpp"

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
  std::string passphrase_file;
  bool json = false;
  bool top_up = false;
  bool again = false;
  bool yes = false;
  std::string id;
  std::string offline;
  std::string expiry;
  std::string cvc;
  std::string code;
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

// "stdin" or "the file F": where a message came from, for errors.
std::string source_name(const std::string& input) { return input == "-" ? "stdin" : "the file " + input; }

Result<Json> read_message(const std::string& input) {
  auto text = read_text(input);
  if (!text) return std::unexpected(text.error());
  if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail(ErrorCode::malformed, source_name(input) + " is empty: it should hold what the other wallet printed");
  }
  Json j = protocol::parse_limited(*text);
  if (j.is_discarded()) {
    return fail(ErrorCode::malformed, source_name(input) + " does not hold a wallet's message (JSON as `wallet receive`, `send` or `accept` print it)");
  }
  return j;
}

Result<std::string> read_text(const std::string& input) {
  std::string text;
  if (input == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(input);
    if (!in) return fail(ErrorCode::not_found, "there is no file " + input);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  return text;
}

// Asked on a terminal before money moves; never without a terminal, never with --yes, and not
// when the message itself came on stdin (no answer could follow it there).
bool confirmed(const std::string& question) {
  if (g_options.yes || g_options.input == "-" || isatty(STDIN_FILENO) == 0 ||
      isatty(STDERR_FILENO) == 0) {
    return true;
  }
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

// Whether the user is at a terminal to answer a question.
bool at_terminal() { return isatty(STDIN_FILENO) != 0 && isatty(STDERR_FILENO) != 0; }

// One line typed at the terminal after question.
std::string asked(const std::string& question) {
  std::cerr << question << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer;
}

// How a wallet whose card is not confirmed yet finishes (issue 12, finding 6).
constexpr const char* kHowToConfirm =
    "`ecash wallet confirm-card CODE` (or `ecash wallet deposit AMOUNT --code CODE`) confirms your "
    "card with the one-time code your card company sent you";

// The card's holder proves the card (3-D Secure's way): its expiry and CVC, asked on a terminal
// when not given, then the code the card company sends, asked on a terminal (or given with --code
// later). Says what was done, or, without the details and no terminal to ask, what to run.
Status verify_and_confirm(wallet::Wallet& w, protocol::Channel& center, bool ask_code,
                          const std::function<void(const std::string&)>& say) {
  auto expiry = g_options.expiry;
  auto cvc = g_options.cvc;
  if ((expiry.empty() || cvc.empty()) && at_terminal()) {
    if (expiry.empty()) expiry = asked("your card's expiry (MM/YY): ");
    if (cvc.empty()) {
      auto typed = ask_hidden("your card's CVC (the 3 digits on its back, not shown): ");
      if (!typed) return std::unexpected(typed.error());
      cvc = *typed;
    }
  }
  if (expiry.empty() || cvc.empty()) {
    say("your card is not confirmed yet: `ecash wallet verify-card --expiry MM/YY --cvc NNN` "
        "has your card company send you a one-time code; then " + std::string(kHowToConfirm));
    return {};
  }
  if (auto ok = w.verify_card(center, expiry, cvc); !ok) return ok;
  if (!ask_code || !at_terminal()) {
    say("your card company sent you a one-time code: " + std::string(kHowToConfirm));
    return {};
  }
  const auto code = asked("your card company sent you a one-time code; type it: ");
  if (auto ok = w.confirm_card(center, code); !ok) return ok;
  say("card confirmed: deposits may charge it");
  return {};
}

// "balance EUR:28.70", then, when they differ, the bank's figure and what is on its way: what the
// wallet can spend comes first.
std::string balance_text(wallet::Wallet& w) {
  auto spend = w.spendable();
  auto bank = w.balance();
  auto offline = w.uncleared();
  if (!spend || !bank || !offline) return "balance unknown (the wallet's store cannot be read)";
  std::string text = "balance " + spend->to_string();
  if (!offline->is_zero()) {
    text += " (" + bank->to_string() + " at the bank, " + offline->to_string() +
            " offline and not yet reported to it)";
  }
  return text;
}

// "offline EUR:35.00 of EUR:50.00 until 2026-12-04T10:00:00Z": what may still be sent offline
// under the bank's allowance; empty when none is loaded.
std::string allowance_text(wallet::Wallet& w, UnixSeconds now) {
  auto held = w.allowance();
  if (!held || !*held) return "";
  const auto& a = **held;
  if (a.expires < now) {
    return "offline: the allowance of " + a.amount.to_string() + " expired at " + utc_time(a.expires) +
           " (`ecash wallet sync` loads a new one)";
  }
  return "offline " + a.left(now).to_string() + " of " + a.amount.to_string() + " until " +
         utc_time(a.expires);
}

// The allowance's line under a balance, when there is one.
std::string with_allowance(const std::string& text, wallet::Wallet& w, UnixSeconds now) {
  const auto line = allowance_text(w, now);
  return line.empty() ? text : text + "\n" + line;
}

// Whether the wallet holds offline value it may still send now: any, or at least amount.
bool can_send_offline(wallet::Wallet& w, UnixSeconds now, std::optional<Amount> amount = std::nullopt) {
  auto held = w.allowance();
  if (!held || !*held) return false;
  const auto left = (*held)->left(now);
  return amount ? left.minor() >= amount->minor() : left.is_positive();
}

Json balance_json(wallet::Wallet& w) {
  auto spend = w.spendable();
  auto bank = w.balance();
  auto offline = w.uncleared();
  if (!spend || !bank || !offline) return Json::object();
  return {{"balance", spend->to_string()}, {"at_bank", bank->to_string()},
          {"uncleared", offline->to_string()}};
}

// What a command did first with deposits an earlier run left unanswered: finished them, or
// (refused now) forgot them. Its lines of text, and the JSON lists.
struct Earlier {
  std::string text;
  Json finished = Json::array();
  Json refused = Json::array();
};
Earlier earlier_deposits(const std::vector<Amount>& finished,
                         const std::vector<std::pair<Amount, Error>>& refused) {
  Earlier out;
  for (const auto& [earlier, why] : refused) {
    out.refused.push_back({{"amount", earlier.to_string()},
                           {"code", std::string(to_string(why.code))},
                           {"message", why.message}});
    out.text += "an earlier deposit of " + earlier.to_string() + " was refused (" + why.to_string() +
                "): forgotten\n";
  }
  for (const auto& earlier : finished) {
    out.finished.push_back(earlier.to_string());
    out.text += "finished an earlier deposit of " + earlier.to_string() + " (its answer had not arrived)\n";
  }
  return out;
}

// A JSON object with the balance's fields added.
Json with_balance(Json j, wallet::Wallet& w) {
  j.update(balance_json(w));
  return j;
}

// A payment request given as the URI itself, a file holding it, stdin, or a shop's checkout page
// (http(s)://HOST:PORT/checkout/ORDER, whose .../request is the URI); the JSON a shop printed in
// earlier versions ({"request", "shop_certificate", "shop_home"}) is taken too.
Result<protocol::PaymentUri> payment_request(const std::string& input) {
  std::string text = input;
  const bool page = input.rfind("http://", 0) == 0 || input.rfind("https://", 0) == 0;
  if (page) {
    std::string url = input;
    while (!url.empty() && url.back() == '/') url.pop_back();
    auto fetched = net::http_get(url + "/request");
    if (!fetched) return fail(fetched.error().code, "the checkout page " + input + ": " + fetched.error().message);
    text = *fetched;
  } else if (input.rfind("ecash://", 0) != 0) {
    auto read = read_text(input);
    if (!read && read.error().code == ErrorCode::not_found) {
      return fail(ErrorCode::not_found, "'" + input + "' is neither a payment request "
                                        "(ecash://pay?...) nor a file holding one, nor - (stdin)");
    }
    if (!read) return std::unexpected(read.error());
    text = *read;
  }
  const auto start = text.find_first_not_of(" \t\r\n");
  if (page) {
    // A page names a till to pay over the network, never a folder on this machine.
    auto uri = protocol::parse_payment_uri(start == std::string::npos ? "" : text.substr(start));
    if (uri && uri->shop.empty()) {
      return fail(ErrorCode::invalid_argument, "the checkout page " + input + " names no till to pay (shop=HOST:PORT)");
    }
    return uri;
  }
  if (start != std::string::npos && text[start] == '{') {
    Json j = protocol::parse_limited(text);
    if (j.is_discarded() || !j.contains("shop_home") || !j["shop_home"].is_string()) {
      return fail(ErrorCode::malformed, "the payment request names no shop");
    }
    return protocol::PaymentUri{"", j["shop_home"].get<std::string>(), j};
  }
  auto uri = protocol::parse_payment_uri(start == std::string::npos ? "" : text.substr(start));
  if (!uri && input.rfind("ecash://", 0) != 0) {
    return fail(uri.error().code, source_name(input) + " holds no payment request (ecash://pay?...): " +
                                      uri.error().message);
  }
  return uri;
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
  const auto card_details = [](CLI::App* cmd) {
    cmd->add_option("--expiry", g_options.expiry,
                    "Your card's expiry, MM/YY (asked on a terminal; checked by the card company)");
    cmd->add_option("--cvc", g_options.cvc,
                    "Your card's CVC (asked on a terminal; goes sealed to the card company alone, "
                    "never kept)");
  };
  card_details(init);
  auto* verify = g_wallet->add_subcommand(
      "verify-card",
      "Have your card company send you a (new) one-time code to confirm your card with");
  card_details(verify);
  auto* confirm = g_wallet->add_subcommand(
      "confirm-card", "Confirm your card with the one-time code your card company sent you");
  confirm->add_option("CODE", g_options.code, "The code")->required();
  auto* deposit = g_wallet->add_subcommand(
      "deposit",
      "Deposit from your card (reconciles transfers first). A deposit an earlier run left "
      "unanswered is finished first; when it was of the same amount, that is all");
  deposit->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50 in the operator's currency")
      ->required();
  deposit->add_option("--code", g_options.code,
                      "The one-time code your card company sent you, when your card is not "
                      "confirmed yet (asked on a terminal otherwise)");
  deposit->add_flag("--again", g_options.again,
                    "Deposit the amount even when an unanswered deposit of it was just finished");
  g_wallet->add_subcommand("balance",
                           "What you can spend, then the bank's figure and value sent or received "
                           "offline that the bank has not seen yet");
  g_wallet->add_subcommand("history", "Every change of your balance: when, what, with whom, and the balance after");
  auto* sync = g_wallet->add_subcommand(
      "sync",
      "Report offline transfers to the bank, finish requests left unanswered, take the bank's "
      "balance, and load value for offline use when none is loaded");
  sync->add_option("--offline", g_options.offline,
                   "Set this much aside for offline transfers now (the rest of what is loaded "
                   "returns first; 0 returns it all); by default the offline limit is loaded when "
                   "nothing is");
  auto* pay = g_wallet->add_subcommand(
      "pay", "Pay a shop's payment request (ecash://pay?...); reconciles offline transfers first");
  pay->add_option("REQUEST", g_options.input,
                  "The payment request: the ecash://pay?... text, a file holding it, - (stdin), or "
                  "the shop's checkout page (http(s)://HOST:PORT/checkout/ORDER)");
  pay->add_flag("--top-up", g_options.top_up, "When the balance is short, deposit the difference first");
  pay->add_flag("--yes,-y", g_options.yes, "Do not ask before paying (it asks only on a terminal)");
  g_wallet->add_subcommand("receive", "Ask another wallet for AMOUNT: prints a request")
      ->add_option("AMOUNT", g_options.amount, "EUR:12.50, or 12.50")
      ->required();
  auto* send = g_wallet->add_subcommand(
      "send", "Pay another wallet's request offline (file or - for stdin): prints a transfer");
  send->add_option("REQUEST", g_options.input, "The request (default stdin)");
  send->add_flag("--yes,-y", g_options.yes, "Do not ask before sending (it asks only on a terminal)");
  g_wallet->add_subcommand("accept", "Take a transfer (file or -): prints an acknowledgement")
      ->add_option("TRANSFER", g_options.input, "The transfer (default stdin)");
  g_wallet->add_subcommand("confirm", "Close a sent transfer with its acknowledgement (file or -)")
      ->add_option("ACK", g_options.input, "The acknowledgement (default stdin)");
  g_wallet->add_subcommand("info", "This wallet: its pseudonym, its operator, the CA it trusts");
  g_wallet->add_subcommand("pending",
                           "What is open: requests left unanswered, transfers sent and not "
                           "confirmed, requests for transfers not yet answered");
  g_wallet->add_subcommand("cancel", "Cancel an open request for a transfer (see `pending`)")
      ->add_option("ID", g_options.id, "The ID `pending` shows")
      ->required();
  g_wallet->add_subcommand("relocate",
                           "Follow the operator to a new address (refused unless it has the CA "
                           "this wallet enrolled with)")
      ->add_option("--operator", g_options.operator_location, "The operator's new address: https://HOST:PORT")
      ->required();
  // Every sub-command takes --home and --json after it too, and its --help says so.
  g_wallet->add_option("--passphrase-file", g_options.passphrase_file, kPassphraseFileHelp);
  for (auto* sub : g_wallet->get_subcommands([](CLI::App*) { return true; })) {
    sub->add_option("--home", g_options.home, "The wallet's folder (default ~/.ecash/wallet)");
    sub->add_flag("--json", g_options.json, "Print JSON instead of text");
    sub->add_option("--passphrase-file", g_options.passphrase_file, kPassphraseFileHelp);
  }
}

int run_wallet_command() {
  if (g_wallet == nullptr || !*g_wallet) return -1;
  SystemClock clock;
  crypto::SecureRandom random;
  const auto home = g_options.home.empty() ? default_home("wallet") : g_options.home;
  const auto chosen_name = g_wallet->get_subcommands().front()->get_name();
  if (std::filesystem::exists(home + "/operator.json") || std::filesystem::exists(home + "/shop.db")) {
    return fail_with({ErrorCode::invalid_argument,
                      home + " is " + (std::filesystem::exists(home + "/shop.db") ? "a shop's" : "an operator's") +
                          " folder, not a wallet's: give --home the wallet's own folder (default ~/.ecash/wallet)"});
  }
  if (chosen_name != "init" && !std::filesystem::exists(home + "/wallet.db")) {
    return fail_with({ErrorCode::not_found,
                      "no wallet in " + home + ": run `ecash wallet init --home " + home + " ...`"});
  }
  make_private(home);
  // A new wallet's keys may be sealed with a passphrase; an existing one asks for it if they are.
  if (auto ok = use_passphrase(g_options.passphrase_file,
                               chosen_name == "init" && !std::filesystem::exists(home + "/wallet.keys"));
      !ok) {
    return fail_with(ok.error());
  }
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
        return fail_with({ErrorCode::conflict,
                          "a wallet is enrolled in " + home + " already, with the operator at " +
                              (*saved ? **saved : std::string("?")) +
                              ": if that operator moved, follow it with `ecash wallet relocate "
                              "--operator URL`; for another operator, use another --home"});
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
    if (!g_options.json) {
      std::cout << "wallet enrolled in " + home + " as " + w.certificate()->subject() +
                       " (a pseudonym; your card number stayed here)\n";
    }
    // Before a first deposit the card's holder proves the card (issue 12, finding 6).
    std::string confirm_text;
    const auto note = [&](const std::string& line) { confirm_text = line; };
    link = std::move(*enrolled);
    // A card its company refuses leaves an enrolled wallet that cannot deposit: said, and failed
    // (a wrong detail may be given again with `ecash wallet verify-card`).
    if (auto ok = verify_and_confirm(w, link->center(), true, note); !ok) return fail_with(ok.error());
    print({{"home", home},
           {"certificate_subject", w.certificate()->subject()},
           {"card_confirmed", w.card_confirmed()}},
          confirm_text);
    return 0;
  }
  if (chosen == "verify-card" || chosen == "confirm-card") {
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    if (chosen == "confirm-card") {
      if (auto ok = w.confirm_card(link->center(), g_options.code); !ok) return fail_with(ok.error());
      print({{"card_confirmed", true}}, "card confirmed: deposits may charge it");
      return 0;
    }
    std::string text;
    if (auto ok = verify_and_confirm(w, link->center(), false, [&](const std::string& line) { text = line; });
        !ok) {
      return fail_with(ok.error());
    }
    print({{"code_sent", true}}, text);
    return 0;
  }
  if (chosen == "deposit" || chosen == "sync") {
    if (auto ok = connect_operator(); !ok) return fail_with(ok.error());
    if (chosen == "deposit") {
      auto amount = amount_arg();
      if (!amount) return fail_with(amount.error());
      if (!w.card_confirmed()) {
        // The first charge needs the card confirmed by its holder: with the code given or typed.
        auto code = g_options.code;
        if (code.empty() && at_terminal()) {
          code = asked("your card is not confirmed yet: the one-time code your card company sent you: ");
        }
        if (code.empty()) {
          return fail_with({ErrorCode::card_not_confirmed,
                            "your card is not confirmed yet: " + std::string(kHowToConfirm) +
                                " (`ecash wallet verify-card` has a new one sent)"});
        }
        if (auto ok = w.confirm_card(link->center(), code); !ok) return fail_with(ok.error());
      }
      auto done = w.deposit(link->center(), *amount, g_options.again);
      if (!done && done.error().code == ErrorCode::card_not_confirmed) {
        // The card company does not know the card as confirmed for this wallet (a wallet from
        // before cards were confirmed): nothing was charged; say how to confirm it.
        return fail_with({done.error().code, done.error().message +
                                                 " -- `ecash wallet verify-card --expiry MM/YY --cvc NNN` "
                                                 "has a code sent, then " + kHowToConfirm});
      }
      if (!done) return fail_online(done.error());
      auto [text, finished, refused] = earlier_deposits(done->finished_earlier, done->refused_earlier);
      if (done->unreported_earlier) {
        finished.push_back(done->unreported_earlier->to_string());
        text += "an earlier deposit of " + done->unreported_earlier->to_string() +
                " was made (its command did not get to say so)\n";
      }
      if (done->made) {
        text += "deposited " + amount->to_string() + "; " + balance_text(w);
      } else {
        text += "that was the deposit of " + amount->to_string() + " asked for: nothing more charged (" +
                "--again deposits it a second time); " + balance_text(w);
      }
      print(with_balance({{"deposited", done->made ? amount->to_string()
                                                   : Amount::zero(amount->currency()).to_string()},
                          {"finished_earlier", finished},
                          {"refused_earlier", refused}},
                         w),
            text);
      std::cout.flush();
      if (std::cout) (void)w.deposit_reported();  // said: a deposit of the same amount is new
    } else {
      // Offline value: what --offline says, or by default the offline limit when none is left.
      std::optional<Amount> load;
      if (!g_options.offline.empty()) {
        auto currency = w.currency();
        if (!currency) return fail_with({ErrorCode::invalid_argument, "run `ecash wallet init` first"});
        auto amount = Amount::parse(g_options.offline, *currency);
        if (!amount) return fail_with(amount.error());
        load = *amount;
      } else if (!can_send_offline(w, clock.now())) {
        load = w.offline_limit();
      }
      auto done = w.sync(link->center(), load);
      if (!done) return fail_online(done.error());
      auto [text, finished, refused] = earlier_deposits(done->finished_earlier, done->refused_earlier);
      auto open = w.pending();
      int payments_open = 0;
      if (open) {
        for (const auto& p : *open) payments_open += p["kind"] == "pay" ? 1 : 0;
      }
      if (payments_open > 0) {
        text += std::to_string(payments_open) + " payment(s) to a shop still wait for an answer: "
                "pay the same request again to finish (`ecash wallet pending` lists them)\n";
      }
      text += balance_text(w) + " (" + std::to_string(done->received) + " received and " +
              std::to_string(done->sent) + " sent transfers cleared at the bank";
      if (done->refused > 0) text += ", " + std::to_string(done->refused) + " refused";
      if (done->returned > 0) text += ", " + std::to_string(done->returned) + " unclaimed and returned to you";
      text += ")";
      Json changes = Json::array();
      for (const auto& c : done->bank_changes) {
        changes.push_back({{"kind", c.kind}, {"amount", c.amount.to_string()}, {"reference", c.reference}});
        text += c.kind == "refund" ? "\n" + c.amount.to_string() + " refunded by a shop (order " + c.reference + ")"
                                   : "\n" + c.kind + " " + c.amount.to_string() + " (" + c.reference + ")";
      }
      text = with_allowance(text, w, clock.now());
      print(with_balance({{"received", done->received}, {"sent", done->sent}, {"bank_changes", changes},
                          {"accepted", done->accepted}, {"refused", done->refused},
                          {"returned", done->returned}, {"finished_earlier", finished},
                          {"refused_earlier", refused},
                          {"payments_waiting", payments_open}},
                         w),
            text);
    }
    return 0;
  }
  if (chosen == "balance") {
    if (auto ok = w.spendable(); !ok) return fail_with(ok.error());
    print(balance_json(w), with_allowance(balance_text(w), w, clock.now()));
    return 0;
  }
  if (chosen == "history") {
    auto history = w.history();
    if (!history) return fail_with(history.error());
    for (auto& h : *history) h["time"] = utc_time(h["at"].get<UnixSeconds>());
    if (g_options.json) {
      std::cout << history->dump() << "\n";
    } else if (history->empty()) {
      std::cout << "nothing yet: `ecash wallet deposit AMOUNT` makes the first entry\n";
    } else {
      for (const auto& h : *history) {
        char line[160];
        std::snprintf(line, sizeof line, "%s  %-10s %12s  balance %12s  ",
                      h["time"].get<std::string>().c_str(), h["kind"].get<std::string>().c_str(),
                      h["amount"].get<std::string>().c_str(), h["balance"].get<std::string>().c_str());
        std::cout << line << h["detail"].get<std::string>() << "\n";
      }
    }
    return 0;
  }
  if (chosen == "info") {
    const auto* cert = w.certificate();
    auto anchor = w.trust_anchor();
    auto location = w.setting("operator_location");
    if (cert == nullptr || !anchor || !location) {
      return fail_with({ErrorCode::not_found, "this wallet is not enrolled: run `ecash wallet init`"});
    }
    const auto user = w.user_id();
    const Json info = {{"home", home},
                       {"pseudonym", cert->subject()},
                       {"certificate_serial", cert->serial()},
                       {"certificate_expires", utc_time(cert->not_after())},
                       {"user_id", user ? user->to_string() : ""},
                       {"operator", *location ? **location : ""},
                       {"ca_fingerprint", anchor->ca.fingerprint()}};
    auto held = w.allowance();
    const auto offline = allowance_text(w, clock.now());
    Json with_offline = info;
    if (held && *held) {
      with_offline["offline"] = {{"allowance", (*held)->amount.to_string()},
                                 {"left", (*held)->left(clock.now()).to_string()},
                                 {"expires", utc_time((*held)->expires)}};
    }
    print(with_offline, "wallet in " + home + "\n  pseudonym           " + cert->subject() +
                    "\n  certificate serial  " + cert->serial() + " (expires " +
                    utc_time(cert->not_after()) + ")" +
                    "\n  user ID at the bank " + (user ? user->to_string() : "none yet (no deposit made)") +
                    "\n  operator            " + (*location ? **location : "?") +
                    "\n  CA fingerprint      " + anchor->ca.fingerprint() +
                    "\n  offline value       " +
                    (offline.empty() ? "none loaded (`ecash wallet sync` loads it)" : offline));
    return 0;
  }
  if (chosen == "pending") {
    auto open = w.pending();
    if (!open) return fail_with(open.error());
    for (auto& p : *open) p["since_time"] = utc_time(p["since"].get<UnixSeconds>());
    std::string text;
    for (const auto& p : *open) {
      text += p["since_time"].get<std::string>() + "  " + p["kind"].get<std::string>() + "  " +
              p["amount"].get<std::string>() + "  " + p["id"].get<std::string>() + "\n    " +
              p["what"].get<std::string>() +
              (p["cancel"].get<bool>() ? " (`ecash wallet cancel " + p["id"].get<std::string>() + "`)" : "") +
              "\n";
    }
    if (open->empty()) text = "nothing open\n";
    if (g_options.json) std::cout << open->dump() << "\n";
    else std::cout << text;
    return 0;
  }
  if (chosen == "relocate") {
    auto moved = relocate_device(w, home + "/wallet.keys", g_options.operator_location, clock, random);
    if (!moved) return fail_with(moved.error());
    print({{"from", moved->from}, {"to", moved->to}, {"ca_fingerprint", moved->ca_fingerprint}},
          "wallet moved from " + moved->from + " to " + moved->to +
              ": the same operator (CA fingerprint " + moved->ca_fingerprint + ")");
    return 0;
  }
  if (chosen == "cancel") {
    if (auto ok = w.cancel(g_options.id); !ok) return fail_with(ok.error());
    print({{"cancelled", g_options.id}},
          "cancelled the request " + g_options.id + ": a transfer made for it will be refused");
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
    // What is to be paid, to whom, until when: asked on a terminal (a typo of 35 for 3.50 shows).
    auto asked = protocol::read_signed<protocol::PaymentRequest>(uri->request, "request");
    if (!asked) return fail_with(asked.error());
    const auto named = uri->request.contains("shop_certificate") && uri->request["shop_certificate"].is_string()
                           ? pki::Certificate::from_pem(uri->request["shop_certificate"].get<std::string>())
                           : Result<pki::Certificate>(fail(ErrorCode::malformed, "no shop certificate"));
    const std::string payee = (named && named->trading_name() ? *named->trading_name() + ", " : std::string()) +
                              (uri->shop_home.empty() ? "the shop at " + uri->shop : "the shop in " + uri->shop_home);
    if (!confirmed("Pay " + asked->body.amount.to_string() + " to " + payee + " for '" +
                   asked->body.item + "' (the request expires " + utc_time(asked->body.expires) + ")?")) {
      return fail_with({ErrorCode::declined, "not paid: you said no"});
    }
    auto paid = w.pay(*to_shop, uri->request, &link->center(), g_options.top_up);
    if (!paid) return fail_online(paid.error());
    auto [text, finished, refused] = earlier_deposits(paid->finished_earlier, paid->refused_earlier);
    if (paid->reconciled > 0) {
      text += "reconciled " + std::to_string(paid->reconciled) + " offline transfers with the bank first\n";
    }
    if (paid->corrected) {
      text += "the bank's balance differed from this wallet's by " + paid->corrected->to_string() +
              " (a change it had not heard of): the bank's figure is kept, and the difference is "
              "in history\n";
      auto synced = w.sync(link->center());  // the bank's figure of now, not the answer's
      if (!synced) text += "(could not sync now: " + synced.error().to_string() + ")\n";
    }
    print(with_balance({{"paid", paid->paid.to_string()},
                        {"item", paid->item},
                        {"to", uri->shop},
                        {"topped_up", paid->topped_up ? paid->topped_up->to_string() : "EUR:0.00"},
                        {"earlier", paid->earlier},
                        {"finished_earlier", finished},
                        {"refused_earlier", refused},
                        {"reconciled", paid->reconciled},
                        {"corrected", paid->corrected ? paid->corrected->to_string() : "EUR:0.00"}},
                       w),
          text +
              (paid->earlier ? "this wallet paid " + paid->paid.to_string() + " for '" + paid->item +
                                   "' already: nothing more paid"
                             : "paid " + paid->paid.to_string() + " for '" + paid->item + "'") +
              (paid->topped_up ? " (topped up " + paid->topped_up->to_string() + ")" : "") + "; " +
              balance_text(w));
    return 0;
  }
  auto message = read_message(g_options.input);
  if (!message) return fail_with(message.error());
  if (chosen == "send") {
    // What leaves, for whom: asked on a terminal, and said after (stdout is the transfer).
    auto asked = protocol::read_signed<protocol::TransferRequest>(*message, "request");
    if (!asked) return fail_with(asked.error());
    auto receiver = message->contains("receiver_certificate") && (*message)["receiver_certificate"].is_string()
                        ? pki::Certificate::from_pem((*message)["receiver_certificate"].get<std::string>())
                        : Result<pki::Certificate>(fail(ErrorCode::malformed, "the request names no receiver"));
    if (!receiver) return fail_with(receiver.error());
    const std::string to = "wallet " + receiver->subject();
    if (!confirmed("Send " + asked->body.amount.to_string() + " offline to " + to +
                   "? It leaves this wallet now (unclaimed, it comes back after 7 days)")) {
      return fail_with({ErrorCode::declined, "nothing sent: you said no"});
    }
    // Offline value is what the bank set aside: with too little loaded for this transfer and the
    // operator in reach, the offline limit (or this amount, when more; the bank sets aside at most
    // the balance) is loaded first, as `ecash wallet sync --offline` does; out of reach, send says
    // what to do.
    const auto& wanted = asked->body.amount;
    if (!can_send_offline(w, clock.now(), wanted) && connect_operator()) {
      const auto limit = w.offline_limit();
      auto loaded = w.sync(link->center(), limit.minor() >= wanted.minor() ? limit : wanted);
      if (loaded) {
        std::cerr << "loaded offline value from the bank first: " << allowance_text(w, clock.now()) << "\n";
      }
    }
    auto transfer = w.send(*message);
    if (!transfer) return fail_with(transfer.error());
    g_report.reaching();
    std::cout << transfer->dump() << std::endl;
    std::cerr << "sent " << asked->body.amount.to_string() << " offline to " << to
              << ": hand them the transfer; " << balance_text(w) << "\n";
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
