#include "base/account_number.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

namespace ecash {
namespace {

ErrorCode card_error(std::string_view digits) {
  auto status = check_card_number(digits);
  EXPECT_FALSE(status.has_value()) << digits << " was accepted";
  return status ? ErrorCode::internal : status.error().code;
}

ErrorCode iban_error(std::string_view text) {
  auto iban = normalize_iban(text);
  EXPECT_FALSE(iban.has_value()) << text << " was accepted as " << *iban;
  return iban ? ErrorCode::internal : iban.error().code;
}

// `valid` with the character at a position rapidcheck picks made `replacement` (a case where it is
// that character already is discarded).
std::string changed_once(std::string valid, char replacement) {
  const auto position = *rc::gen::inRange<std::size_t>(0, valid.size());
  RC_PRE(valid[position] != replacement);
  valid[position] = replacement;
  return valid;
}

TEST(CardNumber, AcceptsValidNumbers) {
  EXPECT_TRUE(check_card_number("4111111111111111"));
  EXPECT_TRUE(check_card_number("5555555555554444"));
  EXPECT_TRUE(check_card_number("378282246310005"));  // 15 digits
  EXPECT_TRUE(check_card_number("6011000990139424"));
  EXPECT_TRUE(check_card_number("4000000000000000006"));  // 19 digits
  EXPECT_TRUE(check_card_number("000000000000"));         // 12 digits
}

TEST(CardNumber, RefusesWrongCheckDigit) {
  EXPECT_EQ(card_error("4111111111111112"), ErrorCode::bad_account);
  EXPECT_EQ(card_error("5555555555554445"), ErrorCode::bad_account);
  EXPECT_EQ(card_error("4111111111111121"), ErrorCode::bad_account);  // neighbours swapped
}

TEST(CardNumber, RefusesNonDigits) {
  EXPECT_EQ(card_error("4111 1111 1111 1111"), ErrorCode::bad_account);
  EXPECT_EQ(card_error("411111111111111A"), ErrorCode::bad_account);
  EXPECT_EQ(card_error("-411111111111111"), ErrorCode::bad_account);
  EXPECT_EQ(card_error(std::string_view("41111111111\0"
                                        "1111",
                                        16)),
            ErrorCode::bad_account);
}

TEST(CardNumber, RefusesWrongLength) {
  EXPECT_EQ(card_error(""), ErrorCode::bad_account);
  EXPECT_EQ(card_error("00000000000"), ErrorCode::bad_account);           // 11 digits
  EXPECT_EQ(card_error("00000000000000000000"), ErrorCode::bad_account);  // 20 digits
}

RC_GTEST_PROP(CardNumber, EverySingleDigitChangeIsCaught, ()) {
  const auto digit = *rc::gen::inRange('0', static_cast<char>('9' + 1));
  const auto status = check_card_number(changed_once("4111111111111111", digit));
  RC_ASSERT(!status.has_value());
  RC_ASSERT(status.error().code == ErrorCode::bad_account);
}

TEST(Iban, NormalisesValidIbans) {
  EXPECT_EQ(normalize_iban("DE89370400440532013000").value(), "DE89370400440532013000");
  EXPECT_EQ(normalize_iban("GB82WEST12345698765432").value(), "GB82WEST12345698765432");
  EXPECT_EQ(normalize_iban("de89 3704 0044 0532 0130 00").value(), "DE89370400440532013000");
  EXPECT_EQ(normalize_iban("gb82 west 1234 5698 7654 32").value(), "GB82WEST12345698765432");
  EXPECT_EQ(normalize_iban("NO9386011117947").value(), "NO9386011117947");  // shortest: 15
  EXPECT_EQ(normalize_iban("MT84MALT011000012345MTLCAST001S").value(),
            "MT84MALT011000012345MTLCAST001S");
}

TEST(Iban, RefusesWrongCheck) {
  EXPECT_EQ(iban_error("DE89370400440532013001"), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("DE88370400440532013000"), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("GB82WEST12345698765433"), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("GB82WEST12345698765423"), ErrorCode::bad_account);  // neighbours swapped
}

TEST(Iban, RefusesBadShape) {
  EXPECT_EQ(iban_error(""), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("DE8937040044"), ErrorCode::bad_account);    // too short
  EXPECT_EQ(iban_error("NO938601111794"), ErrorCode::bad_account);  // 14 characters
  EXPECT_EQ(iban_error("DE89370400440532013000000000000000"), ErrorCode::bad_account);   // 34, bad
  EXPECT_EQ(iban_error("DE893704004405320130000000000000000"), ErrorCode::bad_account);  // 35
  EXPECT_EQ(iban_error("1E89370400440532013000"), ErrorCode::bad_account);  // country not letters
  EXPECT_EQ(iban_error("D189370400440532013000"), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("DEX9370400440532013000"), ErrorCode::bad_account);  // check not digits
  EXPECT_EQ(iban_error("DE89-3704-0044-0532-0130-00"), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("DE89\t370400440532013000"), ErrorCode::bad_account);
  EXPECT_EQ(iban_error("DE89370400440532013\xC3\xA9"), ErrorCode::bad_account);
}

RC_GTEST_PROP(Iban, EverySingleCharacterChangeIsCaught, ()) {
  const auto replacement = *rc::gen::element('0', '1', '5', '9', 'A', 'K', 'Z');
  const auto iban = normalize_iban(changed_once("GB82WEST12345698765432", replacement));
  RC_ASSERT(!iban.has_value());
  RC_ASSERT(iban.error().code == ErrorCode::bad_account);
}

TEST(MaskAccount, ShowsOnlyLastFour) {
  EXPECT_EQ(mask_account("4111111111111111"), "****1111");
  EXPECT_EQ(mask_account("5555555555554444"), "****4444");
  EXPECT_EQ(mask_account("DE89370400440532013000"), "****3000");
  EXPECT_EQ(mask_account("DE89 3704 0044 0532 0130 00"), "****3000");
  EXPECT_EQ(mask_account("12345"), "****2345");
  EXPECT_EQ(mask_account("1234"), "****");
  EXPECT_EQ(mask_account(""), "****");
}

}  // namespace
}  // namespace ecash
