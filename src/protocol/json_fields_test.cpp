#include "protocol/json_fields.hpp"

#include <gtest/gtest.h>

namespace ecash::protocol {
namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }
std::string objects(int n) {
  std::string text = "[";
  for (int i = 0; i < n; ++i) text += i ? ",{}" : "{}";
  return text + "]";
}

// The bounds hold to the value: as deep and as many as allowed is taken, one more is refused
// (malformed for depth, too_large for values), and text that is not JSON is malformed.
TEST(OutsideJson, BoundsHoldToTheValue) {
  const JsonBounds bounds{.max_depth = 5, .max_values = 10};
  EXPECT_TRUE(parse_outside_json(nested(5), "t", bounds).has_value());
  EXPECT_EQ(parse_outside_json(nested(6), "t", bounds).error().code, ErrorCode::malformed);
  // The list and nine objects: ten values; and ten objects: eleven.
  EXPECT_EQ(parse_outside_json(objects(9), "t", bounds).value().size(), 9u);
  EXPECT_EQ(parse_outside_json(objects(10), "t", bounds).error().code, ErrorCode::too_large);
  // Scalars and keys: a key is not a value, what it names is.
  EXPECT_TRUE(parse_outside_json(R"({"a":1,"b":[true,null,"x",2.5],"c":{}})", "t", bounds));
  EXPECT_EQ(parse_outside_json(R"({"a":1,"b":[true,null,"x",2.5],"c":{"d":[1,2]}})", "t", bounds)
                .error()
                .code,
            ErrorCode::too_large);
  const auto broken = parse_outside_json("{\"a\":", "the request", bounds);
  EXPECT_EQ(broken.error().code, ErrorCode::malformed);
  EXPECT_NE(broken.error().message.find("the request"), std::string::npos);
  EXPECT_TRUE(parse_limited(nested(40)).is_discarded());  // the default depth, 32
  EXPECT_EQ(parse_limited(R"({"k":"v"})")["k"], "v");
}

}  // namespace
}  // namespace ecash::protocol
