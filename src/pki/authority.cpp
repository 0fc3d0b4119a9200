#include "pki/authority.hpp"

#include <openssl/err.h>

#include <algorithm>

#include "pki/openssl_util.hpp"

namespace ecash::pki {

using namespace detail;

namespace {

Result<PkeyPtr> signing_pkey(const crypto::SigningKey& key) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed().data(),
                                            key.seed().size()));
  if (!pkey) return openssl_failure(ErrorCode::internal, "cannot load CA key");
  return pkey;
}

PkeyPtr public_pkey(const crypto::VerifyKey& key) {
  return PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.bytes().data(),
                                             key.bytes().size()));
}

Status set_time(ASN1_TIME* field, UnixSeconds t) {
  if (ASN1_TIME_set(field, static_cast<time_t>(t)) == nullptr) {
    return openssl_failure(ErrorCode::invalid_argument, "time out of range");
  }
  return {};
}

Status add_standard_extension(X509* subject, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(subject, ext.get(), -1) != 1) {
    return openssl_failure(ErrorCode::invalid_argument, "extension " + value);
  }
  return {};
}

// A non-critical private extension whose content is the DER encoding `der`.
Status add_private_extension(X509* x, const char* oid, const Bytes& der) {
  ObjectPtr object(OBJ_txt2obj(oid, 1));
  OctetsPtr data(ASN1_OCTET_STRING_new());
  if (!object || !data ||
      ASN1_OCTET_STRING_set(data.get(), der.data(), static_cast<int>(der.size())) != 1) {
    return openssl_failure(ErrorCode::internal, "extension");
  }
  ExtensionPtr ext(X509_EXTENSION_create_by_OBJ(nullptr, object.get(), 0, data.get()));
  if (!ext || X509_add_ext(x, ext.get(), -1) != 1) {
    return openssl_failure(ErrorCode::internal, "extension");
  }
  return {};
}

template <class T, int (*Encode)(const T*, unsigned char**)>
Bytes der_of(const T* value) {
  unsigned char* der = nullptr;
  const int size = Encode(value, &der);
  Bytes out(der, der + std::max(size, 0));
  OPENSSL_free(der);
  return out;
}

Bytes der_utf8(std::string_view text) {
  Utf8Ptr s(ASN1_UTF8STRING_new());
  ASN1_STRING_set(s.get(), text.data(), static_cast<int>(text.size()));
  return der_of<ASN1_UTF8STRING, i2d_ASN1_UTF8STRING>(s.get());
}

Bytes der_octets(ByteView bytes) {
  OctetsPtr s(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(s.get(), bytes.data(), static_cast<int>(bytes.size()));
  return der_of<ASN1_OCTET_STRING, i2d_ASN1_OCTET_STRING>(s.get());
}

Result<IntegerPtr> random_serial(RandomSource& random) {
  std::array<std::uint8_t, 16> bytes{};
  random.fill(bytes);
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // and always 16 bytes long, so serials print with one width
  BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  IntegerPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial) return openssl_failure(ErrorCode::internal, "serial");
  return serial;
}

Status set_name(X509_NAME* name, const std::string& common_name) {
  if (common_name.empty() || common_name.size() > 64 ||
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return openssl_failure(ErrorCode::invalid_argument,
                           "a name is 1 to 64 characters: '" + common_name.substr(0, 80) + "'");
  }
  return {};
}

// Fills in everything but the standard extensions and the signature.
Result<X509Ptr> build(const CertificateRequest& request, const X509_NAME* issuer,
                      UnixSeconds not_before, UnixSeconds not_after, RandomSource& random) {
  if (not_after <= not_before) return fail(ErrorCode::invalid_argument, "empty validity period");
  X509Ptr x(X509_new());
  auto serial = random_serial(random);
  if (!serial) return std::unexpected(serial.error());
  PkeyPtr subject_key = public_pkey(request.verify_key);
  if (!x || !subject_key || X509_set_version(x.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(x.get(), serial->get()) != 1 ||
      X509_set_pubkey(x.get(), subject_key.get()) != 1) {
    return openssl_failure(ErrorCode::internal, "cannot build certificate");
  }
  if (auto ok = set_name(X509_get_subject_name(x.get()), request.subject); !ok) {
    return std::unexpected(ok.error());
  }
  if (issuer != nullptr) {
    if (X509_set_issuer_name(x.get(), issuer) != 1) {
      return openssl_failure(ErrorCode::internal, "issuer");
    }
  } else if (X509_set_issuer_name(x.get(), X509_get_subject_name(x.get())) != 1) {
    return openssl_failure(ErrorCode::internal, "issuer");
  }
  if (auto ok = set_time(X509_getm_notBefore(x.get()), not_before); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = set_time(X509_getm_notAfter(x.get()), not_after); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = add_private_extension(x.get(), kOidRole, der_utf8(to_string(request.role))); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = add_private_extension(x.get(), kOidSealingKey,
                                      der_octets(request.sealing_key.bytes()));
      !ok) {
    return std::unexpected(ok.error());
  }
  if (request.account_commitment) {
    if (auto ok = add_private_extension(x.get(), kOidAccountCommitment,
                                        der_octets(*request.account_commitment));
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (request.trading_name) {
    if (request.role != Role::shop) {
      return fail(ErrorCode::invalid_argument, "only a shop's certificate carries a trading name");
    }
    if (auto ok = add_private_extension(x.get(), kOidTradingName, der_utf8(*request.trading_name)); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return x;
}

Result<Certificate> sign_and_parse(X509* x, EVP_PKEY* key) {
  // Ed25519 signs the whole message itself: no separate digest.
  if (X509_sign(x, key, nullptr) <= 0) return openssl_failure(ErrorCode::internal, "cannot sign");
  unsigned char* der = nullptr;
  const int size = i2d_X509(x, &der);
  if (size <= 0) return openssl_failure(ErrorCode::internal, "cannot encode");
  auto cert = Certificate::from_der(ByteView(der, static_cast<std::size_t>(size)));
  OPENSSL_free(der);
  return cert;
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::create(const std::string& name,
                                                          crypto::PartyKeys keys, UnixSeconds now,
                                                          UnixSeconds lifetime,
                                                          RandomSource& random) {
  CertificateRequest request{.subject = name,
                             .role = Role::ca,
                             .verify_key = keys.signing.verify_key(),
                             .sealing_key = keys.sealing.public_key()};
  auto x = build(request, nullptr, now, now + lifetime, random);
  if (!x) return std::unexpected(x.error());
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"}}) {
    if (auto ok = add_standard_extension(x->get(), x->get(), nid, value); !ok) {
      return std::unexpected(ok.error());
    }
  }
  auto pkey = signing_pkey(keys.signing);
  if (!pkey) return std::unexpected(pkey.error());
  auto cert = sign_and_parse(x->get(), pkey->get());
  if (!cert) return std::unexpected(cert.error());
  return CertificateAuthority(std::move(keys), std::move(*cert), {});
}

Result<CertificateAuthority> CertificateAuthority::load(crypto::PartyKeys keys,
                                                        Certificate certificate,
                                                        std::vector<Revocation> revoked) {
  if (certificate.role() != Role::ca || certificate.verify_key() != keys.signing.verify_key() ||
      certificate.sealing_key() != keys.sealing.public_key()) {
    return fail(ErrorCode::conflict, "the CA certificate does not belong to these keys");
  }
  return CertificateAuthority(std::move(keys), std::move(certificate), std::move(revoked));
}

Result<Certificate> CertificateAuthority::issue(const CertificateRequest& request,
                                                UnixSeconds not_before, UnixSeconds not_after,
                                                RandomSource& random) const {
  if (request.role == Role::ca) {
    return fail(ErrorCode::wrong_role, "the CA certifies parties, not other CAs");
  }
  X509* ca = m_certificate.native();
  auto x = build(request, X509_get_subject_name(ca), not_before, not_after, random);
  if (!x) return std::unexpected(x.error());
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth,clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  if (!request.alt_names.empty()) {
    std::string names;
    for (const auto& name : request.alt_names) {
      if (name.find(',') != std::string::npos) {
        return fail(ErrorCode::invalid_argument, "bad subject alternative name " + name);
      }
      names += (names.empty() ? "" : ",") + name;
    }
    extensions.emplace_back(NID_subject_alt_name, names);
  }
  for (const auto& [nid, value] : extensions) {
    if (auto ok = add_standard_extension(x->get(), ca, nid, value); !ok) {
      return std::unexpected(ok.error());
    }
  }
  auto pkey = signing_pkey(m_keys.signing);
  if (!pkey) return std::unexpected(pkey.error());
  return sign_and_parse(x->get(), pkey->get());
}

void CertificateAuthority::revoke(const std::string& serial, UnixSeconds when) {
  const bool known = std::any_of(m_revoked.begin(), m_revoked.end(),
                                 [&](const Revocation& r) { return r.serial == serial; });
  if (!known) m_revoked.push_back({serial, when});
}

Result<Crl> CertificateAuthority::issue_crl(UnixSeconds this_update, UnixSeconds next_update) const {
  CrlPtr crl(X509_CRL_new());
  TimePtr last(ASN1_TIME_new()), next(ASN1_TIME_new());
  if (!crl || !last || !next || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(m_certificate.native())) != 1) {
    return openssl_failure(ErrorCode::internal, "cannot build CRL");
  }
  if (auto ok = set_time(last.get(), this_update); !ok) return std::unexpected(ok.error());
  if (auto ok = set_time(next.get(), next_update); !ok) return std::unexpected(ok.error());
  X509_CRL_set1_lastUpdate(crl.get(), last.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  for (const auto& revocation : m_revoked) {
    auto serial = hex_to_integer(revocation.serial);
    if (!serial) return std::unexpected(serial.error());
    RevokedPtr entry(X509_REVOKED_new());
    TimePtr when(ASN1_TIME_new());
    if (!entry || !when || !ASN1_TIME_set(when.get(), static_cast<time_t>(revocation.when)) ||
        X509_REVOKED_set_serialNumber(entry.get(), serial->get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), when.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return openssl_failure(ErrorCode::internal, "cannot add revocation");
    }
    entry.release();  // owned by the CRL now
  }
  X509_CRL_sort(crl.get());
  auto pkey = signing_pkey(m_keys.signing);
  if (!pkey) return std::unexpected(pkey.error());
  if (X509_CRL_sign(crl.get(), pkey->get(), nullptr) <= 0) {
    return openssl_failure(ErrorCode::internal, "cannot sign CRL");
  }
  Crl out(std::shared_ptr<X509_CRL>(crl.release(), X509_CRL_free));
  if (auto ok = out.read_fields(); !ok) return std::unexpected(ok.error());
  return out;
}

}  // namespace ecash::pki
