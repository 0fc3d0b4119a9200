#include "protocol/payment_uri.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ecash::protocol {
namespace {

TEST(PaymentUri, RoundTrip) {
  PaymentUri uri{"127.0.0.1:4444", "", Json{{"request", {{"amount", "EUR:12.50"}}}, {"shop_certificate", "PEM"}}};
  const auto text = to_payment_uri(uri);
  EXPECT_EQ(text.rfind("ecash://pay?shop=127.0.0.1:4444&request=", 0), 0u) << text;
  auto back = parse_payment_uri(text + "\n");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->shop, "127.0.0.1:4444");
  EXPECT_TRUE(back->shop_home.empty());
  EXPECT_EQ(back->request, uri.request);
  PaymentUri home{"", "/tmp/shop", Json{{"a", 1}}};
  EXPECT_EQ(parse_payment_uri(to_payment_uri(home)).value().shop_home, "/tmp/shop");
}

TEST(PaymentUri, RefusesWhatIsNotOne) {
  for (const char* bad : {"", "https://pay?shop=a&request=e30", "ecash://pay?", "ecash://pay?shop=a",
                          "ecash://pay?request=e30", "ecash://pay?shop=a&shop_home=b&request=e30",
                          "ecash://pay?shop=a&request=e30&request=e30", "ecash://pay?shop=a&request=!!",
                          "ecash://pay?shop=a&request=WzFd" /* [1]: not an object */,
                          "ecash://pay?shop=a&request=e30&x=1", "ecash://pay?shop&request=e30"}) {
    auto parsed = parse_payment_uri(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::malformed) << bad;
  }
  EXPECT_TRUE(parse_payment_uri("ecash://pay?shop=a&request=e30"));  // {} is an object
}

}  // namespace
}  // namespace ecash::protocol
