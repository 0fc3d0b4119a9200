#include "local/local_operator.hpp"

#include "base/failpoint.hpp"
#include "base/text_file.hpp"
#include "crypto/hash.hpp"
#include "protocol/statements.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

namespace ecash::local {

using protocol::Json;

Result<Json> LocalChannel::call(std::string_view route, const Json& body) {
  // "center->bank" calling "credit" is the call "bank/credit" in failpoints, as over the network.
  const auto arrow = m_link.find("->");
  const std::string point =
      "call/" + (arrow == std::string::npos ? m_link : m_link.substr(arrow + 2)) + "/" + std::string(route);
  failpoint(point + "/before");
  auto answer = deliver(route, body);
  if (answer) failpoint(point + "/after");
  return answer;
}

Result<Json> LocalChannel::deliver(std::string_view route, const Json& body) {
  Tap* const tap = *m_tap;
  // Co-hosted roles hand each other the message itself (the receiver only reads it); with a tap
  // in place, what crosses the link is text, parsed again as the receiver would over the network.
  if (tap == nullptr) return m_target.handle(m_caller, route, body);
  Json request = Json::parse(body.dump());
  if (auto error = tap->cut(m_link, route)) return std::unexpected(*error);
  tap->on_request(m_link, route, request);
  auto answer = m_target.handle(m_caller, route, request);
  if (!answer) return answer;
  Json reply = Json::parse(answer->dump());
  tap->on_answer(m_link, route, reply);
  return reply;
}

namespace {

// An operator role's keys and certificate in dir/<name>.keys and dir/<name>.pem, issued by the
// CA the first time.
Result<parties::Identity> role_identity(ca::CaParty& ca, const std::string& dir,
                                        const std::string& name, pki::Role role) {
  std::filesystem::create_directories(dir);
  if (std::filesystem::exists(dir + "/" + name + ".pem")) return load_identity(dir, name);
  auto keys = parties::load_or_create_keys(dir + "/" + name + ".keys");
  if (!keys) return std::unexpected(keys.error());
  auto cert = ca.issue_operator(role, name, *keys, {"DNS:localhost", "IP:127.0.0.1"});
  if (!cert) return std::unexpected(cert.error());
  std::ofstream(dir + "/" + name + ".pem") << cert->to_pem();
  return parties::Identity{std::move(*keys), *cert};
}

}  // namespace

Result<parties::Identity> load_identity(const std::string& dir, const std::string& name) {
  const std::string pem_path = dir + "/" + name + ".pem";
  if (!std::filesystem::exists(pem_path)) {
    return fail(ErrorCode::not_found, "no certificate " + pem_path + ": was the operator initialised?");
  }
  auto keys = parties::load_or_create_keys(dir + "/" + name + ".keys");
  if (!keys) return std::unexpected(keys.error());
  auto cert = pki::Certificate::from_pem(read_text_file(pem_path));
  if (!cert) return std::unexpected(cert.error());
  return parties::Identity{std::move(*keys), *cert};
}

Result<parties::Directory> load_directory(const std::string& data) {
  std::vector<pki::Certificate> certs;
  for (const auto* path : {"/ca/ca.pem", "/center/center.pem", "/bank/bank.pem", "/clearing/clearing.pem"}) {
    auto cert = pki::Certificate::from_pem(read_text_file(data + path));
    if (!cert) return fail(cert.error().code, data + path + ": " + cert.error().message);
    certs.push_back(std::move(*cert));
  }
  return parties::Directory{certs[0], certs[1], certs[2], certs[3]};
}

store::Place role_store(const std::string& dir, const std::string& role,
                        const std::string& store_server) {
  return {dir + "/" + role + "/" + role + ".db", store_server, role};
}

Result<std::unique_ptr<LocalOperator>> LocalOperator::open(const std::string& dir,
                                                           Currency currency, const Clock& clock,
                                                           RandomSource& random,
                                                           OpenOptions options) {
  auto op = std::make_unique<LocalOperator>();
  op->m_dir = dir;
  op->m_clock = &clock;
  op->m_currency = currency;
  auto ca = ca::CaParty::open(dir + "/ca", "ecash CA", clock, random, options.store_server);
  if (!ca) return std::unexpected(ca.error());
  op->m_ca = std::move(*ca);
  auto anchor = op->m_ca->anchor();
  if (!anchor) return std::unexpected(anchor.error());
  op->m_trust = std::make_unique<pki::TrustStore>(*anchor);

  auto center_id = role_identity(*op->m_ca, dir + "/center", "center", pki::Role::center);
  auto bank_id = role_identity(*op->m_ca, dir + "/bank", "bank", pki::Role::bank);
  auto clearing_id = role_identity(*op->m_ca, dir + "/clearing", "clearing", pki::Role::clearing);
  auto institution_id =
      role_identity(*op->m_ca, dir + "/sandbox", "institution", pki::Role::institution);
  // The dashboard's (operator run --role admin): it asks the roles for their figures, nothing else.
  auto admin_id = role_identity(*op->m_ca, dir + "/admin", "admin", pki::Role::admin);
  for (const auto* id : {&center_id, &bank_id, &clearing_id, &institution_id, &admin_id}) {
    if (!*id) return std::unexpected(id->error());
  }
  const parties::Directory directory{op->m_ca->certificate(), center_id->certificate,
                                     bank_id->certificate, clearing_id->certificate};
  op->m_center_cert = center_id->certificate;
  op->m_clearing_cert = clearing_id->certificate;

  LocalOperator* self = op.get();
  const protocol::Caller as_clearing{clearing_id->certificate};
  if (!options.card_company || !options.bank_institution) {
    auto card_company = sandbox::CardCompany::open(dir + "/sandbox/card_company.db", clock);
    auto bank_institution = sandbox::BankInstitution::open(dir + "/sandbox/bank.db", clock);
    if (!card_company) return std::unexpected(card_company.error());
    if (!bank_institution) return std::unexpected(bank_institution.error());
    op->m_card_company = std::move(*card_company);
    op->m_bank_institution = std::move(*bank_institution);
    options.card_company = std::make_unique<LocalChannel>(
        "clearing->card_company", *op->m_card_company, as_clearing, &self->m_tap);
    options.bank_institution = std::make_unique<LocalChannel>(
        "clearing->bank_institution", *op->m_bank_institution, as_clearing, &self->m_tap);
  }

  const protocol::Caller as_center{center_id->certificate};

  const auto place = [&](const std::string& role) {
    return role_store(dir, role, options.store_server);
  };
  auto bank = bank::VirtualBank::open(place("bank"), std::move(*bank_id), directory, *op->m_trust,
                                      clock, random, currency);
  if (!bank) return std::unexpected(bank.error());
  op->m_bank = std::move(*bank);

  auto clearing = clearing::ClearingHouse::open(
      place("clearing"), std::move(*clearing_id), directory, *op->m_trust, clock,
      std::move(options.card_company), std::move(options.bank_institution));
  if (!clearing) return std::unexpected(clearing.error());
  op->m_clearing = std::move(*clearing);

  auto center = center::Center::open(
      place("center"), std::move(*center_id), directory, *op->m_trust, clock, currency,
      std::make_unique<LocalChannel>("center->clearing", *op->m_clearing, as_center, &self->m_tap),
      std::make_unique<LocalChannel>("center->bank", *op->m_bank, as_center, &self->m_tap));
  if (!center) return std::unexpected(center.error());
  op->m_center = std::move(*center);
  // Finish whatever a crash left open before taking new requests.
  if (options.resume) {
    // On PostgreSQL, center nodes elsewhere may hold leases of their own (Center::resume).
    if (auto resumed = op->m_center->resume(options.store_server.empty()); !resumed) {
      return std::unexpected(resumed.error());
    }
  }
  return op;
}

std::unique_ptr<protocol::Channel> LocalOperator::to_ca(const std::string& from) {
  return std::make_unique<LocalChannel>(from + "->ca", *m_ca, protocol::Caller{}, &m_tap);
}

std::unique_ptr<protocol::Channel> LocalOperator::to_center(const std::string& from,
                                                            const pki::Certificate* caller) {
  protocol::Caller c;
  if (caller != nullptr) c.certificate = *caller;
  return std::make_unique<LocalChannel>(from + "->center", *m_center, c, &m_tap);
}

std::unique_ptr<protocol::Channel> LocalOperator::to_shop(shop::Shop& shop, const std::string& from,
                                                          const pki::Certificate* caller) {
  protocol::Caller c;
  if (caller != nullptr) c.certificate = *caller;
  return std::make_unique<LocalChannel>(from + "->shop", shop, c, &m_tap);
}

void LocalOperator::connect_shop(shop::Shop& shop) {
  shop.set_center(to_center("shop", shop.certificate()));
}

Status LocalOperator::open_card(const std::string& number, const Amount& limit) {
  if (!m_card_company) return fail(ErrorCode::unavailable, "the card company is not in this process");
  auto done = m_card_company->handle({}, "open_card",
                                     {{"card_number", number}, {"limit", limit.to_string()}});
  if (!done) return std::unexpected(done.error());
  return {};
}

Status LocalOperator::open_bank_account(const std::string& iban, const std::string& holder) {
  if (!m_bank_institution) return fail(ErrorCode::unavailable, "the bank is not in this process");
  auto done = m_bank_institution->handle(
      {}, "open_account",
      {{"iban", iban}, {"holder", holder}, {"currency", std::string(m_currency.code())}});
  if (!done) return std::unexpected(done.error());
  return {};
}

Status LocalOperator::revoke(const std::string& serial) {
  if (auto ok = m_ca->revoke(serial); !ok) return ok;
  return refresh_crl();
}

Result<std::vector<std::string>> LocalOperator::expire_unconfirmed() {
  auto users = m_center->users();
  if (!users) return std::unexpected(users.error());
  std::set<std::string> deposited;
  for (const auto& user : *users) deposited.insert(user["certificate_serial"].get<std::string>());
  auto revoked = m_ca->revoke_unconfirmed(deposited);
  if (!revoked) return revoked;
  if (!revoked->empty()) {
    if (auto ok = refresh_crl(); !ok) return std::unexpected(ok.error());
  }
  return revoked;
}

Result<std::vector<std::string>> LocalOperator::revoke_under_cases() {
  auto users = m_center->users();
  if (!users) return std::unexpected(users.error());
  auto certificates = m_ca->certificates();
  if (!certificates) return std::unexpected(certificates.error());
  std::set<std::string> revoked_before;
  for (const auto& c : *certificates) {
    if (!c["revoked"].is_null()) revoked_before.insert(c["serial"].get<std::string>());
  }
  std::vector<std::string> revoked;
  for (const auto& user : *users) {
    const auto serial = user["certificate_serial"].get<std::string>();
    if (user["open_cases"].get<std::int64_t>() == 0 || revoked_before.contains(serial)) continue;
    if (auto ok = m_ca->revoke(serial); !ok) return std::unexpected(ok.error());
    revoked.push_back(serial);
  }
  if (!revoked.empty()) {
    if (auto ok = refresh_crl(); !ok) return std::unexpected(ok.error());
  }
  return revoked;
}

Status LocalOperator::refresh_crl() {
  auto crl = m_ca->crl();
  if (!crl) return std::unexpected(crl.error());
  return m_trust->update_crl(*crl, m_clock->now());
}

Result<Json> LocalOperator::cases() {
  auto cases = m_center->cases();
  if (!cases) return std::unexpected(cases.error());
  auto evidence = m_bank->case_evidence();
  if (!evidence) return std::unexpected(evidence.error());
  Json out = Json::array();
  for (auto c : *cases) {
    const auto id = c["case_id"].get<std::string>();
    bool matches = false;
    Json kept;
    if (evidence->contains(id)) {
      const auto text = (*evidence)[id].get<std::string>();
      kept = Json::parse(text, nullptr, false);
      auto signed_case = protocol::read_signed<protocol::FraudCase>(c, "statement");
      matches = signed_case && signed_case->body.case_id.to_string() == id &&
                signed_case->body.evidence == crypto::blake2b_256(as_bytes(text));
    }
    c.erase("statement");
    c["evidence"] = kept;
    c["evidence_matches"] = matches;
    out.push_back(std::move(c));
  }
  return out;
}

Result<Json> LocalOperator::certificates() {
  return m_ca->certificates();
}

namespace {

// Each member (a user or a shop) with when its certificate was issued and whether it is revoked.
Result<Json> with_certificates(Json members, const Json& certificates) {
  std::unordered_map<std::string, const Json*> by_serial;
  for (const auto& c : certificates) by_serial[c["serial"].get<std::string>()] = &c;
  for (auto& m : members) {
    const auto found = by_serial.find(m["certificate_serial"].get<std::string>());
    if (found == by_serial.end()) {
      return fail(ErrorCode::internal,
                  "the CA has no certificate " + m["certificate_serial"].get<std::string>());
    }
    m["enrolled"] = (*found->second)["issued"];
    m["revoked"] = (*found->second)["revoked"];
  }
  return members;
}

}  // namespace

Result<Json> LocalOperator::users() {
  auto users = m_center->users();
  if (!users) return users;
  auto certificates = m_ca->certificates();
  if (!certificates) return certificates;
  return with_certificates(std::move(*users), *certificates);
}

Result<Json> LocalOperator::shops() {
  auto shops = m_center->shops();
  if (!shops) return shops;
  auto names = m_ca->shop_names();
  if (!names) return std::unexpected(names.error());
  for (auto& s : *shops) {
    const auto found = names->find(s["certificate_serial"].get<std::string>());
    s["name"] = found == names->end() ? Json() : Json(found->second);
  }
  auto certificates = m_ca->certificates();
  if (!certificates) return certificates;
  return with_certificates(std::move(*shops), *certificates);
}

Result<Json> LocalOperator::report(bool institutions) {
  if (!institutions) {
    auto circulation = m_bank->totals();
    if (!circulation) return std::unexpected(circulation.error());
    return circulation->to_json();
  }
  // The books first, then the statements, then what the center has open or finished since: money
  // moved outside after the books were read belongs to a request open or finished meanwhile.
  const UnixSeconds since = m_clock->now() - 2;
  auto books = m_bank->books();
  if (!books) return std::unexpected(books.error());
  auto circulation = books->totals;
  circulation.institutions = reconcile_statements(books->requests, books->payouts_pending, since);
  return circulation.to_json();
}

protocol::InstitutionFigures LocalOperator::reconcile_statements(
    const protocol::Books& books, const std::unordered_set<std::string>& pending,
    UnixSeconds since) {
  const auto currency = m_bank->currency();
  const auto unread = [&](const char* what, const Error& e) {
    return protocol::InstitutionFigures::not_read(currency, std::string(what) + ": " + e.to_string());
  };
  protocol::Statements statements;
  for (const bool cards : {true, false}) {
    const char* who = cards ? "the card company's statement" : "the bank's statement";
    Json ask = {{"institution", cards ? "card_company" : "bank"}};
    for (;;) {
      auto page = m_clearing->handle({*m_center_cert}, "statement", ask);
      if (!page) return unread(who, page.error());
      if (auto ok = protocol::add_statement_page(statements, currency, cards, *page); !ok) {
        return unread(who, ok.error());
      }
      if (!page->contains("next")) break;
      ask["after"] = page->at("next");
    }
  }
  auto open = m_center->open_requests(since);
  if (!open) return unread("the center's open requests", open.error());
  auto figures = protocol::reconcile(currency, books, statements, [&](const std::string& id) {
    return open->contains(id) || pending.contains(id);
  });
  if (!figures) return unread("the reconciliation", figures.error());
  return *figures;
}

Result<Json> LocalOperator::audit(bool institutions) {
  auto figures = report(institutions);
  if (!figures) return std::unexpected(figures.error());
  Json problems = Json::array();
  std::int64_t checked = 0;
  if (!(*figures)["balanced"].get<bool>()) {
    problems.push_back("circulation does not balance: " + (*figures)["in_circulation"].get<std::string>() +
                       " in circulation, " + (*figures)["accounted_for"].get<std::string>() +
                       " accounted for");
  }
  if (figures->contains("institutions")) {
    const auto& i = (*figures)["institutions"];
    if (i.contains("unread")) {
      problems.push_back("the institutions' statements were not read: " + i["unread"].get<std::string>());
    } else {
      for (const auto& named : i["named"]) problems.push_back(named);
      const auto unnamed = i["differences"].get<std::int64_t>() - static_cast<std::int64_t>(i["named"].size());
      if (unnamed > 0) problems.push_back("and " + std::to_string(unnamed) + " more differences");
    }
  }
  for (auto part : {m_center->audit(), m_bank->audit()}) {
    if (!part) return std::unexpected(part.error());
    checked += (*part)["checked"].get<std::int64_t>();
    for (const auto& p : (*part)["problems"]) problems.push_back(p);
  }
  auto log = m_clearing->handle({*m_center_cert}, "audit", Json::object());
  if (!log) return std::unexpected(log.error());
  checked += (*log)["entries"].get<std::int64_t>();
  if (!(*log)["ok"].get<bool>()) {
    problems.push_back("disclosure log entry " + std::to_string((*log)["first_bad"].get<std::int64_t>()) +
                       ": " + (*log)["problem"].get<std::string>());
  }
  return Json{{"ok", problems.empty()},
              {"checked", checked},
              {"disclosure_log_entries", (*log)["entries"]},
              {"problems", problems},
              {"report", *figures}};
}

}  // namespace ecash::local
