#include "demo.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/clock.hpp"
#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "parties/wallet/wallet.hpp"

namespace ecash::app {
namespace {

namespace fs = std::filesystem;

void step(const std::string& text) { std::cout << "\n== " << text << "\n"; }
void say(const std::string& text) { std::cout << "   " << text << "\n"; }

// Stops the demo when something that must work does not.
[[noreturn]] void unexpected(const char* what, const Error& error) {
  std::cout << "UNEXPECTED: " << what << ": " << error.to_string() << "\n";
  std::exit(1);
}
template <class T>
T must(Result<T> result, const char* what) {
  if (!result) unexpected(what, result.error());
  return std::move(*result);
}
void must(Status status, const char* what) {
  if (!status) unexpected(what, status.error());
}

Amount eur(const char* text) { return Amount::parse(text).value(); }

// A man in the middle who changes the amount of deposits on their way to the center.
class AmountChanger final : public local::Tap {
 public:
  void on_request(std::string_view link, std::string_view route, protocol::Json& body) override {
    if (link == "wallet->center" && route == "deposit") body["order"]["amount"] = "EUR:400.00";
  }
};

struct Person {
  std::string name;
  std::unique_ptr<wallet::Wallet> wallet;
  std::unique_ptr<protocol::Channel> center;
};

}  // namespace

int run_demo(const DemoOptions& options) {
  const fs::path dir = options.keep_dir
                           ? fs::path(*options.keep_dir)
                           : fs::temp_directory_path() / ("ecash-demo-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  SystemClock clock;
  crypto::SecureRandom random;
  std::cout << "ecash demo: every party in this process, each with its own keys and SQLite store\n"
            << "(files in " << dir.string() << ")\n";

  step("The operator starts: certificate authority, center, virtual bank, clearing house");
  auto op = must(local::LocalOperator::open((dir / "operator").string(),
                                            Currency::from_code("EUR").value(), clock, random),
                 "start the operator");
  say("CA certificate fingerprint: " + op->ca().certificate().fingerprint().substr(0, 32) + "...");
  say("sandboxes stand in for the card company and the shops' bank");
  must(op->open_card("4111111111111111", eur("EUR:500.00")), "open Alice's card");
  must(op->open_card("5555555555554444", eur("EUR:500.00")), "open Bob's card");
  must(op->open_bank_account("DE89370400440532013000", "Corner Cafe Ltd"), "open the shop's account");

  step("Alice and Bob enrol their wallets with the CA (S11-S12)");
  std::vector<Person> people;
  for (const auto& [name, card] : {std::pair{"Alice", "4111111111111111"},
                                   std::pair{"Bob", "5555555555554444"}}) {
    Person p{name, must(wallet::Wallet::open((dir / name).string(), clock, random), "open wallet"), {}};
    must(p.wallet->enrol(*op->to_ca("wallet"), name, std::string(name) + "'s home", card), "enrol");
    p.center = op->to_center("wallet", p.wallet->certificate());
    must(p.wallet->connect(*p.center), "connect");
    say(p.name + "'s certificate names a pseudonym, " + p.wallet->certificate()->subject() +
        "; the card number stays on the device, only its salted commitment is certified");
    people.push_back(std::move(p));
  }
  auto& alice = people[0];
  auto& bob = people[1];

  step("Register and first deposit (Fig 2): card number sealed to the clearing house");
  for (auto* p : {&alice, &bob}) {
    const auto amount = p == &alice ? eur("EUR:50.00") : eur("EUR:20.00");
    const auto balance = must(p->wallet->deposit(*p->center, amount), "first deposit");
    say(p->name + " deposits " + amount.to_string() + ": user ID " +
        p->wallet->user_id()->to_string() + ", balance " + balance.to_string());
  }
  say("the center relayed the sealed card number without reading it; the bank signed the new "
      "balance sealed to the wallet; the wallet checked bank and center signatures");

  step("A shop enrols and registers (Fig 6): clearing checks its IBAN against the certificate");
  auto shop = must(shop::Shop::open((dir / "shop").string(), clock, random), "open shop");
  must(shop->enrol(*op->to_ca("shop"), "Corner Cafe", "Market Square 2", "DE89370400440532013000"),
       "enrol shop");
  auto shop_center = op->to_center("shop", shop->certificate());
  must(shop->connect(*shop_center), "connect shop");
  const auto shop_id = must(shop->register_shop(*shop_center), "register shop");
  op->connect_shop(*shop);
  say("Corner Cafe has shop ID " + shop_id.to_string());

  step("Alice pays the shop (Fig 10)");
  const auto order = must(shop->create_order(eur("EUR:12.50"), "one flat white"), "order");
  const auto paid = must(alice.wallet->pay(*op->to_shop(*shop, "wallet", alice.wallet->certificate()),
                                           order, nullptr),
                         "pay");
  say("Alice paid " + paid.paid.to_string() + " for '" + paid.item + "'; new balance " +
      paid.balance.to_string());
  say("the article was sealed to the shop, the user ID to the center: each saw only its part;");
  say("the receipt carries bank, center and shop signatures, and the balance checks out (S166)");

  step("Alice hands Bob EUR:15.00 device to device, offline (Figs 8 and 9)");
  {
    const auto request = must(bob.wallet->request_transfer(eur("EUR:15.00")), "request");
    say("Bob's wallet asks: a signed request with a fresh nonce (" +
        std::to_string(request.dump().size()) + " bytes of text, any carrier: file, QR, socket)");
    const auto sent = must(alice.wallet->send(request), "send");
    say("Alice's wallet takes the value out of itself first, then signs the transfer to Bob's "
        "nonce and its own counter, sealed to Bob's device");
    const auto ack = must(bob.wallet->accept(sent), "accept");
    must(alice.wallet->confirm(ack), "confirm");
    say("Bob accepts and acknowledges; uncleared: Alice " +
        must(alice.wallet->uncleared(), "uncleared").to_string() + ", Bob " +
        must(bob.wallet->uncleared(), "uncleared").to_string() + " (no server was asked)");
    say("a second accept of the same transfer: " + bob.wallet->accept(sent).error().to_string());
  }

  step("Bob buys more than he holds: the wallet reconciles, says by how much, then tops up (S151)");
  const auto synced = must(bob.wallet->sync(*bob.center), "sync");
  say("Bob syncs: the bank credits the transfer (and debits Alice, still offline); balance " +
      synced.balance.to_string());
  const auto bigger = must(shop->create_order(eur("EUR:40.00"), "a bag of beans"), "order");
  auto short_pay = bob.wallet->pay(*op->to_shop(*shop, "wallet", bob.wallet->certificate()), bigger, nullptr);
  say("without top-up: " + (short_pay ? std::string("UNEXPECTED success") : short_pay.error().to_string()));
  const auto topped = must(bob.wallet->pay(*op->to_shop(*shop, "wallet", bob.wallet->certificate()),
                                           bigger, bob.center.get()),
                           "pay with top-up");
  say("with --top-up: deposited " + topped.topped_up->to_string() + " then paid " +
      topped.paid.to_string() + "; balance " + topped.balance.to_string());

  step("Alice deposits again (Fig 5): she reconciles first, then the center finds her card");
  say("balance " + must(alice.wallet->deposit(*alice.center, eur("EUR:10.00")), "deposit").to_string());

  step("Tampering is caught: someone on the line raises Alice's next deposit to EUR:400.00");
  AmountChanger attacker;
  op->set_tap(&attacker);
  auto tampered = alice.wallet->deposit(*alice.center, eur("EUR:1.00"));
  op->set_tap(nullptr);
  say("the center answers: " +
      (tampered ? std::string("UNEXPECTED success") : tampered.error().to_string()));
  say("nothing was charged: Alice's balance is still " +
      must(alice.wallet->balance(), "balance").to_string());

  step("The shop is paid out (Fig 11): clearing opens the IBAN and instructs the bank");
  const auto payout = must(shop->payout(*shop_center), "payout");
  say(std::string(payout.paid ? "paid " : "FAILED ") + payout.amount.to_string() + ", bank reference " +
      payout.reference);
  const auto account = must(op->bank_institution().handle({}, "account",
                                                          {{"iban", "DE89370400440532013000"}}),
                            "read the shop's account");
  say("the shop's bank account now holds " + account["balance"].get<std::string>());

  step("Circulation report (from the virtual bank's double-entry ledger)");
  const auto t = must(op->bank().totals(), "totals");
  say("deposited       " + t.deposited.to_string());
  say("paid out        " + t.paid_out.to_string());
  say("user balances   " + t.balances.to_string() + "  (" + std::to_string(t.users) + " users)");
  say("in flight       " + t.in_flight.to_string() + "  (transfers sent, not yet claimed)");
  say("unpaid sales    " + t.sales.to_string() + "  (" + std::to_string(t.shops) + " shop)");
  say("paying out      " + t.paying_out.to_string());
  const auto left = must(t.deposited.sub(t.paid_out), "sub");
  const auto right =
      must(must(must(t.balances.add(t.in_flight), "add").add(t.sales), "add").add(t.paying_out), "add");
  say("deposited - paid out = " + left.to_string() +
      "; balances + in flight + unpaid sales + paying out = " + right.to_string());
  const auto cases = must(op->center().cases(), "cases");
  say("fraud cases open: " + std::to_string(cases.size()));
  if (left != right) {
    std::cout << "UNEXPECTED: circulation does not balance\n";
    return 1;
  }
  say("every cent accounted for: circulation balances");

  op.reset();
  // So `ecash operator report|audit|cases --data DIR/operator` can read what the demo left.
  std::ofstream(dir / "operator" / "operator.json") << "{\"currency\":\"EUR\"}\n";
  if (!options.keep_dir) {
    fs::remove_all(dir);
    std::cout << "\nDone. (Files removed; run `ecash demo --keep DIR` to keep them.)\n";
  } else {
    std::cout << "\nDone. Files kept in " << dir.string() << "; audit them with\n"
              << "   ecash operator audit --data " << (dir / "operator").string() << "\n";
  }
  return 0;
}

}  // namespace ecash::app
