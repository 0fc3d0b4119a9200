#include "crypto/canonical.hpp"

#include <algorithm>
#include <cstring>

namespace ecash::crypto {

CanonicalWriter::CanonicalWriter(Purpose purpose) : m_purpose(purpose) {
  m_out.assign(std::begin(kStatementTag), std::end(kStatementTag));
  u16(static_cast<std::uint16_t>(purpose));
}

CanonicalWriter& CanonicalWriter::u8(std::uint8_t v) {
  m_out.push_back(v);
  return *this;
}

CanonicalWriter& CanonicalWriter::u16(std::uint16_t v) {
  m_out.push_back(static_cast<std::uint8_t>(v >> 8));
  m_out.push_back(static_cast<std::uint8_t>(v));
  return *this;
}

CanonicalWriter& CanonicalWriter::u32(std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) m_out.push_back(static_cast<std::uint8_t>(v >> shift));
  return *this;
}

CanonicalWriter& CanonicalWriter::u64(std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) m_out.push_back(static_cast<std::uint8_t>(v >> shift));
  return *this;
}

CanonicalWriter& CanonicalWriter::i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }

CanonicalWriter& CanonicalWriter::bytes(ByteView v) {
  u32(static_cast<std::uint32_t>(v.size()));
  return fixed(v);
}

CanonicalWriter& CanonicalWriter::fixed(ByteView v) {
  m_out.insert(m_out.end(), v.begin(), v.end());
  return *this;
}

CanonicalWriter& CanonicalWriter::amount(const Amount& v) {
  fixed(as_bytes(v.currency().code()));
  return i64(v.minor());
}

Result<CanonicalReader> CanonicalReader::open(ByteView data, Purpose expected) {
  CanonicalReader reader(data);
  auto tag = reader.take(sizeof kStatementTag);
  if (!tag || !std::equal(tag->begin(), tag->end(), std::begin(kStatementTag))) {
    return fail(ErrorCode::malformed, "not an ecash statement");
  }
  auto purpose = reader.u16();
  if (!purpose) return std::unexpected(purpose.error());
  if (*purpose != static_cast<std::uint16_t>(expected)) {
    return fail(ErrorCode::malformed, "statement is for another purpose");
  }
  return reader;
}

Result<ByteView> CanonicalReader::take(std::size_t size) {
  if (size > m_data.size() - m_pos) return fail(ErrorCode::malformed, "statement is truncated");
  ByteView out = m_data.subspan(m_pos, size);
  m_pos += size;
  return out;
}

namespace {
template <class T>
Result<T> read_be(Result<ByteView> raw) {
  if (!raw) return std::unexpected(raw.error());
  T v = 0;
  for (auto b : *raw) v = static_cast<T>((v << 8) | b);
  return v;
}
}  // namespace

Result<std::uint8_t> CanonicalReader::u8() { return read_be<std::uint8_t>(take(1)); }
Result<std::uint16_t> CanonicalReader::u16() { return read_be<std::uint16_t>(take(2)); }
Result<std::uint32_t> CanonicalReader::u32() { return read_be<std::uint32_t>(take(4)); }
Result<std::uint64_t> CanonicalReader::u64() { return read_be<std::uint64_t>(take(8)); }

Result<std::int64_t> CanonicalReader::i64() {
  auto v = u64();
  if (!v) return std::unexpected(v.error());
  return static_cast<std::int64_t>(*v);
}

Result<bool> CanonicalReader::boolean() {
  auto v = u8();
  if (!v) return std::unexpected(v.error());
  if (*v > 1) return fail(ErrorCode::malformed, "boolean is neither 0 nor 1");
  return *v == 1;
}

Result<Bytes> CanonicalReader::bytes() {
  auto size = u32();
  if (!size) return std::unexpected(size.error());
  if (*size > kMaxFieldSize) return fail(ErrorCode::malformed, "field too long");
  return fixed(*size);
}

Result<std::string> CanonicalReader::text() {
  auto raw = bytes();
  if (!raw) return std::unexpected(raw.error());
  return std::string(raw->begin(), raw->end());
}

Result<Bytes> CanonicalReader::fixed(std::size_t size) {
  auto raw = take(size);
  if (!raw) return std::unexpected(raw.error());
  return Bytes(raw->begin(), raw->end());
}

Result<Id128> CanonicalReader::id() {
  auto raw = take(Id128::kSize);
  if (!raw) return std::unexpected(raw.error());
  std::array<std::uint8_t, Id128::kSize> bytes{};
  std::copy(raw->begin(), raw->end(), bytes.begin());
  return Id128(bytes);
}

Result<Amount> CanonicalReader::amount() {
  auto code = take(3);
  if (!code) return std::unexpected(code.error());
  auto currency = Currency::from_code(as_text(*code));
  if (!currency) return fail(ErrorCode::malformed, currency.error().message);
  auto minor = i64();
  if (!minor) return std::unexpected(minor.error());
  return Amount::from_minor(*currency, *minor);
}

Status CanonicalReader::finish() const {
  if (m_pos != m_data.size()) return fail(ErrorCode::malformed, "trailing bytes after statement");
  return {};
}

}  // namespace ecash::crypto
