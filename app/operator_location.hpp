// How a device (wallet or shop) reaches its operator: over the network (https://HOST:PORT, the
// operator's front door, with mutual TLS) or, embedded, through an operator's data folder (every
// role opened in this process: for trying things out without running anything).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "base/id.hpp"
#include "local/local_operator.hpp"
#include "net/net.hpp"

namespace ecash::app {

bool is_url(const std::string& location);

// An embedded operator from its data folder (resume: finish the center's open sagas first).
Result<std::unique_ptr<local::LocalOperator>> open_operator_at(const std::string& location,
                                                               const Clock& clock,
                                                               RandomSource& random,
                                                               bool resume = true);

class OperatorLink {
 public:
  // identity: the device's certificate and key (none before enrolment); anchor: the CA the device
  // pinned (for a URL; a data folder needs none).
  static Result<std::unique_ptr<OperatorLink>> open(const std::string& location,
                                                    const std::optional<net::TlsIdentity>& identity,
                                                    const std::optional<pki::TrustAnchor>& anchor,
                                                    const Clock& clock, RandomSource& random);
  protocol::Channel& ca() { return *m_ca; }
  protocol::Channel& center() { return *m_center; }
  // The embedded operator, or null over the network.
  local::LocalOperator* local() { return m_local.get(); }

 private:
  std::unique_ptr<local::LocalOperator> m_local;
  std::unique_ptr<pki::TrustStore> m_trust;
  std::unique_ptr<protocol::Channel> m_ca;
  std::unique_ptr<protocol::Channel> m_center;
};

// Trust on first use: the operator's CA, fetched from url, checked against `expected` (a
// fingerprint) when given; `say` tells the user which fingerprint was trusted and how.
Result<pki::TrustAnchor> fetch_operator_ca(const std::string& url, const std::string& expected,
                                           const std::function<void(const std::string&)>& say);

// What enrolling differs in between a wallet and a shop.
struct DeviceEnrolment {
  std::string key_file;
  // Run on an embedded operator before enrolling (its sandbox opens the card or account).
  std::function<void(local::LocalOperator&)> prepare;
  std::function<Status(protocol::Channel& ca)> enrol;
  std::function<Status(const std::string& location)> save_location;
  std::function<const pki::Certificate*()> certificate;
  std::function<Status(protocol::Channel& center)> connect;
  std::function<std::optional<pki::TrustAnchor>()> pinned;
};
// Enrols a device with the operator at location: for a URL, its CA is fetched and pinned first
// (checked against ca_fingerprint when given); then the device enrols, keeps the location, and
// connects with its new certificate. The link it connected through, for what follows.
Result<std::unique_ptr<OperatorLink>> enrol_device(const std::string& location,
                                                   const std::string& ca_fingerprint,
                                                   const std::function<void(const std::string&)>& say,
                                                   const DeviceEnrolment& device, const Clock& clock,
                                                   RandomSource& random);

// The device's TLS identity from its key file, once enrolled.
Result<std::optional<net::TlsIdentity>> identity_of(const std::string& key_file,
                                                    const pki::Certificate* certificate);

// The link an enrolled device (a wallet::Wallet or shop::Shop) uses for its online commands: to
// the operator it enrolled with, showing its certificate and checking the CA it pinned. Its view
// of the operator (directory and CRL) is fetched again when over an hour old.
template <class Device>
Result<std::unique_ptr<OperatorLink>> link_device(Device& device, const std::string& key_file,
                                                  const char* kind, const Clock& clock,
                                                  RandomSource& random) {
  auto location = device.setting("operator_location");
  if (!location) return std::unexpected(location.error());
  if (!*location) return fail(ErrorCode::invalid_argument, std::string("run `ecash ") + kind + " init` first");
  auto identity = identity_of(key_file, device.certificate());
  if (!identity) return std::unexpected(identity.error());
  auto link = OperatorLink::open(**location, *identity, device.trust_anchor(), clock, random);
  if (!link) return std::unexpected(link.error());
  const auto held = device.trust_anchor();
  // Over an hour old, or dated ahead of the clock (a clock that ran ahead, put right): fetched
  // again.
  const auto now = clock.now();
  if (held && (held->crl.this_update() + 3600 < now ||
               held->crl.this_update() > now + pki::TrustStore::kClockTolerance)) {
    if (auto ok = device.connect((*link)->center()); !ok) return std::unexpected(ok.error());
  }
  return link;
}

}  // namespace ecash::app
