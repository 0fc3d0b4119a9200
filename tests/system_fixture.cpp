#include "system_fixture.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ecash::testing {

namespace fs = std::filesystem;
using protocol::Json;

Amount eur(const char* text) { return Amount::parse(text).value(); }

Snapshot snapshot_stores(const std::string& dir) {
  Snapshot out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".db") continue;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(entry.path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << entry.path();
      sqlite3_close(db);
      continue;
    }
    std::vector<std::string> tables;
    sqlite3_stmt* list = nullptr;
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1,
                       &list, nullptr);
    while (sqlite3_step(list) == SQLITE_ROW) {
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(list, 0)));
    }
    sqlite3_finalize(list);
    for (const auto& table : tables) {
      if (table == "request_log" || table == "sagas" || table == "saga_requests" ||
          table == "saga_answers" || table == "schema_version") {
        continue;
      }
      std::ostringstream rows;
      sqlite3_stmt* stmt = nullptr;
      const std::string sql = "SELECT * FROM \"" + table + "\" ORDER BY 1";
      sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
          const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, i));
          const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, i));
          if (sqlite3_column_type(stmt, i) == SQLITE_BLOB) {
            static constexpr char kHex[] = "0123456789abcdef";
            for (std::size_t b = 0; b < size; ++b) rows << kHex[data[b] >> 4] << kHex[data[b] & 15];
          } else if (data != nullptr) {
            // One row a line: newlines inside text (certificates) are escaped.
            for (std::size_t b = 0; b < size; ++b) {
              if (data[b] == '\n') rows << "\\n";
              else rows << static_cast<char>(data[b]);
            }
          }
          rows << '|';
        }
        rows << '\n';
      }
      sqlite3_finalize(stmt);
      out[fs::relative(entry.path(), dir).string() + ":" + table] = rows.str();
    }
    sqlite3_close(db);
  }
  return out;
}

std::string describe_difference(const Snapshot& before, const Snapshot& after) {
  std::string out;
  for (const auto& [name, rows] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second != rows) out += name + " ";
  }
  for (const auto& [name, rows] : before) {
    if (!after.contains(name)) out += name + "(gone) ";
  }
  return out;
}

std::optional<Error> Outage::cut(std::string_view link, std::string_view route) {
  if (link != m_link || route != m_route) return std::nullopt;
  ++hits;
  return Error{ErrorCode::unavailable, "connection refused"};
}

void LoseAnswer::on_answer(std::string_view link, std::string_view route, Json& answer) {
  if (fired || link != m_link || route != m_route || !answer.contains(m_part)) return;
  auto sig = answer[m_part]["signature"].get<std::string>();
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  answer[m_part]["signature"] = sig;
  fired = true;
}

Json SystemTest::transfer(Device& from, Device& to, const char* amount) {
  auto request = to.wallet->request_transfer(eur(amount));
  EXPECT_TRUE(request.has_value()) << request.error().to_string();
  if (!request) return {};
  auto sent = from.wallet->send(Json::parse(request->dump()));
  EXPECT_TRUE(sent.has_value()) << sent.error().to_string();
  if (!sent) return {};
  auto ack = to.wallet->accept(Json::parse(sent->dump()));
  EXPECT_TRUE(ack.has_value()) << ack.error().to_string();
  if (!ack) return *sent;
  EXPECT_TRUE(from.wallet->confirm(Json::parse(ack->dump())).has_value());
  return *sent;
}

void SystemTest::SetUp() {
  m_dir = (fs::temp_directory_path() /
           ("ecash-system-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name()))
              .string();
  fs::remove_all(m_dir);
  fs::create_directories(m_dir);
  // ECASH_TEST_ENGINE=postgresql (CTest's pg.* tests): the operator's stores in a database of this
  // test's own on the server ECASH_TEST_POSTGRES names.
  if (const char* engine = std::getenv("ECASH_TEST_ENGINE");
      engine && std::string(engine) == "postgresql") {
    const char* server = std::getenv("ECASH_TEST_POSTGRES");
    if (server == nullptr || *server == '\0') {
      // In CI the system tests must run on PostgreSQL too: a server missing there is a failure.
      if (std::getenv("CI") != nullptr) FAIL() << "CI runs without ECASH_TEST_POSTGRES";
      GTEST_SKIP() << "no PostgreSQL server: ECASH_TEST_POSTGRES=$(scripts/postgres.sh start)";
    }
    m_server = server;
    m_database = "s" + std::to_string(::getpid()) + "_" + std::to_string(++m_databases);
    ASSERT_TRUE(store::create_postgres_database(m_server, m_database));
    m_store = m_server.substr(0, m_server.rfind('/') + 1) + m_database;
  }
  open_operator();
}

void SystemTest::TearDown() {
  m_op.reset();
  fs::remove_all(m_dir);
  if (!m_database.empty()) {
    EXPECT_TRUE(store::drop_postgres_database(m_server, m_database));
  }
}

void SystemTest::open_operator() {
  local::OpenOptions options;
  options.store_server = m_store;
  m_op = local::LocalOperator::open(m_dir + "/operator", Currency::from_code("EUR").value(),
                                    m_clock, m_random, std::move(options))
             .value();
}

void SystemTest::restart_operator() {
  m_op.reset();
  open_operator();
}

SystemTest::Device SystemTest::make_wallet(const std::string& name, const std::string& card,
                                           const char* limit) {
  const auto home = m_dir + "/wallet-" + std::to_string(++m_devices);
  auto wallet = wallet::Wallet::open(home, m_clock, m_random).value();
  EXPECT_TRUE(m_op->open_card(card, eur(limit)).has_value());
  auto enrolled = wallet->enrol(*m_op->to_ca("wallet"), name, name + "'s street 1", card);
  EXPECT_TRUE(enrolled.has_value()) << enrolled.error().to_string();
  auto center = m_op->to_center("wallet", wallet->certificate());
  auto connected = wallet->connect(*center);
  EXPECT_TRUE(connected.has_value()) << connected.error().to_string();
  // The card's holder confirms it (issue 12, finding 6): the sandbox's details, then the code
  // its card company sent, as the holder's banking app would show it.
  auto verified = wallet->verify_card(*center, std::string(sandbox::kSandboxExpiry),
                                      std::string(sandbox::kSandboxCvc));
  EXPECT_TRUE(verified.has_value()) << verified.error().to_string();
  auto code = m_op->card_company().pending_code(card);
  EXPECT_TRUE(code.has_value()) << code.error().to_string();
  if (code) {
    auto confirmed = wallet->confirm_card(*center, (*code)["code"].get<std::string>());
    EXPECT_TRUE(confirmed.has_value()) << confirmed.error().to_string();
  }
  return {std::move(wallet), std::move(center)};
}

SystemTest::ShopDevice SystemTest::make_shop(const std::string& name, const std::string& iban) {
  const auto home = m_dir + "/shop-" + std::to_string(++m_devices);
  auto shop = shop::Shop::open(home, m_clock, m_random).value();
  (void)m_op->open_bank_account(iban, name + " Ltd");
  EXPECT_TRUE(shop->enrol(*m_op->to_ca("shop"), name, "Market Square 2", iban).has_value());
  auto center = m_op->to_center("shop", shop->certificate());
  EXPECT_TRUE(shop->connect(*center).has_value());
  m_op->connect_shop(*shop);
  return {std::move(shop), std::move(center)};
}

SystemTest::Checkout SystemTest::alice_at_a_shop(const char* deposit) {
  auto alice = make_wallet("Alice", kAliceCard);
  auto shop = make_shop("Corner Cafe");
  auto registered = shop.shop->register_shop(*shop.center);
  EXPECT_TRUE(registered.has_value()) << registered.error().to_string();
  auto deposited = alice.wallet->deposit(*alice.center, eur(deposit));
  EXPECT_TRUE(deposited.has_value()) << deposited.error().to_string();
  return {std::move(alice), std::move(shop)};
}

std::unique_ptr<protocol::Channel> SystemTest::wallet_to_shop(Device& wallet, ShopDevice& shop) {
  return m_op->to_shop(*shop.shop, "wallet", wallet.wallet->certificate());
}

Json SystemTest::card(const std::string& number) {
  auto answer = m_op->card_company().handle({}, "card", {{"card_number", number}});
  return answer ? *answer : Json();
}

Json SystemTest::bank_account(const std::string& iban) {
  return m_op->bank_institution().handle({}, "account", {{"iban", iban}}).value();
}

protocol::Circulation SystemTest::totals() { return m_op->bank().totals().value(); }

void SystemTest::expect_circulation_balances() {
  const auto t = totals();
  EXPECT_TRUE(t.balanced().value()) << t.to_json().dump();
  // The running figures agree with the ledger they sum (the audit re-derives them).
  const auto audit = m_op->bank().audit().value();
  EXPECT_TRUE(audit["problems"].empty()) << audit.dump();
}

void TwoWalletTest::SetUp() {
  SystemTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) return;
  m_alice = make_wallet("Alice", kAliceCard);
  m_bob = make_wallet("Bob", kBobCard);
  ASSERT_TRUE(m_alice.wallet->deposit(*m_alice.center, eur("EUR:50.00")).has_value());
  ASSERT_TRUE(m_bob.wallet->deposit(*m_bob.center, eur("EUR:20.00")).has_value());
  // Each loads its offline allowance (the default: the offline limit, at most the balance), as
  // `ecash wallet sync` does: offline value is what the bank set aside.
  for (auto* d : {&m_alice, &m_bob}) {
    auto loaded = d->wallet->sync(*d->center, d->wallet->offline_limit());
    ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  }
}

SystemTest::Device TwoWalletTest::clone_alice() {
  m_alice.wallet.reset();
  fs::copy(m_dir + "/wallet-1", m_dir + "/wallet-clone", fs::copy_options::recursive);
  m_alice.wallet = wallet::Wallet::open(m_dir + "/wallet-1", m_clock, m_random).value();
  return {wallet::Wallet::open(m_dir + "/wallet-clone", m_clock, m_random).value(),
          m_op->to_center("wallet", m_alice.wallet->certificate())};
}

}  // namespace ecash::testing
