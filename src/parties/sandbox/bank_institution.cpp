#include "parties/sandbox/bank_institution.hpp"

#include <array>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/account_number.hpp"
#include "parties/sandbox/fields.hpp"

namespace ecash::sandbox {
namespace {

// An account's currency when open_account names none: IBANs are the SEPA area's account numbers.
constexpr std::string_view kDefaultCurrency = "EUR";

// The balance is kept beside the transfers and changed in the same transaction, so it always
// equals their sum.
constexpr std::string_view kSchemaSql =
    "CREATE TABLE accounts (iban TEXT PRIMARY KEY, holder TEXT NOT NULL, currency TEXT NOT NULL, "
    "  balance_minor INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE transfers (seq INTEGER PRIMARY KEY, transfer_id TEXT NOT NULL UNIQUE, "
    "  iban TEXT NOT NULL REFERENCES accounts (iban), minor INTEGER NOT NULL CHECK (minor > 0), "
    "  reference TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX transfers_by_account ON transfers (iban, seq);";

// The payer's reference of each transfer (the request ID it came under), as a statement carries
// it: filled for earlier rows from the answers the bank gave.
constexpr std::string_view kReferencesSql =
    "ALTER TABLE transfers ADD COLUMN request_id TEXT;"
    "UPDATE transfers SET request_id = (SELECT l.id FROM request_log l WHERE "
    "  l.route = 'transfer_in' AND json_extract(l.response, '$.transfer_id') = "
    "  transfers.transfer_id);";

// IBANs and holders unreadable at rest (issue 12, finding 5): an account is found by its lookup
// key (a keyed hash of its IBAN, crypto/at_rest.hpp), its IBAN and holder are kept sealed. Rows an
// older version kept in clear (iban_sealed NULL, the IBAN still in iban_key) are sealed at open.
constexpr std::string_view kSealedAccountsSql =
    "ALTER TABLE accounts RENAME COLUMN iban TO iban_key;"
    "ALTER TABLE transfers RENAME COLUMN iban TO iban_key;"
    "ALTER TABLE accounts ADD COLUMN iban_sealed TEXT;";

constexpr std::array<std::string_view, 3> kVersions = {kSchemaSql, kReferencesSql,
                                                       kSealedAccountsSql};

// The associated data of each sealed field, and the domain of the IBAN's lookup key.
constexpr std::string_view kIbanColumn = "accounts.iban";
constexpr std::string_view kHolderColumn = "accounts.holder";

Result<std::string> iban_field(const Json& body) {
  auto text = text_field(body, "iban");
  if (!text) return text;
  return normalize_iban(*text);
}

Result<Currency> currency_field(const Json& body) {
  if (!body.contains("currency")) return Currency::from_code(kDefaultCurrency);
  auto code = text_field(body, "currency");
  if (!code) return std::unexpected(code.error());
  return Currency::from_code(*code);
}

}  // namespace

BankInstitution::BankInstitution(std::unique_ptr<store::Database> db, const Clock& clock)
    : Institution("the bank", std::move(db), clock,
                  {{"open_account", std::bind_front(&BankInstitution::open_account, this)},
                   {"transfer_in", std::bind_front(&BankInstitution::transfer_in, this)},
                   {"account", std::bind_front(&BankInstitution::account, this)},
                   {"statement", std::bind_front(&BankInstitution::statement, this)}}) {}

Result<std::unique_ptr<BankInstitution>> BankInstitution::open(const std::string& db_path,
                                                               const Clock& clock) {
  return open_as<BankInstitution>(db_path, kVersions, clock);
}

Status BankInstitution::seal_clear_rows() {
  std::int64_t sealed = 0;
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    // An account's key changes in accounts and in its transfers together: checked at commit.
    if (auto ok = tx.exec("PRAGMA defer_foreign_keys = ON"); !ok) return std::unexpected(ok.error());
    auto rows = tx.query("SELECT iban_key, holder FROM accounts WHERE iban_sealed IS NULL");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto iban = store::text_at(row, 0);
      auto holder = store::text_at(row, 1);
      if (!iban || !holder) return fail(ErrorCode::internal, "damaged account");
      const auto key = data_key().lookup(*iban, kIbanColumn);
      // The request log's digests were over the IBAN itself: now over its lookup key, as
      // transfer_in makes them.
      auto credited = tx.query(
          "SELECT t.request_id, a.currency, t.minor, t.reference FROM transfers t JOIN accounts a "
          "ON a.iban_key = t.iban_key WHERE t.iban_key = ? AND t.request_id IS NOT NULL",
          {*iban});
      if (!credited) return std::unexpected(credited.error());
      for (const auto& transfer : *credited) {
        auto amount = amount_at(transfer, 1, 2);
        if (!amount) return std::unexpected(amount.error());
        const auto digest =
            request_digest({key, amount->to_string(), store::text_at(transfer, 3).value_or("")});
        auto n = tx.exec("UPDATE request_log SET digest = ? WHERE id = ? AND route = 'transfer_in'",
                         {Bytes(digest.begin(), digest.end()), store::text_at(transfer, 0).value_or("")});
        if (!n) return std::unexpected(n.error());
      }
      auto transfers = tx.exec("UPDATE transfers SET iban_key = ? WHERE iban_key = ?", {key, *iban});
      if (!transfers) return std::unexpected(transfers.error());
      auto account = tx.exec(
          "UPDATE accounts SET iban_key = ?, iban_sealed = ?, holder = ? WHERE iban_key = ?",
          {key, data_key().seal(*iban, kIbanColumn), data_key().seal(*holder, kHolderColumn), *iban});
      if (!account) return std::unexpected(account.error());
      ++sealed;
    }
    return {};
  });
  if (!done) return done;
  return sealed > 0 ? m_db->compact() : Status{};
}

Result<Json> BankInstitution::open_account(const Json& body) {
  auto iban = iban_field(body);
  if (!iban) return std::unexpected(iban.error());
  auto holder = text_field(body, "holder");
  if (!holder) return std::unexpected(holder.error());
  if (holder->empty()) return fail(ErrorCode::invalid_argument, "holder is empty");
  if (auto ok = check_plain_text("holder", *holder, kMaxTextSize); !ok) {
    return std::unexpected(ok.error());
  }
  auto currency = currency_field(body);
  if (!currency) return std::unexpected(currency.error());
  const std::string code(currency->code());

  const auto iban_key = data_key().lookup(*iban, kIbanColumn);
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT holder, currency FROM accounts WHERE iban_key = ?", {iban_key});
    if (!row) return std::unexpected(row.error());
    if (*row) {
      auto stored_holder = data_key().open(store::text_at(**row, 0).value_or(""), kHolderColumn);
      auto stored_currency = store::text_at(**row, 1);
      if (!stored_holder) return std::unexpected(stored_holder.error());
      if (!stored_currency) return fail(ErrorCode::internal, "damaged account");
      if (*stored_holder == *holder && *stored_currency == code) return {};
      return fail(ErrorCode::conflict, "account " + mask_account(*iban) +
                                           " is already open for another holder or currency");
    }
    auto inserted = tx.exec(
        "INSERT INTO accounts (iban_key, iban_sealed, holder, currency, balance_minor, created) "
        "VALUES (?, ?, ?, ?, 0, ?)",
        {iban_key, data_key().seal(*iban, kIbanColumn), data_key().seal(*holder, kHolderColumn),
         code, m_clock.now()});
    if (!inserted) return std::unexpected(inserted.error());
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return Json{{"iban", *iban}};
}

Result<Json> BankInstitution::transfer_in(const Json& body) {
  auto request_id = request_id_field(body);
  if (!request_id) return std::unexpected(request_id.error());
  auto iban = iban_field(body);
  if (!iban) return std::unexpected(iban.error());
  auto amount = positive_amount_field(body, "amount");
  if (!amount) return std::unexpected(amount.error());
  auto reference = text_field(body, "reference");
  if (!reference) return std::unexpected(reference.error());
  if (auto ok = check_plain_text("reference", *reference, kMaxTextSize); !ok) {
    return std::unexpected(ok.error());
  }
  // The digest names the account by its lookup key: the request log keeps no hash of the IBAN.
  const auto iban_key = data_key().lookup(*iban, kIbanColumn);
  const auto digest = request_digest({iban_key, amount->to_string(), *reference});

  return answer_once(
      "transfer_in", *request_id, digest, [&](store::Transaction& tx) -> Result<Json> {
        auto row =
            tx.query_one("SELECT currency, balance_minor FROM accounts WHERE iban_key = ?", {iban_key});
        if (!row) return std::unexpected(row.error());
        if (!*row) return fail(ErrorCode::declined, "no account " + mask_account(*iban));
        auto balance = amount_at(**row, 0, 1);
        if (!balance) return std::unexpected(balance.error());
        if (balance->currency() != amount->currency()) {
          return fail(ErrorCode::currency_mismatch, "account " + mask_account(*iban) + " is in " +
                                                        std::string(balance->currency().code()));
        }
        auto new_balance = balance->add(*amount);
        if (!new_balance) return std::unexpected(new_balance.error());

        auto seq = next_sequence(tx, "transfers");
        if (!seq) return std::unexpected(seq.error());
        const std::string transfer_id = sequence_id("TR", *seq);
        auto inserted = tx.exec(
            "INSERT INTO transfers (seq, transfer_id, iban_key, minor, reference, created, "
            "request_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {*seq, transfer_id, iban_key, amount->minor(), *reference, m_clock.now(), *request_id});
        if (!inserted) return std::unexpected(inserted.error());
        auto updated = tx.exec("UPDATE accounts SET balance_minor = ? WHERE iban_key = ?",
                               {new_balance->minor(), iban_key});
        if (!updated) return std::unexpected(updated.error());
        return Json{{"transfer_id", transfer_id}, {"status", "credited"}};
      });
}

Result<Json> BankInstitution::account(const Json& body) {
  auto iban = iban_field(body);
  if (!iban) return std::unexpected(iban.error());

  const auto iban_key = data_key().lookup(*iban, kIbanColumn);
  Json answer;
  auto done = read(*m_db, [&](store::Transaction& tx) -> Status {
    auto row = tx.query_one(
        "SELECT holder, currency, balance_minor FROM accounts WHERE iban_key = ?", {iban_key});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "no account " + mask_account(*iban));
    auto holder = data_key().open(store::text_at(**row, 0).value_or(""), kHolderColumn);
    if (!holder) return std::unexpected(holder.error());
    auto balance = amount_at(**row, 1, 2);
    if (!balance) return std::unexpected(balance.error());

    auto rows = tx.query(
        "SELECT a.currency, t.minor, t.transfer_id, t.reference FROM transfers t "
        "JOIN accounts a ON a.iban_key = t.iban_key WHERE t.iban_key = ? ORDER BY t.seq",
        {iban_key});
    if (!rows) return std::unexpected(rows.error());
    Json transfers = Json::array();
    for (const auto& transfer : *rows) {
      auto amount = amount_at(transfer, 0, 1);
      if (!amount) return std::unexpected(amount.error());
      auto transfer_id = store::text_at(transfer, 2);
      auto reference = store::text_at(transfer, 3);
      if (!transfer_id || !reference) return fail(ErrorCode::internal, "damaged transfer");
      transfers.push_back(Json{{"transfer_id", *transfer_id},
                               {"amount", amount->to_string()},
                               {"reference", *reference}});
    }
    answer = Json{{"iban", *iban},
                  {"holder", *holder},
                  {"balance", balance->to_string()},
                  {"transfers", std::move(transfers)}};
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return answer;
}

Result<Json> BankInstitution::accounts() {
  return list_of(
      "SELECT a.iban_sealed, a.holder, a.currency, a.balance_minor, a.created, "
      "(SELECT COUNT(*) FROM transfers t WHERE t.iban_key = a.iban_key) FROM accounts a "
      "ORDER BY a.created, a.rowid",
      [this](const store::Row& row) -> Result<Json> {
        auto balance = amount_at(row, 2, 3);
        if (!balance) return std::unexpected(balance.error());
        auto iban = data_key().open(store::text_at(row, 0).value_or(""), kIbanColumn);
        auto holder = data_key().open(store::text_at(row, 1).value_or(""), kHolderColumn);
        if (!iban) return std::unexpected(iban.error());
        if (!holder) return std::unexpected(holder.error());
        return Json{{"iban", mask_account(*iban)},
                    {"holder", *holder},
                    {"balance", balance->to_string()},
                    {"transfers", store::int_at(row, 5).value_or(0)},
                    {"opened", store::int_at(row, 4).value_or(0)}};
      });
}

// Every transfer in order with the payer's reference: what the payer (the clearing house)
// reconciles with. No account numbers: the payer's references are enough to match.
Result<Json> BankInstitution::statement(const Json& body) {
  return statement_of(
      body,
      "SELECT t.seq, t.transfer_id, COALESCE(t.request_id, ''), a.currency, t.minor "
      "FROM transfers t JOIN accounts a ON a.iban_key = t.iban_key WHERE t.seq > ? ORDER BY t.seq "
      "LIMIT ?",
      [](const store::Row& row) -> Result<Json> {
        auto amount = amount_at(row, 3, 4);
        if (!amount) return std::unexpected(amount.error());
        return Json{{"transfer_id", store::text_at(row, 1).value_or("")},
                    {"request_id", store::text_at(row, 2).value_or("")},
                    {"amount", amount->to_string()}};
      });
}

}  // namespace ecash::sandbox
