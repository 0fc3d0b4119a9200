#include "crypto/encoding.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace ecash::crypto {
namespace {

TEST(Base64url, KnownVectors) {
  EXPECT_EQ(base64url_encode(as_bytes("")), "");
  EXPECT_EQ(base64url_encode(as_bytes("f")), "Zg");
  EXPECT_EQ(base64url_encode(as_bytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode(Bytes{0xfb, 0xff}), "-_8");
}

TEST(Base64url, RejectsNonCanonicalText) {
  EXPECT_EQ(base64url_decode("Zg==").error().code, ErrorCode::bad_encoding);  // padding
  EXPECT_EQ(base64url_decode("Zh").error().code, ErrorCode::bad_encoding);    // stray bits
  EXPECT_EQ(base64url_decode("+/8").error().code, ErrorCode::bad_encoding);   // not URL-safe
  EXPECT_EQ(base64url_decode("Zm9v YmFy").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(base64url_decode("Z").error().code, ErrorCode::bad_encoding);
}

TEST(Hex, RoundTripAndRejects) {
  EXPECT_EQ(hex_encode(Bytes{0x00, 0xab}), "00ab");
  EXPECT_EQ(hex_decode("00ab").value(), (Bytes{0x00, 0xab}));
  EXPECT_EQ(hex_decode("0").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(hex_decode("zz").error().code, ErrorCode::bad_encoding);
}

RC_GTEST_PROP(Base64urlProperty, RoundTrips, (std::vector<std::uint8_t> data)) {
  RC_ASSERT(base64url_decode(base64url_encode(data)).value() == data);
}

}  // namespace
}  // namespace ecash::crypto
