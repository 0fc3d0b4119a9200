#include "crypto/canonical.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>

namespace ecash::crypto {
namespace {

TEST(Canonical, LayoutIsTagPurposeThenBigEndianFields) {
  CanonicalWriter w(Purpose::deposit_order);
  w.u16(0x0102).u32(0x03040506).text("ab").amount(Amount::parse("JPY:258").value());
  const Bytes expected = {'E', 'C', 'S', 'H', 1, 0, 10,  // tag, purpose 10 (deposit_order)
                          1, 2, 3, 4, 5, 6,               // u16, u32
                          0, 0, 0, 2, 'a', 'b',           // length-prefixed text
                          'J', 'P', 'Y', 0, 0, 0, 0, 0, 0, 1, 2};
  EXPECT_EQ(Bytes(w.data().begin(), w.data().end()), expected);
}

TEST(Canonical, ReaderReadsWhatWriterWrote) {
  const auto amount = Amount::parse("EUR:-3.07").value();
  std::array<std::uint8_t, 16> raw{};
  raw[3] = 9;
  CanonicalWriter w(Purpose::transfer);
  w.u8(7).u64(1ull << 63).i64(-5).boolean(true).bytes(Bytes{1, 2, 3}).id(Id128(raw)).amount(amount);

  auto r = CanonicalReader::open(w.data(), Purpose::transfer).value();
  EXPECT_EQ(r.u8().value(), 7);
  EXPECT_EQ(r.u64().value(), 1ull << 63);
  EXPECT_EQ(r.i64().value(), -5);
  EXPECT_EQ(r.boolean().value(), true);
  EXPECT_EQ(r.bytes().value(), (Bytes{1, 2, 3}));
  EXPECT_EQ(r.id().value(), Id128(raw));
  EXPECT_EQ(r.amount().value(), amount);
  EXPECT_TRUE(r.finish().has_value());
}

TEST(Canonical, ReaderRejectsWrongPurposeTruncationAndTrailingBytes) {
  CanonicalWriter w(Purpose::transfer);
  w.text("hello").u32(5);
  EXPECT_EQ(CanonicalReader::open(w.data(), Purpose::transfer_ack).error().code,
            ErrorCode::malformed);
  EXPECT_EQ(CanonicalReader::open(ByteView(w.data()).first(3), Purpose::transfer).error().code,
            ErrorCode::malformed);

  auto r = CanonicalReader::open(ByteView(w.data()).first(w.data().size() - 1), Purpose::transfer)
               .value();
  EXPECT_EQ(r.text().value(), "hello");
  EXPECT_EQ(r.u32().error().code, ErrorCode::malformed);

  auto whole = CanonicalReader::open(w.data(), Purpose::transfer).value();
  EXPECT_EQ(whole.text().value(), "hello");
  EXPECT_EQ(whole.finish().error().code, ErrorCode::malformed);
}

TEST(Canonical, ReaderRejectsHugeLengthAndBadBoolean) {
  CanonicalWriter w(Purpose::transfer);
  w.u32(0xffffffff);
  EXPECT_EQ(CanonicalReader::open(w.data(), Purpose::transfer)->bytes().error().code,
            ErrorCode::malformed);
  CanonicalWriter b(Purpose::transfer);
  b.u8(2);
  EXPECT_EQ(CanonicalReader::open(b.data(), Purpose::transfer)->boolean().error().code,
            ErrorCode::malformed);
  CanonicalWriter a(Purpose::transfer);
  a.fixed(as_bytes("XXX")).i64(1);
  EXPECT_EQ(CanonicalReader::open(a.data(), Purpose::transfer)->amount().error().code,
            ErrorCode::malformed);
  CanonicalWriter big(Purpose::transfer);
  big.fixed(as_bytes("EUR")).i64(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(CanonicalReader::open(big.data(), Purpose::transfer)->amount().error().code,
            ErrorCode::overflow);
}

// Two different field lists never encode the same: length prefixes make the encoding injective.
RC_GTEST_PROP(CanonicalProperty, DistinctTextPairsEncodeDistinctly,
              (std::string a1, std::string a2, std::string b1, std::string b2)) {
  RC_PRE(a1 != b1 || a2 != b2);
  CanonicalWriter a(Purpose::test_statement);
  a.text(a1).text(a2);
  CanonicalWriter b(Purpose::test_statement);
  b.text(b1).text(b2);
  RC_ASSERT(Bytes(a.data().begin(), a.data().end()) != Bytes(b.data().begin(), b.data().end()));
}

}  // namespace
}  // namespace ecash::crypto
