#include "parties/shop/shop.hpp"

#include <array>
#include <map>

#include "base/http_url.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "crypto/hash.hpp"
#include "protocol/payment_uri.hpp"
#include "protocol/statements.hpp"
#include "store/request_log.hpp"

namespace ecash::shop {

using protocol::Json;
using protocol::Signed;

namespace {

constexpr std::array<store::Migration, 5> kMigrations = {{
    {1,
     "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount TEXT NOT NULL, item TEXT NOT NULL, "
     "expires INTEGER NOT NULL, state TEXT NOT NULL, request_id TEXT, receipt TEXT);"
     "CREATE TABLE payouts (request_id TEXT PRIMARY KEY, amount TEXT NOT NULL, "
     "paid INTEGER NOT NULL, reference TEXT NOT NULL, receipt TEXT NOT NULL, at INTEGER NOT NULL);"
     "CREATE TABLE request_log (id TEXT PRIMARY KEY, route TEXT NOT NULL, digest BLOB NOT NULL, "
     "response TEXT NOT NULL, created INTEGER NOT NULL);"},
    // When an order was made and paid, and the payout that covered it. Orders made before lived
    // 15 minutes; their payment time is unknown (their making stands for it).
    {2,
     "ALTER TABLE orders ADD COLUMN created INTEGER;"
     "ALTER TABLE orders ADD COLUMN paid_at INTEGER;"
     "ALTER TABLE orders ADD COLUMN payout_id TEXT;"
     "UPDATE orders SET created = expires - 900;"
     "UPDATE orders SET paid_at = created WHERE state = 'paid';"
     "CREATE INDEX orders_by_payout ON orders (payout_id);"},
    // Refunds (issue 14): each as asked (the signed request, sent again under the same ID until
    // answered), with the reason, which stays here.
    {3,
     "CREATE TABLE refunds (request_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, "
     "amount TEXT NOT NULL, reason TEXT NOT NULL, "
     "state TEXT NOT NULL CHECK (state IN ('pending', 'refunded')), "
     "request TEXT NOT NULL, answer TEXT, created INTEGER NOT NULL, finished INTEGER);"
     "CREATE INDEX refunds_by_order ON refunds (order_id);"},
    // The merchant API (issue 14): each call that creates something kept by its idempotency key
    // with its answer; an order's reference of the shop's own.
    {4,
     "CREATE TABLE api_requests (idempotency_key TEXT PRIMARY KEY, route TEXT NOT NULL, "
     "digest TEXT NOT NULL, answer TEXT NOT NULL, created INTEGER NOT NULL);"
     "ALTER TABLE orders ADD COLUMN reference TEXT;"},
    // Webhooks: each event written with the change it tells (an order paid, a refund), then
    // delivered, and tried again with back-off until acknowledged or a day has passed.
    {5,
     "CREATE TABLE webhook_events (event_id TEXT PRIMARY KEY, body TEXT NOT NULL, "
     "created INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL, "
     "state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')), last_error TEXT);"
     "CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt);"},
}};

// How long a webhook event is tried, and the longest wait between two tries.
constexpr UnixSeconds kWebhookLifetime = 86'400;
constexpr UnixSeconds kWebhookMaxWait = 3'600;

// Sums amounts in one currency, with the overflow check.
Status add_to(Amount& total, const Amount& amount) {
  auto sum = total.add(amount);
  if (!sum) return std::unexpected(sum.error());
  total = *sum;
  return {};
}

// Writes event for the shop's webhook, if it has one, in the transaction of the change it tells.
Status queue_event(store::Transaction& tx, RandomSource& random, Json event, UnixSeconds now) {
  auto url = tx.query_one("SELECT value FROM settings WHERE key = 'webhook_url'");
  if (!url) return std::unexpected(url.error());
  if (!*url || store::text_at(**url, 0)->empty()) return {};
  const auto id = Id128::random(random).to_string();
  event["event_id"] = id;
  event["at"] = now;
  auto n = tx.exec("INSERT INTO webhook_events (event_id, body, created, next_attempt, state) "
                   "VALUES (?, ?, ?, ?, 'pending')",
                   {id, event.dump(), now, now});
  if (!n) return std::unexpected(n.error());
  return {};
}

// What an order's refunds come to: those made, and those asked and not yet answered.
struct RefundTotals {
  Amount refunded;
  Amount pending;
};
Result<RefundTotals> refund_totals(store::Transaction& tx, const std::string& order_id, Currency currency) {
  RefundTotals out{Amount::zero(currency), Amount::zero(currency)};
  auto rows = tx.query("SELECT state, amount FROM refunds WHERE order_id = ?", {order_id});
  if (!rows) return std::unexpected(rows.error());
  for (const auto& row : *rows) {
    auto amount = Amount::parse(*store::text_at(row, 1));
    if (!amount) return std::unexpected(amount.error());
    auto& total = *store::text_at(row, 0) == "refunded" ? out.refunded : out.pending;
    if (auto ok = add_to(total, *amount); !ok) return std::unexpected(ok.error());
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Shop>> Shop::open(const std::string& home, const Clock& clock,
                                         RandomSource& random) {
  return open_device<Shop>(home, "shop", kMigrations, clock, random);
}

Status Shop::load() {
  if (auto ok = Device::load(); !ok) return ok;
  return load_id("shop_id", "shop ID", m_shop_id);
}

Status Shop::enrol(protocol::Channel& ca, const std::string& name, const std::string& address,
                   const std::string& iban) {
  return enrol_as(pki::Role::shop, ca, name, address, iban);
}

Result<Id128> Shop::register_shop(protocol::Channel& center) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (m_shop_id) return *m_shop_id;
  auto account = m_device.account(*m_db);
  if (!account) return std::unexpected(account.error());
  // A registration sent before and not answered is sent again under its own request ID, so the
  // center finishes it instead of starting a second one.
  auto pending = pending_request<protocol::ShopRegistration>("pending_registration");
  if (!pending) return std::unexpected(pending.error());
  const auto registration =
      *pending ? **pending
               : protocol::sign(m_keys.signing,
                                protocol::ShopRegistration{
                                    .request_id = Id128::random(m_random),
                                    .timestamp = m_clock.now(),
                                    .sealed_account = parties::seal_account(
                                        m_device.directory().clearing.sealing_key(),
                                        account->first, account->second)});
  if (!*pending) {
    if (auto ok = parties::write_setting(*m_db, "pending_registration", registration.to_json().dump());
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  auto answer = center.call("register_shop", {{"registration", registration.to_json()}});
  if (!answer) {
    if (!outcome_unknown(answer.error())) {
      (void)m_db->transact(
          [](store::Transaction& tx) { return parties::erase_setting(tx, "pending_registration"); });
    }
    return std::unexpected(answer.error());
  }
  const auto& dir = m_device.directory();
  auto answered = protocol::read_endorsed<protocol::ShopRegistered, protocol::ShopRegisteredCenter>(
      *answer, "registered", dir.bank.verify_key(), "center", dir.center.verify_key(),
      registration.body.request_id);
  if (!answered) return std::unexpected(answered.error());
  const auto& registered = answered->statement;
  if (registered.body.registration != registration.digest()) {
    return fail(ErrorCode::bad_signature, "the answer is for another registration");
  }
  // S107: the shop ID.
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    if (auto ok = parties::set_setting(tx, "shop_id", registered.body.shop_id.to_string()); !ok) {
      return ok;
    }
    return parties::erase_setting(tx, "pending_registration");
  });
  if (!saved) return std::unexpected(saved.error());
  m_shop_id = registered.body.shop_id;
  return *m_shop_id;
}

namespace {
// A request saved under key (in tx) before it was sent and not yet answered, if any.
template <class T>
Result<std::optional<Signed<T>>> pending_in(store::Transaction& tx, const char* key) {
  auto text = parties::get_setting(tx, key);
  if (!text) return std::unexpected(text.error());
  if (!*text || (*text)->empty()) return std::optional<Signed<T>>();
  auto parsed = Signed<T>::from_json(Json::parse(**text));
  if (!parsed) return std::unexpected(parsed.error());
  return std::optional<Signed<T>>(std::move(*parsed));
}
}  // namespace

template <class T>
Result<std::optional<Signed<T>>> Shop::pending_request(const char* key) {
  Result<std::optional<Signed<T>>> found = std::optional<Signed<T>>();
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    found = pending_in<T>(tx, key);
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return found;
}

Result<Json> Shop::create_order(const Amount& amount, const std::string& item,
                                UnixSeconds lifetime, const std::string& reference,
                                std::optional<Id128> order_id) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (!m_shop_id) return fail(ErrorCode::invalid_argument, "register the shop first");
  if (auto ok = check_currency(amount); !ok) return std::unexpected(ok.error());
  if (!amount.is_positive()) return fail(ErrorCode::invalid_argument, "amount must be positive");
  if (item.empty() || item.size() > 500) {
    return fail(ErrorCode::invalid_argument, "item must be 1 to 500 characters");
  }
  if (reference.size() > 200) return fail(ErrorCode::invalid_argument, "a reference is at most 200 characters");
  if (lifetime < kMinOrderLifetime || lifetime > kMaxOrderLifetime) {
    return fail(ErrorCode::invalid_argument,
                "an order lives 1 second to 7 days, not " + std::to_string(lifetime) + " seconds");
  }
  const auto now = m_clock.now();
  const auto id = order_id.value_or(Id128::random(m_random));
  UnixSeconds expires = now + lifetime;
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    expires = now + lifetime;
    auto n = tx.exec(
        "INSERT OR IGNORE INTO orders (order_id, amount, item, expires, state, created, reference) "
        "VALUES (?, ?, ?, ?, 'open', ?, ?)",
        {id.to_string(), amount.to_string(), item, expires, now,
         reference.empty() ? store::Value() : store::Value(reference)});
    if (!n) return std::unexpected(n.error());
    if (*n == 1) return {};
    // Made before under this ID (its key asked again after its answer was lost or pruned): the
    // same order, or a refusal when this one differs.
    auto row = tx.query_one("SELECT amount, item, COALESCE(reference, ''), expires FROM orders WHERE order_id = ?",
                            {id.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::internal, "an order neither made nor found");
    if (*store::text_at(**row, 0) != amount.to_string() || *store::text_at(**row, 1) != item ||
        *store::text_at(**row, 2) != reference) {
      return fail(ErrorCode::replayed, "order " + id.to_string() + " was made before with another amount, item or reference");
    }
    expires = *store::int_at(**row, 3);
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  const auto request = protocol::sign(
      m_keys.signing, protocol::PaymentRequest{.order_id = id, .amount = amount, .item = item, .expires = expires});
  return Json{{"request", request.to_json()}, {"shop_certificate", m_device.certificate()->to_pem()}};
}

Result<Json> Shop::handle(const protocol::Caller& caller, std::string_view route,
                          const Json& body) {
  return parties::guarded([&]() -> Result<Json> {
    if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
    if (route != "pay") return fail(ErrorCode::not_found, "the shop has no route " + std::string(route));
    auto wallet = parties::require_caller(caller, m_device.trust(), {pki::Role::wallet}, m_clock.now());
    if (!wallet) return std::unexpected(wallet.error());
    return take_payment(*wallet, body);
  });
}

// S154: check the wallet's order and open the article; S156: vouch for it and send it to the
// center with the shop ID sealed to the center; S164-S165: check the answer and countersign.
Result<Json> Shop::take_payment(const pki::Certificate& wallet, const Json& body) {
  if (!m_center || !m_shop_id) return fail(ErrorCode::unavailable, "the shop is not connected");
  auto order = protocol::read_verified<protocol::PaymentOrder>(body, "order", wallet.verify_key());
  if (!order) return std::unexpected(order.error());
  const auto& o = order->body;
  if (o.shop != m_device.certificate()->subject()) return fail(ErrorCode::bad_signature, "order is for another shop");

  auto article_plain = m_keys.sealing.open(o.sealed_article);
  if (!article_plain) return std::unexpected(article_plain.error());
  const Json article = protocol::parse_limited(as_text(*article_plain));
  protocol::FieldReader ar(article, "article");
  const auto article_order = ar.id("order_id");
  const auto article_item = ar.text("item");
  if (auto ok = ar.status(); !ok) return std::unexpected(ok.error());

  const auto now = m_clock.now();
  // The order is checked here, the center called with nothing held, and the answer recorded in
  // one commit with the order checked again: the bank takes one payment per order, so two
  // requests paying one order at once cannot both succeed. A request the center may have
  // answered before (the shop lost the answer: a crash, a time-out) can come back after the
  // order expired or the request went stale; it is then passed on to be finished only if it
  // was begun (the bank paid it), never begun anew.
  const auto check_order = [&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT amount, item, state, request_id FROM orders WHERE order_id = ?",
                            {o.order_id.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "no order " + o.order_id.to_string());
    const auto state = *store::text_at(**row, 2);
    const auto paid_by = store::text_at(**row, 3);
    if (state == "paid" && !(paid_by && *paid_by == o.request_id.to_string())) {
      return fail(ErrorCode::conflict, "order already paid");
    }
    if (*store::text_at(**row, 0) != o.amount.to_string()) {
      return fail(ErrorCode::invalid_argument, "the order is for " + *store::text_at(**row, 0));
    }
    if (article_order != o.order_id || article_item != *store::text_at(**row, 1)) {
      return fail(ErrorCode::invalid_argument, "the sealed article is not this order's");
    }
    return {};
  };
  bool expired = false;
  std::optional<Json> seen;
  const auto digest = parties::body_digest(body);
  auto checked = m_db->read([&](store::Transaction& tx) -> Status {
    // A retry gets its first answer.
    auto stored = store::find_answer(tx, o.request_id.to_string(), "pay", digest);
    if (!stored) return std::unexpected(stored.error());
    if (*stored) {
      seen = Json::parse(**stored, nullptr, false);
      return {};
    }
    if (auto ok = check_order(tx); !ok) return ok;
    auto row = tx.query_one("SELECT expires FROM orders WHERE order_id = ?", {o.order_id.to_string()});
    if (!row) return std::unexpected(row.error());
    expired = *store::int_at(**row, 0) < now;
    return {};
  });
  if (!checked) return std::unexpected(checked.error());
  if (seen) return *seen;
  const bool late = expired || !protocol::check_fresh(o.timestamp, now);

  const auto& dir = m_device.directory();
  const auto shop_part = protocol::sign(
      m_keys.signing,
      protocol::PaymentShop{
          .request_id = o.request_id,
          .order = order->digest(),
          .sealed_shop_id = crypto::seal(dir.center.sealing_key(), as_bytes(m_shop_id->to_string()))});
  Json to_center = {{"wallet_certificate", wallet.to_pem()},
                    {"order", order->to_json()},
                    {"shop", shop_part.to_json()}};
  if (late) to_center["finish_only"] = true;
  // While the center is asked, the order shows as paying (its checkout page, the merchant API).
  auto answer = [&] {
    const auto paying = m_paying.hold(o.order_id.to_string(), false);
    return m_center->call("pay", to_center);
  }();
  if (!answer) {
    if (late && answer.error().code == ErrorCode::stale) {
      return fail(ErrorCode::stale, expired ? "the order has expired" : answer.error().message);
    }
    return std::unexpected(answer.error());
  }
  // An answer that does not verify leaves the outcome unknown: nothing is remembered here, and
  // the wallet's retry fetches the center's stored answer again.
  const auto bad_answer = [](const std::string& why) {
    return fail(ErrorCode::unavailable, "the center's answer did not verify, retry: " + why);
  };
  auto answered =
      protocol::read_endorsed<protocol::PaymentReceiptBank, protocol::PaymentReceiptCenter>(
          *answer, "receipt", dir.bank.verify_key(), "center", dir.center.verify_key(),
          o.request_id);
  if (!answered) return bad_answer(answered.error().to_string());
  const auto& receipt = answered->statement;
  const auto& center = answered->endorsement;
  if (receipt.body.order != order->digest() || receipt.body.amount != o.amount) {
    return bad_answer("the bank's receipt is for another payment");
  }
  const auto shop_endorsement = protocol::endorse<crypto::Purpose::payment_receipt_shop>(
      m_keys.signing, o.request_id, {receipt.digest(), center.digest()});
  const Json out = {{"receipt", receipt.to_json()},
                    {"center", center.to_json()},
                    {"shop", shop_endorsement.to_json()}};
  // The receipt is kept once, as this request's answer (found by the order's request ID).
  return parties::answer_once(*m_db, "pay", o.request_id, digest, now,
                              [&](store::Transaction& tx) -> Result<Json> {
    if (auto ok = check_order(tx); !ok) return std::unexpected(ok.error());
    auto n =
        tx.exec("UPDATE orders SET state = 'paid', request_id = ?, paid_at = ? WHERE order_id = ?",
                {o.request_id.to_string(), now, o.order_id.to_string()});
    if (!n) return std::unexpected(n.error());
    if (auto ok = queue_event(tx, m_random,
                              {{"type", "order.paid"}, {"order_id", o.order_id.to_string()},
                               {"amount", o.amount.to_string()}},
                              now);
        !ok) {
      return std::unexpected(ok.error());
    }
    return out;
  });
}

Status Shop::send_pending_refunds(protocol::Channel& center) {
  std::vector<std::pair<Id128, Id128>> pending;  // the refund's ID, its order's
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    pending.clear();
    auto rows = tx.query("SELECT request_id, order_id FROM refunds WHERE state = 'pending' ORDER BY created");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto id = Id128::parse(*store::text_at(row, 0));
      auto order = Id128::parse(*store::text_at(row, 1));
      if (!id || !order) return fail(ErrorCode::internal, "a pending refund's IDs are damaged");
      pending.emplace_back(*id, *order);
    }
    return {};
  });
  if (!read) return read;
  for (const auto& [id, order] : pending) {
    auto sent = refund(center, order, std::nullopt, "", id);
    // Refused: forgotten (nothing moved). Still unknown: what the bank holds is unknown too.
    if (!sent && outcome_unknown(sent.error())) return std::unexpected(sent.error());
  }
  return {};
}

namespace {
// Forgets the payout left without an answer only while it is still this request (by its ID):
// another process (the till beside the CLI) may have saved its own since.
Status forget_pending_payout(store::Transaction& tx, const Id128& request_id) {
  auto saved = pending_in<protocol::PayoutRequest>(tx, "pending_payout");
  if (saved && *saved && (*saved)->body.request_id != request_id) return {};
  return parties::erase_setting(tx, "pending_payout");
}
}  // namespace

Result<Shop::Payout> Shop::payout(protocol::Channel& center, std::optional<Id128> request_id) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  std::unique_lock one_at_a_time(m_payout_mutex, std::try_to_lock);
  if (!one_at_a_time.owns_lock()) return fail(ErrorCode::conflict, "a payout is under way: ask again when it has answered");
  // Refunds left without an answer first: the payout's books count what they gave back.
  if (auto ok = send_pending_refunds(center); !ok) return std::unexpected(ok.error());
  // The payout left without an answer is finished first, under its own ID; then the one asked for:
  // the one made under request_id before, else a new one. Found or written in one transaction
  // (another process may pay out too).
  for (int rounds = 0;;) {
    std::optional<Signed<protocol::PayoutRequest>> request;
    std::optional<Payout> made;
    bool left_over = false;  // the pending request is another call's
    auto found = m_db->transact([&](store::Transaction& tx) -> Status {
      request.reset();
      made.reset();
      left_over = false;
      auto pending = pending_in<protocol::PayoutRequest>(tx, "pending_payout");
      if (!pending) return std::unexpected(pending.error());
      if (*pending) {
        request = std::move(**pending);
        left_over = request_id && request->body.request_id != *request_id;
        return {};
      }
      if (request_id) {
        auto row = tx.query_one("SELECT amount, paid, reference FROM payouts WHERE request_id = ?", {request_id->to_string()});
        if (!row) return std::unexpected(row.error());
        if (*row) {
          auto amount = Amount::parse(*store::text_at(**row, 0));
          if (!amount) return std::unexpected(amount.error());
          made = Payout{*amount, *store::int_at(**row, 1) != 0, *store::text_at(**row, 2)};
          return {};
        }
      }
      request = protocol::sign(m_keys.signing,
                               protocol::PayoutRequest{.request_id = request_id.value_or(Id128::random(m_random)),
                                                       .timestamp = m_clock.now()});
      return parties::set_setting(tx, "pending_payout", request->to_json().dump());
    });
    if (!found) return std::unexpected(found.error());
    if (made) return *made;
    auto sent = send_payout(center, *request);
    if (!left_over) return sent;
    // Another call's, left without an answer: while its outcome is unknown, so is this one's
    // (nothing of it was sent); finished or refused, on to the one asked for. Its refusal is
    // never this call's answer.
    if (!sent && outcome_unknown(sent.error())) {
      return fail(ErrorCode::unavailable, "an earlier payout's outcome is still unknown: ask again (" + sent.error().message + ")");
    }
    if (++rounds == 3) return fail(ErrorCode::conflict, "other payouts keep coming first: ask again");
  }
}

Result<Shop::Payout> Shop::send_payout(protocol::Channel& center, const Signed<protocol::PayoutRequest>& request) {
  const auto& id = request.body.request_id;
  auto answer = center.call("payout", {{"payout_request", request.to_json()}});
  if (!answer) {
    // Refused: nothing happened, the next payout is a new request. Out of reach: send it again.
    if (!outcome_unknown(answer.error())) {
      (void)m_db->transact([&](store::Transaction& tx) { return forget_pending_payout(tx, id); });
    }
    return std::unexpected(answer.error());
  }
  const auto& dir = m_device.directory();
  auto answered = protocol::read_endorsed<protocol::PayoutResult, protocol::PayoutReceipt>(
      *answer, "result", dir.clearing.verify_key(), "center", dir.center.verify_key(),
      request.body.request_id);
  if (!answered) return std::unexpected(answered.error());
  const auto& result = answered->statement;
  if (result.body.request_id != request.body.request_id) {
    return fail(ErrorCode::bad_signature, "the result is for another payout");
  }
  const auto& r = result.body;
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec(
        "INSERT OR IGNORE INTO payouts (request_id, amount, paid, reference, receipt, at) VALUES (?, ?, ?, ?, ?, ?)",
        {r.request_id.to_string(), r.amount.to_string(), std::int64_t{r.paid ? 1 : 0}, r.reference,
         answer->dump(), m_clock.now()});
    if (!n) return std::unexpected(n.error());
    if (*n == 1 && r.paid) {  // 0: recorded already (by another process that sent it too)
      if (auto ok = mark_paid_out(tx, r.request_id, r.amount); !ok) return ok;
    }
    return forget_pending_payout(tx, id);
  });
  if (!saved) return std::unexpected(saved.error());
  return Payout{r.amount, r.paid, r.reference};
}

// The bank pays out every sale it holds for the shop: the paid orders not yet covered, those paid
// earliest first, up to the payout's amount. (An order the bank took before the payout and the
// shop recorded only after its answer stays "paid": the totals, from the payouts, stay exact.)
Status Shop::mark_paid_out(store::Transaction& tx, const Id128& payout, const Amount& amount) {
  auto rows = tx.query(
      "SELECT order_id, amount FROM orders WHERE state = 'paid' AND payout_id IS NULL "
      "ORDER BY paid_at, rowid");
  if (!rows) return std::unexpected(rows.error());
  std::int64_t left = amount.minor();
  for (const auto& row : *rows) {
    if (left == 0) break;
    auto sold = Amount::parse(*store::text_at(row, 1));
    if (!sold) return std::unexpected(sold.error());
    if (sold->currency() != amount.currency()) continue;
    // What the bank still held of the order: its price less what was given back.
    auto refunds = refund_totals(tx, *store::text_at(row, 0), amount.currency());
    if (!refunds) return std::unexpected(refunds.error());
    auto kept = sold->sub(refunds->refunded);
    if (!kept) return std::unexpected(kept.error());
    sold = *kept;
    if (!sold->is_positive() || sold->minor() > left) continue;
    auto n = tx.exec("UPDATE orders SET payout_id = ? WHERE order_id = ?",
                     {payout.to_string(), *store::text_at(row, 0)});
    if (!n) return std::unexpected(n.error());
    left -= sold->minor();
  }
  return {};
}

Result<Shop::Refund> Shop::refund(protocol::Channel& center, const Id128& order_id,
                                  std::optional<Amount> amount, const std::string& reason,
                                  std::optional<Id128> request_id) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  const auto currency = this->currency();
  if (!currency) return fail(ErrorCode::invalid_argument, "the shop is not connected: run `ecash shop init`");
  const auto now = m_clock.now();
  // A refund of this order sent before and not answered goes again, under its own ID; otherwise
  // a new one, of the rest of what was paid unless less is asked.
  std::optional<Signed<protocol::RefundRequest>> request;
  std::optional<Json> stored;
  bool resent = false;
  auto made = m_db->transact([&](store::Transaction& tx) -> Status {
    request.reset();
    stored.reset();
    // A refund asked under this ID before: its answer, or sent again.
    if (request_id) {
      auto kept = tx.query_one("SELECT request, answer FROM refunds WHERE request_id = ?", {request_id->to_string()});
      if (!kept) return std::unexpected(kept.error());
      if (*kept) {
        auto parsed = Signed<protocol::RefundRequest>::from_json(Json::parse(*store::text_at(**kept, 0)));
        if (!parsed) return std::unexpected(parsed.error());
        if (parsed->body.order_id != order_id) {
          return fail(ErrorCode::replayed, "refund " + request_id->to_string() + " is of another order");
        }
        request = std::move(*parsed);
        resent = true;
        if (!store::is_null_at(**kept, 1)) stored = Json::parse(*store::text_at(**kept, 1));
        return {};
      }
    }
    auto pending = tx.query_one("SELECT request FROM refunds WHERE order_id = ? AND state = 'pending'",
                                {order_id.to_string()});
    if (!pending) return std::unexpected(pending.error());
    if (*pending && request_id) {
      return fail(ErrorCode::conflict, "another refund of order " + order_id.to_string() +
                                           " waits for its answer: send that one again first");
    }
    if (*pending) {
      auto parsed = Signed<protocol::RefundRequest>::from_json(Json::parse(*store::text_at(**pending, 0)));
      if (!parsed) return std::unexpected(parsed.error());
      request = std::move(*parsed);
      resent = true;
      return {};
    }
    auto row = tx.query_one("SELECT amount, state, request_id FROM orders WHERE order_id = ?",
                            {order_id.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "no order " + order_id.to_string());
    if (*store::text_at(**row, 1) != "paid") {
      return fail(ErrorCode::invalid_argument, "order " + order_id.to_string() + " is not paid");
    }
    auto paid = Amount::parse(*store::text_at(**row, 0));
    if (!paid) return std::unexpected(paid.error());
    auto payment = Id128::parse(*store::text_at(**row, 2));
    if (!payment) return std::unexpected(payment.error());
    auto totals = refund_totals(tx, order_id.to_string(), *currency);
    if (!totals) return std::unexpected(totals.error());
    auto rest = paid->sub(totals->refunded);
    if (!rest) return std::unexpected(rest.error());
    if (!rest->is_positive()) {
      return fail(ErrorCode::invalid_argument, "order " + order_id.to_string() + " is refunded in full (" +
                                                   paid->to_string() + ")");
    }
    const Amount asked = amount.value_or(*rest);
    if (asked.currency() != *currency) {
      return fail(ErrorCode::currency_mismatch, "the shop sells in " + std::string(currency->code()));
    }
    if (!asked.is_positive()) return fail(ErrorCode::invalid_argument, "a refund must be positive");
    if (*asked.compare(*rest) == std::strong_ordering::greater) {
      return fail(ErrorCode::invalid_argument,
                  "order " + order_id.to_string() + " was paid " + paid->to_string() + ", of which " +
                      rest->to_string() + " is not refunded: a refund of " + asked.to_string() +
                      " would give back more than was paid");
    }
    request = protocol::sign(m_keys.signing, protocol::RefundRequest{.request_id = request_id.value_or(Id128::random(m_random)),
                                                                     .timestamp = now,
                                                                     .order_id = order_id,
                                                                     .payment = *payment,
                                                                     .amount = asked});
    auto n = tx.exec(
        "INSERT INTO refunds (request_id, order_id, amount, reason, state, request, created) "
        "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        {request->body.request_id.to_string(), order_id.to_string(), asked.to_string(), reason,
         request->to_json().dump(), now});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!made) return std::unexpected(made.error());
  const auto id = request->body.request_id.to_string();
  auto answer = stored ? Result<Json>(*stored) : center.call("refund", {{"refund", request->to_json()}});
  if (!answer) {
    // Refused: nothing moved, and this request is over (forgotten, as if never asked). Out of
    // reach: it is sent again next time.
    if (!outcome_unknown(answer.error())) {
      (void)m_db->transact([&](store::Transaction& tx) -> Status {
        auto n = tx.exec("DELETE FROM refunds WHERE request_id = ?", {id});
        if (!n) return std::unexpected(n.error());
        return {};
      });
    }
    return std::unexpected(answer.error());
  }
  const auto& dir = m_device.directory();
  auto answered = protocol::read_endorsed<protocol::RefundReceipt, protocol::RefundReceiptCenter>(
      *answer, "receipt", dir.bank.verify_key(), "center", dir.center.verify_key(), request->body.request_id);
  // An answer that does not verify leaves the outcome unknown: the refund stays pending, and is
  // sent again.
  if (!answered) {
    return fail(ErrorCode::unavailable, "the center's answer did not verify, retry: " + answered.error().to_string());
  }
  const auto& receipt = answered->statement.body;
  if (receipt.refund_request != request->digest() || receipt.order_id != order_id ||
      receipt.amount != request->body.amount) {
    return fail(ErrorCode::unavailable, "the bank's receipt is for another refund, retry");
  }
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec("UPDATE refunds SET state = 'refunded', answer = ?, finished = ? WHERE request_id = ? AND state = 'pending'",
                     {answer->dump(), m_clock.now(), id});
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return {};  // told when it was first answered
    return queue_event(tx, m_random,
                       {{"type", "order.refunded"}, {"order_id", order_id.to_string()}, {"refund_id", id},
                        {"amount", receipt.amount.to_string()}, {"refunded", receipt.refunded.to_string()}},
                       m_clock.now());
  });
  if (!saved) return std::unexpected(saved.error());
  return Refund{request->body.request_id, order_id, receipt.amount, receipt.refunded, resent};
}

namespace {

std::string token_hash(const std::string& token) {
  return crypto::hex_encode(crypto::blake2b_256(as_bytes("ecash shop api token " + token)));
}

}  // namespace

Result<std::string> Shop::new_api_token() {
  const std::string token = "ecash_shop_" + crypto::base64url_encode(crypto::random_bytes(32));
  if (auto ok = set_setting("api_token_hash", token_hash(token)); !ok) return std::unexpected(ok.error());
  return token;
}

Status Shop::check_api_token(const std::string& token) {
  auto kept = setting("api_token_hash");
  if (!kept) return std::unexpected(kept.error());
  const auto given = token_hash(token);
  if (!*kept || token.empty() || !crypto::equal_constant_time(as_bytes(**kept), as_bytes(given))) {
    return fail(ErrorCode::unauthorized, "send the shop's API token: Authorization: Bearer TOKEN");
  }
  return {};
}

std::optional<Shop::HeldKeys::Hold> Shop::HeldKeys::hold(const std::string& key, bool only_one) {
  const std::lock_guard lock(m_mutex);
  auto& count = m_count[key];
  if (only_one && count > 0) return std::nullopt;
  ++count;
  return std::optional<Hold>(std::in_place, *this, key);
}

bool Shop::HeldKeys::held(const std::string& key) const {
  const std::lock_guard lock(m_mutex);
  return m_count.contains(key);
}

void Shop::HeldKeys::give_back(const std::string& key) {
  const std::lock_guard lock(m_mutex);
  if (auto it = m_count.find(key); it != m_count.end() && --it->second == 0) m_count.erase(it);
}

Result<Json> Shop::once_per_key(const std::string& key, std::string_view route, const Json& body,
                                const std::function<Result<Json>()>& work) {
  if (key.empty() || key.size() > 200) {
    return fail(ErrorCode::invalid_argument, "idempotency_key: 1 to 200 characters, one per call that creates something");
  }
  const auto digest = crypto::hex_encode(parties::body_digest(body));
  // One call per key at a time: a second one waits for nothing and is told to ask again (the
  // till is the only process that answers the API, so this holds for every caller).
  const auto working = m_keys_working.hold(key, true);
  if (!working) {
    return fail(ErrorCode::conflict, "a call with idempotency key " + key + " is under way: ask again when it has answered");
  }
  std::optional<Json> kept;
  auto found = m_db->read([&](store::Transaction& tx) -> Status {
    kept.reset();
    auto row = tx.query_one("SELECT route, digest, answer FROM api_requests WHERE idempotency_key = ?", {key});
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    if (*store::text_at(**row, 0) != route || *store::text_at(**row, 1) != digest) {
      return fail(ErrorCode::replayed, "idempotency key " + key + " was used for another call");
    }
    kept = Json::parse(*store::text_at(**row, 2));
    return {};
  });
  if (!found) return std::unexpected(found.error());
  // A refusal kept is {"error": {"code", "message"}}; an answer made is never such an object.
  const auto answer_of = [](const Json& j) -> Result<Json> {
    if (j.is_object() && j.size() == 1 && j.contains("error") && j["error"].is_object()) {
      return fail(error_code_from_string(j["error"].value("code", "internal")), j["error"].value("message", ""));
    }
    return j;
  };
  if (kept) return answer_of(*kept);
  auto answer = work();
  if (!answer) {
    const auto code = answer.error().code;
    if (outcome_unknown(answer.error()) || code == ErrorCode::conflict || code == ErrorCode::rate_limited) return answer;
  }
  const Json stored = answer ? *answer
                             : Json{{"error", {{"code", std::string(to_string(answer.error().code))},
                                               {"message", answer.error().message}}}};
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec("INSERT OR IGNORE INTO api_requests (idempotency_key, route, digest, answer, created) "
                     "VALUES (?, ?, ?, ?, ?)",
                     {key, std::string(route), digest, stored.dump(), m_clock.now()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  // Made but not recorded: the call asked again makes nothing twice (its IDs follow from the key).
  if (!saved) return std::unexpected(saved.error());
  return answer;
}

Result<std::string> Shop::set_webhook(const std::string& url) {
  if (!url.empty()) {
    auto parsed = parse_http_url(url);
    if (!parsed) return std::unexpected(parsed.error());
    if (!parsed->tls && !parsed->loopback()) {
      return fail(ErrorCode::invalid_argument, "a webhook is https://, or http:// to this machine");
    }
  }
  const std::string secret = url.empty() ? "" : "whsec_" + crypto::base64url_encode(crypto::random_bytes(32));
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"webhook_url", url}, {"webhook_secret", secret}}) {
      if (auto ok = parties::set_setting(tx, key, value); !ok) return ok;
    }
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  return secret;
}

int Shop::deliver_webhooks(const WebhookPost& post, const std::function<bool()>& go_on) {
  const auto now = m_clock.now();
  std::string url, secret;
  std::vector<std::pair<std::string, std::string>> due;  // event ID, body
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    due.clear();
    for (auto [key, value] : {std::pair{"webhook_url", &url}, std::pair{"webhook_secret", &secret}}) {
      auto row = tx.query_one("SELECT value FROM settings WHERE key = ?", {std::string(key)});
      if (!row) return std::unexpected(row.error());
      *value = *row ? *store::text_at(**row, 0) : "";
    }
    auto rows = tx.query("SELECT event_id, body FROM webhook_events WHERE state = 'pending' AND next_attempt <= ? "
                         "ORDER BY next_attempt LIMIT 20",
                         {now});
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) due.emplace_back(*store::text_at(row, 0), *store::text_at(row, 1));
    return {};
  });
  if (!read || url.empty()) return 0;
  int delivered = 0;
  for (const auto& [id, body] : due) {
    if (go_on && !go_on()) break;
    // Signed over the time and the body: the receiver checks both, and refuses an old one.
    const auto stamp = std::to_string(m_clock.now());
    const auto mac = crypto::hex_encode(crypto::hmac_sha256(as_bytes(secret), as_bytes(stamp + "." + body)));
    auto status = post(url, body, {{"Ecash-Signature", "t=" + stamp + ",v1=" + mac}, {"Ecash-Event-Id", id}});
    const bool ok = status && *status >= 200 && *status < 300;
    (void)m_db->transact([&](store::Transaction& tx) -> Status {
      if (ok) {
        auto n = tx.exec("UPDATE webhook_events SET state = 'delivered', attempts = attempts + 1 WHERE event_id = ?", {id});
        if (!n) return std::unexpected(n.error());
        return {};
      }
      auto row = tx.query_one("SELECT attempts, created FROM webhook_events WHERE event_id = ?", {id});
      if (!row) return std::unexpected(row.error());
      if (!*row) return {};
      const auto attempts = *store::int_at(**row, 0) + 1;
      const auto wait = std::min<UnixSeconds>(kWebhookMaxWait, UnixSeconds{1} << std::min<std::int64_t>(attempts - 1, 12));
      const bool over = now + wait > *store::int_at(**row, 1) + kWebhookLifetime;
      const std::string why = status ? "answered " + std::to_string(*status) : status.error().to_string();
      auto n = tx.exec("UPDATE webhook_events SET attempts = ?, next_attempt = ?, state = ?, last_error = ? WHERE event_id = ?",
                       {attempts, now + wait, std::string(over ? "failed" : "pending"), why, id});
      if (!n) return std::unexpected(n.error());
      return {};
    });
    delivered += ok ? 1 : 0;
  }
  return delivered;
}

Status Shop::prune(UnixSeconds now) {
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto keys = tx.exec("DELETE FROM api_requests WHERE created < ?", {now - 30 * 86'400});
    if (!keys) return std::unexpected(keys.error());
    auto events = tx.exec("DELETE FROM webhook_events WHERE state <> 'pending' AND created < ?", {now - 7 * 86'400});
    if (!events) return std::unexpected(events.error());
    return {};
  });
}

Result<CheckoutView> Shop::checkout(const Id128& order_id, const std::string& till) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  const auto currency = this->currency();
  if (!currency) return fail(ErrorCode::invalid_argument, "the shop is not connected: run `ecash shop init`");
  std::optional<CheckoutView> view;
  auto read = m_db->read([&](store::Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT amount, item, expires, state, reference FROM orders WHERE order_id = ?",
                            {order_id.to_string()});
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, "no order " + order_id.to_string());
    auto amount = Amount::parse(*store::text_at(**row, 0));
    if (!amount) return std::unexpected(amount.error());
    view = CheckoutView{.order_id = order_id.to_string(),
                        .amount = *amount,
                        .item = *store::text_at(**row, 1),
                        .expires = *store::int_at(**row, 2),
                        .state = "unpaid",
                        .payment_uri = {},
                        .refunded = Amount::zero(*currency),
                        .reference = store::is_null_at(**row, 4) ? "" : *store::text_at(**row, 4)};
    if (*store::text_at(**row, 3) == "paid") {
      auto refunds = refund_totals(tx, order_id.to_string(), *currency);
      if (!refunds) return std::unexpected(refunds.error());
      view->refunded = refunds->refunded;
      view->state = !refunds->refunded.is_positive() ? "paid"
                    : refunds->refunded == *amount   ? "refunded"
                                                     : "partly refunded";
    } else {
      // A payment at the center now may still finish after the order's expiry: paying, not expired.
      if (m_paying.held(order_id.to_string())) {
        view->state = "paying";
      } else if (view->expires < m_clock.now()) {
        view->state = "expired";
      }
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  const auto request = protocol::sign(m_keys.signing, protocol::PaymentRequest{.order_id = order_id,
                                                                               .amount = view->amount,
                                                                               .item = view->item,
                                                                               .expires = view->expires});
  view->payment_uri = protocol::to_payment_uri(
      {.shop = till,
       .shop_home = {},
       .request = Json{{"request", request.to_json()}, {"shop_certificate", m_device.certificate()->to_pem()}}});
  return *view;
}

Result<Json> Shop::sales() {
  const auto currency = this->currency();
  if (!currency)
    return fail(ErrorCode::invalid_argument, "the shop is not connected: run `ecash shop init`");
  const auto now = m_clock.now();
  Json orders = Json::array();
  Amount paid = Amount::zero(*currency);
  Amount paid_out = paid;
  Amount open = paid;
  Amount refunded = paid;
  auto done = m_db->read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query(
        "SELECT order_id, amount, item, state, created, expires, payout_id FROM orders ORDER BY "
        "rowid");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto amount = Amount::parse(*store::text_at(row, 1));
      if (!amount) return std::unexpected(amount.error());
      const auto created = *store::int_at(row, 4);
      const auto expires = *store::int_at(row, 5);
      std::string state = *store::text_at(row, 3);
      const bool covered = !store::is_null_at(row, 6);
      Json order_refunded;
      if (state == "paid") {
        if (auto ok = add_to(paid, *amount); !ok) return ok;
        if (covered) state = "paid out";
        auto refunds = refund_totals(tx, *store::text_at(row, 0), *currency);
        if (!refunds) return std::unexpected(refunds.error());
        const auto& back = refunds->refunded;
        if (back.is_positive()) {
          if (auto ok = add_to(refunded, back); !ok) return ok;
          state = back == *amount ? "refunded" : "partly refunded";
          order_refunded = back.to_string();
        }
      } else if (state == "open" && expires < now) {
        state = "expired";
      } else if (state == "open") {
        if (auto ok = add_to(open, *amount); !ok) return ok;
      }
      Json order = {{"time", utc_time(created)},           {"time_unix", created},
                    {"order_id", *store::text_at(row, 0)}, {"amount", amount->to_string()},
                    {"item", *store::text_at(row, 2)},     {"state", state},
                    {"expires", utc_time(expires)},        {"expires_unix", expires}};
      if (covered) order["payout"] = *store::text_at(row, 6);
      if (!order_refunded.is_null()) order["refunded"] = order_refunded;
      orders.push_back(std::move(order));
    }
    auto payouts = tx.query("SELECT amount FROM payouts WHERE paid = 1");
    if (!payouts) return std::unexpected(payouts.error());
    for (const auto& row : *payouts) {
      auto amount = Amount::parse(*store::text_at(row, 0));
      if (!amount) return std::unexpected(amount.error());
      if (auto ok = add_to(paid_out, *amount); !ok) return ok;
    }
    return {};
  });
  if (!done) return std::unexpected(done.error());
  // What the bank holds for the shop: what was paid, less what went back, less what was paid out.
  auto kept = paid.sub(refunded);
  if (!kept) return std::unexpected(kept.error());
  auto to_pay_out = kept->sub(paid_out);
  if (!to_pay_out) return std::unexpected(to_pay_out.error());
  return Json{{"orders", orders},
              {"totals",
               {{"paid", paid.to_string()},
                {"refunded", refunded.to_string()},
                {"paid_out", paid_out.to_string()},
                {"to_pay_out", to_pay_out->to_string()},
                {"open", open.to_string()}}}};
}

Result<Json> Shop::payouts() {
  Json payouts = Json::array();
  auto done = m_db->read([&](store::Transaction& tx) -> Status {
    std::map<std::string, Json> covered;
    auto orders = tx.query(
        "SELECT payout_id, order_id FROM orders WHERE payout_id IS NOT NULL ORDER BY paid_at, "
        "rowid");
    if (!orders) return std::unexpected(orders.error());
    for (const auto& row : *orders) {
      auto& list = covered[*store::text_at(row, 0)];
      if (list.is_null()) list = Json::array();
      list.push_back(*store::text_at(row, 1));
    }
    auto rows =
        tx.query("SELECT request_id, amount, paid, reference, at FROM payouts ORDER BY at, rowid");
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      // A payout asked for with nothing to pay moved no money: not history.
      if (auto amount = Amount::parse(*store::text_at(row, 1)); amount && amount->is_zero()) continue;
      const auto id = *store::text_at(row, 0);
      const auto at = *store::int_at(row, 4);
      const auto it = covered.find(id);
      payouts.push_back({{"time", utc_time(at)},
                         {"time_unix", at},
                         {"request_id", id},
                         {"amount", *store::text_at(row, 1)},
                         {"paid", *store::int_at(row, 2) != 0},
                         {"reference", *store::text_at(row, 3)},
                         {"orders", it == covered.end() ? Json::array() : it->second}});
    }
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return Json{{"payouts", payouts}};
}

}  // namespace ecash::shop
