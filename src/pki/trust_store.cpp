#include "pki/trust_store.hpp"

#include <openssl/x509.h>

namespace ecash::pki {

Status TrustStore::update_crl(const Crl& crl) {
  std::lock_guard lock(m_mutex);
  EVP_PKEY* ca_key = X509_get0_pubkey(m_anchor.ca.native());
  if (ca_key == nullptr || X509_CRL_verify(crl.native(), ca_key) != 1) {
    return fail(ErrorCode::bad_crl, "CRL not signed by this CA");
  }
  if (crl.this_update() < m_anchor.crl.this_update()) {
    return fail(ErrorCode::bad_crl, "CRL is older than the one held");
  }
  m_anchor.crl = crl;
  return {};
}

}  // namespace ecash::pki
