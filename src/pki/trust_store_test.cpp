#include "pki/trust_store.hpp"

#include <gtest/gtest.h>

#include <array>

#include "crypto/random.hpp"
#include "pki/authority.hpp"

namespace ecash::pki {
namespace {

constexpr UnixSeconds kNow = 1'800'000'000;
constexpr UnixSeconds kDay = 86'400;
constexpr std::array kWallet = {Role::wallet};
constexpr std::array kShop = {Role::shop};

class TrustStoreTest : public ::testing::Test {
 protected:
  Certificate issue(UnixSeconds until) {
    const auto keys = crypto::PartyKeys::generate();
    return m_ca
        .issue({.subject = "dev", .role = Role::wallet, .verify_key = keys.signing.verify_key(),
                .sealing_key = keys.sealing.public_key(), .account_commitment = std::nullopt},
               kNow - kDay, until, m_random)
        .value();
  }
  Crl crl(UnixSeconds at) const { return m_ca.issue_crl(at, at + 7 * kDay).value(); }

  crypto::SecureRandom m_random;
  CertificateAuthority m_ca = CertificateAuthority::create("ecash test CA", crypto::PartyKeys::generate(),
                                                           kNow - 2 * kDay, 3650 * kDay, m_random)
                                  .value();
};

// The second verification of a certificate is answered from memory; its role is still checked.
TEST_F(TrustStoreTest, VerifiesOnceThenRemembers) {
  TrustStore trust({m_ca.certificate(), crl(kNow - 60)});
  const auto cert = issue(kNow + kDay);
  ASSERT_TRUE(trust.verify(cert, kWallet, kNow));
  ASSERT_TRUE(trust.verify(cert, kWallet, kNow + 1));
  EXPECT_EQ(trust.cache_counts().misses, 1u);
  EXPECT_EQ(trust.cache_counts().hits, 1u);
  EXPECT_EQ(trust.verify(cert, kShop, kNow).error().code, ErrorCode::wrong_role);
  // The PEM text is parsed once, and its certificate verified from memory.
  auto from_pem = trust.verify_pem(cert.to_pem(), kWallet, kNow);
  ASSERT_TRUE(from_pem) << from_pem.error().to_string();
  EXPECT_EQ(from_pem->digest(), cert.digest());
  EXPECT_EQ(trust.cache_counts().misses, 1u);
  auto from_der = trust.verify_der(cert.to_der(), kWallet, kNow);
  ASSERT_TRUE(from_der);
  EXPECT_EQ(from_der->serial(), cert.serial());
}

// What was remembered does not outlive what made it true: a revocation, the certificate's own
// expiry, the CRL's.
TEST_F(TrustStoreTest, ForgetsOnRevocationAndOnExpiry) {
  TrustStore trust({m_ca.certificate(), crl(kNow - 60)});
  const auto cert = issue(kNow + kDay);
  ASSERT_TRUE(trust.verify(cert, kWallet, kNow));
  EXPECT_EQ(trust.verify(cert, kWallet, kNow + 2 * kDay).error().code, ErrorCode::certificate_expired);
  const auto lasting = issue(kNow + 30 * kDay);
  ASSERT_TRUE(trust.verify(lasting, kWallet, kNow));
  EXPECT_EQ(trust.verify(lasting, kWallet, kNow + 8 * kDay).error().code, ErrorCode::bad_crl);
  m_ca.revoke(cert.serial(), kNow);
  ASSERT_TRUE(trust.update_crl(crl(kNow), kNow + 1));
  EXPECT_EQ(trust.verify(cert, kWallet, kNow + 1).error().code, ErrorCode::certificate_revoked);
  EXPECT_FALSE(trust.verify_pem(cert.to_pem(), kWallet, kNow + 1));
}

// A clock that ran eight days ahead, then was put right: the CRL issued meanwhile is dated in
// the future; a new one dated now replaces it (an older one never replaces a current one), and a
// CRL dated ahead of the clock is not taken.
TEST_F(TrustStoreTest, ACrlFromAClockThatRanAheadIsReplaced) {
  constexpr UnixSeconds kAhead = 8 * kDay;
  TrustStore trust({m_ca.certificate(), crl(kNow - 60)});
  ASSERT_TRUE(trust.update_crl(crl(kNow + kAhead), kNow + kAhead));  // taken while ahead
  EXPECT_TRUE(trust.crl_from_the_future(kNow));
  const auto cert = issue(kNow + 30 * kDay);
  EXPECT_EQ(trust.verify(cert, kWallet, kNow).error().code, ErrorCode::bad_crl);  // "not yet valid"
  EXPECT_EQ(trust.update_crl(crl(kNow + kAhead), kNow).error().code, ErrorCode::bad_crl);
  ASSERT_TRUE(trust.update_crl(crl(kNow), kNow));  // older than the one held, which was from the future
  EXPECT_FALSE(trust.crl_from_the_future(kNow));
  EXPECT_TRUE(trust.verify(cert, kWallet, kNow));
  // Without a clock anomaly, an older CRL (one from before a revocation) is refused.
  EXPECT_EQ(trust.update_crl(crl(kNow - 60), kNow).error().code, ErrorCode::bad_crl);
}

TEST_F(TrustStoreTest, MemoryIsBounded) {
  TrustStore trust({m_ca.certificate(), crl(kNow - 60)}, 2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(trust.verify_pem(issue(kNow + kDay).to_pem(), kWallet, kNow));
  const auto cert = issue(kNow + kDay);
  ASSERT_TRUE(trust.verify(cert, kWallet, kNow));
  ASSERT_TRUE(trust.verify(cert, kWallet, kNow));
  EXPECT_EQ(trust.cache_counts().hits, 1u);
  EXPECT_EQ(trust.verify_pem("not a certificate", kWallet, kNow).error().code,
            ErrorCode::bad_certificate);
}

}  // namespace
}  // namespace ecash::pki
