// The certificate authority (party 6 of the patent): issues and revokes certificates and signs the
// CRL with its Ed25519 key. Holds its revocation list in memory; the CA party persists it.
// Not thread-safe: one owner issues at a time.
#pragma once

#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/id.hpp"
#include "crypto/keys.hpp"
#include "pki/certificate.hpp"

namespace ecash::pki {

struct Revocation {
  std::string serial;  // hex
  UnixSeconds when = 0;
};

class CertificateAuthority {
 public:
  // A new CA whose self-signed certificate names it `name` and is valid from now for `lifetime`.
  static Result<CertificateAuthority> create(const std::string& name, crypto::PartyKeys keys,
                                             UnixSeconds now, UnixSeconds lifetime,
                                             RandomSource& random);
  // An existing CA from its keys and certificate (conflict if they do not belong together).
  static Result<CertificateAuthority> load(crypto::PartyKeys keys, Certificate certificate,
                                           std::vector<Revocation> revoked);

  const Certificate& certificate() const { return m_certificate; }
  const crypto::PartyKeys& keys() const { return m_keys; }
  const std::vector<Revocation>& revoked() const { return m_revoked; }

  // Certifies request from not_before to not_after, under a fresh random serial.
  Result<Certificate> issue(const CertificateRequest& request, UnixSeconds not_before,
                            UnixSeconds not_after, RandomSource& random) const;
  // Adds serial to the revocation list (idempotent).
  void revoke(const std::string& serial, UnixSeconds when);
  // A CRL valid from this_update to next_update listing every revocation.
  Result<Crl> issue_crl(UnixSeconds this_update, UnixSeconds next_update) const;

 private:
  CertificateAuthority(crypto::PartyKeys keys, Certificate certificate,
                       std::vector<Revocation> revoked)
      : m_keys(std::move(keys)),
        m_certificate(std::move(certificate)),
        m_revoked(std::move(revoked)) {}

  crypto::PartyKeys m_keys;
  Certificate m_certificate;
  std::vector<Revocation> m_revoked;
};

}  // namespace ecash::pki
