// Golden values: every statement kind, filled with fixed values and signed with a fixed key, gives
// exactly these canonical bytes, this signature and this JSON. Written against the code before
// statements were described once (issue 9), so the wire format and every stored signature are
// known to have survived that change. A change to a statement's fields must add a purpose code
// (or a version) beside the old one; it must never change a line here.
#include "protocol/statements.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/encoding.hpp"

namespace ecash::protocol {
namespace {

Id128 id(std::uint8_t fill) {
  std::array<std::uint8_t, Id128::kSize> bytes{};
  bytes.fill(fill);
  bytes[0] = 0x10;
  return Id128(bytes);
}
crypto::Digest digest(std::uint8_t fill) {
  crypto::Digest d{};
  d.fill(fill);
  return d;
}
Amount eur(const char* text) { return Amount::parse(text).value(); }

crypto::PartyKeys fixed_keys() {
  Bytes seed(32);
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i + 1);
  auto signing = crypto::SigningKey::from_seed(seed).value();
  for (auto& b : seed) b = static_cast<std::uint8_t>(b ^ 0x5a);
  auto sealing = crypto::SealingKey::from_secret(seed).value();
  return crypto::PartyKeys{std::move(signing), std::move(sealing)};
}

struct Golden {
  std::string name;
  std::string canonical;  // hex of the signed bytes
  std::string signature;  // hex
  std::string json;       // the Signed<T> JSON text
};

// What the code makes of value now, and a check that its JSON reads back to the same bytes.
template <class T>
Golden make(const T& value) {
  static const auto keys = fixed_keys();
  const auto signed_value = sign(keys.signing, value);
  const auto json = signed_value.to_json();
  auto back = Signed<T>::from_json(json);
  EXPECT_TRUE(back.has_value()) << T::kName << ": " << (back ? "" : back.error().to_string());
  if (back) {
    EXPECT_EQ(crypto::hex_encode(back->body.encode().data()),
              crypto::hex_encode(value.encode().data()))
        << T::kName << " does not read back to the same statement";
    EXPECT_TRUE(back->verify(keys.signing.verify_key())) << T::kName;
  }
  return Golden{std::string(crypto::to_string(T::kPurpose)),
                crypto::hex_encode(value.encode().data()),
                crypto::hex_encode(signed_value.signature.bytes()), json.dump()};
}

std::vector<Golden> actual() {
  const auto keys = fixed_keys();
  const auto t = UnixSeconds{1'800'000'000};
  return {
      make(EnrolRequest{id(1), t, "wallet", "Alice Example", "1 Main St",
                        keys.signing.verify_key(), keys.sealing.public_key(), digest(1)}),
      make(EnrolRequest{id(2), t, "shop", "Corner Cafe", "2 Side St", keys.signing.verify_key(),
                        keys.sealing.public_key(), std::nullopt}),
      make(DepositOrder{id(3), t, Bytes{9, 8}, eur("EUR:50.00"), Bytes{1, 2, 3}}),
      make(DepositCenterCharge{id(4), {digest(2), digest(3)}}),
      make(DepositCharged{id(5), eur("EUR:50.00"), "ch_123", digest(4)}),
      make(DepositCenterCredit{id(6), digest(5), digest(6), id(7)}),
      make(DepositReceipt{id(8), id(9), eur("EUR:50.00"), Bytes{4, 5}, digest(7)}),
      make(DepositReceiptCenter{id(10), {digest(8)}}),
      make(ShopRegistration{id(11), t, Bytes{9, 9}}),
      make(ShopRegistrationCenter{id(12), {digest(9)}}),
      make(ShopAccountVerified{id(13), "4a01", digest(10)}),
      make(ShopRegistrationBank{id(14), {digest(11), digest(12)}}),
      make(ShopRegistered{id(15), id(16), "4a01", digest(13)}),
      make(ShopRegisteredCenter{id(17), {digest(14)}}),
      make(PaymentRequest{id(18), eur("EUR:12.50"), "one coffee", t + 600}),
      make(PaymentOrder{id(19), t, id(20), "shop-1", eur("EUR:12.50"), Bytes{1}, Bytes{2},
                        Bytes{3}}),
      make(PaymentShop{id(21), digest(15), Bytes{7}}),
      make(PaymentCenter{id(22), digest(16), digest(17), id(23), id(24), eur("EUR:12.50")}),
      make(PaymentReceiptBank{id(25), eur("EUR:12.50"), Bytes{8}, digest(18)}),
      make(PaymentReceiptCenter{id(26), {digest(19)}}),
      make(PaymentReceiptShop{id(27), {digest(20), digest(21)}}),
      make(PayoutRequest{id(28), t}),
      make(PayoutCenter{id(29), digest(22), id(30)}),
      make(PayoutAmount{id(31), id(32), eur("EUR:12.50")}),
      make(PayoutClearing{id(33), {digest(23), digest(24)}}),
      make(PayoutResult{id(34), eur("EUR:12.50"), true, "tr_9"}),
      make(PayoutResult{id(35), eur("EUR:0.01"), false, ""}),
      make(PayoutReceipt{id(36), {digest(25)}}),
      make(TransferRequest{id(37), eur("EUR:5.00"), t}),
      make(LegacyTransfer{id(38), id(39), "4a01", 7, eur("EUR:5.00"), t, t + 86'400, Bytes{5, 5}}),
      make(TransferAck{id(40), "4a01", eur("EUR:5.00")}),
      make(SyncOrder{id(41), t, Bytes{1}, Bytes{2}}),
      make(SyncCenter{id(42), digest(26), id(43)}),
      make(SyncReceipt{id(44), Bytes{3}, digest(27)}),
      make(SyncReceiptCenter{id(45), {digest(28)}}),
      make(FraudCase{id(46), id(47), "counter_reuse", digest(29), t}),
      make(DisclosureRequest{id(48), t, id(49), id(50), "case 1", digest(30)}),
      make(DisclosureLogEntry{3, t, id(51), id(52), id(53), "case 1", "disclosed", digest(31)}),
      // Offline value the bank backs (issue 12): added after, so no line above changes.
      make(OfflineAllowance{id(54), keys.signing.verify_key(), eur("EUR:200.00"), t,
                            t + 7 * 86'400}),
      make(Transfer{id(55), id(56), "4a01", 8, eur("EUR:5.00"), t, t + 86'400, Bytes{5, 5},
                    digest(32), eur("EUR:12.50")}),
      // Refunds (issue 14): added after, so no line above changes.
      make(RefundRequest{id(57), t, id(58), id(59), eur("EUR:2.50")}),
      make(RefundCenter{id(60), digest(33), id(61)}),
      make(RefundReceipt{id(62), id(63), eur("EUR:2.50"), eur("EUR:12.50"), digest(34)}),
      make(RefundReceiptCenter{id(64), {digest(35)}}),
  };
}

// clang-format off
const std::vector<Golden> kExpected = {
#include "statements_golden.inc"
};
// clang-format on

// ECASH_WRITE_GOLDEN=FILE writes what the code makes now in the form of statements_golden.inc, to
// add the lines of a new statement kind; the test still compares against the file compiled in.
void write_golden(const std::vector<Golden>& got, const char* path) {
  std::ofstream out(path);
  for (const auto& g : got) {
    out << "{\"" << g.name << "\",\n \"" << g.canonical << "\",\n \"" << g.signature
        << "\",\n R\"golden(" << g.json << ")golden\"},\n";
  }
}

TEST(StatementsGolden, EveryStatementKeepsItsBytesSignatureAndJson) {
  const auto got = actual();
  if (const char* path = std::getenv("ECASH_WRITE_GOLDEN")) write_golden(got, path);
  ASSERT_EQ(got.size(), kExpected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(kExpected[i].name + " (#" + std::to_string(i) + ")");
    EXPECT_EQ(got[i].name, kExpected[i].name);
    EXPECT_EQ(got[i].canonical, kExpected[i].canonical);
    EXPECT_EQ(got[i].signature, kExpected[i].signature);
    EXPECT_EQ(got[i].json, kExpected[i].json);
  }
}

// The stored signatures verify as they are: a statement read from its golden JSON verifies under
// the fixed key, and a changed signature does not.
TEST(StatementsGolden, GoldenJsonStillVerifies) {
  const auto key = fixed_keys().signing.verify_key();
  auto order = Signed<PaymentOrder>::from_json(Json::parse(kExpected[15].json));
  ASSERT_TRUE(order.has_value()) << order.error().to_string();
  EXPECT_TRUE(order->verify(key));
  auto changed = *order;
  changed.body.amount = eur("EUR:12.51");
  EXPECT_EQ(changed.verify(key).error().code, ErrorCode::bad_signature);
}

}  // namespace
}  // namespace ecash::protocol
