#include "base/amount.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace ecash {
namespace {

Currency currency(std::string_view code) { return Currency::from_code(code).value(); }

ErrorCode parse_error(std::string_view text) {
  auto result = Amount::parse(text);
  EXPECT_FALSE(result.has_value()) << text << " parsed as " << result->to_string();
  return result ? ErrorCode::internal : result.error().code;
}

TEST(Amount, ParsesAndFormatsCanonicalText) {
  EXPECT_EQ(Amount::parse("EUR:12.50")->minor(), 1250);
  EXPECT_EQ(Amount::parse("EUR:12.50")->to_string(), "EUR:12.50");
  EXPECT_EQ(Amount::parse("JPY:1500")->minor(), 1500);
  EXPECT_EQ(Amount::parse("JPY:1500")->to_string(), "JPY:1500");
  EXPECT_EQ(Amount::parse("EUR:-0.05")->minor(), -5);
  EXPECT_EQ(Amount::parse("EUR:-0.05")->to_string(), "EUR:-0.05");
  EXPECT_EQ(Amount::parse("BHD:1.234")->minor(), 1234);
  EXPECT_EQ(Amount::parse("GBP:0.01")->to_string(), "GBP:0.01");
  EXPECT_EQ(Amount::parse("CHF:7")->to_string(), "CHF:7.00");
  EXPECT_EQ(Amount::parse("USD:3.5")->to_string(), "USD:3.50");
  EXPECT_EQ(Amount::parse("EUR:9999999999999999.99")->minor(), Amount::kMaxMinor);
}

TEST(Amount, BareNumberTakesDefaultCurrency) {
  auto eur = currency("EUR");
  EXPECT_EQ(Amount::parse("12.50", eur)->to_string(), "EUR:12.50");
  EXPECT_EQ(Amount::parse("JPY:10", eur)->to_string(), "JPY:10");
  EXPECT_EQ(Amount::parse("1.005", eur).error().code, ErrorCode::amount_precision);
  EXPECT_EQ(Amount::parse("EUR:EUR:1", eur).error().code, ErrorCode::bad_amount);
}

TEST(Amount, RejectsMalformedTextWithItsCode) {
  EXPECT_EQ(parse_error("EUR:1.005"), ErrorCode::amount_precision);
  EXPECT_EQ(parse_error("JPY:1.5"), ErrorCode::amount_precision);
  EXPECT_EQ(parse_error("EUR:-"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("eur:1"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("XYZ:1"), ErrorCode::unknown_currency);
  EXPECT_EQ(parse_error("EUR: 1"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error(" EUR:1"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1 "), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1\n"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1e3"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1E3"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:+1"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1."), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:.5"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1,000"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:1.2.3"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:--1"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error(""), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EURO:1"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:0x10"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:NaN"), ErrorCode::bad_amount);
  // 19 digits: too many, even with leading zeros.
  EXPECT_EQ(parse_error("JPY:1000000000000000000"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("JPY:0000000000000000001"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:99999999999999999.99"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("JPY:9223372036854775808"), ErrorCode::bad_amount);
  // 18 digits written, but 20 in minor units (found by the fuzzer).
  EXPECT_EQ(parse_error("EUR:666666633333333332"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("EUR:99999999999999999"), ErrorCode::bad_amount);
  EXPECT_EQ(parse_error("BHD:9999999999999999.9"), ErrorCode::bad_amount);
  EXPECT_EQ(Amount::parse("666666633333333332", currency("EUR")).error().code,
            ErrorCode::bad_amount);
}

TEST(Amount, ArithmeticIsChecked) {
  auto a = Amount::parse("EUR:10.00").value();
  auto b = Amount::parse("EUR:2.50").value();
  EXPECT_EQ(a.add(b)->to_string(), "EUR:12.50");
  EXPECT_EQ(b.sub(a)->to_string(), "EUR:-7.50");
  EXPECT_EQ(a.compare(b).value(), std::strong_ordering::greater);

  auto yen = Amount::parse("JPY:10").value();
  EXPECT_EQ(a.add(yen).error().code, ErrorCode::currency_mismatch);
  EXPECT_EQ(a.sub(yen).error().code, ErrorCode::currency_mismatch);
  EXPECT_EQ(a.compare(yen).error().code, ErrorCode::currency_mismatch);
}

TEST(Amount, OverflowIsDetectedAtTheBounds) {
  auto eur = currency("EUR");
  constexpr auto kInt64Max = std::numeric_limits<std::int64_t>::max();
  constexpr auto kInt64Min = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(Amount::from_minor(eur, kInt64Max).error().code, ErrorCode::overflow);
  EXPECT_EQ(Amount::from_minor(eur, kInt64Min).error().code, ErrorCode::overflow);
  EXPECT_EQ(Amount::from_minor(eur, Amount::kMaxMinor + 1).error().code, ErrorCode::overflow);
  EXPECT_EQ(Amount::from_minor(eur, -Amount::kMaxMinor - 1).error().code, ErrorCode::overflow);

  auto max = Amount::from_minor(eur, Amount::kMaxMinor).value();
  auto min = Amount::from_minor(eur, -Amount::kMaxMinor).value();
  auto cent = Amount::from_minor(eur, 1).value();
  EXPECT_EQ(max.add(cent).error().code, ErrorCode::overflow);
  EXPECT_EQ(max.add(max).error().code, ErrorCode::overflow);
  EXPECT_EQ(min.sub(cent).error().code, ErrorCode::overflow);
  EXPECT_EQ(min.add(min).error().code, ErrorCode::overflow);
  EXPECT_EQ(max.sub(min).error().code, ErrorCode::overflow);
  EXPECT_EQ(max.add(min)->minor(), 0);
  EXPECT_EQ(max.sub(cent)->minor(), Amount::kMaxMinor - 1);
  EXPECT_EQ(max.to_string(), "EUR:9999999999999999.99");
  EXPECT_EQ(min.to_string(), "EUR:-9999999999999999.99");
}

const std::vector<std::string> kCodes = {"EUR", "USD", "JPY", "GBP", "CHF", "BHD", "KRW"};

RC_GTEST_PROP(AmountProperty, FormatThenParseIsIdentity, ()) {
  const auto code = *rc::gen::elementOf(kCodes);
  const auto minor = *rc::gen::inRange<std::int64_t>(-Amount::kMaxMinor, Amount::kMaxMinor + 1);
  const auto amount = Amount::from_minor(currency(code), minor).value();
  const auto text = amount.to_string();
  const auto back = Amount::parse(text);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == amount);
  RC_ASSERT(back->to_string() == text);
}

RC_GTEST_PROP(AmountProperty, SmallValuesRoundTrip, ()) {
  const auto code = *rc::gen::elementOf(kCodes);
  const auto minor = *rc::gen::inRange<std::int64_t>(-100000, 100000);
  const auto amount = Amount::from_minor(currency(code), minor).value();
  RC_ASSERT(Amount::parse(amount.to_string()).value() == amount);
}

RC_GTEST_PROP(AmountProperty, AddThenSubIsIdentityOrOverflow, ()) {
  const auto eur = currency("EUR");
  const auto a = Amount::from_minor(
      eur, *rc::gen::inRange<std::int64_t>(-Amount::kMaxMinor, Amount::kMaxMinor + 1)).value();
  const auto b = Amount::from_minor(
      eur, *rc::gen::inRange<std::int64_t>(-Amount::kMaxMinor, Amount::kMaxMinor + 1)).value();
  const auto sum = a.add(b);
  const __int128 exact = static_cast<__int128>(a.minor()) + b.minor();
  const bool in_range = exact >= -Amount::kMaxMinor && exact <= Amount::kMaxMinor;
  RC_ASSERT(sum.has_value() == in_range);
  if (sum) {
    RC_ASSERT(sum->sub(b).value() == a);
  } else {
    RC_ASSERT(sum.error().code == ErrorCode::overflow);
  }
}

}  // namespace
}  // namespace ecash
