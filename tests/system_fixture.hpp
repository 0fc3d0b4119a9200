// A whole ecash system for one test: every operator role, the sandboxes, wallets and shops, each
// on its own SQLite file in a fresh folder, with a clock the test controls.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "parties/wallet/wallet.hpp"

namespace ecash::testing {

inline constexpr const char* kAliceCard = "4111111111111111";
inline constexpr const char* kBobCard = "5555555555554444";
inline constexpr const char* kShopIban = "DE89370400440532013000";

Amount eur(const char* text);

// Every table of every store under a folder, as text: what "nothing changed" compares.
// Logs of requests (request_log, sagas) are left out: they record refusals too.
using Snapshot = std::map<std::string, std::string>;
Snapshot snapshot_stores(const std::string& dir);
std::string describe_difference(const Snapshot& before, const Snapshot& after);

// Cuts one link and route: the party behind it is down (unavailable) until the tap is removed.
class Outage final : public local::Tap {
 public:
  Outage(std::string link, std::string route) : m_link(std::move(link)), m_route(std::move(route)) {}
  std::optional<Error> cut(std::string_view link, std::string_view route) override;
  int hits = 0;

 private:
  std::string m_link, m_route;
};

// Spoils the signature of the first answer's part on one link and route: the peer acted, the
// caller cannot verify that it did.
class LoseAnswer final : public local::Tap {
 public:
  LoseAnswer(std::string link, std::string route, std::string part)
      : m_link(std::move(link)), m_route(std::move(route)), m_part(std::move(part)) {}
  void on_answer(std::string_view link, std::string_view route, protocol::Json& answer) override;
  bool fired = false;

 private:
  std::string m_link, m_route, m_part;
};

class SystemTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  struct Device {
    std::unique_ptr<wallet::Wallet> wallet;
    std::unique_ptr<protocol::Channel> center;
  };
  // An enrolled and connected wallet whose card is open at the card company with limit.
  Device make_wallet(const std::string& name, const std::string& card,
                     const char* limit = "EUR:1000.00");
  struct ShopDevice {
    std::unique_ptr<shop::Shop> shop;
    std::unique_ptr<protocol::Channel> center;
  };
  // An enrolled, connected and registered shop with an account at the bank sandbox.
  ShopDevice make_shop(const std::string& name, const std::string& iban = kShopIban);
  // Alice, enrolled with `deposit` on her wallet, and the Corner Cafe, enrolled and registered
  // (made in that order): where a payment starts.
  struct Checkout {
    Device alice;
    ShopDevice shop;
  };
  Checkout alice_at_a_shop(const char* deposit);
  // A whole device-to-device exchange (request, send, accept, confirm), each message passed as
  // text; the sealed transfer.
  protocol::Json transfer(Device& from, Device& to, const char* amount);
  // The channel a wallet uses to reach a shop.
  std::unique_ptr<protocol::Channel> wallet_to_shop(Device& wallet, ShopDevice& shop);

  // Re-opens the operator from its files, as after a restart.
  void restart_operator();
  // Opens the operator under m_dir, its stores where this run keeps them (SQLite, or PostgreSQL).
  void open_operator();

  protocol::Json card(const std::string& number);
  protocol::Json bank_account(const std::string& iban);
  protocol::Circulation totals();
  // deposited - paid out == balances - owed + in flight + offline reserve + unpaid sales +
  // paying out, and the bank's running figures agree with its ledger.
  void expect_circulation_balances();

  std::string m_dir;
  // With ECASH_TEST_ENGINE=postgresql: the server, this test's database there, and its URL.
  std::string m_server, m_database, m_store;
  inline static int m_databases = 0;
  ManualClock m_clock{SystemClock().now()};
  crypto::SecureRandom m_random;
  std::unique_ptr<local::LocalOperator> m_op;
  int m_devices = 0;
};

inline constexpr const char* kCarolCard = "378282246310005";
inline constexpr UnixSeconds kDay = 86'400;

// Alice (EUR:50.00) and Bob (EUR:20.00), enrolled and deposited: where transfer tests start.
class TwoWalletTest : public SystemTest {
 protected:
  void SetUp() override;
  // A copy of Alice's whole wallet folder, taken while it is closed (a cloned device), opened
  // beside the original.
  Device clone_alice();

  Device m_alice;
  Device m_bob;
};

}  // namespace ecash::testing
