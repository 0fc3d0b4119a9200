#include "parties/admin/dashboard.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parties/common/web_page.hpp"

namespace ecash::admin {
namespace {

using protocol::Json;

// The roles' figures as they would answer: money in circulation and payments at the bank, the
// front door's requests at the center.
Json roles(const char* deposited, std::int64_t payments, std::int64_t requests,
           std::int64_t refused) {
  auto c = protocol::Json{{"currency", "EUR"},
                          {"figures",
                           {{"deposited", deposited},
                            {"paid_out", "EUR:0.00"},
                            {"balances", deposited},
                            {"owed", "EUR:0.00"},
                            {"in_flight", "EUR:0.00"},
                            {"offline_reserve", "EUR:0.00"},
                            {"unpaid_sales", "EUR:0.00"},
                            {"paying_out", "EUR:0.00"},
                            {"refunded", "EUR:0.00"},
                            {"payments", payments},
                            {"users", 1},
                            {"shops", 1},
                            {"open_cases", 0},
                            {"owing_users", 0},
                            {"owing_without_case", 0}}},
                          {"in_circulation", deposited}};
  return {{"bank", {{"circulation", c}, {"cases", Json::array()}}},
          {"center",
           {{"sagas", {{"open", 0}, {"oldest_age", 0}, {"payouts", 0}}},
            {"requests", {{"total", requests}, {"refused", refused}, {"failed", refused / 2}}}}},
          {"clearing", {{"error", {{"code", "unavailable"}, {"message", "not running"}}}}}};
}

TEST(Dashboard, KeepsTheFiguresOverTimeAndCountsTheLastMinute) {
  ManualClock clock(1'000'000);
  Json next = roles("EUR:10.00", 0, 5, 0);
  Dashboard dashboard([&] { return next; }, clock, 100);
  dashboard.poll();
  for (int k = 1; k <= 40; ++k) {  // 80 s, a payment every 2 s and a refusal every 8
    clock.advance(2);
    next = roles(k % 2 == 0 ? "EUR:10.00" : "EUR:12.50", k, 5 + 2 * k, k / 4);
    dashboard.poll();
  }
  const auto f = dashboard.figures();
  EXPECT_EQ(f["in_circulation"], "EUR:10.00");
  EXPECT_EQ(f["payments"], 40);
  EXPECT_EQ(f["currency"], "EUR");
  EXPECT_EQ(f["exponent"], 2);
  // The last minute: from the point 60 s before the latest (k = 10) to the latest (k = 40).
  EXPECT_EQ(f["payments_last_minute"], 30);
  EXPECT_EQ(f["last_minute"]["center"]["requests"], 60);
  EXPECT_EQ(f["last_minute"]["center"]["refused"], 10 - 2);
  EXPECT_EQ(f["last_minute"]["center"]["failed"], 5 - 1);
  EXPECT_TRUE(f["last_minute"]["clearing"]["requests"].is_null());  // not running
  ASSERT_EQ(f["history"].size(), 41u);
  EXPECT_EQ(f["history"][1]["in_circulation"], 1250);  // minor units, never floating point
  EXPECT_EQ(f["roles"]["clearing"]["error"]["code"], "unavailable");
}

// A process started again counts its requests from 0: a fall is a restart, never a negative rate.
TEST(Dashboard, ACountThatFallsWasAProcessStartedAgain) {
  ManualClock clock(1'000'000);
  Json next = roles("EUR:10.00", 0, 100, 30);
  Dashboard dashboard([&] { return next; }, clock, 100);
  dashboard.poll();
  clock.advance(2);
  next = roles("EUR:10.00", 0, 110, 30);  // 10 more
  dashboard.poll();
  clock.advance(2);
  next = roles("EUR:10.00", 0, 4, 2);  // started again, and 4 since
  dashboard.poll();
  const auto f = dashboard.figures();
  EXPECT_EQ(f["last_minute"]["center"]["requests"], 14);
  EXPECT_EQ(f["last_minute"]["center"]["refused"], 2);
  EXPECT_EQ(f["last_minute"]["center"]["failed"], 1);
}

TEST(Dashboard, KeepsAnHourAtMost) {
  ManualClock clock(1'000'000);
  Dashboard dashboard([] { return roles("EUR:1.00", 1, 1, 0); }, clock, 3);
  for (int k = 0; k < 10; ++k) {
    clock.advance(2);
    dashboard.poll();
  }
  EXPECT_EQ(dashboard.figures()["history"].size(), 3u);
}

TEST(Dashboard, ARoleThatDoesNotAnswerLeavesItsFiguresOut) {
  ManualClock clock(1'000'000);
  Dashboard dashboard([] { return Json{{"bank", {{"error", {{"code", "unavailable"}}}}}}; }, clock);
  dashboard.poll();
  const auto f = dashboard.figures();
  EXPECT_FALSE(f.contains("in_circulation"));
  EXPECT_EQ(f["history"][0]["in_circulation"], -1);
  EXPECT_TRUE(f["payments_last_minute"].is_null());
}

// The page runs only its own style and script (named by hash in its policy) and fetches nothing
// from anywhere but its own origin.
TEST(Dashboard, ThePageNamesItsOwnStyleAndScriptAndNothingElse) {
  const auto& page = Dashboard::page();
  const auto between = [&](const std::string& open, const std::string& close) {
    const auto start = page.find(open) + open.size();
    return page.substr(start, page.find(close, start) - start);
  };
  const auto& policy = Dashboard::policy();
  EXPECT_NE(policy.find("style-src " + parties::csp_hash(between("<style>", "</style>"))),
            std::string::npos);
  EXPECT_NE(policy.find("script-src " + parties::csp_hash(between("<script>", "</script>"))),
            std::string::npos);
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(policy.find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href="), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  for (const char* id : {"id=\"payments\"", "id=\"in-circulation\"", "id=\"circulation-chart\"",
                         "id=\"cases\"", "id=\"disclosure-log\"", "id=\"payouts-pending\""}) {
    EXPECT_NE(page.find(id), std::string::npos) << id;
  }
}

}  // namespace
}  // namespace ecash::admin
