#include "parties/clearing/clearing_house.hpp"

#include <array>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/account_number.hpp"
#include "crypto/encoding.hpp"
#include "parties/clearing/disclosure_log.hpp"
#include "protocol/statements.hpp"

namespace ecash::clearing {

using protocol::Json;
using protocol::Signed;

namespace {

constexpr std::array<store::Migration, 2> kMigrations = {{
    {1, "CREATE TABLE charges (request_id TEXT PRIMARY KEY, charge_ref TEXT NOT NULL, "
        "amount INTEGER NOT NULL, currency TEXT NOT NULL, refunded INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE payouts (request_id TEXT PRIMARY KEY, amount INTEGER NOT NULL, "
        "currency TEXT NOT NULL, paid INTEGER NOT NULL, reference TEXT NOT NULL);"
        "CREATE TABLE request_log (id TEXT PRIMARY KEY, route TEXT NOT NULL, digest BLOB NOT NULL, "
        "response TEXT NOT NULL, created INTEGER NOT NULL);"},
    {2, kDisclosureLogSql},
}};

// What wallets and shops seal to the clearing house: an account number and its commitment salt.
struct SealedAccount {
  std::string number;
  pki::AccountSalt salt{};
};

Result<SealedAccount> open_account(const crypto::SealingKey& key, const Bytes& sealed) {
  auto plain = key.open(sealed);
  if (!plain) return std::unexpected(plain.error());
  const Json j = protocol::parse_limited(as_text(*plain));
  protocol::FieldReader r(j, "sealed account");
  SealedAccount out{.number = r.text("account"), .salt = {}};
  const auto salt = r.bytes("salt");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  if (salt.size() != out.salt.size()) return fail(ErrorCode::malformed, "salt must be 16 bytes");
  std::copy(salt.begin(), salt.end(), out.salt.begin());
  return out;
}

Status check_commitment(const pki::Certificate& cert, const SealedAccount& account) {
  if (!cert.account_commitment()) {
    return fail(ErrorCode::bad_commitment, "certificate carries no account commitment");
  }
  return pki::verify_account_commitment(*cert.account_commitment(), account.number, account.salt);
}

// What the card company knows a wallet's certificate by (issue 12, finding 6): a digest of the
// certificate's account commitment, opaque to it (no serial, no pseudonym), the same for every
// deposit under the certificate. A certificate without a commitment never reaches here.
std::string card_reference(const pki::Certificate& wallet) {
  const auto& commitment = *wallet.account_commitment();
  const std::string_view tag = "ecash card binding\n";
  Bytes input(tag.begin(), tag.end());
  input.insert(input.end(), commitment.begin(), commitment.end());
  const auto digest = crypto::blake2b_256(input);
  return crypto::hex_encode(ByteView(digest.data(), 16));
}

// The wallet certificate behind a disclosure: issued by our CA to a wallet. Revoked and expired
// certificates are accepted: a user under a fraud case is often revoked (a cloned wallet), and its
// certificate still names the account it committed to.
Result<pki::Certificate> disclosed_wallet(const Json& body, const pki::TrustStore& trust,
                                          UnixSeconds now) {
  protocol::FieldReader r(body, "disclose");
  const auto pem = r.text("wallet_certificate");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  auto cert = pki::Certificate::from_pem(pem);
  if (!cert) return std::unexpected(cert.error());
  if (auto ok = trust.verify(*cert, std::array{pki::Role::wallet}, now);
      !ok && ok.error().code != ErrorCode::certificate_revoked &&
      ok.error().code != ErrorCode::certificate_expired) {
    return std::unexpected(ok.error());
  }
  if (cert->role() != pki::Role::wallet) {
    return fail(ErrorCode::wrong_role, "disclosure needs a wallet certificate");
  }
  return cert;
}

// The disclosure answer with the account number, opened again from the request: the stored
// answer leaves it out, as clearing never stores a number in clear.
Result<Json> with_account(Json answer, const Json& body, const crypto::SealingKey& key) {
  protocol::FieldReader r(body, "disclose");
  const auto sealed = r.bytes("sealed_account");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  auto account = open_account(key, sealed);
  if (!account) return std::unexpected(account.error());
  answer["disclosure"]["account"] = account->number;
  return answer;
}

// The request as it claims to be, for the log of a refusal (zero IDs when it does not read).
protocol::DisclosureRequest claimed_request(const Json& body) {
  auto request = protocol::read_signed<protocol::DisclosureRequest>(body, "request");
  return request ? request->body : protocol::DisclosureRequest{};
}

// An ID for a follow-up request derived from the flow's request ID (a refund of a deposit), so
// a retry derives the same one.
std::string derived_id(const std::string& kind, const Id128& request_id) {
  const auto digest = crypto::blake2b_256(as_bytes(kind + ":" + request_id.to_string()));
  std::array<std::uint8_t, Id128::kSize> bytes{};
  std::copy_n(digest.begin(), bytes.size(), bytes.begin());
  return Id128(bytes).to_string();
}

}  // namespace

ClearingHouse::ClearingHouse(std::unique_ptr<store::Database> db, parties::Identity identity,
                             parties::Directory directory, const pki::TrustStore& trust,
                             const Clock& clock, std::unique_ptr<protocol::Channel> card_company,
                             std::unique_ptr<protocol::Channel> bank_institution)
    : m_db(std::move(db)),
      m_identity(std::move(identity)),
      m_directory(std::move(directory)),
      m_trust(trust),
      m_clock(clock),
      m_card_company(std::move(card_company)),
      m_bank_institution(std::move(bank_institution)) {}

Result<std::unique_ptr<ClearingHouse>> ClearingHouse::open(
    const store::Place& place, parties::Identity identity, parties::Directory directory,
    const pki::TrustStore& trust, const Clock& clock,
    std::unique_ptr<protocol::Channel> card_company,
    std::unique_ptr<protocol::Channel> bank_institution) {
  auto db = store::open_store(place, kMigrations);
  if (!db) return std::unexpected(db.error());
  return std::make_unique<ClearingHouse>(std::move(*db), std::move(identity), std::move(directory),
                                         trust, clock, std::move(card_company),
                                         std::move(bank_institution));
}

Result<Json> ClearingHouse::handle(const protocol::Caller& caller, std::string_view route,
                                   const Json& body) {
  return parties::guarded([&]() -> Result<Json> {
    auto center = parties::require_caller(caller, m_trust, {pki::Role::center}, m_clock.now());
    if (!center) return std::unexpected(center.error());
    if (center->verify_key() != m_directory.center.verify_key()) {
      return fail(ErrorCode::untrusted_issuer, "caller is not this operator's center");
    }
    // A retry gets its first answer whatever changed since (time, a revocation).
    if (route == "charge") {
      return parties::stored_or(*m_db, route, body, "order", [&] { return charge(*center, body); });
    }
    if (route == "refund") return refund(body);
    if (route == "verify_card" || route == "confirm_card") return card_check(route, body);
    if (route == "verify_account") {
      return parties::stored_or(*m_db, route, body, "registration", [&] { return verify_account(*center, body); });
    }
    if (route == "payout") {
      return parties::stored_or(*m_db, route, body, "amount", [&] { return payout(*center, body); });
    }
    if (route == "report") return report();
    if (route == "statement") return statement(body);
    if (route == "disclose") return disclose(*center, body);
    if (route == "audit") return audit();
    return fail(ErrorCode::not_found, "clearing has no route " + std::string(route));
  });
}

// S18-S21: check the chain, open the card number, check it against the certificate, charge it.
Result<Json> ClearingHouse::charge(const pki::Certificate& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::DepositOrder>(
      body, "wallet_certificate", "order", m_trust, {pki::Role::wallet}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [wallet, order] = *certified;
  auto endorsement = protocol::read_signed<protocol::DepositCenterCharge>(body, "center");
  if (!endorsement) return std::unexpected(endorsement.error());
  protocol::FieldReader r(body, "charge");
  const auto sealed_card = r.bytes("sealed_card");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());

  if (auto ok =
          protocol::check_endorsement(*endorsement, center.verify_key(), order.body.request_id,
                                      {order.digest(), protocol::blob_digest(sealed_card)});
      !ok) {
    return std::unexpected(ok.error());
  }
  if (!order.body.amount.is_positive()) {
    return fail(ErrorCode::invalid_argument, "a deposit must be positive");
  }
  auto card = open_account(m_identity.keys.sealing, sealed_card);
  if (!card) return std::unexpected(card.error());
  if (auto ok = check_card_number(card->number); !ok) return std::unexpected(ok.error());
  if (auto ok = check_commitment(wallet, *card); !ok) return std::unexpected(ok.error());

  const auto& o = order.body;
  // S20: the card company, idempotent by the deposit's request ID, is called with nothing held;
  // its answer is recorded with this one. A crash between the two: the center's retry charges
  // again under the same request ID, and the card company answers as it did.
  auto charged = m_card_company->call("charge", {{"request_id", o.request_id.to_string()},
                                                 {"card_number", card->number},
                                                 {"reference", card_reference(wallet)},
                                                 {"amount", o.amount.to_string()}});
  if (!charged) return std::unexpected(charged.error());
  protocol::FieldReader cr(*charged, "card company answer");
  const auto charge_id = cr.text("charge_id");
  if (auto ok = cr.status(); !ok) return fail(ErrorCode::unavailable, ok.error().message);
  const auto receipt =
      protocol::sign(m_identity.keys.signing, protocol::DepositCharged{.request_id = o.request_id,
                                                                       .amount = o.amount,
                                                                       .charge_ref = charge_id,
                                                                       .order = order.digest()});
  return parties::answer_once(*m_db, "charge", o.request_id, body, now,
                              [&](store::Transaction& tx) -> Result<Json> {
    auto saved = tx.exec(
        "INSERT INTO charges (request_id, charge_ref, amount, currency) VALUES (?, ?, ?, ?)",
        {o.request_id.to_string(), charge_id, o.amount.minor(),
         std::string(o.amount.currency().code())});
    if (!saved) return std::unexpected(saved.error());
    return Json{{"charged", receipt.to_json()}};
  });
}

// The card's holder proves the card before its first charge (issue 12, finding 6): the wallet
// seals to the clearing house its card number and commitment salt with the card's expiry and
// CVC ("verify_card") or the one-time code its holder was sent ("confirm_card"); the center only
// forwards it with the certificate its caller showed. The number must be the one the certificate
// commits to; the card company answers, under the certificate's reference. Nothing is stored
// here: the CVC passes through to the card company alone.
Result<Json> ClearingHouse::card_check(std::string_view route, const Json& body) {
  auto wallet = parties::read_certificate(body, "wallet_certificate", m_trust, {pki::Role::wallet},
                                          m_clock.now());
  if (!wallet) return std::unexpected(wallet.error());
  protocol::FieldReader r(body, "card check");
  const auto sealed = r.bytes("sealed_card");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  auto card = open_account(m_identity.keys.sealing, sealed);
  if (!card) return std::unexpected(card.error());
  if (auto ok = check_card_number(card->number); !ok) return std::unexpected(ok.error());
  if (auto ok = check_commitment(*wallet, *card); !ok) return std::unexpected(ok.error());
  auto plain = m_identity.keys.sealing.open(sealed);
  if (!plain) return std::unexpected(plain.error());
  const Json details = protocol::parse_limited(as_text(*plain));
  Json ask = {{"card_number", card->number}, {"reference", card_reference(*wallet)}};
  for (const char* field : route == "verify_card" ? std::vector<const char*>{"expiry", "cvc"}
                                                  : std::vector<const char*>{"code"}) {
    if (!details.contains(field) || !details[field].is_string()) {
      return fail(ErrorCode::malformed, std::string("the sealed card carries no ") + field);
    }
    ask[field] = details[field];
  }
  return m_card_company->call(std::string(route), ask);
}

// The center could not credit a charged deposit: give the money back to the card.
Result<Json> ClearingHouse::refund(const Json& body) {
  protocol::FieldReader r(body, "refund");
  const auto request_id = r.id("request_id");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  // Logged under its own ID: the deposit's request ID already names the charge.
  const auto refund_id = Id128::parse(derived_id("refund", request_id)).value();
  if (auto stored = parties::stored_answer(*m_db, "refund", refund_id, body); !stored || *stored) {
    if (!stored) return std::unexpected(stored.error());
    return **stored;
  }
  std::string charge_ref;
  auto found = m_db->read([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT charge_ref FROM charges WHERE request_id = ?", {request_id.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "no charge for " + request_id.to_string());
    charge_ref = *store::text_at(**row, 0);
    return {};
  });
  if (!found) return std::unexpected(found.error());
  // The card company, idempotent by the refund's ID, is called with nothing held.
  auto refunded = m_card_company->call(
      "refund", {{"request_id", derived_id("refund", request_id)}, {"charge_id", charge_ref}});
  if (!refunded) return std::unexpected(refunded.error());
  return parties::answer_once(*m_db, "refund", refund_id, body, m_clock.now(),
                              [&](store::Transaction& tx) -> Result<Json> {
    auto saved = tx.exec("UPDATE charges SET refunded = 1 WHERE request_id = ?",
                         {request_id.to_string()});
    if (!saved) return std::unexpected(saved.error());
    return Json{{"refunded", true}, {"charge_ref", charge_ref}};
  });
}

// S97-S99: the shop's account number is valid, exists, and is the one its certificate commits to.
Result<Json> ClearingHouse::verify_account(const pki::Certificate& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::ShopRegistration>(
      body, "shop_certificate", "registration", m_trust, {pki::Role::shop}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [shop, registration] = *certified;
  auto endorsement = protocol::read_signed<protocol::ShopRegistrationCenter>(body, "center");
  if (!endorsement) return std::unexpected(endorsement.error());
  if (auto ok = protocol::check_endorsement(*endorsement, center.verify_key(),
                                            registration.body.request_id, {registration.digest()});
      !ok) {
    return std::unexpected(ok.error());
  }
  auto account = open_account(m_identity.keys.sealing, registration.body.sealed_account);
  if (!account) return std::unexpected(account.error());
  auto iban = normalize_iban(account->number);
  if (!iban) return std::unexpected(iban.error());
  if (auto ok = check_commitment(shop, *account); !ok) return std::unexpected(ok.error());
  auto known = m_bank_institution->call("account", {{"iban", *iban}});
  if (!known) {
    if (outcome_unknown(known.error())) return std::unexpected(known.error());
    return fail(ErrorCode::bad_account, "the bank knows no account " + mask_account(*iban));
  }
  return parties::answer_once(
      *m_db, "verify_account", registration.body.request_id, body, now,
      [&](store::Transaction&) -> Result<Json> {
        const auto verified =
            protocol::sign(m_identity.keys.signing,
                           protocol::ShopAccountVerified{.request_id = registration.body.request_id,
                                                         .certificate_serial = shop.serial(),
                                                         .registration = registration.digest()});
        return Json{{"verified", verified.to_json()}};
      });
}

// S190-S191: pay the set-aside proceeds into the shop's bank account.
Result<Json> ClearingHouse::payout(const pki::Certificate& center, const Json& body) {
  const auto now = m_clock.now();
  auto shop = parties::read_certificate(body, "shop_certificate", m_trust, {pki::Role::shop}, now);
  if (!shop) return std::unexpected(shop.error());
  auto amount = protocol::read_verified<protocol::PayoutAmount>(body, "amount",
                                                                m_directory.bank.verify_key());
  if (!amount) return std::unexpected(amount.error());
  auto endorsement = protocol::read_signed<protocol::PayoutClearing>(body, "center");
  if (!endorsement) return std::unexpected(endorsement.error());
  protocol::FieldReader r(body, "payout");
  const auto sealed_account = r.bytes("sealed_account");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  const auto& a = amount->body;
  if (auto ok = protocol::check_endorsement(*endorsement, center.verify_key(), a.request_id,
                                            {amount->digest(), protocol::blob_digest(sealed_account)});
      !ok) {
    return std::unexpected(ok.error());
  }
  if (a.amount.is_negative()) return fail(ErrorCode::invalid_argument, "negative payout");
  auto account = open_account(m_identity.keys.sealing, sealed_account);
  if (!account) return std::unexpected(account.error());
  auto iban = normalize_iban(account->number);
  if (!iban) return std::unexpected(iban.error());
  if (auto ok = check_commitment(*shop, *account); !ok) return std::unexpected(ok.error());

  // The bank institution, idempotent by the payout's request ID, is called with nothing held;
  // its answer is recorded with this one.
  bool paid = true;
  std::string reference = "nothing to pay";
  if (a.amount.is_positive()) {
    auto transfer = m_bank_institution->call(
        "transfer_in", {{"request_id", a.request_id.to_string()},
                        {"iban", *iban},
                        {"amount", a.amount.to_string()},
                        {"reference", "ecash payout " + a.request_id.to_string()}});
    if (!transfer && outcome_unknown(transfer.error())) {
      return std::unexpected(transfer.error());  // not decided: the center retries
    }
    paid = transfer.has_value();
    reference = paid ? transfer->value("transfer_id", std::string("?"))
                     : "refused: " + transfer.error().to_string();
  }
  const auto result = protocol::sign(m_identity.keys.signing,
                                     protocol::PayoutResult{.request_id = a.request_id,
                                                            .amount = a.amount,
                                                            .paid = paid,
                                                            .reference = reference});
  return parties::answer_once(*m_db, "payout", a.request_id, body, now,
                              [&](store::Transaction& tx) -> Result<Json> {
    auto saved = tx.exec(
        "INSERT INTO payouts (request_id, amount, currency, paid, reference) VALUES (?, ?, ?, ?, ?)",
        {a.request_id.to_string(), a.amount.minor(), std::string(a.amount.currency().code()),
         std::int64_t{paid ? 1 : 0}, reference});
    if (!saved) return std::unexpected(saved.error());
    return Json{{"result", result.to_json()}};
  });
}

Result<Json> ClearingHouse::report() {
  Json out;
  auto done = m_db->read([&](store::Transaction& tx) -> Status {
    auto charged = tx.query_one(
        "SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(CASE WHEN refunded = 1 THEN amount ELSE 0 "
        "END), 0), COUNT(*) FROM charges");
    auto paid = tx.query_one(
        "SELECT COALESCE(SUM(CASE WHEN paid = 1 THEN amount ELSE 0 END), 0), COUNT(*) FROM payouts");
    if (!charged || !paid) return fail(ErrorCode::io_error, "report query failed");
    out = {{"charged_minor", *store::int_at(**charged, 0)},
           {"refunded_minor", *store::int_at(**charged, 1)},
           {"charges", *store::int_at(**charged, 2)},
           {"paid_out_minor", *store::int_at(**paid, 0)},
           {"payouts", *store::int_at(**paid, 1)}};
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return out;
}

// The institutions' statements, for the operator's reconciliation: relayed page by page, each
// entry rebuilt from the fields a reconciliation needs, so nothing else an institution might send
// (a card or account number) passes the clearing house.
Result<Json> ClearingHouse::statement(const Json& body) {
  protocol::FieldReader r(body, "statement");
  const auto institution = r.text("institution");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  const bool cards = institution == "card_company";
  if (!cards && institution != "bank") {
    return fail(ErrorCode::invalid_argument, "statement of card_company or bank, not " + institution);
  }
  Json ask = Json::object();
  for (const char* name : {"after", "limit"}) {
    if (body.contains(name)) ask[name] = body.at(name);
  }
  auto page = (cards ? m_card_company : m_bank_institution)->call("statement", ask);
  if (!page) return std::unexpected(page.error());
  Json entries = Json::array();
  try {
    for (const auto& e : page->at("entries")) {
      Json entry = {{"seq", e.at("seq").get<std::int64_t>()},
                    {"request_id", e.at("request_id").get<std::string>()},
                    {"amount", e.at("amount").get<std::string>()}};
      if (cards && e.contains("refund_id")) {
        entry["refunded"] = true;
      }
      entries.push_back(std::move(entry));
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::malformed,
                std::string(cards ? "the card company's" : "the bank's") + " statement: " + e.what());
  }
  Json out = {{"entries", std::move(entries)}};
  if (page->contains("next")) out["next"] = page->at("next");
  return out;
}

// Fraud and disclosure (DESIGN §4): the account behind a user ID, for the center, under a case the
// bank signed. The disclosure and its log entry are one transaction; a refusal is logged in its
// own, since the refused request's transaction is rolled back. A retry of a disclosed request gets
// the same answer and no second entry; a retry of a refused one is refused and logged again (each
// attempt is something an auditor should see).
Result<Json> ClearingHouse::disclose(const pki::Certificate& center, const Json& body) {
  if (auto stored = parties::stored_answer(*m_db, "disclose", body, "request"); !stored || *stored) {
    if (!stored) return std::unexpected(stored.error());
    return with_account(std::move(**stored), body, m_identity.keys.sealing);
  }
  const auto now = m_clock.now();
  auto answer = disclose_checked(center, body, now);
  if (answer) return answer;
  const auto claimed = claimed_request(body);
  auto logged = m_db->transact([&](store::Transaction& tx) -> Status {
    auto sequence = append_disclosure(
        tx, m_identity.keys.signing,
        protocol::DisclosureLogEntry{
            .at = now,
            .request_id = claimed.request_id,
            .case_id = claimed.case_id,
            .user_id = claimed.user_id,
            .reason = claimed.reason,
            .outcome = "refused: " + std::string(to_string(answer.error().code))});
    if (!sequence) return std::unexpected(sequence.error());
    return {};
  });
  if (!logged) {
    answer.error().message += " (and the refusal could not be logged: " +
                              logged.error().to_string() + ")";
  }
  return answer;
}

Result<Json> ClearingHouse::disclose_checked(const pki::Certificate& center, const Json& body,
                                             UnixSeconds now) {
  auto request =
      protocol::read_verified<protocol::DisclosureRequest>(body, "request", center.verify_key());
  if (!request) return std::unexpected(request.error());
  const auto& q = request->body;
  if (auto ok = protocol::check_fresh(q.timestamp, now); !ok) return std::unexpected(ok.error());
  // Without a case the bank signed, there is no open case: not_found, whatever is wrong with it.
  auto fraud_case =
      protocol::read_verified<protocol::FraudCase>(body, "case", m_directory.bank.verify_key());
  if (!fraud_case) return fail(ErrorCode::not_found, "no open case: " + fraud_case.error().message);
  if (fraud_case->body.user_id != q.user_id) {
    return fail(ErrorCode::not_found, "no open case against user " + q.user_id.to_string() +
                                          ": the case is about another user");
  }
  if (fraud_case->body.case_id != q.case_id) {
    return fail(ErrorCode::not_found,
                "no open case " + q.case_id.to_string() + ": the case sent is another one");
  }
  if (q.reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail(ErrorCode::invalid_argument, "a disclosure needs a reason");
  }
  protocol::FieldReader r(body, "disclose");
  const auto sealed_account = r.bytes("sealed_account");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  if (protocol::blob_digest(sealed_account) != q.sealed_account) {
    return fail(ErrorCode::bad_signature, "the sealed account is not the one the request names");
  }
  auto wallet = disclosed_wallet(body, m_trust, now);
  if (!wallet) return std::unexpected(wallet.error());
  auto account = open_account(m_identity.keys.sealing, sealed_account);
  if (!account) return std::unexpected(account.error());
  if (auto ok = check_commitment(*wallet, *account); !ok) return std::unexpected(ok.error());

  auto answer = parties::answer_once(*m_db, "disclose", q.request_id, body, now,
                                     [&](store::Transaction& tx) -> Result<Json> {
    auto sequence = append_disclosure(tx, m_identity.keys.signing,
                                      protocol::DisclosureLogEntry{.at = now,
                                                                   .request_id = q.request_id,
                                                                   .case_id = q.case_id,
                                                                   .user_id = q.user_id,
                                                                   .reason = q.reason,
                                                                   .outcome = "disclosed"});
    if (!sequence) return std::unexpected(sequence.error());
    // Stored for retries, so without the account number (with_account adds it).
    return Json{{"disclosure", Json{{"user_id", q.user_id.to_string()},
                                    {"case_id", q.case_id.to_string()},
                                    {"entry", *sequence}}}};
  });
  if (!answer) return answer;
  (*answer)["disclosure"]["account"] = account->number;
  return answer;
}

Result<Json> ClearingHouse::audit() {
  auto report = audit_disclosure_log(*m_db, m_identity.keys.signing.verify_key());
  if (!report) return std::unexpected(report.error());
  Json out = {{"entries", report->entries}, {"ok", !report->first_bad.has_value()}};
  if (report->first_bad) {
    out["first_bad"] = *report->first_bad;
    out["problem"] = report->problem;
  } else {
    out["head"] = protocol::to_text(report->head);
  }
  return out;
}

}  // namespace ecash::clearing
