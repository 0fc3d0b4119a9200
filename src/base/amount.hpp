// Money: an ISO 4217 currency and a signed count of minor units, never a floating-point number.
// One parse path and one format path ("EUR:12.50", "JPY:1500"); arithmetic is checked and fails
// with overflow or currency_mismatch instead of wrapping. Values are immutable and thread-safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace ecash {

class Currency {
 public:
  // A known ISO 4217 code in upper case ("EUR"); unknown_currency or bad_amount otherwise.
  static Result<Currency> from_code(std::string_view code);

  std::string_view code() const { return {m_code.data(), m_code.size()}; }
  // Number of minor-unit digits: 2 for EUR, 0 for JPY, 3 for BHD.
  int exponent() const { return m_exponent; }

  friend bool operator==(const Currency&, const Currency&) = default;

 private:
  Currency(std::array<char, 3> code, int exponent) : m_code(code), m_exponent(exponent) {}

  std::array<char, 3> m_code;
  int m_exponent;
};

class Amount {
 public:
  // The money range: at most 18 decimal digits of minor units, so every amount has a text form
  // that parses back, and the sum of two amounts never overflows int64 before it is checked.
  static constexpr std::int64_t kMaxMinor = 999'999'999'999'999'999;
  static constexpr int kMaxDigits = 18;

  static Amount zero(Currency currency) { return Amount(currency, 0); }
  // overflow when |minor| > kMaxMinor.
  static Result<Amount> from_minor(Currency currency, std::int64_t minor);

  // Parses "CUR:[-]DIGITS[.FRACTION]" with at most exponent() fraction digits and 18 digits in all.
  // No whitespace, no '+', no exponent, no grouping. Codes: bad_amount (syntax), unknown_currency,
  // amount_precision (more fraction digits than the currency has).
  static Result<Amount> parse(std::string_view text);
  // As parse(), but a bare number ("12.50") is taken in default_currency.
  static Result<Amount> parse(std::string_view text, Currency default_currency);

  Currency currency() const { return m_currency; }
  std::int64_t minor() const { return m_minor; }
  bool is_zero() const { return m_minor == 0; }
  bool is_negative() const { return m_minor < 0; }
  bool is_positive() const { return m_minor > 0; }

  // Canonical text: "EUR:12.50", "EUR:-0.05", "JPY:1500".
  std::string to_string() const;

  Result<Amount> add(const Amount& other) const;
  Result<Amount> sub(const Amount& other) const;
  Amount negate() const { return Amount(m_currency, -m_minor); }
  // currency_mismatch when the currencies differ.
  Result<std::strong_ordering> compare(const Amount& other) const;

  friend bool operator==(const Amount&, const Amount&) = default;

 private:
  // The number after "CUR:", in minor units of currency.
  static Result<std::int64_t> parse_minor(std::string_view text, Currency currency);
  Amount(Currency currency, std::int64_t minor) : m_currency(currency), m_minor(minor) {}

  Currency m_currency;
  std::int64_t m_minor;
};

}  // namespace ecash
