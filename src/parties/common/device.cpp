#include "parties/common/device.hpp"

#include <array>
#include <filesystem>

#include "crypto/encoding.hpp"
#include "protocol/statements.hpp"
#include "store/data_key.hpp"

namespace ecash::parties {

using protocol::Json;

Result<std::optional<std::string>> get_setting(store::Transaction& tx, std::string_view key) {
  auto row = tx.query_one("SELECT value FROM settings WHERE key = ?", {std::string(key)});
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  auto value = store::text_at(**row, 0);
  if (!value) return std::unexpected(value.error());
  return std::optional<std::string>(*value);
}

Status set_setting(store::Transaction& tx, std::string_view key, const std::string& value) {
  auto n = tx.exec(
      "INSERT INTO settings (key, value) VALUES (?, ?) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      {std::string(key), value});
  if (!n) return std::unexpected(n.error());
  return {};
}

Status erase_setting(store::Transaction& tx, std::string_view key) {
  auto n = tx.exec("DELETE FROM settings WHERE key = ?", {std::string(key)});
  if (!n) return std::unexpected(n.error());
  return {};
}

Result<std::optional<std::string>> read_setting(store::Database& db, std::string_view key) {
  std::optional<std::string> out;
  auto done = db.read([&](store::Transaction& tx) -> Status {
    auto v = get_setting(tx, key);
    if (!v) return std::unexpected(v.error());
    out = *v;
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return out;
}

Status write_setting(store::Database& db, std::string_view key, const std::string& value) {
  return db.transact([&](store::Transaction& tx) { return set_setting(tx, key, value); });
}

Result<Enrolment> enrol(protocol::Channel& ca, const crypto::PartyKeys& keys, pki::Role role,
                        const std::string& name, const std::string& address,
                        const crypto::Digest& account_commitment, const Clock& clock,
                        RandomSource& random) {
  const auto request = protocol::sign(
      keys.signing, protocol::EnrolRequest{.request_id = Id128::random(random),
                                           .timestamp = clock.now(),
                                           .role = std::string(pki::to_string(role)),
                                           .name = name,
                                           .address = address,
                                           .verify_key = keys.signing.verify_key(),
                                           .sealing_key = keys.sealing.public_key(),
                                           .account_commitment = account_commitment});
  auto answer = ca.call("enrol", request.to_json());
  if (!answer) return std::unexpected(answer.error());
  protocol::FieldReader r(*answer, "enrolment");
  auto cert = pki::Certificate::from_pem(r.text("certificate"));
  auto ca_cert = pki::Certificate::from_pem(r.text("ca"));
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  if (!cert) return std::unexpected(cert.error());
  if (!ca_cert) return std::unexpected(ca_cert.error());
  // The CA must have certified exactly what was asked.
  if (cert->verify_key() != keys.signing.verify_key() ||
      cert->sealing_key() != keys.sealing.public_key() || cert->role() != role ||
      cert->account_commitment() != account_commitment) {
    return fail(ErrorCode::bad_certificate, "the CA's certificate does not match the request");
  }
  return Enrolment{*cert, *ca_cert};
}

Result<OperatorView> fetch_operator(protocol::Channel& center, const pki::Certificate& pinned_ca,
                                    const Clock& clock) {
  auto answer = center.call("directory", Json::object());
  if (!answer) return std::unexpected(answer.error());
  protocol::FieldReader r(*answer, "directory answer");
  const Json& dir = r.object("directory");
  const auto crl_pem = r.text("crl");
  const auto currency_code = r.text("currency");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  auto directory = Directory::from_json(dir);
  if (!directory) return std::unexpected(directory.error());
  auto crl = pki::Crl::from_pem(crl_pem);
  if (!crl) return std::unexpected(crl.error());
  auto currency = Currency::from_code(currency_code);
  if (!currency) return std::unexpected(currency.error());
  if (directory->ca.to_der() != pinned_ca.to_der()) {
    return fail(ErrorCode::untrusted_issuer, "the operator's CA is not the one this device trusts");
  }
  const pki::TrustAnchor anchor{pinned_ca, *crl};
  const auto now = clock.now();
  for (const auto& [cert, role] : {std::pair{&directory->center, pki::Role::center},
                                   std::pair{&directory->bank, pki::Role::bank},
                                   std::pair{&directory->clearing, pki::Role::clearing}}) {
    const std::array roles = {role};
    if (auto ok = pki::verify_certificate(*cert, anchor, roles, now); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return OperatorView{std::move(*directory), *crl, *currency};
}

namespace {

// The account number's place in the settings, sealed under the device's data key; and its
// commitment salt's, sealed too: with the salt, the commitment every certificate carries would
// give the number up to a search of every card number.
constexpr std::string_view kAccountColumn = "settings.account";
constexpr std::string_view kSaltColumn = "settings.salt";

}  // namespace

Status DeviceState::load(store::Database& db) {
  if (!m_data_key) return fail(ErrorCode::internal, "the device's data key is not set");
  // An older version kept the account number and its salt in clear: sealed now, and the file
  // rewritten without the clear bytes.
  bool sealed_now = false;
  auto sealed = db.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [key, column] : {std::pair{"account", kAccountColumn}, {"salt", kSaltColumn}}) {
      auto value = get_setting(tx, key);
      if (!value) return std::unexpected(value.error());
      if (!*value || crypto::AtRestKey::is_sealed(**value)) continue;
      sealed_now = true;
      if (auto ok = set_setting(tx, key, m_data_key->seal(**value, column)); !ok) return ok;
    }
    return {};
  });
  if (!sealed) return sealed;
  if (sealed_now) {
    if (auto ok = db.compact(); !ok) return ok;
  }
  auto cert = read_setting(db, "certificate");
  auto ca = read_setting(db, "ca");
  auto view = read_setting(db, "operator");
  if (!cert || !ca || !view) return fail(ErrorCode::io_error, "cannot read the device's store");
  if (*cert) {
    auto parsed = pki::Certificate::from_pem(**cert);
    if (!parsed) return std::unexpected(parsed.error());
    m_certificate = *parsed;
  }
  if (*ca) {
    auto parsed = pki::Certificate::from_pem(**ca);
    if (!parsed) return std::unexpected(parsed.error());
    m_ca = *parsed;
  }
  if (*view && m_ca) {
    const Json j = Json::parse(**view, nullptr, false);
    if (j.is_discarded() || !j.contains("directory")) {
      return fail(ErrorCode::malformed, "damaged operator settings");
    }
    protocol::FieldReader r(j, "operator settings");
    const auto crl_pem = r.text("crl");
    const auto currency_code = r.text("currency");
    if (auto ok = r.status(); !ok) return ok;
    auto dir = Directory::from_json(j["directory"]);
    auto crl = pki::Crl::from_pem(crl_pem);
    auto currency = Currency::from_code(currency_code);
    if (!dir || !crl || !currency) return fail(ErrorCode::malformed, "damaged operator settings");
    m_view = OperatorView{*dir, *crl, *currency};
    m_trust = std::make_unique<pki::TrustStore>(pki::TrustAnchor{*m_ca, *crl});
  }
  return {};
}

Status DeviceState::enrol(store::Database& db, protocol::Channel& ca, const crypto::PartyKeys& keys,
                          pki::Role role, const std::string& name, const std::string& address,
                          const std::string& account_number, const Clock& clock,
                          RandomSource& random) {
  if (m_certificate) return fail(ErrorCode::conflict, "this device is enrolled already");
  pki::AccountSalt salt{};
  random.fill(salt);
  auto enrolment = parties::enrol(ca, keys, role, name, address,
                                  pki::commit_account(account_number, salt), clock, random);
  if (!enrolment) return std::unexpected(enrolment.error());
  auto saved = db.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"certificate", enrolment->certificate.to_pem()},
          {"ca", enrolment->ca.to_pem()},
          {"account", m_data_key->seal(account_number, kAccountColumn)},
          {"salt", m_data_key->seal(crypto::base64url_encode(salt), kSaltColumn)}}) {
      if (auto ok = set_setting(tx, key, value); !ok) return ok;
    }
    return {};
  });
  if (!saved) return saved;
  m_certificate = enrolment->certificate;
  m_ca = enrolment->ca;
  return {};
}

Status DeviceState::connect(store::Database& db, protocol::Channel& center, const Clock& clock) {
  if (!m_ca) return fail(ErrorCode::invalid_argument, "enrol with the CA first");
  auto view = fetch_operator(center, *m_ca, clock);
  if (!view) return std::unexpected(view.error());
  const Json saved = {{"directory", view->directory.to_json()},
                      {"crl", view->crl.to_pem()},
                      {"currency", std::string(view->currency.code())}};
  if (m_view && m_trust) {
    // Connected before, and maybe serving: the view stays as it is (requests may be reading it);
    // only the CRL, which the trust store takes while others verify, is brought up to date.
    const auto same = [](const pki::Certificate& a, const pki::Certificate& b) {
      return a.fingerprint() == b.fingerprint();
    };
    const auto& d = m_view->directory;
    if (!same(d.ca, view->directory.ca) || !same(d.center, view->directory.center) ||
        !same(d.bank, view->directory.bank) || !same(d.clearing, view->directory.clearing) ||
        m_view->currency != view->currency) {
      return fail(ErrorCode::conflict,
                  "the operator's certificates or currency changed: restart to take them");
    }
    if (view->crl.this_update() > m_trust->anchor().crl.this_update() ||
        m_trust->crl_from_the_future(clock.now())) {
      if (auto ok = m_trust->update_crl(view->crl, clock.now()); !ok) return ok;
    }
    return write_setting(db, "operator", saved.dump());
  }
  if (auto ok = write_setting(db, "operator", saved.dump()); !ok) return ok;
  m_trust = std::make_unique<pki::TrustStore>(pki::TrustAnchor{*m_ca, view->crl});
  m_view = std::move(*view);
  return {};
}

Status DeviceState::ready() const {
  if (!m_certificate || !m_view || !m_trust) {
    return fail(ErrorCode::invalid_argument, "not enrolled and connected to an operator yet");
  }
  return {};
}

Result<pki::Certificate> DeviceState::peer_certificate(const Json& body, const char* field,
                                                       pki::Role role, UnixSeconds now) const {
  const auto anchor = m_trust->anchor();
  const auto crl_end = anchor.crl.next_update();
  // A CRL dated ahead of now (a clock that ran ahead, put right) is judged like one that ran out:
  // by its list, at a time inside it, until a fresh one is fetched.
  const bool from_the_future = m_trust->crl_from_the_future(now);
  if (now < crl_end && !from_the_future) return read_certificate(body, field, *m_trust, {role}, now);
  protocol::FieldReader r(body, "message");
  const auto pem = r.text(field);
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  auto cert = pki::Certificate::from_pem(pem);
  if (!cert) return std::unexpected(cert.error());
  if (cert->not_after() < now) return fail(ErrorCode::certificate_expired, "the certificate expired");
  const std::array roles = {role};
  if (cert->not_before() > now + pki::TrustStore::kClockTolerance) {
    return fail(ErrorCode::certificate_not_yet_valid, "the certificate is not valid yet");
  }
  const auto judged_at = from_the_future ? anchor.crl.this_update() : crl_end - 1;
  if (auto ok = pki::verify_certificate(*cert, anchor, roles, std::max(judged_at, cert->not_before()));
      !ok) {
    return std::unexpected(ok.error());
  }
  return cert;
}

Result<std::pair<std::string, pki::AccountSalt>> DeviceState::account(store::Database& db) const {
  auto number = read_setting(db, "account");
  auto salt_text = read_setting(db, "salt");
  if (!number || !salt_text || !*number || !*salt_text) {
    return fail(ErrorCode::io_error, "the account is missing from the device's store");
  }
  auto opened = m_data_key->open(**number, kAccountColumn);
  if (!opened) {
    return fail(opened.error().code, "the account number in the device's store does not open "
                                     "with its data key: " + opened.error().message);
  }
  auto salt_opened = m_data_key->open(**salt_text, kSaltColumn);
  if (!salt_opened) return std::unexpected(salt_opened.error());
  auto salt_bytes = crypto::base64url_decode(*salt_opened);
  pki::AccountSalt salt{};
  if (!salt_bytes || salt_bytes->size() != salt.size()) {
    return fail(ErrorCode::malformed, "damaged account salt");
  }
  std::copy(salt_bytes->begin(), salt_bytes->end(), salt.begin());
  return std::pair{std::move(*opened), salt};
}

Device::Device(std::string home, crypto::PartyKeys keys, std::unique_ptr<store::Database> db,
               const Clock& clock, RandomSource& random)
    : m_home(std::move(home)),
      m_keys(std::move(keys)),
      m_db(std::move(db)),
      m_clock(clock),
      m_random(random) {}

Result<Device::Files> Device::open_files(const std::string& home, const std::string& name,
                                         std::span<const store::Migration> migrations) {
  std::optional<crypto::PartyKeys> keys;
  if (home.empty()) {
    keys = crypto::PartyKeys::generate();
  } else {
    std::filesystem::create_directories(home);
    auto loaded = load_or_create_keys(home + "/" + name + ".keys");
    if (!loaded) return std::unexpected(loaded.error());
    keys = std::move(*loaded);
  }
  auto db = store::open_sqlite(home.empty() ? ":memory:" : home + "/" + name + ".db", migrations);
  if (!db) return std::unexpected(db.error());
  auto data_key = store::data_key(**db);
  if (!data_key) return std::unexpected(data_key.error());
  return Files{std::move(*keys), std::move(*db),
               std::make_shared<const crypto::AtRestKey>(std::move(*data_key))};
}

Status Device::load() {
  return m_device.load(*m_db);
}

Status Device::enrol_as(pki::Role role, protocol::Channel& ca, const std::string& name,
                        const std::string& address, const std::string& account_number) {
  return m_device.enrol(*m_db, ca, m_keys, role, name, address, account_number, m_clock, m_random);
}

Status Device::load_id(std::string_view key, const char* what, std::optional<Id128>& id) {
  auto text = read_setting(*m_db, key);
  if (!text) return std::unexpected(text.error());
  if (*text) {
    auto parsed = Id128::parse(**text);
    if (!parsed) return fail(ErrorCode::malformed, std::string("damaged ") + what);
    id = *parsed;
  }
  return {};
}

Status Device::connect(protocol::Channel& center) {
  return m_device.connect(*m_db, center, m_clock);
}

const pki::Certificate* Device::certificate() const {
  return m_device.certificate() ? &*m_device.certificate() : nullptr;
}

std::optional<pki::TrustAnchor> Device::trust_anchor() const {
  return m_device.ready() ? std::optional<pki::TrustAnchor>(m_device.trust().anchor())
                          : std::nullopt;
}

std::optional<Currency> Device::currency() const {
  return m_device.ready() ? std::optional<Currency>(m_device.view().currency) : std::nullopt;
}

Result<std::optional<std::string>> Device::setting(std::string_view key) {
  return read_setting(*m_db, key);
}

Status Device::set_setting(std::string_view key, const std::string& value) {
  return write_setting(*m_db, key, value);
}

Status Device::check_currency(const Amount& amount) const {
  if (amount.currency() != m_device.view().currency) {
    return fail(ErrorCode::currency_mismatch,
                "this operator works in " + std::string(m_device.view().currency.code()));
  }
  return {};
}

Bytes seal_account(const crypto::SealingPublicKey& clearing, const std::string& number,
                   const pki::AccountSalt& salt, const Json& extra) {
  Json plain = extra;
  plain["account"] = number;
  plain["salt"] = crypto::base64url_encode(salt);
  return crypto::seal(clearing, as_bytes(plain.dump()));
}

Bytes seal_account(const crypto::SealingPublicKey& clearing, const std::string& number,
                   const pki::AccountSalt& salt) {
  return seal_account(clearing, number, salt, Json::object());
}

}  // namespace ecash::parties
