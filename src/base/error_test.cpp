#include "base/error.hpp"

#include <gtest/gtest.h>

namespace ecash {
namespace {

TEST(Error, CodesHaveStableWireNames) {
  EXPECT_EQ(to_string(ErrorCode::bad_signature), "bad_signature");
  EXPECT_EQ(to_string(ErrorCode::insufficient_funds), "insufficient_funds");
  EXPECT_EQ(error_code_from_string("certificate_revoked"), ErrorCode::certificate_revoked);
  EXPECT_EQ(error_code_from_string("no_such_code"), ErrorCode::internal);
  for (std::uint16_t i = 0; i <= static_cast<std::uint16_t>(ErrorCode::internal); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(error_code_from_string(to_string(code)), code) << to_string(code);
  }
}

TEST(Error, ToStringJoinsCodeAndMessage) {
  EXPECT_EQ((Error{ErrorCode::replayed, "request seen"}).to_string(), "replayed: request seen");
  EXPECT_EQ((Error{ErrorCode::stale, ""}).to_string(), "stale");
}

Result<int> half(int x) {
  if (x % 2) return fail(ErrorCode::invalid_argument, "odd");
  return x / 2;
}

TEST(Error, ResultCarriesValueOrError) {
  EXPECT_EQ(half(4).value(), 2);
  EXPECT_EQ(half(3).error().code, ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace ecash
