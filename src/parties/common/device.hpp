// What wallets and shops (the devices) share: a small key-value table of their own settings, the
// enrolment with the CA, fetching the operator's directory with the CA pinned at enrolment, and
// the Device both are built on. Thread-safe where the Database is, except DeviceState and Device.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "base/amount.hpp"
#include "base/id.hpp"
#include "crypto/at_rest.hpp"
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

// A device's enrolment and its view of the operator, kept in its settings table: what wallets
// and shops hold alike. Once connected, connecting again (a refresh) only brings the CRL in the
// trust store up to date, which is safe while other threads read the view and verify; load, enrol
// and the first connect are not thread-safe.
class DeviceState {
 public:
  // The key that seals the account number in the store (crypto/at_rest.hpp), set before load.
  void set_data_key(std::shared_ptr<const crypto::AtRestKey> key) { m_data_key = std::move(key); }
  // Reads what earlier runs saved; an account number an older version kept in clear is sealed.
  Status load(store::Database& db);
  // Enrols keys with the CA, committing to account_number, and saves the certificate, the CA's
  // certificate (pinned from now on), the account number (sealed) and its salt.
  Status enrol(store::Database& db, protocol::Channel& ca, const crypto::PartyKeys& keys,
               pki::Role role, const std::string& name, const std::string& address,
               const std::string& account_number, const Clock& clock, RandomSource& random);
  // Fetches and saves the operator's directory and CRL (checked against the pinned CA). A later
  // call takes a newer CRL; conflict if the operator's certificates or currency changed.
  Status connect(store::Database& db, protocol::Channel& center, const Clock& clock);
  // invalid_argument until enrolled and connected.
  Status ready() const;
  // The certificate in body[field], checked against the pinned CA and the latest CRL this device
  // holds. Offline, that CRL may have passed its next update: a device that cannot fetch a newer
  // one judges revocation by the one it has (still checking the certificate's own expiry now).
  Result<pki::Certificate> peer_certificate(const protocol::Json& body, const char* field,
                                            pki::Role role, UnixSeconds now) const;
  // The account number and salt saved at enrolment.
  Result<std::pair<std::string, pki::AccountSalt>> account(store::Database& db) const;

  const std::optional<pki::Certificate>& certificate() const { return m_certificate; }
  const OperatorView& view() const { return *m_view; }
  const Directory& directory() const { return m_view->directory; }
  const pki::TrustStore& trust() const { return *m_trust; }

 private:
  std::optional<pki::Certificate> m_certificate;
  std::optional<pki::Certificate> m_ca;
  std::optional<OperatorView> m_view;
  std::unique_ptr<pki::TrustStore> m_trust;
  std::shared_ptr<const crypto::AtRestKey> m_data_key;
};

// A wallet or a shop: its home folder, keys, store, clock and randomness, its enrolment and view of
// the operator, and what the command line asks of either. Its state changes in load, enrol and
// connect; beyond that it is as thread-safe as the device built on it says.
class Device {
 public:
  Device(std::string home, crypto::PartyKeys keys, std::unique_ptr<store::Database> db,
         const Clock& clock, RandomSource& random);
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Fetches the operator's directory and CRL from the center (CA pinned at enrolment).
  virtual Status connect(protocol::Channel& center);

  // This device's certificate, once enrolled.
  const pki::Certificate* certificate() const;
  // The pinned CA and the latest CRL this device holds (for checking servers), once connected.
  std::optional<pki::TrustAnchor> trust_anchor() const;
  // The operator's currency, once connected.
  std::optional<Currency> currency() const;
  // This device's keys (for its own TLS identity).
  const crypto::PartyKeys& keys() const { return m_keys; }
  // A setting of the device's own (for the command line: where its operator is).
  Result<std::optional<std::string>> setting(std::string_view key);
  Status set_setting(std::string_view key, const std::string& value);

 protected:
  // Opens the device D whose files are home/<name>.keys (created when new), home/<name>.db and
  // its data key home/<name>.db.key, and loads what earlier runs saved. An empty home is a device held in memory only (new keys,
  // an in-memory store): a stand-in for a device, as the load generator makes thousands of.
  template <class D>
  static Result<std::unique_ptr<D>> open_device(const std::string& home, const std::string& name,
                                                std::span<const store::Migration> migrations,
                                                const Clock& clock, RandomSource& random);
  // Reads what earlier runs saved; a device that saves more reads it in its override, after this.
  virtual Status load();
  // Enrols this device's keys with the CA as role (see DeviceState::enrol).
  Status enrol_as(pki::Role role, protocol::Channel& ca, const std::string& name,
                  const std::string& address, const std::string& account_number);
  // The ID saved under key ("user_id", "shop_id") into id, when there is one; malformed when
  // damaged (what names it in the message).
  Status load_id(std::string_view key, const char* what, std::optional<Id128>& id);
  // currency_mismatch unless amount is in the operator's currency (once connected).
  Status check_currency(const Amount& amount) const;

  std::string m_home;
  crypto::PartyKeys m_keys;
  std::unique_ptr<store::Database> m_db;
  const Clock& m_clock;
  RandomSource& m_random;
  DeviceState m_device;

 private:
  struct Files {
    crypto::PartyKeys keys;
    std::unique_ptr<store::Database> db;
    std::shared_ptr<const crypto::AtRestKey> data_key;
  };
  static Result<Files> open_files(const std::string& home, const std::string& name,
                                  std::span<const store::Migration> migrations);
};

template <class D>
Result<std::unique_ptr<D>> Device::open_device(const std::string& home, const std::string& name,
                                               std::span<const store::Migration> migrations,
                                               const Clock& clock, RandomSource& random) {
  auto files = open_files(home, name, migrations);
  if (!files) return std::unexpected(files.error());
  auto device =
      std::make_unique<D>(home, std::move(files->keys), std::move(files->db), clock, random);
  // Through the base, so that D's own load (private there) runs by the virtual call.
  auto& base = static_cast<Device&>(*device);
  base.m_device.set_data_key(std::move(files->data_key));
  if (auto ok = base.load(); !ok) return std::unexpected(ok.error());
  return device;
}

// Seals an account number and its commitment salt to the clearing house, with extra fields for
// it alone beside them (a card's expiry and CVC, or the one-time code its holder was sent).
Bytes seal_account(const crypto::SealingPublicKey& clearing, const std::string& number,
                   const pki::AccountSalt& salt);
Bytes seal_account(const crypto::SealingPublicKey& clearing, const std::string& number,
                   const pki::AccountSalt& salt, const protocol::Json& extra);

}  // namespace ecash::parties
