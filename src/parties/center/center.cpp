#include "parties/center/center.hpp"

#include <array>

#include "crypto/random.hpp"

#include "protocol/statements.hpp"

namespace ecash::center {

using protocol::Json;
using protocol::Signed;

namespace {

constexpr std::array<store::Migration, 5> kMigrations = {{
    {1, "CREATE TABLE users (user_id TEXT PRIMARY KEY, verify_key BLOB NOT NULL, "
        "certificate_serial TEXT NOT NULL, certificate TEXT NOT NULL, sealed_card BLOB NOT NULL);"
        "CREATE TABLE shops (shop_id TEXT PRIMARY KEY, verify_key BLOB NOT NULL, "
        "certificate_serial TEXT NOT NULL UNIQUE, certificate TEXT NOT NULL, "
        "sealed_account BLOB NOT NULL);"
        "CREATE TABLE sagas (request_id TEXT PRIMARY KEY, route TEXT NOT NULL, digest BLOB NOT NULL, "
        "caller TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, answer TEXT, "
        "error_code TEXT, error_message TEXT, updated INTEGER NOT NULL);"},
    {2, "CREATE TABLE cases (case_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "statement TEXT NOT NULL, evidence TEXT NOT NULL, opened INTEGER NOT NULL, "
        "state TEXT NOT NULL);"},
    // Which node runs an open saga, until when (a lease, so one runs it at a time).
    {3, "ALTER TABLE sagas ADD COLUMN lease_owner TEXT;"
        "ALTER TABLE sagas ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;"
        "CREATE INDEX sagas_open ON sagas (state);"},
    // A saga's request and answer in tables of their own, each written once: a saga's small row
    // changes state without rewriting kilobytes of JSON.
    {4, "CREATE TABLE saga_requests (request_id TEXT PRIMARY KEY, caller TEXT NOT NULL, "
        "body TEXT NOT NULL);"
        "CREATE TABLE saga_answers (request_id TEXT PRIMARY KEY, answer TEXT NOT NULL);"
        "INSERT INTO saga_requests SELECT request_id, caller, body FROM sagas;"
        "INSERT INTO saga_answers SELECT request_id, answer FROM sagas WHERE answer IS NOT NULL;"
        "ALTER TABLE sagas DROP COLUMN caller;"
        "ALTER TABLE sagas DROP COLUMN body;"
        "ALTER TABLE sagas DROP COLUMN answer;"},
    // When a saga began, and when an open one is tried again (back-off after each failure).
    {5, "ALTER TABLE sagas ADD COLUMN created INTEGER NOT NULL DEFAULT 0;"
        "UPDATE sagas SET created = updated;"
        "ALTER TABLE sagas ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE sagas ADD COLUMN next_attempt INTEGER NOT NULL DEFAULT 0;"},
}};

// Errors that leave the outcome open (a party out of reach, its store failed): the saga stays
// open for resume().
bool is_transient(const Error& e) { return outcome_unknown(e); }

Bytes key_bytes(const crypto::VerifyKey& key) { return Bytes(key.bytes().begin(), key.bytes().end()); }

// An answer that does not verify leaves the outcome unknown (the peer may have acted): the saga
// stays open and a retry fetches the peer's stored answer again.
std::unexpected<Error> bad_answer(const std::string& why) {
  return fail(ErrorCode::unavailable, "answer did not verify, will retry: " + why);
}

template <class T>
Result<Signed<T>> answer_part(const Result<Json>& answer, const char* name,
                              const crypto::VerifyKey& signer) {
  if (!answer) return std::unexpected(answer.error());
  auto part = protocol::read_verified<T>(*answer, name, signer);
  if (!part) return bad_answer(part.error().to_string());
  return part;
}

}  // namespace

Center::Center(std::unique_ptr<store::Database> db, parties::Identity identity,
               parties::Directory directory, const pki::TrustStore& trust, const Clock& clock,
               Currency currency, std::unique_ptr<protocol::Channel> clearing,
               std::unique_ptr<protocol::Channel> bank)
    : m_db(std::move(db)),
      m_identity(std::move(identity)),
      m_directory(std::move(directory)),
      m_trust(trust),
      m_clock(clock),
      m_currency(currency),
      m_clearing(std::move(clearing)),
      m_bank(std::move(bank)) {
  crypto::SecureRandom random;
  m_node = Id128::random(random).to_string();
}

Result<std::unique_ptr<Center>> Center::open(const store::Place& place, parties::Identity identity,
                                             parties::Directory directory,
                                             const pki::TrustStore& trust, const Clock& clock,
                                             Currency currency,
                                             std::unique_ptr<protocol::Channel> clearing,
                                             std::unique_ptr<protocol::Channel> bank) {
  auto db = store::open_store(place, kMigrations);
  if (!db) return std::unexpected(db.error());
  return std::make_unique<Center>(std::move(*db), std::move(identity), std::move(directory), trust,
                                  clock, currency, std::move(clearing), std::move(bank));
}

Result<Center::OpenSagas> Center::open_sagas() {
  OpenSagas out;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one(
        "SELECT COUNT(*), COALESCE(MIN(created), 0), "
        "COALESCE(SUM(CASE WHEN route = 'payout' THEN 1 ELSE 0 END), 0) FROM sagas WHERE state = 'open'");
    if (!row) return std::unexpected(row.error());
    out = {*store::int_at(**row, 0), *store::int_at(**row, 1), *store::int_at(**row, 2)};
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<Json> Center::handle(const protocol::Caller& caller, std::string_view route,
                            const Json& body) {
  return parties::guarded([&]() -> Result<Json> {
    if (route == "directory") {
      return Json{{"directory", m_directory.to_json()},
                  {"crl", m_trust.anchor().crl.to_pem()},
                  {"currency", std::string(m_currency.code())}};
    }
    const auto now = m_clock.now();
    const bool from_wallet = route == "deposit" || route == "sync" || route == "verify_card" ||
                             route == "confirm_card";
    auto cert = parties::require_caller(
        caller, m_trust, {from_wallet ? pki::Role::wallet : pki::Role::shop}, now);
    if (!cert) return std::unexpected(cert.error());
    return dispatch(*cert, route, body);
  });
}

Result<Json> Center::dispatch(const pki::Certificate& caller, std::string_view route,
                              const Json& body) {
  if (route == "deposit") return deposit(caller, body);
  if (route == "register_shop") return register_shop(caller, body);
  if (route == "pay") return pay(caller, body);
  if (route == "payout") return payout(caller, body);
  if (route == "refund") return refund(caller, body);
  if (route == "sync") return sync(caller, body);
  if (route == "verify_card" || route == "confirm_card") {
    // The card's holder proves it to the card company (issue 12, finding 6): sealed to the
    // clearing house, forwarded with the certificate the caller showed; nothing kept here.
    protocol::FieldReader r(body, "card check");
    const auto sealed = r.bytes("sealed_card");
    if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
    return m_clearing->call(std::string(route), {{"wallet_certificate", caller.to_pem()},
                                                 {"sealed_card", protocol::to_text(sealed)}});
  }
  return fail(ErrorCode::not_found, "the center has no route " + std::string(route));
}

Result<Json> Center::run_saga(std::string_view route, const Id128& request_id,
                              const pki::Certificate& caller, const Json& body,
                              const crypto::Digest& digest, const Steps& steps, Kept kept) {
  const auto id = request_id.to_string();
  if (kept == Kept::by_the_bank) {
    // Nothing is written here, but a saga an older center wrote is finished as it was begun.
    bool there = false;
    auto seen = m_db->read([&](store::Transaction& tx) -> Status {
      auto row = tx.query_one("SELECT 1 FROM sagas WHERE request_id = ?", {id});
      if (!row) return std::unexpected(row.error());
      there = row->has_value();
      return {};
    });
    if (!seen) return std::unexpected(seen.error());
    if (!there) {
      auto outcome = steps();
      if (!outcome) return std::unexpected(outcome.error());
      return outcome->answer;
    }
  }
  const Bytes digest_bytes(digest.begin(), digest.end());
  // The saga is leased to this node while it runs: no lock is held across the calls to clearing
  // and the bank, and a second copy of the request (a wallet's retry) does not run it twice
  // meanwhile. A lease left by a crash runs out, and the saga is taken over.
  std::optional<Result<Json>> settled;
  const auto lease_now = m_clock.now();
  // Made before the transaction: the store's commit runs transaction bodies one after another.
  const std::string body_text = body.dump();
  const std::string caller_pem = caller.to_pem();
  auto opened = m_db->transact([&](store::Transaction& tx) -> Status {
    // Claimed before it is read: a read of a request ID not there yet would lock its index page
    // against every concurrent request's (PostgreSQL's SERIALIZABLE), as in the request log.
    auto n = tx.exec(
        "INSERT OR IGNORE INTO sagas (request_id, route, digest, state, updated, created, "
        "lease_owner, lease_until) VALUES (?, ?, ?, 'open', ?, ?, ?, ?)",
        {id, std::string(route), digest_bytes, lease_now, lease_now, m_node,
         lease_now + kSagaLease});
    if (!n) return std::unexpected(n.error());
    if (*n == 1) {
      auto m = tx.exec("INSERT INTO saga_requests (request_id, caller, body) VALUES (?, ?, ?)",
                       {id, caller_pem, body_text});
      if (!m) return std::unexpected(m.error());
      return {};
    }
    auto row = tx.query_one(
        "SELECT s.route, s.digest, s.state, a.answer, s.error_code, s.error_message, "
        "s.lease_owner, s.lease_until FROM sagas s LEFT JOIN saga_answers a USING (request_id) "
        "WHERE s.request_id = ?",
        {id});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::internal, "request " + id + " was claimed and is gone");
    const auto& r = **row;
    if (*store::text_at(r, 0) != route || *store::blob_at(r, 1) != digest_bytes) {
      return fail(ErrorCode::replayed, "request ID " + id + " was used by another request");
    }
    const auto state = *store::text_at(r, 2);
    if (state == "done") {
      settled = Json::parse(*store::text_at(r, 3));
      return {};
    }
    if (state == "failed") {
      settled = std::unexpected(Error{error_code_from_string(*store::text_at(r, 4)),
                                      *store::text_at(r, 5)});
      return {};
    }
    const bool leased = !store::is_null_at(r, 6) && *store::text_at(r, 6) != m_node &&
                        *store::int_at(r, 7) > lease_now;
    if (leased && !m_take_over) {
      settled = fail(ErrorCode::unavailable, "request " + id + " is being answered: ask again");
      return {};
    }
    auto taken = tx.exec("UPDATE sagas SET lease_owner = ?, lease_until = ? WHERE request_id = ?",
                         {m_node, lease_now + kSagaLease, id});
    if (!taken) return std::unexpected(taken.error());
    return {};
  });
  if (!opened) return std::unexpected(opened.error());
  if (settled) return *settled;

  auto outcome = steps();
  if (!outcome) {
    if (is_transient(outcome.error())) {
      // Open for a retry at once (the wallet's), and for resume_due() after a back-off that
      // doubles with each failure (2 s, 4 s, ... at most 5 minutes). When the release fails too
      // (the store is out of reach as well), the lease runs out by itself after kSagaLease and
      // the saga is taken up then: it waits longer, nothing is lost.
      (void)m_db->transact([&](store::Transaction& tx) -> Status {
        auto n = tx.exec(
            "UPDATE sagas SET lease_until = 0, attempts = attempts + 1, "
            "next_attempt = ? + "
            "  CASE WHEN attempts >= 8 THEN 300 ELSE 1 << CAST(attempts + 1 AS INTEGER) END "
            "WHERE request_id = ? AND lease_owner = ?",
            {m_clock.now(), id, m_node});
        if (!n) return std::unexpected(n.error());
        return {};
      });
      return std::unexpected(outcome.error());
    }
    auto recorded = m_db->transact([&](store::Transaction& tx) -> Status {
      auto n = tx.exec(
          "UPDATE sagas SET state = 'failed', error_code = ?, error_message = ?, updated = ? "
          "WHERE request_id = ? AND state = 'open'",
          {std::string(to_string(outcome.error().code)), outcome.error().message, m_clock.now(),
           id});
      if (!n) return std::unexpected(n.error());
      return {};
    });
    if (!recorded) return std::unexpected(recorded.error());
    return std::unexpected(outcome.error());
  }
  // Records that the saga ended, and gives the answer that stands: this one, or the answer of a
  // node that took the lease over and finished first.
  const std::string answer_text = outcome->answer.dump();
  std::optional<Json> first;
  auto done = m_db->transact([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT answer FROM saga_answers WHERE request_id = ?", {id});
    if (!row) return std::unexpected(row.error());
    if (*row) {
      first = Json::parse(*store::text_at(**row, 0));
      return {};
    }
    if (outcome->effects) {
      if (auto ok = outcome->effects(tx); !ok) return ok;
    }
    auto n = tx.exec("UPDATE sagas SET state = 'done', updated = ?, lease_until = 0 WHERE request_id = ?",
                     {m_clock.now(), id});
    if (!n) return std::unexpected(n.error());
    auto m = tx.exec("INSERT INTO saga_answers (request_id, answer) VALUES (?, ?)", {id, answer_text});
    if (!m) return std::unexpected(m.error());
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return first ? *first : outcome->answer;
}

Result<std::unordered_set<std::string>> Center::open_requests(UnixSeconds since) {
  std::unordered_set<std::string> out;
  auto listed = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT request_id FROM sagas WHERE state = 'open' OR updated >= ?", {since});
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) out.insert(store::text_at(row, 0).value_or(""));
    return {};
  });
  if (!listed) return std::unexpected(listed.error());
  return out;
}

Result<int> Center::resume(bool take_over) {
  std::vector<std::tuple<std::string, std::string, std::string>> open_sagas;
  auto listed = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT s.route, r.caller, r.body FROM sagas s JOIN saga_requests r USING (request_id) "
        "WHERE s.state = 'open'");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      open_sagas.emplace_back(*store::text_at(row, 0), *store::text_at(row, 1),
                              *store::text_at(row, 2));
    }
    return {};
  });
  if (!listed) return std::unexpected(listed.error());
  int finished = 0;
  // Before serving, as the only center: leases a crashed run left are taken over at once.
  m_take_over = take_over;
  for (const auto& [route, caller_pem, body_text] : open_sagas) {
    auto caller = pki::Certificate::from_pem(caller_pem);
    if (!caller) return std::unexpected(caller.error());
    // The caller was verified when the saga began; finishing it must not depend on time since.
    auto result = dispatch(*caller, route, Json::parse(body_text));
    if (result || !is_transient(result.error())) ++finished;
  }
  m_take_over = false;
  return finished;
}

Result<int> Center::resume_due(int at_most) {
  const auto now = m_clock.now();
  std::vector<std::tuple<std::string, std::string, std::string>> due;
  auto listed = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT s.route, r.caller, r.body FROM sagas s JOIN saga_requests r USING (request_id) "
        "WHERE s.state = 'open' AND s.lease_until <= ? AND s.next_attempt <= ? "
        "ORDER BY s.next_attempt LIMIT ?",
        {now, now, static_cast<std::int64_t>(at_most)});
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      due.emplace_back(*store::text_at(row, 0), *store::text_at(row, 1), *store::text_at(row, 2));
    }
    return {};
  });
  if (!listed) return std::unexpected(listed.error());
  int finished = 0;
  for (const auto& [route, caller_pem, body_text] : due) {
    auto caller = m_trust.parse_pem(caller_pem);
    if (!caller) continue;
    auto result = dispatch(*caller, route, Json::parse(body_text));
    if (result || !is_transient(result.error())) ++finished;
  }
  return finished;
}

UnixSeconds Center::saga_created(const Id128& request_id) {
  UnixSeconds created = m_clock.now();
  (void)m_db->read([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT created FROM sagas WHERE request_id = ?", {request_id.to_string()});
    if (row && *row) created = *store::int_at(**row, 0);
    return {};
  });
  return created;
}

bool Center::saga_begun(const Id128& request_id) {
  bool known = false;
  (void)m_db->read([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT 1 FROM sagas WHERE request_id = ?", {request_id.to_string()});
    known = row && *row;
    return {};
  });
  return known;
}

Result<std::optional<Json>> Center::paid_at_bank(const Json& order) {
  auto stored = m_bank->call("pay", {{"order", order}, {"finish_only", true}});
  if (stored) return std::optional<Json>(std::move(*stored));
  if (stored.error().code == ErrorCode::stale) return std::nullopt;
  return std::unexpected(stored.error());
}

Status Center::fresh_or_begun(UnixSeconds timestamp, const Id128& request_id) {
  auto fresh = protocol::check_fresh(timestamp, m_clock.now());
  if (!fresh && saga_begun(request_id)) return {};  // a saga begun is finished whatever its age
  return fresh;
}

Result<pki::Certificate> Center::certificate_field(const Json& body, const char* name) {
  protocol::FieldReader r(body, "message");
  const auto pem = r.text(name);
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  return pki::Certificate::from_pem(pem);
}

Status Center::check_amount(const Amount& amount) const {
  if (amount.currency() != m_currency) {
    return fail(ErrorCode::currency_mismatch,
                "this operator works in " + std::string(m_currency.code()));
  }
  if (!amount.is_positive()) return fail(ErrorCode::invalid_argument, "amount must be positive");
  return {};
}

Result<std::vector<Center::Member>> Center::find_members(std::initializer_list<Wanted> wanted) {
  std::vector<Member> found;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    found.clear();  // a read run again (PostgreSQL, after a lost connection) starts afresh
    for (const auto& w : wanted) {
      const bool users = std::string_view(w.table) == "users";
      auto row = tx.query_one(users ? "SELECT verify_key, sealed_card FROM users WHERE user_id = ?"
                                    : "SELECT verify_key, sealed_account FROM shops WHERE shop_id = ?",
                              {w.id.to_string()});
      if (!row) return std::unexpected(row.error());
      if (!*row || *store::blob_at(**row, 0) != key_bytes(w.key)) {
        return fail(users ? ErrorCode::unknown_user : ErrorCode::unknown_shop,
                    std::string(users ? "user " : "shop ") + w.id.to_string() +
                        " is not registered to this certificate");
      }
      found.push_back(Member{w.id, *store::blob_at(**row, 1)});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return found;
}

Result<Center::Member> Center::find_member(const char* table, const Id128& id,
                                           const crypto::VerifyKey& key) {
  auto found = find_members({{table, id, key}});
  if (!found) return std::unexpected(found.error());
  return found->front();
}

Result<Center::Member> Center::find_shop_by_key(const crypto::VerifyKey& key) {
  Result<Member> found = fail(ErrorCode::unknown_shop, "this certificate has no registered shop");
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT shop_id, sealed_account FROM shops WHERE verify_key = ?",
                            {key_bytes(key)});
    if (!row) return std::unexpected(row.error());
    if (*row) found = Member{Id128::parse(*store::text_at(**row, 0)).value(), *store::blob_at(**row, 1)};
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return found;
}

// Figs 2 and 5: S15 check, S16-S21 charge through clearing, S22-S26 credit at the bank,
// S27 remember the user, S28 countersign for the wallet.
Result<Json> Center::deposit(const pki::Certificate& wallet, const Json& body) {
  auto order = protocol::read_verified<protocol::DepositOrder>(body, "order", wallet.verify_key());
  if (!order) return std::unexpected(order.error());
  const auto& o = order->body;
  if (auto ok = fresh_or_begun(o.timestamp, o.request_id); !ok) return std::unexpected(ok.error());
  if (auto ok = check_amount(o.amount); !ok) return std::unexpected(ok.error());

  Bytes sealed_card = o.sealed_card;
  const bool first = o.sealed_user_id.empty();
  Id128 known_user;
  if (first) {
    if (sealed_card.empty()) {
      return fail(ErrorCode::invalid_argument, "a first deposit carries the sealed card number");
    }
  } else {
    auto plain = m_identity.keys.sealing.open(o.sealed_user_id);
    if (!plain) return std::unexpected(plain.error());
    auto user_id = Id128::parse(as_text(*plain));
    if (!user_id) return fail(ErrorCode::unknown_user, "the sealed user ID is not an ID");
    auto user = find_member("users", *user_id, wallet.verify_key());
    if (!user) return std::unexpected(user.error());
    known_user = *user_id;
    sealed_card = user->sealed_account;  // S74: the card number registered at S27
  }

  return run_saga("deposit", o.request_id, wallet, body, parties::body_digest(body),
                  [&]() -> Result<Outcome> {
    const auto charge_endorsement = protocol::endorse<crypto::Purpose::deposit_center_charge>(
        m_identity.keys.signing, o.request_id,
        {order->digest(), protocol::blob_digest(sealed_card)});
    auto charged = answer_part<protocol::DepositCharged>(
        m_clearing->call("charge", {{"wallet_certificate", wallet.to_pem()},
                                    {"order", order->to_json()},
                                    {"sealed_card", protocol::to_text(sealed_card)},
                                    {"center", charge_endorsement.to_json()}}),
        "charged", m_directory.clearing.verify_key());
    if (!charged) return std::unexpected(charged.error());
    if (charged->body.order != order->digest() || charged->body.amount != o.amount) {
      return bad_answer("clearing's receipt is for another deposit");
    }

    const auto credit_endorsement =
        protocol::sign(m_identity.keys.signing,
                       protocol::DepositCenterCredit{.request_id = o.request_id,
                                                     .order = order->digest(),
                                                     .charged = charged->digest(),
                                                     .user_id = known_user});
    auto receipt = answer_part<protocol::DepositReceipt>(
        m_bank->call("credit", {{"wallet_certificate", wallet.to_pem()},
                                {"order", order->to_json()},
                                {"charged", charged->to_json()},
                                {"center", credit_endorsement.to_json()}}),
        "receipt", m_directory.bank.verify_key());
    if (receipt && receipt->body.order != order->digest()) {
      return bad_answer("bank receipt is for another deposit");
    }
    if (!receipt && is_transient(receipt.error()) &&
        m_clock.now() - saga_created(o.request_id) >= m_credit_deadline) {
      // Charged, and not credited for a day: the bank is told to give it up (or says it did
      // credit it after all), and then the charge is reversed. Credited or reversed, never
      // neither, never both.
      const auto give_up = protocol::endorse<crypto::Purpose::deposit_center_void>(
          m_identity.keys.signing, o.request_id, {order->digest()});
      auto voided = m_bank->call("void_credit", {{"order", order->to_json()}, {"center", give_up.to_json()}});
      if (!voided) return std::unexpected(voided.error());
      if (voided->value("state", "") == "credited" && voided->contains("answer")) {
        receipt = answer_part<protocol::DepositReceipt>((*voided)["answer"], "receipt",
                                                         m_directory.bank.verify_key());
      } else {
        receipt = fail(ErrorCode::declined, "the deposit could not be credited within " +
                                                std::to_string(m_credit_deadline / 3600) +
                                                " hours: its card charge was reversed");
      }
    }
    if (receipt && receipt->body.order != order->digest()) {
      return bad_answer("bank receipt is for another deposit");
    }
    if (!receipt) {
      const Error error = receipt.error();
      if (is_transient(error)) return std::unexpected(error);
      // The card was charged but nothing can be credited: give the money back.
      auto refunded = m_clearing->call("refund", {{"request_id", o.request_id.to_string()}});
      if (!refunded) return std::unexpected(Error{ErrorCode::unavailable,
                                                  "refund pending: " + refunded.error().message});
      return std::unexpected(error);
    }

    const auto user_id = receipt->body.user_id;
    const auto endorsement = protocol::endorse<crypto::Purpose::deposit_receipt_center>(
        m_identity.keys.signing, o.request_id, {receipt->digest()});
    Outcome outcome{Json{{"receipt", receipt->to_json()}, {"center", endorsement.to_json()}}, {}};
    if (first) {
      outcome.effects = [user_id, wallet, sealed_card](store::Transaction& tx) -> Status {
        auto n = tx.exec(
            "INSERT INTO users (user_id, verify_key, certificate_serial, certificate, sealed_card) "
            "VALUES (?, ?, ?, ?, ?)",
            {user_id.to_string(), key_bytes(wallet.verify_key()), wallet.serial(), wallet.to_pem(),
             sealed_card});
        if (!n) return std::unexpected(n.error());
        return {};
      };
    }
    return outcome;
  });
}

// Fig 6: S96 to clearing, S101 to the bank, S105 remember the shop, S106 countersign.
Result<Json> Center::register_shop(const pki::Certificate& shop, const Json& body) {
  auto registration =
      protocol::read_verified<protocol::ShopRegistration>(body, "registration", shop.verify_key());
  if (!registration) return std::unexpected(registration.error());
  const auto& reg = registration->body;
  if (auto ok = fresh_or_begun(reg.timestamp, reg.request_id); !ok) return std::unexpected(ok.error());
  return run_saga("register_shop", reg.request_id, shop, body, parties::body_digest(body),
                  [&]() -> Result<Outcome> {
    const auto to_clearing = protocol::endorse<crypto::Purpose::shop_registration_center>(
        m_identity.keys.signing, reg.request_id, {registration->digest()});
    auto verified = answer_part<protocol::ShopAccountVerified>(
        m_clearing->call("verify_account", {{"shop_certificate", shop.to_pem()},
                                            {"registration", registration->to_json()},
                                            {"center", to_clearing.to_json()}}),
        "verified", m_directory.clearing.verify_key());
    if (!verified) return std::unexpected(verified.error());

    const auto to_bank = protocol::endorse<crypto::Purpose::shop_registration_bank>(
        m_identity.keys.signing, reg.request_id, {registration->digest(), verified->digest()});
    auto registered = answer_part<protocol::ShopRegistered>(
        m_bank->call("register_shop", {{"shop_certificate", shop.to_pem()},
                                       {"registration", registration->to_json()},
                                       {"verified", verified->to_json()},
                                       {"center", to_bank.to_json()}}),
        "registered", m_directory.bank.verify_key());
    if (!registered) return std::unexpected(registered.error());
    if (registered->body.registration != registration->digest()) {
      return bad_answer("bank's answer is for another registration");
    }
    const auto shop_id = registered->body.shop_id;
    const auto endorsement = protocol::endorse<crypto::Purpose::shop_registered_center>(
        m_identity.keys.signing, reg.request_id, {registered->digest()});
    return Outcome{
        Json{{"registered", registered->to_json()}, {"center", endorsement.to_json()}},
        [shop_id, shop, sealed = reg.sealed_account](store::Transaction& tx) -> Status {
          auto n = tx.exec(
              "INSERT INTO shops (shop_id, verify_key, certificate_serial, certificate, "
              "sealed_account) VALUES (?, ?, ?, ?, ?)",
              {shop_id.to_string(), key_bytes(shop.verify_key()), shop.serial(), shop.to_pem(),
               sealed});
          if (!n) return std::unexpected(n.error());
          return {};
        }};
  });
}

// Fig 10: S157 check both signatures and open both IDs, S159 to the bank, S163 countersign.
Result<Json> Center::pay(const pki::Certificate& shop, const Json& body) {
  auto order = protocol::read_signed<protocol::PaymentOrder>(body, "order");
  if (!order) return std::unexpected(order.error());
  // Every check that does not depend on whether the payment was made comes first. A wallet's
  // certificate refused now for its time or a revocation still names the key the order was signed
  // with (and that key must be a registered user's, below); one refused for anything else is
  // refused outright.
  auto checked_wallet = parties::read_certificate(body, "wallet_certificate", m_trust,
                                                  {pki::Role::wallet}, m_clock.now());
  const bool refused_for_now =
      !checked_wallet && (checked_wallet.error().code == ErrorCode::certificate_revoked ||
                          checked_wallet.error().code == ErrorCode::certificate_expired ||
                          checked_wallet.error().code == ErrorCode::certificate_not_yet_valid);
  auto wallet = refused_for_now ? certificate_field(body, "wallet_certificate") : checked_wallet;
  if (!wallet) return std::unexpected(checked_wallet.error());
  auto shop_part = protocol::read_verified<protocol::PaymentShop>(body, "shop", shop.verify_key());
  if (!shop_part) return std::unexpected(shop_part.error());
  const auto& o = order->body;
  if (auto ok = order->verify(wallet->verify_key()); !ok) return std::unexpected(ok.error());
  if (shop_part->body.order != order->digest() || shop_part->body.request_id != o.request_id) {
    return fail(ErrorCode::bad_signature, "the shop vouches for another order");
  }
  if (o.shop != shop.subject()) {
    return fail(ErrorCode::bad_signature, "the order is for another shop");
  }
  if (auto ok = check_amount(o.amount); !ok) return std::unexpected(ok.error());

  auto open_id = [&](const Bytes& sealed, ErrorCode unknown) -> Result<Id128> {
    auto plain = m_identity.keys.sealing.open(sealed);
    if (!plain) return std::unexpected(plain.error());
    auto id = Id128::parse(as_text(*plain));
    if (!id) return fail(unknown, "sealed ID is not an ID");
    return id;
  };
  auto user_id = open_id(o.sealed_user_id, ErrorCode::unknown_user);
  if (!user_id) return std::unexpected(user_id.error());
  auto shop_id = open_id(shop_part->body.sealed_shop_id, ErrorCode::unknown_shop);
  if (!shop_id) return std::unexpected(shop_id.error());
  if (auto members = find_members({{"users", *user_id, wallet->verify_key()},
                                    {"shops", *shop_id, shop.verify_key()}});
      !members) {
    return std::unexpected(members.error());
  }
  // A request the shop passes on only to be finished (its order expired: the shop lost the first
  // answer), a late one, or one whose wallet is refused now is finished only if it was begun:
  // the bank paid it (the center keeps no record of a payment), or an older center began it.
  // Never begun anew: the bank, asked, refuses it for good. When that cannot be asked, the
  // caller asks again.
  const bool finish_only = body.value("finish_only", false);
  const auto fresh = protocol::check_fresh(o.timestamp, m_clock.now());
  // The bank's answer, when it was asked here, is the one the steps would fetch again.
  std::optional<Json> paid;
  if ((finish_only || !checked_wallet || !fresh) && !saga_begun(o.request_id)) {
    auto asked = paid_at_bank(order->to_json());
    if (!asked) return std::unexpected(asked.error());
    if (!*asked) {
      if (finish_only) return fail(ErrorCode::stale, "the payment was never begun, and its order has expired");
      return std::unexpected(!checked_wallet ? checked_wallet.error() : fresh.error());
    }
    paid = std::move(*asked);
  }

  // The payment is the wallet's order: the shop's part is signed afresh (its sealed shop ID is
  // randomised) when it passes on a retry.
  return run_saga("pay", o.request_id, shop, body, order->digest(), [&]() -> Result<Outcome> {
    const auto ask_bank = [&] {
      const auto to_bank = protocol::sign(m_identity.keys.signing,
                                          protocol::PaymentCenter{.request_id = o.request_id,
                                                                  .order = order->digest(),
                                                                  .shop = shop_part->digest(),
                                                                  .user_id = *user_id,
                                                                  .shop_id = *shop_id,
                                                                  .amount = o.amount});
      return m_bank->call("pay", {{"wallet_certificate", wallet->to_pem()},
                                  {"shop_certificate", shop.to_pem()},
                                  {"order", order->to_json()},
                                  {"shop", shop_part->to_json()},
                                  {"center", to_bank.to_json()}});
    };
    auto receipt = answer_part<protocol::PaymentReceiptBank>(
        paid ? Result<Json>(*paid) : ask_bank(), "receipt", m_directory.bank.verify_key());
    if (!receipt) return std::unexpected(receipt.error());
    if (receipt->body.order != order->digest() || receipt->body.amount != o.amount) {
      return bad_answer("bank receipt is for another payment");
    }
    const auto endorsement = protocol::endorse<crypto::Purpose::payment_receipt_center>(
        m_identity.keys.signing, o.request_id, {receipt->digest()});
    // Asked again, the bank gives its stored receipt, and the endorsement is signed anew to the
    // same bytes.
    return Outcome{Json{{"receipt", receipt->to_json()}, {"center", endorsement.to_json()}}};
  }, Kept::by_the_bank);
}

// Fig 11: S183 check, S185 the bank sets the sales aside, S189 clearing pays the account,
// then the bank settles it (paid, or the sales come back), S192 countersign for the shop.
Result<Json> Center::payout(const pki::Certificate& shop, const Json& body) {
  auto request =
      protocol::read_verified<protocol::PayoutRequest>(body, "payout_request", shop.verify_key());
  if (!request) return std::unexpected(request.error());
  const auto& req = request->body;
  if (auto ok = fresh_or_begun(req.timestamp, req.request_id); !ok) return std::unexpected(ok.error());
  auto member = find_shop_by_key(shop.verify_key());
  if (!member) return std::unexpected(member.error());

  return run_saga("payout", req.request_id, shop, body, parties::body_digest(body),
                  [&]() -> Result<Outcome> {
    const auto to_bank = protocol::sign(m_identity.keys.signing,
                                        protocol::PayoutCenter{.request_id = req.request_id,
                                                               .payout_request = request->digest(),
                                                               .shop_id = member->id});
    auto amount = answer_part<protocol::PayoutAmount>(
        m_bank->call("payout_start", {{"shop_certificate", shop.to_pem()},
                                      {"payout_request", request->to_json()},
                                      {"center", to_bank.to_json()}}),
        "amount", m_directory.bank.verify_key());
    if (!amount) return std::unexpected(amount.error());
    if (amount->body.shop_id != member->id || amount->body.request_id != req.request_id) {
      return bad_answer("bank's payout is for another shop");
    }

    const auto to_clearing = protocol::endorse<crypto::Purpose::payout_clearing>(
        m_identity.keys.signing, req.request_id,
        {amount->digest(), protocol::blob_digest(member->sealed_account)});
    auto result = answer_part<protocol::PayoutResult>(
        m_clearing->call("payout", {{"shop_certificate", shop.to_pem()},
                                    {"amount", amount->to_json()},
                                    {"sealed_account", protocol::to_text(member->sealed_account)},
                                    {"center", to_clearing.to_json()}}),
        "result", m_directory.clearing.verify_key());
    if (!result) {
      if (is_transient(result.error())) return std::unexpected(result.error());
      // Clearing refused before any transfer: the bank puts the proceeds back into sales.
      auto cancelled = m_bank->call("payout_cancel", {{"center", to_bank.to_json()}});
      if (!cancelled) {
        return std::unexpected(Error{ErrorCode::unavailable,
                                     "payout cancel pending: " + cancelled.error().message});
      }
      return std::unexpected(result.error());
    }
    if (result->body.request_id != req.request_id || result->body.amount != amount->body.amount) {
      return bad_answer("clearing's result is for another payout");
    }
    // Nothing set aside, nothing to settle: the bank closed a zero payout at once.
    if (amount->body.amount.is_positive()) {
      // Clearing's result is final (the money left or came back at the bank institution), so
      // the bank must take it: a refusal here is retried, never the end of the saga.
      auto settled = m_bank->call("payout_finish", {{"result", result->to_json()}});
      if (!settled) {
        return fail(ErrorCode::unavailable, "payout settled at clearing, bank to follow: " +
                                                settled.error().to_string());
      }
    }
    const auto endorsement = protocol::endorse<crypto::Purpose::payout_receipt>(
        m_identity.keys.signing, req.request_id, {result->digest()});
    return Outcome{Json{{"result", result->to_json()}, {"center", endorsement.to_json()}}, {}};
  });
}

// Refunds (issue 14): the shop's signed request, the bank gives the money back to whoever paid
// the order (the center names the shop; nobody tells the shop who paid), the center countersigns.
Result<Json> Center::refund(const pki::Certificate& shop, const Json& body) {
  auto request = protocol::read_verified<protocol::RefundRequest>(body, "refund", shop.verify_key());
  if (!request) return std::unexpected(request.error());
  const auto& r = request->body;
  if (auto ok = fresh_or_begun(r.timestamp, r.request_id); !ok) return std::unexpected(ok.error());
  if (auto ok = check_amount(r.amount); !ok) return std::unexpected(ok.error());
  auto member = find_shop_by_key(shop.verify_key());
  if (!member) return std::unexpected(member.error());

  return run_saga("refund", r.request_id, shop, body, parties::body_digest(body),
                  [&]() -> Result<Outcome> {
    const auto to_bank = protocol::sign(m_identity.keys.signing,
                                        protocol::RefundCenter{.request_id = r.request_id,
                                                               .refund_request = request->digest(),
                                                               .shop_id = member->id});
    auto receipt = answer_part<protocol::RefundReceipt>(
        m_bank->call("refund", {{"shop_certificate", shop.to_pem()},
                                {"refund", request->to_json()},
                                {"center", to_bank.to_json()}}),
        "receipt", m_directory.bank.verify_key());
    if (!receipt) return std::unexpected(receipt.error());
    const auto& b = receipt->body;
    if (b.request_id != r.request_id || b.refund_request != request->digest() ||
        b.order_id != r.order_id || b.amount != r.amount) {
      return bad_answer("bank's refund receipt is for another refund");
    }
    const auto endorsement = protocol::endorse<crypto::Purpose::refund_receipt_center>(
        m_identity.keys.signing, r.request_id, {receipt->digest()});
    return Outcome{Json{{"receipt", receipt->to_json()}, {"center", endorsement.to_json()}}, {}};
  });
}

// Reconciliation: the wallet's transfer records go to the bank sealed; the bank's cases of fraud
// come back to the center, which opens them; the result goes to the wallet sealed.
Result<Json> Center::sync(const pki::Certificate& wallet, const Json& body) {
  auto order = protocol::read_verified<protocol::SyncOrder>(body, "order", wallet.verify_key());
  if (!order) return std::unexpected(order.error());
  const auto& o = order->body;
  if (auto ok = fresh_or_begun(o.timestamp, o.request_id); !ok) return std::unexpected(ok.error());
  auto plain = m_identity.keys.sealing.open(o.sealed_user_id);
  if (!plain) return std::unexpected(plain.error());
  auto user_id = Id128::parse(as_text(*plain));
  if (!user_id) return fail(ErrorCode::unknown_user, "the sealed user ID is not an ID");
  if (auto user = find_member("users", *user_id, wallet.verify_key()); !user) {
    return std::unexpected(user.error());
  }
  return run_saga("sync", o.request_id, wallet, body, parties::body_digest(body),
                  [&]() -> Result<Outcome> {
    const auto to_bank = protocol::sign(m_identity.keys.signing,
                                        protocol::SyncCenter{.request_id = o.request_id,
                                                             .order = order->digest(),
                                                             .user_id = *user_id});
    auto answer = m_bank->call("sync", {{"wallet_certificate", wallet.to_pem()},
                                        {"order", order->to_json()},
                                        {"center", to_bank.to_json()}});
    auto receipt = answer_part<protocol::SyncReceipt>(answer, "receipt", m_directory.bank.verify_key());
    if (!receipt) return std::unexpected(receipt.error());
    if (receipt->body.order != order->digest()) return bad_answer("the bank's result is for another sync");
    std::vector<std::pair<protocol::Signed<protocol::FraudCase>, Json>> cases;
    if (answer->contains("cases") && (*answer)["cases"].is_array()) {
      for (const auto& item : (*answer)["cases"]) {
        auto fraud = answer_part<protocol::FraudCase>(item, "case", m_directory.bank.verify_key());
        if (!fraud) return std::unexpected(fraud.error());
        cases.emplace_back(*fraud, item.value("evidence", Json::object()));
      }
    }
    const auto endorsement = protocol::endorse<crypto::Purpose::sync_receipt_center>(
        m_identity.keys.signing, o.request_id, {receipt->digest()});
    return Outcome{Json{{"receipt", receipt->to_json()}, {"center", endorsement.to_json()}},
                   [this, cases](store::Transaction& tx) -> Status {
                     for (const auto& [fraud, evidence] : cases) {
                       auto n = tx.exec(
                           "INSERT INTO cases (case_id, user_id, kind, statement, evidence, opened, "
                           "state) VALUES (?, ?, ?, ?, ?, ?, 'open') ON CONFLICT DO NOTHING",
                           {fraud.body.case_id.to_string(), fraud.body.user_id.to_string(),
                            fraud.body.kind, fraud.to_json().dump(), evidence.dump(),
                            m_clock.now()});
                       if (!n) return std::unexpected(n.error());
                     }
                     return {};
                   }};
  });
}

Result<Json> Center::cases() {
  Json out = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT case_id, user_id, kind, evidence, opened, state, statement FROM cases "
        "ORDER BY opened, case_id");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& r : *rows) {
      out.push_back({{"case_id", *store::text_at(r, 0)},
                     {"user_id", *store::text_at(r, 1)},
                     {"kind", *store::text_at(r, 2)},
                     {"evidence", Json::parse(*store::text_at(r, 3), nullptr, false)},
                     {"opened", *store::int_at(r, 4)},
                     {"state", *store::text_at(r, 5)},
                     {"statement", Json::parse(*store::text_at(r, 6), nullptr, false)}});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<Json> Center::users() {
  Json out = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT u.user_id, u.certificate_serial, COALESCE(c.open, 0) FROM users u LEFT JOIN "
        "(SELECT user_id, COUNT(*) AS open FROM cases WHERE state = 'open' GROUP BY user_id) c "
        "USING (user_id) ORDER BY u.user_id");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& r : *rows) {
      out.push_back({{"user_id", store::text_at(r, 0).value_or("")},
                     {"certificate_serial", store::text_at(r, 1).value_or("")},
                     {"open_cases", store::int_at(r, 2).value_or(0)}});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<Json> Center::shops() {
  Json out = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT shop_id, certificate_serial FROM shops ORDER BY shop_id");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& r : *rows) {
      out.push_back({{"shop_id", store::text_at(r, 0).value_or("")},
                     {"certificate_serial", store::text_at(r, 1).value_or("")}});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

// Asks clearing for the account information behind user_id, for an open case, with a reason.
Result<Json> Center::disclose(const Id128& user_id, const Id128& case_id, const std::string& reason,
                              RandomSource& random) {
  std::string statement, certificate;
  Bytes sealed_card;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto c = tx.query_one("SELECT statement FROM cases WHERE case_id = ?", {case_id.to_string()});
    if (!c) return std::unexpected(c.error());
    if (*c) statement = *store::text_at(**c, 0);
    auto u = tx.query_one("SELECT certificate, sealed_card FROM users WHERE user_id = ?",
                          {user_id.to_string()});
    if (!u) return std::unexpected(u.error());
    if (!*u) return fail(ErrorCode::unknown_user, "no user " + user_id.to_string());
    certificate = *store::text_at(**u, 0);
    sealed_card = *store::blob_at(**u, 1);
    return {};
  });
  if (!read) return std::unexpected(read.error());
  const auto request = protocol::sign(
      m_identity.keys.signing,
      protocol::DisclosureRequest{.request_id = Id128::random(random),
                                  .timestamp = m_clock.now(),
                                  .case_id = case_id,
                                  .user_id = user_id,
                                  .reason = reason,
                                  .sealed_account = protocol::blob_digest(sealed_card)});
  // Without a case the request still goes: clearing refuses it and logs the refusal.
  Json body = {{"request", request.to_json()},
               {"sealed_account", protocol::to_text(sealed_card)},
               {"wallet_certificate", certificate}};
  if (!statement.empty()) body["case"] = Json::parse(statement);
  return m_clearing->call("disclose", body);
}

namespace {

// Verifies the statement `field` of answer as a T signed by key; a problem text or nothing.
template <class T>
std::optional<std::string> check_part(const Json& answer, const char* field,
                                      const crypto::VerifyKey& key) {
  auto part = protocol::read_verified<T>(answer, field, key);
  if (!part) return part.error().to_string();
  return std::nullopt;
}

}  // namespace

// Re-verifies every signature chain the center keeps: each finished saga's request (by its
// caller's certificate) and answer (by bank or clearing, and the center's countersignature), and
// each fraud case (by the bank).
Result<Json> Center::audit() {
  Json problems = Json::array();
  std::int64_t checked = 0;
  const auto& bank = m_directory.bank.verify_key();
  const auto& clearing = m_directory.clearing.verify_key();
  const auto& center = m_identity.certificate.verify_key();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto sagas = tx.query(
        "SELECT s.request_id, s.route, r.caller, r.body, a.answer FROM sagas s "
        "JOIN saga_requests r USING (request_id) JOIN saga_answers a USING (request_id) "
        "WHERE s.state = 'done'");
    if (!sagas) return std::unexpected(sagas.error());
    for (const auto& row : *sagas) {
      const auto id = *store::text_at(row, 0);
      const auto route = *store::text_at(row, 1);
      auto caller = pki::Certificate::from_pem(*store::text_at(row, 2));
      const Json body = Json::parse(*store::text_at(row, 3), nullptr, false);
      const Json answer = Json::parse(*store::text_at(row, 4), nullptr, false);
      std::vector<std::optional<std::string>> found;
      if (!caller || body.is_discarded() || answer.is_discarded()) {
        found.push_back("unreadable saga");
      } else if (route == "deposit") {
        found = {check_part<protocol::DepositOrder>(body, "order", caller->verify_key()),
                 check_part<protocol::DepositReceipt>(answer, "receipt", bank),
                 check_part<protocol::DepositReceiptCenter>(answer, "center", center)};
      } else if (route == "register_shop") {
        found = {check_part<protocol::ShopRegistration>(body, "registration", caller->verify_key()),
                 check_part<protocol::ShopRegistered>(answer, "registered", bank),
                 check_part<protocol::ShopRegisteredCenter>(answer, "center", center)};
      } else if (route == "pay") {
        found = {check_part<protocol::PaymentShop>(body, "shop", caller->verify_key()),
                 check_part<protocol::PaymentReceiptBank>(answer, "receipt", bank),
                 check_part<protocol::PaymentReceiptCenter>(answer, "center", center)};
      } else if (route == "payout") {
        found = {check_part<protocol::PayoutRequest>(body, "payout_request", caller->verify_key()),
                 check_part<protocol::PayoutResult>(answer, "result", clearing),
                 check_part<protocol::PayoutReceipt>(answer, "center", center)};
      } else if (route == "refund") {
        found = {check_part<protocol::RefundRequest>(body, "refund", caller->verify_key()),
                 check_part<protocol::RefundReceipt>(answer, "receipt", bank),
                 check_part<protocol::RefundReceiptCenter>(answer, "center", center)};
      } else if (route == "sync") {
        found = {check_part<protocol::SyncOrder>(body, "order", caller->verify_key()),
                 check_part<protocol::SyncReceipt>(answer, "receipt", bank),
                 check_part<protocol::SyncReceiptCenter>(answer, "center", center)};
      }
      for (const auto& problem : found) {
        ++checked;
        if (problem) problems.push_back("center saga " + route + " " + id + ": " + *problem);
      }
    }
    auto cases = tx.query("SELECT case_id, statement FROM cases");
    if (!cases) return std::unexpected(cases.error());
    for (const auto& row : *cases) {
      ++checked;
      const Json statement = Json::parse(*store::text_at(row, 1), nullptr, false);
      auto fraud = protocol::Signed<protocol::FraudCase>::from_json(statement);
      if (!fraud || !fraud->verify(bank) ||
          fraud->body.case_id.to_string() != *store::text_at(row, 0)) {
        problems.push_back("center case " + *store::text_at(row, 0) + ": not the bank's statement");
      }
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return Json{{"checked", checked}, {"problems", problems}};
}

}  // namespace ecash::center
