#include "base/metrics.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "base/test_folder.hpp"

namespace ecash::metrics {
namespace {

TEST(Metrics, CountersAndHistogramsInTheTextFormat) {
  reset_for_tests();
  count("ecash_requests_total", {{"route", "pay"}, {"party", "center"}, {"code", "ok"}});
  count("ecash_requests_total", {{"party", "center"}, {"route", "pay"}, {"code", "ok"}}, 2);
  observe("ecash_request_seconds", {{"party", "center"}, {"route", "pay"}}, 0.003);
  const auto text = render();
  EXPECT_NE(text.find("# TYPE ecash_requests_total counter\n"), std::string::npos) << text;
  // Labels in one order however they were given: one series.
  EXPECT_NE(text.find("ecash_requests_total{code=\"ok\",party=\"center\",route=\"pay\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE ecash_request_seconds histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ecash_request_seconds_bucket{party=\"center\",route=\"pay\",le=\"0.0025\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ecash_request_seconds_bucket{party=\"center\",route=\"pay\",le=\"0.005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ecash_request_seconds_bucket{party=\"center\",route=\"pay\",le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ecash_request_seconds_count{party=\"center\",route=\"pay\"} 1\n"), std::string::npos) << text;
  // The same series read back as they stand (the dashboard's request figures).
  const auto samples = counted("ecash_requests_total");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].labels, (Labels{{"code", "ok"}, {"party", "center"}, {"route", "pay"}}));
  EXPECT_EQ(samples[0].value, 3);
  EXPECT_TRUE(counted("ecash_never_counted_total").empty());
}

TEST(Metrics, LabelValuesAreEscapedAndTheirNumberCapped) {
  reset_for_tests();
  count("ecash_requests_total", {{"route", "a\"b\\c\nd"}});
  EXPECT_NE(render().find("{route=\"a\\\"b\\\\c\\nd\"} 1"), std::string::npos) << render();
  reset_for_tests();
  for (int k = 0; k < 1500; ++k) count("ecash_requests_total", {{"route", "r" + std::to_string(k)}});
  const auto text = render();
  EXPECT_NE(text.find("ecash_requests_total{overflow=\"true\"} 500\n"), std::string::npos);
  EXPECT_EQ(text.find("route=\"r1200\""), std::string::npos);
}

TEST(Metrics, GaugesAreReadAtEachScrapeWhileRegistered) {
  reset_for_tests();
  double held = 5;
  {
    auto gauge = read_at_scrape("ecash_money_minor", "Money, in minor units.", Kind::gauge, [&] {
      return std::vector<Sample>{{{{"component", "balances"}}, held}};
    });
    EXPECT_NE(render().find("ecash_money_minor{component=\"balances\"} 5\n"), std::string::npos);
    held = 7;
    EXPECT_NE(render().find("ecash_money_minor{component=\"balances\"} 7\n"), std::string::npos);
  }
  EXPECT_EQ(render().find("ecash_money_minor"), std::string::npos);
}

class AccessLog : public FolderTest {};

TEST_F(AccessLog, WritesFixedFieldsOnly) {
  const auto file = (m_dir / "access.log").string();
  ASSERT_TRUE(open_access_log(file));
  log_access({"center", "pay", "01ABC", "3f2a", "insufficient_funds", 1.25});
  log_access({"center", "pay\"\n", "", "", "ok", 0.5});
  ASSERT_TRUE(open_access_log("off"));
  log_access({"center", "not written", "", "", "ok", 0});
  std::ifstream in(file);
  std::string first, second, third;
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_FALSE(std::getline(in, third));
  EXPECT_NE(first.find("\"role\":\"center\",\"route\":\"pay\",\"request_id\":\"01ABC\",\"caller\":\"3f2a\","
                       "\"code\":\"insufficient_funds\",\"ms\":1.250}"),
            std::string::npos)
      << first;
  EXPECT_TRUE(first.starts_with("{\"time\":\"20")) << first;
  EXPECT_NE(second.find("\"route\":\"pay\\\"\\u000a\""), std::string::npos) << second;
}

}  // namespace
}  // namespace ecash::metrics
