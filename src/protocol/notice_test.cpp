#include "protocol/notice.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ecash::protocol {
namespace {

Amount eur(const char* text) {
  return Amount::parse(text).value();
}

TEST(BalanceNotice, SealedToTheWalletAndReadBack) {
  const auto keys = crypto::PartyKeys::generate();
  auto notice = BalanceNotice::of(eur("EUR:12.00"));
  notice.adjusted = eur("EUR:5.00");
  notice.changes.push_back({"returned", eur("EUR:5.00"), "TRANSFER1", 1'800'000'000});
  notice.accepted = {"A"};
  notice.returned = {"B", "C"};
  notice.refused = {{"D", ErrorCode::replayed, "another device claimed this transfer"}};
  const auto sealed = notice.seal(keys.sealing.public_key());
  auto back = BalanceNotice::open(keys.sealing, sealed);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->to_json(), notice.to_json());
  EXPECT_EQ(back->to_json()["v"], 1);
  ASSERT_EQ(back->refused.size(), 1u);
  EXPECT_EQ(back->refused[0].code, ErrorCode::replayed);
  // Only the wallet opens it.
  const auto other = crypto::PartyKeys::generate();
  EXPECT_EQ(BalanceNotice::open(other.sealing, sealed).error().code, ErrorCode::unseal_failed);
}

// Receipts made before the notice had a version still read.
TEST(BalanceNotice, ReadsTheUnversionedForms) {
  const auto keys = crypto::PartyKeys::generate();
  const std::string bare = "EUR:7.50";
  auto deposit =
      BalanceNotice::open(keys.sealing, crypto::seal(keys.sealing.public_key(), as_bytes(bare)));
  ASSERT_TRUE(deposit.has_value()) << deposit.error().to_string();
  EXPECT_EQ(deposit->balance, eur("EUR:7.50"));
  EXPECT_TRUE(deposit->adjusted.is_zero());
  const std::string payment = R"({"adjusted":"EUR:1.00","balance":"EUR:3.00"})";
  auto paid =
      BalanceNotice::open(keys.sealing, crypto::seal(keys.sealing.public_key(), as_bytes(payment)));
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ(paid->adjusted, eur("EUR:1.00"));
  const std::string sync =
      R"({"accepted":["X"],"balance":"EUR:3.00","refused":[{"code":"stale","transfer_id":"Y","why":"expired"}],"returned":[]})";
  auto synced =
      BalanceNotice::open(keys.sealing, crypto::seal(keys.sealing.public_key(), as_bytes(sync)));
  ASSERT_TRUE(synced.has_value()) << synced.error().to_string();
  EXPECT_EQ(synced->accepted, std::vector<std::string>{"X"});
  ASSERT_EQ(synced->refused.size(), 1u);
  EXPECT_EQ(synced->refused[0].code, ErrorCode::stale);
}

TEST(BalanceNotice, RefusesWhatItCannotRead) {
  EXPECT_EQ(BalanceNotice::from_json(Json{{"v", 2}, {"balance", "EUR:1.00"}}).error().code,
            ErrorCode::malformed);
  EXPECT_EQ(BalanceNotice::from_json(Json{{"v", 1}}).error().code, ErrorCode::malformed);
  EXPECT_EQ(
      BalanceNotice::from_json(Json{{"v", 1}, {"balance", "EUR:1.00"}, {"adjusted", "USD:1.00"}})
          .error()
          .code,
      ErrorCode::currency_mismatch);
  EXPECT_EQ(BalanceNotice::from_json(Json{{"v", 1}, {"balance", "EUR:1.00"}, {"accepted", "X"}})
                .error()
                .code,
            ErrorCode::malformed);
  EXPECT_EQ(BalanceNotice::from_json(Json("twelve")).error().code, ErrorCode::malformed);
}

}  // namespace
}  // namespace ecash::protocol
