// Every online flow of the patent end to end, checking each party's resulting state.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "crypto/random.hpp"
#include "protocol/statements.hpp"
#include "system_fixture.hpp"

namespace ecash::testing {
namespace {

using protocol::Json;

class FlowsTest : public SystemTest {};

TEST_F(FlowsTest, EnrolGivesAPseudonymousCertificate) {
  auto alice = make_wallet("Alice Example", kAliceCard);
  const auto* cert = alice.wallet->certificate();
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->role(), pki::Role::wallet);
  EXPECT_EQ(cert->subject().find("Alice"), std::string::npos);
  EXPECT_TRUE(cert->account_commitment().has_value());
  EXPECT_TRUE(m_op->trust().verify(*cert, std::array{pki::Role::wallet}, m_clock.now()).has_value());
  // A second enrolment of the same wallet is refused.
  EXPECT_EQ(alice.wallet->enrol(*m_op->to_ca("wallet"), "Alice", "x", kAliceCard).error().code,
            ErrorCode::conflict);
}

TEST_F(FlowsTest, RegisterAndFirstDeposit) {
  auto alice = make_wallet("Alice", kAliceCard);
  auto balance = alice.wallet->deposit(*alice.center, eur("EUR:50.00"));
  ASSERT_TRUE(balance.has_value()) << balance.error().to_string();
  EXPECT_EQ(balance->balance, eur("EUR:50.00"));
  ASSERT_TRUE(alice.wallet->user_id().has_value());
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:50.00"));
  // The card company charged the card; the bank credited the user; circulation balances.
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:50.00");
  const auto t = totals();
  EXPECT_EQ(t.deposited, eur("EUR:50.00"));
  EXPECT_EQ(t.balances, eur("EUR:50.00"));
  EXPECT_EQ(t.users, 1);
  // The center remembers the user with the card number sealed; clearing recorded one charge.
  const auto stores = snapshot_stores(m_dir);
  const auto lines = [&](const char* table) {
    const auto& rows = stores.at(table);
    return std::count(rows.begin(), rows.end(), '\n');
  };
  EXPECT_EQ(lines("operator/center/center.db:users"), 1);
  EXPECT_EQ(lines("operator/clearing/clearing.db:charges"), 1);
  EXPECT_EQ(lines("operator/bank/bank.db:users"), 1);
  EXPECT_EQ(lines("operator/ca/ca.db:people"), 1);
  // Only the center may ask clearing anything.
  EXPECT_EQ(m_op->clearing().handle({}, "report", Json::object()).error().code,
            ErrorCode::bad_certificate);
  EXPECT_EQ(m_op->clearing()
                .handle({*alice.wallet->certificate()}, "report", Json::object())
                .error()
                .code,
            ErrorCode::wrong_role);
  expect_circulation_balances();
  EXPECT_EQ(alice.wallet->history().value().size(), 1u);
}

TEST_F(FlowsTest, DepositAgainAddsToTheSameUser) {
  auto alice = make_wallet("Alice", kAliceCard);
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:50.00")).has_value());
  const auto user = *alice.wallet->user_id();
  auto balance = alice.wallet->deposit(*alice.center, eur("EUR:30.00"));
  ASSERT_TRUE(balance.has_value()) << balance.error().to_string();
  EXPECT_EQ(balance->balance, eur("EUR:80.00"));
  EXPECT_EQ(*alice.wallet->user_id(), user);
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:80.00");
  EXPECT_EQ(totals().users, 1);
  EXPECT_EQ(totals().balances, eur("EUR:80.00"));
  expect_circulation_balances();
}

TEST_F(FlowsTest, RegisterShop) {
  auto shop = make_shop("Corner Cafe");
  auto id = shop.shop->register_shop(*shop.center);
  ASSERT_TRUE(id.has_value()) << id.error().to_string();
  EXPECT_EQ(*shop.shop->shop_id(), *id);
  EXPECT_EQ(totals().shops, 1);
  // Registering again answers the same ID without a new registration.
  EXPECT_EQ(shop.shop->register_shop(*shop.center).value(), *id);
  EXPECT_EQ(totals().shops, 1);
}

TEST_F(FlowsTest, PayAShop) {
  auto [alice, shop] = alice_at_a_shop("EUR:50.00");
  auto request = shop.shop->create_order(eur("EUR:12.50"), "one flat white");
  ASSERT_TRUE(request.has_value()) << request.error().to_string();
  auto paid = alice.wallet->pay(*wallet_to_shop(alice, shop), *request, nullptr);
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ(paid->paid, eur("EUR:12.50"));
  EXPECT_EQ(paid->balance, eur("EUR:37.50"));
  EXPECT_EQ(paid->item, "one flat white");
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:37.50"));
  const auto sales = shop.shop->sales().value();
  ASSERT_EQ(sales["orders"].size(), 1u);
  EXPECT_EQ(sales["orders"][0]["state"], "paid");
  const auto t = totals();
  EXPECT_EQ(t.unpaid_sales, eur("EUR:12.50"));
  EXPECT_EQ(t.balances, eur("EUR:37.50"));
  expect_circulation_balances();
  // The same payment request is paid once: paying it again (the answer lost) says it was paid,
  // and pays nothing more; another wallet paying it is refused.
  auto again = alice.wallet->pay(*wallet_to_shop(alice, shop), *request, nullptr);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_TRUE(again->earlier);
  EXPECT_EQ(again->paid, eur("EUR:12.50"));
  EXPECT_EQ(again->balance, eur("EUR:37.50"));
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:37.50"));
  auto bob = make_wallet("Bob", kBobCard);
  ASSERT_TRUE(bob.wallet->deposit(*bob.center, eur("EUR:20.00")).has_value());
  auto by_bob = bob.wallet->pay(*wallet_to_shop(bob, shop), *request, nullptr);
  ASSERT_FALSE(by_bob.has_value());
  EXPECT_EQ(by_bob.error().code, ErrorCode::conflict);
  EXPECT_EQ(bob.wallet->balance().value(), eur("EUR:20.00"));
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:12.50"));
  expect_circulation_balances();
}

TEST_F(FlowsTest, ShortBalanceSaysByHowMuchOrTopsUp) {
  auto [alice, shop] = alice_at_a_shop("EUR:10.00");
  auto request = shop.shop->create_order(eur("EUR:12.50"), "lunch").value();
  const auto before = snapshot_stores(m_dir);
  auto short_pay = alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr);
  ASSERT_FALSE(short_pay.has_value());
  EXPECT_EQ(short_pay.error().code, ErrorCode::insufficient_funds);
  EXPECT_NE(short_pay.error().message.find("by EUR:2.50"), std::string::npos)
      << short_pay.error().message;
  EXPECT_EQ(describe_difference(before, snapshot_stores(m_dir)), "");

  auto topped = alice.wallet->pay(*wallet_to_shop(alice, shop), request, alice.center.get(), true);
  ASSERT_TRUE(topped.has_value()) << topped.error().to_string();
  EXPECT_EQ(*topped->topped_up, eur("EUR:2.50"));
  EXPECT_EQ(topped->balance, eur("EUR:0.00"));
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:12.50");
  expect_circulation_balances();
}

TEST_F(FlowsTest, PayOutProceeds) {
  auto [alice, shop] = alice_at_a_shop("EUR:50.00");
  for (const char* price : {"EUR:12.50", "EUR:7.25"}) {
    auto request = shop.shop->create_order(eur(price), "item").value();
    ASSERT_TRUE(alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr).has_value());
  }
  auto payout = shop.shop->payout(*shop.center);
  ASSERT_TRUE(payout.has_value()) << payout.error().to_string();
  EXPECT_TRUE(payout->paid);
  EXPECT_EQ(payout->amount, eur("EUR:19.75"));
  EXPECT_EQ(bank_account(kShopIban)["balance"], "EUR:19.75");
  const auto t = totals();
  EXPECT_EQ(t.paid_out, eur("EUR:19.75"));
  EXPECT_EQ(t.unpaid_sales, eur("EUR:0.00"));
  EXPECT_EQ(t.paying_out, eur("EUR:0.00"));
  expect_circulation_balances();
  // Nothing left: a second payout pays nothing and moves nothing.
  auto empty = shop.shop->payout(*shop.center);
  ASSERT_TRUE(empty.has_value()) << empty.error().to_string();
  EXPECT_EQ(empty->amount, eur("EUR:0.00"));
  EXPECT_EQ(bank_account(kShopIban)["balance"], "EUR:19.75");
}

// The history lines of a kind, in order.
std::vector<Json> lines_of(const Json& history, const std::string& kind) {
  std::vector<Json> out;
  for (const auto& line : history) {
    if (line["kind"] == kind) out.push_back(line);
  }
  return out;
}

// Issue 14: a shop gives back part, then the rest, of a paid order; never more than was paid; the
// wallet learns each refund once, itemised, by the notice of its next payment or sync, with no
// correction; the books count the refunds and still balance.
TEST_F(FlowsTest, AShopRefundsAPaidOrderToTheWalletThatPaid) {
  auto [alice, shop] = alice_at_a_shop("EUR:50.00");
  const auto order_of = [](const Json& request) {
    return protocol::Signed<protocol::PaymentRequest>::from_json(request["request"])->body.order_id;
  };
  const auto book = shop.shop->create_order(eur("EUR:12.50"), "a book").value();
  const auto pen = shop.shop->create_order(eur("EUR:7.25"), "a pen").value();
  ASSERT_TRUE(alice.wallet->pay(*wallet_to_shop(alice, shop), book, nullptr).has_value());
  ASSERT_TRUE(alice.wallet->pay(*wallet_to_shop(alice, shop), pen, nullptr).has_value());
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:30.25"));

  // Part of the book, then more than the rest: the second is refused and moves nothing.
  auto part = shop.shop->refund(*shop.center, order_of(book), eur("EUR:2.50"), "scratched cover");
  ASSERT_TRUE(part.has_value()) << part.error().to_string();
  EXPECT_EQ(part->amount, eur("EUR:2.50"));
  EXPECT_EQ(part->refunded, eur("EUR:2.50"));
  auto too_much = shop.shop->refund(*shop.center, order_of(book), eur("EUR:10.01"), "greedy");
  ASSERT_FALSE(too_much.has_value());
  EXPECT_EQ(too_much.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(totals().refunded, eur("EUR:2.50"));
  EXPECT_EQ(totals().balances, eur("EUR:32.75"));
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:17.25"));
  expect_circulation_balances();

  // The wallet learns it with its next payment: its own figure and the bank's agree.
  const auto tea = shop.shop->create_order(eur("EUR:1.00"), "tea").value();
  auto paid = alice.wallet->pay(*wallet_to_shop(alice, shop), tea, nullptr);
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_FALSE(paid->corrected.has_value());
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:31.75"));
  // The rest of the book (default: all not yet given back), learnt by a sync.
  auto rest = shop.shop->refund(*shop.center, order_of(book), std::nullopt, "returned");
  ASSERT_TRUE(rest.has_value()) << rest.error().to_string();
  EXPECT_EQ(rest->amount, eur("EUR:10.00"));
  EXPECT_EQ(rest->refunded, eur("EUR:12.50"));
  auto again = shop.shop->refund(*shop.center, order_of(book), eur("EUR:0.01"), "once more");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::invalid_argument);
  auto synced = alice.wallet->sync(*alice.center);
  ASSERT_TRUE(synced.has_value()) << synced.error().to_string();
  ASSERT_EQ(synced->bank_changes.size(), 1u);  // the first was told already, with the payment
  EXPECT_EQ(synced->bank_changes[0].amount, eur("EUR:10.00"));
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:41.75"));
  // A second sync tells nothing new; history has each refund once and no correction.
  auto quiet = alice.wallet->sync(*alice.center);
  ASSERT_TRUE(quiet.has_value());
  EXPECT_TRUE(quiet->bank_changes.empty());
  const auto history = alice.wallet->history().value();
  const auto refunds = lines_of(history, "refund");
  ASSERT_EQ(refunds.size(), 2u);
  EXPECT_EQ(refunds[0]["amount"], "EUR:2.50");
  EXPECT_EQ(refunds[1]["amount"], "EUR:10.00");
  EXPECT_TRUE(lines_of(history, "correction").empty());

  // The shop's books: the book refunded, the pen and tea paid; a payout pays what is left.
  const auto sales = shop.shop->sales().value();
  EXPECT_EQ(sales["totals"]["refunded"], "EUR:12.50");
  EXPECT_EQ(sales["totals"]["to_pay_out"], "EUR:8.25");
  EXPECT_EQ(sales["orders"][0]["state"], "refunded");
  auto payout = shop.shop->payout(*shop.center);
  ASSERT_TRUE(payout.has_value()) << payout.error().to_string();
  EXPECT_EQ(payout->amount, eur("EUR:8.25"));
  // Nothing unpaid is left to refund from: refused, with a clear code, nothing moved.
  auto short_sales = shop.shop->refund(*shop.center, order_of(pen), std::nullopt, "broken");
  ASSERT_FALSE(short_sales.has_value());
  EXPECT_EQ(short_sales.error().code, ErrorCode::insufficient_funds);
  const auto t = totals();
  EXPECT_EQ(t.refunded, eur("EUR:12.50"));
  EXPECT_EQ(t.paid_out, eur("EUR:8.25"));
  expect_circulation_balances();
  auto audit = m_op->audit();
  ASSERT_TRUE(audit.has_value()) << audit.error().to_string();
  EXPECT_TRUE((*audit)["problems"].empty()) << audit->dump();
}

TEST_F(FlowsTest, RetryGetsTheFirstAnswerAndReusedIdIsReplayed) {
  auto alice = make_wallet("Alice", kAliceCard);
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:50.00")).has_value());
  const auto keys = crypto::read_key_file(m_dir + "/wallet-1/wallet.keys").value();
  const auto center_key = parties::Directory::from_json(
      m_op->center().handle({}, "directory", Json::object()).value()["directory"]).value().center.sealing_key();
  const protocol::DepositOrder order{
      .request_id = Id128::random(m_random),
      .timestamp = m_clock.now(),
      .sealed_user_id = crypto::seal(center_key, as_bytes(alice.wallet->user_id()->to_string())),
      .amount = eur("EUR:5.00"),
      .sealed_card = {}};
  const Json body = {{"order", protocol::sign(keys.signing, order).to_json()}};
  auto first = alice.center->call("deposit", body);
  ASSERT_TRUE(first.has_value()) << first.error().to_string();
  auto second = alice.center->call("deposit", body);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:55.00");
  EXPECT_EQ(totals().deposited, eur("EUR:55.00"));

  auto other = order;
  other.amount = eur("EUR:6.00");
  auto replay = alice.center->call("deposit", {{"order", protocol::sign(keys.signing, other).to_json()}});
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code, ErrorCode::replayed);
  EXPECT_EQ(totals().deposited, eur("EUR:55.00"));
}

TEST_F(FlowsTest, RefusalsAreClearAndChangeNothing) {
  auto alice = make_wallet("Alice", kAliceCard, "EUR:100.00");
  auto shop = make_shop("Corner Cafe");
  auto stranger = make_shop("Stranger Shop", "GB82WEST12345698765432");  // never registered
  ASSERT_TRUE(shop.shop->register_shop(*shop.center).has_value());
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:60.00")).has_value());
  const auto keys = crypto::read_key_file(m_dir + "/wallet-1/wallet.keys").value();
  const auto center_key = parties::Directory::from_json(
      m_op->center().handle({}, "directory", Json::object()).value()["directory"]).value().center.sealing_key();
  const auto signed_deposit = [&](const char* amount, const Id128& user) {
    const protocol::DepositOrder order{
        .request_id = Id128::random(m_random),
        .timestamp = m_clock.now(),
        .sealed_user_id = crypto::seal(center_key, as_bytes(user.to_string())),
        .amount = eur(amount),
        .sealed_card = {}};
    return Json{{"order", protocol::sign(keys.signing, order).to_json()}};
  };
  const auto expect_refused = [&](const char* what, ErrorCode code, auto&& attempt) {
    SCOPED_TRACE(what);
    const auto before = snapshot_stores(m_dir);
    const auto result = attempt();
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, code) << result.error().to_string();
    EXPECT_FALSE(result.error().message.empty());
    EXPECT_EQ(describe_difference(before, snapshot_stores(m_dir)), "");
  };
  const auto user = *alice.wallet->user_id();

  expect_refused("declined card (over its limit)", ErrorCode::declined,
                 [&] { return alice.wallet->deposit(*alice.center, eur("EUR:50.00")); });
  expect_refused("wrong currency at the wallet", ErrorCode::currency_mismatch,
                 [&] { return alice.wallet->deposit(*alice.center, eur("USD:5.00")); });
  expect_refused("wrong currency at the center", ErrorCode::currency_mismatch, [&] {
    return alice.center->call("deposit", signed_deposit("USD:5.00", user));
  });
  expect_refused("unknown user", ErrorCode::unknown_user, [&] {
    return alice.center->call("deposit", signed_deposit("EUR:5.00", Id128::random(m_random)));
  });
  expect_refused("zero deposit", ErrorCode::invalid_argument, [&] {
    return alice.center->call("deposit", signed_deposit("EUR:0.00", user));
  });
  expect_refused("unknown shop", ErrorCode::unknown_shop,
                 [&] { return stranger.shop->payout(*stranger.center); });
  auto request = shop.shop->create_order(eur("EUR:75.00"), "a chair").value();
  expect_refused("insufficient balance", ErrorCode::insufficient_funds, [&] {
    return alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr);
  });
  expect_refused("malformed message", ErrorCode::malformed, [&] {
    return alice.center->call("deposit", Json{{"order", Json::array({1, 2})}});
  });
  expect_circulation_balances();
}

TEST_F(FlowsTest, BadIbanIsRefusedAtRegistration) {
  auto shop = make_shop("Typo Shop", "DE89370400440532013001");  // check digits wrong
  const auto before = snapshot_stores(m_dir);
  auto id = shop.shop->register_shop(*shop.center);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, ErrorCode::bad_account);
  EXPECT_EQ(describe_difference(before, snapshot_stores(m_dir)), "");
  EXPECT_EQ(totals().shops, 0);
}

TEST_F(FlowsTest, RevokedWalletIsRefused) {
  auto alice = make_wallet("Alice", kAliceCard);
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:20.00")).has_value());
  ASSERT_TRUE(m_op->revoke(alice.wallet->certificate()->serial()).has_value());
  EXPECT_EQ(alice.wallet->deposit(*alice.center, eur("EUR:5.00")).error().code,
            ErrorCode::certificate_revoked);
  EXPECT_EQ(totals().deposited, eur("EUR:20.00"));
}

TEST_F(FlowsTest, StateSurvivesRestart) {
  auto [alice, shop] = alice_at_a_shop("EUR:50.00");
  restart_operator();
  alice.center = m_op->to_center("wallet", alice.wallet->certificate());
  shop.center = m_op->to_center("shop", shop.shop->certificate());
  m_op->connect_shop(*shop.shop);
  auto request = shop.shop->create_order(eur("EUR:5.00"), "tea").value();
  auto paid = alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr);
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ(paid->balance, eur("EUR:45.00"));
  expect_circulation_balances();
}

}  // namespace
}  // namespace ecash::testing

namespace ecash::testing {
namespace {

// Finding 6 of issue 12: a certificate whose first deposit never completes lasts no longer than a
// day: the operator's sweep (at each CRL refresh) revokes it through the CRL, as a fraud case's.
TEST_F(SystemTest, AnEnrolmentWithNoDepositWithinADayIsRevoked) {
  auto alice = make_wallet("Alice", kAliceCard);
  ASSERT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:10.00")).has_value());
  auto bob = make_wallet("Bob", kBobCard);  // enrolled and confirmed, never deposits
  m_clock.advance(ca::CaParty::kUnconfirmedLifetime - 60);
  auto carol = make_wallet("Carol", kCarolCard);  // enrolled a minute before Bob's day is up
  EXPECT_TRUE(m_op->expire_unconfirmed().value().empty());  // nobody's day is up yet
  m_clock.advance(120);
  auto revoked = m_op->expire_unconfirmed();
  ASSERT_TRUE(revoked.has_value()) << revoked.error().to_string();
  EXPECT_EQ(*revoked, std::vector<std::string>{bob.wallet->certificate()->serial()});
  EXPECT_EQ(bob.wallet->deposit(*bob.center, eur("EUR:5.00")).error().code,
            ErrorCode::certificate_revoked);
  const auto crl = m_op->ca().crl().value();
  EXPECT_NE(std::find(crl.revoked().begin(), crl.revoked().end(), bob.wallet->certificate()->serial()),
            crl.revoked().end());
  // Alice deposited, Carol's day is not up: both go on.
  EXPECT_TRUE(alice.wallet->deposit(*alice.center, eur("EUR:5.00")).has_value());
  EXPECT_TRUE(carol.wallet->deposit(*carol.center, eur("EUR:5.00")).has_value());
  EXPECT_TRUE(m_op->expire_unconfirmed().value().empty());  // once only
}

}  // namespace
}  // namespace ecash::testing
