#include "pki/certificate.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>

#include "crypto/encoding.hpp"
#include "pki/openssl_util.hpp"

namespace ecash::pki {

using namespace detail;

namespace {

constexpr std::array<std::string_view, 8> kRoleNames = {"wallet",   "shop", "center",      "bank",
                                                        "clearing", "ca",   "institution", "admin"};
// Nothing we issue comes near this; a larger input is refused before OpenSSL parses it.
constexpr std::size_t kMaxCertificateSize = 64 * 1024;

std::string common_name(const X509_NAME* name) {
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

// The DER content of our extension oid in x, or nullptr when absent.
const ASN1_OCTET_STRING* extension_data(const X509* x, const char* oid) {
  ObjectPtr object(OBJ_txt2obj(oid, 1));
  if (!object) return nullptr;
  const int index = X509_get_ext_by_OBJ(x, object.get(), -1);
  if (index < 0) return nullptr;
  return X509_EXTENSION_get_data(X509_get_ext(x, index));
}

// nullopt when absent; bad_certificate when present but not one UTF8String.
Result<std::optional<std::string>> optional_utf8_extension(const X509* x, const char* oid,
                                                           const char* what) {
  const ASN1_OCTET_STRING* data = extension_data(x, oid);
  if (data == nullptr) return std::nullopt;
  const unsigned char* p = ASN1_STRING_get0_data(data);
  Utf8Ptr value(d2i_ASN1_UTF8STRING(nullptr, &p, ASN1_STRING_length(data)));
  if (!value || p != ASN1_STRING_get0_data(data) + ASN1_STRING_length(data)) {
    return openssl_failure(ErrorCode::bad_certificate, std::string("bad ") + what);
  }
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value.get())),
                     static_cast<std::size_t>(ASN1_STRING_length(value.get())));
}

Result<std::string> utf8_extension(const X509* x, const char* oid, const char* what) {
  auto text = optional_utf8_extension(x, oid, what);
  if (!text) return std::unexpected(text.error());
  if (!*text) return fail(ErrorCode::bad_certificate, std::string("no ") + what);
  return **text;
}

// nullopt when absent; bad_certificate when present but not a 32-byte OCTET STRING.
Result<std::optional<std::array<std::uint8_t, 32>>> key_extension(const X509* x, const char* oid,
                                                                  const char* what) {
  const ASN1_OCTET_STRING* data = extension_data(x, oid);
  if (data == nullptr) return std::nullopt;
  const unsigned char* p = ASN1_STRING_get0_data(data);
  OctetsPtr value(d2i_ASN1_OCTET_STRING(nullptr, &p, ASN1_STRING_length(data)));
  if (!value || p != ASN1_STRING_get0_data(data) + ASN1_STRING_length(data) ||
      ASN1_STRING_length(value.get()) != 32) {
    take_openssl_errors();
    return fail(ErrorCode::bad_certificate, std::string("bad ") + what);
  }
  std::array<std::uint8_t, 32> out{};
  std::copy_n(ASN1_STRING_get0_data(value.get()), 32, out.begin());
  return out;
}

std::shared_ptr<X509> share(X509Ptr x) { return {x.release(), X509_free}; }

}  // namespace

std::string_view to_string(Role role) { return kRoleNames[static_cast<std::size_t>(role)]; }

Result<Role> role_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kRoleNames.size(); ++i) {
    if (kRoleNames[i] == name) return static_cast<Role>(i);
  }
  // The name comes from a certificate not yet verified: it is said in printable ASCII only, since
  // a server sends the message back as JSON text, which bytes that are no UTF-8 cannot be.
  std::string shown;
  for (const char c : name.substr(0, 20)) shown += c >= 0x20 && c < 0x7f ? c : '?';
  return fail(ErrorCode::invalid_argument, "unknown role '" + shown + "'");
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  if (pem.size() > kMaxCertificateSize) return fail(ErrorCode::bad_certificate, "too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x) return openssl_failure(ErrorCode::bad_certificate, "not a PEM certificate");
  Certificate cert(share(std::move(x)));
  if (auto ok = cert.read_fields(); !ok) return std::unexpected(ok.error());
  return cert;
}

Result<Certificate> Certificate::from_der(ByteView der) {
  if (der.size() > kMaxCertificateSize) return fail(ErrorCode::bad_certificate, "too large");
  const unsigned char* p = der.data();
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x || p != der.data() + der.size()) {
    return openssl_failure(ErrorCode::bad_certificate, "not a DER certificate");
  }
  Certificate cert(share(std::move(x)));
  if (auto ok = cert.read_fields(); !ok) return std::unexpected(ok.error());
  return cert;
}

Status Certificate::read_fields() {
  X509* x = m_x509.get();
  m_subject = common_name(X509_get_subject_name(x));
  m_issuer = common_name(X509_get_issuer_name(x));
  if (m_subject.empty() || m_issuer.empty()) {
    return fail(ErrorCode::bad_certificate, "subject and issuer need a common name");
  }
  m_serial = integer_to_hex(X509_get0_serialNumber(x));
  if (m_serial.empty()) return fail(ErrorCode::bad_certificate, "no serial number");

  EVP_PKEY* pkey = X509_get0_pubkey(x);
  std::array<std::uint8_t, 32> raw{};
  std::size_t raw_size = raw.size();
  if (pkey == nullptr || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(pkey, raw.data(), &raw_size) != 1 || raw_size != raw.size()) {
    return openssl_failure(ErrorCode::bad_certificate, "public key is not Ed25519");
  }
  m_verify_key = crypto::VerifyKey(raw);

  auto role_name = utf8_extension(x, kOidRole, "role extension");
  if (!role_name) return std::unexpected(role_name.error());
  auto role = role_from_string(*role_name);
  if (!role) return fail(ErrorCode::bad_certificate, role.error().message);
  m_role = *role;

  auto sealing = key_extension(x, kOidSealingKey, "sealing key extension");
  if (!sealing) return std::unexpected(sealing.error());
  if (!*sealing) return fail(ErrorCode::bad_certificate, "no sealing key extension");
  m_sealing_key = crypto::SealingPublicKey(**sealing);

  auto commitment = key_extension(x, kOidAccountCommitment, "account commitment extension");
  if (!commitment) return std::unexpected(commitment.error());
  m_commitment = *commitment;

  auto trading_name = optional_utf8_extension(x, kOidTradingName, "trading name extension");
  if (!trading_name) return std::unexpected(trading_name.error());
  if (*trading_name && m_role != Role::shop) {
    return fail(ErrorCode::bad_certificate, "a trading name on a certificate that is not a shop's");
  }
  m_trading_name = *trading_name;

  auto not_before = to_unix(X509_get0_notBefore(x));
  auto not_after = to_unix(X509_get0_notAfter(x));
  if (!not_before || !not_after) return fail(ErrorCode::bad_certificate, "bad validity period");
  m_not_before = *not_before;
  m_not_after = *not_after;
  m_digest = crypto::sha256(to_der());
  // OpenSSL decodes a certificate's extensions into the X509 on its first verification, and tells
  // other threads they are ready by an atomic flag inside libcrypto. Decoded here, before this
  // certificate can be shared, every verification only reads them: the X509 is complete when it
  // is published, by our own locks, which ThreadSanitizer sees (it cannot see that flag in the
  // uninstrumented library). An invalid extension still fails the verification, as before.
  ERR_set_mark();
  (void)X509_check_purpose(x, -1, 0);
  ERR_pop_to_mark();
  return {};
}

std::string Certificate::to_pem() const {
  std::call_once(m_text->once, [this] {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), m_x509.get());
    m_text->pem = bio_to_string(bio.get());
  });
  return m_text->pem;
}

Bytes Certificate::to_der() const {
  unsigned char* der = nullptr;
  const int size = i2d_X509(m_x509.get(), &der);
  Bytes out(der, der + std::max(size, 0));
  OPENSSL_free(der);
  return out;
}

std::string Certificate::fingerprint() const { return crypto::hex_encode(m_digest); }

Result<Crl> Crl::from_pem(std::string_view pem) {
  if (pem.size() > 16 * kMaxCertificateSize) return fail(ErrorCode::bad_crl, "too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return openssl_failure(ErrorCode::bad_crl, "not a PEM CRL");
  Crl out(std::shared_ptr<X509_CRL>(crl.release(), X509_CRL_free));
  if (auto ok = out.read_fields(); !ok) return std::unexpected(ok.error());
  return out;
}

Status Crl::read_fields() {
  X509_CRL* crl = m_crl.get();
  auto this_update = to_unix(X509_CRL_get0_lastUpdate(crl));
  auto next_update = to_unix(X509_CRL_get0_nextUpdate(crl));
  if (!this_update || !next_update) return fail(ErrorCode::bad_crl, "CRL needs both update times");
  m_this_update = *this_update;
  m_next_update = *next_update;
  m_revoked.clear();
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    m_revoked.push_back(integer_to_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  return {};
}

std::string Crl::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), m_crl.get());
  return bio_to_string(bio.get());
}

namespace {

ErrorCode verify_error_code(int error) {
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return ErrorCode::certificate_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return ErrorCode::certificate_not_yet_valid;
    case X509_V_ERR_CERT_REVOKED:
      return ErrorCode::certificate_revoked;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_AKID_SKID_MISMATCH:
      return ErrorCode::untrusted_issuer;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
      return ErrorCode::bad_crl;
    default:
      return ErrorCode::bad_certificate;
  }
}

}  // namespace

Status verify_certificate(const Certificate& cert, const TrustAnchor& anchor,
                          std::span<const Role> allowed_roles, UnixSeconds now) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), anchor.ca.native()) != 1 ||
      X509_STORE_add_crl(store.get(), anchor.crl.native()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.native(), nullptr) != 1) {
    return openssl_failure(ErrorCode::internal, "cannot set up certificate verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    take_openssl_errors();
    return fail(verify_error_code(error), "certificate " + cert.subject() + ": " +
                                              X509_verify_cert_error_string(error));
  }
  if (std::find(allowed_roles.begin(), allowed_roles.end(), cert.role()) == allowed_roles.end()) {
    return fail(ErrorCode::wrong_role, "certificate " + cert.subject() + " is for role " +
                                           std::string(to_string(cert.role())) +
                                           ", not allowed here");
  }
  return {};
}

crypto::Digest commit_account(std::string_view account_number, const AccountSalt& salt) {
  static constexpr std::string_view kDomain = "ecash account commitment v1";
  Bytes input(kDomain.begin(), kDomain.end());
  input.push_back(0);
  input.insert(input.end(), salt.begin(), salt.end());
  input.insert(input.end(), account_number.begin(), account_number.end());
  return crypto::sha256(input);
}

Status verify_account_commitment(const crypto::Digest& commitment, std::string_view account_number,
                                 const AccountSalt& salt) {
  if (!crypto::equal_constant_time(commitment, commit_account(account_number, salt))) {
    return fail(ErrorCode::bad_commitment, "account does not match the certificate's commitment");
  }
  return {};
}

std::string private_key_pem(const crypto::SigningKey& key) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed().data(),
                                            key.seed().size()));
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bio_to_string(bio.get());
}

}  // namespace ecash::pki
