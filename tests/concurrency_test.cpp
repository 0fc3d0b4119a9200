// Parties work in parallel: payments of different users run at the same time through the shop,
// the center and the bank, conflicts are settled by the stores' transactions, and a request ID
// moves money once however many copies of it arrive at once.
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "crypto/keys.hpp"
#include "protocol/statements.hpp"
#include "system_fixture.hpp"

namespace ecash::testing {
namespace {

class ConcurrencyTest : public SystemTest {};

TEST_F(ConcurrencyTest, ManyWalletsPayOneShopAtOnce) {
  auto shop = make_shop("Corner Cafe");
  ASSERT_TRUE(shop.shop->register_shop(*shop.center).has_value());
  constexpr int kWallets = 8, kEach = 5;
  const char* cards[kWallets] = {"4111111111111111", "5555555555554444", "378282246310005",
                                 "4012888888881881", "5105105105105100", "6011111111111117",
                                 "3530111333300000", "4222222222222"};
  std::vector<Device> wallets;
  for (int i = 0; i < kWallets; ++i) {
    wallets.push_back(make_wallet("W" + std::to_string(i), cards[i]));
    ASSERT_TRUE(wallets.back().wallet->deposit(*wallets.back().center, eur("EUR:20.00")));
  }
  std::vector<std::vector<protocol::Json>> orders(kWallets);
  for (auto& list : orders) {
    for (int k = 0; k < kEach; ++k) list.push_back(shop.shop->create_order(eur("EUR:1.00"), "tea").value());
  }
  std::atomic<int> paid{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWallets; ++i) {
    threads.emplace_back([&, i] {
      auto to_shop = wallet_to_shop(wallets[i], shop);
      for (const auto& order : orders[i]) {
        auto done = wallets[i].wallet->pay(*to_shop, order, nullptr);
        EXPECT_TRUE(done.has_value()) << done.error().to_string();
        if (done) ++paid;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(paid.load(), kWallets * kEach);
  for (auto& w : wallets) EXPECT_EQ(w.wallet->balance().value(), eur("EUR:15.00"));
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:40.00"));
  EXPECT_EQ(totals().balances, eur("EUR:120.00"));
  expect_circulation_balances();
  const auto audit = m_op->audit().value();
  EXPECT_TRUE(audit["ok"].get<bool>()) << audit.dump();
}

// Two customers scan the same payment request at the same moment: one pays, the other is told
// the order is taken, and only one of them is charged.
TEST_F(ConcurrencyTest, OneOrderPaidByTwoWalletsAtOnceIsPaidOnce) {
  auto shop = make_shop("Corner Cafe");
  ASSERT_TRUE(shop.shop->register_shop(*shop.center).has_value());
  auto alice = make_wallet("Alice", kAliceCard);
  auto bob = make_wallet("Bob", kBobCard);
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:20.00")));
  ASSERT_TRUE(bob.wallet->deposit(*bob.center, eur("EUR:20.00")));
  for (int round = 0; round < 10; ++round) {
    const auto order = shop.shop->create_order(eur("EUR:1.00"), "one scone").value();
    Result<wallet::Wallet::Payment> a = fail(ErrorCode::internal, ""), b = a;
    std::thread ta([&] { a = alice.wallet->pay(*wallet_to_shop(alice, shop), order, nullptr); });
    std::thread tb([&] { b = bob.wallet->pay(*wallet_to_shop(bob, shop), order, nullptr); });
    ta.join();
    tb.join();
    EXPECT_NE(a.has_value(), b.has_value()) << "round " << round;
    const auto& refused = a ? b : a;
    if (!refused) {
      EXPECT_EQ(refused.error().code, ErrorCode::conflict) << refused.error().message;
    }
  }
  const auto left = alice.wallet->balance().value().add(bob.wallet->balance().value()).value();
  EXPECT_EQ(left, eur("EUR:30.00"));
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:10.00"));
  expect_circulation_balances();
}

// Captures the payment a wallet sends to the shop, and keeps the center out of the shop's reach:
// the wallet gets no answer, and the order waits for this request.
class CaptureAndCut final : public local::Tap {
 public:
  std::optional<Error> cut(std::string_view link, std::string_view route) override {
    if (link == "shop->center" && route == "pay") return Error{ErrorCode::unavailable, "cut"};
    return std::nullopt;
  }
  void on_request(std::string_view link, std::string_view route, protocol::Json& body) override {
    if (link.ends_with("->shop") && route == "pay") body_ = body;
  }
  protocol::Json body_;
};

// The same request arriving many times at once (a wallet's retries racing each other): the
// money moves once, and every copy that is answered gets the same receipt (a copy that finds
// the request being answered is told to ask again).
TEST_F(ConcurrencyTest, CopiesOfOneRequestAtOnceMoveMoneyOnce) {
  auto shop = make_shop("Corner Cafe");
  ASSERT_TRUE(shop.shop->register_shop(*shop.center).has_value());
  auto alice = make_wallet("Alice", kAliceCard);
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:20.00")));
  const auto order = shop.shop->create_order(eur("EUR:3.00"), "cake").value();
  CaptureAndCut capture;
  m_op->set_tap(&capture);
  auto unanswered = alice.wallet->pay(*wallet_to_shop(alice, shop), order, nullptr);
  m_op->set_tap(nullptr);
  ASSERT_FALSE(unanswered.has_value());
  ASSERT_FALSE(capture.body_.is_null());
  std::vector<std::thread> threads;
  std::vector<Result<protocol::Json>> answers(8, fail(ErrorCode::internal, ""));
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { answers[i] = wallet_to_shop(alice, shop)->call("pay", capture.body_); });
  }
  for (auto& t : threads) t.join();
  std::optional<protocol::Json> receipt;
  for (const auto& answer : answers) {
    if (!answer) {
      EXPECT_EQ(answer.error().code, ErrorCode::unavailable) << answer.error().message;
      continue;
    }
    if (!receipt) receipt = (*answer)["receipt"];
    EXPECT_EQ((*answer)["receipt"], *receipt);
  }
  EXPECT_TRUE(receipt.has_value()) << "no copy was answered";
  // The wallet's own retry finishes the payment with the same receipt.
  auto settled = alice.wallet->pay(*wallet_to_shop(alice, shop), order, nullptr);
  ASSERT_TRUE(settled.has_value()) << settled.error().to_string();
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:17.00"));
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:3.00"));
  EXPECT_EQ(totals().balances, eur("EUR:17.00"));
  expect_circulation_balances();
}

// Two refunds of one order reach the bank at once, for more than was paid between them: one is
// made, the other refused, and no more than was paid goes back (issue 14). Several rounds, so
// that the two meet at the bank.
TEST_F(ConcurrencyTest, TwoRefundsRacingForTheLastCentGiveBackNoMoreThanWasPaid) {
  auto [alice, shop] = alice_at_a_shop("EUR:100.00");
  std::string shop_home;
  for (const auto& entry : std::filesystem::directory_iterator(m_dir)) {
    if (entry.path().filename().string().starts_with("shop-")) shop_home = entry.path().string();
  }
  const auto keys = crypto::read_key_file(shop_home + "/shop.keys").value();
  constexpr int kRounds = 6;
  for (int round = 0; round < kRounds; ++round) {
    const auto request = shop.shop->create_order(eur("EUR:10.00"), "lamp").value();
    ASSERT_TRUE(alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr).has_value());
    const auto order_id =
        protocol::Signed<protocol::PaymentRequest>::from_json(request["request"])->body.order_id;
    const auto history = alice.wallet->history().value();
    const auto payment = Id128::parse(history.back()["request_id"].get<std::string>()).value();
    std::atomic<int> made{0}, beyond{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 2; ++k) {
      const auto refund = protocol::sign(keys.signing, protocol::RefundRequest{.request_id = Id128::random(m_random),
                                                                             .timestamp = m_clock.now(),
                                                                             .order_id = order_id,
                                                                             .payment = payment,
                                                                             .amount = eur("EUR:6.00")});
      threads.emplace_back([&, refund] {
        auto center = m_op->to_center("shop", shop.shop->certificate());
        auto answer = center->call("refund", {{"refund", refund.to_json()}});
        if (answer) {
          ++made;
        } else {
          EXPECT_EQ(answer.error().code, ErrorCode::invalid_argument) << answer.error().to_string();
          ++beyond;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(made.load(), 1) << "round " << round;
    EXPECT_EQ(beyond.load(), 1) << "round " << round;
  }
  EXPECT_EQ(totals().refunded, eur("EUR:36.00"));
  expect_circulation_balances();
  const auto audit = m_op->audit().value();
  EXPECT_TRUE(audit["ok"].get<bool>()) << audit.dump();
  // The wallet learns every refund once.
  ASSERT_TRUE(alice.wallet->sync(*alice.center).has_value());
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:76.00"));
}

}  // namespace
}  // namespace ecash::testing
