#include "pki/trust_store.hpp"

#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

namespace ecash::pki {

std::size_t TrustStore::DigestHash::operator()(const crypto::Digest& d) const {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // a digest's bytes are already uniform
  return h;
}

Status TrustStore::update_crl(const Crl& crl, UnixSeconds now) {
  std::lock_guard lock(m_mutex);
  EVP_PKEY* ca_key = X509_get0_pubkey(m_anchor.ca.native());
  if (ca_key == nullptr || X509_CRL_verify(crl.native(), ca_key) != 1) {
    return fail(ErrorCode::bad_crl, "CRL not signed by this CA");
  }
  if (crl.this_update() > now + kClockTolerance) {
    return fail(ErrorCode::bad_crl, "CRL is dated ahead of this party's clock");
  }
  const bool held_from_the_future = m_anchor.crl.this_update() > now + kClockTolerance;
  if (crl.this_update() < m_anchor.crl.this_update() && !held_from_the_future) {
    return fail(ErrorCode::bad_crl, "CRL is older than the one held");
  }
  m_anchor.crl = crl;
  ++m_epoch;
  m_verified.clear();
  return {};
}

bool TrustStore::crl_from_the_future(UnixSeconds now) const {
  std::lock_guard lock(m_mutex);
  return m_anchor.crl.this_update() > now + kClockTolerance;
}

Status TrustStore::verify(const Certificate& cert, std::span<const Role> allowed_roles,
                          UnixSeconds now) const {
  std::unique_lock lock(m_mutex);
  if (auto it = m_verified.find(cert.digest());
      it != m_verified.end() && it->second.epoch == m_epoch && now >= it->second.from &&
      now <= it->second.until) {
    ++m_counts.hits;
    lock.unlock();
    if (std::find(allowed_roles.begin(), allowed_roles.end(), cert.role()) == allowed_roles.end()) {
      return fail(ErrorCode::wrong_role, "certificate " + cert.subject() + " is for role " +
                                             std::string(to_string(cert.role())) +
                                             ", not allowed here");
    }
    return {};
  }
  ++m_counts.misses;
  const TrustAnchor anchor = m_anchor;
  const std::uint64_t epoch = m_epoch;
  lock.unlock();
  // Checked without the lock: other threads go on meanwhile.
  auto ok = verify_certificate(cert, anchor, allowed_roles, now);
  // A wrong role is the caller's business, not the certificate's: it still passed.
  if (!ok && ok.error().code != ErrorCode::wrong_role) return ok;
  lock.lock();
  if (epoch == m_epoch) {
    if (m_verified.size() >= m_cache_entries) m_verified.clear();
    m_verified[cert.digest()] =
        Verified{epoch, std::max(cert.not_before(), anchor.crl.this_update()),
                 std::min(cert.not_after(), anchor.crl.next_update())};
  }
  return ok;
}

template <class Parse>
Result<Certificate> TrustStore::parsed(std::string_view text, const Parse& parse) const {
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_parsed.find(std::string(text)); it != m_parsed.end()) return it->second;
  }
  auto cert = parse(text);
  if (!cert) return cert;
  std::lock_guard lock(m_mutex);
  if (m_parsed.size() >= m_cache_entries) m_parsed.clear();
  m_parsed.emplace(std::string(text), *cert);
  return cert;
}

Result<Certificate> TrustStore::parse_pem(std::string_view pem) const {
  return parsed(pem, [](std::string_view t) { return Certificate::from_pem(t); });
}

Result<Certificate> TrustStore::verify_pem(std::string_view pem, std::span<const Role> allowed_roles,
                                           UnixSeconds now) const {
  auto cert = parse_pem(pem);
  if (!cert) return cert;
  if (auto ok = verify(*cert, allowed_roles, now); !ok) return std::unexpected(ok.error());
  return cert;
}

Result<Certificate> TrustStore::verify_der(ByteView der, std::span<const Role> allowed_roles,
                                           UnixSeconds now) const {
  auto cert = parsed(as_text(der), [](std::string_view t) { return Certificate::from_der(as_bytes(t)); });
  if (!cert) return cert;
  if (auto ok = verify(*cert, allowed_roles, now); !ok) return std::unexpected(ok.error());
  return cert;
}

TrustStore::CacheCounts TrustStore::cache_counts() const {
  std::lock_guard lock(m_mutex);
  return m_counts;
}

}  // namespace ecash::pki
