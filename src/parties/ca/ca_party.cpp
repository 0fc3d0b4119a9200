#include "parties/ca/ca_party.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "protocol/statements.hpp"
#include "store/data_key.hpp"

namespace ecash::ca {

using protocol::Json;

namespace {

constexpr UnixSeconds kDay = 86'400;
constexpr UnixSeconds kDeviceLifetime = 2 * 365 * kDay;
constexpr UnixSeconds kOperatorLifetime = 5 * 365 * kDay;
constexpr UnixSeconds kCaLifetime = 10 * 365 * kDay;
constexpr UnixSeconds kCrlLifetime = 7 * kDay;

constexpr std::array<store::Migration, 1> kMigrations = {{
    {1, "CREATE TABLE certificates (serial TEXT PRIMARY KEY, subject TEXT NOT NULL UNIQUE, "
        "role TEXT NOT NULL, pem TEXT NOT NULL, issued INTEGER NOT NULL);"
        "CREATE TABLE people (subject TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL);"
        "CREATE TABLE revocations (serial TEXT PRIMARY KEY, revoked INTEGER NOT NULL);"
        "CREATE TABLE request_log (id TEXT PRIMARY KEY, route TEXT NOT NULL, digest BLOB NOT NULL, "
        "response TEXT NOT NULL, created INTEGER NOT NULL);"},
}};

// Where people's names and addresses are sealed (the associated data of each sealed field).
constexpr std::string_view kNameColumn = "people.name";
constexpr std::string_view kAddressColumn = "people.address";

// An older version kept names and addresses in clear: sealed, and the file rewritten without them.
Status seal_clear_people(store::Database& db, const crypto::AtRestKey& key) {
  std::int64_t sealed = 0;
  auto done = db.transact([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT subject, name, address FROM people WHERE name NOT LIKE 'sealed:%'");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto subject = store::text_at(row, 0);
      auto name = store::text_at(row, 1);
      auto address = store::text_at(row, 2);
      if (!subject || !name || !address) return fail(ErrorCode::internal, "damaged person row");
      auto n = tx.exec("UPDATE people SET name = ?, address = ? WHERE subject = ?",
                       {key.seal(*name, kNameColumn), key.seal(*address, kAddressColumn), *subject});
      if (!n) return std::unexpected(n.error());
      sealed += *n;
    }
    return {};
  });
  if (!done) return done;
  return sealed > 0 ? db.compact() : Status{};
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::io_error, "cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) return fail(ErrorCode::io_error, "cannot write " + path);
  return {};
}

}  // namespace

Result<std::unique_ptr<CaParty>> CaParty::open(const std::string& dir, const std::string& name,
                                               const Clock& clock, RandomSource& random,
                                               const std::string& store_server) {
  std::filesystem::create_directories(dir);
  auto keys = parties::load_or_create_keys(dir + "/ca.keys");
  if (!keys) return std::unexpected(keys.error());
  auto db = store::open_store({dir + "/ca.db", store_server, "ca"}, kMigrations);
  if (!db) return std::unexpected(db.error());
  auto data_key = store::data_key(**db);
  if (!data_key) return std::unexpected(data_key.error());
  if (auto ok = seal_clear_people(**db, *data_key); !ok) return std::unexpected(ok.error());

  std::vector<pki::Revocation> revoked;
  auto loaded = (*db)->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT serial, revoked FROM revocations");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) revoked.push_back({*store::text_at(row, 0), *store::int_at(row, 1)});
    return {};
  });
  if (!loaded) return std::unexpected(loaded.error());

  const std::string cert_path = dir + "/ca.pem";
  Result<pki::CertificateAuthority> authority = fail(ErrorCode::internal, "unset");
  if (std::filesystem::exists(cert_path)) {
    auto pem = read_text(cert_path);
    if (!pem) return std::unexpected(pem.error());
    auto cert = pki::Certificate::from_pem(*pem);
    if (!cert) return std::unexpected(cert.error());
    authority = pki::CertificateAuthority::load(std::move(*keys), *cert, std::move(revoked));
  } else {
    authority = pki::CertificateAuthority::create(name, std::move(*keys), clock.now() - 60,
                                                  kCaLifetime, random);
    if (authority) {
      if (auto ok = write_text(cert_path, authority->certificate().to_pem()); !ok) {
        return std::unexpected(ok.error());
      }
    }
  }
  if (!authority) return std::unexpected(authority.error());
  return std::make_unique<CaParty>(std::move(*authority), std::move(*db), std::move(*data_key),
                                   clock, random);
}

Result<pki::Crl> CaParty::crl() const {
  // Revocations may come from another process on the same store (`ecash operator revoke` while
  // the operator runs): the CRL is issued from the store, not from what this process remembers.
  std::vector<pki::Revocation> rows;
  auto read = m_db->transact([&](store::Transaction& tx) -> Status {
    auto found = tx.query("SELECT serial, revoked FROM revocations");
    if (!found) return std::unexpected(found.error());
    for (const auto& row : *found) rows.push_back({*store::text_at(row, 0), *store::int_at(row, 1)});
    return {};
  });
  if (!read) return std::unexpected(read.error());
  std::lock_guard lock(m_mutex);
  for (const auto& r : rows) m_authority.revoke(r.serial, r.when);
  const auto now = m_clock.now();
  return m_authority.issue_crl(now - 60, now + kCrlLifetime);
}

Result<Json> CaParty::certificates() const {
  Json list = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT c.serial, c.role, c.subject, c.issued, c.pem, r.revoked FROM certificates c "
        "LEFT JOIN revocations r ON r.serial = c.serial ORDER BY c.issued, c.serial");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto cert = pki::Certificate::from_pem(store::text_at(row, 4).value_or(""));
      if (!cert) return std::unexpected(cert.error());
      list.push_back(
          Json{{"serial", store::text_at(row, 0).value_or("")},
               {"role", store::text_at(row, 1).value_or("")},
               {"subject", store::text_at(row, 2).value_or("")},
               {"issued", store::int_at(row, 3).value_or(0)},
               {"expires", cert->not_after()},
               {"revoked", store::is_null_at(row, 5) ? Json() : Json(*store::int_at(row, 5))}});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return list;
}

Result<std::map<std::string, std::string>> CaParty::shop_names() const {
  std::map<std::string, std::string> names;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT c.serial, p.name FROM certificates c JOIN people p ON p.subject = c.subject "
        "WHERE c.role = ?",
        {std::string(pki::to_string(pki::Role::shop))});
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto name = m_data_key.open(store::text_at(row, 1).value_or(""), kNameColumn);
      if (!name) return std::unexpected(name.error());
      names[store::text_at(row, 0).value_or("")] = std::move(*name);
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return names;
}

Result<pki::TrustAnchor> CaParty::anchor() const {
  auto list = crl();
  if (!list) return std::unexpected(list.error());
  return pki::TrustAnchor{certificate(), *list};
}

Result<Json> CaParty::handle(const protocol::Caller&, std::string_view route, const Json& body) {
  return parties::guarded([&]() -> Result<Json> {
    if (route == "enrol") return enrol(body);
    if (route == "trust") {
      auto list = crl();
      if (!list) return std::unexpected(list.error());
      return Json{{"ca", certificate().to_pem()}, {"crl", list->to_pem()}};
    }
    return fail(ErrorCode::not_found, "the CA has no route " + std::string(route));
  });
}

Status CaParty::record(store::Transaction& tx, const pki::Certificate& cert) {
  auto done = tx.exec(
      "INSERT INTO certificates (serial, subject, role, pem, issued) VALUES (?, ?, ?, ?, ?)",
      {cert.serial(), cert.subject(), std::string(pki::to_string(cert.role())), cert.to_pem(),
       m_clock.now()});
  if (!done) return std::unexpected(done.error());
  return {};
}

Result<Json> CaParty::enrol(const Json& body) {
  auto request = protocol::Signed<protocol::EnrolRequest>::from_json(body);
  if (!request) return std::unexpected(request.error());
  const auto& r = request->body;
  // Proof of possession: the request is signed by the key it asks to certify.
  if (auto ok = request->verify(r.verify_key); !ok) return std::unexpected(ok.error());
  const auto now = m_clock.now();
  if (auto ok = protocol::check_fresh(r.timestamp, now); !ok) return std::unexpected(ok.error());
  auto role = pki::role_from_string(r.role);
  if (!role || (*role != pki::Role::wallet && *role != pki::Role::shop)) {
    return fail(ErrorCode::wrong_role, "the CA enrols wallets and shops only");
  }
  if (r.name.empty() || r.name.size() > 200 || r.address.size() > 500) {
    return fail(ErrorCode::invalid_argument, "name must be 1 to 200 characters, address at most 500");
  }
  // Names are shown to people (a shop's in every wallet that pays it): no line breaks, tabs or
  // terminal control sequences (C0, DEL, and UTF-8's C1 range).
  for (const std::string* text : {&r.name, &r.address}) {
    for (std::size_t i = 0; i < text->size(); ++i) {
      const auto c = static_cast<unsigned char>((*text)[i]);
      const bool c1 = c == 0xc2 && i + 1 < text->size() &&
                      static_cast<unsigned char>((*text)[i + 1]) >= 0x80 &&
                      static_cast<unsigned char>((*text)[i + 1]) < 0xa0;
      if (c < 0x20 || c == 0x7f || c1) {
        return fail(ErrorCode::invalid_argument,
                    "a name or address may not hold line breaks, tabs or control characters");
      }
    }
  }
  if (!r.account_commitment) {
    return fail(ErrorCode::invalid_argument, "enrolment needs a commitment to the account number");
  }
  return parties::answer_once(*m_db, "enrol", r.request_id, body, now,
                              [&](store::Transaction& tx) -> Result<Json> {
    // The subject is a pseudonym: nothing in a wallet's certificate names the person. A shop's
    // name is public: its certificate carries it, so that wallets show whom they pay.
    const pki::CertificateRequest cert_request{
        .subject = Id128::random(m_random).to_string(),
        .role = *role,
        .verify_key = r.verify_key,
        .sealing_key = r.sealing_key,
        .account_commitment = r.account_commitment,
        .trading_name = *role == pki::Role::shop ? std::optional<std::string>(r.name) : std::nullopt};
    auto cert = m_authority.issue(cert_request, now - 60, now + kDeviceLifetime, m_random);
    if (!cert) return std::unexpected(cert.error());
    if (auto ok = record(tx, *cert); !ok) return std::unexpected(ok.error());
    auto person = tx.exec("INSERT INTO people (subject, name, address) VALUES (?, ?, ?)",
                          {cert->subject(), m_data_key.seal(r.name, kNameColumn),
                           m_data_key.seal(r.address, kAddressColumn)});
    if (!person) return std::unexpected(person.error());
    return Json{{"certificate", cert->to_pem()}, {"ca", certificate().to_pem()}};
  });
}

Result<pki::Certificate> CaParty::issue_operator(pki::Role role, const std::string& subject,
                                                 const crypto::PartyKeys& keys,
                                                 const std::vector<std::string>& alt_names) {
  const auto now = m_clock.now();
  auto cert = m_authority.issue({.subject = subject,
                                 .role = role,
                                 .verify_key = keys.signing.verify_key(),
                                 .sealing_key = keys.sealing.public_key(),
                                 .account_commitment = std::nullopt,
                                 .alt_names = alt_names},
                                now - 60, now + kOperatorLifetime, m_random);
  if (!cert) return cert;
  auto saved = m_db->transact([&](store::Transaction& tx) { return record(tx, *cert); });
  if (!saved) return std::unexpected(saved.error());
  return cert;
}

Result<std::vector<std::string>> CaParty::revoke_unconfirmed(const std::set<std::string>& deposited) {
  const auto now = m_clock.now();
  std::vector<std::string> revoked;
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    revoked.clear();  // a retried transaction starts again
    auto rows = tx.query(
        "SELECT c.serial FROM certificates c WHERE c.role = ? AND c.issued < ? AND NOT EXISTS "
        "(SELECT 1 FROM revocations r WHERE r.serial = c.serial) ORDER BY c.issued",
        {std::string(pki::to_string(pki::Role::wallet)), now - kUnconfirmedLifetime});
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto serial = store::text_at(row, 0);
      if (!serial) return std::unexpected(serial.error());
      if (deposited.contains(*serial)) continue;
      auto done = tx.exec("INSERT INTO revocations (serial, revoked) VALUES (?, ?)", {*serial, now});
      if (!done) return std::unexpected(done.error());
      revoked.push_back(*serial);
    }
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  std::lock_guard lock(m_mutex);
  for (const auto& serial : revoked) m_authority.revoke(serial, now);
  return revoked;
}

Status CaParty::revoke(const std::string& serial) {
  const auto now = m_clock.now();
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    auto known = tx.query_one("SELECT serial FROM certificates WHERE serial = ?", {serial});
    if (!known) return std::unexpected(known.error());
    if (!*known) return fail(ErrorCode::not_found, "no certificate " + serial);
    auto done = tx.exec("INSERT INTO revocations (serial, revoked) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        {serial, now});
    if (!done) return std::unexpected(done.error());
    return {};
  });
  if (!saved) return saved;
  std::lock_guard lock(m_mutex);
  m_authority.revoke(serial, now);
  return {};
}

}  // namespace ecash::ca
