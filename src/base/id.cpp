#include "base/id.hpp"

#include <algorithm>

namespace ecash {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int symbol_value(char c) {
  const auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

}  // namespace

Id128 Id128::random(RandomSource& random) {
  std::array<std::uint8_t, kSize> bytes{};
  random.fill(bytes);
  return Id128(bytes);
}

bool Id128::is_zero() const {
  return std::all_of(m_bytes.begin(), m_bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// 128 bits in 26 five-bit symbols: the first symbol carries only the top 3 bits.
std::string Id128::to_string() const {
  std::string out(kTextSize, '0');
  unsigned __int128 value = 0;
  for (auto b : m_bytes) value = (value << 8) | b;
  for (std::size_t i = kTextSize; i-- > 0;) {
    out[i] = kAlphabet[static_cast<std::size_t>(value & 31)];
    value >>= 5;
  }
  return out;
}

Result<Id128> Id128::parse(std::string_view text) {
  if (text.size() != kTextSize) {
    return fail(ErrorCode::bad_encoding, "an ID is 26 characters of base32");
  }
  unsigned __int128 value = 0;
  for (std::size_t i = 0; i < kTextSize; ++i) {
    const int v = symbol_value(text[i]);
    if (v < 0 || (i == 0 && v > 7)) {
      return fail(ErrorCode::bad_encoding, "not a canonical base32 ID");
    }
    value = (value << 5) | static_cast<unsigned>(v);
  }
  std::array<std::uint8_t, kSize> bytes{};
  for (std::size_t i = kSize; i-- > 0;) {
    bytes[i] = static_cast<std::uint8_t>(value & 0xff);
    value >>= 8;
  }
  return Id128(bytes);
}

}  // namespace ecash
