// Random 128-bit identifiers (request, user, shop, transfer IDs) and the source of randomness they
// are drawn from, passed in so tests can fix it. Id128 values are immutable and thread-safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace ecash {

// Where random bytes come from. The crypto layer provides the secure one.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

class Id128 {
 public:
  static constexpr std::size_t kSize = 16;
  // Text form: 26 characters of Crockford base32 (upper case, no I L O U), big-endian.
  static constexpr std::size_t kTextSize = 26;

  Id128() = default;  // all zero: "no ID"
  explicit Id128(const std::array<std::uint8_t, kSize>& bytes) : m_bytes(bytes) {}

  static Id128 random(RandomSource& random);
  // bad_encoding unless text is exactly a canonical Id128 text form.
  static Result<Id128> parse(std::string_view text);

  std::string to_string() const;
  const std::array<std::uint8_t, kSize>& bytes() const { return m_bytes; }
  bool is_zero() const;

  friend bool operator==(const Id128&, const Id128&) = default;
  // Byte order, the order of the text form too.
  friend std::strong_ordering operator<=>(const Id128& a, const Id128& b) {
    for (std::size_t i = 0; i < kSize; ++i) {
      if (a.m_bytes[i] != b.m_bytes[i]) return a.m_bytes[i] <=> b.m_bytes[i];
    }
    return std::strong_ordering::equal;
  }

 private:
  std::array<std::uint8_t, kSize> m_bytes{};
};

}  // namespace ecash
