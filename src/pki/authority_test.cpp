#include "pki/authority.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "crypto/random.hpp"

namespace ecash::pki {
namespace {

constexpr UnixSeconds kNow = 1'800'000'000;  // 2027-01-15
constexpr UnixSeconds kDay = 86'400;
constexpr std::array kWalletOnly = {Role::wallet};

class AuthorityTest : public ::testing::Test {
 protected:
  static CertificateAuthority make_ca(const std::string& name) {
    crypto::SecureRandom random;
    return CertificateAuthority::create(name, crypto::PartyKeys::generate(), kNow - kDay,
                                        3650 * kDay, random)
        .value();
  }

  Certificate issue(const CertificateAuthority& ca, Role role, UnixSeconds from, UnixSeconds to) {
    return ca.issue(request(role), from, to, m_random).value();
  }

  CertificateRequest request(Role role) {
    return {.subject = "dev-" + std::string(to_string(role)),
            .role = role,
            .verify_key = m_keys.signing.verify_key(),
            .sealing_key = m_keys.sealing.public_key(),
            .account_commitment = commit_account("4111111111111111", m_salt)};
  }

  TrustAnchor anchor(const CertificateAuthority& ca) const {
    return {ca.certificate(), ca.issue_crl(kNow - kDay, kNow + 7 * kDay).value()};
  }

  crypto::SecureRandom m_random;
  crypto::PartyKeys m_keys = crypto::PartyKeys::generate();
  AccountSalt m_salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  CertificateAuthority m_ca = make_ca("ecash test CA");
};

TEST_F(AuthorityTest, IssuedCertificateCarriesEveryField) {
  const auto cert = issue(m_ca, Role::wallet, kNow, kNow + 365 * kDay);
  EXPECT_EQ(cert.subject(), "dev-wallet");
  EXPECT_EQ(cert.issuer(), "ecash test CA");
  EXPECT_EQ(cert.role(), Role::wallet);
  EXPECT_EQ(cert.verify_key(), m_keys.signing.verify_key());
  EXPECT_EQ(cert.sealing_key(), m_keys.sealing.public_key());
  ASSERT_TRUE(cert.account_commitment().has_value());
  EXPECT_EQ(*cert.account_commitment(), commit_account("4111111111111111", m_salt));
  EXPECT_EQ(cert.not_before(), kNow);
  EXPECT_EQ(cert.not_after(), kNow + 365 * kDay);
  EXPECT_EQ(cert.serial().size(), 32u);
  EXPECT_NE(cert.serial(), issue(m_ca, Role::wallet, kNow, kNow + kDay).serial());
  EXPECT_EQ(m_ca.certificate().role(), Role::ca);
}

// A shop's certificate carries the name it trades under (public: wallets show whom they pay); a
// wallet's never does, and one that did would not be taken.
TEST_F(AuthorityTest, OnlyAShopCertificateCarriesATradingName) {
  auto shop = request(Role::shop);
  shop.trading_name = "Corner Café";
  const auto cert = m_ca.issue(shop, kNow, kNow + kDay, m_random).value();
  const auto read = Certificate::from_pem(cert.to_pem()).value();
  ASSERT_TRUE(read.trading_name().has_value());
  EXPECT_EQ(*read.trading_name(), "Corner Café");
  EXPECT_FALSE(issue(m_ca, Role::shop, kNow, kNow + kDay).trading_name().has_value());
  EXPECT_FALSE(issue(m_ca, Role::wallet, kNow, kNow + kDay).trading_name().has_value());
  auto wallet = request(Role::wallet);
  wallet.trading_name = "Alice";
  EXPECT_EQ(m_ca.issue(wallet, kNow, kNow + kDay, m_random).error().code, ErrorCode::invalid_argument);
}

TEST_F(AuthorityTest, PemAndDerRoundTrip) {
  const auto cert = issue(m_ca, Role::shop, kNow, kNow + kDay);
  const auto from_pem = Certificate::from_pem(cert.to_pem()).value();
  const auto from_der = Certificate::from_der(cert.to_der()).value();
  EXPECT_EQ(from_pem.to_der(), cert.to_der());
  EXPECT_EQ(from_der.serial(), cert.serial());
  EXPECT_EQ(from_pem.fingerprint(), cert.fingerprint());
  EXPECT_EQ(cert.fingerprint().size(), 64u);
}

TEST_F(AuthorityTest, ValidCertificateVerifies) {
  const auto cert = issue(m_ca, Role::wallet, kNow - kDay, kNow + kDay);
  auto ok = verify_certificate(cert, anchor(m_ca), kWalletOnly, kNow);
  EXPECT_TRUE(ok.has_value()) << ok.error().to_string();
}

// A certificate is shared between threads as it is (the trust store hands the one it parsed to
// every handshake that shows it): new, and verified by several threads at once, it passes for
// each. Under ThreadSanitizer this also checks that OpenSSL is handed a complete X509 (its
// extensions were decoded lazily by whichever thread came first).
TEST_F(AuthorityTest, ThreadsVerifyOneNewCertificateAtOnce) {
  const auto ca = make_ca("ecash test CA");
  const auto trusted = anchor(ca);
  constexpr int kThreads = 4;
  for (int round = 0; round < 20; ++round) {
    const auto cert = issue(ca, Role::wallet, kNow - kDay, kNow + kDay);
    std::atomic<int> ready{0}, passed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        ++ready;
        while (ready < kThreads) std::this_thread::yield();  // all at once
        if (verify_certificate(cert, trusted, kWalletOnly, kNow)) ++passed;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(passed, kThreads) << "round " << round;
  }
}

TEST_F(AuthorityTest, CertificateFromAnotherCaIsUntrusted) {
  // Same name, different key: only the signature tells them apart.
  const auto impostor = make_ca("ecash test CA");
  const auto cert = issue(impostor, Role::wallet, kNow - kDay, kNow + kDay);
  EXPECT_EQ(verify_certificate(cert, anchor(m_ca), kWalletOnly, kNow).error().code,
            ErrorCode::untrusted_issuer);
  const auto other = make_ca("other CA");
  EXPECT_EQ(verify_certificate(issue(other, Role::wallet, kNow - kDay, kNow + kDay), anchor(m_ca),
                               kWalletOnly, kNow)
                .error()
                .code,
            ErrorCode::untrusted_issuer);
}

TEST_F(AuthorityTest, ExpiredAndNotYetValidAreRejected) {
  const auto cert = issue(m_ca, Role::wallet, kNow - 10 * kDay, kNow - kDay);
  EXPECT_EQ(verify_certificate(cert, anchor(m_ca), kWalletOnly, kNow).error().code,
            ErrorCode::certificate_expired);
  const auto future = issue(m_ca, Role::wallet, kNow + kDay, kNow + 10 * kDay);
  EXPECT_EQ(verify_certificate(future, anchor(m_ca), kWalletOnly, kNow).error().code,
            ErrorCode::certificate_not_yet_valid);
}

TEST_F(AuthorityTest, RevokedIsRejected) {
  const auto cert = issue(m_ca, Role::wallet, kNow - kDay, kNow + kDay);
  const auto kept = issue(m_ca, Role::wallet, kNow - kDay, kNow + kDay);
  m_ca.revoke(cert.serial(), kNow);
  m_ca.revoke(cert.serial(), kNow);  // idempotent
  const auto trust = anchor(m_ca);
  ASSERT_EQ(trust.crl.revoked().size(), 1u);
  EXPECT_EQ(trust.crl.revoked()[0], cert.serial());
  EXPECT_EQ(verify_certificate(cert, trust, kWalletOnly, kNow).error().code,
            ErrorCode::certificate_revoked);
  EXPECT_TRUE(verify_certificate(kept, trust, kWalletOnly, kNow).has_value());
}

TEST_F(AuthorityTest, WrongRoleIsRejected) {
  const auto shop = issue(m_ca, Role::shop, kNow - kDay, kNow + kDay);
  EXPECT_EQ(verify_certificate(shop, anchor(m_ca), kWalletOnly, kNow).error().code,
            ErrorCode::wrong_role);
  constexpr std::array kShops = {Role::shop, Role::center};
  EXPECT_TRUE(verify_certificate(shop, anchor(m_ca), kShops, kNow).has_value());
  EXPECT_EQ(m_ca.issue(request(Role::ca), kNow, kNow + kDay, m_random).error().code,
            ErrorCode::wrong_role);
}

TEST_F(AuthorityTest, StaleOrForeignCrlIsRejected) {
  const auto cert = issue(m_ca, Role::wallet, kNow - 30 * kDay, kNow + 30 * kDay);
  const TrustAnchor stale{m_ca.certificate(),
                          m_ca.issue_crl(kNow - 20 * kDay, kNow - 10 * kDay).value()};
  EXPECT_EQ(verify_certificate(cert, stale, kWalletOnly, kNow).error().code, ErrorCode::bad_crl);
  const auto other = make_ca("ecash test CA");
  const TrustAnchor foreign{m_ca.certificate(), other.issue_crl(kNow - kDay, kNow + kDay).value()};
  EXPECT_EQ(verify_certificate(cert, foreign, kWalletOnly, kNow).error().code,
            ErrorCode::bad_crl);
}

TEST_F(AuthorityTest, TamperedCertificateIsRejected) {
  const auto cert = issue(m_ca, Role::wallet, kNow - kDay, kNow + kDay);
  auto der = cert.to_der();
  der[der.size() - 5] ^= 0x01;  // inside the signature
  auto tampered = Certificate::from_der(der);
  ASSERT_TRUE(tampered.has_value());
  EXPECT_EQ(verify_certificate(*tampered, anchor(m_ca), kWalletOnly, kNow).error().code,
            ErrorCode::untrusted_issuer);
  EXPECT_EQ(Certificate::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .error()
                .code,
            ErrorCode::bad_certificate);
  EXPECT_EQ(Certificate::from_der(Bytes{0x30, 0x03, 0x02, 0x01}).error().code,
            ErrorCode::bad_certificate);
  der = cert.to_der();
  der.push_back(0);
  EXPECT_EQ(Certificate::from_der(der).error().code, ErrorCode::bad_certificate);
}

TEST_F(AuthorityTest, AccountCommitmentVerifiesOnlyForTheRightNumberAndSalt) {
  const auto commitment = commit_account("DE89370400440532013000", m_salt);
  EXPECT_TRUE(verify_account_commitment(commitment, "DE89370400440532013000", m_salt).has_value());
  EXPECT_EQ(verify_account_commitment(commitment, "DE89370400440532013001", m_salt).error().code,
            ErrorCode::bad_commitment);
  auto other_salt = m_salt;
  other_salt[0] ^= 1;
  EXPECT_EQ(
      verify_account_commitment(commitment, "DE89370400440532013000", other_salt).error().code,
      ErrorCode::bad_commitment);
}

TEST_F(AuthorityTest, LoadChecksKeysMatchCertificate) {
  auto reloaded = CertificateAuthority::load(
      crypto::PartyKeys{crypto::SigningKey::from_seed(m_ca.keys().signing.seed()).value(),
                        crypto::SealingKey::from_secret(m_ca.keys().sealing.secret()).value()},
      m_ca.certificate(), {});
  ASSERT_TRUE(reloaded.has_value());
  const auto cert = reloaded->issue(request(Role::wallet), kNow - kDay, kNow + kDay, m_random);
  EXPECT_TRUE(verify_certificate(cert.value(), anchor(m_ca), kWalletOnly, kNow).has_value());
  EXPECT_EQ(CertificateAuthority::load(crypto::PartyKeys::generate(), m_ca.certificate(), {})
                .error()
                .code,
            ErrorCode::conflict);
}

// The files are for people and outside tools too: openssl must read them.
std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  status = ::pclose(pipe);
  return out;
}

TEST_F(AuthorityTest, OpensslCanReadCertificateAndCrl) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ecash-pki-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto cert = issue(m_ca, Role::wallet, kNow - kDay, kNow + kDay);
  m_ca.revoke(cert.serial(), kNow);
  std::ofstream(dir / "cert.pem") << cert.to_pem();
  std::ofstream(dir / "ca.pem") << m_ca.certificate().to_pem();
  std::ofstream(dir / "crl.pem") << anchor(m_ca).crl.to_pem();
  std::ofstream(dir / "key.pem") << private_key_pem(m_keys.signing);

  int status = -1;
  auto text = run("openssl x509 -noout -text -in " + (dir / "cert.pem").string(), status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(text.find("Subject: CN = dev-wallet"), std::string::npos) << text;
  EXPECT_NE(text.find("Issuer: CN = ecash test CA"), std::string::npos);
  EXPECT_NE(text.find("ED25519"), std::string::npos);
  EXPECT_NE(text.find(kOidRole), std::string::npos);
  text = run("openssl crl -noout -text -CAfile " + (dir / "ca.pem").string() + " -in " +
                 (dir / "crl.pem").string() + " 2>&1",
             status);
  EXPECT_EQ(status, 0) << text;
  EXPECT_NE(text.find("verify OK"), std::string::npos) << text;
  // openssl's serial is upper-case hex.
  std::string upper = cert.serial();
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(text.find(upper), std::string::npos) << text;
  text = run("openssl pkey -noout -text -in " + (dir / "key.pem").string() + " 2>&1", status);
  EXPECT_EQ(status, 0) << text;
  std::filesystem::remove_all(dir);
}

// Found by fuzz/server_fuzz: a certificate's role extension holding bytes that are no UTF-8 was
// echoed into the error, which a server then could not write as JSON (nlohmann's dump throws).
TEST(RoleFromString, AnUnknownRoleIsSaidInPrintableAscii) {
  const auto role = role_from_string("wal\xb5\x99let\n");
  ASSERT_FALSE(role.has_value());
  EXPECT_EQ(role.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(role.error().message, "unknown role 'wal??let?'");
  EXPECT_EQ(role_from_string("wallet").value(), Role::wallet);
}

}  // namespace
}  // namespace ecash::pki
