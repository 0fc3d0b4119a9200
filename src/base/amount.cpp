#include "base/amount.hpp"

#include <algorithm>

namespace ecash {
namespace {

struct CurrencyInfo {
  std::string_view code;
  int exponent;
};

// ISO 4217 minor-unit exponents of the currencies we accept.
constexpr std::array<CurrencyInfo, 16> kCurrencies = {{
    {"AUD", 2}, {"BHD", 3}, {"CAD", 2}, {"CHF", 2}, {"CNY", 2}, {"DKK", 2}, {"EUR", 2}, {"GBP", 2},
    {"JPY", 0}, {"KRW", 0}, {"KWD", 3}, {"NOK", 2}, {"NZD", 2}, {"SEK", 2}, {"SGD", 2}, {"USD", 2},
}};

constexpr std::int64_t kPow10[] = {1, 10, 100, 1000};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<Currency> Currency::from_code(std::string_view code) {
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) {
        return c >= 'A' && c <= 'Z';
      })) {
    return fail(ErrorCode::bad_amount, "currency must be three upper-case letters (ISO 4217)");
  }
  for (const auto& info : kCurrencies) {
    if (info.code == code) return Currency({code[0], code[1], code[2]}, info.exponent);
  }
  return fail(ErrorCode::unknown_currency, "unknown currency " + std::string(code));
}

Result<Amount> Amount::from_minor(Currency currency, std::int64_t minor) {
  if (minor > kMaxMinor || minor < -kMaxMinor) {
    return fail(ErrorCode::overflow, "amount outside the money range (18 digits)");
  }
  return Amount(currency, minor);
}

Result<Amount> Amount::parse(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return fail(ErrorCode::bad_amount, "amount must look like EUR:12.50");
  }
  auto currency = Currency::from_code(text.substr(0, colon));
  if (!currency) return std::unexpected(currency.error());
  auto minor = parse_minor(text.substr(colon + 1), *currency);
  if (!minor) return std::unexpected(minor.error());
  return Amount(*currency, *minor);
}

Result<Amount> Amount::parse(std::string_view text, Currency default_currency) {
  if (text.find(':') != std::string_view::npos) return parse(text);
  auto minor = parse_minor(text, default_currency);
  if (!minor) return std::unexpected(minor.error());
  return Amount(default_currency, *minor);
}

Result<std::int64_t> Amount::parse_minor(std::string_view text, Currency currency) {
  std::string_view rest = text;
  const bool negative = !rest.empty() && rest.front() == '-';
  if (negative) rest.remove_prefix(1);

  const auto dot = rest.find('.');
  const std::string_view whole = rest.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);

  const auto all_digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), is_digit);
  };
  if (whole.empty() || !all_digits(whole) || !all_digits(fraction) ||
      (dot != std::string_view::npos && fraction.empty())) {
    return fail(ErrorCode::bad_amount,
                "malformed amount '" + std::string(text.substr(0, 40)) + "': want digits[.digits]");
  }
  if (whole.size() + fraction.size() > kMaxDigits) {
    return fail(ErrorCode::bad_amount, "amount has more than 18 digits");
  }
  if (static_cast<int>(fraction.size()) > currency.exponent()) {
    return fail(ErrorCode::amount_precision,
                std::string(currency.code()) + " has " + std::to_string(currency.exponent()) +
                    " decimal places");
  }

  // Up to 18 written digits padded to the currency's exponent: at most 21 digits, which
  // __int128 holds; the money range is then checked on the minor units.
  __int128 minor = 0;
  for (char c : whole) minor = minor * 10 + (c - '0');
  for (int i = 0; i < currency.exponent(); ++i) {
    const int digit = i < static_cast<int>(fraction.size()) ? fraction[i] - '0' : 0;
    minor = minor * 10 + digit;
  }
  if (minor > kMaxMinor) {
    return fail(ErrorCode::bad_amount, "amount has more than 18 digits in minor units");
  }
  const auto value = static_cast<std::int64_t>(minor);
  return negative ? -value : value;
}

std::string Amount::to_string() const {
  const int exponent = m_currency.exponent();
  // Negation is safe: the money range is symmetric and far inside int64.
  const std::int64_t magnitude = m_minor < 0 ? -m_minor : m_minor;
  const std::int64_t unit = kPow10[exponent];

  std::string out(m_currency.code());
  out += ':';
  if (m_minor < 0) out += '-';
  out += std::to_string(magnitude / unit);
  if (exponent > 0) {
    std::string fraction = std::to_string(magnitude % unit);
    out += '.';
    out.append(exponent - fraction.size(), '0');
    out += fraction;
  }
  return out;
}

Result<Amount> Amount::add(const Amount& other) const {
  if (m_currency != other.m_currency) {
    return fail(ErrorCode::currency_mismatch, std::string(m_currency.code()) + " and " +
                                                  std::string(other.m_currency.code()));
  }
  std::int64_t sum = 0;
  if (__builtin_add_overflow(m_minor, other.m_minor, &sum)) {
    return fail(ErrorCode::overflow, "amount overflow");
  }
  return from_minor(m_currency, sum);
}

Result<Amount> Amount::sub(const Amount& other) const { return add(other.negate()); }

Result<std::strong_ordering> Amount::compare(const Amount& other) const {
  if (m_currency != other.m_currency) {
    return fail(ErrorCode::currency_mismatch, std::string(m_currency.code()) + " and " +
                                                  std::string(other.m_currency.code()));
  }
  return m_minor <=> other.m_minor;
}

}  // namespace ecash
