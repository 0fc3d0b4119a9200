#include "parties/wallet/wallet.hpp"

#include <algorithm>
#include <array>

#include "base/account_number.hpp"
#include "crypto/encoding.hpp"
#include "protocol/notice.hpp"
#include "protocol/statements.hpp"

namespace ecash::wallet {

using protocol::Json;
using protocol::Signed;

namespace {

constexpr std::array<store::Migration, 7> kMigrations = {{
    {1, "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE pending (request_id TEXT PRIMARY KEY, route TEXT NOT NULL, body TEXT NOT NULL, "
        "balance_before TEXT NOT NULL, shop_certificate TEXT NOT NULL, created INTEGER NOT NULL);"
        "CREATE TABLE history (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, "
        "request_id TEXT NOT NULL, amount TEXT NOT NULL, balance TEXT NOT NULL, detail TEXT NOT NULL);"},
    {2, "CREATE TABLE transfer_requests (nonce TEXT PRIMARY KEY, amount TEXT NOT NULL, "
        "created INTEGER NOT NULL, state TEXT NOT NULL);"
        "CREATE TABLE outgoing (transfer_id TEXT PRIMARY KEY, counter INTEGER NOT NULL UNIQUE, "
        "amount TEXT NOT NULL, receiver_certificate TEXT NOT NULL, transfer TEXT NOT NULL, "
        "state TEXT NOT NULL, reconciled INTEGER NOT NULL DEFAULT 0, sync_request TEXT, "
        "created INTEGER NOT NULL);"
        "CREATE TABLE incoming (transfer_id TEXT PRIMARY KEY, amount TEXT NOT NULL, "
        "sender_certificate TEXT NOT NULL, transfer TEXT NOT NULL, "
        "reconciled INTEGER NOT NULL DEFAULT 0, sync_request TEXT, created INTEGER NOT NULL);"},
    // A transfer answers one request: sent again for the same request, it is the same transfer.
    {3, "ALTER TABLE outgoing ADD COLUMN nonce TEXT;"
        "ALTER TABLE outgoing ADD COLUMN envelope TEXT;"
        "CREATE UNIQUE INDEX outgoing_by_request ON outgoing (nonce);"},
    // The orders this wallet paid, so paying one again (the output was lost) says so.
    {4, "CREATE TABLE paid_orders (shop TEXT NOT NULL, order_id TEXT NOT NULL, "
        "request_id TEXT NOT NULL, amount TEXT NOT NULL, at INTEGER NOT NULL, "
        "PRIMARY KEY (shop, order_id));"},
    // What a payment was for, for its line in history (the article travels sealed to the shop).
    {5, "ALTER TABLE pending ADD COLUMN item TEXT NOT NULL DEFAULT '';"},
    // An unanswered payment the bank's figure showed carried out: its line is written, and its
    // answer, when it comes, moves nothing again.
    {6, "ALTER TABLE pending ADD COLUMN recorded INTEGER NOT NULL DEFAULT 0;"},
    // A change the bank told (a shop's refund) is found by its ID, to be counted once.
    {7, "CREATE INDEX history_by_request ON history (request_id, kind);"},
}};

// How long a transfer may wait to be claimed before it returns to its sender.
constexpr UnixSeconds kTransferLifetime = 7 * 86'400;
// What a wallet may send offline between two reconciliations unless told otherwise.
constexpr std::int64_t kDefaultOfflineLimitUnits = 200;

Status record_history(store::Transaction& tx, UnixSeconds at, const std::string& kind,
                      const Id128& request_id, const Amount& amount, const Amount& balance,
                      const std::string& detail) {
  auto n = tx.exec(
      "INSERT INTO history (at, kind, request_id, amount, balance, detail) VALUES (?, ?, ?, ?, ?, ?)",
      {at, kind, request_id.to_string(), amount.to_string(), balance.to_string(), detail});
  if (!n) return std::unexpected(n.error());
  return {};
}

// Whom a payment went to: the shop's certified trading name, and its pseudonym.
std::string payee_of(const pki::Certificate& shop) {
  return shop.trading_name() ? *shop.trading_name() + " (shop " + shop.subject() + ")"
                             : "shop " + shop.subject();
}

// What a change the bank made by itself is called in history.
std::string change_text(const protocol::BalanceNotice::Change& c) {
  if (c.kind == "returned") return "a transfer you sent was never claimed and came back (" + c.reference + ")";
  if (c.kind == "refund") return "refunded by the shop (" + c.reference + ")";
  return c.kind + (c.reference.empty() ? "" : " (" + c.reference + ")");
}

// A change the bank told before (it names each by ID until a sync has told it), whose line this
// wallet wrote already: counted once.
Result<bool> change_written(store::Transaction& tx, const protocol::BalanceNotice::Change& c) {
  if (c.id.empty()) return false;
  auto row = tx.query_one("SELECT 1 FROM history WHERE kind = ? AND request_id = ?", {c.kind, c.id});
  if (!row) return std::unexpected(row.error());
  return row->has_value();
}

// The ID a change's line in history carries: its own, or the request whose notice told it.
Id128 change_line_id(const protocol::BalanceNotice::Change& c, const Id128& request_id) {
  auto id = Id128::parse(c.id);
  return id ? *id : request_id;
}

// The client's own request and the bank's receipt in an answer, checked: the receipt signed by
// the bank for this very request, countersigned by the center (patent S28, S163 and alike).
template <class Order, class Receipt>
struct Checked {
  Signed<Order> order;
  Signed<Receipt> receipt;
  crypto::Digest center;  // the countersignature's chain digest, for a shop to endorse in turn
};

template <class Order, class Receipt, class Countersigned>
Result<Checked<Order, Receipt>> checked_answer(const Json& body, const Json& answer,
                                               const parties::Directory& dir) {
  auto order = protocol::read_signed<Order>(body, "order");
  if (!order) return std::unexpected(order.error());
  auto answered = protocol::read_endorsed<Receipt, Countersigned>(
      answer, "receipt", dir.bank.verify_key(), "center", dir.center.verify_key(),
      order->body.request_id);
  if (!answered) return std::unexpected(answered.error());
  if (answered->statement.body.order != order->digest()) {
    return fail(ErrorCode::bad_signature, "the receipt is for another request");
  }
  return Checked<Order, Receipt>{std::move(*order), std::move(answered->statement),
                                 answered->endorsement.digest()};
}

}  // namespace

Result<std::unique_ptr<Wallet>> Wallet::open(const std::string& home, const Clock& clock,
                                             RandomSource& random) {
  return open_device<Wallet>(home, "wallet", kMigrations, clock, random);
}

Status Wallet::load() {
  if (auto ok = Device::load(); !ok) return ok;
  return load_id("user_id", "user ID", m_user_id);
}

Status Wallet::enrol(protocol::Channel& ca, const std::string& name, const std::string& address,
                     const std::string& card_number) {
  if (auto ok = check_card_number(card_number); !ok) return ok;
  return enrol_as(pki::Role::wallet, ca, name, address, card_number);
}

Status Wallet::verify_card(protocol::Channel& center, const std::string& expiry,
                           const std::string& cvc) {
  return card_check(center, "verify_card", {{"expiry", expiry}, {"cvc", cvc}});
}

Status Wallet::confirm_card(protocol::Channel& center, const std::string& code) {
  if (auto ok = card_check(center, "confirm_card", {{"code", code}}); !ok) return ok;
  return parties::write_setting(*m_db, "card_confirmed", "1");
}

// The card number and salt sealed to the clearing house with what the card company asks.
Status Wallet::card_check(protocol::Channel& center, const char* route, const Json& details) {
  if (auto ok = m_device.ready(); !ok) return ok;
  auto card = m_device.account(*m_db);
  if (!card) return std::unexpected(card.error());
  auto answer = center.call(
      route, {{"sealed_card", protocol::to_text(parties::seal_account(
                                  m_device.directory().clearing.sealing_key(), card->first,
                                  card->second, details))}});
  if (!answer) return std::unexpected(answer.error());
  return {};
}

bool Wallet::card_confirmed() {
  if (m_user_id) return true;
  auto saved = parties::read_setting(*m_db, "card_confirmed");
  return saved && *saved;
}

Status Wallet::connect(protocol::Channel& center) {
  if (auto ok = Device::connect(center); !ok) return ok;
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto balance = parties::get_setting(tx, "balance");
    if (!balance) return std::unexpected(balance.error());
    if (*balance) return {};
    return parties::set_setting(tx, "balance", Amount::zero(m_device.view().currency).to_string());
  });
}

Result<Amount> Wallet::balance() {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  auto text = parties::read_setting(*m_db, "balance");
  if (!text) return std::unexpected(text.error());
  if (!*text) return Amount::zero(m_device.view().currency);
  return Amount::parse(**text);
}

Result<Amount> Wallet::spendable() {
  auto bank = balance();
  if (!bank) return std::unexpected(bank.error());
  auto offline = uncleared();
  if (!offline) return std::unexpected(offline.error());
  return bank->add(*offline);
}

Result<Amount> Wallet::spendable_in(store::Transaction& tx, const Amount& bank_balance) {
  auto offline = setting_amount(tx, "uncleared");
  if (!offline) return std::unexpected(offline.error());
  return bank_balance.add(*offline);
}

Result<std::optional<Amount>> Wallet::record_bank_changes(store::Transaction& tx,
                                                          const protocol::BalanceNotice& notice,
                                                          const Amount& moved,
                                                          const Id128& request_id) {
  const auto now = m_clock.now();
  auto running = setting_amount(tx, "balance");
  if (!running) return std::unexpected(running.error());
  const auto line = [&](const std::string& kind, const Id128& id, const Amount& amount,
                        const std::string& detail) -> Status {
    auto next = running->add(amount);
    if (!next) return std::unexpected(next.error());
    *running = *next;
    auto spend = spendable_in(tx, *running);
    if (!spend) return std::unexpected(spend.error());
    return record_history(tx, now, kind, id, amount, *spend, detail);
  };
  if (auto written = write_changes(tx, notice.changes, request_id, *running); !written) {
    return std::unexpected(written.error());
  }
  auto expected = running->add(moved);
  if (!expected) return std::unexpected(expected.error());
  auto seen = notice.balance.sub(*expected);
  if (!seen) return std::unexpected(seen.error());
  auto difference = explain_difference(tx, *seen, request_id, *running);
  if (!difference) return std::unexpected(difference.error());
  if (difference->is_zero()) return std::optional<Amount>{};
  if (auto ok = line("correction", request_id, *difference,
                     "the bank's balance differed from this wallet's by " + difference->to_string() +
                         " (a change this wallet had not heard of): the bank's figure is kept");
      !ok) {
    return std::unexpected(ok.error());
  }
  return std::optional<Amount>{*difference};
}

Result<std::vector<protocol::BalanceNotice::Change>> Wallet::write_changes(
    store::Transaction& tx, const std::vector<protocol::BalanceNotice::Change>& changes,
    const Id128& request_id, Amount& running) {
  std::vector<protocol::BalanceNotice::Change> written;
  for (const auto& c : changes) {
    auto seen = change_written(tx, c);
    if (!seen) return std::unexpected(seen.error());
    if (*seen) continue;  // in this wallet's figure already
    auto next = running.add(c.amount);
    if (!next) return std::unexpected(next.error());
    running = *next;
    auto spend = spendable_in(tx, running);
    if (!spend) return std::unexpected(spend.error());
    if (auto ok = record_history(tx, m_clock.now(), c.kind, change_line_id(c, request_id), c.amount, *spend,
                                 change_text(c));
        !ok) {
      return std::unexpected(ok.error());
    }
    written.push_back(c);
  }
  return written;
}

Result<Amount> Wallet::explain_difference(store::Transaction& tx, const Amount& difference,
                                          const Id128& request_id, Amount& running) {
  if (difference.is_zero()) return difference;
  // Higher than expected by transfers this wallet sent that expired unclaimed: returned. Lower
  // by payments it sent and never heard back about: made.
  auto explained = difference.is_positive()
                       ? record_returned_transfers(tx, difference, request_id, running)
                       : record_unanswered_payments(tx, difference.negate(), request_id, running);
  if (!explained) return std::unexpected(explained.error());
  return difference.is_positive() ? difference.sub(*explained) : difference.add(*explained);
}

Result<Amount> Wallet::record_unheard(store::Transaction& tx, const std::vector<Unheard>& candidates,
                                     const Amount& target, bool raises, const std::string& kind,
                                     const char* mark_sql, Amount& running) {
  Amount all = Amount::zero(target.currency());
  for (const auto& c : candidates) {
    auto sum = all.add(c.amount);
    if (!sum) return std::unexpected(sum.error());
    all = *sum;
  }
  // Every one of them, or one alone, makes up the difference; anything else is left unexplained.
  std::vector<const Unheard*> chosen;
  if (!candidates.empty() && all == target) {
    for (const auto& c : candidates) chosen.push_back(&c);
  } else {
    for (const auto& c : candidates) {
      if (c.amount == target) {
        chosen.push_back(&c);
        break;
      }
    }
  }
  Amount explained = Amount::zero(target.currency());
  for (const auto* c : chosen) {
    const Amount moved = raises ? c->amount : c->amount.negate();
    auto next = running.add(moved);
    if (!next) return std::unexpected(next.error());
    running = *next;
    auto spend = spendable_in(tx, running);
    if (!spend) return std::unexpected(spend.error());
    if (auto ok = record_history(tx, m_clock.now(), kind, c->line_id, moved, *spend, c->detail); !ok) {
      return std::unexpected(ok.error());
    }
    auto n = tx.exec(mark_sql, {c->id});
    if (!n) return std::unexpected(n.error());
    auto sum = explained.add(c->amount);
    if (!sum) return std::unexpected(sum.error());
    explained = *sum;
  }
  return explained;
}

Result<Amount> Wallet::record_unanswered_payments(store::Transaction& tx, const Amount& missing,
                                                  const Id128& except, Amount& running) {
  std::vector<Unheard> open;
  auto rows = tx.query(
      "SELECT request_id, body, item, shop_certificate FROM pending WHERE route = 'pay' AND "
      "recorded = 0 AND request_id <> ? ORDER BY created",
      {except.to_string()});
  if (!rows) return std::unexpected(rows.error());
  for (const auto& r : *rows) {
    auto order = protocol::read_signed<protocol::PaymentOrder>(
        Json::parse(*store::text_at(r, 1), nullptr, false), "order");
    if (!order) continue;
    const auto item = *store::text_at(r, 2);
    auto shop = pki::Certificate::from_pem(*store::text_at(r, 3));
    open.push_back({*store::text_at(r, 0), order->body.request_id, order->body.amount,
                    (item.empty() ? "" : "'" + item + "' ") + "at " +
                        (shop ? payee_of(*shop) : std::string("a shop")) +
                        " (its answer had not arrived; the bank's balance shows it paid)"});
  }
  return record_unheard(tx, open, missing, false, "payment",
                        "UPDATE pending SET recorded = 1 WHERE request_id = ?", running);
}

Result<Amount> Wallet::record_returned_transfers(store::Transaction& tx, const Amount& extra,
                                                 const Id128& request_id, Amount& running) {
  std::vector<Unheard> expired;
  auto rows = tx.query("SELECT transfer_id, amount, receiver_certificate FROM outgoing "
                       "WHERE state <> 'returned' AND created + ? < ? ORDER BY created",
                       {kTransferLifetime, m_clock.now()});
  if (!rows) return std::unexpected(rows.error());
  for (const auto& r : *rows) {
    auto amount = Amount::parse(*store::text_at(r, 1));
    if (!amount) continue;
    auto receiver = pki::Certificate::from_pem(*store::text_at(r, 2));
    expired.push_back({*store::text_at(r, 0), request_id, *amount,
                       "a transfer you sent offline" +
                           (receiver ? " to wallet " + receiver->subject() : std::string()) +
                           " was never claimed and came back (" + *store::text_at(r, 0) + ")"});
  }
  return record_unheard(tx, expired, extra, true, "returned",
                        "UPDATE outgoing SET state = 'returned' WHERE transfer_id = ?", running);
}

Status Wallet::save_pending(const Id128& request_id, const std::string& route, const Json& body,
                            const Amount& balance_before, const std::string& shop_pem,
                            const std::string& item) {
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec(
        "INSERT INTO pending (request_id, route, body, balance_before, shop_certificate, created, "
        "item) VALUES (?, ?, ?, ?, ?, ?, ?)",
        {request_id.to_string(), route, body.dump(), balance_before.to_string(), shop_pem,
         m_clock.now(), item});
    if (!n) return std::unexpected(n.error());
    return {};
  });
}

Result<Wallet::Deposit> Wallet::deposit(protocol::Channel& center, const Amount& amount, bool again) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (auto ok = check_currency(amount); !ok) return std::unexpected(ok.error());
  if (!amount.is_positive()) return fail(ErrorCode::invalid_argument, "a deposit must be positive");
  // A deposit an earlier command finished and never reported (read before this command finishes
  // any of its own).
  auto unreported = setting("unreported_deposit");
  if (!unreported) return std::unexpected(unreported.error());
  auto settled = settle_pending(center);
  if (!settled) return std::unexpected(settled.error());
  // The same command run again after a failure or a kill: the unanswered deposit was the one.
  const bool same = std::find(settled->deposits.begin(), settled->deposits.end(), amount) !=
                    settled->deposits.end();
  const bool same_unreported = *unreported && **unreported == amount.to_string();
  if ((same || same_unreported) && !again) {
    auto now_balance = balance();
    if (!now_balance) return std::unexpected(now_balance.error());
    Deposit out{*now_balance, settled->deposits, false, settled->refused, std::nullopt};
    if (!same) out.unreported_earlier = amount;
    return out;
  }
  if (auto ok = sync_if_needed(center); !ok) return std::unexpected(ok.error());
  auto before = balance();
  if (!before) return std::unexpected(before.error());

  protocol::DepositOrder order{.request_id = Id128::random(m_random),
                               .timestamp = m_clock.now(),
                               .sealed_user_id = {},
                               .amount = amount,
                               .sealed_card = {}};
  if (m_user_id) {
    // S72: the user ID, sealed to the center: clearing checks this order's signature too.
    order.sealed_user_id = crypto::seal(m_device.directory().center.sealing_key(),
                                        as_bytes(m_user_id->to_string()));
  } else {
    // S14: the card number, sealed to the clearing house, only on the first deposit.
    auto card = m_device.account(*m_db);
    if (!card) return std::unexpected(card.error());
    order.sealed_card =
        parties::seal_account(m_device.directory().clearing.sealing_key(), card->first, card->second);
  }
  const Json body = {{"order", protocol::sign(m_keys.signing, order).to_json()}};
  if (auto ok = save_pending(order.request_id, "deposit", body, *before, ""); !ok) {
    return std::unexpected(ok.error());
  }
  auto answer = center.call("deposit", body);
  if (!answer) {
    // Refused outright: nothing happened, so nothing is pending. Out of reach: keep it to retry.
    if (!outcome_unknown(answer.error())) (void)drop_pending(order.request_id);
    return std::unexpected(answer.error());
  }
  auto new_balance = finish_deposit(body, *answer);
  if (!new_balance) return std::unexpected(new_balance.error());
  return Deposit{*new_balance, settled->deposits, true, settled->refused, std::nullopt};
}

Status Wallet::deposit_reported() {
  return m_db->transact([](store::Transaction& tx) { return parties::erase_setting(tx, "unreported_deposit"); });
}

// S29/S88: check the bank's receipt and the center's countersignature, then store the user ID
// and the balance the bank sealed to this wallet.
Result<Amount> Wallet::finish_deposit(const Json& body, const Json& answer) {
  auto checked = checked_answer<protocol::DepositOrder, protocol::DepositReceipt,
                                protocol::DepositReceiptCenter>(body, answer, m_device.directory());
  if (!checked) return std::unexpected(checked.error());
  const auto* order = &checked->order;
  const auto* receipt = &checked->receipt;
  if (receipt->body.amount != order->body.amount) {
    return fail(ErrorCode::bad_signature, "the receipt is for another deposit");
  }
  if (m_user_id && receipt->body.user_id != *m_user_id) {
    return fail(ErrorCode::bad_signature, "the receipt is for another user");
  }
  auto notice = protocol::BalanceNotice::open(m_keys.sealing, receipt->body.sealed_balance);
  if (!notice) return std::unexpected(notice.error());
  const Result<Amount> new_balance = notice->balance;
  const auto& o = order->body;
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    if (auto ok = parties::set_setting(tx, "user_id", receipt->body.user_id.to_string()); !ok) return ok;
    // A first deposit has nothing to reconcile against (the wallet had no balance yet).
    if (m_user_id) {
      auto corrected = record_bank_changes(tx, *notice, o.amount, o.request_id);
      if (!corrected) return std::unexpected(corrected.error());
    }
    if (auto ok = parties::set_setting(tx, "balance", new_balance->to_string()); !ok) return ok;
    auto spend = spendable_in(tx, *new_balance);
    if (!spend) return std::unexpected(spend.error());
    if (auto ok = record_history(tx, m_clock.now(), "deposit", o.request_id, o.amount, *spend,
                                 "from your card");
        !ok) {
      return ok;
    }
    // Until the command that finished it reports it (deposit_reported).
    if (auto ok = parties::set_setting(tx, "unreported_deposit", o.amount.to_string()); !ok) return ok;
    auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {o.request_id.to_string()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  m_user_id = receipt->body.user_id;
  return *new_balance;
}

Result<Wallet::Payment> Wallet::pay(protocol::Channel& shop, const Json& payment_request,
                                    protocol::Channel* center, bool top_up) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (!m_user_id) {
    return fail(ErrorCode::unknown_user,
                "this wallet has no account at the bank yet: make a first deposit "
                "(`ecash wallet deposit AMOUNT`) before paying");
  }
  const auto now = m_clock.now();
  auto shop_cert = parties::read_certificate(payment_request, "shop_certificate", m_device.trust(),
                                             {pki::Role::shop}, now);
  if (!shop_cert) return std::unexpected(shop_cert.error());
  auto request = protocol::read_verified<protocol::PaymentRequest>(payment_request, "request",
                                                                   shop_cert->verify_key());
  if (!request) return std::unexpected(request.error());
  const auto& req = request->body;
  // A payment of this same request that got no answer is sent again as it was, under its own
  // request ID: the shop and the operator answer it with their first answer, and the order is
  // paid once.
  // (whatever time has passed: the payment may have been made).
  std::optional<std::pair<Json, std::string>> unanswered;
  Id128 unanswered_id;
  std::optional<Amount> paid_before;
  std::optional<Result<Standing>> standing_now;
  auto looked = m_db->read([&](store::Transaction& tx) -> Status {
    standing_now = standing_in(tx);
    auto rows = tx.query("SELECT body, balance_before, request_id, shop_certificate FROM pending "
                         "WHERE route = 'pay' ORDER BY created");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      Json saved = Json::parse(*store::text_at(row, 0), nullptr, false);
      auto order = protocol::read_signed<protocol::PaymentOrder>(saved, "order");
      if (order && order->body.order_id == req.order_id && order->body.amount == req.amount &&
          *store::text_at(row, 3) == shop_cert->to_pem()) {
        unanswered.emplace(saved, *store::text_at(row, 1));
        unanswered_id = order->body.request_id;
      }
    }
    // Paid before by this wallet (the command run again after its output was lost): said so,
    // and nothing more paid.
    auto paid = tx.query_one("SELECT amount FROM paid_orders WHERE shop = ? AND order_id = ?",
                             {shop_cert->subject(), req.order_id.to_string()});
    if (!paid) return std::unexpected(paid.error());
    if (*paid) {
      auto amount = Amount::parse(*store::text_at(**paid, 0));
      if (!amount) return std::unexpected(amount.error());
      paid_before = *amount;
    }
    return {};
  });
  if (!looked) return std::unexpected(looked.error());
  if (!*standing_now) return std::unexpected(standing_now->error());
  Standing standing = **standing_now;
  if (paid_before && !unanswered) {
    return Payment{*paid_before, standing.balance, req.item, std::nullopt, true};
  }
  if (unanswered) {
    auto before = Amount::parse(unanswered->second);
    if (!before) return std::unexpected(before.error());
    auto answer = shop.call("pay", unanswered->first);
    if (!answer) {
      // A definite refusal means it was not paid: the request may be paid afresh.
      if (!outcome_unknown(answer.error())) (void)drop_pending(unanswered_id);
      return std::unexpected(answer.error());
    }
    auto payment = finish_payment(unanswered->first, *answer, *before, *shop_cert);
    if (payment) payment->item = req.item;
    return payment;
  }

  if (req.expires < now) return fail(ErrorCode::stale, "the payment request has expired");
  if (req.amount.currency() != m_device.view().currency) {
    return fail(ErrorCode::currency_mismatch, "the shop asks for " + req.amount.to_string());
  }
  if (!req.amount.is_positive()) return fail(ErrorCode::invalid_argument, "amount must be positive");

  // Deposits left unanswered are finished first, and transfers received or sent offline
  // reconciled (the uncleared amount of S153): any record the bank has not judged (even ones
  // that net to zero) would make the bank's balance differ from this wallet's.
  // Read again after anything here changed it.
  const auto read_again = [&]() -> Status {
    auto now_standing = read_standing();
    if (!now_standing) return std::unexpected(now_standing.error());
    standing = std::move(*now_standing);
    return {};
  };
  Settled settled;
  if (center != nullptr) {
    auto done = settle_pending(*center);
    if (!done) return std::unexpected(done.error());
    settled = std::move(*done);
    if (auto ok = read_again(); !ok) return std::unexpected(ok.error());
  }
  const auto open_records = standing.open_records;
  if (open_records > 0) {
    if (center == nullptr) {
      return fail(ErrorCode::conflict, std::to_string(open_records) +
                                           " offline transfers are not reconciled with the bank "
                                           "yet: run `ecash wallet sync` (online), then pay");
    }
    auto synced = sync(*center);
    if (!synced) return std::unexpected(synced.error());
    if (auto ok = read_again(); !ok) return std::unexpected(ok.error());
  }
  // What the allowance holds is set aside at the bank for offline transfers: when the rest of the
  // balance is short, it comes back first (every record is reconciled, so none is spent under it).
  std::optional<Amount> released;
  if (standing.held && center != nullptr) {
    const auto set_aside = standing.held->amount.minor() - standing.held->used.minor();
    if (set_aside > 0 && standing.balance.minor() - set_aside < req.amount.minor()) {
      auto back = sync(*center, Amount::zero(req.amount.currency()));
      if (!back) return std::unexpected(back.error());
      released = Amount::from_minor(req.amount.currency(), set_aside).value();
      if (auto ok = read_again(); !ok) return std::unexpected(ok.error());
    }
  }
  // S151: enough balance, or top up the difference first.
  Amount current = standing.balance;
  std::optional<Amount> topped_up;
  if (current.minor() < req.amount.minor()) {
    const auto shortfall = req.amount.sub(current).value();
    if (!top_up || center == nullptr) {
      return fail(ErrorCode::insufficient_funds,
                  "balance " + current.to_string() + " is short of " + req.amount.to_string() +
                      " by " + shortfall.to_string() +
                      " (pay with --top-up to deposit the difference from your card first)");
    }
    auto deposited = deposit(*center, shortfall);
    if (!deposited) return std::unexpected(deposited.error());
    (void)deposit_reported();  // the payment's answer reports the top-up
    current = deposited->balance;  // an unanswered top-up of this amount finished counts as it
    topped_up = shortfall;
  }

  // S153: the article sealed to the shop, the user ID to the center, transfer records to the bank.
  const auto& dir = m_device.directory();
  const Json article = {{"order_id", req.order_id.to_string()}, {"item", req.item}};
  const protocol::PaymentOrder order{
      .request_id = Id128::random(m_random),
      .timestamp = now,
      .order_id = req.order_id,
      .shop = shop_cert->subject(),
      .amount = req.amount,
      .sealed_article = crypto::seal(shop_cert->sealing_key(), as_bytes(article.dump())),
      .sealed_user_id = crypto::seal(dir.center.sealing_key(), as_bytes(m_user_id->to_string())),
      // A payment is made with every transfer record reconciled (checked above): it carries
      // none, and nothing needs sealing.
      .sealed_transfers = {}};
  const Json body = {{"order", protocol::sign(m_keys.signing, order).to_json()}};
  if (auto ok = save_pending(order.request_id, "pay", body, current, shop_cert->to_pem(), req.item);
      !ok) {
    return std::unexpected(ok.error());
  }
  auto answer = shop.call("pay", body);
  if (!answer) {
    if (!outcome_unknown(answer.error())) (void)drop_pending(order.request_id);
    Error error = answer.error();
    // The top-up was made whatever became of the payment: said, never hidden behind the error.
    if (topped_up) {
      error.message += " (the top-up of " + topped_up->to_string() + " from your card was made: " +
                       "this wallet now holds " + current.to_string() + ")";
    }
    return std::unexpected(error);
  }
  auto payment = finish_payment(body, *answer, current, *shop_cert);
  if (payment) {
    payment->topped_up = topped_up;
    payment->item = req.item;
    payment->finished_earlier = std::move(settled.deposits);
    payment->refused_earlier = std::move(settled.refused);
    payment->reconciled = static_cast<int>(open_records);
    payment->released = released;
  }
  return payment;
}

Status Wallet::drop_pending(const Id128& request_id) {
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {request_id.to_string()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
}

// S166: check the bank's, the center's and the shop's signatures, and that the new balance is
// the old one less the purchase plus the uncleared amount.
Result<Wallet::Payment> Wallet::finish_payment(const Json& body, const Json& answer,
                                               const Amount& balance_before,
                                               const pki::Certificate& shop) {
  auto checked = checked_answer<protocol::PaymentOrder, protocol::PaymentReceiptBank,
                                protocol::PaymentReceiptCenter>(body, answer, m_device.directory());
  if (!checked) return std::unexpected(checked.error());
  const auto* order = &checked->order;
  const auto* receipt = &checked->receipt;
  const auto& o = order->body;
  // S165: the shop's countersignature over the bank's receipt and the center's.
  auto shop_part = protocol::read_signed<protocol::PaymentReceiptShop>(answer, "shop");
  if (!shop_part) return std::unexpected(shop_part.error());
  if (auto ok = protocol::check_endorsement(*shop_part, shop.verify_key(), o.request_id,
                                            {receipt->digest(), checked->center});
      !ok) {
    return std::unexpected(ok.error());
  }
  if (receipt->body.amount != o.amount) {
    return fail(ErrorCode::bad_signature, "the receipt is for another payment");
  }
  auto notice = protocol::BalanceNotice::open(m_keys.sealing, receipt->body.sealed_balance);
  if (!notice) return std::unexpected(notice.error());
  const Result<Amount> new_balance = notice->balance;
  // S166, with what the bank changed meanwhile (an expired transfer of ours returned). The bank
  // signed that it paid: a balance that does not add up is written down as a correction, never
  // taken as "not paid" (the money moved).
  std::optional<Amount> corrected;
  Amount final_balance = *new_balance;
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT item, recorded FROM pending WHERE request_id = ?",
                            {o.request_id.to_string()});
    if (!row) return std::unexpected(row.error());
    const std::string article =
        *row && !store::text_at(**row, 0)->empty() ? "'" + *store::text_at(**row, 0) + "' " : "";
    auto now_balance = setting_amount(tx, "balance");
    if (!now_balance) return std::unexpected(now_balance.error());
    const bool recorded = *row && *store::int_at(**row, 1) == 1;
    if (recorded) {
      // Written down when a later figure of the bank showed it paid: nothing moves again.
      final_balance = *now_balance;
    } else if (*now_balance != balance_before) {
      // An old answer (this wallet has heard newer figures of the bank since it paid, none of
      // which showed this payment): the payment comes off this wallet's figure, not the old one,
      // after the bank's own changes it tells that this wallet has not written yet.
      Amount running = *now_balance;
      if (auto written = write_changes(tx, notice->changes, o.request_id, running); !written) {
        return std::unexpected(written.error());
      }
      auto after = running.sub(o.amount);
      if (!after) return std::unexpected(after.error());
      final_balance = *after;
    } else {
      auto changes = record_bank_changes(tx, *notice, o.amount.negate(), o.request_id);
      if (!changes) return std::unexpected(changes.error());
      corrected = *changes;
    }
    if (auto ok = parties::set_setting(tx, "balance", final_balance.to_string()); !ok) return ok;
    auto spend = spendable_in(tx, final_balance);
    if (!spend) return std::unexpected(spend.error());
    if (!recorded) {
      if (auto ok = record_history(tx, m_clock.now(), "payment", o.request_id, o.amount.negate(),
                                   *spend, article + "at " + payee_of(shop));
          !ok) {
        return ok;
      }
    }
    auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {o.request_id.to_string()});
    if (!n) return std::unexpected(n.error());
    n = tx.exec("INSERT OR IGNORE INTO paid_orders (shop, order_id, request_id, amount, at) "
                "VALUES (?, ?, ?, ?, ?)",
                {shop.subject(), o.order_id.to_string(), o.request_id.to_string(),
                 o.amount.to_string(), m_clock.now()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  Payment out{o.amount, final_balance, "", std::nullopt};
  out.corrected = corrected;
  return out;
}

Result<Amount> Wallet::setting_amount(store::Transaction& tx, std::string_view key) {
  auto text = parties::get_setting(tx, key);
  if (!text) return std::unexpected(text.error());
  if (!*text) return Amount::zero(m_device.view().currency);
  return Amount::parse(**text);
}

Result<Amount> Wallet::uncleared() {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  Result<Amount> out = Amount::zero(m_device.view().currency);
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    out = setting_amount(tx, "uncleared");
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Amount Wallet::offline_limit() const {
  return m_offline_limit.value_or(
      Amount::from_minor(m_device.view().currency,
                         kDefaultOfflineLimitUnits *
                             (m_device.view().currency.exponent() == 0 ? 1 : 100))
          .value());
}

Amount Wallet::Allowance::left(UnixSeconds now) const {
  if (expires < now || used.minor() >= amount.minor()) return Amount::zero(amount.currency());
  return amount.sub(used).value();
}

Result<std::optional<Wallet::HeldAllowance>> Wallet::held_allowance(store::Transaction& tx) {
  auto text = parties::get_setting(tx, "allowance");
  if (!text) return std::unexpected(text.error());
  if (!*text || **text == "null") return std::optional<HeldAllowance>();
  Json statement = Json::parse(**text, nullptr, false);
  auto signed_allowance = Signed<protocol::OfflineAllowance>::from_json(statement);
  if (!signed_allowance) return std::unexpected(signed_allowance.error());
  auto used = setting_amount(tx, "allowance_used");
  if (!used) return std::unexpected(used.error());
  const auto& a = signed_allowance->body;
  return std::optional<HeldAllowance>(
      HeldAllowance{std::move(statement), Allowance{a.amount, *used, a.expires}});
}

Result<std::optional<Wallet::Allowance>> Wallet::allowance() {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  std::optional<Allowance> out;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto held = held_allowance(tx);
    if (!held) return std::unexpected(held.error());
    if (*held) out = (*held)->allowance;
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Status Wallet::check_own_allowance(const Json& statement) {
  auto a = Signed<protocol::OfflineAllowance>::from_json(statement);
  if (!a) return std::unexpected(a.error());
  if (auto ok = a->verify(m_device.directory().bank.verify_key()); !ok) return ok;
  if (a->body.device_key != m_keys.signing.verify_key()) {
    return fail(ErrorCode::bad_signature, "the bank's allowance is for another device");
  }
  return check_currency(a->body.amount);
}

Result<Json> Wallet::request_transfer(const Amount& amount) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (!m_user_id) return fail(ErrorCode::unknown_user, "deposit once before receiving transfers");
  if (auto ok = check_currency(amount); !ok) return std::unexpected(ok.error());
  if (!amount.is_positive()) return fail(ErrorCode::invalid_argument, "amount must be positive");
  const auto request = protocol::sign(
      m_keys.signing, protocol::TransferRequest{.nonce = Id128::random(m_random),
                                                .amount = amount,
                                                .created = m_clock.now()});
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec(
        "INSERT INTO transfer_requests (nonce, amount, created, state) VALUES (?, ?, ?, 'open')",
        {request.body.nonce.to_string(), amount.to_string(), request.body.created});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  return Json{{"request", request.to_json()},
              {"receiver_certificate", m_device.certificate()->to_pem()}};
}

Result<Json> Wallet::send(const Json& request_json) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (!m_user_id) return fail(ErrorCode::unknown_user, "deposit once before sending transfers");
  const auto now = m_clock.now();
  auto receiver = m_device.peer_certificate(request_json, "receiver_certificate", pki::Role::wallet, now);
  if (!receiver) return std::unexpected(receiver.error());
  auto request = protocol::read_verified<protocol::TransferRequest>(request_json, "request",
                                                                    receiver->verify_key());
  if (!request) return std::unexpected(request.error());
  const auto& req = request->body;
  if (receiver->serial() == m_device.certificate()->serial()) {
    return fail(ErrorCode::invalid_argument, "a wallet cannot send to itself");
  }
  if (req.amount.currency() != m_device.view().currency) {
    return fail(ErrorCode::currency_mismatch, "the request is for " + req.amount.to_string());
  }
  if (!req.amount.is_positive()) return fail(ErrorCode::invalid_argument, "amount must be positive");
  const auto limit = offline_limit();

  // The value leaves this wallet first: the debit and the record are durable before the signed
  // transfer exists, so a broken exchange can lose the receiver's claim but never create money.
  Json envelope;
  auto sent = m_db->transact([&](store::Transaction& tx) -> Status {
    // Sent before (the output was lost, the command run again): the same transfer, again.
    auto before = tx.query_one(
        "SELECT amount, receiver_certificate, envelope FROM outgoing WHERE nonce = ?",
        {req.nonce.to_string()});
    if (!before) return std::unexpected(before.error());
    if (*before) {
      auto first = pki::Certificate::from_pem(*store::text_at(**before, 1));
      if (!first || first->serial() != receiver->serial() ||
          *store::text_at(**before, 0) != req.amount.to_string() || store::is_null_at(**before, 2)) {
        return fail(ErrorCode::conflict, "this request was answered with another transfer");
      }
      envelope = Json::parse(*store::text_at(**before, 2));
      return {};
    }
    auto bal = setting_amount(tx, "balance");
    auto unc = setting_amount(tx, "uncleared");
    auto offline = setting_amount(tx, "offline_sent");
    if (!bal || !unc || !offline) return fail(ErrorCode::io_error, "cannot read the wallet's amounts");
    const auto spendable = bal->add(*unc);
    if (!spendable) return std::unexpected(spendable.error());
    if (spendable->minor() < req.amount.minor()) {
      return fail(ErrorCode::insufficient_funds,
                  "this wallet holds " + spendable->to_string() + ", short of " + req.amount.to_string());
    }
    auto offline_after = offline->add(req.amount);
    if (!offline_after) return std::unexpected(offline_after.error());
    if (req.amount.minor() > limit.minor()) {
      return fail(ErrorCode::limit_exceeded,
                  req.amount.to_string() + " is more than a wallet may send offline (" +
                      limit.to_string() + " between two syncs): pay it in parts, or online");
    }
    // The value the bank set aside for offline use is what may leave: every receiver checks the
    // same against the bank's signed allowance, so a store edited here gains nothing.
    auto held = held_allowance(tx);
    if (!held) return std::unexpected(held.error());
    if (!*held) {
      return fail(ErrorCode::allowance_exceeded,
                  "no value is loaded for offline use: run `ecash wallet sync` online first (it "
                  "loads up to " + limit.to_string() + " of the balance)");
    }
    const auto& allowed = (*held)->allowance;
    if (allowed.expires < now) {
      return fail(ErrorCode::allowance_expired,
                  "the offline allowance expired at " + utc_time(allowed.expires) +
                      ": run `ecash wallet sync` online to load a new one");
    }
    auto allowance_total = allowed.used.add(req.amount);
    if (!allowance_total) return std::unexpected(allowance_total.error());
    if (allowance_total->minor() > allowed.amount.minor()) {
      return fail(ErrorCode::allowance_exceeded,
                  "sending " + req.amount.to_string() + " would pass the offline allowance of " +
                      allowed.amount.to_string() + " (" + allowed.used.to_string() +
                      " sent under it): run `ecash wallet sync --offline " + req.amount.to_string() +
                      "` (or more) online to load enough");
    }
    const auto allowance_statement =
        Signed<protocol::OfflineAllowance>::from_json((*held)->statement).value();
    auto counter_text = parties::get_setting(tx, "counter");
    if (!counter_text) return std::unexpected(counter_text.error());
    const std::uint64_t counter = (*counter_text ? std::stoull(**counter_text) : 0) + 1;
    const auto transfer = protocol::sign(
        m_keys.signing,
        protocol::Transfer{.transfer_id = Id128::random(m_random),
                           .nonce = req.nonce,
                           .receiver = receiver->serial(),
                           .counter = counter,
                           .amount = req.amount,
                           .created = now,
                           .expires = now + kTransferLifetime,
                           .sealed_sender_user_id = crypto::seal(
                               m_device.directory().center.sealing_key(),
                               as_bytes(m_user_id->to_string())),
                           .allowance = allowance_statement.digest(),
                           .allowance_total = *allowance_total});
    const Json inner = {{"transfer", transfer.to_json()},
                        {"sender_certificate", m_device.certificate()->to_pem()},
                        {"allowance", (*held)->statement}};
    auto new_uncleared = unc->sub(req.amount);
    if (!new_uncleared) return std::unexpected(new_uncleared.error());
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"counter", std::to_string(counter)},
          {"uncleared", new_uncleared->to_string()},
          {"offline_sent", offline_after->to_string()},
          {"allowance_used", allowance_total->to_string()}}) {
      if (auto ok = parties::set_setting(tx, key, value); !ok) return ok;
    }
    // The whole transfer is sealed to the receiver: only that device can open it.
    envelope = {{"to", receiver->serial()},
                {"sealed_transfer",
                 protocol::to_text(crypto::seal(receiver->sealing_key(), as_bytes(inner.dump())))}};
    auto n = tx.exec(
        "INSERT INTO outgoing (transfer_id, counter, amount, receiver_certificate, transfer, state, "
        "created, nonce, envelope) VALUES (?, ?, ?, ?, ?, 'sent', ?, ?, ?)",
        {transfer.body.transfer_id.to_string(), static_cast<std::int64_t>(counter),
         req.amount.to_string(), receiver->to_pem(), inner.dump(), now, req.nonce.to_string(),
         envelope.dump()});
    if (!n) return std::unexpected(n.error());
    auto spend = bal->add(*new_uncleared);
    if (!spend) return std::unexpected(spend.error());
    if (auto ok = record_history(tx, now, "sent", transfer.body.transfer_id, req.amount.negate(),
                                 *spend, "offline to wallet " + receiver->subject());
        !ok) {
      return ok;
    }
    return {};
  });
  if (!sent) return std::unexpected(sent.error());
  return envelope;
}

Result<Json> Wallet::accept(const Json& envelope) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  protocol::FieldReader er(envelope, "transfer envelope");
  const auto sealed = er.bytes("sealed_transfer");
  if (auto ok = er.status(); !ok) return std::unexpected(ok.error());
  auto plain = m_keys.sealing.open(sealed);
  if (!plain) {
    return fail(ErrorCode::unseal_failed, "this transfer was not made for this device");
  }
  const Json inner = protocol::parse_limited(as_text(*plain));
  const auto now = m_clock.now();
  auto transfer = protocol::read_signed<protocol::Transfer>(inner, "transfer");
  if (!transfer) return std::unexpected(transfer.error());
  const auto& t = transfer->body;
  // Refusing an expired transfer is safe whoever signed it, so that is checked first.
  if (t.expires < now) return fail(ErrorCode::stale, "this transfer expired");
  auto sender = m_device.peer_certificate(inner, "sender_certificate", pki::Role::wallet, now);
  if (!sender) return std::unexpected(sender.error());
  if (auto ok = transfer->verify(sender->verify_key()); !ok) return std::unexpected(ok.error());
  if (t.receiver != m_device.certificate()->serial()) {
    return fail(ErrorCode::invalid_argument, "this transfer names another device");
  }
  // Offline, the bank's signed allowance is what backs the value: this device's own view of the
  // sender (its CRL, checked above) and the allowance decide, never the sender's word.
  if (!inner.is_object() || !inner.contains("allowance")) {
    return fail(ErrorCode::allowance_exceeded,
                "no allowance of the bank backs this transfer: it is refused");
  }
  auto allowance = protocol::read_verified<protocol::OfflineAllowance>(
      inner, "allowance", m_device.directory().bank.verify_key());
  if (!allowance) return std::unexpected(allowance.error());
  const auto& a = allowance->body;
  if (a.device_key != sender->verify_key()) {
    return fail(ErrorCode::allowance_exceeded, "the allowance it carries is another device's");
  }
  if (t.allowance != allowance->digest()) {
    return fail(ErrorCode::bad_signature, "the transfer names another allowance than it carries");
  }
  if (a.expires < now) {
    return fail(ErrorCode::allowance_expired,
                "the sender's offline allowance expired at " + utc_time(a.expires) +
                    ": the transfer is refused");
  }
  if (a.amount.currency() != t.amount.currency() ||
      t.allowance_total.currency() != t.amount.currency() ||
      t.allowance_total.minor() < t.amount.minor() ||
      t.allowance_total.minor() > a.amount.minor()) {
    return fail(ErrorCode::allowance_exceeded,
                "this transfer takes the sender to " + t.allowance_total.to_string() +
                    ", past the " + a.amount.to_string() +
                    " its bank set aside for offline use: it is refused");
  }

  // What is kept (and reported to the bank) is what was checked, written afresh: nothing else the
  // sender put in the sealed box travels on.
  const Json kept = {{"transfer", transfer->to_json()},
                     {"sender_certificate", sender->to_pem()},
                     {"allowance", allowance->to_json()}};
  // Signatures are deterministic: the acknowledgement of a transfer is the same every time.
  const auto ack = protocol::sign(m_keys.signing,
                                  protocol::TransferAck{.transfer_id = t.transfer_id,
                                                        .receiver = m_device.certificate()->serial(),
                                                        .amount = t.amount});
  Json answer = {{"ack", ack.to_json()}};
  auto accepted = m_db->transact([&](store::Transaction& tx) -> Status {
    auto seen = tx.query_one("SELECT transfer FROM incoming WHERE transfer_id = ?",
                             {t.transfer_id.to_string()});
    if (!seen) return std::unexpected(seen.error());
    if (*seen) {
      // Accepted before (the command run again after its output was lost): the same
      // acknowledgement again, and nothing more credited. Only for the very transfer kept.
      if (*store::text_at(**seen, 0) != kept.dump()) {
        return fail(ErrorCode::replayed, "this transfer was accepted already");
      }
      answer["again"] = true;
      return {};
    }
    auto row = tx.query_one("SELECT amount, state FROM transfer_requests WHERE nonce = ?",
                            {t.nonce.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "this device asked for no such transfer");
    if (*store::text_at(**row, 1) == "cancelled") {
      return fail(ErrorCode::conflict, "that request was cancelled on this wallet: the transfer is "
                                       "refused (unclaimed, it goes back to its sender when it expires)");
    }
    if (*store::text_at(**row, 1) != "open") {
      return fail(ErrorCode::replayed, "that request was answered already");
    }
    if (*store::text_at(**row, 0) != t.amount.to_string()) {
      return fail(ErrorCode::invalid_argument, "the transfer is not for the amount requested");
    }
    auto unc = setting_amount(tx, "uncleared");
    if (!unc) return std::unexpected(unc.error());
    auto new_uncleared = unc->add(t.amount);
    if (!new_uncleared) return std::unexpected(new_uncleared.error());
    if (auto ok = parties::set_setting(tx, "uncleared", new_uncleared->to_string()); !ok) return ok;
    auto n = tx.exec("UPDATE transfer_requests SET state = 'accepted' WHERE nonce = ?",
                     {t.nonce.to_string()});
    if (!n) return std::unexpected(n.error());
    n = tx.exec(
        "INSERT INTO incoming (transfer_id, amount, sender_certificate, transfer, created) "
        "VALUES (?, ?, ?, ?, ?)",
        {t.transfer_id.to_string(), t.amount.to_string(), sender->to_pem(), kept.dump(), now});
    if (!n) return std::unexpected(n.error());
    auto bal = setting_amount(tx, "balance");
    if (!bal) return std::unexpected(bal.error());
    auto spend = bal->add(*new_uncleared);
    if (!spend) return std::unexpected(spend.error());
    if (auto ok = record_history(tx, now, "received", t.transfer_id, t.amount, *spend,
                                 "offline from wallet " + sender->subject());
        !ok) {
      return ok;
    }
    return {};
  });
  if (!accepted) return std::unexpected(accepted.error());
  return answer;
}

Status Wallet::confirm(const Json& ack_json) {
  if (auto ok = m_device.ready(); !ok) return ok;
  auto ack = protocol::read_signed<protocol::TransferAck>(ack_json, "ack");
  if (!ack) return std::unexpected(ack.error());
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one(
        "SELECT amount, receiver_certificate, state FROM outgoing WHERE transfer_id = ?",
        {ack->body.transfer_id.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "this wallet sent no such transfer");
    auto receiver = pki::Certificate::from_pem(*store::text_at(**row, 1));
    if (!receiver) return std::unexpected(receiver.error());
    if (auto ok = ack->verify(receiver->verify_key()); !ok) return ok;
    if (ack->body.amount.to_string() != *store::text_at(**row, 0) ||
        ack->body.receiver != receiver->serial()) {
      return fail(ErrorCode::bad_signature, "the acknowledgement is for another transfer");
    }
    auto n = tx.exec("UPDATE outgoing SET state = 'confirmed' WHERE transfer_id = ?",
                     {ack->body.transfer_id.to_string()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
}

Result<std::int64_t> Wallet::unreconciled_records() {
  std::int64_t count = 0;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto n = unreconciled_records_in(tx);
    if (!n) return std::unexpected(n.error());
    count = *n;
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return count;
}

Result<std::int64_t> Wallet::unreconciled_records_in(store::Transaction& tx) {
  auto in = tx.query_one("SELECT COUNT(*) FROM incoming WHERE reconciled = 0");
  auto out = tx.query_one("SELECT COUNT(*) FROM outgoing WHERE reconciled = 0");
  if (!in || !out) return fail(ErrorCode::io_error, "cannot read transfer records");
  return *store::int_at(**in, 0) + *store::int_at(**out, 0);
}

Result<Wallet::Standing> Wallet::standing_in(store::Transaction& tx) {
  auto open_records = unreconciled_records_in(tx);
  if (!open_records) return std::unexpected(open_records.error());
  auto held = held_allowance(tx);
  if (!held) return std::unexpected(held.error());
  auto balance = setting_amount(tx, "balance");
  if (!balance) return std::unexpected(balance.error());
  Standing out{*open_records, std::nullopt, *balance};
  if (*held) out.held = (*held)->allowance;
  return out;
}

Result<Wallet::Standing> Wallet::read_standing() {
  std::optional<Result<Standing>> out;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    out = standing_in(tx);
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return std::move(*out);
}

Status Wallet::sync_if_needed(protocol::Channel& center) {
  auto open_records = unreconciled_records();
  if (!open_records) return std::unexpected(open_records.error());
  if (*open_records == 0) return {};
  auto done = sync(center);
  if (!done) return std::unexpected(done.error());
  return {};
}

// Requests sent before and never answered are sent again first, under their own IDs, so the bank
// and this wallet agree on what happened before anything new is asked (payments need the shop and
// wait for retry_pending).
Result<Wallet::Settled> Wallet::settle_pending(protocol::Channel& center) {
  Settled out;
  std::vector<std::pair<std::string, std::string>> rows;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto found = tx.query(
        "SELECT route, body FROM pending WHERE route IN ('deposit', 'sync') ORDER BY created");
    if (!found) return std::unexpected(found.error());
    for (const auto& r : *found) rows.emplace_back(*store::text_at(r, 0), *store::text_at(r, 1));
    return {};
  });
  if (!read) return std::unexpected(read.error());
  for (const auto& [route, body_text] : rows) {
    const Json body = Json::parse(body_text);
    auto answer = center.call(route, body);
    if (!answer) {
      if (outcome_unknown(answer.error())) return std::unexpected(answer.error());
      // Refused now: it never happened (a refusal is never the answer to work done); forgotten,
      // and said.
      auto order = protocol::Signed<protocol::DepositOrder>::from_json(body["order"]);
      if (order) (void)drop_pending(order->body.request_id);
      if (route == "deposit" && order) out.refused.emplace_back(order->body.amount, answer.error());
      continue;
    }
    if (route == "deposit") {
      auto done = finish_deposit(body, *answer);
      if (!done) return std::unexpected(done.error());
      out.deposits.push_back(protocol::Signed<protocol::DepositOrder>::from_json(body["order"])->body.amount);
    } else if (auto ok = finish_sync(body, *answer); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return out;
}

Result<Wallet::Sync> Wallet::sync(protocol::Channel& center, std::optional<Amount> load) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (!m_user_id) return fail(ErrorCode::unknown_user, "deposit once before syncing");
  if (load) {
    if (auto ok = check_currency(*load); !ok) return std::unexpected(ok.error());
    if (load->is_negative()) return fail(ErrorCode::invalid_argument, "an offline amount is not negative");
  }
  // Online: take the operator's latest CRL too, and finish what was left unanswered.
  if (auto ok = Device::connect(center); !ok) return std::unexpected(ok.error());
  auto settled = settle_pending(center);
  if (!settled) return std::unexpected(settled.error());
  const auto request_id = Id128::random(m_random);
  Json body;
  // The report and the records it names are tied together in one transaction: records that
  // arrive while it is out wait for the next sync.
  auto prepared = m_db->transact([&](store::Transaction& tx) -> Status {
    auto bal = setting_amount(tx, "balance");
    if (!bal) return std::unexpected(bal.error());
    Json records = Json::array();
    for (const auto& [direction, table] : {std::pair{"in", "incoming"}, std::pair{"out", "outgoing"}}) {
      auto tagged = tx.exec(std::string("UPDATE ") + table +
                                " SET sync_request = ? WHERE reconciled = 0 AND sync_request IS NULL",
                            {request_id.to_string()});
      if (!tagged) return std::unexpected(tagged.error());
      auto rows = tx.query(std::string("SELECT transfer FROM ") + table + " WHERE sync_request = ?",
                           {request_id.to_string()});
      if (!rows) return std::unexpected(rows.error());
      for (const auto& row : *rows) {
        Json record = Json::parse(*store::text_at(row, 0));
        record["direction"] = direction;
        records.push_back(std::move(record));
      }
    }
    Json report = {{"balance", bal->to_string()}, {"records", records}};
    // Sealed to the bank with the records: the center does not learn what is loaded.
    if (load) report["offline"] = load->to_string();
    const auto& dir = m_device.directory();
    const protocol::SyncOrder order{
        .request_id = request_id,
        .timestamp = m_clock.now(),
        .sealed_user_id = crypto::seal(dir.center.sealing_key(), as_bytes(m_user_id->to_string())),
        .sealed_transfers = crypto::seal(dir.bank.sealing_key(), as_bytes(report.dump()))};
    body = {{"order", protocol::sign(m_keys.signing, order).to_json()}};
    auto n = tx.exec(
        "INSERT INTO pending (request_id, route, body, balance_before, shop_certificate, created) "
        "VALUES (?, 'sync', ?, ?, '', ?)",
        {request_id.to_string(), body.dump(), bal->to_string(), m_clock.now()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!prepared) return std::unexpected(prepared.error());
  const auto& order_id = request_id;
  auto answer = center.call("sync", body);
  if (!answer) {
    if (!outcome_unknown(answer.error())) {
      // Refused: the records go back to waiting for the next sync.
      (void)m_db->transact([&](store::Transaction& tx) -> Status {
        for (const char* sql : {"UPDATE incoming SET sync_request = NULL WHERE sync_request = ?",
                                "UPDATE outgoing SET sync_request = NULL WHERE sync_request = ?",
                                "DELETE FROM pending WHERE request_id = ?"}) {
          auto n = tx.exec(sql, {order_id.to_string()});
          if (!n) return std::unexpected(n.error());
        }
        return {};
      });
    }
    return std::unexpected(answer.error());
  }
  auto done = finish_sync(body, *answer);
  if (done) {
    done->finished_earlier = settled->deposits;
    done->refused_earlier = settled->refused;
  }
  return done;
}

// The bank's result: its balance becomes this wallet's, and every record this sync reported is
// settled (accepted, refused or returned); records made meanwhile stay uncleared.
Result<Wallet::Sync> Wallet::finish_sync(const Json& body, const Json& answer) {
  auto checked = checked_answer<protocol::SyncOrder, protocol::SyncReceipt,
                                protocol::SyncReceiptCenter>(body, answer, m_device.directory());
  if (!checked) return std::unexpected(checked.error());
  const auto* order = &checked->order;
  const auto* receipt = &checked->receipt;
  auto notice = protocol::BalanceNotice::open(m_keys.sealing, receipt->body.sealed_result);
  if (!notice) return std::unexpected(notice.error());
  const auto balance = notice->balance;
  Sync out{balance, static_cast<int>(notice->accepted.size()),
           static_cast<int>(notice->refused.size()), static_cast<int>(notice->returned.size())};
  for (const auto& r : notice->refused) out.refusals.emplace_back(r.transfer_id, r.code);
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    // Which of the accepted records were sent by this wallet, which received.
    for (const auto& id : notice->accepted) {
      auto mine = tx.query_one("SELECT 1 FROM outgoing WHERE transfer_id = ?", {id});
      if (!mine) return std::unexpected(mine.error());
      ++(*mine ? out.sent : out.received);
    }
    auto old_balance = setting_amount(tx, "balance");
    if (!old_balance) return std::unexpected(old_balance.error());
    auto old_spendable = spendable_in(tx, *old_balance);
    if (!old_spendable) return std::unexpected(old_spendable.error());
    // Every record sent in this sync is settled, whatever the bank judged.
    for (const char* sql : {"UPDATE incoming SET reconciled = 1 WHERE sync_request = ?",
                            "UPDATE outgoing SET reconciled = 1 WHERE sync_request = ?"}) {
      auto n = tx.exec(sql, {order->body.request_id.to_string()});
      if (!n) return std::unexpected(n.error());
    }
    // What is still unreconciled (records made while this sync was out) stays uncleared.
    Amount received = Amount::zero(balance.currency()), sent = Amount::zero(balance.currency());
    for (auto [table, total] : {std::pair{"incoming", &received}, std::pair{"outgoing", &sent}}) {
      auto rows = tx.query(std::string("SELECT amount FROM ") + table + " WHERE reconciled = 0");
      if (!rows) return std::unexpected(rows.error());
      for (const auto& row : *rows) {
        auto amount = Amount::parse(*store::text_at(row, 0));
        if (!amount) return std::unexpected(amount.error());
        auto sum = total->add(*amount);
        if (!sum) return std::unexpected(sum.error());
        *total = *sum;
      }
    }
    auto still_uncleared = received.sub(sent);
    if (!still_uncleared) return std::unexpected(still_uncleared.error());
    // A new allowance replaces the old one (whose rest the bank returned to the balance).
    std::string loaded;
    if (notice->allowance) {
      const Json statement = Json::parse(*notice->allowance, nullptr, false);
      if (!statement.is_null()) {
        if (auto ok = check_own_allowance(statement); !ok) return ok;
        const auto a = Signed<protocol::OfflineAllowance>::from_json(statement)->body;
        loaded = "; " + a.amount.to_string() + " set aside for offline use until " + utc_time(a.expires);
      } else {
        loaded = "; nothing set aside for offline use";
      }
      if (auto ok = parties::set_setting(tx, "allowance", statement.dump()); !ok) return ok;
      if (auto ok = parties::set_setting(tx, "allowance_used",
                                         Amount::zero(balance.currency()).to_string());
          !ok) {
        return ok;
      }
    }
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"balance", balance.to_string()},
          {"uncleared", still_uncleared->to_string()},
          {"offline_sent", sent.to_string()}}) {
      if (auto ok = parties::set_setting(tx, key, value); !ok) return ok;
    }
    // The line says how the spendable figure changed: 0 when the bank took every record as this
    // wallet had counted it.
    auto new_spendable = balance.add(*still_uncleared);
    if (!new_spendable) return std::unexpected(new_spendable.error());
    auto moved = new_spendable->sub(*old_spendable);
    if (!moved) return std::unexpected(moved.error());
    // Returned transfers and payments whose answers were lost get their lines first, from a bank
    // figure that, with the uncleared amount just set, gives the old spendable one.
    auto from = old_spendable->sub(*still_uncleared);
    if (!from) return std::unexpected(from.error());
    Amount running = *from;
    // The bank's own changes this wallet has not written yet (a shop's refund) get their lines
    // first; what is left of the difference is explained as above.
    Amount rest = *moved;
    auto written = write_changes(tx, notice->changes, order->body.request_id, running);
    if (!written) return std::unexpected(written.error());
    for (const auto& c : *written) {
      auto left = rest.sub(c.amount);
      if (!left) return std::unexpected(left.error());
      rest = *left;
      out.bank_changes.push_back({c.kind, c.amount, c.reference});
    }
    auto change = explain_difference(tx, rest, order->body.request_id, running);
    if (!change) return std::unexpected(change.error());
    std::string detail = std::to_string(out.received) + " received and " + std::to_string(out.sent) +
                         " sent transfers cleared at the bank";
    if (out.refused > 0) detail += ", " + std::to_string(out.refused) + " refused";
    if (out.returned > 0) detail += ", " + std::to_string(out.returned) + " unclaimed and returned";
    detail += loaded;
    if (auto ok = record_history(tx, m_clock.now(), "sync", order->body.request_id, *change,
                                 *new_spendable, detail);
        !ok) {
      return ok;
    }
    auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {order->body.request_id.to_string()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  return out;
}

Result<int> Wallet::retry_pending(protocol::Channel& center, protocol::Channel* shop) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> rows;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto found = tx.query(
        "SELECT route, body, balance_before, shop_certificate FROM pending ORDER BY created");
    if (!found) return std::unexpected(found.error());
    for (const auto& r : *found) {
      rows.emplace_back(*store::text_at(r, 0), *store::text_at(r, 1), *store::text_at(r, 2),
                        *store::text_at(r, 3));
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  if (auto ok = settle_pending(center); !ok) return std::unexpected(ok.error());
  int sent = 0;
  for (const auto& [route, body_text, before_text, shop_pem] : rows) {
    if (route != "pay") {
      ++sent;  // settled above
      continue;
    }
    if (shop == nullptr) continue;
    const Json body = Json::parse(body_text);
    auto answer = shop->call("pay", body);
    if (!answer) return std::unexpected(answer.error());
    auto shop_cert = pki::Certificate::from_pem(shop_pem);
    auto before = Amount::parse(before_text);
    if (!shop_cert || !before) return fail(ErrorCode::malformed, "damaged pending payment");
    if (auto ok = finish_payment(body, *answer, *before, *shop_cert); !ok) {
      return std::unexpected(ok.error());
    }
    ++sent;
  }
  return sent;
}

Result<Json> Wallet::history() {
  Json out = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT at, kind, request_id, amount, balance, detail FROM history ORDER BY id");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& r : *rows) {
      out.push_back({{"at", *store::int_at(r, 0)},
                     {"kind", *store::text_at(r, 1)},
                     {"request_id", *store::text_at(r, 2)},
                     {"amount", *store::text_at(r, 3)},
                     {"balance", *store::text_at(r, 4)},
                     {"detail", *store::text_at(r, 5)}});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<Json> Wallet::pending() {
  Json out = Json::array();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto asked = tx.query("SELECT request_id, route, body, created, item FROM pending ORDER BY created");
    if (!asked) return std::unexpected(asked.error());
    for (const auto& r : *asked) {
      const auto route = *store::text_at(r, 1);
      const Json body = Json::parse(*store::text_at(r, 2), nullptr, false);
      std::string amount;
      if (body.is_object() && body.contains("order") && body["order"].is_object()) {
        amount = body["order"].value("amount", "");
      }
      out.push_back({{"id", *store::text_at(r, 0)},
                     {"kind", route},
                     {"amount", amount},
                     {"since", *store::int_at(r, 3)},
                     {"what", route == "pay" ? "a payment for '" + *store::text_at(r, 4) +
                                                   "' sent to the shop and not answered: pay the same "
                                                   "request again to finish it"
                                             : "a " + route + " sent and not answered: the next "
                                                   "deposit, sync or payment sends it again"},
                     {"cancel", false}});
    }
    auto sent = tx.query("SELECT transfer_id, amount, created FROM outgoing WHERE state = 'sent' "
                         "ORDER BY created");
    if (!sent) return std::unexpected(sent.error());
    for (const auto& r : *sent) {
      out.push_back({{"id", *store::text_at(r, 0)},
                     {"kind", "sent"},
                     {"amount", *store::text_at(r, 1)},
                     {"since", *store::int_at(r, 2)},
                     {"what", "a transfer sent offline, its acknowledgement not yet confirmed "
                              "(the receiver may hold it: it cannot be called back)"},
                     {"cancel", false}});
    }
    auto asking = tx.query("SELECT nonce, amount, created FROM transfer_requests WHERE state = 'open' "
                           "ORDER BY created");
    if (!asking) return std::unexpected(asking.error());
    for (const auto& r : *asking) {
      out.push_back({{"id", *store::text_at(r, 0)},
                     {"kind", "receive"},
                     {"amount", *store::text_at(r, 1)},
                     {"since", *store::int_at(r, 2)},
                     {"what", "a request for a transfer to this wallet, not answered yet"},
                     {"cancel", true}});
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Status Wallet::cancel(const std::string& id) {
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto asking = tx.query_one("SELECT state FROM transfer_requests WHERE nonce = ?", {id});
    if (!asking) return std::unexpected(asking.error());
    if (*asking) {
      if (*store::text_at(**asking, 0) == "cancelled") {
        return fail(ErrorCode::conflict, "request " + id + " was cancelled already");
      }
      if (*store::text_at(**asking, 0) != "open") {
        return fail(ErrorCode::conflict, "request " + id + " was answered already: nothing to cancel");
      }
      // A transfer made for it is refused from now on; its sender gets the value back when it
      // expires unclaimed.
      auto n = tx.exec("UPDATE transfer_requests SET state = 'cancelled' WHERE nonce = ?", {id});
      if (!n) return std::unexpected(n.error());
      return {};
    }
    auto asked = tx.query_one("SELECT route FROM pending WHERE request_id = ?", {id});
    if (!asked) return std::unexpected(asked.error());
    if (*asked) {
      return fail(ErrorCode::conflict,
                  "the " + *store::text_at(**asked, 0) + " " + id +
                      " was sent and may have been carried out: it cannot be cancelled, only "
                      "finished (the next deposit, sync or payment of it asks for its answer)");
    }
    auto sent = tx.query_one("SELECT state FROM outgoing WHERE transfer_id = ?", {id});
    if (!sent) return std::unexpected(sent.error());
    if (*sent && *store::text_at(**sent, 0) == "returned") {
      return fail(ErrorCode::conflict, "transfer " + id + " was never claimed and came back to this wallet already");
    }
    if (*sent) {
      return fail(ErrorCode::conflict,
                  "transfer " + id + " left this wallet: the receiver may hold it, so it cannot be "
                  "cancelled; unclaimed, it comes back by itself when it expires");
    }
    return fail(ErrorCode::not_found, "nothing open here has the ID " + id + " (see `ecash wallet pending`)");
  });
}

}  // namespace ecash::wallet
