// What wallets and shops (the devices) share: a small key-value table of their own settings, the
// enrolment with the CA, and fetching the operator's directory with the CA pinned at enrolment.
// Thread-safe where the Database is.
#pragma once

#include <optional>
#include <string>

#include "base/id.hpp"
#include "parties/common/party_kit.hpp"

namespace ecash::parties {

// Every device store's migrations start with this table.
inline constexpr std::string_view kSettingsSql =
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

Result<std::optional<std::string>> get_setting(store::Transaction& tx, std::string_view key);
Status set_setting(store::Transaction& tx, std::string_view key, const std::string& value);
Status erase_setting(store::Transaction& tx, std::string_view key);
Result<std::optional<std::string>> read_setting(store::Database& db, std::string_view key);
Status write_setting(store::Database& db, std::string_view key, const std::string& value);

// Enrols keys with the CA (S11-S12 / S91-S92): the account number never leaves the device; its
// salted commitment goes into the certificate. Returns the certificate and the CA's certificate.
struct Enrolment {
  pki::Certificate certificate;
  pki::Certificate ca;
};
Result<Enrolment> enrol(protocol::Channel& ca, const crypto::PartyKeys& keys, pki::Role role,
                        const std::string& name, const std::string& address,
                        const crypto::Digest& account_commitment, const Clock& clock,
                        RandomSource& random);

// The operator's directory and CRL from the center, checked against the pinned CA certificate:
// untrusted_issuer if the operator's CA is another one.
struct OperatorView {
  Directory directory;
  pki::Crl crl;
  Currency currency;
};
Result<OperatorView> fetch_operator(protocol::Channel& center, const pki::Certificate& pinned_ca,
                                    const Clock& clock);

// Seals an account number and its commitment salt to the clearing house.
Bytes seal_account(const crypto::SealingPublicKey& clearing, const std::string& number,
                   const pki::AccountSalt& salt);

}  // namespace ecash::parties
