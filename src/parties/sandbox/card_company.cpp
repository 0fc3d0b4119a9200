#include "parties/sandbox/card_company.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/account_number.hpp"
#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "parties/sandbox/fields.hpp"

namespace ecash::sandbox {
namespace {

// A card's limit never changes (open_card refuses another), so the unrefunded charges on it never
// sum to more than the limit and stay far from overflowing.
constexpr std::string_view kSchemaSql =
    "CREATE TABLE cards (card_number TEXT PRIMARY KEY, currency TEXT NOT NULL, "
    "  limit_minor INTEGER NOT NULL CHECK (limit_minor > 0), created INTEGER NOT NULL);"
    "CREATE TABLE charges (seq INTEGER PRIMARY KEY, charge_id TEXT NOT NULL UNIQUE, "
    "  card_number TEXT NOT NULL REFERENCES cards (card_number), "
    "  minor INTEGER NOT NULL CHECK (minor > 0), created INTEGER NOT NULL);"
    "CREATE INDEX charges_by_card ON charges (card_number, seq);"
    "CREATE TABLE refunds (seq INTEGER PRIMARY KEY, refund_id TEXT NOT NULL UNIQUE, "
    "  charge_id TEXT NOT NULL UNIQUE REFERENCES charges (charge_id), created INTEGER NOT NULL);";

// The merchant's reference of each charge and refund (the request ID it came under), as a
// settlement file carries it: filled for earlier rows from the answers the company gave.
constexpr std::string_view kReferencesSql =
    "ALTER TABLE charges ADD COLUMN request_id TEXT;"
    "UPDATE charges SET request_id = (SELECT l.id FROM request_log l WHERE l.route = 'charge' "
    "  AND json_extract(l.response, '$.charge_id') = charges.charge_id);"
    "ALTER TABLE refunds ADD COLUMN request_id TEXT;"
    "UPDATE refunds SET request_id = (SELECT l.id FROM request_log l WHERE l.route = 'refund' "
    "  AND json_extract(l.response, '$.refund_id') = refunds.refund_id);";

// Card numbers unreadable at rest (issue 12, finding 5): a card is found by its lookup key (a keyed
// hash of its number, crypto/at_rest.hpp) and its number is kept sealed beside it. Rows an older
// version kept in clear (card_sealed NULL, the number still in card_key) are sealed at open.
constexpr std::string_view kSealedNumbersSql =
    "ALTER TABLE cards RENAME COLUMN card_number TO card_key;"
    "ALTER TABLE charges RENAME COLUMN card_number TO card_key;"
    "ALTER TABLE cards ADD COLUMN card_sealed TEXT;";

// What a holder proves before a card is charged for a certificate (issue 12, finding 6): the
// expiry (sealed) and CVC (a keyed hash of the card's key and the CVC: never kept in clear), wrong
// details in a row (the card locks at kMaxWrongDetails), the one-time code waiting for each (card,
// reference) (no code kept: it is made again from its nonce under the data key), and the
// references each card is bound to. Cards an older version opened take the sandbox's defaults.
constexpr std::string_view kConfirmationSql =
    "ALTER TABLE cards ADD COLUMN expiry_sealed TEXT;"
    "ALTER TABLE cards ADD COLUMN cvc_key TEXT;"
    "ALTER TABLE cards ADD COLUMN wrong_details INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE card_codes (card_key TEXT NOT NULL, reference TEXT NOT NULL, "
    "  nonce TEXT NOT NULL, issued INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
    "  PRIMARY KEY (card_key, reference));"
    "CREATE TABLE card_bindings (card_key TEXT NOT NULL, reference TEXT NOT NULL, "
    "  bound INTEGER NOT NULL, PRIMARY KEY (card_key, reference));";

constexpr std::array<std::string_view, 4> kVersions = {kSchemaSql, kReferencesSql,
                                                       kSealedNumbersSql, kConfirmationSql};

// The associated data of a sealed card number, and the domain of its lookup key.
constexpr std::string_view kCardColumn = "cards.card";
constexpr std::string_view kExpiryColumn = "cards.expiry";
constexpr std::string_view kCvcColumn = "cards.cvc";
constexpr std::string_view kCodeColumn = "card_codes.code";

// "MM/YY" as the card shows it, two digits each; invalid_argument otherwise.
Result<std::string> expiry_of(const std::string& text) {
  unsigned month = 0;
  unsigned year = 0;
  char tail = 0;
  if (text.size() != 5 || std::sscanf(text.c_str(), "%2u/%2u%c", &month, &year, &tail) != 2 ||
      month < 1 || month > 12) {
    return fail(ErrorCode::invalid_argument, "an expiry reads MM/YY, not '" + text + "'");
  }
  return text;
}

// Whether a card expiring "MM/YY" is past its last day at now.
bool expired(const std::string& expiry, UnixSeconds now) {
  unsigned month = 0;
  unsigned year = 0;
  (void)std::sscanf(expiry.c_str(), "%2u/%2u", &month, &year);
  using namespace std::chrono;
  const sys_days first_after = year_month_day{std::chrono::year(2000 + static_cast<int>(year)),
                                              std::chrono::month(month), day(1)} +
                               months(1);
  return now >= duration_cast<seconds>(first_after.time_since_epoch()).count();
}

Result<std::string> cvc_of(const std::string& text) {
  const bool digits = text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || text.size() < 3 || text.size() > 4) {
    return fail(ErrorCode::invalid_argument, "a CVC is 3 or 4 digits");
  }
  return text;
}

// The text field checked by check; fallback when the body has no such field and one is given.
Result<std::string> checked_field(const Json& body, std::string_view name,
                                  Result<std::string> (*check)(const std::string&),
                                  std::optional<std::string_view> fallback = std::nullopt) {
  if (fallback && !body.contains(name)) return std::string(*fallback);
  auto text = text_field(body, name);
  if (!text) return text;
  return check(*text);
}

Result<std::string> reference_field(const Json& body) {
  auto reference = text_field(body, "reference");
  if (!reference) return reference;
  if (reference->empty()) return fail(ErrorCode::invalid_argument, "an empty reference");
  if (auto ok = check_plain_text("reference", *reference, kMaxTextSize); !ok) {
    return std::unexpected(ok.error());
  }
  return reference;
}

// The card's limit; nullopt for a card the company does not know (card_key: its lookup key).
Result<std::optional<Amount>> card_limit(store::Transaction& tx, const std::string& card_key) {
  auto row =
      tx.query_one("SELECT currency, limit_minor FROM cards WHERE card_key = ?", {card_key});
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  auto limit = amount_at(**row, 0, 1);
  if (!limit) return std::unexpected(limit.error());
  return std::optional<Amount>(*limit);
}

Result<std::string> card_number_field(const Json& body) {
  auto number = text_field(body, "card_number");
  if (!number) return number;
  if (auto ok = check_card_number(*number); !ok) return std::unexpected(ok.error());
  return number;
}

}  // namespace

CardCompany::CardCompany(std::unique_ptr<store::Database> db, const Clock& clock)
    : Institution("the card company", std::move(db), clock,
                  {{"open_card", std::bind_front(&CardCompany::open_card, this)},
                   {"verify_card", std::bind_front(&CardCompany::verify_card, this)},
                   {"confirm_card", std::bind_front(&CardCompany::confirm_card, this)},
                   {"charge", std::bind_front(&CardCompany::charge, this)},
                   {"refund", std::bind_front(&CardCompany::refund, this)},
                   {"card", std::bind_front(&CardCompany::card, this)},
                   {"statement", std::bind_front(&CardCompany::statement, this)}}) {}

Result<std::unique_ptr<CardCompany>> CardCompany::open(const std::string& db_path,
                                                       const Clock& clock) {
  return open_as<CardCompany>(db_path, kVersions, clock);
}

Status CardCompany::seal_clear_rows() {
  std::int64_t sealed = 0;
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    // A card's key changes in cards and in its charges together: checked at commit.
    if (auto ok = tx.exec("PRAGMA defer_foreign_keys = ON"); !ok) return std::unexpected(ok.error());
    auto rows = tx.query("SELECT card_key FROM cards WHERE card_sealed IS NULL");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto number = store::text_at(row, 0);
      if (!number) return std::unexpected(number.error());
      const auto key = data_key().lookup(*number, kCardColumn);
      // The request log told a retry from another request by a digest over the number itself
      // (one a search of every card number would find): now over the lookup key, as charge does.
      auto charged = tx.query(
          "SELECT c.request_id, k.currency, c.minor FROM charges c JOIN cards k "
          "ON k.card_key = c.card_key WHERE c.card_key = ? AND c.request_id IS NOT NULL",
          {*number});
      if (!charged) return std::unexpected(charged.error());
      for (const auto& charge : *charged) {
        auto amount = amount_at(charge, 1, 2);
        if (!amount) return std::unexpected(amount.error());
        const auto digest = request_digest({key, amount->to_string()});
        auto n = tx.exec("UPDATE request_log SET digest = ? WHERE id = ? AND route = 'charge'",
                         {Bytes(digest.begin(), digest.end()), store::text_at(charge, 0).value_or("")});
        if (!n) return std::unexpected(n.error());
      }
      auto charges = tx.exec("UPDATE charges SET card_key = ? WHERE card_key = ?", {key, *number});
      if (!charges) return std::unexpected(charges.error());
      auto card = tx.exec("UPDATE cards SET card_key = ?, card_sealed = ? WHERE card_key = ?",
                          {key, data_key().seal(*number, kCardColumn), *number});
      if (!card) return std::unexpected(card.error());
      ++sealed;
    }
    return {};
  });
  if (!done) return done;
  // Cards opened before expiries and CVCs were asked take the sandbox's defaults.
  auto defaults = write(*m_db, [&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT card_key FROM cards WHERE cvc_key IS NULL");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      const auto key = store::text_at(row, 0).value_or("");
      auto set = tx.exec("UPDATE cards SET expiry_sealed = ?, cvc_key = ? WHERE card_key = ?",
                         {data_key().seal(kSandboxExpiry, kExpiryColumn),
                          data_key().lookup(key + "\n" + std::string(kSandboxCvc), kCvcColumn), key});
      if (!set) return std::unexpected(set.error());
    }
    return {};
  });
  if (!defaults) return defaults;
  return sealed > 0 ? m_db->compact() : Status{};
}

Result<Json> CardCompany::open_card(const Json& body) {
  auto number = card_number_field(body);
  if (!number) return std::unexpected(number.error());
  auto limit = positive_amount_field(body, "limit");
  if (!limit) return std::unexpected(limit.error());
  auto expiry = checked_field(body, "expiry", expiry_of, kSandboxExpiry);
  if (!expiry) return std::unexpected(expiry.error());
  auto cvc = checked_field(body, "cvc", cvc_of, kSandboxCvc);
  if (!cvc) return std::unexpected(cvc.error());

  const auto card_key = data_key().lookup(*number, kCardColumn);
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    auto existing = card_limit(tx, card_key);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) {
      if (**existing == *limit) return {};
      return fail(ErrorCode::conflict, "card " + mask_account(*number) +
                                           " is already open with limit " +
                                           (*existing)->to_string());
    }
    auto inserted = tx.exec(
        "INSERT INTO cards (card_key, card_sealed, currency, limit_minor, created, expiry_sealed, "
        "cvc_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
        {card_key, data_key().seal(*number, kCardColumn), std::string(limit->currency().code()),
         limit->minor(), m_clock.now(), data_key().seal(*expiry, kExpiryColumn),
         data_key().lookup(card_key + "\n" + *cvc, kCvcColumn)});
    if (!inserted) return std::unexpected(inserted.error());
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return Json{{"card_number_masked", mask_account(*number)}};
}

// The six digits of the code for (card, reference) made with nonce: the store keeps the nonce
// only, so the code is had again only with the data key.
std::string CardCompany::code_of(const std::string& card_key, const std::string& reference,
                                 const std::string& nonce) const {
  const auto mac = data_key().lookup(card_key + "\n" + reference + "\n" + nonce, kCodeColumn);
  const auto digest = crypto::blake2b_256(as_bytes(mac));
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n = (n << 8) | digest[static_cast<std::size_t>(i)];
  char code[8];
  std::snprintf(code, sizeof code, "%06u", static_cast<unsigned>(n % 1000000));
  return code;
}

// 3-D Secure's first half: the details on the card, then a code sent to its holder.
Result<Json> CardCompany::verify_card(const Json& body) {
  auto number = card_number_field(body);
  if (!number) return std::unexpected(number.error());
  auto expiry = checked_field(body, "expiry", expiry_of);
  if (!expiry) return std::unexpected(expiry.error());
  auto cvc = checked_field(body, "cvc", cvc_of);
  if (!cvc) return std::unexpected(cvc.error());
  auto reference = reference_field(body);
  if (!reference) return std::unexpected(reference.error());

  const auto card_key = data_key().lookup(*number, kCardColumn);
  const auto now = m_clock.now();
  std::optional<Error> refused;  // a wrong detail is counted (committed), then refused
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT expiry_sealed, cvc_key, wrong_details FROM cards WHERE card_key = ?",
                            {card_key});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::declined, "unknown card " + mask_account(*number));
    const auto wrong = store::int_at(**row, 2).value_or(0);
    if (wrong >= kMaxWrongDetails) {
      return fail(ErrorCode::declined, "card " + mask_account(*number) + " is locked after " +
                                           std::to_string(wrong) + " wrong details: call the card company");
    }
    auto on_card = data_key().open(store::text_at(**row, 0).value_or(""), kExpiryColumn);
    if (!on_card) return std::unexpected(on_card.error());
    const bool cvc_right = data_key().lookup(card_key + "\n" + *cvc, kCvcColumn) ==
                           store::text_at(**row, 1).value_or("");
    if (*on_card != *expiry || !cvc_right) {
      refused = *on_card != *expiry
                    ? Error{ErrorCode::wrong_expiry, "the expiry is not the one on the card"}
                    : Error{ErrorCode::wrong_cvc, "the CVC is not the one on the card"};
      auto counted = tx.exec("UPDATE cards SET wrong_details = wrong_details + 1 WHERE card_key = ?",
                             {card_key});
      return counted ? Status{} : Status(std::unexpected(counted.error()));
    }
    if (expired(*expiry, now)) {
      return fail(ErrorCode::declined, "card " + mask_account(*number) + " expired at the end of " + *expiry);
    }
    auto reset = tx.exec("UPDATE cards SET wrong_details = 0 WHERE card_key = ?", {card_key});
    if (!reset) return std::unexpected(reset.error());
    auto code = tx.exec(
        "INSERT OR REPLACE INTO card_codes (card_key, reference, nonce, issued, attempts) "
        "VALUES (?, ?, ?, ?, 0)",
        {card_key, *reference, crypto::base64url_encode(crypto::random_bytes(16)), now});
    if (!code) return std::unexpected(code.error());
    return {};
  });
  if (!done) return std::unexpected(done.error());
  if (refused) return std::unexpected(*refused);
  return Json{{"code_sent", true}, {"expires", now + kCodeLifetime}};
}

// 3-D Secure's second half: the code the holder was sent binds the card to the reference.
Result<Json> CardCompany::confirm_card(const Json& body) {
  auto number = card_number_field(body);
  if (!number) return std::unexpected(number.error());
  auto reference = reference_field(body);
  if (!reference) return std::unexpected(reference.error());
  auto code = text_field(body, "code");
  if (!code) return std::unexpected(code.error());

  const auto card_key = data_key().lookup(*number, kCardColumn);
  const auto now = m_clock.now();
  std::optional<Error> refused;  // a wrong code is counted (committed), then refused
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    auto known = card_limit(tx, card_key);
    if (!known) return std::unexpected(known.error());
    if (!*known) return fail(ErrorCode::declined, "unknown card " + mask_account(*number));
    auto row = tx.query_one(
        "SELECT nonce, issued, attempts FROM card_codes WHERE card_key = ? AND reference = ?",
        {card_key, *reference});
    if (!row) return std::unexpected(row.error());
    const auto drop = [&]() -> Status {
      auto gone = tx.exec("DELETE FROM card_codes WHERE card_key = ? AND reference = ?",
                          {card_key, *reference});
      return gone ? Status{} : Status(std::unexpected(gone.error()));
    };
    if (!*row) {
      // A retry whose answer was lost: the card is bound already, and said so again.
      auto bound = tx.query_one("SELECT 1 FROM card_bindings WHERE card_key = ? AND reference = ?",
                                {card_key, *reference});
      if (!bound) return std::unexpected(bound.error());
      if (*bound) return {};
      return fail(ErrorCode::code_expired, "no code is waiting for this card: verify it again for a new one");
    }
    if (store::int_at(**row, 1).value_or(0) + kCodeLifetime < now) {
      refused = Error{ErrorCode::code_expired, "the code expired: verify the card again for a new one"};
      return drop();
    }
    if (*code != code_of(card_key, *reference, store::text_at(**row, 0).value_or(""))) {
      const auto attempts = store::int_at(**row, 2).value_or(0) + 1;
      refused = Error{ErrorCode::wrong_code,
                      "that is not the code sent to the card's holder" +
                          std::string(attempts >= kMaxCodeAttempts
                                          ? " (no tries left: verify the card again for a new one)"
                                          : "")};
      if (attempts >= kMaxCodeAttempts) return drop();
      auto counted = tx.exec(
          "UPDATE card_codes SET attempts = ? WHERE card_key = ? AND reference = ?",
          {attempts, card_key, *reference});
      return counted ? Status{} : Status(std::unexpected(counted.error()));
    }
    if (auto ok = drop(); !ok) return ok;
    auto bound = tx.exec(
        "INSERT OR IGNORE INTO card_bindings (card_key, reference, bound) VALUES (?, ?, ?)",
        {card_key, *reference, now});
    if (!bound) return std::unexpected(bound.error());
    return {};
  });
  if (!done) return std::unexpected(done.error());
  if (refused) return std::unexpected(*refused);
  return Json{{"confirmed", true}};
}

Result<Json> CardCompany::pending_code(const std::string& card_number) {
  if (auto ok = check_card_number(card_number); !ok) return std::unexpected(ok.error());
  const auto card_key = data_key().lookup(card_number, kCardColumn);
  Json answer;
  auto done = read(*m_db, [&](store::Transaction& tx) -> Status {
    auto row = tx.query_one(
        "SELECT reference, nonce, issued FROM card_codes WHERE card_key = ? AND issued >= ? "
        // The latest sent (two within a second: the later row, as INSERT OR REPLACE makes it).
        "ORDER BY issued DESC, rowid DESC LIMIT 1",
        {card_key, m_clock.now() - kCodeLifetime});
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      return fail(ErrorCode::not_found, "no code is waiting for card " + mask_account(card_number));
    }
    answer = Json{{"code", code_of(card_key, store::text_at(**row, 0).value_or(""),
                                   store::text_at(**row, 1).value_or(""))},
                  {"expires", store::int_at(**row, 2).value_or(0) + kCodeLifetime}};
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return answer;
}

Result<Json> CardCompany::charge(const Json& body) {
  auto request_id = request_id_field(body);
  if (!request_id) return std::unexpected(request_id.error());
  auto number = card_number_field(body);
  if (!number) return std::unexpected(number.error());
  auto amount = positive_amount_field(body, "amount");
  if (!amount) return std::unexpected(amount.error());
  auto reference = reference_field(body);
  if (!reference) return std::unexpected(reference.error());
  // The digest names the card by its lookup key: the request log keeps no hash of the number.
  const auto card_key = data_key().lookup(*number, kCardColumn);
  const auto digest = request_digest({card_key, amount->to_string()});

  return answer_once("charge", *request_id, digest, [&](store::Transaction& tx) -> Result<Json> {
    auto limit = card_limit(tx, card_key);
    if (!limit) return std::unexpected(limit.error());
    if (!*limit) return fail(ErrorCode::declined, "unknown card " + mask_account(*number));
    if ((*limit)->currency() != amount->currency()) {
      return fail(ErrorCode::currency_mismatch, "card " + mask_account(*number) + " is in " +
                                                    std::string((*limit)->currency().code()));
    }
    auto bound = tx.query_one("SELECT 1 FROM card_bindings WHERE card_key = ? AND reference = ?",
                              {card_key, *reference});
    if (!bound) return std::unexpected(bound.error());
    if (!*bound) {
      return fail(ErrorCode::card_not_confirmed,
                  "card " + mask_account(*number) +
                      " is not confirmed by its holder for this wallet: nothing charged");
    }
    auto row = tx.query_one(
        "SELECT COALESCE(SUM(c.minor), 0) FROM charges c WHERE c.card_key = ? AND NOT EXISTS "
        "(SELECT 1 FROM refunds r WHERE r.charge_id = c.charge_id)",
        {card_key});
    if (!row) return std::unexpected(row.error());
    auto outstanding = store::int_at(**row, 0);
    if (!outstanding) return std::unexpected(outstanding.error());
    const std::int64_t available = (*limit)->minor() - *outstanding;
    if (amount->minor() > available) {
      return fail(ErrorCode::declined,
                  "charge of " + amount->to_string() + " exceeds the available credit of " +
                      Amount::from_minor(amount->currency(), available).value().to_string());
    }

    auto seq = next_sequence(tx, "charges");
    if (!seq) return std::unexpected(seq.error());
    const std::string charge_id = sequence_id("CH", *seq);
    auto inserted = tx.exec(
        "INSERT INTO charges (seq, charge_id, card_key, minor, created, request_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        {*seq, charge_id, card_key, amount->minor(), m_clock.now(), *request_id});
    if (!inserted) return std::unexpected(inserted.error());
    return Json{{"charge_id", charge_id}, {"amount", amount->to_string()}, {"status", "approved"}};
  });
}

Result<Json> CardCompany::refund(const Json& body) {
  auto request_id = request_id_field(body);
  if (!request_id) return std::unexpected(request_id.error());
  auto charge_id = text_field(body, "charge_id");
  if (!charge_id) return std::unexpected(charge_id.error());
  const auto digest = request_digest({*charge_id});

  return answer_once("refund", *request_id, digest, [&](store::Transaction& tx) -> Result<Json> {
    auto row = tx.query_one(
        "SELECT k.currency, c.minor, r.refund_id FROM charges c "
        "JOIN cards k ON k.card_key = c.card_key "
        "LEFT JOIN refunds r ON r.charge_id = c.charge_id WHERE c.charge_id = ?",
        {*charge_id});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "unknown charge " + *charge_id);
    if (!store::is_null_at(**row, 2)) {
      return fail(ErrorCode::conflict, "charge " + *charge_id + " was already refunded as " +
                                           store::text_at(**row, 2).value_or("?"));
    }
    auto amount = amount_at(**row, 0, 1);
    if (!amount) return std::unexpected(amount.error());

    auto seq = next_sequence(tx, "refunds");
    if (!seq) return std::unexpected(seq.error());
    const std::string refund_id = sequence_id("RF", *seq);
    auto inserted =
        tx.exec("INSERT INTO refunds (seq, refund_id, charge_id, created, request_id) "
                "VALUES (?, ?, ?, ?, ?)",
                {*seq, refund_id, *charge_id, m_clock.now(), *request_id});
    if (!inserted) return std::unexpected(inserted.error());
    return Json{{"refund_id", refund_id}, {"amount", amount->to_string()}};
  });
}

Result<Json> CardCompany::card(const Json& body) {
  auto number = card_number_field(body);
  if (!number) return std::unexpected(number.error());

  const auto card_key = data_key().lookup(*number, kCardColumn);
  Json answer;
  auto done = read(*m_db, [&](store::Transaction& tx) -> Status {
    auto limit = card_limit(tx, card_key);
    if (!limit) return std::unexpected(limit.error());
    if (!*limit) return fail(ErrorCode::not_found, "unknown card " + mask_account(*number));
    auto rows = tx.query(
        "SELECT k.currency, c.minor, c.charge_id, r.refund_id FROM charges c "
        "JOIN cards k ON k.card_key = c.card_key "
        "LEFT JOIN refunds r ON r.charge_id = c.charge_id WHERE c.card_key = ? ORDER BY c.seq",
        {card_key});
    if (!rows) return std::unexpected(rows.error());

    Amount charged = Amount::zero((*limit)->currency());
    Amount refunded = charged;
    Json charges = Json::array();
    for (const auto& row : *rows) {
      auto amount = amount_at(row, 0, 1);
      auto charge_id = store::text_at(row, 2);
      if (!amount) return std::unexpected(amount.error());
      if (!charge_id) return std::unexpected(charge_id.error());
      auto sum = charged.add(*amount);
      if (!sum) return std::unexpected(sum.error());
      charged = *sum;
      Json entry = {{"charge_id", *charge_id}, {"amount", amount->to_string()}};
      if (store::is_null_at(row, 3)) {
        entry["status"] = "approved";
      } else {
        auto refund_id = store::text_at(row, 3);
        if (!refund_id) return std::unexpected(refund_id.error());
        auto total = refunded.add(*amount);
        if (!total) return std::unexpected(total.error());
        refunded = *total;
        entry["status"] = "refunded";
        entry["refund_id"] = *refund_id;
      }
      charges.push_back(std::move(entry));
    }
    auto outstanding = charged.sub(refunded);
    if (!outstanding) return std::unexpected(outstanding.error());
    auto available = (*limit)->sub(*outstanding);
    if (!available) return std::unexpected(available.error());
    answer = Json{{"limit", (*limit)->to_string()},
                  {"charged", charged.to_string()},
                  {"refunded", refunded.to_string()},
                  {"available", available->to_string()},
                  {"charges", std::move(charges)}};
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return answer;
}

Result<Json> CardCompany::cards() {
  return list_of(
      "SELECT k.card_sealed, k.currency, k.limit_minor, k.created, COALESCE(SUM(c.minor), 0), "
      "COALESCE(SUM(CASE WHEN r.refund_id IS NULL THEN 0 ELSE c.minor END), 0) FROM cards k "
      "LEFT JOIN charges c ON c.card_key = k.card_key "
      "LEFT JOIN refunds r ON r.charge_id = c.charge_id "
      "GROUP BY k.card_key ORDER BY k.created, k.rowid",
      [this](const store::Row& row) -> Result<Json> {
        auto number = data_key().open(store::text_at(row, 0).value_or(""), kCardColumn);
        if (!number) return std::unexpected(number.error());
        auto limit = amount_at(row, 1, 2);
        auto charged = amount_at(row, 1, 4);
        auto refunded = amount_at(row, 1, 5);
        if (!limit || !charged || !refunded) return fail(ErrorCode::internal, "damaged card");
        auto outstanding = charged->sub(*refunded);
        if (!outstanding) return std::unexpected(outstanding.error());
        auto available = limit->sub(*outstanding);
        if (!available) return std::unexpected(available.error());
        return Json{{"card", mask_account(*number)},
                    {"limit", limit->to_string()},
                    {"charged", charged->to_string()},
                    {"refunded", refunded->to_string()},
                    {"available", available->to_string()},
                    {"opened", store::int_at(row, 3).value_or(0)}};
      });
}

// Every charge in order, with its merchant reference and whether it was refunded: what the
// merchant (the clearing house) reconciles with. No card numbers: a settlement file needs none.
Result<Json> CardCompany::statement(const Json& body) {
  return statement_of(
      body,
      "SELECT c.seq, c.charge_id, COALESCE(c.request_id, ''), k.currency, c.minor, "
      "r.refund_id, COALESCE(r.request_id, '') FROM charges c "
      "JOIN cards k ON k.card_key = c.card_key "
      "LEFT JOIN refunds r ON r.charge_id = c.charge_id WHERE c.seq > ? ORDER BY c.seq LIMIT ?",
      [](const store::Row& row) -> Result<Json> {
        auto amount = amount_at(row, 3, 4);
        if (!amount) return std::unexpected(amount.error());
        Json entry = {{"charge_id", store::text_at(row, 1).value_or("")},
                      {"request_id", store::text_at(row, 2).value_or("")},
                      {"amount", amount->to_string()}};
        if (!store::is_null_at(row, 5)) {
          entry["refund_id"] = store::text_at(row, 5).value_or("");
          entry["refund_request_id"] = store::text_at(row, 6).value_or("");
        }
        return entry;
      });
}

}  // namespace ecash::sandbox
