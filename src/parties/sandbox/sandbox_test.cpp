#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "base/clock.hpp"
#include "parties/sandbox/bank_institution.hpp"
#include "parties/sandbox/card_company.hpp"
#include "parties/sandbox/fields.hpp"
#include "store/request_log.hpp"

namespace ecash::sandbox {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kVisa = "4111111111111111";
constexpr const char* kMastercard = "5555555555554444";  // valid, never opened
constexpr const char* kIban = "DE89370400440532013000";
constexpr const char* kOtherIban = "GB82WEST12345698765432";  // valid, never opened

Json ok(protocol::Endpoint& endpoint, std::string_view route, const Json& body) {
  auto answer = endpoint.handle(protocol::Caller{}, route, body);
  EXPECT_TRUE(answer.has_value()) << route << " " << body.dump() << ": "
                                  << answer.error().to_string();
  return answer ? *answer : Json();
}

ErrorCode error_of(protocol::Endpoint& endpoint, std::string_view route, const Json& body) {
  auto answer = endpoint.handle(protocol::Caller{}, route, body);
  EXPECT_FALSE(answer.has_value()) << route << " " << body.dump() << " answered " << answer->dump();
  return answer ? ErrorCode::internal : answer.error().code;
}

bool store_holds(const fs::path& db, const std::string& needle);

// The opaque reference of a wallet's certificate the clearing house charges under.
constexpr const char* kReference = "0123456789abcdef0123456789abcdef";

Json charge_body(std::string id, std::string amount, std::string card = kVisa,
                 std::string reference = kReference) {
  return {{"request_id", std::move(id)},
          {"card_number", std::move(card)},
          {"amount", std::move(amount)},
          {"reference", std::move(reference)}};
}

Json transfer_body(std::string id, std::string amount, std::string reference = "payout P-1",
                   std::string iban = kIban) {
  return {{"request_id", std::move(id)},
          {"iban", std::move(iban)},
          {"amount", std::move(amount)},
          {"reference", std::move(reference)}};
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    m_dir = fs::temp_directory_path() / ("ecash-sandbox-" + std::to_string(::getpid()) + "-" +
                                         test->test_suite_name() + "-" + test->name());
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }

  std::unique_ptr<CardCompany> open_card_company() {
    auto company = CardCompany::open((m_dir / "card_company.db").string(), m_clock);
    EXPECT_TRUE(company.has_value()) << company.error().to_string();
    return company ? std::move(*company) : nullptr;
  }
  std::unique_ptr<BankInstitution> open_bank() {
    auto bank = BankInstitution::open((m_dir / "bank.db").string(), m_clock);
    EXPECT_TRUE(bank.has_value()) << bank.error().to_string();
    return bank ? std::move(*bank) : nullptr;
  }
  // A card company with kVisa open at a limit of EUR:1000.00, confirmed for kReference.
  std::unique_ptr<CardCompany> card_company_with_card() {
    auto company = open_card_company();
    ok(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:1000.00"}});
    confirm(*company);
    return company;
  }
  // The card's holder confirms it for reference: the sandbox's default details, then the code.
  static void confirm(CardCompany& company, const std::string& number = kVisa,
                      const std::string& reference = kReference) {
    ok(company, "verify_card", {{"card_number", number}, {"expiry", kSandboxExpiry},
                                {"cvc", kSandboxCvc}, {"reference", reference}});
    ok(company, "confirm_card", {{"card_number", number}, {"reference", reference},
                                 {"code", company.pending_code(number).value()["code"]}});
  }
  // A bank with kIban open for Shop One in EUR.
  std::unique_ptr<BankInstitution> bank_with_account() {
    auto bank = open_bank();
    ok(*bank, "open_account", {{"iban", kIban}, {"holder", "Shop One"}});
    return bank;
  }

  fs::path m_dir;
  ManualClock m_clock{1'700'000'000};
};

Json card_of(CardCompany& company, const std::string& number = kVisa) {
  return ok(company, "card", {{"card_number", number}});
}

// ---- card company ----

// Finding 6 of issue 12: a card number alone charged nothing. Now the expiry and CVC are checked,
// a code goes to the holder, and only a card confirmed for a certificate's reference is charged.
TEST_F(SandboxTest, ACardIsChargedOnlyOnceItsHolderConfirmedItForTheReference) {
  auto company = open_card_company();
  ok(*company, "open_card",
     {{"card_number", kVisa}, {"limit", "EUR:1000.00"}, {"expiry", "08/29"}, {"cvc", "737"}});
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:10.00")),
            ErrorCode::card_not_confirmed);
  const auto verify = [&](const char* card, const char* expiry, const char* cvc) {
    return Json{{"card_number", card}, {"expiry", expiry}, {"cvc", cvc}, {"reference", kReference}};
  };
  EXPECT_EQ(error_of(*company, "verify_card", verify(kMastercard, "08/29", "737")),
            ErrorCode::declined);  // a card the company does not know
  EXPECT_EQ(error_of(*company, "verify_card", verify(kVisa, "08/29", "738")), ErrorCode::wrong_cvc);
  EXPECT_EQ(error_of(*company, "verify_card", verify(kVisa, "09/29", "737")), ErrorCode::wrong_expiry);
  EXPECT_EQ(error_of(*company, "verify_card", verify(kVisa, "8/29", "737")), ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "verify_card", verify(kVisa, "08/29", "73")), ErrorCode::invalid_argument);
  const auto confirm_with = [&](const std::string& code, const char* reference = kReference) {
    return Json{{"card_number", kVisa}, {"reference", reference}, {"code", code}};
  };
  EXPECT_EQ(error_of(*company, "confirm_card", confirm_with("123456")), ErrorCode::code_expired);
  EXPECT_EQ(company->pending_code(kVisa).error().code, ErrorCode::not_found);

  EXPECT_EQ(ok(*company, "verify_card", verify(kVisa, "08/29", "737"))["code_sent"], true);
  const std::string code = company->pending_code(kVisa).value()["code"];
  EXPECT_EQ(code.size(), 6u);
  EXPECT_EQ(error_of(*company, "confirm_card", confirm_with(code == "000000" ? "000001" : "000000")),
            ErrorCode::wrong_code);
  // The code was sent for this reference: another certificate's is not confirmed by it.
  EXPECT_EQ(error_of(*company, "confirm_card", confirm_with(code, "another")), ErrorCode::code_expired);
  EXPECT_EQ(ok(*company, "confirm_card", confirm_with(code))["confirmed"], true);
  EXPECT_EQ(ok(*company, "charge", charge_body("r1", "EUR:10.00"))["status"], "approved");
  EXPECT_EQ(error_of(*company, "charge", charge_body("r2", "EUR:10.00", kVisa, "another")),
            ErrorCode::card_not_confirmed);
  // Confirmed again (the first answer lost): said so, whatever the code; nothing else changes.
  EXPECT_EQ(ok(*company, "confirm_card", confirm_with("000000"))["confirmed"], true);
  EXPECT_EQ(card_of(*company)["charged"], "EUR:10.00");
  // The expiry is sealed and the CVC kept as a keyed hash only.
  company.reset();
  EXPECT_FALSE(store_holds(m_dir / "card_company.db", "08/29"));
}

TEST_F(SandboxTest, ACodeExpiresAfterTenMinutesAndAfterThreeWrongTries) {
  auto company = open_card_company();
  ok(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:1000.00"}});
  const Json verify = {{"card_number", kVisa}, {"expiry", kSandboxExpiry}, {"cvc", kSandboxCvc},
                       {"reference", kReference}};
  const auto confirm_with = [&](const std::string& code) {
    return Json{{"card_number", kVisa}, {"reference", kReference}, {"code", code}};
  };
  ok(*company, "verify_card", verify);
  std::string code = company->pending_code(kVisa).value()["code"];
  m_clock.advance(kCodeLifetime + 1);
  EXPECT_EQ(company->pending_code(kVisa).error().code, ErrorCode::not_found);
  EXPECT_EQ(error_of(*company, "confirm_card", confirm_with(code)), ErrorCode::code_expired);

  ok(*company, "verify_card", verify);
  code = company->pending_code(kVisa).value()["code"];
  const std::string wrong = code == "999999" ? "999998" : "999999";
  for (int i = 0; i < kMaxCodeAttempts; ++i) {
    EXPECT_EQ(error_of(*company, "confirm_card", confirm_with(wrong)), ErrorCode::wrong_code);
  }
  EXPECT_EQ(error_of(*company, "confirm_card", confirm_with(code)), ErrorCode::code_expired);

  // Wrong details in a row lock the card: the right ones are then declined too.
  Json bad = verify;
  bad["cvc"] = "999";
  for (int i = 0; i < kMaxWrongDetails; ++i) {
    EXPECT_EQ(error_of(*company, "verify_card", bad), ErrorCode::wrong_cvc);
  }
  EXPECT_EQ(error_of(*company, "verify_card", verify), ErrorCode::declined);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:1.00")), ErrorCode::card_not_confirmed);

  // A card past its expiry month is declined at verification.
  ok(*company, "open_card",
     {{"card_number", kMastercard}, {"limit", "EUR:100.00"}, {"expiry", "01/20"}, {"cvc", "321"}});
  EXPECT_EQ(error_of(*company, "verify_card", {{"card_number", kMastercard}, {"expiry", "01/20"},
                                               {"cvc", "321"}, {"reference", kReference}}),
            ErrorCode::declined);
}

TEST_F(SandboxTest, OpenCardAnswersMaskedNumberAndFullCredit) {
  auto company = open_card_company();
  EXPECT_EQ(ok(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:1000.00"}}),
            (Json{{"card_number_masked", "****1111"}}));
  EXPECT_EQ(card_of(*company), (Json{{"limit", "EUR:1000.00"},
                                     {"charged", "EUR:0.00"},
                                     {"refunded", "EUR:0.00"},
                                     {"available", "EUR:1000.00"},
                                     {"charges", Json::array()}}));
}

TEST_F(SandboxTest, OpenCardIsIdempotentAndRefusesAnotherLimit) {
  auto company = card_company_with_card();
  EXPECT_EQ(ok(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:1000"}}),
            (Json{{"card_number_masked", "****1111"}}));
  EXPECT_EQ(error_of(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:2000.00"}}),
            ErrorCode::conflict);
  EXPECT_EQ(error_of(*company, "open_card", {{"card_number", kVisa}, {"limit", "USD:1000.00"}}),
            ErrorCode::conflict);
  EXPECT_EQ(card_of(*company)["limit"], "EUR:1000.00");
}

TEST_F(SandboxTest, OpenCardChecksItsInput) {
  auto company = open_card_company();
  EXPECT_EQ(error_of(*company, "open_card",
                     {{"card_number", "4111111111111112"}, {"limit", "EUR:1000.00"}}),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*company, "open_card", {{"limit", "EUR:1000.00"}}), ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "open_card", {{"card_number", kVisa}, {"limit", 1000}}),
            ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:0.00"}}),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "open_card", {{"card_number", kVisa}, {"limit", "EUR:ten"}}),
            ErrorCode::bad_amount);
  EXPECT_EQ(error_of(*company, "card", {{"card_number", kVisa}}), ErrorCode::not_found);
}

TEST_F(SandboxTest, ChargeWithinLimitIsApproved) {
  auto company = card_company_with_card();
  EXPECT_EQ(ok(*company, "charge", charge_body("r1", "EUR:250.00")),
            (Json{{"charge_id", "CH-000001"}, {"amount", "EUR:250.00"}, {"status", "approved"}}));
  EXPECT_EQ(ok(*company, "charge", charge_body("r2", "EUR:0.01"))["charge_id"], "CH-000002");
  const Json card = card_of(*company);
  EXPECT_EQ(card["charged"], "EUR:250.01");
  EXPECT_EQ(card["refunded"], "EUR:0.00");
  EXPECT_EQ(card["available"], "EUR:749.99");
  EXPECT_EQ(card["charges"],
            (Json{{{"charge_id", "CH-000001"}, {"amount", "EUR:250.00"}, {"status", "approved"}},
                  {{"charge_id", "CH-000002"}, {"amount", "EUR:0.01"}, {"status", "approved"}}}));
}

TEST_F(SandboxTest, ChargeRetryGetsTheSameAnswerAndChargesOnce) {
  auto company = card_company_with_card();
  const Json first = ok(*company, "charge", charge_body("r1", "EUR:250.00"));
  EXPECT_EQ(ok(*company, "charge", charge_body("r1", "EUR:250.00")), first);
  // The same amount written another way is the same request.
  EXPECT_EQ(ok(*company, "charge", charge_body("r1", "EUR:250")), first);
  const Json card = card_of(*company);
  EXPECT_EQ(card["charged"], "EUR:250.00");
  EXPECT_EQ(card["available"], "EUR:750.00");
  EXPECT_EQ(card["charges"].size(), 1u);
}

TEST_F(SandboxTest, ChargeReusingRequestIdForAnotherChargeIsReplayed) {
  auto company = card_company_with_card();
  ok(*company, "charge", charge_body("r1", "EUR:250.00"));
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:250.01")), ErrorCode::replayed);
  // A request ID is one request whatever the route.
  EXPECT_EQ(error_of(*company, "refund", {{"request_id", "r1"}, {"charge_id", "CH-000001"}}),
            ErrorCode::replayed);
  EXPECT_EQ(card_of(*company)["charged"], "EUR:250.00");
  EXPECT_EQ(card_of(*company)["refunded"], "EUR:0.00");
}

TEST_F(SandboxTest, ChargeRefusesBadInputWithSpecificCodes) {
  auto company = card_company_with_card();
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:1.00", "4111111111111121")),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:1.00", "4111-1111-1111-1111")),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:1.00", kMastercard)),
            ErrorCode::declined);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "USD:1.00")),
            ErrorCode::currency_mismatch);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:0.00")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:-5.00")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r1", "EUR:1.001")),
            ErrorCode::amount_precision);
  EXPECT_EQ(error_of(*company, "charge", charge_body("", "EUR:1.00")), ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r 1", "EUR:1.00")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "charge", charge_body(std::string(129, 'r'), "EUR:1.00")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*company, "charge", {{"card_number", kVisa}, {"amount", "EUR:1.00"}}),
            ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "charge",
                     {{"request_id", 7}, {"card_number", kVisa}, {"amount", "EUR:1.00"}}),
            ErrorCode::malformed);
  EXPECT_EQ(
      error_of(*company, "charge",
               {{"request_id", "r1"}, {"card_number", 4111111111111111}, {"amount", "EUR:1.00"}}),
      ErrorCode::malformed);
  EXPECT_EQ(
      error_of(*company, "charge", {{"request_id", "r1"}, {"card_number", kVisa}, {"amount", 1.0}}),
      ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "charge", Json::array({"r1", kVisa, "EUR:1.00"})),
            ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "charge", Json()), ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "charge", "r1"), ErrorCode::malformed);
  // None of them charged anything or used up the request ID.
  EXPECT_EQ(card_of(*company)["charged"], "EUR:0.00");
  EXPECT_EQ(ok(*company, "charge", charge_body("r1", "EUR:1.00"))["status"], "approved");
}

TEST_F(SandboxTest, ChargeOverTheLimitIsDeclined) {
  auto company = card_company_with_card();
  ok(*company, "charge", charge_body("r1", "EUR:600.00"));
  EXPECT_EQ(error_of(*company, "charge", charge_body("r2", "EUR:400.01")), ErrorCode::declined);
  EXPECT_EQ(error_of(*company, "charge", charge_body("r3", "EUR:1000.01", kVisa)),
            ErrorCode::declined);
  EXPECT_EQ(card_of(*company)["available"], "EUR:400.00");
  // Up to the limit exactly is fine; then nothing more.
  EXPECT_EQ(ok(*company, "charge", charge_body("r4", "EUR:400.00"))["status"], "approved");
  EXPECT_EQ(error_of(*company, "charge", charge_body("r5", "EUR:0.01")), ErrorCode::declined);
  const Json card = card_of(*company);
  EXPECT_EQ(card["charged"], "EUR:1000.00");
  EXPECT_EQ(card["available"], "EUR:0.00");
  EXPECT_EQ(card["charges"].size(), 2u);
}

TEST_F(SandboxTest, RefundRestoresCreditForAnotherCharge) {
  auto company = card_company_with_card();
  ok(*company, "charge", charge_body("r1", "EUR:900.00"));
  EXPECT_EQ(error_of(*company, "charge", charge_body("r2", "EUR:200.00")), ErrorCode::declined);
  EXPECT_EQ(ok(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000001"}}),
            (Json{{"refund_id", "RF-000001"}, {"amount", "EUR:900.00"}}));
  // The declined request did not use up its ID: tried again, it now fits.
  EXPECT_EQ(ok(*company, "charge", charge_body("r2", "EUR:200.00")),
            (Json{{"charge_id", "CH-000002"}, {"amount", "EUR:200.00"}, {"status", "approved"}}));
  const Json card = card_of(*company);
  EXPECT_EQ(card["charged"], "EUR:1100.00");
  EXPECT_EQ(card["refunded"], "EUR:900.00");
  EXPECT_EQ(card["available"], "EUR:800.00");
  EXPECT_EQ(card["charges"],
            (Json{{{"charge_id", "CH-000001"},
                   {"amount", "EUR:900.00"},
                   {"status", "refunded"},
                   {"refund_id", "RF-000001"}},
                  {{"charge_id", "CH-000002"}, {"amount", "EUR:200.00"}, {"status", "approved"}}}));
}

TEST_F(SandboxTest, RefundHappensOnceWhateverTheRetries) {
  auto company = card_company_with_card();
  ok(*company, "charge", charge_body("r1", "EUR:300.00"));
  const Json first = ok(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000001"}});
  EXPECT_EQ(ok(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000001"}}), first);
  EXPECT_EQ(error_of(*company, "refund", {{"request_id", "f2"}, {"charge_id", "CH-000001"}}),
            ErrorCode::conflict);
  EXPECT_EQ(card_of(*company)["refunded"], "EUR:300.00");
  EXPECT_EQ(card_of(*company)["available"], "EUR:1000.00");
}

TEST_F(SandboxTest, RefundRefusesBadInputWithSpecificCodes) {
  auto company = card_company_with_card();
  ok(*company, "charge", charge_body("r1", "EUR:300.00"));
  ok(*company, "charge", charge_body("r2", "EUR:100.00"));
  EXPECT_EQ(error_of(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000009"}}),
            ErrorCode::not_found);
  EXPECT_EQ(error_of(*company, "refund", {{"request_id", "f1"}}), ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "refund", {{"request_id", "f1"}, {"charge_id", 1}}),
            ErrorCode::malformed);
  EXPECT_EQ(error_of(*company, "refund", {{"charge_id", "CH-000001"}}), ErrorCode::malformed);
  ok(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000001"}});
  EXPECT_EQ(error_of(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000002"}}),
            ErrorCode::replayed);
  const Json card = card_of(*company);
  EXPECT_EQ(card["refunded"], "EUR:300.00");
  EXPECT_EQ(card["charges"][1]["status"], "approved");
}

TEST_F(SandboxTest, CardRouteChecksTheNumber) {
  auto company = card_company_with_card();
  EXPECT_EQ(error_of(*company, "card", {{"card_number", "4111111111111112"}}),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*company, "card", {{"card_number", kMastercard}}), ErrorCode::not_found);
  EXPECT_EQ(error_of(*company, "card", Json::object()), ErrorCode::malformed);
}

TEST_F(SandboxTest, CardCompanyRefusesUnknownRoute) {
  auto company = card_company_with_card();
  EXPECT_EQ(error_of(*company, "transfer_in", transfer_body("r1", "EUR:1.00")),
            ErrorCode::not_found);
  EXPECT_EQ(error_of(*company, "", Json::object()), ErrorCode::not_found);
}

TEST_F(SandboxTest, CardCompanyStateSurvivesReopen) {
  {
    auto company = card_company_with_card();
    ok(*company, "charge", charge_body("r1", "EUR:300.00"));
    ok(*company, "charge", charge_body("r2", "EUR:200.00"));
    ok(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000001"}});
  }
  auto company = open_card_company();
  Json card = card_of(*company);
  EXPECT_EQ(card["limit"], "EUR:1000.00");
  EXPECT_EQ(card["charged"], "EUR:500.00");
  EXPECT_EQ(card["refunded"], "EUR:300.00");
  EXPECT_EQ(card["available"], "EUR:800.00");
  // Retries after the restart still get the first answers and move nothing.
  EXPECT_EQ(ok(*company, "charge", charge_body("r2", "EUR:200.00"))["charge_id"], "CH-000002");
  EXPECT_EQ(ok(*company, "refund", {{"request_id", "f1"}, {"charge_id", "CH-000001"}})["refund_id"],
            "RF-000001");
  EXPECT_EQ(error_of(*company, "charge", charge_body("r2", "EUR:200.01")), ErrorCode::replayed);
  // IDs carry on from where they were.
  EXPECT_EQ(ok(*company, "charge", charge_body("r3", "EUR:1.00"))["charge_id"], "CH-000003");
  EXPECT_EQ(card_of(*company)["charged"], "EUR:501.00");
}

// ---- bank ----

TEST_F(SandboxTest, OpenAccountNormalisesTheIban) {
  auto bank = open_bank();
  EXPECT_EQ(
      ok(*bank, "open_account", {{"iban", "de89 3704 0044 0532 0130 00"}, {"holder", "Shop One"}}),
      (Json{{"iban", kIban}}));
  EXPECT_EQ(ok(*bank, "account", {{"iban", "DE89 3704 0044 0532 0130 00"}}),
            (Json{{"iban", kIban},
                  {"holder", "Shop One"},
                  {"balance", "EUR:0.00"},
                  {"transfers", Json::array()}}));
}

TEST_F(SandboxTest, OpenAccountIsIdempotentAndRefusesAnotherHolder) {
  auto bank = bank_with_account();
  EXPECT_EQ(
      ok(*bank, "open_account", {{"iban", kIban}, {"holder", "Shop One"}, {"currency", "EUR"}}),
      (Json{{"iban", kIban}}));
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", kIban}, {"holder", "Shop Two"}}),
            ErrorCode::conflict);
  EXPECT_EQ(error_of(*bank, "open_account",
                     {{"iban", kIban}, {"holder", "Shop One"}, {"currency", "GBP"}}),
            ErrorCode::conflict);
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}})["holder"], "Shop One");
}

TEST_F(SandboxTest, OpenAccountChecksItsInput) {
  auto bank = open_bank();
  EXPECT_EQ(
      error_of(*bank, "open_account", {{"iban", "DE89370400440532013001"}, {"holder", "Shop One"}}),
      ErrorCode::bad_account);
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", "DE89"}, {"holder", "Shop One"}}),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", kIban}, {"holder", ""}}),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", kIban}, {"holder", "Shop\nOne"}}),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", kIban}, {"holder", std::string(141, 'x')}}),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", kIban}}), ErrorCode::malformed);
  EXPECT_EQ(error_of(*bank, "open_account", {{"iban", 89}, {"holder", "Shop One"}}),
            ErrorCode::malformed);
  EXPECT_EQ(
      error_of(*bank, "open_account", {{"iban", kIban}, {"holder", "Shop One"}, {"currency", 978}}),
      ErrorCode::malformed);
  EXPECT_EQ(error_of(*bank, "open_account",
                     {{"iban", kIban}, {"holder", "Shop One"}, {"currency", "XYZ"}}),
            ErrorCode::unknown_currency);
  EXPECT_EQ(error_of(*bank, "account", {{"iban", kIban}}), ErrorCode::not_found);
}

TEST_F(SandboxTest, TransferInCreditsTheAccount) {
  auto bank = bank_with_account();
  EXPECT_EQ(ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50", "payout P-1")),
            (Json{{"transfer_id", "TR-000001"}, {"status", "credited"}}));
  EXPECT_EQ(ok(*bank, "transfer_in",
               transfer_body("t2", "EUR:0.05", "payout P-2", "de89 3704 0044 0532 0130 00")),
            (Json{{"transfer_id", "TR-000002"}, {"status", "credited"}}));
  EXPECT_EQ(
      ok(*bank, "account", {{"iban", kIban}}),
      (Json{{"iban", kIban},
            {"holder", "Shop One"},
            {"balance", "EUR:12.55"},
            {"transfers",
             {{{"transfer_id", "TR-000001"}, {"amount", "EUR:12.50"}, {"reference", "payout P-1"}},
              {{"transfer_id", "TR-000002"},
               {"amount", "EUR:0.05"},
               {"reference", "payout P-2"}}}}}));
}

TEST_F(SandboxTest, TransferInRetryGetsTheSameAnswerAndCreditsOnce) {
  auto bank = bank_with_account();
  const Json first = ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50"));
  EXPECT_EQ(ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50")), first);
  EXPECT_EQ(ok(*bank, "transfer_in",
               transfer_body("t1", "EUR:12.5", "payout P-1", "de89 3704 0044 0532 0130 00")),
            first);
  const Json account = ok(*bank, "account", {{"iban", kIban}});
  EXPECT_EQ(account["balance"], "EUR:12.50");
  EXPECT_EQ(account["transfers"].size(), 1u);
}

TEST_F(SandboxTest, TransferInReusingRequestIdIsReplayed) {
  auto bank = bank_with_account();
  ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50", "payout P-1"));
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:12.51", "payout P-1")),
            ErrorCode::replayed);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:12.50", "payout P-2")),
            ErrorCode::replayed);
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}})["balance"], "EUR:12.50");
}

TEST_F(SandboxTest, TransferInRefusesBadInputWithSpecificCodes) {
  auto bank = bank_with_account();
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:1.00", "x", kOtherIban)),
            ErrorCode::declined);
  EXPECT_EQ(error_of(*bank, "transfer_in",
                     transfer_body("t1", "EUR:1.00", "x", "DE88370400440532013000")),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:0.00")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:-1.00")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "GBP:1.00")),
            ErrorCode::currency_mismatch);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR1.00")), ErrorCode::bad_amount);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:1.00", std::string(141, 'x'))),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:1.00", "bad \xff utf-8")),
            ErrorCode::invalid_argument);
  EXPECT_EQ(error_of(*bank, "transfer_in",
                     {{"request_id", "t1"}, {"iban", kIban}, {"amount", "EUR:1.00"}}),
            ErrorCode::malformed);
  EXPECT_EQ(error_of(*bank, "transfer_in",
                     {{"request_id", "t1"}, {"iban", kIban}, {"amount", 100}, {"reference", "x"}}),
            ErrorCode::malformed);
  EXPECT_EQ(
      error_of(*bank, "transfer_in", {{"iban", kIban}, {"amount", "EUR:1.00"}, {"reference", "x"}}),
      ErrorCode::malformed);
  EXPECT_EQ(error_of(*bank, "transfer_in", Json::array()), ErrorCode::malformed);
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}})["balance"], "EUR:0.00");
}

TEST_F(SandboxTest, TransferInRefusesToOverflowTheBalance) {
  auto bank = bank_with_account();
  ok(*bank, "transfer_in", transfer_body("t1", "EUR:9999999999999999.99"));
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t2", "EUR:0.01")), ErrorCode::overflow);
  const Json account = ok(*bank, "account", {{"iban", kIban}});
  EXPECT_EQ(account["balance"], "EUR:9999999999999999.99");
  EXPECT_EQ(account["transfers"].size(), 1u);
}

TEST_F(SandboxTest, AccountRouteChecksTheIban) {
  auto bank = bank_with_account();
  EXPECT_EQ(error_of(*bank, "account", {{"iban", "DE89370400440532013001"}}),
            ErrorCode::bad_account);
  EXPECT_EQ(error_of(*bank, "account", {{"iban", kOtherIban}}), ErrorCode::not_found);
  EXPECT_EQ(error_of(*bank, "account", {{"iban", Json::array()}}), ErrorCode::malformed);
}

TEST_F(SandboxTest, BankRefusesUnknownRoute) {
  auto bank = bank_with_account();
  EXPECT_EQ(error_of(*bank, "charge", charge_body("r1", "EUR:1.00")), ErrorCode::not_found);
  EXPECT_EQ(error_of(*bank, "transfer_out", transfer_body("t1", "EUR:1.00")), ErrorCode::not_found);
}

TEST_F(SandboxTest, BankStateSurvivesReopen) {
  {
    auto bank = bank_with_account();
    ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50", "payout P-1"));
  }
  auto bank = open_bank();
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}}), (Json{{"iban", kIban},
                                                           {"holder", "Shop One"},
                                                           {"balance", "EUR:12.50"},
                                                           {"transfers",
                                                            {{{"transfer_id", "TR-000001"},
                                                              {"amount", "EUR:12.50"},
                                                              {"reference", "payout P-1"}}}}}));
  EXPECT_EQ(ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50", "payout P-1"))["transfer_id"],
            "TR-000001");
  EXPECT_EQ(error_of(*bank, "transfer_in", transfer_body("t1", "EUR:13.00", "payout P-1")),
            ErrorCode::replayed);
  EXPECT_EQ(ok(*bank, "transfer_in", transfer_body("t2", "EUR:1.00", "payout P-2"))["transfer_id"],
            "TR-000002");
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}})["balance"], "EUR:13.50");
}

TEST_F(SandboxTest, InstitutionsKeepSeparateFiles) {
  auto company = card_company_with_card();
  auto bank = bank_with_account();
  EXPECT_TRUE(fs::exists(m_dir / "card_company.db"));
  EXPECT_TRUE(fs::exists(m_dir / "bank.db"));
  // Losing one institution's file loses nothing of the other's.
  bank.reset();
  fs::remove(m_dir / "bank.db");
  EXPECT_EQ(card_of(*company)["limit"], "EUR:1000.00");
}

// ---- at rest (issue 12, finding 5) ----

// Whether the store file or its write-ahead log holds needle, byte for byte.
bool store_holds(const fs::path& db, const std::string& needle) {
  for (const auto* suffix : {"", "-wal"}) {
    std::ifstream in(db.string() + suffix, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_F(SandboxTest, CardNumbersIbansAndHoldersAreSealedAtRest) {
  auto company = card_company_with_card();
  ok(*company, "charge", charge_body("c1", "EUR:40.00"));
  auto bank = bank_with_account();
  ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50"));
  EXPECT_EQ(card_of(*company)["available"], "EUR:960.00");
  EXPECT_EQ(company->cards().value()[0]["card"], "****1111");
  EXPECT_EQ(bank->accounts().value()[0]["holder"], "Shop One");
  EXPECT_EQ(bank->accounts().value()[0]["iban"], "****3000");
  EXPECT_FALSE(store_holds(m_dir / "card_company.db", kVisa));
  EXPECT_FALSE(store_holds(m_dir / "bank.db", kIban));
  EXPECT_FALSE(store_holds(m_dir / "bank.db", "Shop One"));
  // The data key is kept apart, beside each store; without it the store is not opened (a new
  // key would seal new rows that the old ones do not open with).
  EXPECT_TRUE(fs::exists(m_dir / "card_company.db.key"));
  company.reset();
  fs::remove(m_dir / "card_company.db.key");
  EXPECT_EQ(CardCompany::open((m_dir / "card_company.db").string(), m_clock).error().code,
            ErrorCode::not_found);
}

// Stores an older version wrote (schema version 2, numbers and holders in clear) are sealed at
// the first open, and their files keep no clear byte; everything in them still works.
TEST_F(SandboxTest, AnOlderStoreIsSealedAtOpenAndKeepsWorking) {
  const std::string request_log(store::kRequestLogSql);
  const std::string cards_v1 =
      "CREATE TABLE cards (card_number TEXT PRIMARY KEY, currency TEXT NOT NULL, "
      "  limit_minor INTEGER NOT NULL CHECK (limit_minor > 0), created INTEGER NOT NULL);"
      "CREATE TABLE charges (seq INTEGER PRIMARY KEY, charge_id TEXT NOT NULL UNIQUE, "
      "  card_number TEXT NOT NULL REFERENCES cards (card_number), "
      "  minor INTEGER NOT NULL CHECK (minor > 0), created INTEGER NOT NULL);"
      "CREATE INDEX charges_by_card ON charges (card_number, seq);"
      "CREATE TABLE refunds (seq INTEGER PRIMARY KEY, refund_id TEXT NOT NULL UNIQUE, "
      "  charge_id TEXT NOT NULL UNIQUE REFERENCES charges (charge_id), created INTEGER NOT NULL);" +
      request_log;
  const std::string accounts_v1 =
      "CREATE TABLE accounts (iban TEXT PRIMARY KEY, holder TEXT NOT NULL, currency TEXT NOT NULL, "
      "  balance_minor INTEGER NOT NULL, created INTEGER NOT NULL);"
      "CREATE TABLE transfers (seq INTEGER PRIMARY KEY, transfer_id TEXT NOT NULL UNIQUE, "
      "  iban TEXT NOT NULL REFERENCES accounts (iban), minor INTEGER NOT NULL CHECK (minor > 0), "
      "  reference TEXT NOT NULL, created INTEGER NOT NULL);"
      "CREATE INDEX transfers_by_account ON transfers (iban, seq);" + request_log;
  const std::vector<store::Migration> old_cards = {
      {1, cards_v1},
      {2, "ALTER TABLE charges ADD COLUMN request_id TEXT;"
          "ALTER TABLE refunds ADD COLUMN request_id TEXT;"
          "INSERT INTO cards VALUES ('4111111111111111', 'EUR', 100000, 1);"
          "INSERT INTO charges VALUES (1, 'CH-000001', '4111111111111111', 4000, 2, 'c1');"}};
  const std::vector<store::Migration> old_accounts = {
      {1, accounts_v1},
      {2, "ALTER TABLE transfers ADD COLUMN request_id TEXT;"
          "INSERT INTO accounts VALUES ('DE89370400440532013000', 'Shop One', 'EUR', 1250, 1);"
          "INSERT INTO transfers VALUES (1, 'TR-000001', 'DE89370400440532013000', 1250, "
          "  'payout P-1', 2, 't1');"}};
  // Each with the answer it gave, under the digest it made then: over the number itself.
  const auto charge_digest = request_digest({kVisa, "EUR:40.00"});
  const auto transfer_digest = request_digest({kIban, "EUR:12.50", "payout P-1"});
  for (const auto& [file, migrations, id, route, digest, answer] :
       {std::tuple{"card_company.db", &old_cards, "c1", "charge", charge_digest,
                   R"({"amount":"EUR:40.00","charge_id":"CH-000001","status":"approved"})"},
        std::tuple{"bank.db", &old_accounts, "t1", "transfer_in", transfer_digest,
                   R"({"status":"credited","transfer_id":"TR-000001"})"}}) {
    auto old = store::open_sqlite((m_dir / file).string(), *migrations);
    ASSERT_TRUE(old.has_value());
    ASSERT_TRUE((*old)->transact([&](store::Transaction& tx) {
      return store::remember_answer(tx, id, route, digest, answer, 3);
    }));
  }
  ASSERT_TRUE(store_holds(m_dir / "card_company.db", kVisa));
  ASSERT_TRUE(store_holds(m_dir / "bank.db", "Shop One"));

  auto company = open_card_company();
  auto bank = open_bank();
  EXPECT_FALSE(store_holds(m_dir / "card_company.db", kVisa));
  EXPECT_FALSE(store_holds(m_dir / "bank.db", kIban));
  EXPECT_FALSE(store_holds(m_dir / "bank.db", "Shop One"));
  EXPECT_FALSE(store_holds(m_dir / "card_company.db", std::string(charge_digest.begin(), charge_digest.end())));
  EXPECT_FALSE(store_holds(m_dir / "bank.db", std::string(transfer_digest.begin(), transfer_digest.end())));
  EXPECT_EQ(card_of(*company)["available"], "EUR:960.00");
  EXPECT_EQ(card_of(*company)["charges"][0]["charge_id"], "CH-000001");
  // A retry of a request answered before the upgrade still gets its answer, not replayed.
  EXPECT_EQ(ok(*company, "charge", charge_body("c1", "EUR:40.00"))["charge_id"], "CH-000001");
  EXPECT_EQ(ok(*bank, "transfer_in", transfer_body("t1", "EUR:12.50"))["transfer_id"], "TR-000001");
  // A card an older version opened has the sandbox's default expiry and CVC, and is charged anew
  // once its holder confirms it (a retry above was answered from the log, as before).
  EXPECT_EQ(error_of(*company, "charge", charge_body("c2", "EUR:10.00")), ErrorCode::card_not_confirmed);
  confirm(*company);
  EXPECT_EQ(ok(*company, "charge", charge_body("c2", "EUR:10.00"))["charge_id"], "CH-000002");
  EXPECT_EQ(ok(*company, "refund", {{"request_id", "r1"}, {"charge_id", "CH-000001"}})["amount"],
            "EUR:40.00");
  EXPECT_EQ(company->cards().value()[0]["card"], "****1111");
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}})["holder"], "Shop One");
  EXPECT_EQ(ok(*bank, "transfer_in", transfer_body("t2", "EUR:1.00"))["transfer_id"], "TR-000002");
  EXPECT_EQ(ok(*bank, "account", {{"iban", kIban}})["balance"], "EUR:13.50");
  EXPECT_EQ(ok(*bank, "statement", Json::object())["entries"].size(), 2u);
  // Opening again finds nothing left to seal.
  company.reset();
  EXPECT_EQ(card_of(*open_card_company())["available"], "EUR:990.00");
}

}  // namespace
}  // namespace ecash::sandbox
