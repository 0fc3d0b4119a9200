#include "parties/bank/bank.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/random.hpp"
#include "pki/authority.hpp"
#include "protocol/notice.hpp"
#include "protocol/statements.hpp"

namespace ecash::bank {
namespace {

namespace fs = std::filesystem;
using crypto::Purpose;
using protocol::Caller;
using protocol::Json;

constexpr UnixSeconds kNow = 1'800'000'000;  // 2027-01-15
constexpr UnixSeconds kDay = 86'400;

Amount money(const char* text) {
  return Amount::parse(text).value();
}
Currency eur() {
  return Currency::from_code("EUR").value();
}

struct Party {
  crypto::PartyKeys keys;
  pki::Certificate certificate;
};

crypto::PartyKeys copy_keys(const crypto::PartyKeys& keys) {
  return {crypto::SigningKey::from_seed(keys.signing.seed()).value(),
          crypto::SealingKey::from_secret(keys.sealing.secret()).value()};
}

// The balance notice sealed to the wallet, as "<balance> adjusted <adjusted>" (or the error).
std::string opened_text(const crypto::SealingKey& key, const Bytes& sealed) {
  auto notice = protocol::BalanceNotice::open(key, sealed);
  // Not "<" + string: g++ 12 at -O3 warns falsely (-Wrestrict) on "literal" + string&&.
  if (!notice) return std::string("<").append(notice.error().to_string()).append(">");
  return notice->balance.to_string() + " adjusted " + notice->adjusted.to_string();
}

// What a payment carries besides the usual: for the tests of bad transfer records and shops.
struct PaymentTerms {
  std::string transfers = "[]";
  std::optional<Bytes> sealed_transfers;  // instead of transfers sealed to the bank
  std::optional<std::string> pays_shop;   // instead of the shop certificate's subject
  std::optional<Id128> order_id;          // instead of a new order
};

// A bank with a real CA, certificates for every role, a CRL, a fixed clock and its own SQLite file;
// the statements of the other parties are made here exactly as they would make them.
class BankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("bank_test_" + Id128::random(m_random).to_string());
    fs::create_directories(m_dir);
    m_trust = std::make_unique<pki::TrustStore>(pki::TrustAnchor{
        m_ca.certificate(), m_ca.issue_crl(kNow - kDay, kNow + 30 * kDay).value()});
    auto opened = open_bank(eur());
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
  }

  void TearDown() override {
    m_bank.reset();
    fs::remove_all(m_dir);
  }

  static pki::CertificateAuthority make_ca() {
    crypto::SecureRandom random;
    return pki::CertificateAuthority::create("ecash test CA", crypto::PartyKeys::generate(),
                                             kNow - kDay, 3650 * kDay, random)
        .value();
  }

  Party party(pki::Role role, const std::string& subject) {
    auto keys = crypto::PartyKeys::generate();
    auto cert = m_ca.issue({.subject = subject,
                            .role = role,
                            .verify_key = keys.signing.verify_key(),
                            .sealing_key = keys.sealing.public_key()},
                           kNow - kDay, kNow + 365 * kDay, m_random)
                    .value();
    return Party{std::move(keys), std::move(cert)};
  }

  std::string db_path() const { return (m_dir / "bank.sqlite").string(); }

  Status open_bank(Currency currency) {
    m_bank.reset();
    auto bank = VirtualBank::open(
        db_path(), parties::Identity{copy_keys(m_bank_party.keys), m_bank_party.certificate},
        parties::Directory{m_ca.certificate(), m_center.certificate, m_bank_party.certificate,
                           m_clearing.certificate},
        *m_trust, m_clock, m_random, currency);
    if (!bank) return std::unexpected(bank.error());
    m_bank = std::move(*bank);
    return {};
  }

  Id128 fresh_id() { return Id128::random(m_random); }

  Result<Json> call(std::string_view route, const Json& body) {
    return m_bank->handle(Caller{m_center.certificate}, route, body);
  }

  // --- the other parties' statements ---

  Json deposit(const Party& wallet, const Id128& user_id, const Amount& amount,
               const Id128& request_id) {
    const auto order = protocol::sign(
        wallet.keys.signing,
        protocol::DepositOrder{
            .request_id = request_id,
            .timestamp = kNow,
            .sealed_user_id = user_id.is_zero()
                                  ? Bytes{}
                                  : crypto::seal(m_center.keys.sealing.public_key(),
                                                 as_bytes(user_id.to_string())),
            .amount = amount,
            .sealed_card = user_id.is_zero() ? crypto::seal(m_clearing.keys.sealing.public_key(),
                                                            as_bytes("4111111111111111"))
                                             : Bytes{}});
    const auto charged =
        protocol::sign(m_clearing.keys.signing, protocol::DepositCharged{.request_id = request_id,
                                                                         .amount = amount,
                                                                         .charge_ref = "CH-000001",
                                                                         .order = order.digest()});
    const auto center = protocol::sign(
        m_center.keys.signing, protocol::DepositCenterCredit{.request_id = request_id,
                                                             .order = order.digest(),
                                                             .charged = charged.digest(),
                                                             .user_id = user_id});
    return {{"wallet_certificate", wallet.certificate.to_pem()},
            {"order", order.to_json()},
            {"charged", charged.to_json()},
            {"center", center.to_json()}};
  }

  Json shop_registration(const Party& shop, const Id128& request_id) {
    const auto registration = protocol::sign(
        shop.keys.signing, protocol::ShopRegistration{
                               .request_id = request_id,
                               .timestamp = kNow,
                               .sealed_account = crypto::seal(m_clearing.keys.sealing.public_key(),
                                                              as_bytes("DE89370400440532013000"))});
    const auto verified = protocol::sign(
        m_clearing.keys.signing,
        protocol::ShopAccountVerified{.request_id = request_id,
                                      .certificate_serial = shop.certificate.serial(),
                                      .registration = registration.digest()});
    const auto center = protocol::endorse<Purpose::shop_registration_bank>(
        m_center.keys.signing, request_id, {registration.digest(), verified.digest()});
    return {{"shop_certificate", shop.certificate.to_pem()},
            {"registration", registration.to_json()},
            {"verified", verified.to_json()},
            {"center", center.to_json()}};
  }

  Json payment(const Party& wallet, const Id128& user_id, const Party& shop, const Id128& shop_id,
               const Amount& amount, const Id128& request_id, const PaymentTerms& terms = {}) {
    const auto order = protocol::sign(
        wallet.keys.signing,
        protocol::PaymentOrder{
            .request_id = request_id,
            .timestamp = kNow,
            .order_id = terms.order_id.value_or(fresh_id()),
            .shop = terms.pays_shop.value_or(shop.certificate.subject()),
            .amount = amount,
            .sealed_article = crypto::seal(shop.keys.sealing.public_key(), as_bytes("coffee")),
            .sealed_user_id =
                crypto::seal(m_center.keys.sealing.public_key(), as_bytes(user_id.to_string())),
            .sealed_transfers = terms.sealed_transfers.value_or(
                crypto::seal(m_bank_party.keys.sealing.public_key(), as_bytes(terms.transfers)))});
    const auto vouched = protocol::sign(
        shop.keys.signing,
        protocol::PaymentShop{.request_id = request_id,
                              .order = order.digest(),
                              .sealed_shop_id = crypto::seal(m_center.keys.sealing.public_key(),
                                                             as_bytes(shop_id.to_string()))});
    const auto center =
        protocol::sign(m_center.keys.signing, protocol::PaymentCenter{.request_id = request_id,
                                                                      .order = order.digest(),
                                                                      .shop = vouched.digest(),
                                                                      .user_id = user_id,
                                                                      .shop_id = shop_id,
                                                                      .amount = amount});
    return {{"wallet_certificate", wallet.certificate.to_pem()},
            {"shop_certificate", shop.certificate.to_pem()},
            {"order", order.to_json()},
            {"shop", vouched.to_json()},
            {"center", center.to_json()}};
  }

  Json payout_start(const Party& shop, const Id128& shop_id, const Id128& request_id) {
    const auto request = protocol::sign(
        shop.keys.signing, protocol::PayoutRequest{.request_id = request_id, .timestamp = kNow});
    const auto center = protocol::sign(
        m_center.keys.signing,
        protocol::PayoutCenter{
            .request_id = request_id, .payout_request = request.digest(), .shop_id = shop_id});
    return {{"shop_certificate", shop.certificate.to_pem()},
            {"payout_request", request.to_json()},
            {"center", center.to_json()}};
  }

  Json payout_finish(const Id128& request_id, const Amount& amount, bool paid) {
    const auto result = protocol::sign(
        m_clearing.keys.signing,
        protocol::PayoutResult{
            .request_id = request_id, .amount = amount, .paid = paid, .reference = "TR-000001"});
    return {{"result", result.to_json()}};
  }

  // --- flows that must succeed ---

  Id128 deposit_ok(const Party& wallet, const Id128& user_id, const char* amount) {
    auto answer = call("credit", deposit(wallet, user_id, money(amount), fresh_id()));
    EXPECT_TRUE(answer.has_value()) << answer.error().to_string();
    if (!answer) return {};
    return protocol::read_signed<protocol::DepositReceipt>(*answer, "receipt").value().body.user_id;
  }

  Id128 register_ok(const Party& shop) {
    auto answer = call("register_shop", shop_registration(shop, fresh_id()));
    EXPECT_TRUE(answer.has_value()) << answer.error().to_string();
    if (!answer) return {};
    return protocol::read_signed<protocol::ShopRegistered>(*answer, "registered")
        .value()
        .body.shop_id;
  }

  // --- the store, read from its file without going through the bank ---

  std::vector<std::vector<std::string>> rows(const std::string& sql) const {
    sqlite3* db = nullptr;
    std::vector<std::vector<std::string>> out;
    if (sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << db_path();
      sqlite3_close(db);
      return out;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sqlite3_errmsg(db) << " in " << sql;
    } else {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        std::vector<std::string> row;
        for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
          const auto* text = sqlite3_column_text(stmt, i);
          row.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
        }
        out.push_back(std::move(row));
      }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  // Changes the store behind the bank's back.
  void change(const std::string& sql) const {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  std::string scalar(const std::string& sql) const {
    const auto r = rows(sql);
    return r.size() == 1 && r[0].size() == 1 ? r[0][0] : "<no single value>";
  }

  // Balance of a ledger account in minor units, as text: the sum of its stripes, for an account
  // kept in several rows (the card funding, a shop's sales).
  std::string minor(const std::string& account) const {
    return scalar("SELECT CASE WHEN COUNT(*) = 0 THEN NULL ELSE SUM(balance) END FROM accounts "
                  "WHERE id = '" + account + "' OR id GLOB '" + account + "#*'");
  }

  std::string dump() const {
    std::string out;
    for (const char* sql :
         {"SELECT id, balance FROM accounts ORDER BY id", "SELECT * FROM postings ORDER BY id",
          "SELECT user_id, hex(verify_key), certificate_serial FROM users ORDER BY user_id",
          "SELECT shop_id, hex(verify_key), certificate_serial FROM shops ORDER BY shop_id",
          "SELECT * FROM payouts ORDER BY request_id",
          // A payment refused keeps its refusal as its answer (it is never paid after): no change.
          "SELECT id, route, response FROM request_log WHERE response NOT LIKE '{\"refused\"%' "
          "ORDER BY id"}) {
      out += std::string(sql) + "\n";
      for (const auto& row : rows(sql)) {
        for (const auto& value : row) out += value + "|";
        out += "\n";
      }
    }
    return out;
  }

  // The ledger's two laws, checked from the file and from the bank's own figures.
  void expect_ledger_holds() {
    EXPECT_EQ(scalar("SELECT COALESCE(SUM(balance), 0) FROM accounts"), "0");
    EXPECT_EQ(minor("funding:card"),
              scalar("SELECT -COALESCE(SUM(amount), 0) FROM postings WHERE debit = 'funding:card' "
                     "OR debit GLOB 'funding:card#*'"));
    auto t = m_bank->totals();
    ASSERT_TRUE(t.has_value()) << t.error().to_string();
    const auto in_circulation = t->deposited.sub(t->paid_out).value();
    const auto held = t->balances.sub(t->owed).value().add(t->unpaid_sales).value().add(t->paying_out).value();
    EXPECT_EQ(in_circulation.to_string(), held.to_string());
    auto report = call("report", Json::object());
    ASSERT_TRUE(report.has_value()) << report.error().to_string();
    EXPECT_TRUE((*report)["balanced"].get<bool>()) << report->dump();
    // Every account against its postings, the sum over accounts, and the running figures.
    const auto audit = m_bank->audit().value();
    EXPECT_TRUE(audit["problems"].empty()) << audit.dump();
  }

  // The request is refused with code, and neither the store nor the totals changed.
  Error refused(std::string_view route, const Json& body, ErrorCode code,
                const std::optional<Caller>& caller = std::nullopt) {
    const auto before = dump();
    const auto totals_before = m_bank->totals().value();
    auto answer = m_bank->handle(caller.value_or(Caller{m_center.certificate}), route, body);
    if (answer) {
      ADD_FAILURE() << route << " was accepted: " << answer->dump();
      return {};
    }
    EXPECT_EQ(answer.error().code, code) << answer.error().message;
    EXPECT_EQ(dump(), before);
    EXPECT_TRUE(m_bank->totals().value() == totals_before);
    return answer.error();
  }

  struct Tamper {
    std::string what;
    std::function<void(Json&)> change;
    ErrorCode expected;
  };

  void expect_each_tamper_refused(std::string_view route, const Json& body,
                                  const std::vector<Tamper>& tampers) {
    for (const auto& tamper : tampers) {
      SCOPED_TRACE(tamper.what);
      Json changed = body;
      tamper.change(changed);
      ASSERT_NE(changed, body);
      refused(route, changed, tamper.expected);
    }
  }

  crypto::SecureRandom m_random;
  ManualClock m_clock{kNow};
  pki::CertificateAuthority m_ca = make_ca();
  Party m_center = party(pki::Role::center, "center");
  Party m_bank_party = party(pki::Role::bank, "bank");
  Party m_clearing = party(pki::Role::clearing, "clearing");
  Party m_wallet = party(pki::Role::wallet, "wallet-1");
  Party m_other_wallet = party(pki::Role::wallet, "wallet-2");
  Party m_shop = party(pki::Role::shop, "shop-1");
  Party m_other_shop = party(pki::Role::shop, "shop-2");
  fs::path m_dir;
  std::unique_ptr<pki::TrustStore> m_trust;
  std::unique_ptr<VirtualBank> m_bank;
};

TEST_F(BankTest, FirstDepositCreatesTheUserAndLaterDepositsAdd) {
  const auto request_id = fresh_id();
  const Json first = deposit(m_wallet, {}, money("EUR:50.00"), request_id);
  auto answer = call("credit", first);
  ASSERT_TRUE(answer.has_value()) << answer.error().to_string();
  auto receipt = protocol::read_signed<protocol::DepositReceipt>(*answer, "receipt");
  ASSERT_TRUE(receipt.has_value()) << receipt.error().to_string();
  EXPECT_TRUE(receipt->verify(m_bank_party.certificate.verify_key()).has_value());
  EXPECT_EQ(receipt->body.request_id, request_id);
  EXPECT_EQ(receipt->body.amount, money("EUR:50.00"));
  EXPECT_EQ(receipt->body.order,
            protocol::read_signed<protocol::DepositOrder>(first, "order")->digest());
  const auto user_id = receipt->body.user_id;
  ASSERT_FALSE(user_id.is_zero());
  EXPECT_EQ(opened_text(m_wallet.keys.sealing, receipt->body.sealed_balance),
            "EUR:50.00 adjusted EUR:0.00");
  EXPECT_EQ(rows("SELECT user_id, hex(verify_key), certificate_serial FROM users").size(), 1u);
  EXPECT_EQ(scalar("SELECT certificate_serial FROM users"), m_wallet.certificate.serial());
  EXPECT_EQ(minor("user:" + user_id.to_string()), "5000");
  EXPECT_EQ(minor("funding:card"), "-5000");
  expect_ledger_holds();

  // A retry of the same request gets the first answer and moves nothing.
  const auto after_first = dump();
  auto again = call("credit", first);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(*again, *answer);
  EXPECT_EQ(dump(), after_first);

  // The same request ID with another amount (each party signing it anew) is a replay.
  const auto error =
      refused("credit", deposit(m_wallet, {}, money("EUR:70.00"), request_id), ErrorCode::replayed);
  EXPECT_NE(error.message.find(request_id.to_string()), std::string::npos) << error.message;

  // Deposit again with the user ID: it adds to the balance.
  auto second = call("credit", deposit(m_wallet, user_id, money("EUR:20.05"), fresh_id()));
  ASSERT_TRUE(second.has_value()) << second.error().to_string();
  auto second_receipt = protocol::read_signed<protocol::DepositReceipt>(*second, "receipt").value();
  EXPECT_EQ(second_receipt.body.user_id, user_id);
  EXPECT_EQ(opened_text(m_wallet.keys.sealing, second_receipt.body.sealed_balance),
            "EUR:70.05 adjusted EUR:0.00");
  EXPECT_EQ(minor("user:" + user_id.to_string()), "7005");
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM users"), "1");
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM postings"), "2");

  const auto totals = m_bank->totals().value();
  EXPECT_EQ(totals.deposited, money("EUR:70.05"));
  EXPECT_EQ(totals.balances, money("EUR:70.05"));
  EXPECT_EQ(totals.paid_out, money("EUR:0.00"));
  EXPECT_EQ(totals.users, 1);
  EXPECT_EQ(totals.shops, 0);
  expect_ledger_holds();
}

TEST_F(BankTest, AnswersOnlyTheCenterOfTheDirectory) {
  const Json body = deposit(m_wallet, {}, money("EUR:50.00"), fresh_id());
  refused("credit", body, ErrorCode::wrong_role, Caller{m_wallet.certificate});
  refused("credit", body, ErrorCode::wrong_role, Caller{m_clearing.certificate});
  refused("credit", body, ErrorCode::bad_certificate, Caller{});
  refused("report", Json::object(), ErrorCode::bad_certificate, Caller{});
  // A center certificate from the same CA that is not the directory's center.
  const Party impostor = party(pki::Role::center, "center");
  refused("credit", body, ErrorCode::bad_certificate, Caller{impostor.certificate});
  // A certificate from another CA.
  auto foreign_ca = make_ca();
  auto foreign = foreign_ca.issue({.subject = "center",
                                   .role = pki::Role::center,
                                   .verify_key = m_center.keys.signing.verify_key(),
                                   .sealing_key = m_center.keys.sealing.public_key()},
                                  kNow - kDay, kNow + kDay, m_random);
  ASSERT_TRUE(foreign.has_value());
  refused("credit", body, ErrorCode::untrusted_issuer, Caller{*foreign});

  // Unknown routes are refused too, to the center.
  refused("mint", Json::object(), ErrorCode::not_found);

  // The center itself is heard; once revoked, it is not.
  ASSERT_TRUE(call("credit", body).has_value());
  m_ca.revoke(m_center.certificate.serial(), kNow);
  ASSERT_TRUE(m_trust->update_crl(m_ca.issue_crl(kNow, kNow + kDay).value(), kNow).has_value());
  refused("credit", deposit(m_wallet, {}, money("EUR:5.00"), fresh_id()),
          ErrorCode::certificate_revoked);
}

TEST_F(BankTest, TamperedCreditIsRefusedAndMovesNothing) {
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");
  const auto other_user = deposit_ok(m_other_wallet, {}, "EUR:5.00");
  const Json body = deposit(m_wallet, user_id, money("EUR:20.00"), fresh_id());
  const Json elsewhere = deposit(m_wallet, user_id, money("EUR:20.00"), fresh_id());
  const Json other_wallet = deposit(m_other_wallet, other_user, money("EUR:20.00"), fresh_id());
  auto as_center = protocol::read_signed<protocol::DepositCenterCredit>(body, "center").value().body;
  const auto clearing_signs_as_center = protocol::sign(m_clearing.keys.signing, as_center);

  expect_each_tamper_refused(
      "credit", body,
      {
          {"order amount", [](Json& j) { j["order"]["amount"] = "EUR:2000.00"; },
           ErrorCode::bad_signature},
          {"order and charge amounts",
           [](Json& j) {
             j["order"]["amount"] = "EUR:2000.00";
             j["charged"]["amount"] = "EUR:2000.00";
           },
           ErrorCode::bad_signature},
          {"order amount unreadable", [](Json& j) { j["order"]["amount"] = "EUR:20,00"; },
           ErrorCode::bad_amount},
          // The user ID comes from the center's statement; the order carries it sealed.
          {"user ID", [&](Json& j) { j["center"]["user_id"] = other_user.to_string(); },
           ErrorCode::bad_signature},
          {"user ID removed", [](Json& j) { j["center"].erase("user_id"); },
           ErrorCode::malformed},
          {"user ID unreadable", [](Json& j) { j["center"]["user_id"] = "user-1"; },
           ErrorCode::malformed},
          {"sealed user ID", [&](Json& j) { j["order"]["sealed_user_id"] = "AAAA"; },
           ErrorCode::bad_signature},
          {"order signature",
           [&](Json& j) { j["order"]["signature"] = elsewhere["order"]["signature"]; },
           ErrorCode::bad_signature},
          {"order signature unreadable", [](Json& j) { j["order"]["signature"] = "not*base64"; },
           ErrorCode::malformed},
          {"center signature",
           [&](Json& j) { j["center"]["signature"] = elsewhere["center"]["signature"]; },
           ErrorCode::bad_signature},
          {"center endorsement of another request",
           [&](Json& j) { j["center"] = elsewhere["center"]; }, ErrorCode::bad_signature},
          {"center endorsement signed by clearing",
           [&](Json& j) { j["center"] = clearing_signs_as_center.to_json(); },
           ErrorCode::bad_signature},
          {"charged amount", [](Json& j) { j["charged"]["amount"] = "EUR:2000.00"; },
           ErrorCode::bad_signature},
          {"charge of another order", [&](Json& j) { j["charged"] = elsewhere["charged"]; },
           ErrorCode::bad_signature},
          {"wallet certificate of another wallet",
           [&](Json& j) { j["wallet_certificate"] = other_wallet["wallet_certificate"]; },
           ErrorCode::bad_signature},
          {"wallet certificate unreadable",
           [](Json& j) { j["wallet_certificate"] = "-----BEGIN CERTIFICATE-----"; },
           ErrorCode::bad_certificate},
          {"center endorsement missing", [](Json& j) { j.erase("center"); }, ErrorCode::malformed},
          {"not an object", [](Json& j) { j = Json::array(); }, ErrorCode::malformed},
      });

  // The untouched request still goes through: the refusals came from the changes.
  ASSERT_TRUE(call("credit", body).has_value());
  EXPECT_EQ(minor("user:" + user_id.to_string()), "7000");
  expect_ledger_holds();
}

TEST_F(BankTest, TamperedPaymentIsRefusedAndMovesNothing) {
  const auto shop_id = register_ok(m_shop);
  const auto other_shop = register_ok(m_other_shop);
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");
  const auto other_user = deposit_ok(m_other_wallet, {}, "EUR:50.00");
  const Json body = payment(m_wallet, user_id, m_shop, shop_id, money("EUR:12.50"), fresh_id());
  const Json elsewhere =
      payment(m_wallet, user_id, m_shop, shop_id, money("EUR:12.50"), fresh_id());
  const Json other_shops =
      payment(m_wallet, user_id, m_other_shop, other_shop, money("EUR:12.50"), fresh_id());

  expect_each_tamper_refused(
      "pay", body,
      {
          {"order amount", [](Json& j) { j["order"]["amount"] = "EUR:0.01"; },
           ErrorCode::bad_signature},
          {"order amount unreadable", [](Json& j) { j["order"]["amount"] = "EUR:1.2.3"; },
           ErrorCode::bad_amount},
          {"center amount", [](Json& j) { j["center"]["amount"] = "EUR:0.01"; },
           ErrorCode::bad_signature},
          {"center user ID", [&](Json& j) { j["center"]["user_id"] = other_user.to_string(); },
           ErrorCode::bad_signature},
          {"center shop ID", [&](Json& j) { j["center"]["shop_id"] = other_shop.to_string(); },
           ErrorCode::bad_signature},
          {"center user ID unreadable", [](Json& j) { j["center"]["user_id"] = 7; },
           ErrorCode::malformed},
          {"order signature",
           [&](Json& j) { j["order"]["signature"] = elsewhere["order"]["signature"]; },
           ErrorCode::bad_signature},
          {"shop signature",
           [&](Json& j) { j["shop"]["signature"] = elsewhere["shop"]["signature"]; },
           ErrorCode::bad_signature},
          {"center signature",
           [&](Json& j) { j["center"]["signature"] = elsewhere["center"]["signature"]; },
           ErrorCode::bad_signature},
          {"center signature unreadable", [](Json& j) { j["center"]["signature"] = ""; },
           ErrorCode::malformed},
          {"shop vouching for another order", [&](Json& j) { j["shop"] = elsewhere["shop"]; },
           ErrorCode::bad_signature},
          {"center instruction of another payment",
           [&](Json& j) { j["center"] = elsewhere["center"]; }, ErrorCode::bad_signature},
          {"shop certificate of another shop",
           [&](Json& j) { j["shop_certificate"] = other_shops["shop_certificate"]; },
           ErrorCode::bad_signature},
          {"shop certificate in the wallet's place",
           [&](Json& j) { j["wallet_certificate"] = j["shop_certificate"]; },
           ErrorCode::wrong_role},
          {"sealed transfers",
           [&](Json& j) { j["order"]["sealed_transfers"] = elsewhere["order"]["sealed_article"]; },
           ErrorCode::bad_signature},
      });

  auto paid = call("pay", body);
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ(minor("user:" + user_id.to_string()), "3750");
  EXPECT_EQ(minor("shop:" + shop_id.to_string() + ":sales"), "1250");
  expect_ledger_holds();
}

TEST_F(BankTest, RefusesUnknownPartiesShortBalancesAndOtherCurrencies) {
  const auto shop_id = register_ok(m_shop);
  const auto other_shop = register_ok(m_other_shop);
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");
  const auto other_user = deposit_ok(m_other_wallet, {}, "EUR:5.00");
  const auto stranger = fresh_id();

  // Deposits.
  refused("credit", deposit(m_wallet, stranger, money("EUR:10.00"), fresh_id()),
          ErrorCode::unknown_user);
  const auto not_theirs =
      refused("credit", deposit(m_other_wallet, user_id, money("EUR:10.00"), fresh_id()),
              ErrorCode::unknown_user);
  EXPECT_NE(not_theirs.message.find("this certificate does not hold"), std::string::npos)
      << not_theirs.message;
  refused("credit", deposit(m_wallet, user_id, money("USD:10.00"), fresh_id()),
          ErrorCode::currency_mismatch);
  refused("credit", deposit(m_wallet, {}, money("USD:10.00"), fresh_id()),
          ErrorCode::currency_mismatch);
  refused("credit", deposit(m_wallet, user_id, money("EUR:0.00"), fresh_id()),
          ErrorCode::invalid_argument);
  refused("credit", deposit(m_wallet, user_id, money("EUR:-10.00"), fresh_id()),
          ErrorCode::invalid_argument);

  // Payments.
  refused("pay", payment(m_wallet, stranger, m_shop, shop_id, money("EUR:1.00"), fresh_id()),
          ErrorCode::unknown_user);
  refused("pay", payment(m_wallet, other_user, m_shop, shop_id, money("EUR:1.00"), fresh_id()),
          ErrorCode::unknown_user);
  refused("pay", payment(m_wallet, user_id, m_shop, stranger, money("EUR:1.00"), fresh_id()),
          ErrorCode::unknown_shop);
  refused("pay", payment(m_wallet, user_id, m_shop, other_shop, money("EUR:1.00"), fresh_id()),
          ErrorCode::unknown_shop);
  const auto short_of =
      refused("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:80.00"), fresh_id()),
              ErrorCode::insufficient_funds);
  EXPECT_EQ(short_of.message, "balance EUR:50.00 is short of EUR:80.00 by EUR:30.00");
  refused("pay", payment(m_wallet, user_id, m_shop, shop_id, money("USD:1.00"), fresh_id()),
          ErrorCode::currency_mismatch);
  refused("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:0.00"), fresh_id()),
          ErrorCode::invalid_argument);
  refused("pay",
          payment(m_wallet, user_id, m_shop, shop_id, money("EUR:1.00"), fresh_id(),
                  {.pays_shop = "shop-2"}),
          ErrorCode::bad_signature);
  const auto records =
      refused("pay",
              payment(m_wallet, user_id, m_shop, shop_id, money("EUR:1.00"), fresh_id(),
                      {.transfers = R"([{"transfer_id":"T1","amount":"EUR:1.00"}])"}),
              ErrorCode::invalid_argument);
  EXPECT_EQ(records.message, "transfer records not supported yet");
  refused("pay",
          payment(m_wallet, user_id, m_shop, shop_id, money("EUR:1.00"), fresh_id(),
                  {.transfers = "transfers: none"}),
          ErrorCode::malformed);
  refused("pay",
          payment(m_wallet, user_id, m_shop, shop_id, money("EUR:1.00"), fresh_id(),
                  {.sealed_transfers =
                       crypto::seal(m_center.keys.sealing.public_key(), as_bytes("[]"))}),
          ErrorCode::unseal_failed);

  // Shops and payouts.
  refused("register_shop", shop_registration(m_shop, fresh_id()), ErrorCode::conflict);
  refused("payout_start", payout_start(m_shop, other_shop, fresh_id()), ErrorCode::unknown_shop);
  refused("payout_start", payout_start(m_shop, stranger, fresh_id()), ErrorCode::unknown_shop);
  refused("payout_finish", payout_finish(fresh_id(), money("EUR:1.00"), true),
          ErrorCode::not_found);

  // After all that, a payment within the balance still goes through.
  ASSERT_TRUE(
      call("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:50.00"), fresh_id()))
          .has_value());
  EXPECT_EQ(minor("user:" + user_id.to_string()), "0");
  expect_ledger_holds();
}

// Every statement is validly signed by its own party, but they do not name each other: a chain
// that does not hold together is refused even though each signature verifies.
TEST_F(BankTest, SignedStatementsThatDoNotFormOneChainAreRefused) {
  const auto shop_id = register_ok(m_shop);
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");

  // Deposit: clearing charged another amount than the order's, and the center endorsed both.
  {
    const auto request_id = fresh_id();
    const auto order =
        protocol::sign(m_wallet.keys.signing, protocol::DepositOrder{.request_id = request_id,
                                                                     .timestamp = kNow,
                                                                     .sealed_user_id = {},
                                                                     .amount = money("EUR:10.00"),
                                                                     .sealed_card = {}});
    for (const auto& charged : {
             protocol::DepositCharged{.request_id = request_id,
            .amount = money("EUR:60.00"),
            .charge_ref = "CH-1",
            .order = order.digest()},
             protocol::DepositCharged{.request_id = fresh_id(),
             .amount = money("EUR:10.00"),
             .charge_ref = "CH-1",
             .order = order.digest()},
             protocol::DepositCharged{.request_id = request_id,
             .amount = money("EUR:10.00"),
             .charge_ref = "CH-1",
             .order = crypto::Digest{}},
         }) {
      const auto signed_charged = protocol::sign(m_clearing.keys.signing, charged);
      const auto center = protocol::sign(
          m_center.keys.signing, protocol::DepositCenterCredit{.request_id = request_id,
                                                               .order = order.digest(),
                                                               .charged = signed_charged.digest(),
                                                               .user_id = user_id});
      const auto error = refused("credit",
                                 {{"wallet_certificate", m_wallet.certificate.to_pem()},
                                  {"order", order.to_json()},
                                  {"charged", signed_charged.to_json()},
                                  {"center", center.to_json()}},
                                 ErrorCode::bad_signature);
      EXPECT_NE(error.message.find("the chain does not match"), std::string::npos) << error.message;
    }
  }

  // Payment: the center instructs another amount, or names another shop statement.
  {
    const Json good = payment(m_wallet, user_id, m_shop, shop_id, money("EUR:10.00"), fresh_id());
    const auto order = protocol::read_signed<protocol::PaymentOrder>(good, "order").value();
    const auto vouched = protocol::read_signed<protocol::PaymentShop>(good, "shop").value();
    const auto other_vouched = protocol::sign(
        m_shop.keys.signing, protocol::PaymentShop{.request_id = order.body.request_id,
                                                   .order = order.digest(),
                                                   .sealed_shop_id = Bytes{1}});
    const auto instruct = [&](const crypto::Digest& shop, const Amount& amount) {
      Json body = good;
      body["center"] = protocol::sign(m_center.keys.signing,
                                      protocol::PaymentCenter{.request_id = order.body.request_id,
                                                              .order = order.digest(),
                                                              .shop = shop,
                                                              .user_id = user_id,
                                                              .shop_id = shop_id,
                                                              .amount = amount})
                           .to_json();
      return body;
    };
    refused("pay", instruct(vouched.digest(), money("EUR:1.00")), ErrorCode::bad_signature);
    refused("pay", instruct(other_vouched.digest(), money("EUR:10.00")), ErrorCode::bad_signature);
    ASSERT_TRUE(call("pay", instruct(vouched.digest(), money("EUR:10.00"))).has_value());
  }

  // Shop registration: clearing verified the account of another certificate.
  {
    const auto request_id = fresh_id();
    const Json good = shop_registration(m_other_shop, request_id);
    const auto registration =
        protocol::read_signed<protocol::ShopRegistration>(good, "registration").value();
    const auto verified = protocol::sign(
        m_clearing.keys.signing,
        protocol::ShopAccountVerified{.request_id = request_id,
                                      .certificate_serial = m_shop.certificate.serial(),
                                      .registration = registration.digest()});
    Json body = good;
    body["verified"] = verified.to_json();
    body["center"] =
        protocol::endorse<Purpose::shop_registration_bank>(
            m_center.keys.signing, request_id, {registration.digest(), verified.digest()})
            .to_json();
    refused("register_shop", body, ErrorCode::bad_signature);
  }

  // Payout: the center names another payout request.
  {
    Json body = payout_start(m_shop, shop_id, fresh_id());
    body["center"] = payout_start(m_shop, shop_id, fresh_id())["center"];
    refused("payout_start", body, ErrorCode::bad_signature);
  }
  expect_ledger_holds();
}

TEST_F(BankTest, ShopIsPaidAndPaidOut) {
  const auto registration_id = fresh_id();
  const Json registration = shop_registration(m_shop, registration_id);
  auto registered = call("register_shop", registration);
  ASSERT_TRUE(registered.has_value()) << registered.error().to_string();
  auto shop_statement =
      protocol::read_signed<protocol::ShopRegistered>(*registered, "registered").value();
  EXPECT_TRUE(shop_statement.verify(m_bank_party.certificate.verify_key()).has_value());
  EXPECT_EQ(shop_statement.body.certificate_serial, m_shop.certificate.serial());
  EXPECT_EQ(shop_statement.body.request_id, registration_id);
  const auto shop_id = shop_statement.body.shop_id;
  const auto sales = "shop:" + shop_id.to_string() + ":sales";
  const auto paying_out = "shop:" + shop_id.to_string() + ":paying_out";
  EXPECT_EQ(minor(sales), "0");
  EXPECT_EQ(minor(paying_out), "0");
  EXPECT_EQ(call("register_shop", registration).value(), *registered);
  expect_ledger_holds();

  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");
  const auto user = "user:" + user_id.to_string();

  // Pay 12.50: from the user's balance to the shop's sales.
  const auto pay_id = fresh_id();
  const Json pay = payment(m_wallet, user_id, m_shop, shop_id, money("EUR:12.50"), pay_id);
  auto paid = call("pay", pay);
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  auto receipt = protocol::read_signed<protocol::PaymentReceiptBank>(*paid, "receipt").value();
  EXPECT_TRUE(receipt.verify(m_bank_party.certificate.verify_key()).has_value());
  EXPECT_EQ(receipt.body.request_id, pay_id);
  EXPECT_EQ(receipt.body.amount, money("EUR:12.50"));
  EXPECT_EQ(receipt.body.order,
            protocol::read_signed<protocol::PaymentOrder>(pay, "order")->digest());
  EXPECT_EQ(opened_text(m_wallet.keys.sealing, receipt.body.sealed_balance),
            "EUR:37.50 adjusted EUR:0.00");
  EXPECT_EQ(minor(user), "3750");
  EXPECT_EQ(minor(sales), "1250");
  expect_ledger_holds();
  const auto after_pay = dump();
  EXPECT_EQ(call("pay", pay).value(), *paid);
  EXPECT_EQ(dump(), after_pay);
  EXPECT_EQ(m_bank->totals()->payments, 1);  // a running figure, counted once

  // Pay out: the sales are set aside, then clearing paid them.
  const auto payout_id = fresh_id();
  auto started = call("payout_start", payout_start(m_shop, shop_id, payout_id));
  ASSERT_TRUE(started.has_value()) << started.error().to_string();
  auto set_aside = protocol::read_signed<protocol::PayoutAmount>(*started, "amount").value();
  EXPECT_TRUE(set_aside.verify(m_bank_party.certificate.verify_key()).has_value());
  EXPECT_EQ(set_aside.body.amount, money("EUR:12.50"));
  EXPECT_EQ(set_aside.body.shop_id, shop_id);
  EXPECT_EQ(minor(sales), "0");
  EXPECT_EQ(minor(paying_out), "1250");
  EXPECT_EQ(scalar("SELECT state FROM payouts WHERE request_id = '" + payout_id.to_string() + "'"),
            "pending");
  expect_ledger_holds();

  refused("payout_finish", payout_finish(payout_id, money("EUR:12.00"), true), ErrorCode::conflict);
  const Json finish_paid = payout_finish(payout_id, money("EUR:12.50"), true);
  auto finished = call("payout_finish", finish_paid);
  ASSERT_TRUE(finished.has_value()) << finished.error().to_string();
  EXPECT_EQ(*finished, (Json{{"state", "paid"}, {"amount", "EUR:12.50"}}));
  EXPECT_EQ(minor(paying_out), "0");
  EXPECT_EQ(minor("payout:bank"), "1250");
  EXPECT_EQ(scalar("SELECT state FROM payouts WHERE request_id = '" + payout_id.to_string() + "'"),
            "paid");
  EXPECT_EQ(m_bank->totals()->paid_out, money("EUR:12.50"));
  expect_ledger_holds();
  // A retry gets the same answer; another result for a finished payout is a conflict.
  EXPECT_EQ(call("payout_finish", finish_paid).value(), *finished);
  refused("payout_finish", payout_finish(payout_id, money("EUR:12.50"), false),
          ErrorCode::conflict);
  // A result not signed by clearing is refused.
  Json forged = finish_paid;
  forged["result"]["paid"] = false;
  refused("payout_finish", forged, ErrorCode::bad_signature);

  // A second payout fails at the bank institution: the sales come back.
  ASSERT_TRUE(
      call("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:20.00"), fresh_id()))
          .has_value());
  expect_ledger_holds();
  const auto failing_id = fresh_id();
  auto failing = call("payout_start", payout_start(m_shop, shop_id, failing_id));
  ASSERT_TRUE(failing.has_value()) << failing.error().to_string();
  EXPECT_EQ(minor(sales), "0");
  EXPECT_EQ(minor(paying_out), "2000");
  expect_ledger_holds();
  auto failed = call("payout_finish", payout_finish(failing_id, money("EUR:20.00"), false));
  ASSERT_TRUE(failed.has_value()) << failed.error().to_string();
  EXPECT_EQ(*failed, (Json{{"state", "failed"}, {"amount", "EUR:20.00"}}));
  EXPECT_EQ(minor(sales), "2000");
  EXPECT_EQ(minor(paying_out), "0");
  EXPECT_EQ(minor("payout:bank"), "1250");
  expect_ledger_holds();
  refused("payout_finish", payout_finish(failing_id, money("EUR:20.00"), true),
          ErrorCode::conflict);

  // Set aside again and leave it pending.
  ASSERT_TRUE(call("payout_start", payout_start(m_shop, shop_id, fresh_id())).has_value());
  expect_ledger_holds();
  // Nothing left to pay out: an amount of zero, finished at once.
  const auto empty_id = fresh_id();
  auto empty = call("payout_start", payout_start(m_shop, shop_id, empty_id));
  ASSERT_TRUE(empty.has_value()) << empty.error().to_string();
  EXPECT_EQ(protocol::read_signed<protocol::PayoutAmount>(*empty, "amount")->body.amount,
            money("EUR:0.00"));
  EXPECT_EQ(scalar("SELECT state FROM payouts WHERE request_id = '" + empty_id.to_string() + "'"),
            "paid");
  refused("payout_finish", payout_finish(empty_id, money("EUR:1.00"), true), ErrorCode::conflict);

  const auto totals = m_bank->totals().value();
  EXPECT_EQ(totals.deposited, money("EUR:50.00"));
  EXPECT_EQ(totals.paid_out, money("EUR:12.50"));
  EXPECT_EQ(totals.balances, money("EUR:17.50"));
  EXPECT_EQ(totals.unpaid_sales, money("EUR:0.00"));
  EXPECT_EQ(totals.paying_out, money("EUR:20.00"));
  EXPECT_EQ(totals.users, 1);
  EXPECT_EQ(totals.shops, 1);
  EXPECT_EQ(totals.payments, 2);
  const auto report = call("report", Json::object()).value()["figures"];
  EXPECT_EQ(report["deposited"], "EUR:50.00");
  EXPECT_EQ(report["paid_out"], "EUR:12.50");
  EXPECT_EQ(report["balances"], "EUR:17.50");
  EXPECT_EQ(report["unpaid_sales"], "EUR:0.00");
  EXPECT_EQ(report["paying_out"], "EUR:20.00");
  EXPECT_EQ(report["users"], 1);
  EXPECT_EQ(report["shops"], 1);
  EXPECT_EQ(report["payments"], 2);
  expect_ledger_holds();
}

// No hot rows: payments to one shop land on different stripes of its sales (chosen by request
// ID), a payout sums and sets aside every stripe, and a failed payout puts each part back where
// it came from.
TEST_F(BankTest, ShopSalesAreStripedAndSummedAtPayout) {
  auto registered = call("register_shop", shop_registration(m_shop, fresh_id())).value();
  const auto shop_id =
      protocol::read_signed<protocol::ShopRegistered>(registered, "registered")->body.shop_id;
  const auto sales = "shop:" + shop_id.to_string() + ":sales";
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");
  const auto id_ending = [&](std::uint8_t last) {
    auto bytes = fresh_id().bytes();
    bytes.back() = last;
    return Id128(bytes);
  };
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM accounts WHERE id = '" + sales + "' OR id GLOB '" + sales +
                   "#*'"),
            "64");
  for (const std::uint8_t last : {0x00, 0x01, 0x12, 0x7f}) {  // stripes 0, 1, 18 and 63
    ASSERT_TRUE(call("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:2.00"), id_ending(last))));
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM accounts WHERE (id = '" + sales + "' OR id GLOB '" + sales +
                   "#*') AND balance > 0"),
            "4");
  EXPECT_EQ(minor(sales), "800");
  EXPECT_EQ(m_bank->totals()->unpaid_sales, money("EUR:8.00"));
  expect_ledger_holds();
  const auto rows_before = rows("SELECT id, balance FROM accounts WHERE id GLOB 'shop:*' ORDER BY id");
  const auto payout_id = fresh_id();
  auto started = call("payout_start", payout_start(m_shop, shop_id, payout_id));
  ASSERT_TRUE(started.has_value()) << started.error().to_string();
  EXPECT_EQ(protocol::read_signed<protocol::PayoutAmount>(*started, "amount")->body.amount,
            money("EUR:8.00"));
  EXPECT_EQ(minor(sales), "0");
  ASSERT_TRUE(call("payout_finish", payout_finish(payout_id, money("EUR:8.00"), false)));
  EXPECT_EQ(rows("SELECT id, balance FROM accounts WHERE id GLOB 'shop:*' ORDER BY id"), rows_before);
  expect_ledger_holds();
}

// A shop's order is paid once: paid again under another request ID, it is refused as a conflict
// naming the request that paid it, and nothing moves. That refusal is the second request's answer
// for good: asked again, it is refused the same way, from the request log.
TEST_F(BankTest, AnOrderIsPaidOnce) {
  const auto shop_id = register_ok(m_shop);
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:50.00");
  const auto order_id = fresh_id();
  const auto first = fresh_id();
  ASSERT_TRUE(call("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:2.00"), first,
                                  {.order_id = order_id})));
  const auto second = payment(m_wallet, user_id, m_shop, shop_id, money("EUR:2.00"), fresh_id(),
                              {.order_id = order_id});
  const auto again = refused("pay", second, ErrorCode::conflict);
  EXPECT_NE(again.message.find("is paid already (request " + first.to_string() + ")"),
            std::string::npos)
      << again.message;
  const auto kept = refused("pay", second, ErrorCode::conflict);
  EXPECT_EQ(kept.message, again.message);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM request_log WHERE response LIKE '{\"refused\"%'"), "1");
  EXPECT_EQ(minor("user:" + user_id.to_string()), "4800");
  expect_ledger_holds();
}

// The audit checks the list of accounts that owe (the report counts them from it) against their
// balances.
TEST_F(BankTest, AuditChecksTheListOfAccountsThatOwe) {
  const auto user = "user:" + deposit_ok(m_wallet, {}, "EUR:5.00").to_string();
  expect_ledger_holds();
  change("INSERT INTO owing (account) VALUES ('" + user + "')");
  auto audit = m_bank->audit().value();
  ASSERT_EQ(audit["problems"].size(), 1u) << audit.dump();
  EXPECT_EQ(audit["problems"][0], "bank account " + user + " is listed but does not owe");
  EXPECT_EQ(m_bank->totals()->owing_users, 1);
  change("DELETE FROM owing; UPDATE accounts SET balance = -1 WHERE id = '" + user + "'");
  audit = m_bank->audit().value();
  EXPECT_NE(audit.dump().find("bank account " + user + " owes but is not listed"),
            std::string::npos)
      << audit.dump();
}

// No transfer records travel as nothing at all (nothing to seal); the payment goes through.
TEST_F(BankTest, APaymentWithoutTransferRecordsCarriesNothingSealed) {
  auto registered = call("register_shop", shop_registration(m_shop, fresh_id())).value();
  const auto shop_id =
      protocol::read_signed<protocol::ShopRegistered>(registered, "registered")->body.shop_id;
  const auto user_id = deposit_ok(m_wallet, {}, "EUR:5.00");
  ASSERT_TRUE(call("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:1.00"), fresh_id(),
                                  {.sealed_transfers = Bytes{}})));
  EXPECT_EQ(minor("user:" + user_id.to_string()), "400");
  expect_ledger_holds();
}

TEST_F(BankTest, StateSurvivesReopening) {
  const auto shop_id = register_ok(m_shop);
  const Json first = deposit(m_wallet, {}, money("EUR:50.00"), fresh_id());
  auto credited = call("credit", first);
  ASSERT_TRUE(credited.has_value()) << credited.error().to_string();
  const auto user_id =
      protocol::read_signed<protocol::DepositReceipt>(*credited, "receipt")->body.user_id;
  ASSERT_TRUE(
      call("pay", payment(m_wallet, user_id, m_shop, shop_id, money("EUR:10.00"), fresh_id()))
          .has_value());
  const auto payout_id = fresh_id();
  ASSERT_TRUE(call("payout_start", payout_start(m_shop, shop_id, payout_id)).has_value());
  const auto before = dump();
  const auto totals = m_bank->totals().value();

  auto reopened = open_bank(eur());
  ASSERT_TRUE(reopened.has_value()) << reopened.error().to_string();
  EXPECT_EQ(dump(), before);
  EXPECT_TRUE(m_bank->totals().value() == totals);
  EXPECT_EQ(m_bank->totals()->deposited, money("EUR:50.00"));
  EXPECT_EQ(m_bank->totals()->paying_out, money("EUR:10.00"));
  // The request log survived: a retry gets the first answer and moves nothing.
  EXPECT_EQ(call("credit", first).value(), *credited);
  EXPECT_EQ(dump(), before);
  // Users, shops and pending payouts survived.
  auto again = call("credit", deposit(m_wallet, user_id, money("EUR:5.00"), fresh_id()));
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(
      opened_text(
          m_wallet.keys.sealing,
          protocol::read_signed<protocol::DepositReceipt>(*again, "receipt")->body.sealed_balance),
      "EUR:45.00 adjusted EUR:0.00");
  ASSERT_TRUE(
      call("payout_finish", payout_finish(payout_id, money("EUR:10.00"), true)).has_value());
  refused("register_shop", shop_registration(m_shop, fresh_id()), ErrorCode::conflict);
  expect_ledger_holds();

  // The ledger's currency is fixed with the store.
  m_bank.reset();
  auto usd = VirtualBank::open(
      db_path(), parties::Identity{copy_keys(m_bank_party.keys), m_bank_party.certificate},
      parties::Directory{m_ca.certificate(), m_center.certificate, m_bank_party.certificate,
                         m_clearing.certificate},
      *m_trust, m_clock, m_random, Currency::from_code("USD").value());
  ASSERT_FALSE(usd.has_value());
  EXPECT_EQ(usd.error().code, ErrorCode::conflict);
}

}  // namespace
}  // namespace ecash::bank
