// The canonical binary encoding that signatures cover. A statement starts with a fixed tag and its
// purpose code, then its fields in a fixed order: integers fixed-width big-endian, byte strings and
// text with a 32-bit length prefix. One statement has exactly one encoding, so what is signed is
// never the JSON text. Writer and Reader are not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/amount.hpp"
#include "base/bytes.hpp"
#include "base/error.hpp"
#include "base/id.hpp"
#include "crypto/purpose.hpp"

namespace ecash::crypto {

// "ECSH" then version 1: the first bytes of every signed statement.
inline constexpr std::uint8_t kStatementTag[5] = {'E', 'C', 'S', 'H', 1};
// No field of a statement may be longer than this: a cap that readers enforce.
inline constexpr std::uint32_t kMaxFieldSize = 1u << 20;

class CanonicalWriter {
 public:
  explicit CanonicalWriter(Purpose purpose);

  CanonicalWriter& u8(std::uint8_t v);
  CanonicalWriter& u16(std::uint16_t v);
  CanonicalWriter& u32(std::uint32_t v);
  CanonicalWriter& u64(std::uint64_t v);
  CanonicalWriter& i64(std::int64_t v);
  CanonicalWriter& boolean(bool v) { return u8(v ? 1 : 0); }
  // Length-prefixed.
  CanonicalWriter& bytes(ByteView v);
  CanonicalWriter& text(std::string_view v) { return bytes(as_bytes(v)); }
  // Fixed size, known to both sides: no prefix.
  CanonicalWriter& fixed(ByteView v);
  CanonicalWriter& id(const Id128& v) { return fixed(v.bytes()); }
  // Currency code (3 bytes) then minor units (i64).
  CanonicalWriter& amount(const Amount& v);

  Purpose purpose() const { return m_purpose; }
  ByteView data() const { return m_out; }

 private:
  Purpose m_purpose;
  Bytes m_out;
};

// Reads a canonical encoding back, checking every length against what is left; for statements
// that travel in binary (sealed payloads). Errors are malformed.
class CanonicalReader {
 public:
  // Checks the tag and that the purpose is the expected one.
  static Result<CanonicalReader> open(ByteView data, Purpose expected);

  Result<std::uint8_t> u8();
  Result<std::uint16_t> u16();
  Result<std::uint32_t> u32();
  Result<std::uint64_t> u64();
  Result<std::int64_t> i64();
  Result<bool> boolean();
  Result<Bytes> bytes();
  Result<std::string> text();
  Result<Bytes> fixed(std::size_t size);
  Result<Id128> id();
  Result<Amount> amount();
  // malformed unless every byte was read.
  Status finish() const;

 private:
  explicit CanonicalReader(ByteView data) : m_data(data) {}
  Result<ByteView> take(std::size_t size);

  ByteView m_data;
  std::size_t m_pos = 0;
};

}  // namespace ecash::crypto
