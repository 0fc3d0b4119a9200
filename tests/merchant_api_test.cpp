// The merchant API (issue 14), as a shop's backend calls it: every route with the shop's token,
// refused without it, one call per idempotency key, refunds never beyond what was paid.
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "parties/shop/merchant_api.hpp"
#include "protocol/payment_uri.hpp"
#include "system_fixture.hpp"

namespace ecash::testing {
namespace {

using protocol::Json;

// Calls look when the shop sends a payment on to the center.
class LookWhilePaying final : public local::Tap {
 public:
  explicit LookWhilePaying(std::function<void()> look) : m_look(std::move(look)) {}
  std::optional<Error> cut(std::string_view link, std::string_view route) override {
    if (link == "shop->center" && route == "pay") m_look();
    return std::nullopt;
  }

 private:
  std::function<void()> m_look;
};

class MerchantApiTest : public SystemTest {
 protected:
  void SetUp() override {
    SystemTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto [alice, shop] = alice_at_a_shop("EUR:50.00");
    m_alice = std::move(alice);
    m_shop = std::move(shop);
    m_token = m_shop.shop->new_api_token().value();
    m_api.emplace(*m_shop.shop, *m_shop.center, [] { return std::string("127.0.0.1:4000"); },
                  "http://127.0.0.1:4001");
  }
  void TearDown() override {
    m_api.reset();
    m_shop = {};
    m_alice = {};
    SystemTest::TearDown();
  }

  Result<Json> call(const std::string& route, const Json& body, const std::string& token) {
    protocol::Caller caller;
    caller.bearer = token;
    return m_api->handle(caller, route, body);
  }
  Result<Json> call(const std::string& route, const Json& body) { return call(route, body, m_token); }

  // An order made through the API and paid by Alice's wallet from its payment request.
  Json paid_order(const char* amount, const std::string& key) {
    auto made = call("create_order", {{"amount", amount}, {"item", "a lamp"}, {"idempotency_key", key}});
    EXPECT_TRUE(made.has_value()) << made.error().to_string();
    auto uri = protocol::parse_payment_uri((*made)["payment_uri"].get<std::string>()).value();
    auto paid = m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), uri.request, nullptr);
    EXPECT_TRUE(paid.has_value()) << paid.error().to_string();
    return *made;
  }

  // An order of EUR:4.00 payable for `lifetime` seconds, paid by Alice: its state as the API
  // tells it while the payment is at the center (the clock moved on by `later` just before), and
  // after.
  std::pair<std::string, std::string> states_while_and_after_paying(int lifetime, UnixSeconds later) {
    auto made = call("create_order", {{"amount", "EUR:4.00"}, {"item", "a pen"}, {"expires_in", lifetime},
                                      {"idempotency_key", "k"}});
    EXPECT_TRUE(made.has_value());
    if (!made) return {};
    const auto order_id = (*made)["order_id"];
    std::string seen;
    LookWhilePaying look([&] {
      m_clock.advance(later);
      seen = call("order", {{"order_id", order_id}}).value()["state"];
    });
    m_op->set_tap(&look);
    const auto uri = protocol::parse_payment_uri((*made)["payment_uri"].get<std::string>()).value();
    auto paid = m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), uri.request, nullptr);
    m_op->set_tap(nullptr);
    EXPECT_TRUE(paid.has_value()) << paid.error().to_string();
    return {seen, call("order", {{"order_id", order_id}}).value()["state"]};
  }

  std::size_t order_count() { return call("orders", Json::object()).value()["orders"].size(); }

  Device m_alice;
  ShopDevice m_shop;
  std::string m_token;
  std::optional<shop::MerchantApi> m_api;
};

TEST_F(MerchantApiTest, EveryRouteWithTheShopsToken) {
  auto made = call("create_order", {{"amount", "EUR:12.50"},
                                    {"item", "a blue mug"},
                                    {"reference", "cart-7"},
                                    {"expires_in", 600},
                                    {"idempotency_key", "k1"}});
  ASSERT_TRUE(made.has_value()) << made.error().to_string();
  const auto order_id = (*made)["order_id"].get<std::string>();
  EXPECT_EQ((*made)["state"], "unpaid");
  EXPECT_EQ((*made)["reference"], "cart-7");
  EXPECT_EQ((*made)["checkout_url"], "http://127.0.0.1:4001/checkout/" + order_id);
  EXPECT_TRUE((*made)["qr_svg"].get<std::string>().starts_with("<svg"));
  const auto uri = protocol::parse_payment_uri((*made)["payment_uri"].get<std::string>()).value();
  EXPECT_EQ(uri.shop, "127.0.0.1:4000");

  ASSERT_TRUE(m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), uri.request, nullptr).has_value());
  auto order = call("order", {{"order_id", order_id}});
  ASSERT_TRUE(order.has_value()) << order.error().to_string();
  EXPECT_EQ((*order)["state"], "paid");
  EXPECT_FALSE(order->contains("payment_uri"));
  auto orders = call("orders", Json::object());
  ASSERT_TRUE(orders.has_value());
  EXPECT_EQ((*orders)["orders"].size(), 1u);
  EXPECT_EQ((*orders)["totals"]["paid"], "EUR:12.50");

  auto refund = call("refund", {{"order_id", order_id}, {"amount", "EUR:2.50"}, {"reason", "chipped"},
                                {"idempotency_key", "r1"}});
  ASSERT_TRUE(refund.has_value()) << refund.error().to_string();
  EXPECT_EQ((*refund)["refunded"], "EUR:2.50");
  EXPECT_EQ(call("order", {{"order_id", order_id}}).value()["state"], "partly refunded");
  EXPECT_EQ(call("order", {{"order_id", order_id}}).value()["refunded"], "EUR:2.50");

  auto payout = call("payout", {{"idempotency_key", "p1"}});
  ASSERT_TRUE(payout.has_value()) << payout.error().to_string();
  EXPECT_EQ((*payout)["amount"], "EUR:10.00");
  EXPECT_TRUE((*payout)["paid"].get<bool>());
  EXPECT_EQ(call("nothing", Json::object()).error().code, ErrorCode::not_found);
  EXPECT_EQ(call("order", {{"order_id", Id128::random(m_random).to_string()}}).error().code, ErrorCode::not_found);
  EXPECT_EQ(call("order", {{"order_id", "not an ID"}}).error().code, ErrorCode::malformed);
  expect_circulation_balances();
}

TEST_F(MerchantApiTest, WithoutTheTokenNothingIsDone) {
  const Json body = {{"amount", "EUR:1.00"}, {"item", "tea"}, {"idempotency_key", "k"}};
  for (const auto& token : {std::string(), std::string("ecash_shop_guess"), m_token + "x"}) {
    auto refused = call("create_order", body, token);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::unauthorized);
  }
  // A new token replaces the old one.
  const auto old = m_token;
  m_token = m_shop.shop->new_api_token().value();
  EXPECT_EQ(call("orders", Json::object(), old).error().code, ErrorCode::unauthorized);
  EXPECT_EQ(order_count(), 0u);
}

TEST_F(MerchantApiTest, AnIdempotencyKeyMakesOneThing) {
  const Json body = {{"amount", "EUR:3.00"}, {"item", "cake"}, {"idempotency_key", "same"}};
  auto first = call("create_order", body);
  auto second = call("create_order", body);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ((*first)["order_id"], (*second)["order_id"]);
  EXPECT_EQ(order_count(), 1u);
  // The same key for another call is refused, and makes nothing.
  auto other = call("create_order", {{"amount", "EUR:4.00"}, {"item", "cake"}, {"idempotency_key", "same"}});
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::replayed);
  EXPECT_EQ(order_count(), 1u);
  // A refund asked twice under one key is made once.
  const auto order = paid_order("EUR:10.00", "k2");
  const Json refund = {{"order_id", order["order_id"]}, {"amount", "EUR:4.00"}, {"reason", "r"}, {"idempotency_key", "r"}};
  ASSERT_TRUE(call("refund", refund).has_value());
  ASSERT_TRUE(call("refund", refund).has_value());
  EXPECT_EQ(totals().refunded, eur("EUR:4.00"));
  EXPECT_EQ(call("refund", {{"order_id", order["order_id"]}, {"amount", "EUR:5.00"}, {"reason", "r"},
                            {"idempotency_key", "r"}})
                .error()
                .code,
            ErrorCode::replayed);
}

TEST_F(MerchantApiTest, ARefundAboveWhatWasPaidIsRefused) {
  const auto order = paid_order("EUR:10.00", "k");
  auto refused = call("refund", {{"order_id", order["order_id"]}, {"amount", "EUR:10.01"}, {"reason", "r"},
                                 {"idempotency_key", "r"}});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(totals().refunded, eur("EUR:0.00"));
  // The refusal is the key's answer: asked again, the same refusal; a new key for a right call.
  auto again = call("refund", {{"order_id", order["order_id"]}, {"amount", "EUR:10.01"}, {"reason", "r"},
                               {"idempotency_key", "r"}});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::invalid_argument);
  auto made = call("refund", {{"order_id", order["order_id"]}, {"amount", "EUR:10.00"}, {"reason", "r"},
                              {"idempotency_key", "r2"}});
  ASSERT_TRUE(made.has_value()) << made.error().to_string();
  EXPECT_EQ(totals().refunded, eur("EUR:10.00"));
  expect_circulation_balances();
}

// The bank refuses a refund the shop's unpaid sales do not cover (all was paid out): asked again
// under its key, the call answers that refusal again, not "replayed" (the center keeps the
// refused request under its ID, which follows from the key).
TEST_F(MerchantApiTest, ARefundRefusedByTheBankIsTheKeysAnswer) {
  const auto order = paid_order("EUR:7.00", "k");
  ASSERT_TRUE(call("payout", {{"idempotency_key", "p"}}).has_value());
  const Json body = {{"order_id", order["order_id"]}, {"reason", "r"}, {"idempotency_key", "r"}};
  for (int attempt = 0; attempt < 2; ++attempt) {
    m_clock.advance(5);  // asked again later: a refund signed anew would differ from the first
    auto refused = call("refund", body);
    ASSERT_FALSE(refused.has_value()) << attempt;
    EXPECT_EQ(refused.error().code, ErrorCode::insufficient_funds) << attempt << ": " << refused.error().to_string();
  }
  EXPECT_EQ(totals().refunded, eur("EUR:0.00"));
  expect_circulation_balances();
}

// Eight calls with one key at once make one order: each is answered with it, or told the call
// is under way.
TEST_F(MerchantApiTest, CallsWithOneKeyAtOnceMakeOneThing) {
  const Json body = {{"amount", "EUR:2.00"}, {"item", "a spoon"}, {"idempotency_key", "together"}};
  std::mutex mutex;
  std::set<std::string> ids;
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&] {
      auto made = call("create_order", body);
      std::lock_guard lock(mutex);
      if (made) {
        ids.insert((*made)["order_id"].get<std::string>());
      } else {
        EXPECT_EQ(made.error().code, ErrorCode::conflict) << made.error().to_string();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(order_count(), 1u);
  // Once answered, the key gives that order to whoever asks.
  EXPECT_EQ(call("create_order", body).value()["order_id"], *ids.begin());
}

// Two payouts under two keys at once: one is made, the other told one is under way (or finds
// nothing left); every paid order is covered once and nothing is lost from the shop's books.
TEST_F(MerchantApiTest, TwoPayoutsAtOnceLoseNoRecord) {
  paid_order("EUR:3.00", "a");
  paid_order("EUR:4.00", "b");
  std::vector<std::thread> threads;
  std::atomic<int> made{0};
  for (int k = 0; k < 2; ++k) {
    threads.emplace_back([&, k] {
      auto paid = call("payout", {{"idempotency_key", "payout-" + std::to_string(k)}});
      if (paid) {
        ++made;
      } else {
        EXPECT_EQ(paid.error().code, ErrorCode::conflict) << paid.error().to_string();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(made.load(), 1);
  auto sales = call("orders", Json::object()).value();
  EXPECT_EQ(sales["totals"]["paid_out"], "EUR:7.00");
  EXPECT_EQ(sales["totals"]["to_pay_out"], "EUR:0.00");
  for (const auto& o : sales["orders"]) EXPECT_EQ(o["state"], "paid out") << o.dump();
  expect_circulation_balances();
}

// Cuts the shop's payout call with an error, after running `meanwhile` (another process at work).
class CutPayout final : public local::Tap {
 public:
  CutPayout(ErrorCode code, std::function<void()> meanwhile = {}) : m_code(code), m_meanwhile(std::move(meanwhile)) {}
  std::optional<Error> cut(std::string_view link, std::string_view route) override {
    if (link != "shop->center" || route != "payout") return std::nullopt;
    if (m_meanwhile) m_meanwhile();
    return Error{m_code, "cut by the test"};
  }

 private:
  ErrorCode m_code;
  std::function<void()> m_meanwhile;
};

// A payout left without an answer is finished under its own ID when another is asked for; the
// one asked for is then made under its own, and neither answers for the other.
TEST_F(MerchantApiTest, APayoutLeftWithoutAnAnswerIsFinishedUnderItsOwnId) {
  paid_order("EUR:3.00", "a");
  const auto first = Id128::random(m_random), second = Id128::random(m_random);
  CutPayout out_of_reach(ErrorCode::unavailable);
  m_op->set_tap(&out_of_reach);
  auto lost = m_shop.shop->payout(*m_shop.center, first);
  m_op->set_tap(nullptr);
  ASSERT_FALSE(lost.has_value());
  paid_order("EUR:4.00", "b");
  auto asked = m_shop.shop->payout(*m_shop.center, second);
  ASSERT_TRUE(asked.has_value()) << asked.error().to_string();
  std::map<std::string, std::string> by_id;
  const auto payouts = m_shop.shop->payouts().value();
  for (const auto& p : payouts["payouts"]) by_id[p["request_id"].get<std::string>()] = p["amount"].get<std::string>();
  EXPECT_EQ(by_id[first.to_string()], "EUR:7.00");
  // The one asked for found nothing left to pay (a payout of nothing is not listed).
  EXPECT_EQ(asked->amount.to_string(), "EUR:0.00");
  EXPECT_FALSE(by_id.contains(second.to_string()));
  EXPECT_EQ(m_shop.shop->payout(*m_shop.center, first).value().amount.to_string(), "EUR:7.00");
  EXPECT_FALSE(m_shop.shop->setting("pending_payout").value().has_value());
  expect_circulation_balances();
}

// A refused payout forgets its pending request only while it is still its own: another process
// may have saved its own meanwhile, and that one must be kept to be sent again.
TEST_F(MerchantApiTest, ARefusedPayoutKeepsAnotherProcesssPendingRequest) {
  paid_order("EUR:3.00", "a");
  std::string anothers;  // this request as saved, under another ID: another process's
  CutPayout refused(ErrorCode::limit_exceeded, [&] {
    auto saved = Json::parse(m_shop.shop->setting("pending_payout").value().value());
    saved["request_id"] = Id128::random(m_random).to_string();
    anothers = saved.dump();
    ASSERT_TRUE(m_shop.shop->set_setting("pending_payout", anothers).has_value());
  });
  m_op->set_tap(&refused);
  auto answer = m_shop.shop->payout(*m_shop.center, Id128::random(m_random));
  m_op->set_tap(nullptr);
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ErrorCode::limit_exceeded);
  EXPECT_EQ(m_shop.shop->setting("pending_payout").value(), std::optional<std::string>(anothers));
}

// An earlier payout left without an answer and refused when sent again (too old to begin now) is
// forgotten; the payout asked for is then made, and the refusal is never its answer.
TEST_F(MerchantApiTest, AnEarlierPayoutsRefusalIsNotTheAnswerOfTheOneAskedFor) {
  paid_order("EUR:3.00", "a");
  CutPayout out_of_reach(ErrorCode::unavailable);
  m_op->set_tap(&out_of_reach);
  ASSERT_FALSE(m_shop.shop->payout(*m_shop.center).has_value());
  m_op->set_tap(nullptr);
  m_clock.advance(3600);
  auto paid = call("payout", {{"idempotency_key", "p1"}});
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ((*paid)["amount"], "EUR:3.00");
  EXPECT_EQ((*paid)["paid"], true);
  EXPECT_FALSE(m_shop.shop->setting("pending_payout").value().has_value());
  EXPECT_EQ(call("payout", {{"idempotency_key", "p1"}}).value(), *paid);
  expect_circulation_balances();
}

// While an earlier payout's outcome is unknown, the one asked for is unavailable (nothing of it
// sent, nothing kept under its key): asked again once the earlier one is through, it is made.
TEST_F(MerchantApiTest, WhileAnEarlierPayoutIsUnknownTheOneAskedForIsAskedAgain) {
  paid_order("EUR:3.00", "a");
  CutPayout out_of_reach(ErrorCode::unavailable);
  m_op->set_tap(&out_of_reach);
  ASSERT_FALSE(m_shop.shop->payout(*m_shop.center).has_value());
  auto unknown = call("payout", {{"idempotency_key", "p1"}});
  m_op->set_tap(nullptr);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::unavailable) << unknown.error().to_string();
  paid_order("EUR:4.00", "b");
  auto paid = call("payout", {{"idempotency_key", "p1"}});
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ((*paid)["amount"], "EUR:0.00");  // the earlier one took both sales
  auto sales = call("orders", Json::object()).value();
  EXPECT_EQ(sales["totals"]["paid_out"], "EUR:7.00");
}

// While the till takes no payments (starting or stopping) an order's payment request would name
// nowhere: the API answers unavailable and keeps nothing under the key; asked again, the same order.
TEST_F(MerchantApiTest, NoPaymentRequestNamesATillThatIsNotListening) {
  std::atomic<bool> listening{false};
  shop::MerchantApi api(*m_shop.shop, *m_shop.center,
                        [&] { return listening ? std::string("127.0.0.1:4000") : std::string(); }, "");
  protocol::Caller caller;
  caller.bearer = m_token;
  const Json body = {{"amount", "EUR:2.00"}, {"item", "tea"}, {"idempotency_key", "k"}};
  auto early = api.handle(caller, "create_order", body);
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, ErrorCode::unavailable) << early.error().to_string();
  listening = true;
  auto made = api.handle(caller, "create_order", body);
  ASSERT_TRUE(made.has_value()) << made.error().to_string();
  const auto uri = protocol::parse_payment_uri((*made)["payment_uri"].get<std::string>()).value();
  EXPECT_EQ(uri.shop, "127.0.0.1:4000");
  EXPECT_EQ(order_count(), 1u);
  // A paid order names no till: its state is told while the till is stopping.
  ASSERT_TRUE(m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), uri.request, nullptr).has_value());
  listening = false;
  auto paid = api.handle(caller, "order", {{"order_id", (*made)["order_id"]}});
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ((*paid)["state"], "paid");
}

// A key's answer pruned (or lost in a crash before it was kept): the key asked again with the
// same order finds that order; with another amount or item it is refused, never answered with
// the old order.
TEST_F(MerchantApiTest, AKeyAskedAgainAfterItsAnswerWasPrunedGetsItsOwnOrderOrARefusal) {
  const Json body = {{"amount", "EUR:2.00"}, {"item", "tea"}, {"idempotency_key", "k"}};
  const auto first = call("create_order", body).value();
  m_clock.advance(31 * 86400);
  ASSERT_TRUE(m_shop.shop->prune(m_clock.now()).has_value());
  auto same = call("create_order", body);
  ASSERT_TRUE(same.has_value()) << same.error().to_string();
  EXPECT_EQ((*same)["order_id"], first["order_id"]);
  for (const auto& [field, value] : {std::pair<const char*, const char*>{"amount", "EUR:3.00"}, {"item", "coffee"},
                                     {"reference", "cart-9"}}) {
    m_clock.advance(31 * 86400);  // the key's last answer pruned
    ASSERT_TRUE(m_shop.shop->prune(m_clock.now()).has_value());
    Json changed = body;
    changed[field] = value;
    auto refused = call("create_order", changed);
    ASSERT_FALSE(refused.has_value()) << field;
    EXPECT_EQ(refused.error().code, ErrorCode::replayed) << refused.error().to_string();
  }
  EXPECT_EQ(order_count(), 1u);
}

// A mistake in an optional field is refused, not ignored.
TEST_F(MerchantApiTest, AWrongOptionalFieldIsRefused) {
  for (const auto& [field, value] : {std::pair<const char*, Json>{"expires_in", "600"}, {"expires_in", 1.5},
                                     {"expires_in", 0}, {"reference", 7}}) {
    Json body = {{"amount", "EUR:1.00"}, {"item", "tea"}, {"idempotency_key", std::string("k-") + field}};
    body[field] = value;
    auto refused = call("create_order", body);
    ASSERT_FALSE(refused.has_value()) << field << " " << value.dump();
    EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument) << field << " " << value.dump();
  }
  EXPECT_EQ(order_count(), 0u);
}

// Two refunds of one order under two keys at once, for more than was paid between them: one is
// made, the other refused, and no more than was paid goes back.
TEST_F(MerchantApiTest, TwoRefundsRacingForTheLastCent) {
  for (int round = 0; round < 4; ++round) {
    const auto order = paid_order("EUR:5.00", "k" + std::to_string(round));
    std::atomic<int> made{0}, refused{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 2; ++k) {
      threads.emplace_back([&, k] {
        auto done = call("refund", {{"order_id", order["order_id"]}, {"amount", "EUR:3.00"}, {"reason", "r"},
                                    {"idempotency_key", "race-" + std::to_string(round) + "-" + std::to_string(k)}});
        if (done) {
          ++made;
        } else {
          EXPECT_TRUE(done.error().code == ErrorCode::invalid_argument || done.error().code == ErrorCode::conflict)
              << done.error().to_string();
          ++refused;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(made.load(), 1);
    EXPECT_EQ(refused.load(), 1);
  }
  EXPECT_EQ(totals().refunded, eur("EUR:12.00"));
  expect_circulation_balances();
}

// The answer to a refund is lost on its way to the shop: the backend's retry with the same key
// sends the same refund again, which is made once.
TEST_F(MerchantApiTest, ARefundWhoseAnswerWasLostIsMadeOnceOnRetry) {
  const auto order = paid_order("EUR:8.00", "k");
  const Json body = {{"order_id", order["order_id"]}, {"reason", "r"}, {"idempotency_key", "once"}};
  LoseAnswer lost("shop->center", "refund", "receipt");
  m_op->set_tap(&lost);
  auto first = call("refund", body);
  m_op->set_tap(nullptr);
  ASSERT_TRUE(lost.fired);
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::unavailable);
  EXPECT_EQ(totals().refunded, eur("EUR:8.00"));
  auto again = call("refund", body);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ((*again)["amount"], "EUR:8.00");
  EXPECT_EQ(totals().refunded, eur("EUR:8.00"));
  expect_circulation_balances();
}

// Two shops may use the same key: a refund's request ID is derived from the shop and the key.
TEST_F(MerchantApiTest, TwoShopsMayUseTheSameRefundKey) {
  const auto first = paid_order("EUR:6.00", "k");
  auto other = make_shop("Other Shop", "GB82WEST12345698765432");
  ASSERT_TRUE(other.shop->register_shop(*other.center).has_value());
  const auto token = other.shop->new_api_token().value();
  shop::MerchantApi api(*other.shop, *other.center, [] { return std::string("127.0.0.1:4002"); }, "");
  protocol::Caller caller;
  caller.bearer = token;
  auto made = api.handle(caller, "create_order", {{"amount", "EUR:6.00"}, {"item", "a bowl"}, {"idempotency_key", "k"}});
  ASSERT_TRUE(made.has_value()) << made.error().to_string();
  const auto uri = protocol::parse_payment_uri((*made)["payment_uri"].get<std::string>()).value();
  ASSERT_TRUE(m_alice.wallet->pay(*wallet_to_shop(m_alice, other), uri.request, nullptr).has_value());
  ASSERT_TRUE(call("refund", {{"order_id", first["order_id"]}, {"reason", "r"}, {"idempotency_key", "same"}}).has_value());
  auto second = api.handle(caller, "refund", {{"order_id", (*made)["order_id"]}, {"reason", "r"}, {"idempotency_key", "same"}});
  ASSERT_TRUE(second.has_value()) << second.error().to_string();
  EXPECT_EQ(totals().refunded, eur("EUR:12.00"));
}


TEST_F(MerchantApiTest, AnOrderShowsAsPayingWhileItsPaymentIsAtTheCenter) {
  EXPECT_EQ(states_while_and_after_paying(900, 0), std::make_pair(std::string("paying"), std::string("paid")));
}

// A payment at the center when the order's time runs out: the order shows as paying, not expired
// (its checkout page keeps watching), and then as paid.
TEST_F(MerchantApiTest, AnOrderWhosePaymentIsUnderWayAtItsExpiryShowsAsPaying) {
  EXPECT_EQ(states_while_and_after_paying(30, 31), std::make_pair(std::string("paying"), std::string("paid")));
}

// docs/merchant-api.json describes exactly the routes the API answers.
TEST_F(MerchantApiTest, TheOpenApiDescriptionListsEveryRouteAndNoOther) {
  std::ifstream in(std::string(ECASH_SOURCE_DIR) + "/docs/merchant-api.json");
  ASSERT_TRUE(in.good());
  const auto spec = Json::parse(in, nullptr, false);
  ASSERT_FALSE(spec.is_discarded());
  EXPECT_EQ(spec["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::string> described;
  for (const auto& [path, item] : spec["paths"].items()) {
    described.insert(path.substr(1));
    EXPECT_TRUE(item.contains("post")) << path;
    // Each is there: with the token and an empty body, refused for what the body lacks, not as
    // a route that does not exist.
    auto answer = call(path.substr(1), Json::object());
    if (!answer) {
      EXPECT_NE(answer.error().code, ErrorCode::not_found) << path << ": " << answer.error().to_string();
    }
  }
  const auto& routes = shop::MerchantApi::routes();
  EXPECT_EQ(described, std::set<std::string>(routes.begin(), routes.end()));
  // The order's states, as both routes that answer an order describe them.
  const auto& order = spec["components"]["schemas"]["Order"];
  EXPECT_EQ(order["properties"]["state"]["enum"].get<std::set<std::string>>(),
            (std::set<std::string>{"unpaid", "paying", "paid", "expired", "refunded", "partly refunded"}));
  for (const char* path : {"/create_order", "/order"}) {
    EXPECT_EQ(spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
              "#/components/schemas/Order")
        << path;
  }
}

}  // namespace
}  // namespace ecash::testing
