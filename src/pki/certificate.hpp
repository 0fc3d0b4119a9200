// X.509 certificates of the system's own CA (Figs 3 and 7 of the patent): the subject is a
// pseudonymous ID, never a person's name; extensions carry the party's role, its X25519 sealing key
// and a salted commitment to its account information. Certificate and Crl are immutable once made
// and safe to share between threads.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"
#include "crypto/hash.hpp"
#include "crypto/keys.hpp"

struct x509_st;      // OpenSSL's X509
struct X509_crl_st;  // OpenSSL's X509_CRL

namespace ecash::pki {

// institution: an outside institution's gateway (the card company and bank sandboxes), which only
// clearing calls.
// admin: the operator's dashboard (issue 15), which may ask the roles for their aggregate figures
// and nothing else.
enum class Role : std::uint8_t { wallet, shop, center, bank, clearing, ca, institution, admin };

std::string_view to_string(Role role);
Result<Role> role_from_string(std::string_view name);

// The private OID arc of our extensions: 2.25.<UUID> needs no registration (ITU-T X.667).
inline constexpr const char* kOidRole = "2.25.6242409774349311751201073269065002750.1";
inline constexpr const char* kOidSealingKey = "2.25.6242409774349311751201073269065002750.2";
inline constexpr const char* kOidAccountCommitment = "2.25.6242409774349311751201073269065002750.3";
// A shop's trading name (UTF-8): public, so a wallet can show whom it pays. Never on a wallet's.
inline constexpr const char* kOidTradingName = "2.25.6242409774349311751201073269065002750.4";

// What a party asks the CA to certify.
struct CertificateRequest {
  std::string subject;  // pseudonymous ID
  Role role = Role::wallet;
  crypto::VerifyKey verify_key;
  crypto::SealingPublicKey sealing_key;
  std::optional<crypto::Digest> account_commitment;
  std::optional<std::string> trading_name;  // shops only
  // Subject alternative names for TLS servers: "DNS:localhost", "IP:127.0.0.1".
  std::vector<std::string> alt_names;
};

class Certificate {
 public:
  // bad_certificate unless the text is one PEM certificate with every ecash extension.
  static Result<Certificate> from_pem(std::string_view pem);
  static Result<Certificate> from_der(ByteView der);

  std::string to_pem() const;
  Bytes to_der() const;

  const std::string& subject() const { return m_subject; }
  const std::string& issuer() const { return m_issuer; }
  // The certificate number, as lower-case hex.
  const std::string& serial() const { return m_serial; }
  Role role() const { return m_role; }
  const crypto::VerifyKey& verify_key() const { return m_verify_key; }
  const crypto::SealingPublicKey& sealing_key() const { return m_sealing_key; }
  const std::optional<crypto::Digest>& account_commitment() const { return m_commitment; }
  // The name a shop trades under, as the CA certified it (certificates before it had none).
  const std::optional<std::string>& trading_name() const { return m_trading_name; }
  UnixSeconds not_before() const { return m_not_before; }
  UnixSeconds not_after() const { return m_not_after; }
  // SHA-256 of the DER form, hex: what a person compares to pin a CA.
  std::string fingerprint() const;
  // The same digest as bytes: what caches know a certificate by.
  const crypto::Digest& digest() const { return m_digest; }

  x509_st* native() const { return m_x509.get(); }

 private:
  // The PEM text, made once on first use and shared by every copy.
  struct Text {
    std::once_flag once;
    std::string pem;
  };
  explicit Certificate(std::shared_ptr<x509_st> x509)
      : m_x509(std::move(x509)), m_text(std::make_shared<Text>()) {}
  Status read_fields();

  std::shared_ptr<x509_st> m_x509;
  std::shared_ptr<Text> m_text;
  crypto::Digest m_digest{};
  std::string m_subject;
  std::string m_issuer;
  std::string m_serial;
  Role m_role = Role::wallet;
  crypto::VerifyKey m_verify_key;
  crypto::SealingPublicKey m_sealing_key;
  std::optional<crypto::Digest> m_commitment;
  std::optional<std::string> m_trading_name;
  UnixSeconds m_not_before = 0;
  UnixSeconds m_not_after = 0;

  friend class CertificateAuthority;
};

// A certificate revocation list signed by the CA.
class Crl {
 public:
  static Result<Crl> from_pem(std::string_view pem);
  std::string to_pem() const;

  UnixSeconds this_update() const { return m_this_update; }
  UnixSeconds next_update() const { return m_next_update; }
  // Serials (hex) of the revoked certificates.
  const std::vector<std::string>& revoked() const { return m_revoked; }

  X509_crl_st* native() const { return m_crl.get(); }

 private:
  explicit Crl(std::shared_ptr<X509_crl_st> crl) : m_crl(std::move(crl)) {}
  Status read_fields();

  std::shared_ptr<X509_crl_st> m_crl;
  UnixSeconds m_this_update = 0;
  UnixSeconds m_next_update = 0;
  std::vector<std::string> m_revoked;

  friend class CertificateAuthority;
};

// What a party trusts: the CA's certificate and its latest CRL.
struct TrustAnchor {
  Certificate ca;
  Crl crl;
};

// Checks cert at time now: issued by anchor.ca (untrusted_issuer), inside its validity period
// (certificate_expired, certificate_not_yet_valid), not on the CRL (certificate_revoked; a CRL
// that does not verify or is out of date is bad_crl), and of one of the allowed roles (wrong_role).
Status verify_certificate(const Certificate& cert, const TrustAnchor& anchor,
                          std::span<const Role> allowed_roles, UnixSeconds now);

// Salted commitment to account information (card or bank account number): the certificate binds
// the account without revealing it; clearing, told the number and salt, checks it (S98).
using AccountSalt = std::array<std::uint8_t, 16>;
crypto::Digest commit_account(std::string_view account_number, const AccountSalt& salt);
// bad_commitment unless commitment was made from exactly this number and salt.
Status verify_account_commitment(const crypto::Digest& commitment, std::string_view account_number,
                                 const AccountSalt& salt);

// An Ed25519 private key as PKCS#8 PEM, for TLS libraries that read keys from files.
std::string private_key_pem(const crypto::SigningKey& key);

// OpenSSL's queued errors as one line, and the queue emptied (for the TLS layer too).
std::string take_openssl_errors();

}  // namespace ecash::pki
