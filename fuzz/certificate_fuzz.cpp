// Certificate and CRL parsing from PEM and DER: no input crashes, and a certificate that parses
// re-encodes to a certificate with the same fields.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pki/certificate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ecash::ByteView bytes(data, size);
  for (auto cert : {ecash::pki::Certificate::from_der(bytes),
                    ecash::pki::Certificate::from_pem(ecash::as_text(bytes))}) {
    if (!cert) continue;
    auto again = ecash::pki::Certificate::from_der(cert->to_der());
    if (!again || again->serial() != cert->serial() || again->role() != cert->role() ||
        again->subject() != cert->subject() || again->verify_key() != cert->verify_key() ||
        again->sealing_key() != cert->sealing_key()) {
      std::abort();
    }
  }
  (void)ecash::pki::Crl::from_pem(ecash::as_text(bytes));
  return 0;
}
