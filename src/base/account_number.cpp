#include "base/account_number.hpp"

#include <cstddef>

namespace ecash {
namespace {

constexpr std::size_t kCardMinDigits = 12;
constexpr std::size_t kCardMaxDigits = 19;
constexpr std::size_t kIbanMinSize = 15;
constexpr std::size_t kIbanMaxSize = 34;
constexpr std::size_t kMaskShown = 4;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
char to_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// ISO 13616: the first four characters move to the end, letters become 10..35, and the resulting
// decimal number mod 97 must be 1. Folding one character at a time keeps the remainder below
// 97 * 100 + 35, so no big integers are needed.
int iban_mod97(std::string_view iban) {
  int remainder = 0;
  auto fold = [&](char c) {
    if (is_digit(c)) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else {
      remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
    }
  };
  for (char c : iban.substr(4)) fold(c);
  for (char c : iban.substr(0, 4)) fold(c);
  return remainder;
}

}  // namespace

Status check_card_number(std::string_view digits) {
  if (digits.size() < kCardMinDigits || digits.size() > kCardMaxDigits) {
    return fail(ErrorCode::bad_account, "a card number has 12 to 19 digits, not " +
                                            std::to_string(digits.size()) + " characters");
  }
  int sum = 0;
  bool twice = false;  // every second digit from the right is doubled
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!is_digit(*it)) return fail(ErrorCode::bad_account, "a card number has only digits");
    int digit = *it - '0';
    if (twice) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    twice = !twice;
  }
  if (sum % 10 != 0) {
    return fail(ErrorCode::bad_account, "card number check digit is wrong (Luhn)");
  }
  return {};
}

Result<std::string> normalize_iban(std::string_view text) {
  std::string iban;
  iban.reserve(text.size());
  for (char c : text) {
    if (c == ' ') continue;
    if (iban.size() == kIbanMaxSize) {
      return fail(ErrorCode::bad_account, "an IBAN has at most 34 letters and digits");
    }
    iban.push_back(to_upper(c));
  }
  if (iban.size() < kIbanMinSize) {
    return fail(ErrorCode::bad_account,
                "an IBAN has at least 15 letters and digits, not " + std::to_string(iban.size()));
  }
  if (!is_upper(iban[0]) || !is_upper(iban[1])) {
    return fail(ErrorCode::bad_account, "an IBAN starts with a two-letter country code");
  }
  if (!is_digit(iban[2]) || !is_digit(iban[3])) {
    return fail(ErrorCode::bad_account, "an IBAN has two check digits after the country code");
  }
  for (std::size_t i = 4; i < iban.size(); ++i) {
    if (!is_digit(iban[i]) && !is_upper(iban[i])) {
      return fail(ErrorCode::bad_account, "an IBAN has only letters, digits and spaces");
    }
  }
  if (iban_mod97(iban) != 1) {
    return fail(ErrorCode::bad_account, "IBAN check digits are wrong (mod 97)");
  }
  return iban;
}

std::string mask_account(std::string_view account) {
  std::string last;  // the last characters that are not spaces, in reverse
  std::size_t shown = 0;
  for (auto it = account.rbegin(); it != account.rend(); ++it) {
    if (*it == ' ') continue;
    ++shown;
    if (last.size() < kMaskShown) last.push_back(*it);
  }
  if (shown <= kMaskShown) return "****";
  return "****" + std::string(last.rbegin(), last.rend());
}

}  // namespace ecash
