#include "crypto/hash.hpp"

#include <gtest/gtest.h>

#include "crypto/encoding.hpp"

namespace ecash::crypto {
namespace {

// RFC 4231, test case 2.
TEST(Hash, HmacSha256MatchesTheRfc) {
  EXPECT_EQ(hex_encode(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hash, KnownVectors) {
  EXPECT_EQ(hex_encode(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // BLAKE2b-256 of the empty string (RFC 7693 parameters, 32-byte output).
  EXPECT_EQ(hex_encode(blake2b_256(as_bytes(""))),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST(Hash, KeyedHashDependsOnKey) {
  const Bytes k1(32, 1), k2(32, 2);
  EXPECT_NE(blake2b_256_keyed(k1, as_bytes("x")), blake2b_256_keyed(k2, as_bytes("x")));
  EXPECT_NE(blake2b_256_keyed(k1, as_bytes("x")), blake2b_256(as_bytes("x")));
}

TEST(Hash, ConstantTimeEquality) {
  EXPECT_TRUE(equal_constant_time(as_bytes("abc"), as_bytes("abc")));
  EXPECT_FALSE(equal_constant_time(as_bytes("abc"), as_bytes("abd")));
  EXPECT_FALSE(equal_constant_time(as_bytes("abc"), as_bytes("ab")));
}

}  // namespace
}  // namespace ecash::crypto
