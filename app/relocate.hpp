// Following an operator to a new address: an enrolled device (a wallet or a shop) is pointed at
// the URL its operator now answers at, once that is shown to be the very operator it enrolled
// with. Not thread-safe: run from one command, with nothing else using the device.
#pragma once

#include <string>

#include "base/clock.hpp"
#include "base/id.hpp"
#include "parties/common/device.hpp"

namespace ecash::app {

struct Relocation {
  std::string from;            // the operator location the device had
  std::string to;              // the one it has now
  std::string ca_fingerprint;  // of the CA found there: the pinned one
};

// Points `device` (enrolled and connected; its key file at key_file, e.g. HOME/wallet.keys or
// HOME/shop.keys) at the operator at url (https://HOST:PORT), and saves it as the device's
// "operator_location" setting, where link_device and `shop run` read it. Checked first, in order:
//   - url is https://HOST:PORT (invalid_argument): an operator's data folder is not taken;
//   - the device is enrolled and holds a pinned CA (invalid_argument: run init first);
//   - the CA certificate served at url is the pinned one, by fingerprint (untrusted_issuer,
//     naming both fingerprints): another operator is never followed;
//   - the server at url proves it is that operator's center in a TLS handshake checked against
//     the pinned CA (the fingerprint alone proves nothing: a CA certificate is public), accepts
//     this device's certificate, and serves a directory signed by the same CA (the device's view
//     of the operator, CRL included, is refreshed on the way).
// The location is saved only once every check passed (the view refreshed on the way, being the
// same operator's, is kept either way). A server that does not answer: unavailable.
Result<Relocation> relocate_device(parties::Device& device, const std::string& key_file,
                                   const std::string& url, const Clock& clock,
                                   RandomSource& random);

}  // namespace ecash::app
