#include "protocol/reconcile.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace ecash::protocol {
namespace {

const Currency kEur = Currency::from_code("EUR").value();

Json entry(const char* request, const char* amount, bool refunded = false) {
  Json e = {{"seq", 1}, {"request_id", request}, {"amount", amount}};
  if (refunded) e["refunded"] = true;
  return e;
}

Statements statements(const Json& charges, const Json& transfers) {
  Statements s;
  EXPECT_TRUE(add_statement_page(s, kEur, true, Json{{"entries", charges}}).has_value());
  EXPECT_TRUE(add_statement_page(s, kEur, false, Json{{"entries", transfers}}).has_value());
  return s;
}

const auto kNothingOpen = [](const std::string&) { return false; };

// Books holding one deposit, D1 of EUR:20.00, and no payout, against the card company's `charges`
// and no bank transfer; `open` says which requests the center is still finishing.
InstitutionFigures reconcile_one_deposit(
    const Json& charges, const std::function<bool(const std::string&)>& open = kNothingOpen) {
  const Books books{.deposits = {{"D1", 2000}}, .payouts = {}};
  return reconcile(kEur, books, statements(charges, Json::array()), open).value();
}

TEST(Reconcile, AgreeingSidesHaveNoDifference) {
  const Books books{.deposits = {{"D1", 2000}, {"D2", 500}}, .payouts = {{"P1", 700}}};
  const auto s = statements(
      Json::array({entry("D1", "EUR:20.00"), entry("D2", "EUR:5.00"), entry("D3", "EUR:9.00", true)}),
      Json::array({entry("P1", "EUR:7.00")}));
  auto r = reconcile(kEur, books, s, kNothingOpen).value();
  EXPECT_EQ(r.differences, 0) << (r.named.empty() ? "" : r.named.front());
  EXPECT_EQ(r.card_charges.minor(), 2500);  // D3 was refunded
  EXPECT_EQ(r.bank_transfers.minor(), 700);
  EXPECT_EQ(r.being_credited.minor(), 0);
}

// Finding 3: charged, never credited, nothing open: named, with both sides' amounts.
TEST(Reconcile, AChargeNotCreditedIsNamed) {
  const auto charges = Json::array({entry("D1", "EUR:20.00"), entry("D2", "EUR:20.00")});
  auto r = reconcile_one_deposit(charges);
  ASSERT_EQ(r.differences, 1);
  EXPECT_EQ(r.named.at(0), "deposit D2: the card company charged EUR:20.00, the books credited EUR:0.00");
  // The same charge while its deposit is open at the center is being credited, not a difference.
  auto open = reconcile_one_deposit(charges, [](const std::string& id) { return id == "D2"; });
  EXPECT_EQ(open.differences, 0);
  EXPECT_EQ(open.being_credited.minor(), 2000);
}

TEST(Reconcile, EveryKindOfDisagreementIsNamed) {
  const Books books{.deposits = {{"D1", 2000}, {"D2", 500}, {"D3", 100}},
                    .payouts = {{"P1", 700}, {"P2", 300}}};
  const auto s = statements(
      Json::array({entry("D1", "EUR:20.00", true),  // credited, but the charge was refunded
                   entry("D2", "EUR:6.00"),         // charged more than credited
                   entry("D4", "EUR:1.00")}),       // D3 credited without a charge; D4 charged only
      Json::array({entry("P1", "EUR:7.00"), entry("P3", "EUR:1.00")}));  // P2 paid, no transfer
  // Open requests explain only money moved outside and not yet booked, never the other way.
  auto r = reconcile(kEur, books, s, [](const std::string& id) { return id != "D4"; }).value();
  std::set<std::string> named(r.named.begin(), r.named.end());
  EXPECT_EQ(r.differences, 4);
  EXPECT_TRUE(named.contains("deposit D1: the card company charged EUR:0.00, the books credited EUR:20.00"));
  EXPECT_TRUE(named.contains("deposit D3: the books credited EUR:1.00, the card company charged nothing"));
  EXPECT_TRUE(named.contains("deposit D4: the card company charged EUR:1.00, the books credited EUR:0.00"));
  EXPECT_TRUE(named.contains("payout P2: the books paid out EUR:3.00, the bank transferred nothing"));
  EXPECT_EQ(r.being_credited.minor(), 100);  // D2, open: 1.00 more charged than credited so far
  EXPECT_EQ(r.being_recorded.minor(), 100);  // P3, open
}

// A request charged twice (two entries with one reference) sums: the double charge shows.
TEST(Reconcile, ADoubleChargeShows) {
  auto r = reconcile_one_deposit(Json::array({entry("D1", "EUR:20.00"), entry("D1", "EUR:20.00")}));
  EXPECT_EQ(r.differences, 1);
  EXPECT_EQ(r.card_charges.minor(), 4000);
}

TEST(Reconcile, EntriesThatCannotBeMatchedAreNamedAndBadPagesRefused) {
  Statements s;
  ASSERT_TRUE(add_statement_page(s, kEur, true,
                                 Json{{"entries", Json::array({entry("", "EUR:1.00"),
                                                               entry("D1", "USD:1.00")})}})
                  .has_value());
  EXPECT_EQ(s.problems.size(), 2u);
  auto r = reconcile(kEur, Books{}, s, kNothingOpen).value();
  EXPECT_EQ(r.differences, 2);
  EXPECT_EQ(add_statement_page(s, kEur, true, Json{{"entries", 3}}).error().code, ErrorCode::malformed);
  EXPECT_EQ(add_statement_page(s, kEur, true, Json{{"entries", Json::array({Json{{"amount", "EUR:1.00"}}})}})
                .error()
                .code,
            ErrorCode::malformed);
}

TEST(Reconcile, OnlyTheFirstDifferencesAreNamedButAllCounted) {
  Books books;
  for (int i = 0; i < 150; ++i) books.deposits["D" + std::to_string(i)] = 100;
  auto r = reconcile(kEur, books, Statements{}, kNothingOpen).value();
  EXPECT_EQ(r.differences, 150);
  EXPECT_EQ(r.named.size(), InstitutionFigures::kMaxNamed);
}

}  // namespace
}  // namespace ecash::protocol
