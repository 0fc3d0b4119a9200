#include "parties/bank/bank.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <utility>

#include "base/metrics.hpp"
#include "crypto/hash.hpp"
#include "protocol/notice.hpp"
#include "protocol/statements.hpp"
#include "store/request_log.hpp"

namespace ecash::bank {
namespace {

using protocol::Json;

// The ledger is double-entry: every posting debits one account and credits another by the same
// amount in one transaction, so the balances always sum to zero. Balances are kept beside the
// postings (updated in the same transaction) so that a check of funds reads one row. Postings are
// never changed or removed. The currency is the bank's (bank_meta), so amounts are minor units.
constexpr std::string_view kSchemaSql =
    "CREATE TABLE bank_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INTEGER NOT NULL);"
    "CREATE TABLE postings (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, "
    "  debit TEXT NOT NULL REFERENCES accounts (id), "
    "  credit TEXT NOT NULL REFERENCES accounts (id), "
    "  amount INTEGER NOT NULL CHECK (amount > 0), created INTEGER NOT NULL, "
    "  CHECK (debit <> credit));"
    "CREATE INDEX postings_by_request ON postings (request_id);"
    "CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings "
    "  BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;"
    "CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings "
    "  BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;"
    "CREATE TABLE users (user_id TEXT PRIMARY KEY, verify_key BLOB NOT NULL, "
    "  sealing_key BLOB NOT NULL, certificate_serial TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE shops (shop_id TEXT PRIMARY KEY, verify_key BLOB NOT NULL, "
    "  sealing_key BLOB NOT NULL, certificate_serial TEXT NOT NULL UNIQUE, "
    "  created INTEGER NOT NULL);"
    "CREATE TABLE payouts (request_id TEXT PRIMARY KEY, "
    "  shop_id TEXT NOT NULL REFERENCES shops (shop_id), "
    "  amount INTEGER NOT NULL CHECK (amount >= 0), "
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'failed')), "
    "  created INTEGER NOT NULL, finished INTEGER);"
    "INSERT INTO accounts (id, balance) VALUES ('funding:card', 0), ('payout:bank', 0);";

// Device-to-device transfers as reconciled, and the fraud flags raised. A transfer is debited
// from its sender once (into in-flight when the sender reports it first), credited to its receiver
// once, or returned to its sender after it expires unclaimed.
constexpr std::string_view kTransfersSql =
    "CREATE TABLE transfers (transfer_id TEXT PRIMARY KEY, sender_key BLOB NOT NULL, "
    "  sender_user TEXT NOT NULL, counter INTEGER NOT NULL, receiver_serial TEXT NOT NULL, "
    "  receiver_user TEXT, amount INTEGER NOT NULL CHECK (amount > 0), expires INTEGER NOT NULL, "
    "  statement TEXT NOT NULL, "
    "  state TEXT NOT NULL CHECK (state IN ('in_flight', 'claimed', 'returned')), "
    "  created INTEGER NOT NULL);"
    "CREATE INDEX transfers_by_counter ON transfers (sender_key, counter);"
    "CREATE TABLE cases (case_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "  evidence TEXT NOT NULL, statement TEXT NOT NULL, opened INTEGER NOT NULL);"
    "INSERT INTO accounts (id, balance) VALUES ('transfers:in_flight', 0);"
    // The balance last told to each user's device, to notice a device that disagrees.
    "ALTER TABLE users ADD COLUMN told INTEGER;";

// A shop's order is paid once, whatever request carries it: a wallet that got no answer and pays
// the same request again under a new request ID is refused, not charged twice.
constexpr std::string_view kPaidOrdersSql =
    "CREATE TABLE paid_orders (shop_id TEXT NOT NULL, order_id TEXT NOT NULL, "
    "  request_id TEXT NOT NULL, PRIMARY KEY (shop_id, order_id));";

// No hot rows (DESIGN §6). An account that many concurrent requests write — the card funding,
// payouts, transfers in flight, each shop's sales — is kept as kStripes rows: `<account>` and
// `<account>#1` ... `#15`; its balance is their sum, and a request writes the one its ID picks.
// The report's figures are running totals beside the rows they sum (`figures`, striped the same
// way), so a report never scans every account: money held by users (their positive balances) and
// owed by them (their negative balances, shown apart), and the number of users and shops.
constexpr std::string_view kStripesSql =
    "INSERT INTO accounts (id, balance) "
    "  SELECT base || '#' || n, 0 FROM "
    "    (SELECT 'funding:card' AS base UNION ALL SELECT 'payout:bank' "
    "     UNION ALL SELECT 'transfers:in_flight' "
    "     UNION ALL SELECT 'shop:' || shop_id || ':sales' FROM shops) AS bases, "
    "    (WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 15) "
    "     SELECT n FROM k) AS slots;"
    "CREATE TABLE figures (name TEXT NOT NULL, slot INTEGER NOT NULL, value INTEGER NOT NULL, "
    "  PRIMARY KEY (name, slot));"
    "INSERT INTO figures (name, slot, value) SELECT 'held', 0, "
    "  COALESCE(SUM(CASE WHEN balance > 0 THEN balance END), 0) FROM accounts WHERE id GLOB 'user:*';"
    "INSERT INTO figures (name, slot, value) SELECT 'owed', 0, "
    "  COALESCE(SUM(CASE WHEN balance < 0 THEN -balance END), 0) FROM accounts WHERE id GLOB 'user:*';"
    "INSERT INTO figures (name, slot, value) SELECT 'users', 0, COUNT(*) FROM users;"
    "INSERT INTO figures (name, slot, value) SELECT 'shops', 0, COUNT(*) FROM shops;"
    // The audit re-derives each account from its postings.
    "CREATE INDEX postings_by_debit ON postings (debit);"
    "CREATE INDEX postings_by_credit ON postings (credit);";

// Charged deposits the center gave up crediting (a day passed): never credited after, since
// their charge is reversed.
constexpr std::string_view kVoidedSql =
    "CREATE TABLE voided_credits (request_id TEXT PRIMARY KEY, at INTEGER NOT NULL);";

// Every balance told to a user's device since its last sync (minor units, comma-separated, the
// last kToldKept): an answer lost on the way leaves the device with an earlier one, which is no
// sign of fraud.
constexpr std::string_view kToldSinceSyncSql =
    "ALTER TABLE users ADD COLUMN told_since_sync TEXT NOT NULL DEFAULT '';";
constexpr std::size_t kToldKept = 64;

// Offline value the bank backs (issue 12): each allowance it issued, with its reserve (the account
// user:<user>:reserve:<allowance>, counted among the user's money), and the range of the allowance
// each transfer spent under it took, so two transfers whose ranges overlap (a copied device) show.
constexpr std::string_view kAllowancesSql =
    "CREATE TABLE allowances (allowance_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
    "  device_key BLOB NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), "
    "  expires INTEGER NOT NULL, statement TEXT NOT NULL, "
    "  state TEXT NOT NULL CHECK (state IN ('open', 'closed')), created INTEGER NOT NULL, "
    "  closed INTEGER);"
    "CREATE INDEX allowances_open ON allowances (state, expires);"
    "CREATE INDEX allowances_by_user ON allowances (user_id, state);"
    "CREATE TABLE allowance_spends (allowance_id TEXT NOT NULL, transfer_id TEXT NOT NULL, "
    "  low INTEGER NOT NULL, high INTEGER NOT NULL, statement TEXT NOT NULL, "
    "  PRIMARY KEY (allowance_id, transfer_id));";
// The books show offline reserves apart from the balances users hold (the report's offline_reserve),
// and who owes money: a user whose balance went negative must have a fraud case (the partial index
// finds them without reading every account).
constexpr std::string_view kReserveFigureSql =
    "DELETE FROM figures WHERE name IN ('held', 'owed', 'reserve');"
    "INSERT INTO figures (name, slot, value) SELECT 'held', 0, "
    "  COALESCE(SUM(CASE WHEN balance > 0 THEN balance END), 0) FROM accounts "
    "  WHERE id GLOB 'user:*' AND id NOT GLOB 'user:*:reserve:*';"
    "INSERT INTO figures (name, slot, value) SELECT 'owed', 0, "
    "  COALESCE(SUM(CASE WHEN balance < 0 THEN -balance END), 0) FROM accounts "
    "  WHERE id GLOB 'user:*' AND id NOT GLOB 'user:*:reserve:*';"
    "INSERT INTO figures (name, slot, value) SELECT 'reserve', 0, COALESCE(SUM(balance), 0) "
    "  FROM accounts WHERE id GLOB 'user:*:reserve:*';"
    "CREATE INDEX accounts_owing ON accounts (id) WHERE balance < 0;"
    "CREATE INDEX cases_by_user ON cases (user_id);";
// Concurrent payments that do not conflict (on PostgreSQL, a SERIALIZABLE transaction that
// conflicts with another is refused and runs again). Concurrent payments to one shop write its
// sales: each shop has kSalesStripes of them (they had kStripes), so that two seldom write the
// same row. A balance is in no index, so that its update leaves the index alone (PostgreSQL's
// HOT update: a new index entry would conflict with every transaction that read that index
// page): the accounts that owe are listed apart (`owing`, kept by the postings), not by a partial
// index on the balance.
constexpr std::string_view kPaymentsApartSql =
    "INSERT INTO accounts (id, balance) "
    "  SELECT 'shop:' || shop_id || ':sales#' || n, 0 FROM shops, "
    "    (WITH RECURSIVE k(n) AS (SELECT 16 UNION ALL SELECT n + 1 FROM k WHERE n < 63) "
    "     SELECT n FROM k) AS slots;"
    "CREATE TABLE owing (account TEXT PRIMARY KEY);"
    "INSERT INTO owing (account) SELECT id FROM accounts WHERE balance < 0 AND id GLOB 'user:*';"
    "DROP INDEX accounts_owing;";
// Refunds (issue 14): what a shop gave back of a paid order, to whoever paid it (the payment's
// posting says who), and the changes the bank made to a balance by itself, itemised to the user's
// device in every notice until a sync has told it (`told`). The running figure 'refunded' beside.
constexpr std::string_view kRefundsSql =
    "CREATE TABLE refunds (request_id TEXT PRIMARY KEY, shop_id TEXT NOT NULL, "
    "  order_id TEXT NOT NULL, user_id TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), "
    "  statement TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX refunds_by_order ON refunds (shop_id, order_id);"
    "CREATE TABLE balance_changes (change_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
    "  kind TEXT NOT NULL, amount INTEGER NOT NULL, reference TEXT NOT NULL, at INTEGER NOT NULL, "
    "  told INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX balance_changes_untold ON balance_changes (user_id, told);";
// The payments to shops, counted as they are made (the dashboard's payments per minute, issue 15):
// each is one row of paid_orders.
constexpr std::string_view kPaymentsFigureSql =
    "INSERT INTO figures (name, slot, value) SELECT 'payments', 0, COUNT(*) FROM paid_orders;";
// How long an allowance may be spent offline; its reserve returns to the balance after.
constexpr UnixSeconds kAllowanceLifetime = 7 * 86'400;

std::span<const store::Migration> migrations() {
  static const std::string schema = std::string(kSchemaSql) + std::string(store::kRequestLogSql);
  static const std::array<store::Migration, 11> list = {{{1, schema},
                                                        {2, kTransfersSql},
                                                        {3, kPaidOrdersSql},
                                                        {4, kStripesSql},
                                                        {5, kVoidedSql},
                                                        {6, kToldSinceSyncSql},
                                                        {7, kAllowancesSql},
                                                        {8, kReserveFigureSql},
                                                        {9, kPaymentsApartSql},
                                                        {10, kRefundsSql},
                                                        {11, kPaymentsFigureSql}}};
  return list;
}

constexpr int kStripes = 16;
constexpr int kSalesStripes = 64;
// The running figures' slots: a request adds to the one its ID picks.
constexpr int kFigureSlots = 256;

// The stripe of account (of `stripes`) that a request (or transfer) with this ID writes.
std::string stripe(const std::string& account, const Id128& by, int stripes = kStripes) {
  const int k = by.bytes().back() % stripes;
  return k == 0 ? account : account + "#" + std::to_string(k);
}

// An account and those whose names start with a prefix (its stripes `<account>#k`, a user's
// reserves): `id = ? OR (id >= ? AND id < ?)` with account and prefix_range(prefix) finds them
// through the index on both engines, whose text compares its bytes.
constexpr std::string_view kAccountOrPrefix = "id = ? OR (id >= ? AND id < ?)";
// The prefix and the first text after all those that start with it. The prefix ends in ASCII
// punctuation (the next character is ASCII too).
std::pair<std::string, std::string> prefix_range(const std::string& prefix) {
  std::string beyond = prefix;
  beyond.back() = static_cast<char>(beyond.back() + 1);
  return {prefix, beyond};
}

// Deposits come from here, so it goes negative by the total deposited.
const std::string kFundingAccount = "funding:card";
// Paid-out proceeds end here.
const std::string kPayoutAccount = "payout:bank";
// Transfers a sender reported before their receiver claimed them.
const std::string kInFlightAccount = "transfers:in_flight";

std::string user_account(const Id128& user) {
  return "user:" + user.to_string();
}
std::string sales_account(const Id128& shop) {
  return "shop:" + shop.to_string() + ":sales";
}

// A shop's sales not yet paid out: the stripes that hold money (account, amount) and their sum. A
// stripe below zero is a broken book (internal): no payout or refund takes from one.
struct Sales {
  std::vector<std::pair<std::string, Amount>> stripes;
  Amount total;
};
Result<Sales> unpaid_sales(store::Transaction& tx, const Id128& shop_id, Currency currency) {
  const auto [first, beyond] = prefix_range(sales_account(shop_id) + "#");
  auto rows = tx.query("SELECT id, balance FROM accounts WHERE " + std::string(kAccountOrPrefix),
                       {sales_account(shop_id), first, beyond});
  if (!rows) return std::unexpected(rows.error());
  Sales out{{}, Amount::zero(currency)};
  for (const auto& row : *rows) {
    auto part = Amount::from_minor(currency, *store::int_at(row, 1));
    if (!part) return std::unexpected(part.error());
    if (part->is_negative()) {
      return fail(ErrorCode::internal, "shop " + shop_id.to_string() + " has negative sales " +
                                           part->to_string() + " in " + *store::text_at(row, 0));
    }
    if (!part->is_positive()) continue;
    auto sum = out.total.add(*part);
    if (!sum) return std::unexpected(sum.error());
    out.total = *sum;
    out.stripes.emplace_back(*store::text_at(row, 0), *part);
  }
  return out;
}
std::string paying_out_account(const Id128& shop) {
  return "shop:" + shop.to_string() + ":paying_out";
}

// Where an allowance's value waits for the transfers spent under it.
std::string reserve_account(const Id128& user, const Id128& allowance) {
  return user_account(user) + ":reserve:" + allowance.to_string();
}

template <std::size_t N>
Bytes key_bytes(const crypto::PublicBytes<N>& key) {
  return Bytes(key.bytes().begin(), key.bytes().end());
}

// A statement that names another (by digest, request ID or amount) must name exactly the one sent
// with it: otherwise the signatures hold but do not form one chain.
Status chain(bool matches, const char* what) {
  if (!matches)
    return fail(ErrorCode::bad_signature, std::string(what) + ": the chain does not match");
  return {};
}

// Adds delta to a running figure, in the stripe slot picks.
Status add_figure(store::Transaction& tx, const char* name, int slot, std::int64_t delta) {
  if (delta == 0) return {};
  auto n = tx.exec(
      "INSERT INTO figures (name, slot, value) VALUES (?, ?, ?) "
      "ON CONFLICT (name, slot) DO UPDATE SET value = figures.value + excluded.value",
      {std::string(name), static_cast<std::int64_t>(slot), delta});
  if (!n) return std::unexpected(n.error());
  return {};
}

// The figures' slot a request adds to: concurrent requests seldom share one.
int figure_slot(const Id128& request_id) {
  return request_id.bytes()[Id128::kSize - 2] % kFigureSlots;
}

bool is_reserve(const std::string& account) { return account.find(":reserve:") != std::string::npos; }

// A user account moved from before to after: the held and owed totals follow (a reserve's, the
// offline reserve's), and the list of accounts that owe.
Status track_user(store::Transaction& tx, const Id128& request_id, const std::string& account,
                  std::int64_t before, std::int64_t after) {
  const auto held = [](std::int64_t b) { return b > 0 ? b : 0; };
  const auto owed = [](std::int64_t b) { return b < 0 ? -b : 0; };
  if ((before < 0) != (after < 0)) {
    auto n = after < 0 ? tx.exec("INSERT INTO owing (account) VALUES (?)", {account})
                       : tx.exec("DELETE FROM owing WHERE account = ?", {account});
    if (!n) return std::unexpected(n.error());
  }
  const int slot = figure_slot(request_id);
  if (is_reserve(account)) return add_figure(tx, "reserve", slot, after - before);
  if (auto ok = add_figure(tx, "held", slot, held(after) - held(before)); !ok) return ok;
  return add_figure(tx, "owed", slot, owed(after) - owed(before));
}

Result<Amount> balance(store::Transaction& tx, Currency currency, const std::string& account) {
  auto row = tx.query_one("SELECT balance FROM accounts WHERE id = ?", {account});
  if (!row) return std::unexpected(row.error());
  if (!*row) return fail(ErrorCode::internal, "the ledger has no account " + account);
  auto minor = store::int_at(**row, 0);
  if (!minor) return std::unexpected(minor.error());
  return Amount::from_minor(currency, *minor);
}

Status set_balance(store::Transaction& tx, const std::string& account, const Amount& amount) {
  auto changed = tx.exec("UPDATE accounts SET balance = ? WHERE id = ?", {amount.minor(), account});
  if (!changed) return std::unexpected(changed.error());
  if (*changed != 1) return fail(ErrorCode::internal, "the ledger has no account " + account);
  return {};
}

Status open_account(store::Transaction& tx, const std::string& account) {
  auto inserted = tx.exec("INSERT INTO accounts (id, balance) VALUES (?, 0)", {account});
  if (!inserted) return std::unexpected(inserted.error());
  return {};
}

// The ledger's only write: debits one account and credits another by amount, in the caller's
// transaction. overflow if either balance would leave the money range.
Status post(store::Transaction& tx, const Id128& request_id, const std::string& debit,
            const std::string& credit, const Amount& amount, UnixSeconds now) {
  if (!amount.is_positive() || debit == credit) {
    return fail(ErrorCode::internal, "a posting moves a positive amount between two accounts");
  }
  auto from = balance(tx, amount.currency(), debit);
  if (!from) return std::unexpected(from.error());
  auto to = balance(tx, amount.currency(), credit);
  if (!to) return std::unexpected(to.error());
  auto from_after = from->sub(amount);
  if (!from_after) return std::unexpected(from_after.error());
  auto to_after = to->add(amount);
  if (!to_after) return std::unexpected(to_after.error());
  if (auto ok = set_balance(tx, debit, *from_after); !ok) return ok;
  if (auto ok = set_balance(tx, credit, *to_after); !ok) return ok;
  for (const auto& [account, before, after] :
       {std::tuple{&debit, *from, *from_after}, std::tuple{&credit, *to, *to_after}}) {
    if (account->starts_with("user:")) {
      if (auto ok = track_user(tx, request_id, *account, before.minor(), after.minor()); !ok) {
        return ok;
      }
    }
  }
  auto inserted = tx.exec(
      "INSERT INTO postings (request_id, debit, credit, amount, created) VALUES (?, ?, ?, ?, ?)",
      {request_id.to_string(), debit, credit, amount.minor(), now});
  if (!inserted) return std::unexpected(inserted.error());
  return {};
}

// A payout that will not happen: what it set aside goes back to the sales stripes it came from
// (its own postings say which), so the sales are as they were.
Status return_to_sales(store::Transaction& tx, const Id128& payout, const std::string& paying_out,
                       Currency currency, UnixSeconds now) {
  auto parts = tx.query("SELECT debit, amount FROM postings WHERE request_id = ? AND credit = ?",
                        {payout.to_string(), paying_out});
  if (!parts) return std::unexpected(parts.error());
  for (const auto& row : *parts) {
    auto amount = Amount::from_minor(currency, *store::int_at(row, 1));
    if (!amount) return std::unexpected(amount.error());
    if (auto ok = post(tx, payout, paying_out, *store::text_at(row, 0), *amount, now); !ok) return ok;
  }
  return {};
}

// The balance told to a user's device: its account with what its allowances still hold (the
// device counts that value its own until it spends it offline).
Result<Amount> told_balance(store::Transaction& tx, Currency currency, const Id128& user) {
  const auto [reserves, beyond] = prefix_range(user_account(user) + ":reserve:");
  auto row = tx.query_one(
      "SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE " + std::string(kAccountOrPrefix),
      {user_account(user), reserves, beyond});
  if (!row) return std::unexpected(row.error());
  return Amount::from_minor(currency, *store::int_at(**row, 0));
}

// Closes an allowance: what its reserve still holds returns to the user's balance (a transfer
// under it claimed later is taken from the balance). Returns the amount returned.
Result<Amount> close_allowance(store::Transaction& tx, Currency currency, const Id128& request_id,
                               const Id128& user, const Id128& allowance, UnixSeconds now) {
  const auto reserve = reserve_account(user, allowance);
  auto held = balance(tx, currency, reserve);
  if (!held) return std::unexpected(held.error());
  if (held->is_positive()) {
    if (auto ok = post(tx, request_id, reserve, user_account(user), *held, now); !ok) {
      return std::unexpected(ok.error());
    }
  }
  auto n = tx.exec("UPDATE allowances SET state = 'closed', closed = ? WHERE allowance_id = ?",
                   {now, allowance.to_string()});
  if (!n) return std::unexpected(n.error());
  return held->is_positive() ? *held : Amount::zero(currency);
}

// Records the balance a receipt tells the user's device (sealed to it), and keeps it among those
// told since the device's last sync (a sync starts that list afresh).
Status remember_told(store::Transaction& tx, const Id128& user, const Amount& balance,
                     bool sync = false) {
  std::string kept = std::to_string(balance.minor());
  if (!sync) {
    auto row = tx.query_one("SELECT told_since_sync FROM users WHERE user_id = ?", {user.to_string()});
    if (!row) return std::unexpected(row.error());
    if (*row && !store::text_at(**row, 0)->empty()) {
      std::string earlier = *store::text_at(**row, 0);
      if (static_cast<std::size_t>(std::count(earlier.begin(), earlier.end(), ',')) + 1 >= kToldKept) {
        earlier.erase(0, earlier.find(',') + 1);
      }
      kept = earlier + "," + kept;
    }
  }
  auto n = tx.exec("UPDATE users SET told = ?, told_since_sync = ? WHERE user_id = ?",
                   {balance.minor(), kept, user.to_string()});
  if (!n) return std::unexpected(n.error());
  return {};
}

// Whether minor is among the balances told to the user's device since its last sync (or the
// latest one told, for a user from before that list was kept).
Result<bool> told_since_sync(store::Transaction& tx, const Id128& user, std::int64_t minor) {
  auto row = tx.query_one("SELECT told, told_since_sync FROM users WHERE user_id = ?", {user.to_string()});
  if (!row) return std::unexpected(row.error());
  if (!*row || store::is_null_at(**row, 0)) return true;  // never told anything: nothing to check
  if (*store::int_at(**row, 0) == minor) return true;
  const std::string list = "," + *store::text_at(**row, 1) + ",";
  return list.find("," + std::to_string(minor) + ",") != std::string::npos;
}

// The verify key a user or shop ID was registered with; nullopt for an unknown ID.
Result<std::optional<Bytes>> registered_key(store::Transaction& tx, std::string_view sql,
                                            const Id128& id) {
  auto row = tx.query_one(sql, {id.to_string()});
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  auto key = store::blob_at(**row, 0);
  if (!key) return std::unexpected(key.error());
  return std::optional<Bytes>(std::move(*key));
}

// unknown_user unless user_id is registered to the key wallet holds.
Status check_user(store::Transaction& tx, const Id128& user_id, const pki::Certificate& wallet) {
  auto key = registered_key(tx, "SELECT verify_key FROM users WHERE user_id = ?", user_id);
  if (!key) return std::unexpected(key.error());
  if (!*key) return fail(ErrorCode::unknown_user, "no user " + user_id.to_string());
  if (**key != key_bytes(wallet.verify_key())) {
    return fail(ErrorCode::unknown_user,
                "this certificate does not hold user ID " + user_id.to_string());
  }
  return {};
}

// unknown_shop unless shop_id is registered to the key shop holds.
Status check_shop(store::Transaction& tx, const Id128& shop_id, const pki::Certificate& shop) {
  auto key = registered_key(tx, "SELECT verify_key FROM shops WHERE shop_id = ?", shop_id);
  if (!key) return std::unexpected(key.error());
  if (!*key) return fail(ErrorCode::unknown_shop, "no shop " + shop_id.to_string());
  if (**key != key_bytes(shop.verify_key())) {
    return fail(ErrorCode::unknown_shop,
                "this certificate does not hold shop ID " + shop_id.to_string());
  }
  return {};
}

// What the bank changed in a user's balance since it last told the device (an expired transfer
// returned to it by another user's reconciliation): zero when nothing did.
Result<Amount> change_since_told(store::Transaction& tx, const Id128& user, const Amount& now_balance) {
  auto told = tx.query_one("SELECT told FROM users WHERE user_id = ?", {user.to_string()});
  if (!told) return std::unexpected(told.error());
  if (!*told || store::is_null_at(**told, 0)) return Amount::zero(now_balance.currency());
  auto told_amount = Amount::from_minor(now_balance.currency(), *store::int_at(**told, 0));
  if (!told_amount) return std::unexpected(told_amount.error());
  return now_balance.sub(*told_amount);
}

// The changes the bank made to a user's balance by itself (a shop's refund) that no sync has told
// its device yet: each notice to the device that tells a balance they changed lists them (by ID,
// so the device counts each once), and a sync's notice marks them told.
Result<std::vector<protocol::BalanceNotice::Change>> untold_changes(store::Transaction& tx,
                                                                    Currency currency,
                                                                    const Id128& user,
                                                                    bool sync) {
  auto rows = tx.query(
      "SELECT change_id, kind, amount, reference, at FROM balance_changes "
      "WHERE user_id = ? AND told = 0 ORDER BY at, change_id",
      {user.to_string()});
  if (!rows) return std::unexpected(rows.error());
  std::vector<protocol::BalanceNotice::Change> out;
  for (const auto& row : *rows) {
    auto amount = Amount::from_minor(currency, *store::int_at(row, 2));
    if (!amount) return std::unexpected(amount.error());
    out.push_back({.kind = *store::text_at(row, 1),
                   .amount = *amount,
                   .reference = *store::text_at(row, 3),
                   .at = *store::int_at(row, 4),
                   .id = *store::text_at(row, 0)});
  }
  if (sync && !out.empty()) {
    auto n = tx.exec("UPDATE balance_changes SET told = 1 WHERE user_id = ? AND told = 0",
                     {user.to_string()});
    if (!n) return std::unexpected(n.error());
  }
  return out;
}

// payout_start and payout_finish share the payout's request ID, but each needs its own entry in
// the request log: the finish is remembered under an ID derived from the payout's.
Id128 payout_log_key(std::string_view label, const Id128& payout) {
  Bytes data(label.begin(), label.end());
  data.insert(data.end(), payout.bytes().begin(), payout.bytes().end());
  const auto digest = crypto::blake2b_256(data);
  std::array<std::uint8_t, Id128::kSize> bytes{};
  std::copy_n(digest.begin(), bytes.size(), bytes.begin());
  return Id128(bytes);
}

// parties::answer_once, with an exception from work turned into an error inside the transaction,
// so that the transaction is rolled back instead of left open.
Result<Json> answer_once(store::Database& db, std::string_view route, const Id128& request_id,
                         const Json& body, UnixSeconds now,
                         const std::function<Result<Json>(store::Transaction&)>& work) {
  return parties::answer_once(
      db, route, request_id, body, now, [&](store::Transaction& tx) -> Result<Json> {
        try {
          return work(tx);
        } catch (const nlohmann::json::exception& e) {
          return fail(ErrorCode::malformed, std::string("malformed message: ") + e.what());
        } catch (const std::exception& e) {
          return fail(ErrorCode::internal, e.what());
        }
      });
}

}  // namespace

Result<std::unique_ptr<VirtualBank>> VirtualBank::open(
    const store::Place& place, parties::Identity identity, parties::Directory directory,
    const pki::TrustStore& trust, const Clock& clock, RandomSource& random, Currency currency) {
  if (identity.certificate.verify_key() != identity.keys.signing.verify_key() ||
      identity.certificate.sealing_key() != identity.keys.sealing.public_key()) {
    return fail(ErrorCode::invalid_argument, "the bank's certificate does not hold its keys");
  }
  auto db = store::open_store(place, migrations());
  if (!db) return std::unexpected(db.error());
  // The ledger counts minor units: the currency they are in is fixed when the store is created.
  auto pinned = (*db)->transact([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT value FROM bank_meta WHERE key = 'currency'");
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      auto inserted = tx.exec("INSERT INTO bank_meta (key, value) VALUES ('currency', ?)",
                              {std::string(currency.code())});
      if (!inserted) return std::unexpected(inserted.error());
      return {};
    }
    auto code = store::text_at(**row, 0);
    if (!code) return std::unexpected(code.error());
    if (*code != currency.code()) {
      return fail(ErrorCode::conflict, (*db)->path() + " keeps its ledger in " + *code + ", not " +
                                           std::string(currency.code()));
    }
    return {};
  });
  if (!pinned) return std::unexpected(pinned.error());
  return std::unique_ptr<VirtualBank>(new VirtualBank(
      std::move(*db), std::move(identity), std::move(directory), trust, clock, random, currency));
}

Result<Json> VirtualBank::handle(const protocol::Caller& caller, std::string_view route,
                                 const Json& body) {
  return parties::guarded([&]() -> Result<Json> {
    auto center = parties::require_caller(caller, m_trust, {pki::Role::center}, m_clock.now());
    if (!center) return std::unexpected(center.error());
    if (center->verify_key() != m_directory.center.verify_key()) {
      return fail(ErrorCode::bad_certificate,
                  "the caller's certificate is not the center's in the directory");
    }
    const crypto::VerifyKey center_key = center->verify_key();
    // A retry gets its first answer whatever changed since (time, a revocation).
    if (route == "credit") {
      return parties::stored_or(*m_db, route, body, "order", [&] { return credit(center_key, body); });
    }
    if (route == "register_shop") {
      return parties::stored_or(*m_db, route, body, "registration", [&] { return register_shop(center_key, body); });
    }
    if (route == "pay") return pay(center_key, body);
    if (route == "payout_start") {
      return parties::stored_or(*m_db, route, body, "payout_request", [&] { return payout_start(center_key, body); });
    }
    if (route == "payout_finish") return payout_finish(body);
    if (route == "refund") {
      return parties::stored_or(*m_db, route, body, "refund", [&] { return refund(center_key, body); });
    }
    if (route == "void_credit") return void_credit(center_key, body);
    if (route == "payout_cancel") return payout_cancel(center_key, body);
    if (route == "report") return report();
    if (route == "sync") {
      return parties::stored_or(*m_db, route, body, "order", [&] { return sync(center_key, body); });
    }
    return fail(ErrorCode::not_found, "the bank has no route " + std::string(route));
  });
}

Status VirtualBank::check_amount(const char* what, const Amount& amount) const {
  if (amount.currency() != m_currency) {
    return fail(ErrorCode::currency_mismatch,
                std::string(what) + " is in " + std::string(amount.currency().code()) +
                    ", the bank keeps " + std::string(m_currency.code()));
  }
  if (!amount.is_positive()) {
    return fail(ErrorCode::invalid_argument,
                std::string(what) + " must be positive, not " + amount.to_string());
  }
  return {};
}

// S23-S26: the card was charged; credit the user, registering it on its first deposit.
Result<Json> VirtualBank::credit(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::DepositOrder>(
      body, "wallet_certificate", "order", m_trust, {pki::Role::wallet}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [wallet, order] = *certified;
  auto charged = protocol::read_verified<protocol::DepositCharged>(
      body, "charged", m_directory.clearing.verify_key());
  if (!charged) return std::unexpected(charged.error());
  auto endorsement = protocol::read_verified<protocol::DepositCenterCredit>(body, "center", center);
  if (!endorsement) return std::unexpected(endorsement.error());

  const auto& o = order.body;
  const auto order_digest = order.digest();
  if (auto ok = chain(charged->body.request_id == o.request_id &&
                          charged->body.order == order_digest && charged->body.amount == o.amount,
                      "deposit_charged");
      !ok) {
    return std::unexpected(ok.error());
  }
  const auto& instruction = endorsement->body;
  if (auto ok = chain(instruction.request_id == o.request_id && instruction.order == order_digest &&
                          instruction.charged == charged->digest(),
                      "deposit_center_credit");
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = check_amount("the deposit", o.amount); !ok) return std::unexpected(ok.error());

  return answer_once(
      *m_db, "credit", o.request_id, body, now, [&](store::Transaction& tx) -> Result<Json> {
        auto voided = tx.query_one("SELECT 1 FROM voided_credits WHERE request_id = ?",
                                   {o.request_id.to_string()});
        if (!voided) return std::unexpected(voided.error());
        if (*voided) {
          return fail(ErrorCode::conflict, "deposit " + o.request_id.to_string() +
                                               " was given up, and its charge reversed");
        }
        Id128 user_id = instruction.user_id;
        if (user_id.is_zero()) {
          user_id = Id128::random(m_random);
          auto inserted = tx.exec(
              "INSERT INTO users (user_id, verify_key, sealing_key, certificate_serial, created) "
              "VALUES (?, ?, ?, ?, ?)",
              {user_id.to_string(), key_bytes(wallet.verify_key()),
               key_bytes(wallet.sealing_key()), wallet.serial(), now});
          if (!inserted) return std::unexpected(inserted.error());
          if (auto ok = open_account(tx, user_account(user_id)); !ok) {
            return std::unexpected(ok.error());
          }
          if (auto ok = add_figure(tx, "users", figure_slot(o.request_id), 1); !ok) {
            return std::unexpected(ok.error());
          }
        } else if (auto ok = check_user(tx, user_id, wallet); !ok) {
          return std::unexpected(ok.error());
        }
        const auto account = user_account(user_id);
        auto before = told_balance(tx, m_currency, user_id);
        if (!before) return std::unexpected(before.error());
        auto adjusted = change_since_told(tx, user_id, *before);
        if (!adjusted) return std::unexpected(adjusted.error());
        if (auto ok = post(tx, o.request_id, stripe(kFundingAccount, o.request_id), account,
                           o.amount, now);
            !ok) {
          return std::unexpected(ok.error());
        }
        auto balance_now = told_balance(tx, m_currency, user_id);
        if (!balance_now) return std::unexpected(balance_now.error());
        if (auto ok = remember_told(tx, user_id, *balance_now); !ok) return std::unexpected(ok.error());
        auto notice = protocol::BalanceNotice::of(*balance_now);
        notice.adjusted = *adjusted;
        // Every change no sync has told yet (this answer may be lost; the device counts each once).
        auto changes = untold_changes(tx, m_currency, user_id, false);
        if (!changes) return std::unexpected(changes.error());
        notice.changes = std::move(*changes);
        const auto receipt = protocol::sign(
            m_identity.keys.signing,
            protocol::DepositReceipt{.request_id = o.request_id,
                                     .user_id = user_id,
                                     .amount = o.amount,
                                     .sealed_balance = notice.seal(wallet.sealing_key()),
                                     .order = order_digest});
        return Json{{"receipt", receipt.to_json()}};
      });
}

// S101-S104: clearing has matched the shop's account to its certificate; issue a shop ID.
Result<Json> VirtualBank::register_shop(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::ShopRegistration>(
      body, "shop_certificate", "registration", m_trust, {pki::Role::shop}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [shop, registration] = *certified;
  auto verified = protocol::read_verified<protocol::ShopAccountVerified>(
      body, "verified", m_directory.clearing.verify_key());
  if (!verified) return std::unexpected(verified.error());
  auto endorsement = protocol::read_signed<protocol::ShopRegistrationBank>(body, "center");
  if (!endorsement) return std::unexpected(endorsement.error());

  const auto& request_id = registration.body.request_id;
  const auto registration_digest = registration.digest();
  if (auto ok = chain(verified->body.request_id == request_id &&
                          verified->body.registration == registration_digest &&
                          verified->body.certificate_serial == shop.serial(),
                      "shop_account_verified");
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = protocol::check_endorsement(*endorsement, center, request_id,
                                            {registration_digest, verified->digest()});
      !ok) {
    return std::unexpected(ok.error());
  }

  return answer_once(
      *m_db, "register_shop", request_id, body, now, [&](store::Transaction& tx) -> Result<Json> {
        auto existing = tx.query_one("SELECT shop_id FROM shops WHERE certificate_serial = ?",
                                     {shop.serial()});
        if (!existing) return std::unexpected(existing.error());
        if (*existing) {
          return fail(ErrorCode::conflict, "certificate " + shop.serial() +
                                               " is already registered as shop " +
                                               store::text_at(**existing, 0).value_or("?"));
        }
        const auto shop_id = Id128::random(m_random);
        auto inserted = tx.exec(
            "INSERT INTO shops (shop_id, verify_key, sealing_key, certificate_serial, created) "
            "VALUES (?, ?, ?, ?, ?)",
            {shop_id.to_string(), key_bytes(shop.verify_key()), key_bytes(shop.sealing_key()),
             shop.serial(), now});
        if (!inserted) return std::unexpected(inserted.error());
        std::vector<std::string> accounts = {sales_account(shop_id), paying_out_account(shop_id)};
        for (int k = 1; k < kSalesStripes; ++k) {
          accounts.push_back(sales_account(shop_id) + "#" + std::to_string(k));
        }
        for (const auto& account : accounts) {
          if (auto ok = open_account(tx, account); !ok) return std::unexpected(ok.error());
        }
        if (auto ok = add_figure(tx, "shops", shop_id.bytes().back() % kStripes, 1); !ok) {
          return std::unexpected(ok.error());
        }
        const auto registered = protocol::sign(
            m_identity.keys.signing, protocol::ShopRegistered{.request_id = request_id,
                                                              .shop_id = shop_id,
                                                              .certificate_serial = shop.serial(),
                                                              .registration = registration_digest});
        return Json{{"registered", registered.to_json()}};
      });
}

// S159-S162: move the purchase amount from the user's balance to the shop's sales.
// A payment's answer stands once given, paid or refused, whoever asks again and whatever changed
// since (time, a revocation, the balance): the center keeps no record of a payment, and asks the
// bank. A refusal is kept in the request log as {"refused": {code, message}}.
namespace {

Json refusal_text(const Error& refusal) {
  return {{"refused", {{"code", std::string(to_string(refusal.code))}, {"message", refusal.message}}}};
}

Result<Json> answer_or_refusal(Json answer) {
  if (!answer.is_object() || !answer.contains("refused")) return answer;
  const auto& refused = answer["refused"];
  return std::unexpected(Error{error_code_from_string(refused.value("code", "internal")),
                               refused.value("message", "")});
}

}  // namespace

Result<Json> VirtualBank::pay(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto order = protocol::read_signed<protocol::PaymentOrder>(body, "order");
  if (!order) return std::unexpected(order.error());
  const auto& request_id = order->body.request_id;
  // The payment is the wallet's order: a retry passes through the shop again and arrives with the
  // shop's part signed afresh (its sealed shop ID is randomised), so the order names the request.
  const Json identity = {{"order", protocol::to_text(order->digest())}};
  // The center asks whether it was paid (a late retry, one only to be finished, or one whose
  // wallet was revoked since): the answer that stands, or none, and then never one after.
  if (body.value("finish_only", false)) {
    return settle_refused(request_id, identity,
                          Error{ErrorCode::stale, "request " + request_id.to_string() + " paid nothing"},
                          now);
  }
  auto answer = pay_once(center, body, *order, identity, now);
  if (answer) return answer_or_refusal(std::move(*answer));
  // A retry gets its first answer whatever changed since (time, a revocation): a refusal stands
  // only when no answer is stored. When that cannot be told (the store out of reach), neither can
  // the outcome.
  auto stored = parties::stored_answer(*m_db, "pay", request_id, identity);
  if (!stored) return std::unexpected(stored.error());
  if (*stored) return answer_or_refusal(std::move(**stored));
  return answer;
}

Result<Json> VirtualBank::settle_refused(const Id128& request_id, const Json& identity,
                                         const Error& refusal, UnixSeconds now) {
  const auto id = request_id.to_string();
  const auto digest = parties::body_digest(identity);
  std::optional<Json> standing;
  auto settled = m_db->transact([&](store::Transaction& tx) -> Status {
    standing.reset();  // a body run again (PostgreSQL) starts afresh
    // Claimed before it is read, as in answer_once.
    auto claimed = store::claim_answer(tx, id, "pay", digest, now);
    if (!claimed) return std::unexpected(claimed.error());
    if (*claimed) return store::fill_answer(tx, id, refusal_text(refusal).dump());
    auto seen = store::find_answer(tx, id, "pay", digest);
    if (!seen) return std::unexpected(seen.error());  // the ID names another request: replayed
    if (!*seen) return fail(ErrorCode::internal, "request " + id + " was claimed and is gone");
    standing = Json::parse(**seen, nullptr, false);
    if (standing->is_discarded()) return fail(ErrorCode::internal, "stored answer is damaged");
    return {};
  });
  if (!settled) return std::unexpected(settled.error());
  if (!standing) return std::unexpected(refusal);
  return answer_or_refusal(std::move(*standing));
}

Result<Json> VirtualBank::pay_once(const crypto::VerifyKey& center, const Json& body,
                                   const protocol::Signed<protocol::PaymentOrder>& order,
                                   const Json& identity, UnixSeconds now) {
  auto wallet =
      parties::read_certificate(body, "wallet_certificate", m_trust, {pki::Role::wallet}, now);
  if (!wallet) return std::unexpected(wallet.error());
  auto shop = parties::read_certificate(body, "shop_certificate", m_trust, {pki::Role::shop}, now);
  if (!shop) return std::unexpected(shop.error());
  auto vouched = protocol::read_verified<protocol::PaymentShop>(body, "shop", shop->verify_key());
  if (!vouched) return std::unexpected(vouched.error());
  auto instruction = protocol::read_verified<protocol::PaymentCenter>(body, "center", center);
  if (!instruction) return std::unexpected(instruction.error());

  const auto& o = order.body;
  const auto& c = instruction->body;
  const auto order_digest = order.digest();
  if (auto ok = order.verify(wallet->verify_key()); !ok) return std::unexpected(ok.error());
  if (auto ok =
          chain(vouched->body.request_id == o.request_id && vouched->body.order == order_digest,
                "payment_shop");
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = chain(c.request_id == o.request_id && c.order == order_digest &&
                          c.shop == vouched->digest() && c.amount == o.amount,
                      "payment_center");
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = chain(o.shop == shop->subject(), "payment_order pays another shop"); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = check_amount("the payment", o.amount); !ok) return std::unexpected(ok.error());

  // No transfer records travel as nothing at all (there is nothing to seal); records travel
  // sealed to the bank.
  if (!o.sealed_transfers.empty()) {
    auto transfers = m_identity.keys.sealing.open(o.sealed_transfers);
    if (!transfers) {
      return fail(transfers.error().code,
                  "payment_order.sealed_transfers: " + transfers.error().message);
    }
    const Json records = protocol::parse_limited(as_text(*transfers));
    if (records.is_discarded() || !records.is_array()) {
      return fail(ErrorCode::malformed,
                  "payment_order.sealed_transfers: expected a JSON list of transfer records");
    }
    if (!records.empty()) {
      return fail(ErrorCode::invalid_argument, "transfer records not supported yet");
    }
  }

  // A payment whose request was checked is refused for good: the refusal is kept as its answer
  // (one refused for a request that is not what it claims, or a check that failed above, is not:
  // it would keep the real request out).
  auto answer = answer_once(
      *m_db, "pay", o.request_id, identity, now, [&](store::Transaction& tx) -> Result<Json> {
        if (auto ok = check_user(tx, c.user_id, *wallet); !ok) return std::unexpected(ok.error());
        if (auto ok = check_shop(tx, c.shop_id, *shop); !ok) return std::unexpected(ok.error());
        const auto account = user_account(c.user_id);
        auto before = balance(tx, m_currency, account);
        if (!before) return std::unexpected(before.error());
        auto order_of = before->compare(o.amount);
        if (!order_of) return std::unexpected(order_of.error());
        if (*order_of == std::strong_ordering::less) {
          auto shortfall = o.amount.sub(*before);
          if (!shortfall) return std::unexpected(shortfall.error());
          return fail(ErrorCode::insufficient_funds, "balance " + before->to_string() +
                                                         " is short of " + o.amount.to_string() +
                                                         " by " + shortfall->to_string());
        }
        // Written before it is read: a read of a key that is not there would lock its index page
        // against every concurrent payment's insert there (PostgreSQL's SERIALIZABLE).
        auto recorded = tx.exec(
            "INSERT OR IGNORE INTO paid_orders (shop_id, order_id, request_id) VALUES (?, ?, ?)",
            {c.shop_id.to_string(), o.order_id.to_string(), o.request_id.to_string()});
        if (!recorded) return std::unexpected(recorded.error());
        if (*recorded == 0) {
          auto paid = tx.query_one(
              "SELECT request_id FROM paid_orders WHERE shop_id = ? AND order_id = ?",
              {c.shop_id.to_string(), o.order_id.to_string()});
          if (!paid) return std::unexpected(paid.error());
          return fail(ErrorCode::conflict, "order " + o.order_id.to_string() +
                                               " is paid already (request " +
                                               (*paid ? *store::text_at(**paid, 0) : "?") + ")");
        }
        if (auto ok = add_figure(tx, "payments", figure_slot(o.request_id), 1); !ok) {
          return std::unexpected(ok.error());
        }
        if (auto ok = post(tx, o.request_id, account,
                           stripe(sales_account(c.shop_id), o.request_id, kSalesStripes), o.amount,
                           now);
            !ok) {
          return std::unexpected(ok.error());
        }
        // Told as the device counts it: with what its allowance holds (not spendable here).
        auto after = told_balance(tx, m_currency, c.user_id);
        if (!after) return std::unexpected(after.error());
        auto told_before = after->add(o.amount);
        if (!told_before) return std::unexpected(told_before.error());
        auto adjusted = change_since_told(tx, c.user_id, *told_before);
        if (!adjusted) return std::unexpected(adjusted.error());
        if (auto ok = remember_told(tx, c.user_id, *after); !ok) return std::unexpected(ok.error());
        // The new balance, and what changed before this payment that the device was not told of,
        // so it can check new = old + adjusted - price (S166).
        auto notice = protocol::BalanceNotice::of(*after);
        notice.adjusted = *adjusted;
        // Every change no sync has told yet (this answer may be lost; the device counts each once).
        auto changes = untold_changes(tx, m_currency, c.user_id, false);
        if (!changes) return std::unexpected(changes.error());
        notice.changes = std::move(*changes);
        const auto receipt = protocol::sign(
            m_identity.keys.signing,
            protocol::PaymentReceiptBank{
                .request_id = o.request_id,
                .amount = o.amount,
                .sealed_balance = notice.seal(wallet->sealing_key()),
                .order = order_digest});
        return Json{{"receipt", receipt.to_json()}};
      });
  if (answer || outcome_unknown(answer.error())) return answer;
  return settle_refused(o.request_id, identity, answer.error(), now);
}

// S185-S187: set the shop's whole sales aside for payout.
Result<Json> VirtualBank::payout_start(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::PayoutRequest>(
      body, "shop_certificate", "payout_request", m_trust, {pki::Role::shop}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [shop, request] = *certified;
  auto instruction = protocol::read_verified<protocol::PayoutCenter>(body, "center", center);
  if (!instruction) return std::unexpected(instruction.error());

  const auto& request_id = request.body.request_id;
  const auto& shop_id = instruction->body.shop_id;
  if (auto ok = chain(instruction->body.request_id == request_id &&
                          instruction->body.payout_request == request.digest(),
                      "payout_center");
      !ok) {
    return std::unexpected(ok.error());
  }

  return answer_once(
      *m_db, "payout_start", request_id, body, now, [&](store::Transaction& tx) -> Result<Json> {
        if (auto ok = check_shop(tx, shop_id, shop); !ok) return std::unexpected(ok.error());
        // The sales are summed now, from their stripes, and each stripe is set aside.
        auto unpaid = unpaid_sales(tx, shop_id, m_currency);
        if (!unpaid) return std::unexpected(unpaid.error());
        for (const auto& [account, part] : unpaid->stripes) {
          if (auto ok = post(tx, request_id, account, paying_out_account(shop_id), part, now); !ok) {
            return std::unexpected(ok.error());
          }
        }
        const auto* sales = &unpaid->total;
        // Nothing to pay out is finished at once: clearing is never asked to transfer zero.
        auto inserted = tx.exec(
            "INSERT INTO payouts (request_id, shop_id, amount, state, created, finished) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            {request_id.to_string(), shop_id.to_string(), sales->minor(),
             std::string(sales->is_positive() ? "pending" : "paid"), now,
             sales->is_positive() ? store::Value() : store::Value(now)});
        if (!inserted) return std::unexpected(inserted.error());
        const auto amount = protocol::sign(
            m_identity.keys.signing,
            protocol::PayoutAmount{.request_id = request_id, .shop_id = shop_id, .amount = *sales});
        return Json{{"amount", amount.to_json()}};
      });
}

// Refunds (issue 14): amount of a paid order goes back from the shop's unpaid sales to whoever
// paid it, never more than was paid in all; the user's device learns it, itemised, in its next
// notice. The shop learns neither who paid nor any balance.
Result<Json> VirtualBank::refund(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::RefundRequest>(
      body, "shop_certificate", "refund", m_trust, {pki::Role::shop}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [shop, request] = *certified;
  auto instruction = protocol::read_verified<protocol::RefundCenter>(body, "center", center);
  if (!instruction) return std::unexpected(instruction.error());
  const auto& r = request.body;
  const auto& shop_id = instruction->body.shop_id;
  if (auto ok = chain(instruction->body.request_id == r.request_id &&
                          instruction->body.refund_request == request.digest(),
                      "refund_center");
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = check_amount("the refund", r.amount); !ok) return std::unexpected(ok.error());

  return answer_once(*m_db, "refund", r.request_id, body, now, [&](store::Transaction& tx) -> Result<Json> {
    if (auto ok = check_shop(tx, shop_id, shop); !ok) return std::unexpected(ok.error());
    // The order was paid to this shop by the payment the shop names; that payment's posting says
    // by whom and how much.
    auto paid = tx.query_one("SELECT request_id FROM paid_orders WHERE shop_id = ? AND order_id = ?",
                             {shop_id.to_string(), r.order_id.to_string()});
    if (!paid) return std::unexpected(paid.error());
    if (!*paid || *store::text_at(**paid, 0) != r.payment.to_string()) {
      return fail(ErrorCode::not_found, "no payment " + r.payment.to_string() + " of order " +
                                            r.order_id.to_string() + " to this shop");
    }
    const auto [first, beyond] = prefix_range(sales_account(shop_id) + "#");
    auto posting = tx.query_one(
        "SELECT debit, amount FROM postings WHERE request_id = ? AND (credit = ? OR (credit >= ? AND credit < ?))",
        {r.payment.to_string(), sales_account(shop_id), first, beyond});
    if (!posting) return std::unexpected(posting.error());
    if (!*posting) return fail(ErrorCode::internal, "payment " + r.payment.to_string() + " has no posting");
    const auto payer = *store::text_at(**posting, 0);
    auto user = Id128::parse(payer.substr(std::string_view("user:").size()));
    if (!payer.starts_with("user:") || !user) {
      return fail(ErrorCode::internal, "payment " + r.payment.to_string() + " was paid from " + payer);
    }
    auto paid_amount = Amount::from_minor(m_currency, *store::int_at(**posting, 1));
    if (!paid_amount) return std::unexpected(paid_amount.error());
    auto before = tx.query_one(
        "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE shop_id = ? AND order_id = ?",
        {shop_id.to_string(), r.order_id.to_string()});
    if (!before) return std::unexpected(before.error());
    auto refunded_before = Amount::from_minor(m_currency, *store::int_at(**before, 0));
    if (!refunded_before) return std::unexpected(refunded_before.error());
    auto refunded = refunded_before->add(r.amount);
    if (!refunded) return std::unexpected(refunded.error());
    if (*refunded->compare(*paid_amount) == std::strong_ordering::greater) {
      return fail(ErrorCode::invalid_argument,
                  "order " + r.order_id.to_string() + " was paid " + paid_amount->to_string() +
                      " and " + refunded_before->to_string() + " of it refunded: a refund of " +
                      r.amount.to_string() + " would give back more than was paid");
    }
    // Taken from the sales not yet paid out, stripe by stripe (none goes below zero).
    auto unpaid = unpaid_sales(tx, shop_id, m_currency);
    if (!unpaid) return std::unexpected(unpaid.error());
    if (*unpaid->total.compare(r.amount) == std::strong_ordering::less) {
      return fail(ErrorCode::insufficient_funds,
                  "the shop's sales not yet paid out, " + unpaid->total.to_string() +
                      ", do not cover a refund of " + r.amount.to_string());
    }
    Amount left = r.amount;
    for (const auto& [account, part] : unpaid->stripes) {
      if (left.is_zero()) break;
      const auto take = *part.compare(left) == std::strong_ordering::less ? part : left;
      if (auto ok = post(tx, r.request_id, account, user_account(*user), take, now); !ok) {
        return std::unexpected(ok.error());
      }
      left = left.sub(take).value();
    }
    if (auto ok = add_figure(tx, "refunded", figure_slot(r.request_id), r.amount.minor()); !ok) {
      return std::unexpected(ok.error());
    }
    auto kept = tx.exec(
        "INSERT INTO refunds (request_id, shop_id, order_id, user_id, amount, statement, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        {r.request_id.to_string(), shop_id.to_string(), r.order_id.to_string(), user->to_string(),
         r.amount.minor(), request.to_json().dump(), now});
    if (!kept) return std::unexpected(kept.error());
    // The device is not told a balance here: it learns this change in its next notice.
    auto change = tx.exec(
        "INSERT INTO balance_changes (change_id, user_id, kind, amount, reference, at) "
        "VALUES (?, ?, 'refund', ?, ?, ?)",
        {r.request_id.to_string(), user->to_string(), r.amount.minor(), r.order_id.to_string(), now});
    if (!change) return std::unexpected(change.error());
    const auto receipt = protocol::sign(m_identity.keys.signing,
                                        protocol::RefundReceipt{.request_id = r.request_id,
                                                                .order_id = r.order_id,
                                                                .amount = r.amount,
                                                                .refunded = *refunded,
                                                                .refund_request = request.digest()});
    return Json{{"receipt", receipt.to_json()}};
  });
}

// After S191: the payout is final when clearing paid it; when it failed the sales come back.
Result<Json> VirtualBank::payout_finish(const Json& body) {
  const auto now = m_clock.now();
  auto result = protocol::read_verified<protocol::PayoutResult>(body, "result",
                                                                m_directory.clearing.verify_key());
  if (!result) return std::unexpected(result.error());
  const auto& r = result->body;
  if (auto ok = check_amount("the payout", r.amount); !ok) return std::unexpected(ok.error());

  auto answer = answer_once(
      *m_db, "payout_finish", payout_log_key("ecash bank payout_finish", r.request_id), body, now,
      [&](store::Transaction& tx) -> Result<Json> {
        auto row = tx.query_one("SELECT shop_id, amount, state FROM payouts WHERE request_id = ?",
                                {r.request_id.to_string()});
        if (!row) return std::unexpected(row.error());
        if (!*row) return fail(ErrorCode::not_found, "no payout " + r.request_id.to_string());
        auto shop_text = store::text_at(**row, 0);
        auto minor = store::int_at(**row, 1);
        auto state = store::text_at(**row, 2);
        if (!shop_text || !minor || !state) return fail(ErrorCode::internal, "damaged payout row");
        auto shop_id = Id128::parse(*shop_text);
        if (!shop_id) return fail(ErrorCode::internal, "damaged payout row");
        if (*state != "pending") {
          return fail(ErrorCode::conflict,
                      "payout " + r.request_id.to_string() + " is already " + *state);
        }
        auto set_aside = Amount::from_minor(m_currency, *minor);
        if (!set_aside) return std::unexpected(set_aside.error());
        if (*set_aside != r.amount) {
          return fail(ErrorCode::conflict, "payout " + r.request_id.to_string() + " set aside " +
                                               set_aside->to_string() + ", the result is for " +
                                               r.amount.to_string());
        }
        const auto done = r.paid ? post(tx, r.request_id, paying_out_account(*shop_id),
                                        stripe(kPayoutAccount, r.request_id), r.amount, now)
                                 : return_to_sales(tx, r.request_id, paying_out_account(*shop_id),
                                                   m_currency, now);
        if (!done) return std::unexpected(done.error());
        const std::string finished = r.paid ? "paid" : "failed";
        auto updated = tx.exec("UPDATE payouts SET state = ?, finished = ? WHERE request_id = ?",
                               {finished, now, r.request_id.to_string()});
        if (!updated) return std::unexpected(updated.error());
        return Json{{"state", finished}, {"amount", r.amount.to_string()}};
      });
  // The finish's log entry is keyed by the payout: another body under it is another result.
  if (!answer && answer.error().code == ErrorCode::replayed) {
    return fail(ErrorCode::conflict,
                "payout " + r.request_id.to_string() + " was already finished with another result");
  }
  return answer;
}

// Clearing refused a payout before any transfer: the center, which asked for it, takes it back
// and the sales return. Only a pending payout can be cancelled.
Result<Json> VirtualBank::payout_cancel(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto instruction = protocol::read_verified<protocol::PayoutCenter>(body, "center", center);
  if (!instruction) return std::unexpected(instruction.error());
  const auto& request_id = instruction->body.request_id;
  return answer_once(
      *m_db, "payout_cancel", payout_log_key("ecash bank payout_cancel", request_id), body, now,
      [&](store::Transaction& tx) -> Result<Json> {
        auto row = tx.query_one("SELECT shop_id, amount, state FROM payouts WHERE request_id = ?",
                                {request_id.to_string()});
        if (!row) return std::unexpected(row.error());
        if (!*row) return fail(ErrorCode::not_found, "no payout " + request_id.to_string());
        auto shop_text = store::text_at(**row, 0);
        auto minor = store::int_at(**row, 1);
        auto state = store::text_at(**row, 2);
        if (!shop_text || !minor || !state) return fail(ErrorCode::internal, "damaged payout row");
        auto shop_id = Id128::parse(*shop_text);
        if (!shop_id || *shop_id != instruction->body.shop_id) {
          return fail(ErrorCode::unknown_shop, "the payout is another shop's");
        }
        if (*state != "pending") {
          return fail(ErrorCode::conflict, "payout " + request_id.to_string() + " is already " + *state);
        }
        auto set_aside = Amount::from_minor(m_currency, *minor);
        if (!set_aside) return std::unexpected(set_aside.error());
        if (auto ok = return_to_sales(tx, request_id, paying_out_account(*shop_id), m_currency, now);
            !ok) {
          return std::unexpected(ok.error());
        }
        auto updated = tx.exec("UPDATE payouts SET state = 'failed', finished = ? WHERE request_id = ?",
                               {now, request_id.to_string()});
        if (!updated) return std::unexpected(updated.error());
        return Json{{"state", "failed"}, {"amount", set_aside->to_string()}};
      });
}

// The center gives up crediting a charged deposit (a day passed without a credit): either it was
// credited after all (its answer, for the center to finish with), or it is voided now and never
// credited after. Once per deposit, whatever the order of the two.
Result<Json> VirtualBank::void_credit(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto order = protocol::read_signed<protocol::DepositOrder>(body, "order");
  if (!order) return std::unexpected(order.error());
  auto instruction = protocol::read_signed<protocol::DepositCenterVoid>(body, "center");
  if (!instruction) return std::unexpected(instruction.error());
  const auto& id = order->body.request_id;
  if (auto ok = protocol::check_endorsement(*instruction, center, id, {order->digest()}); !ok) {
    return std::unexpected(ok.error());
  }
  Json out;
  auto done = m_db->transact([&](store::Transaction& tx) -> Status {
    auto credited = tx.query_one("SELECT response FROM request_log WHERE id = ? AND route = 'credit'",
                                 {id.to_string()});
    if (!credited) return std::unexpected(credited.error());
    if (*credited) {
      out = {{"state", "credited"}, {"answer", Json::parse(*store::text_at(**credited, 0))}};
      return {};
    }
    auto n = tx.exec("INSERT INTO voided_credits (request_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                     {id.to_string(), now});
    if (!n) return std::unexpected(n.error());
    out = {{"state", "voided"}};
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return out;
}

Result<Json> VirtualBank::report() {
  auto figures = totals();
  if (!figures) return std::unexpected(figures.error());
  return figures->to_json();
}

namespace {

// Whether a transfer is backed: the allowance it carries is this bank's, issued to the device that
// signed the transfer, the transfer names it and stays within its amount, and was made before it
// expired. Otherwise the code a receiver would have refused it with.
struct Backing {
  bool ok = false;
  ErrorCode code = ErrorCode::allowance_exceeded;
  std::string why;
  Id128 allowance_id;
  bool open = false;  // its reserve still holds its value (not closed)
};

Result<Backing> check_backing(store::Transaction& tx, const crypto::VerifyKey& bank,
                              Currency currency, const Json& record, const protocol::Transfer& t,
                              const crypto::VerifyKey& sender_key) {
  Backing out;
  const auto refuse = [&](ErrorCode code, std::string why) {
    out.code = code;
    out.why = std::move(why);
    return out;
  };
  if (!record.contains("allowance")) return refuse(ErrorCode::allowance_exceeded, "no allowance backs it");
  auto allowance = protocol::read_verified<protocol::OfflineAllowance>(record, "allowance", bank);
  if (!allowance) {
    return refuse(ErrorCode::allowance_exceeded, "its allowance is not this bank's: " +
                                                     allowance.error().message);
  }
  const auto& a = allowance->body;
  if (a.device_key != sender_key) {
    return refuse(ErrorCode::allowance_exceeded, "its allowance was issued to another device");
  }
  if (t.allowance != allowance->digest()) {
    return refuse(ErrorCode::bad_signature, "the transfer names another allowance");
  }
  if (t.allowance_total.currency() != currency || a.amount.currency() != currency ||
      t.allowance_total.minor() < t.amount.minor() || t.allowance_total.minor() > a.amount.minor()) {
    return refuse(ErrorCode::allowance_exceeded,
                  "its running total " + t.allowance_total.to_string() + " is past its allowance of " +
                      a.amount.to_string());
  }
  if (t.created > a.expires) {
    return refuse(ErrorCode::allowance_expired, "made after its allowance expired");
  }
  auto row = tx.query_one("SELECT state FROM allowances WHERE allowance_id = ?",
                          {a.allowance_id.to_string()});
  if (!row) return std::unexpected(row.error());
  if (!*row) return refuse(ErrorCode::allowance_exceeded, "this bank issued no such allowance");
  out.ok = true;
  out.allowance_id = a.allowance_id;
  out.open = *store::text_at(**row, 0) == "open";
  return out;
}

}  // namespace

// Issues the device an allowance of what it asks, at most its balance, moving that into the
// allowance's reserve: its signed statement (JSON), or nothing when there is nothing to set aside.
Result<std::optional<Json>> VirtualBank::issue_allowance(store::Transaction& tx,
                                                         const Id128& request_id, const Id128& user,
                                                         const crypto::VerifyKey& device,
                                                         const Amount& wanted, UnixSeconds now) {
  auto held = balance(tx, m_currency, user_account(user));
  if (!held) return std::unexpected(held.error());
  const auto minor = std::min(wanted.minor(), held->minor());
  if (minor <= 0) return std::optional<Json>();
  const auto amount = Amount::from_minor(m_currency, minor).value();
  const auto statement = protocol::sign(
      m_identity.keys.signing, protocol::OfflineAllowance{.allowance_id = Id128::random(m_random),
                                                          .device_key = device,
                                                          .amount = amount,
                                                          .issued = now,
                                                          .expires = now + kAllowanceLifetime});
  const auto& a = statement.body;
  const auto reserve = reserve_account(user, a.allowance_id);
  if (auto ok = open_account(tx, reserve); !ok) return std::unexpected(ok.error());
  if (auto ok = post(tx, request_id, user_account(user), reserve, amount, now); !ok) {
    return std::unexpected(ok.error());
  }
  auto n = tx.exec(
      "INSERT INTO allowances (allowance_id, user_id, device_key, amount, expires, statement, state, "
      "created) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)",
      {a.allowance_id.to_string(), user.to_string(), key_bytes(device), amount.minor(), a.expires,
       statement.to_json().dump(), now});
  if (!n) return std::unexpected(n.error());
  return std::optional<Json>(statement.to_json());
}

// Reconciliation of device-to-device transfers (DESIGN §4): each incoming transfer a wallet
// claims is credited once and debited from its sender, whether or not the sender ever comes online;
// a sender's own report moves the amount into in-flight until it is claimed; an unclaimed transfer
// returns to its sender when it expires. Fraud raises a signed case for the center: an account
// driven negative, one device counter on two transfers (a cloned or rolled-back wallet), a device
// whose view of its balance disagrees, a forged or replayed record.
Result<Json> VirtualBank::sync(const crypto::VerifyKey& center, const Json& body) {
  const auto now = m_clock.now();
  auto certified = parties::read_certified<protocol::SyncOrder>(
      body, "wallet_certificate", "order", m_trust, {pki::Role::wallet}, now);
  if (!certified) return std::unexpected(certified.error());
  const auto& [wallet, order] = *certified;
  auto instruction = protocol::read_verified<protocol::SyncCenter>(body, "center", center);
  if (!instruction) return std::unexpected(instruction.error());
  const auto& o = order.body;
  if (auto ok = chain(instruction->body.request_id == o.request_id &&
                          instruction->body.order == order.digest(),
                      "sync_center");
      !ok) {
    return std::unexpected(ok.error());
  }
  auto plain = m_identity.keys.sealing.open(o.sealed_transfers);
  if (!plain) return std::unexpected(plain.error());
  const Json report = protocol::parse_limited(as_text(*plain));
  protocol::FieldReader rr(report, "transfer report");
  const auto reported_balance = rr.amount("balance");
  if (auto ok = rr.status(); !ok) return std::unexpected(ok.error());
  if (!report.contains("records") || !report["records"].is_array() ||
      report["records"].size() > 1000) {
    return fail(ErrorCode::malformed, "transfer report: records must be a list of at most 1000");
  }
  const Id128 user = instruction->body.user_id;

  // Transfers this sync reconciled for the first time (claimed now, or first reported), for the
  // operator's metrics once it is committed; none when the answer was an earlier one's.
  std::optional<std::int64_t> reconciled;
  auto answered = answer_once(*m_db, "sync", o.request_id, body, now,
                     [&](store::Transaction& tx) -> Result<Json> {
    if (auto ok = check_user(tx, user, wallet); !ok) return std::unexpected(ok.error());
    std::int64_t newly = 0;
    std::vector<std::string> accepted, returned;
    std::vector<protocol::BalanceNotice::Refusal> refused;
    Json cases = Json::array();
    const auto flag = [&](const Id128& who, const std::string& kind, const Json& evidence) -> Status {
      const auto statement = protocol::sign(
          m_identity.keys.signing,
          protocol::FraudCase{.case_id = Id128::random(m_random),
                              .user_id = who,
                              .kind = kind,
                              .evidence = crypto::blake2b_256(as_bytes(evidence.dump())),
                              .opened = now});
      auto n = tx.exec(
          "INSERT INTO cases (case_id, user_id, kind, evidence, statement, opened) "
          "VALUES (?, ?, ?, ?, ?, ?)",
          {statement.body.case_id.to_string(), who.to_string(), kind, evidence.dump(),
           statement.to_json().dump(), now});
      if (!n) return std::unexpected(n.error());
      // The center gets the signed case (with the evidence's digest); the evidence itself holds
      // transfer records and balances, and stays here.
      cases.push_back({{"case", statement.to_json()}});
      return {};
    };
    const auto refuse = [&](const std::string& id, ErrorCode code, const std::string& why) {
      refused.push_back({id, code, why});
    };
    const auto user_of_key = [&](const crypto::VerifyKey& key) -> Result<std::optional<Id128>> {
      auto row = tx.query_one("SELECT user_id FROM users WHERE verify_key = ?",
                              {Bytes(key.bytes().begin(), key.bytes().end())});
      if (!row) return std::unexpected(row.error());
      if (!*row) return std::optional<Id128>();
      return std::optional<Id128>(Id128::parse(*store::text_at(**row, 0)).value());
    };
    const auto check_negative = [&](const Id128& who) -> Status {
      auto after = balance(tx, m_currency, user_account(who));
      if (!after) return std::unexpected(after.error());
      if (after->is_negative()) {
        return flag(who, "negative_balance", {{"user_id", who.to_string()},
                                              {"balance", after->to_string()}});
      }
      return {};
    };

    // (c) The device's view of its balance against what the bank told it (the ledger may have
    // moved since, by transfers claimed from it, without the device knowing). Any figure told
    // since its last sync will do: an answer lost on the way (a payment whose answer never
    // arrived) leaves an honest device with the one before.
    auto told = tx.query_one("SELECT told FROM users WHERE user_id = ?", {user.to_string()});
    if (!told) return std::unexpected(told.error());
    auto known = told_since_sync(tx, user, reported_balance.minor());
    if (!known) return std::unexpected(known.error());
    if (*told && !store::is_null_at(**told, 0)) {
      const auto told_amount = Amount::from_minor(m_currency, *store::int_at(**told, 0));
      if (!told_amount) return std::unexpected(told_amount.error());
      if (!*known) {
        if (auto ok = flag(user, "device_disagrees", {{"device_says", reported_balance.to_string()},
                                                      {"bank_told_it", told_amount->to_string()}});
            !ok) {
          return std::unexpected(ok.error());
        }
      }
    }

    // Transfers in flight past their expiry go back to their senders.
    auto expired = tx.query(
        "SELECT transfer_id, sender_user, amount FROM transfers WHERE state = 'in_flight' "
        "AND expires < ?",
        {now});
    if (!expired) return std::unexpected(expired.error());
    for (const auto& row : *expired) {
      const auto id = *store::text_at(row, 0);
      const auto sender = Id128::parse(*store::text_at(row, 1)).value();
      const auto amount = Amount::from_minor(m_currency, *store::int_at(row, 2)).value();
      const auto transfer_id = Id128::parse(id).value();
      if (auto ok = post(tx, o.request_id, stripe(kInFlightAccount, transfer_id), user_account(sender),
                         amount, now);
          !ok) {
        return std::unexpected(ok.error());
      }
      auto n = tx.exec("UPDATE transfers SET state = 'returned' WHERE transfer_id = ?", {id});
      if (!n) return std::unexpected(n.error());
      if (sender == user) returned.push_back(id);
    }
    // Allowances past their expiry: what their reserves hold returns to the balances.
    auto lapsed = tx.query(
        "SELECT allowance_id, user_id FROM allowances WHERE state = 'open' AND expires < ?", {now});
    if (!lapsed) return std::unexpected(lapsed.error());
    for (const auto& row : *lapsed) {
      if (auto back = close_allowance(tx, m_currency, o.request_id,
                                      Id128::parse(*store::text_at(row, 1)).value(),
                                      Id128::parse(*store::text_at(row, 0)).value(), now);
          !back) {
        return std::unexpected(back.error());
      }
    }

    for (const auto& record : report["records"]) {
      const std::string direction = record.is_object() ? record.value("direction", "") : "";
      auto transfer = record.is_object() && record.contains("transfer")
                          ? protocol::Signed<protocol::Transfer>::from_json(record["transfer"])
                          : Result<protocol::Signed<protocol::Transfer>>(
                                fail(ErrorCode::malformed, "no transfer"));
      auto sender_cert = record.is_object() && record.contains("sender_certificate") &&
                                 record["sender_certificate"].is_string()
                             ? pki::Certificate::from_pem(record["sender_certificate"].get<std::string>())
                             : Result<pki::Certificate>(fail(ErrorCode::malformed, "no certificate"));
      if (!transfer || !sender_cert || (direction != "in" && direction != "out")) {
        refuse("?", ErrorCode::malformed, "unreadable record");
        if (auto ok = flag(user, "forged_record", record); !ok) return std::unexpected(ok.error());
        continue;
      }
      const auto& t = transfer->body;
      const auto id = t.transfer_id.to_string();
      // Certified by this operator's CA. A device revoked (or expired) since is still honoured for
      // what an allowance backs: its receiver may have accepted it before the news reached it, and
      // the allowance bounds what it could spend; receivers that know of the revocation refuse it.
      const std::array wallets = {pki::Role::wallet};
      if (auto valid = m_trust.verify(*sender_cert, wallets, now); !valid) {
        const auto code = valid.error().code;
        if (code != ErrorCode::certificate_revoked && code != ErrorCode::certificate_expired) {
          refuse(id, code, "the sender's certificate: " + valid.error().message);
          if (auto ok = flag(user, "forged_record", record); !ok) return std::unexpected(ok.error());
          continue;
        }
      }
      if (!transfer->verify(sender_cert->verify_key())) {
        refuse(id, ErrorCode::bad_signature, "the transfer's signature does not verify");
        if (auto ok = flag(user, "forged_record", record); !ok) return std::unexpected(ok.error());
        continue;
      }
      if (t.amount.currency() != m_currency || !t.amount.is_positive()) {
        refuse(id, ErrorCode::currency_mismatch, "not a positive " + std::string(m_currency.code()) + " amount");
        continue;
      }
      auto sender = user_of_key(sender_cert->verify_key());
      if (!sender) return std::unexpected(sender.error());
      if (!*sender) {
        refuse(id, ErrorCode::unknown_user, "the sender has no account");
        continue;
      }
      const bool incoming = direction == "in";
      if (incoming && t.receiver != wallet.serial()) {
        refuse(id, ErrorCode::invalid_argument, "the transfer names another device");
        if (auto ok = flag(user, "forged_record", record); !ok) return std::unexpected(ok.error());
        continue;
      }
      if (!incoming && sender_cert->verify_key() != wallet.verify_key()) {
        refuse(id, ErrorCode::invalid_argument, "an outgoing transfer this device did not sign");
        if (auto ok = flag(user, "forged_record", record); !ok) return std::unexpected(ok.error());
        continue;
      }
      // Backed by an allowance this bank issued to the sending device, within its amount, made
      // before it expired: anything else no allowance covers, and is refused.
      auto backing = check_backing(tx, m_identity.keys.signing.verify_key(), m_currency, record, t,
                                   sender_cert->verify_key());
      if (!backing) return std::unexpected(backing.error());
      if (!backing->ok) {
        refuse(id, backing->code, backing->why);
        continue;
      }
      auto existing = tx.query_one("SELECT state, receiver_user FROM transfers WHERE transfer_id = ?", {id});
      if (!existing) return std::unexpected(existing.error());
      if (*existing) {
        const auto state = *store::text_at(**existing, 0);
        const bool mine = !store::is_null_at(**existing, 1) &&
                          *store::text_at(**existing, 1) == user.to_string();
        if (state == "returned") {
          if (incoming) refuse(id, ErrorCode::stale, "expired unclaimed: returned to its sender");
          else returned.push_back(id);
        } else if (!incoming) {
          accepted.push_back(id);  // already claimed or in flight: nothing more to debit
        } else if (state == "claimed") {
          if (mine) {
            accepted.push_back(id);  // credited before: never twice
          } else {
            refuse(id, ErrorCode::replayed, "another device claimed this transfer");
            if (auto ok = flag(user, "replayed_record", record); !ok) return std::unexpected(ok.error());
          }
        } else {  // in flight: the sender was debited already
          if (auto ok = post(tx, o.request_id, stripe(kInFlightAccount, t.transfer_id),
                             user_account(user), t.amount, now);
              !ok) {
            return std::unexpected(ok.error());
          }
          auto n = tx.exec("UPDATE transfers SET state = 'claimed', receiver_user = ? WHERE transfer_id = ?",
                           {user.to_string(), id});
          if (!n) return std::unexpected(n.error());
          accepted.push_back(id);
          ++newly;
        }
        continue;
      }
      const auto insert = [&](const char* state, bool claimed) -> Status {
        auto n = tx.exec(
            "INSERT INTO transfers (transfer_id, sender_key, sender_user, counter, receiver_serial, "
            "receiver_user, amount, expires, statement, state, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {id, Bytes(sender_cert->verify_key().bytes().begin(), sender_cert->verify_key().bytes().end()),
             (*sender)->to_string(), static_cast<std::int64_t>(t.counter), t.receiver,
             claimed ? store::Value(user.to_string()) : store::Value(), t.amount.minor(), t.expires,
             record["transfer"].dump(), std::string(state), now});
        if (!n) return std::unexpected(n.error());
        return {};
      };
      if (t.expires < now) {
        // Never claimed in time: it stays with (or returns to) its sender.
        if (auto ok = insert("returned", false); !ok) return std::unexpected(ok.error());
        if (incoming) refuse(id, ErrorCode::stale, "expired before it was claimed");
        else returned.push_back(id);
        continue;
      }
      // (b) One counter on two transfers: the sender's wallet was cloned or rolled back.
      auto reused = tx.query(
          "SELECT transfer_id, statement FROM transfers WHERE sender_key = ? AND counter = ? "
          "AND transfer_id <> ?",
          {Bytes(sender_cert->verify_key().bytes().begin(), sender_cert->verify_key().bytes().end()),
           static_cast<std::int64_t>(t.counter), id});
      if (!reused) return std::unexpected(reused.error());
      if (!reused->empty()) {
        Json evidence = {{"counter", t.counter}, {"transfers", Json::array({record["transfer"]})}};
        for (const auto& other : *reused) {
          evidence["transfers"].push_back(Json::parse(*store::text_at(other, 1)));
        }
        if (auto ok = flag(**sender, "counter_reuse", evidence); !ok) return std::unexpected(ok.error());
      }
      // (d) Two transfers under one allowance whose ranges overlap: the device was copied (or its
      // store rolled back). Both are honoured, being within the allowance their receivers checked;
      // what the reserve cannot cover is taken from the user's balance, owed under this case.
      const auto high = t.allowance_total.minor();
      const auto low = high - t.amount.minor();
      const auto allowance_id = backing->allowance_id.to_string();
      auto overlapping = tx.query(
          "SELECT statement FROM allowance_spends WHERE allowance_id = ? AND low < ? AND high > ?",
          {allowance_id, high, low});
      if (!overlapping) return std::unexpected(overlapping.error());
      if (!overlapping->empty()) {
        Json evidence = {{"allowance", record["allowance"]},
                         {"transfers", Json::array({record["transfer"]})}};
        for (const auto& other : *overlapping) {
          evidence["transfers"].push_back(Json::parse(*store::text_at(other, 0)));
        }
        if (auto ok = flag(**sender, "allowance_overlap", evidence); !ok) {
          return std::unexpected(ok.error());
        }
      }
      if (auto n = tx.exec("INSERT INTO allowance_spends (allowance_id, transfer_id, low, high, "
                           "statement) VALUES (?, ?, ?, ?, ?)",
                           {allowance_id, id, low, high, record["transfer"].dump()});
          !n) {
        return std::unexpected(n.error());
      }
      // The money comes from the allowance's reserve while it holds enough (an honest device's
      // value, set aside at its sync), else from the sender's balance.
      std::string source = user_account(**sender);
      if (backing->open) {
        const auto reserve = reserve_account(**sender, backing->allowance_id);
        auto held = balance(tx, m_currency, reserve);
        if (!held) return std::unexpected(held.error());
        if (held->minor() >= t.amount.minor()) source = reserve;
      }
      if (incoming) {
        if (auto ok = post(tx, o.request_id, source, user_account(user), t.amount, now); !ok) {
          return std::unexpected(ok.error());
        }
        if (auto ok = insert("claimed", true); !ok) return std::unexpected(ok.error());
      } else {
        if (auto ok = post(tx, o.request_id, source, stripe(kInFlightAccount, t.transfer_id),
                           t.amount, now);
            !ok) {
          return std::unexpected(ok.error());
        }
        if (auto ok = insert("in_flight", false); !ok) return std::unexpected(ok.error());
      }
      // (a) An account driven negative: the sender spent more than it held (owed, with its case).
      if (auto ok = check_negative(**sender); !ok) return std::unexpected(ok.error());
      accepted.push_back(id);
      ++newly;
    }

    // The device's offline allowance: asked for (report "offline": the amount to load), the open
    // one is closed (its rest returns to the balance) and a new one issued of at most the balance.
    std::optional<std::string> allowance_now;
    if (report.contains("offline")) {
      protocol::FieldReader lr(report, "transfer report");
      const auto wanted = lr.amount("offline");
      if (auto ok = lr.status(); !ok) return std::unexpected(ok.error());
      if (wanted.currency() != m_currency || wanted.is_negative()) {
        return fail(ErrorCode::invalid_argument,
                    "offline: a positive " + std::string(m_currency.code()) + " amount, or zero");
      }
      auto open = tx.query("SELECT allowance_id FROM allowances WHERE user_id = ? AND state = 'open'",
                           {user.to_string()});
      if (!open) return std::unexpected(open.error());
      for (const auto& row : *open) {
        if (auto back = close_allowance(tx, m_currency, o.request_id, user,
                                        Id128::parse(*store::text_at(row, 0)).value(), now);
            !back) {
          return std::unexpected(back.error());
        }
      }
      auto issued = issue_allowance(tx, o.request_id, user, wallet.verify_key(), wanted, now);
      if (!issued) return std::unexpected(issued.error());
      allowance_now = *issued ? (*issued)->dump() : std::string("null");
    }

    auto after = told_balance(tx, m_currency, user);
    if (!after) return std::unexpected(after.error());
    if (auto ok = remember_told(tx, user, *after, true); !ok) return std::unexpected(ok.error());
    auto notice = protocol::BalanceNotice::of(*after);
    auto changes = untold_changes(tx, m_currency, user, true);
    if (!changes) return std::unexpected(changes.error());
    notice.changes = std::move(*changes);
    notice.accepted = std::move(accepted);
    notice.refused = std::move(refused);
    notice.returned = std::move(returned);
    notice.allowance = std::move(allowance_now);
    const auto receipt = protocol::sign(
        m_identity.keys.signing,
        protocol::SyncReceipt{.request_id = o.request_id,
                              .sealed_result = notice.seal(wallet.sealing_key()),
                              .order = order.digest()});
    reconciled = newly;
    return Json{{"receipt", receipt.to_json()}, {"cases", cases}};
  });
  if (answered && reconciled && *reconciled > 0) {
    metrics::count("ecash_transfers_reconciled_total", {}, static_cast<double>(*reconciled));
  }
  return answered;
}

Result<Json> VirtualBank::case_evidence() {
  Json out = Json::object();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT case_id, evidence FROM cases");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& r : *rows) out[*store::text_at(r, 0)] = *store::text_at(r, 1);
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<Json> VirtualBank::case_summaries() {
  Json out = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT case_id, user_id, kind, opened, evidence, statement FROM cases ORDER BY opened, case_id");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      const auto text = *store::text_at(row, 4);
      const Json evidence = Json::parse(text, nullptr, false);
      auto statement = protocol::Signed<protocol::FraudCase>::from_json(
          Json::parse(*store::text_at(row, 5), nullptr, false));
      const bool verified = statement && statement->verify(m_identity.keys.signing.verify_key()) &&
                            statement->body.evidence == crypto::blake2b_256(as_bytes(text));
      Json summary = {{"case_id", *store::text_at(row, 0)},
                      {"user_id", *store::text_at(row, 1)},
                      {"kind", *store::text_at(row, 2)},
                      {"opened", *store::int_at(row, 3)},
                      {"transfers", Json::array()},
                      {"evidence_verified", verified}};
      if (evidence.is_object()) {
        if (evidence.contains("counter")) summary["counter"] = evidence["counter"];
        const auto& allowance = evidence.value("allowance", Json::object());
        if (allowance.is_object() && allowance.contains("allowance_id")) {
          summary["allowance_id"] = allowance["allowance_id"];
        }
        for (const auto& t : evidence.value("transfers", Json::array())) {
          if (t.is_object() && t.contains("transfer_id")) summary["transfers"].push_back(t["transfer_id"]);
        }
      }
      out.push_back(std::move(summary));
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

// Re-derives every balance from the immutable postings and re-verifies the transfer statements
// (by their senders' keys) and the fraud cases (by the bank's own key).
Result<Json> VirtualBank::audit() const {
  Json problems = Json::array();
  std::int64_t checked = 0;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto accounts = tx.query(
        "SELECT a.id, a.balance, "
        "COALESCE((SELECT SUM(amount) FROM postings WHERE credit = a.id), 0) - "
        "COALESCE((SELECT SUM(amount) FROM postings WHERE debit = a.id), 0) FROM accounts a");
    if (!accounts) return std::unexpected(accounts.error());
    std::int64_t sum = 0;
    for (const auto& row : *accounts) {
      ++checked;
      const auto kept = *store::int_at(row, 1);
      sum += kept;
      if (kept != *store::int_at(row, 2)) {
        problems.push_back("bank account " + *store::text_at(row, 0) + ": balance " +
                           std::to_string(kept) + " but its postings sum to " +
                           std::to_string(*store::int_at(row, 2)));
      }
    }
    if (sum != 0) problems.push_back("bank ledger sums to " + std::to_string(sum) + ", not zero");
    // The running figures the report reads, against what they sum.
    auto figures = tx.query(
        "SELECT f.name, f.total, CASE f.name "
        "  WHEN 'held' THEN (SELECT COALESCE(SUM(CASE WHEN balance > 0 THEN balance END), 0) "
        "                    FROM accounts WHERE id GLOB 'user:*' AND id NOT GLOB 'user:*:reserve:*') "
        "  WHEN 'owed' THEN (SELECT COALESCE(SUM(CASE WHEN balance < 0 THEN -balance END), 0) "
        "                    FROM accounts WHERE id GLOB 'user:*' AND id NOT GLOB 'user:*:reserve:*') "
        "  WHEN 'reserve' THEN (SELECT COALESCE(SUM(balance), 0) FROM accounts "
        "                       WHERE id GLOB 'user:*:reserve:*') "
        "  WHEN 'users' THEN (SELECT COUNT(*) FROM users) "
        "  WHEN 'shops' THEN (SELECT COUNT(*) FROM shops) "
        "  WHEN 'refunded' THEN (SELECT COALESCE(SUM(amount), 0) FROM refunds) "
        "  WHEN 'payments' THEN (SELECT COUNT(*) FROM paid_orders) END "
        "FROM (SELECT name, SUM(value) AS total FROM figures GROUP BY name) f");
    if (!figures) return std::unexpected(figures.error());
    for (const auto& row : *figures) {
      ++checked;
      if (store::is_null_at(row, 2) || *store::int_at(row, 1) != *store::int_at(row, 2)) {
        problems.push_back("bank figure " + *store::text_at(row, 0) + ": kept " +
                           std::to_string(*store::int_at(row, 1)) + " but the ledger sums to " +
                           (store::is_null_at(row, 2) ? "nothing" : std::to_string(*store::int_at(row, 2))));
      }
    }
    // The list of accounts that owe, against their balances.
    auto owing = tx.query(
        "SELECT id, 'owes but is not listed' FROM accounts WHERE balance < 0 AND id GLOB 'user:*' "
        "  AND id NOT IN (SELECT account FROM owing) "
        "UNION ALL SELECT account, 'is listed but does not owe' FROM owing "
        "  WHERE account NOT IN (SELECT id FROM accounts WHERE balance < 0)");
    if (!owing) return std::unexpected(owing.error());
    ++checked;
    for (const auto& row : *owing) {
      problems.push_back("bank account " + *store::text_at(row, 0) + " " + *store::text_at(row, 1));
    }
    auto transfers = tx.query("SELECT transfer_id, sender_key, statement FROM transfers");
    if (!transfers) return std::unexpected(transfers.error());
    for (const auto& row : *transfers) {
      ++checked;
      auto key = crypto::VerifyKey::from_bytes(*store::blob_at(row, 1));
      const Json stored = Json::parse(*store::text_at(row, 2), nullptr, false);
      // A transfer reconciled before allowances is kept in its own form, and verifies as it.
      const auto verifies = [&]<class T>(std::type_identity<T>) {
        auto statement = protocol::Signed<T>::from_json(stored);
        return key && statement && statement->verify(*key) &&
               statement->body.transfer_id.to_string() == *store::text_at(row, 0);
      };
      if (!verifies(std::type_identity<protocol::Transfer>{}) &&
          !verifies(std::type_identity<protocol::LegacyTransfer>{})) {
        problems.push_back("bank transfer " + *store::text_at(row, 0) + ": signature does not verify");
      }
    }
    // Each refund as the shop signed it, moved as it says, and no order given back more than paid.
    auto refunds = tx.query(
        "SELECT r.request_id, r.statement, s.verify_key, r.amount, "
        "  (SELECT COALESCE(SUM(p.amount), 0) FROM postings p WHERE p.request_id = r.request_id), "
        "  r.order_id, "
        // Money from this shop's sales to the payer alone, the payer the one who paid the order,
        // and the payer's device told.
        "  EXISTS (SELECT 1 FROM postings p WHERE p.request_id = r.request_id AND "
        "    (p.credit <> 'user:' || r.user_id OR "
        "     substr(p.debit, 1, length('shop:' || r.shop_id || ':sales')) <> 'shop:' || r.shop_id || ':sales')) "
        "  OR NOT EXISTS (SELECT 1 FROM paid_orders o JOIN postings p ON p.request_id = o.request_id "
        "    WHERE o.shop_id = r.shop_id AND o.order_id = r.order_id AND p.debit = 'user:' || r.user_id) "
        "  OR NOT EXISTS (SELECT 1 FROM balance_changes c WHERE c.change_id = r.request_id "
        "    AND c.user_id = r.user_id AND c.amount = r.amount) "
        "FROM refunds r LEFT JOIN shops s ON s.shop_id = r.shop_id");
    if (!refunds) return std::unexpected(refunds.error());
    for (const auto& row : *refunds) {
      ++checked;
      const auto id = *store::text_at(row, 0);
      auto statement = protocol::Signed<protocol::RefundRequest>::from_json(
          Json::parse(*store::text_at(row, 1), nullptr, false));
      auto key = store::is_null_at(row, 2) ? Result<crypto::VerifyKey>(fail(ErrorCode::not_found, "no shop"))
                                           : crypto::VerifyKey::from_bytes(*store::blob_at(row, 2));
      if (!statement || !key || !statement->verify(*key) || statement->body.request_id.to_string() != id ||
          statement->body.amount.minor() != *store::int_at(row, 3) ||
          statement->body.order_id.to_string() != *store::text_at(row, 5)) {
        problems.push_back("bank refund " + id + ": the shop's signed request does not verify");
      }
      if (*store::int_at(row, 6) != 0) {
        problems.push_back("bank refund " + id + ": not from the shop's sales to the user who paid the order, "
                           "or that user not told");
      }
      if (*store::int_at(row, 3) != *store::int_at(row, 4)) {
        problems.push_back("bank refund " + id + ": " + std::to_string(*store::int_at(row, 3)) +
                           " refunded but its postings move " + std::to_string(*store::int_at(row, 4)));
      }
    }
    auto over = tx.query(
        "SELECT r.order_id, SUM(r.amount), "
        "  (SELECT COALESCE(SUM(p.amount), 0) FROM paid_orders o JOIN postings p "
        "     ON p.request_id = o.request_id AND p.debit GLOB 'user:*' "
        "   WHERE o.shop_id = r.shop_id AND o.order_id = r.order_id) AS paid "
        "FROM refunds r GROUP BY r.shop_id, r.order_id");
    if (!over) return std::unexpected(over.error());
    for (const auto& row : *over) {
      ++checked;
      if (*store::int_at(row, 1) > *store::int_at(row, 2)) {
        problems.push_back("bank order " + *store::text_at(row, 0) + ": refunded " +
                           std::to_string(*store::int_at(row, 1)) + " of " +
                           std::to_string(*store::int_at(row, 2)) + " paid");
      }
    }
    auto cases = tx.query("SELECT case_id, statement FROM cases");
    if (!cases) return std::unexpected(cases.error());
    for (const auto& row : *cases) {
      ++checked;
      auto statement = protocol::Signed<protocol::FraudCase>::from_json(
          Json::parse(*store::text_at(row, 1), nullptr, false));
      if (!statement || !statement->verify(m_identity.keys.signing.verify_key())) {
        problems.push_back("bank case " + *store::text_at(row, 0) + ": signature does not verify");
      }
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return Json{{"checked", checked}, {"problems", problems}};
}

Status VirtualBank::totals_in(store::Transaction& tx, protocol::Circulation& out) const {
  // Only the striped system accounts, the shops' accounts and the running figures are read:
  // never every user's account. SQLite's SUM of integers fails on overflow rather than wrapping.
  auto row = tx.query_one(
      "SELECT "
      "(SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE id = 'funding:card' "
      "   OR id GLOB 'funding:card#*'), "
      "(SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE id = 'payout:bank' "
      "   OR id GLOB 'payout:bank#*'), "
      "(SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE id = 'transfers:in_flight' "
      "   OR id GLOB 'transfers:in_flight#*'), "
      "(SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE id GLOB 'shop:*:sales*'), "
      "(SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE id GLOB 'shop:*:paying_out'), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'held'), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'owed'), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'users'), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'shops'), "
      "(SELECT COUNT(*) FROM cases), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'reserve'), "
      // Users who owe (their list), and those with no case.
      "(SELECT COUNT(*) FROM owing), "
      "(SELECT COUNT(*) FROM owing o WHERE NOT EXISTS "
      "   (SELECT 1 FROM cases c WHERE c.user_id = substr(o.account, 6))), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'refunded'), "
      "(SELECT COALESCE(SUM(value), 0) FROM figures WHERE name = 'payments')");
  if (!row) return std::unexpected(row.error());
  std::array<std::int64_t, 15> v{};
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto value = store::int_at(**row, i);
    if (!value) return std::unexpected(value.error());
    v[i] = *value;
  }
  const std::array<std::pair<Amount*, std::int64_t>, 9> amounts = {{{&out.deposited, -v[0]},
                                                                     {&out.refunded, v[13]},
                                                                     {&out.paid_out, v[1]},
                                                                     {&out.in_flight, v[2]},
                                                                     {&out.unpaid_sales, v[3]},
                                                                     {&out.paying_out, v[4]},
                                                                     {&out.balances, v[5]},
                                                                     {&out.owed, v[6]},
                                                                     {&out.offline_reserve, v[10]}}};
  for (const auto& [field, minor] : amounts) {
    auto amount = Amount::from_minor(m_currency, minor);
    if (!amount) return std::unexpected(amount.error());
    *field = *amount;
  }
  out.users = v[7];
  out.shops = v[8];
  out.open_cases = v[9];
  out.owing_users = v[11];
  out.owing_without_case = v[12];
  out.payments = v[14];
  return {};
}

Result<protocol::Circulation> VirtualBank::totals() const {
  auto out = protocol::Circulation::zero(m_currency);
  auto done = m_db->read([&](store::Transaction& tx) -> Status { return totals_in(tx, out); });
  if (!done) return std::unexpected(done.error());
  return out;
}

Result<VirtualBank::Books> VirtualBank::books() const {
  Books out{.totals = protocol::Circulation::zero(m_currency)};
  auto done = m_db->read([&](store::Transaction& tx) -> Status {
    if (auto ok = totals_in(tx, out.totals); !ok) return ok;
    // Each deposit's credit debits a stripe of the card funding account, each payout credits a
    // stripe of the payout account; postings are never changed, so these are the books.
    const std::array<std::pair<const char*, protocol::RequestAmounts*>, 2> kinds = {{
        {"SELECT request_id, SUM(amount) FROM postings WHERE debit = 'funding:card' "
         "OR debit GLOB 'funding:card#*' GROUP BY request_id",
         &out.requests.deposits},
        {"SELECT request_id, SUM(amount) FROM postings WHERE credit = 'payout:bank' "
         "OR credit GLOB 'payout:bank#*' GROUP BY request_id",
         &out.requests.payouts},
    }};
    for (const auto& [sql, into] : kinds) {
      auto rows = tx.query(sql);
      if (!rows) return std::unexpected(rows.error());
      for (const auto& row : *rows) {
        auto id = store::text_at(row, 0);
        auto minor = store::int_at(row, 1);
        if (!id || !minor) return fail(ErrorCode::internal, "damaged posting");
        (*into)[*id] = *minor;
      }
    }
    auto pending = tx.query("SELECT request_id FROM payouts WHERE state = 'pending'");
    if (!pending) return std::unexpected(pending.error());
    for (const auto& row : *pending) out.payouts_pending.insert(store::text_at(row, 0).value_or(""));
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return out;
}

}  // namespace ecash::bank
