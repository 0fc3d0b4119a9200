#include "protocol/statements.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <tuple>

#include "crypto/random.hpp"

namespace ecash::protocol {
namespace {

crypto::SecureRandom g_random;
Id128 fresh_id() { return Id128::random(g_random); }
Amount eur(const char* text) { return Amount::parse(text).value(); }
crypto::Digest some_digest(std::uint8_t seed) {
  crypto::Digest d{};
  d.fill(seed);
  return d;
}

// One filled-in example of each statement.
auto examples() {
  const auto keys = crypto::PartyKeys::generate();
  return std::make_tuple(
      EnrolRequest{fresh_id(), 1'800'000'000, "wallet", "Alice Example", "1 Main St",
                   keys.signing.verify_key(), keys.sealing.public_key(), some_digest(1)},
      DepositOrder{fresh_id(), 1'800'000'000, Bytes{9, 8}, eur("EUR:50.00"), Bytes{1, 2, 3}},
      DepositCenterCredit{fresh_id(), some_digest(13), some_digest(14), fresh_id()},
      DepositCharged{fresh_id(), eur("EUR:50.00"), "ch_123", some_digest(2)},
      DepositReceipt{fresh_id(), fresh_id(), eur("EUR:50.00"), Bytes{4, 5}, some_digest(3)},
      ShopRegistration{fresh_id(), 1'800'000'000, Bytes{9, 9}},
      ShopAccountVerified{fresh_id(), "4a01", some_digest(4)},
      ShopRegistered{fresh_id(), fresh_id(), "4a01", some_digest(5)},
      PaymentRequest{fresh_id(), eur("EUR:12.50"), "one coffee", 1'800'000'600},
      PaymentOrder{fresh_id(), 1'800'000'000, fresh_id(), "shop-1", eur("EUR:12.50"), Bytes{1},
                   Bytes{2}, Bytes{3}},
      PaymentShop{fresh_id(), some_digest(6), Bytes{7}},
      PaymentCenter{fresh_id(), some_digest(7), some_digest(8), fresh_id(), fresh_id(),
                    eur("EUR:12.50")},
      PaymentReceiptBank{fresh_id(), eur("EUR:12.50"), Bytes{8}, some_digest(9)},
      PayoutRequest{fresh_id(), 1'800'000'000},
      PayoutCenter{fresh_id(), some_digest(10), fresh_id()},
      PayoutAmount{fresh_id(), fresh_id(), eur("EUR:12.50")},
      PayoutResult{fresh_id(), eur("EUR:12.50"), true, "tr_9"},
      DepositReceiptCenter{fresh_id(), {some_digest(11), some_digest(12)}},
      TransferRequest{fresh_id(), eur("EUR:5.00"), 1'800'000'000},
      Transfer{fresh_id(), fresh_id(), "4a01", 7, eur("EUR:5.00"), 1'800'000'000, 1'800'086'400,
               Bytes{5, 5}},
      TransferAck{fresh_id(), "4a01", eur("EUR:5.00")},
      SyncOrder{fresh_id(), 1'800'000'000, Bytes{1}, Bytes{2}},
      SyncCenter{fresh_id(), some_digest(15), fresh_id()},
      SyncReceipt{fresh_id(), Bytes{3}, some_digest(16)},
      RefundRequest{fresh_id(), 1'800'000'000, fresh_id(), fresh_id(), eur("EUR:2.50")},
      RefundCenter{fresh_id(), some_digest(19), fresh_id()},
      RefundReceipt{fresh_id(), fresh_id(), eur("EUR:2.50"), eur("EUR:12.50"), some_digest(20)},
      FraudCase{fresh_id(), fresh_id(), "counter_reuse", some_digest(17), 1'800'000'000},
      DisclosureRequest{fresh_id(), 1'800'000'000, fresh_id(), fresh_id(), "case 1", some_digest(18)},
      DisclosureLogEntry{3, 1'800'000'000, fresh_id(), fresh_id(), fresh_id(), "case 1",
                         "disclosed", some_digest(19)});
}

// Changes one JSON value in a way that keeps it well-formed where possible.
Json mutate(const Json& value) {
  if (value.is_string()) {
    auto s = value.get<std::string>();
    if (s.empty()) return "A";
    // Swap the first character for another of the same alphabet class, so IDs, amounts and
    // base64 stay parseable and only the signature can catch it.
    char& c = s[0];
    c = (c == 'A') ? 'B' : (c >= '0' && c <= '6') ? static_cast<char>(c + 1) : 'A';
    return s;
  }
  if (value.is_number_integer()) return value.get<std::int64_t>() + 1;
  if (value.is_boolean()) return !value.get<bool>();
  if (value.is_array()) {
    Json copy = value;
    if (!copy.empty()) copy[0] = mutate(copy[0]);
    return copy;
  }
  return "changed";
}

template <class T>
void check_statement(const T& body) {
  SCOPED_TRACE(T::kName);
  const auto key = crypto::SigningKey::generate();
  const auto signed_statement = sign(key, body);
  const Json json = signed_statement.to_json();

  // JSON round trip keeps the exact signed encoding.
  auto back = Signed<T>::from_json(Json::parse(json.dump()));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  const auto a = back->body.encode();  // writers own the bytes their data() views
  const auto b = body.encode();
  EXPECT_TRUE(std::equal(a.data().begin(), a.data().end(), b.data().begin(), b.data().end()));
  EXPECT_TRUE(back->verify(key.verify_key()).has_value());
  EXPECT_EQ(back->digest(), signed_statement.digest());

  // Another key, or any field changed in transit: refused, with a specific code.
  EXPECT_EQ(back->verify(crypto::SigningKey::generate().verify_key()).error().code,
            ErrorCode::bad_signature);
  for (const auto& [name, value] : json.items()) {
    Json tampered = json;
    tampered[name] = mutate(value);
    auto parsed = Signed<T>::from_json(tampered);
    if (!parsed) {
      EXPECT_NE(parsed.error().code, ErrorCode::internal) << name;
      continue;
    }
    EXPECT_EQ(parsed->verify(key.verify_key()).error().code, ErrorCode::bad_signature)
        << "field " << name << " changed and still verified";
  }
  // A field missing: malformed.
  for (const auto& [name, value] : json.items()) {
    Json missing = json;
    missing.erase(name);
    auto parsed = Signed<T>::from_json(missing);
    if (name == "account_commitment") continue;  // optional field
    ASSERT_FALSE(parsed.has_value()) << name;
    EXPECT_EQ(parsed.error().code, ErrorCode::malformed) << name;
  }
}

TEST(Statements, EveryStatementRoundTripsAndEveryFieldIsSigned) {
  std::apply([](const auto&... statement) { (check_statement(statement), ...); }, examples());
}

TEST(Statements, WrongTypesAreMalformed) {
  const Json not_object = Json::array();
  EXPECT_EQ(DepositOrder::from_json(not_object).error().code, ErrorCode::malformed);
  Json j = DepositOrder{fresh_id(), 1, {}, eur("EUR:1.00"), {}}.to_json();
  j["timestamp"] = "yesterday";
  EXPECT_EQ(DepositOrder::from_json(j).error().code, ErrorCode::malformed);
  j = DepositOrder{fresh_id(), 1, {}, eur("EUR:1.00"), {}}.to_json();
  j["amount"] = "EUR:1.005";
  EXPECT_EQ(DepositOrder::from_json(j).error().code, ErrorCode::amount_precision);
  j["amount"] = "XYZ:1";
  EXPECT_EQ(DepositOrder::from_json(j).error().code, ErrorCode::unknown_currency);
  j["amount"] = 12.5;
  EXPECT_EQ(DepositOrder::from_json(j).error().code, ErrorCode::malformed);
}

TEST(Statements, EndorsementChecksWhatItEndorses) {
  const auto key = crypto::SigningKey::generate();
  const auto request = fresh_id();
  const auto e = endorse<Purpose::payment_receipt_center>(key, request, {some_digest(1)});
  EXPECT_TRUE(check_endorsement(e, key.verify_key(), request, {some_digest(1)}).has_value());
  EXPECT_EQ(check_endorsement(e, key.verify_key(), request, {some_digest(2)}).error().code,
            ErrorCode::bad_signature);
  EXPECT_EQ(check_endorsement(e, key.verify_key(), fresh_id(), {some_digest(1)}).error().code,
            ErrorCode::bad_signature);
  // The same endorsement under another purpose does not verify.
  const Signed<Endorsement<Purpose::payment_receipt_shop>> moved{{request, {some_digest(1)}},
                                                                 e.signature};
  EXPECT_EQ(moved.verify(key.verify_key()).error().code, ErrorCode::bad_signature);
}

TEST(Statements, FreshnessWindow) {
  EXPECT_TRUE(check_fresh(1000, 1000 + kMaxClockSkew).has_value());
  // Far-off timestamps are stale, never an overflow that passes (found in review).
  const auto now = 1'800'000'000;
  EXPECT_EQ(check_fresh(std::numeric_limits<std::int64_t>::min(), now).error().code, ErrorCode::stale);
  EXPECT_EQ(check_fresh(std::numeric_limits<std::int64_t>::min() + now, now).error().code,
            ErrorCode::stale);
  EXPECT_EQ(check_fresh(std::numeric_limits<std::int64_t>::max(), now).error().code, ErrorCode::stale);
  EXPECT_EQ(check_fresh(1000, 1001 + kMaxClockSkew).error().code, ErrorCode::stale);
  EXPECT_EQ(check_fresh(2000 + kMaxClockSkew, 1999).error().code, ErrorCode::stale);
}

}  // namespace
}  // namespace ecash::protocol
