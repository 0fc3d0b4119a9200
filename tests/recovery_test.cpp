// A party out of reach or a process that stops mid-flow: after the restart and the device's
// retry, every charge is credited or refunded, and money moved exactly once.
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "protocol/statements.hpp"
#include "system_fixture.hpp"

namespace ecash::testing {
namespace {

class RecoveryTest : public SystemTest {
 protected:
  // Alice, enrolled, whose deposit of `amount` was charged to her card and not credited: the
  // bank is cut off (until the test removes the tap) and she was told `unavailable`.
  Device alice_charged_while_the_bank_is_down(const char* amount) {
    auto alice = make_wallet("Alice", kAliceCard);
    m_op->set_tap(&m_bank_down);
    auto deposit = alice.wallet->deposit(*alice.center, eur(amount));
    EXPECT_FALSE(deposit.has_value());
    if (!deposit) {
      EXPECT_EQ(deposit.error().code, ErrorCode::unavailable);
    }
    return alice;
  }

  // Leases every open saga to node for `seconds`, in the center's file, as while that node runs
  // them.
  void lease_open_sagas_to(const std::string& node, int seconds) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((m_dir + "/operator/center/center.db").c_str(), &db), SQLITE_OK);
    const auto leased = "UPDATE sagas SET lease_owner = '" + node + "', lease_until = " +
                        std::to_string(m_clock.now() + seconds) + " WHERE state = 'open'";
    EXPECT_EQ(sqlite3_exec(db, leased.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }

  Outage m_bank_down{"center->bank", "credit"};
};

TEST_F(RecoveryTest, BankDownAfterTheChargeIsCreditedOnRestart) {
  auto alice = alice_charged_while_the_bank_is_down("EUR:40.00");
  m_op->set_tap(nullptr);
  EXPECT_EQ(m_bank_down.hits, 1);
  // The card was charged and nothing credited yet: the saga is open, not forgotten.
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:40.00");
  EXPECT_EQ(totals().deposited, eur("EUR:0.00"));

  // The operator restarts: resume() credits the charged deposit before anything else.
  restart_operator();
  EXPECT_EQ(totals().deposited, eur("EUR:40.00"));
  EXPECT_EQ(totals().balances, eur("EUR:40.00"));
  // The wallet's retry of its pending request gets the original answer.
  alice.center = m_op->to_center("wallet", alice.wallet->certificate());
  auto sent = alice.wallet->retry_pending(*alice.center, nullptr);
  ASSERT_TRUE(sent.has_value()) << sent.error().to_string();
  EXPECT_EQ(*sent, 1);
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:40.00"));
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:40.00");
  expect_circulation_balances();
}

// Several center nodes on one store (issue 13): a node that starts finishes the sagas a crash
// left, but not one another node holds the lease of; that one it takes once the lease runs out, and
// a node restarted under its name takes its own back at once.
TEST_F(RecoveryTest, AStartingCenterNodeLeavesTheLeasesOtherNodesHold) {
  auto alice = alice_charged_while_the_bank_is_down("EUR:40.00");
  m_op->set_tap(nullptr);
  // The open saga, leased for a minute to node n1 (as while n1 runs it).
  lease_open_sagas_to("n1", 60);

  auto& center = m_op->center();
  center.set_node("n2");
  EXPECT_EQ(center.resume(false).value(), 0);
  EXPECT_EQ(totals().deposited, eur("EUR:0.00"));
  center.set_node("n1");
  EXPECT_EQ(center.resume(false).value(), 1);
  EXPECT_EQ(totals().deposited, eur("EUR:40.00"));
  expect_circulation_balances();
}

TEST_F(RecoveryTest, ALapsedLeaseIsTakenByAStartingCenterNode) {
  auto alice = alice_charged_while_the_bank_is_down("EUR:25.00");
  m_op->set_tap(nullptr);
  lease_open_sagas_to("n1", 60);
  m_op->center().set_node("n2");
  m_clock.advance(61);
  EXPECT_EQ(m_op->center().resume(false).value(), 1);
  EXPECT_EQ(totals().deposited, eur("EUR:25.00"));
  expect_circulation_balances();
}

TEST_F(RecoveryTest, ClearingDownChargesNothingAndTheRetryCompletes) {
  auto alice = make_wallet("Alice", kAliceCard);
  Outage clearing_down("center->clearing", "charge");
  m_op->set_tap(&clearing_down);
  ASSERT_EQ(alice.wallet->deposit(*alice.center, eur("EUR:15.00")).error().code,
            ErrorCode::unavailable);
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:0.00");
  // Still down: the retry fails the same way and keeps the request.
  ASSERT_EQ(alice.wallet->retry_pending(*alice.center, nullptr).error().code, ErrorCode::unavailable);
  m_op->set_tap(nullptr);
  ASSERT_EQ(alice.wallet->retry_pending(*alice.center, nullptr).value(), 1);
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:15.00"));
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:15.00");
  // Nothing is left pending.
  EXPECT_EQ(alice.wallet->retry_pending(*alice.center, nullptr).value(), 0);
  expect_circulation_balances();
}

TEST_F(RecoveryTest, AnswerLostOnTheWayBackIsFetchedAgain) {
  auto [alice, shop] = alice_at_a_shop("EUR:30.00");
  auto request = shop.shop->create_order(eur("EUR:9.99"), "book").value();
  // The shop is reachable, but its link to the center drops: the wallet hears unavailable.
  Outage center_down("shop->center", "pay");
  m_op->set_tap(&center_down);
  ASSERT_EQ(alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr).error().code,
            ErrorCode::unavailable);
  m_op->set_tap(nullptr);
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:0.00"));
  auto to_shop = wallet_to_shop(alice, shop);
  ASSERT_EQ(alice.wallet->retry_pending(*alice.center, to_shop.get()).value(), 1);
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:20.01"));
  EXPECT_EQ(totals().unpaid_sales, eur("EUR:9.99"));
  expect_circulation_balances();
}

// A refund the bank made whose answer the center could not verify stays open at the center and
// pending at the shop; the shop's next refund of the order sends it again, under its ID, and it
// is made once (issue 14).
TEST_F(RecoveryTest, ARefundLeftWithoutAnAnswerIsSentAgainAndMadeOnce) {
  auto [alice, shop] = alice_at_a_shop("EUR:30.00");
  const auto request = shop.shop->create_order(eur("EUR:20.00"), "coat").value();
  ASSERT_TRUE(alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr).has_value());
  const auto order_id =
      protocol::Signed<protocol::PaymentRequest>::from_json(request["request"])->body.order_id;
  // First the shop's link to the center drops: nothing moves.
  Outage center_down("shop->center", "refund");
  m_op->set_tap(&center_down);
  ASSERT_EQ(shop.shop->refund(*shop.center, order_id, eur("EUR:5.00"), "a button missing").error().code,
            ErrorCode::unavailable);
  EXPECT_EQ(totals().refunded, eur("EUR:0.00"));
  // Then the bank's answer is lost on its way to the center: the bank gave the money back.
  LoseAnswer lost("center->bank", "refund", "receipt");
  m_op->set_tap(&lost);
  ASSERT_EQ(shop.shop->refund(*shop.center, order_id, eur("EUR:1.00"), "another").error().code,
            ErrorCode::unavailable);
  m_op->set_tap(nullptr);
  EXPECT_TRUE(lost.fired);
  EXPECT_EQ(totals().refunded, eur("EUR:5.00"));
  expect_circulation_balances();
  // Asked again (for another amount even), the shop sends the refund it has pending first.
  auto again = shop.shop->refund(*shop.center, order_id, eur("EUR:1.00"), "another");
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_TRUE(again->resent);
  EXPECT_EQ(again->amount, eur("EUR:5.00"));
  EXPECT_EQ(totals().refunded, eur("EUR:5.00"));
  EXPECT_EQ(shop.shop->sales().value()["totals"]["refunded"], "EUR:5.00");
  ASSERT_TRUE(alice.wallet->sync(*alice.center).has_value());
  EXPECT_EQ(alice.wallet->balance().value(), eur("EUR:15.00"));
  expect_circulation_balances();
}

TEST_F(RecoveryTest, PayoutInterruptedAfterTheTransferSettlesOnRestart) {
  auto [alice, shop] = alice_at_a_shop("EUR:30.00");
  auto request = shop.shop->create_order(eur("EUR:25.00"), "shoes").value();
  ASSERT_TRUE(alice.wallet->pay(*wallet_to_shop(alice, shop), request, nullptr).has_value());
  Outage bank_down("center->bank", "payout_finish");
  m_op->set_tap(&bank_down);
  ASSERT_EQ(shop.shop->payout(*shop.center).error().code, ErrorCode::unavailable);
  m_op->set_tap(nullptr);
  // The transfer happened; the ledger still holds it as paying out.
  EXPECT_EQ(bank_account(kShopIban)["balance"], "EUR:25.00");
  EXPECT_EQ(totals().paying_out, eur("EUR:25.00"));
  expect_circulation_balances();
  restart_operator();
  EXPECT_EQ(totals().paid_out, eur("EUR:25.00"));
  EXPECT_EQ(totals().paying_out, eur("EUR:0.00"));
  // The shop's retry gets the result; the money went once.
  shop.center = m_op->to_center("shop", shop.shop->certificate());
  auto payout = shop.shop->payout(*shop.center);
  ASSERT_TRUE(payout.has_value()) << payout.error().to_string();
  EXPECT_EQ(payout->amount, eur("EUR:25.00"));
  EXPECT_EQ(bank_account(kShopIban)["balance"], "EUR:25.00");
  expect_circulation_balances();
}

// The machine's clock (operator and wallets alike) ran eight days ahead and was put right: the
// CRLs issued meanwhile are dated in the future. Everything recovers at once: the operator's
// roles take the CA's new CRL, and a wallet renews its own at its next contact and pays again.
TEST_F(RecoveryTest, AClockThatRanAheadAndIsPutRightLocksNobodyOut) {
  auto [alice, shop] = alice_at_a_shop("EUR:30.00");
  const auto right = m_clock.now();
  m_clock.advance(8 * kDay);
  ASSERT_TRUE(m_op->refresh_crl().has_value());
  ASSERT_TRUE(alice.wallet->sync(*alice.center).has_value());  // the wallet takes the CRL from then
  ASSERT_TRUE(shop.shop->connect(*shop.center).has_value());
  m_clock.set(right + 60);
  // Held as they are, the CRLs from the future make every certificate look bad.
  const auto order = shop.shop->create_order(eur("EUR:2.00"), "tea").value();
  ASSERT_TRUE(m_op->refresh_crl().has_value()) << "the operator took no CRL dated now";
  auto synced = alice.wallet->sync(*alice.center);
  ASSERT_TRUE(synced.has_value()) << synced.error().to_string();
  ASSERT_TRUE(shop.shop->connect(*shop.center).has_value());
  auto paid = alice.wallet->pay(*wallet_to_shop(alice, shop), order, nullptr);
  ASSERT_TRUE(paid.has_value()) << paid.error().to_string();
  EXPECT_EQ(paid->balance, eur("EUR:28.00"));
  expect_circulation_balances();
}

// A deposit the bank could not credit (down, its disk full) stays open and is finished while the
// center runs, after a back-off, with no restart; the wallet's retry then gets the answer.
TEST_F(RecoveryTest, AnOpenDepositIsFinishedWhileTheCenterRuns) {
  auto alice = alice_charged_while_the_bank_is_down("EUR:40.00");
  EXPECT_EQ(m_op->center().resume_due().value(), 0);  // still down: open, waits its back-off
  m_op->set_tap(nullptr);
  EXPECT_EQ(m_op->center().resume_due().value(), 0);  // back up, but the back-off has not passed
  EXPECT_EQ(totals().deposited, eur("EUR:0.00"));
  m_clock.advance(10);
  EXPECT_EQ(m_op->center().resume_due().value(), 1);
  EXPECT_EQ(totals().deposited, eur("EUR:40.00"));
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:40.00");
  auto retried = alice.wallet->deposit(*alice.center, eur("EUR:40.00"));
  ASSERT_TRUE(retried.has_value()) << retried.error().to_string();
  EXPECT_FALSE(retried->made);  // the kept deposit, finished: nothing more charged
  EXPECT_EQ(retried->balance, eur("EUR:40.00"));
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:40.00");
  expect_circulation_balances();
}

// A charge that cannot be credited within a day is reversed at the card company: the bank is
// told to give the credit up first, so the money is credited or reversed, never neither, never
// both; the wallet is told, and forgets the request.
TEST_F(RecoveryTest, AChargeNotCreditedWithinADayIsReversed) {
  auto alice = alice_charged_while_the_bank_is_down("EUR:25.00");
  m_clock.advance(23 * 3600);
  (void)m_op->center().resume_due();
  EXPECT_EQ(card(kAliceCard)["charged"], "EUR:25.00");  // within the day: still waiting
  EXPECT_EQ(card(kAliceCard)["refunded"], "EUR:0.00");
  m_clock.advance(2 * 3600);
  EXPECT_EQ(m_op->center().resume_due().value(), 1);
  m_op->set_tap(nullptr);
  EXPECT_EQ(card(kAliceCard)["refunded"], "EUR:25.00");
  EXPECT_EQ(totals().deposited, eur("EUR:0.00"));
  // The next deposit says so, forgets the first, and goes through; the bank never credits it.
  auto next = alice.wallet->deposit(*alice.center, eur("EUR:5.00"));
  ASSERT_TRUE(next.has_value()) << next.error().to_string();
  ASSERT_EQ(next->refused_earlier.size(), 1u);
  EXPECT_EQ(next->refused_earlier[0].first, eur("EUR:25.00"));
  EXPECT_EQ(next->refused_earlier[0].second.code, ErrorCode::declined);
  EXPECT_TRUE(next->made);
  EXPECT_EQ(next->balance, eur("EUR:5.00"));
  EXPECT_EQ(totals().deposited, eur("EUR:5.00"));
  expect_circulation_balances();
}

}  // namespace
}  // namespace ecash::testing
