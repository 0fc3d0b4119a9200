#include "operator_location.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>

#include "net/nodes.hpp"
#include "private_files.hpp"

namespace ecash::app {

bool is_url(const std::string& location) { return location.rfind("https://", 0) == 0; }

Result<std::unique_ptr<local::LocalOperator>> open_operator_at(const std::string& location,
                                                               const Clock& clock,
                                                               RandomSource& random, bool resume) {
  if (location.find("://") != std::string::npos && !is_url(location)) {
    return fail(ErrorCode::invalid_argument, "operators are reached over https://, not " + location);
  }
  if (!is_url(location) && !std::filesystem::exists(location) &&
      location.find(':') != std::string::npos) {
    return fail(ErrorCode::invalid_argument,
                "no operator folder " + location + "; for an operator on the network, give https://" + location);
  }
  if (is_url(location)) {
    return fail(ErrorCode::invalid_argument,
                "this command works on an operator's data folder, not on " + location);
  }
  // An operator embedded in a wallet's or shop's command is checked as `operator` commands check it.
  make_private(location);
  auto settings = net::read_operator_settings(location);
  if (!settings) return std::unexpected(settings.error());
  local::OpenOptions options;
  options.resume = resume;
  options.store_server = settings->store;
  return local::LocalOperator::open(location, settings->currency, clock, random, std::move(options));
}

Result<std::unique_ptr<OperatorLink>> OperatorLink::open(
    const std::string& location, const std::optional<net::TlsIdentity>& identity,
    const std::optional<pki::TrustAnchor>& anchor, const Clock& clock, RandomSource& random) {
  auto link = std::make_unique<OperatorLink>();
  if (!is_url(location)) {
    auto op = open_operator_at(location, clock, random);
    if (!op) return std::unexpected(op.error());
    link->m_local = std::move(*op);
    link->m_ca = link->m_local->to_ca("device");
    link->m_center = link->m_local->to_center("device", identity ? &identity->certificate : nullptr);
    return link;
  }
  if (!anchor) return fail(ErrorCode::invalid_argument, "no CA pinned for " + location);
  auto fresh = net::fresh_anchor(location, *anchor, clock.now());
  if (!fresh) return std::unexpected(fresh.error());
  link->m_trust = std::make_unique<pki::TrustStore>(*fresh);
  auto connection = net::connect(location, identity, {link->m_trust.get(), {pki::Role::center}}, clock);
  if (!connection) return std::unexpected(connection.error());
  link->m_ca = net::channel(*connection, "ca");
  link->m_center = net::channel(*connection, "center");
  return link;
}

Result<pki::TrustAnchor> fetch_operator_ca(const std::string& url, const std::string& expected,
                                           const std::function<void(const std::string&)>& say) {
  auto trust = net::fetch_trust_unverified(url);
  if (!trust) return std::unexpected(trust.error());
  if (!trust->contains("ca") || !(*trust)["ca"].is_string() || !trust->contains("crl") ||
      !(*trust)["crl"].is_string()) {
    return fail(ErrorCode::malformed, url + " did not answer with a CA certificate");
  }
  auto ca = pki::Certificate::from_pem((*trust)["ca"].get<std::string>());
  if (!ca) return std::unexpected(ca.error());
  auto crl = pki::Crl::from_pem((*trust)["crl"].get<std::string>());
  if (!crl) return std::unexpected(crl.error());
  if (ca->role() != pki::Role::ca) return fail(ErrorCode::wrong_role, url + " served no CA certificate");
  const auto fingerprint = ca->fingerprint();
  // As we print it, or as `openssl x509 -fingerprint -sha256` does (upper case, colons).
  std::string wanted;
  for (const char c : expected) {
    if (c != ':') wanted += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!expected.empty() && wanted.empty()) {
    return fail(ErrorCode::invalid_argument, "--ca-fingerprint '" + expected + "' is no fingerprint");
  }
  if (!wanted.empty()) {
    if (wanted != fingerprint) {
      return fail(ErrorCode::untrusted_issuer, "the CA at " + url + " has fingerprint " + fingerprint +
                                                   ", not the " + wanted + " you gave");
    }
    say("operator CA fingerprint " + fingerprint + " matches --ca-fingerprint; pinned");
  } else {
    say("trusting the operator's CA on first use: fingerprint " + fingerprint +
        " (check it with the operator; --ca-fingerprint makes this check for you)");
  }
  pki::TrustAnchor anchor{*ca, *crl};
  // The CRL must be the CA's own.
  pki::TrustStore check(anchor);
  if (auto ok = check.update_crl(*crl, SystemClock().now()); !ok) return std::unexpected(ok.error());
  return anchor;
}

Result<std::optional<net::TlsIdentity>> identity_of(const std::string& key_file,
                                                    const pki::Certificate* certificate) {
  if (certificate == nullptr) return std::optional<net::TlsIdentity>();
  auto id = net::device_identity(key_file, *certificate);
  if (!id) return std::unexpected(id.error());
  return std::optional<net::TlsIdentity>(std::move(*id));
}

Result<std::unique_ptr<OperatorLink>> enrol_device(const std::string& location,
                                                   const std::string& ca_fingerprint,
                                                   const std::function<void(const std::string&)>& say,
                                                   const DeviceEnrolment& device, const Clock& clock,
                                                   RandomSource& random) {
  if (device.certificate() != nullptr && device.pinned()) {
    return fail(ErrorCode::conflict, "this device is enrolled already");
  }
  std::optional<pki::TrustAnchor> anchor;
  if (is_url(location)) {
    auto fetched = fetch_operator_ca(location, ca_fingerprint, say);
    if (!fetched) return std::unexpected(fetched.error());
    anchor = *fetched;
  }
  // A device enrolled by an init that stopped before it connected goes on from there.
  if (device.certificate() == nullptr) {
    auto first = OperatorLink::open(location, std::nullopt, anchor, clock, random);
    if (!first) return std::unexpected(first.error());
    if (auto* op = (*first)->local()) device.prepare(*op);
    if (auto ok = device.enrol((*first)->ca()); !ok) return std::unexpected(ok.error());
  } else {
    say("enrolled already: connecting");
  }
  if (auto ok = device.save_location(location); !ok) return std::unexpected(ok.error());
  // From here on the device shows its own certificate to the operator.
  auto identity = identity_of(device.key_file, device.certificate());
  if (!identity) return std::unexpected(identity.error());
  auto link = OperatorLink::open(location, *identity, anchor, clock, random);
  if (!link) return std::unexpected(link.error());
  if (auto ok = device.connect((*link)->center()); !ok) return std::unexpected(ok.error());
  if (anchor && device.pinned()->ca.fingerprint() != anchor->ca.fingerprint()) {
    return fail(ErrorCode::untrusted_issuer, "the CA that enrolled this device is not the one pinned");
  }
  return link;
}

}  // namespace ecash::app
