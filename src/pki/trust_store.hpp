// What a party trusts, kept current: the CA certificate and its latest CRL. Thread-safe: the CRL
// may be replaced while other threads verify.
#pragma once

#include <mutex>
#include <span>

#include "pki/certificate.hpp"

namespace ecash::pki {

class TrustStore {
 public:
  explicit TrustStore(TrustAnchor anchor) : m_anchor(std::move(anchor)) {}

  TrustAnchor anchor() const {
    std::lock_guard lock(m_mutex);
    return m_anchor;
  }
  // Takes a newer CRL; bad_crl unless the CA signed it.
  Status update_crl(const Crl& crl);
  Status verify(const Certificate& cert, std::span<const Role> allowed_roles,
                UnixSeconds now) const {
    return verify_certificate(cert, anchor(), allowed_roles, now);
  }

 private:
  mutable std::mutex m_mutex;
  TrustAnchor m_anchor;
};

}  // namespace ecash::pki
