#include "relocate.hpp"

#include "operator_location.hpp"

namespace ecash::app {

Result<Relocation> relocate_device(parties::Device& device, const std::string& key_file,
                                   const std::string& url, const Clock& clock,
                                   RandomSource& random) {
  if (!is_url(url)) {
    return fail(ErrorCode::invalid_argument,
                "give the operator's new address as https://HOST:PORT, not " + url);
  }
  auto from = device.setting("operator_location");
  if (!from) return std::unexpected(from.error());
  const auto pinned = device.trust_anchor();
  if (!*from || !pinned || device.certificate() == nullptr) {
    return fail(ErrorCode::invalid_argument, "this device is not enrolled: run init first");
  }
  // The CA served there, fetched as at enrolment (its CRL checked to be that CA's own).
  auto found = fetch_operator_ca(url, "", [](const std::string&) {});
  if (!found) return std::unexpected(found.error());
  const auto fingerprint = found->ca.fingerprint();
  if (fingerprint != pinned->ca.fingerprint()) {
    return fail(ErrorCode::untrusted_issuer, "the operator at " + url + " has CA fingerprint " +
                                                 fingerprint + ", not " + pinned->ca.fingerprint() +
                                                 " this device is enrolled with: not moved there");
  }
  // Proof that the server is that operator: a handshake checked against the pinned CA, and its
  // directory signed by it.
  auto identity = identity_of(key_file, device.certificate());
  if (!identity) return std::unexpected(identity.error());
  auto link = OperatorLink::open(url, *identity, pinned, clock, random);
  if (!link) return std::unexpected(link.error());
  if (auto ok = device.connect((*link)->center()); !ok) return std::unexpected(ok.error());
  if (auto ok = device.set_setting("operator_location", url); !ok)
    return std::unexpected(ok.error());
  return Relocation{**from, url, fingerprint};
}

}  // namespace ecash::app
