// The certificate authority as a party (patent party 6): enrols wallets and shops (S11-S12,
// S91-S92), keeps the only store of personal information, revokes, and publishes its CRL.
// Thread-safe: requests are serialised by the store.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/id.hpp"
#include "crypto/at_rest.hpp"
#include "parties/common/party_kit.hpp"
#include "pki/authority.hpp"

namespace ecash::ca {

class CaParty final : public protocol::Endpoint {
 public:
  // Opens the CA in dir (ca.keys, ca.pem, ca.db and its data key ca.db.key), creating it, named
  // `name`, when new. People's names and addresses are sealed under the data key; an older
  // store's clear rows are sealed at open.
  // Its keys and files under dir; its store there too (ca.db), or, with store_server (a
  // PostgreSQL URL), in the schema "ca" on that server.
  static Result<std::unique_ptr<CaParty>> open(const std::string& dir, const std::string& name,
                                               const Clock& clock, RandomSource& random,
                                               const std::string& store_server = "");

  // Routes: "enrol" (anyone: a Signed<EnrolRequest>), "trust" (the CA certificate and CRL).
  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) override;

  // Certifies an operator role's keys (center, bank, clearing) under subject `subject`.
  Result<pki::Certificate> issue_operator(pki::Role role, const std::string& subject,
                                          const crypto::PartyKeys& keys,
                                          const std::vector<std::string>& alt_names);
  Status revoke(const std::string& serial);
  // Revokes, as a fraud case's are, every wallet certificate issued more than
  // kUnconfirmedLifetime ago whose first deposit never completed (its serial not in deposited, the
  // center's users): an enrolment nobody proved with a card expires within a day (issue 12,
  // finding 6). Returns the serials it revoked now.
  static constexpr std::int64_t kUnconfirmedLifetime = 24 * 3600;
  Result<std::vector<std::string>> revoke_unconfirmed(const std::set<std::string>& deposited);

  // Every certificate the CA issued, for its operator to look up (not a route): [{serial, role,
  // subject (a pseudonym for wallets and shops), issued, expires, revoked (when, or null)}],
  // in the order issued. No name or address: those stay in the CA's own table.
  Result<protocol::Json> certificates() const;
  // The names shops enrolled under, by certificate serial: a shop's name is the one it shows its
  // customers. A wallet's holder is never listed (only a fraud case discloses who is behind one).
  Result<std::map<std::string, std::string>> shop_names() const;

  const pki::Certificate& certificate() const { return m_authority.certificate(); }
  // A CRL issued now, valid for a week.
  Result<pki::Crl> crl() const;
  Result<pki::TrustAnchor> anchor() const;

  CaParty(pki::CertificateAuthority authority, std::unique_ptr<store::Database> db,
          crypto::AtRestKey data_key, const Clock& clock, RandomSource& random)
      : m_authority(std::move(authority)),
        m_db(std::move(db)),
        m_data_key(std::move(data_key)),
        m_clock(clock),
        m_random(random) {}

 private:
  Result<protocol::Json> enrol(const protocol::Json& body);
  Status record(store::Transaction& tx, const pki::Certificate& cert);

  mutable std::mutex m_mutex;  // guards m_authority's revocation list
  mutable pki::CertificateAuthority m_authority;  // crl() merges revocations from the store
  std::unique_ptr<store::Database> m_db;
  const crypto::AtRestKey m_data_key;
  const Clock& m_clock;
  RandomSource& m_random;
};

}  // namespace ecash::ca
