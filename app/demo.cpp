// `ecash demo`: the whole system as real processes on loopback, driven through this same binary's
// command line exactly as a person would type it, narrated. The operator (every role in one
// process), the institution sandboxes and a shop's server run in the background on ports the OS
// picks; each wallet command is a process of its own.
#include "demo.hpp"

#include "processes.hpp"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace ecash::app {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

void step(const std::string& text) { std::cout << "\n== " << text << "\n"; }
void say(const std::string& text) { std::cout << "   " << text << "\n"; }

class Demo {
 public:
  explicit Demo(fs::path dir) : m_dir(std::move(dir)), m_processes(m_dir) {}

  using Output = Processes::Output;

  // Runs `ecash ARGS...` to its end, stdin from `input` when given; shows the command line.
  Output run(const std::vector<std::string>& args, const std::string& input = {}, bool show = true) {
    if (show) std::cout << "   $ ecash " << shown(args) << "\n";
    return m_processes.run(args, input);
  }

  // Runs, shows what it printed (indented), and stops the demo if it failed.
  std::string must(const std::vector<std::string>& args, const std::string& input = {}) {
    auto o = run(args, input);
    if (o.status != 0) unexpected("ecash " + shown(args), o.err);
    print(o.out);
    return o.out;
  }

  // Runs something that must be refused; shows the one-line reason.
  void refused(const std::vector<std::string>& args, const std::string& expected,
               const std::string& input = {}) {
    auto o = run(args, input);
    if (o.status == 0 || o.err.find(expected) == std::string::npos) {
      unexpected("ecash " + shown(args) + " should be refused with " + expected, o.out + o.err);
    }
    print("refused: " + o.err);
  }

  // Starts `ecash ARGS...` in the background (output to DIR/NAME.log) and waits for the URL it
  // writes to `listening`.
  std::string start(const std::string& name, const std::vector<std::string>& args,
                    const fs::path& listening) {
    std::cout << "   $ ecash " << shown(args) << " &\n";
    auto url = m_processes.start(name, args, listening);
    if (!url) unexpected(name + " did not start", url.error().message);
    return *url;
  }

  void stop_all() { m_processes.stop_all(); }

  [[noreturn]] void unexpected(const std::string& what, const std::string& detail) {
    std::cout << "UNEXPECTED: " << what << "\n" << detail << "\n";
    for (const auto& b : m_processes.background()) {
      std::cout << "--- " << b.name << ".log\n" << m_processes.log(b.name);
    }
    stop_all();
    std::exit(1);
  }

  static void print(const std::string& text) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      std::cout << "     " << (line.size() > 110 ? line.substr(0, 107) + "..." : line) << "\n";
    }
  }

  const fs::path& dir() const { return m_dir; }

 private:
  static std::string shown(const std::vector<std::string>& args) {
    std::string line;
    for (const auto& a : args) {
      if (!line.empty()) line += ' ';
      const bool quote = a.find(' ') != std::string::npos || a.empty();
      line += quote ? "'" + a + "'" : (a.size() > 60 ? a.substr(0, 40) + "..." : a);
    }
    return line;
  }

  fs::path m_dir;
  Processes m_processes;
};

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  const bool keep = options.keep_dir.has_value();
  const fs::path dir = keep ? fs::path(*options.keep_dir)
                            : fs::temp_directory_path() / ("ecash-demo-" + std::to_string(::getpid()));
  if (fs::exists(dir / "op" / "operator.json")) {
    std::cout << "ecash demo: " << dir.string() << " holds an earlier demo; give another folder\n";
    return 1;
  }
  fs::create_directories(dir);
  int result = 0;
  {
    Demo demo(dir);
    const std::string op = (dir / "op").string();
    const auto home = [&](const char* who) { return (dir / who).string(); };
    std::cout << "ecash demo: the operator, the institution sandboxes and a shop run as processes on\n"
              << "loopback, talking HTTPS with a certificate at both ends; every step below is the\n"
              << "command a person would type (files in " << dir.string() << ")\n";

    step("The operator is created: a CA, and keys and certificates for the center, bank and clearing");
    const auto init = Json::parse(demo.run({"operator", "init", "--data", op, "--json"}).out, nullptr, false);
    if (init.is_discarded() || !init.contains("ca_fingerprint")) demo.unexpected("operator init", "");
    const std::string fingerprint = init["ca_fingerprint"].get<std::string>();
    Demo::print("CA fingerprint " + fingerprint);

    step("The card company and the shops' bank: SANDBOXES standing in for the real institutions");
    const auto sandbox = demo.start("sandbox", {"sandbox", "run", "--data", op, "--listen", "127.0.0.1:0"},
                                    dir / "op" / "sandbox" / "listening");
    say("listening on " + sandbox);
    demo.must({"sandbox", "card", "4111111111111111", "--limit", "500.00", "--expiry", "08/29", "--cvc",
               "737", "--data", op});
    demo.must({"sandbox", "card", "5555555555554444", "--limit", "500.00", "--data", op});
    demo.must({"sandbox", "account", "DE89370400440532013000", "--holder", "Corner Cafe Ltd", "--data", op});

    step("The operator runs (CA, center, virtual bank, clearing house in one process)");
    const auto url = demo.start("operator",
                                {"operator", "run", "--data", op, "--listen", "127.0.0.1:0",
                                 "--card-company", sandbox, "--bank", sandbox},
                                dir / "op" / "center" / "listening");
    say("listening on " + url + " (mutual TLS: devices show their certificates)");

    step("Alice and Bob enrol their wallets with the CA; the card number stays on the device");
    say("(the card's expiry and CVC go sealed to the card company, which checks them)");
    demo.must({"wallet", "--home", home("alice"), "init", "--operator", url, "--name", "Alice",
               "--card", "4111111111111111", "--expiry", "08/29", "--cvc", "737", "--ca-fingerprint",
               fingerprint});
    demo.must({"wallet", "--home", home("bob"), "init", "--operator", url, "--name", "Bob", "--card",
               "5555555555554444", "--expiry", "12/30", "--cvc", "123"});
    say("someone with Alice's card number but not its CVC is refused:");
    demo.refused({"wallet", "--home", home("mallory"), "init", "--operator", url, "--name", "Mallory",
                  "--card", "4111111111111111", "--expiry", "08/29", "--cvc", "123"},
                 "wrong_cvc");

    step("The card company sends Alice a one-time code (her banking app shows it: here the sandbox)");
    const auto alice_code =
        trimmed(demo.must({"sandbox", "code", "4111111111111111", "--data", op}));
    demo.must({"wallet", "--home", home("alice"), "confirm-card", alice_code});
    const auto bob_code = trimmed(demo.must({"sandbox", "code", "5555555555554444", "--data", op}));

    step("Deposits from their cards into balances at the virtual bank (Bob's first with his code)");
    demo.must({"wallet", "--home", home("alice"), "deposit", "60.00"});
    demo.must({"wallet", "--home", home("bob"), "deposit", "EUR:25.00", "--code", bob_code});

    step("A cafe enrols, registers with the center and opens its till for wallets");
    demo.must({"shop", "--home", home("cafe"), "init", "--operator", url, "--name", "Corner Cafe",
               "--account", "DE89370400440532013000", "--ca-fingerprint", fingerprint});
    const auto till = demo.start("shop", {"shop", "--home", home("cafe"), "run", "--listen", "127.0.0.1:0"},
                                 dir / "cafe" / "listening");
    say("the cafe's till listens on " + till);

    step("Alice pays the cafe for a coffee with its payment request");
    auto request = trimmed(demo.must({"shop", "--home", home("cafe"), "order", "3.50", "--item", "flat white"}));
    demo.must({"wallet", "--home", home("alice"), "pay", request});
    say("paying the same request again (the answer lost) pays nothing more; Bob paying it is refused:");
    demo.must({"wallet", "--home", home("alice"), "pay", request});
    demo.refused({"wallet", "--home", home("bob"), "pay", request}, "conflict");

    step("Offline, device to device: Alice hands Bob EUR:20.00 through three files");
    const auto ask = demo.must({"wallet", "--home", home("bob"), "receive", "20.00"});
    const auto transfer = demo.must({"wallet", "--home", home("alice"), "send", "-"}, ask);
    const auto ack = demo.must({"wallet", "--home", home("bob"), "accept", "-"}, transfer);
    say("a man in the middle changes the amount in Bob's acknowledgement; Alice's wallet checks Bob's");
    say("signature over it:");
    auto forged_ack = Json::parse(ack, nullptr, false);
    if (forged_ack.is_discarded() || !forged_ack.contains("ack")) demo.unexpected("read the acknowledgement", ack);
    forged_ack["ack"]["amount"] = "EUR:2.00";
    demo.refused({"wallet", "--home", home("alice"), "confirm", "-"}, "bad_signature", forged_ack.dump());
    demo.must({"wallet", "--home", home("alice"), "confirm", "-"}, ack);
    demo.must({"wallet", "--home", home("bob"), "balance"});
    say("the transfer itself is sealed to Bob's device: one changed character, and it does not open:");
    auto forged = Json::parse(transfer, nullptr, false);
    if (forged.is_discarded() || !forged.contains("sealed_transfer")) demo.unexpected("read the transfer", transfer);
    auto sealed = forged["sealed_transfer"].get<std::string>();
    sealed[20] = sealed[20] == 'A' ? 'B' : 'A';
    forged["sealed_transfer"] = sealed;
    demo.refused({"wallet", "--home", home("bob"), "accept", "-"}, "unseal_failed", forged.dump());

    step("Bob reconciles with the bank, and buys beans he is EUR:5.00 short of");
    demo.must({"wallet", "--home", home("bob"), "sync"});
    demo.must({"wallet", "--home", home("alice"), "sync"});
    request = trimmed(demo.must({"shop", "--home", home("cafe"), "order", "50.00", "--item", "a bag of beans"}));
    demo.refused({"wallet", "--home", home("bob"), "pay", request}, "insufficient_funds");
    say("with --top-up, the difference comes from his card first:");
    demo.must({"wallet", "--home", home("bob"), "pay", "--top-up", request});

    step("The bag of beans was torn: the cafe gives Bob back EUR:10.00 of it, from its unpaid sales");
    const auto sales = Json::parse(demo.must({"shop", "--home", home("cafe"), "sales", "--json"}), nullptr, false);
    std::string beans;
    if (sales.is_object() && sales.contains("orders")) {
      for (const auto& o : sales["orders"]) {
        if (o.value("item", "") == "a bag of beans" && o.value("state", "") == "paid") beans = o.value("order_id", "");
      }
    }
    if (beans.empty()) demo.unexpected("find the order of the beans", sales.dump());
    demo.must({"shop", "--home", home("cafe"), "refund", beans, "10.00", "--reason", "the bag was torn"});
    say("giving back more than the rest of the EUR:50.00 paid is refused:");
    demo.refused({"shop", "--home", home("cafe"), "refund", beans, "40.01", "--reason", "a slip"},
                 "invalid_argument");
    say("Bob's wallet learns of the refund, itemised, at its next sync:");
    demo.must({"wallet", "--home", home("bob"), "sync"});
    demo.must({"wallet", "--home", home("bob"), "history"});

    step("The cafe is paid out to its bank account");
    demo.must({"shop", "--home", home("cafe"), "sales"});
    demo.must({"shop", "--home", home("cafe"), "payout"});

    step("The books: money in circulation, and every signature chain checked again");
    demo.must({"operator", "report", "--data", op});
    const auto audit = demo.must({"operator", "audit", "--data", op});
    if (audit.find("audit passed") == std::string::npos) demo.unexpected("the audit failed", audit);
    demo.stop_all();
    std::cout << "\nevery cent accounted for: circulation balances\n";
  }
  if (!keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::cout << "files kept in " << dir.string() << "\n";
  }
  return result;
}

}  // namespace ecash::app
