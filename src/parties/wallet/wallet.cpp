#include "parties/wallet/wallet.hpp"

#include <array>
#include <filesystem>

#include "base/account_number.hpp"
#include "crypto/encoding.hpp"
#include "protocol/statements.hpp"

namespace ecash::wallet {

using protocol::Json;
using protocol::Signed;

namespace {

constexpr std::array<store::Migration, 1> kMigrations = {{
    {1, "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE pending (request_id TEXT PRIMARY KEY, route TEXT NOT NULL, body TEXT NOT NULL, "
        "balance_before TEXT NOT NULL, shop_certificate TEXT NOT NULL, created INTEGER NOT NULL);"
        "CREATE TABLE history (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, "
        "request_id TEXT NOT NULL, amount TEXT NOT NULL, balance TEXT NOT NULL, detail TEXT NOT NULL);"},
}};

Status record_history(store::Transaction& tx, UnixSeconds at, const std::string& kind,
                      const Id128& request_id, const Amount& amount, const Amount& balance,
                      const std::string& detail) {
  auto n = tx.exec(
      "INSERT INTO history (at, kind, request_id, amount, balance, detail) VALUES (?, ?, ?, ?, ?, ?)",
      {at, kind, request_id.to_string(), amount.to_string(), balance.to_string(), detail});
  if (!n) return std::unexpected(n.error());
  return {};
}

}  // namespace

Wallet::Wallet(std::string home, crypto::PartyKeys keys, std::unique_ptr<store::Database> db,
               const Clock& clock, RandomSource& random)
    : m_home(std::move(home)), m_keys(std::move(keys)), m_db(std::move(db)), m_clock(clock),
      m_random(random) {}

Result<std::unique_ptr<Wallet>> Wallet::open(const std::string& home, const Clock& clock,
                                             RandomSource& random) {
  std::filesystem::create_directories(home);
  auto keys = parties::load_or_create_keys(home + "/wallet.keys");
  if (!keys) return std::unexpected(keys.error());
  auto db = store::open_sqlite(home + "/wallet.db", kMigrations);
  if (!db) return std::unexpected(db.error());
  auto wallet = std::make_unique<Wallet>(home, std::move(*keys), std::move(*db), clock, random);
  if (auto ok = wallet->load(); !ok) return std::unexpected(ok.error());
  return wallet;
}

Status Wallet::load() {
  if (auto ok = m_device.load(*m_db); !ok) return ok;
  auto user = parties::read_setting(*m_db, "user_id");
  if (!user) return std::unexpected(user.error());
  if (*user) {
    auto parsed = Id128::parse(**user);
    if (!parsed) return fail(ErrorCode::malformed, "damaged user ID");
    m_user_id = *parsed;
  }
  return {};
}

Status Wallet::enrol(protocol::Channel& ca, const std::string& name, const std::string& address,
                     const std::string& card_number) {
  if (auto ok = check_card_number(card_number); !ok) return ok;
  return m_device.enrol(*m_db, ca, m_keys, pki::Role::wallet, name, address, card_number, m_clock,
                        m_random);
}

Status Wallet::connect(protocol::Channel& center) {
  if (auto ok = m_device.connect(*m_db, center, m_clock); !ok) return ok;
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

Result<Amount> Wallet::opened_balance(const Bytes& sealed) {
  auto plain = m_keys.sealing.open(sealed);
  if (!plain) return std::unexpected(plain.error());
  return Amount::parse(as_text(*plain));
}

Status Wallet::save_pending(const Id128& request_id, const std::string& route, const Json& body,
                            const Amount& balance_before, const std::string& shop_pem) {
  return m_db->transact([&](store::Transaction& tx) -> Status {
    auto n = tx.exec(
        "INSERT INTO pending (request_id, route, body, balance_before, shop_certificate, created) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        {request_id.to_string(), route, body.dump(), balance_before.to_string(), shop_pem,
         m_clock.now()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
}

Result<Amount> Wallet::deposit(protocol::Channel& center, const Amount& amount) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (amount.currency() != m_device.view().currency) {
    return fail(ErrorCode::currency_mismatch,
                "this operator works in " + std::string(m_device.view().currency.code()));
  }
  if (!amount.is_positive()) return fail(ErrorCode::invalid_argument, "a deposit must be positive");
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
    if (answer.error().code != ErrorCode::unavailable) {
      (void)m_db->transact([&](store::Transaction& tx) -> Status {
        auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {order.request_id.to_string()});
        if (!n) return std::unexpected(n.error());
        return {};
      });
    }
    return std::unexpected(answer.error());
  }
  return finish_deposit(body, *answer);
}

// S29/S88: check the bank's receipt and the center's countersignature, then store the user ID
// and the balance the bank sealed to this wallet.
Result<Amount> Wallet::finish_deposit(const Json& body, const Json& answer) {
  auto order = protocol::read_signed<protocol::DepositOrder>(body, "order");
  if (!order) return std::unexpected(order.error());
  auto receipt = protocol::read_signed<protocol::DepositReceipt>(answer, "receipt");
  auto center = protocol::read_signed<protocol::DepositReceiptCenter>(answer, "center");
  if (!receipt) return std::unexpected(receipt.error());
  if (!center) return std::unexpected(center.error());
  const auto& dir = m_device.directory();
  if (auto ok = receipt->verify(dir.bank.verify_key()); !ok) return std::unexpected(ok.error());
  if (auto ok = protocol::check_endorsement(*center, dir.center.verify_key(),
                                            order->body.request_id, {receipt->digest()});
      !ok) {
    return std::unexpected(ok.error());
  }
  if (receipt->body.order != order->digest() || receipt->body.amount != order->body.amount) {
    return fail(ErrorCode::bad_signature, "the receipt is for another deposit");
  }
  if (m_user_id && receipt->body.user_id != *m_user_id) {
    return fail(ErrorCode::bad_signature, "the receipt is for another user");
  }
  auto new_balance = opened_balance(receipt->body.sealed_balance);
  if (!new_balance) return std::unexpected(new_balance.error());
  const auto& o = order->body;
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    if (auto ok = parties::set_setting(tx, "user_id", receipt->body.user_id.to_string()); !ok) return ok;
    if (auto ok = parties::set_setting(tx, "balance", new_balance->to_string()); !ok) return ok;
    if (auto ok = record_history(tx, m_clock.now(), "deposit", o.request_id, o.amount,
                                 *new_balance, "from card");
        !ok) {
      return ok;
    }
    auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {o.request_id.to_string()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  m_user_id = receipt->body.user_id;
  return *new_balance;
}

Result<Wallet::Payment> Wallet::pay(protocol::Channel& shop, const Json& payment_request,
                                    protocol::Channel* top_up) {
  if (auto ok = m_device.ready(); !ok) return std::unexpected(ok.error());
  if (!m_user_id) return fail(ErrorCode::unknown_user, "deposit once before paying");
  const auto now = m_clock.now();
  auto shop_cert = parties::read_certificate(payment_request, "shop_certificate", m_device.trust(),
                                             {pki::Role::shop}, now);
  if (!shop_cert) return std::unexpected(shop_cert.error());
  auto request = protocol::read_signed<protocol::PaymentRequest>(payment_request, "request");
  if (!request) return std::unexpected(request.error());
  if (auto ok = request->verify(shop_cert->verify_key()); !ok) return std::unexpected(ok.error());
  const auto& req = request->body;
  if (req.expires < now) return fail(ErrorCode::stale, "the payment request has expired");
  if (req.amount.currency() != m_device.view().currency) {
    return fail(ErrorCode::currency_mismatch, "the shop asks for " + req.amount.to_string());
  }
  if (!req.amount.is_positive()) return fail(ErrorCode::invalid_argument, "amount must be positive");

  // S151: enough balance, or top up the difference first.
  auto current = balance();
  if (!current) return std::unexpected(current.error());
  std::optional<Amount> topped_up;
  if (current->minor() < req.amount.minor()) {
    const auto shortfall = req.amount.sub(*current).value();
    if (top_up == nullptr) {
      return fail(ErrorCode::insufficient_funds, "balance " + current->to_string() +
                                                     " is short of " + req.amount.to_string() +
                                                     " by " + shortfall.to_string());
    }
    auto deposited = deposit(*top_up, shortfall);
    if (!deposited) return std::unexpected(deposited.error());
    current = *deposited;
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
      .sealed_transfers = crypto::seal(dir.bank.sealing_key(), as_bytes("[]"))};
  const Json body = {{"order", protocol::sign(m_keys.signing, order).to_json()}};
  if (auto ok = save_pending(order.request_id, "pay", body, *current, shop_cert->to_pem()); !ok) {
    return std::unexpected(ok.error());
  }
  auto answer = shop.call("pay", body);
  if (!answer) {
    if (answer.error().code != ErrorCode::unavailable) {
      (void)m_db->transact([&](store::Transaction& tx) -> Status {
        auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {order.request_id.to_string()});
        if (!n) return std::unexpected(n.error());
        return {};
      });
    }
    return std::unexpected(answer.error());
  }
  auto payment = finish_payment(body, *answer, *current, *shop_cert);
  if (payment) {
    payment->topped_up = topped_up;
    payment->item = req.item;
  }
  return payment;
}

// S166: check the bank's, the center's and the shop's signatures, and that the new balance is
// the old one less the purchase plus the uncleared amount.
Result<Wallet::Payment> Wallet::finish_payment(const Json& body, const Json& answer,
                                               const Amount& balance_before,
                                               const pki::Certificate& shop) {
  auto order = protocol::read_signed<protocol::PaymentOrder>(body, "order");
  if (!order) return std::unexpected(order.error());
  auto receipt = protocol::read_signed<protocol::PaymentReceiptBank>(answer, "receipt");
  auto center = protocol::read_signed<protocol::PaymentReceiptCenter>(answer, "center");
  auto shop_part = protocol::read_signed<protocol::PaymentReceiptShop>(answer, "shop");
  if (!receipt) return std::unexpected(receipt.error());
  if (!center) return std::unexpected(center.error());
  if (!shop_part) return std::unexpected(shop_part.error());
  const auto& o = order->body;
  const auto& dir = m_device.directory();
  if (auto ok = receipt->verify(dir.bank.verify_key()); !ok) return std::unexpected(ok.error());
  if (auto ok = protocol::check_endorsement(*center, dir.center.verify_key(), o.request_id,
                                            {receipt->digest()});
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = protocol::check_endorsement(*shop_part, shop.verify_key(), o.request_id,
                                            {receipt->digest(), center->digest()});
      !ok) {
    return std::unexpected(ok.error());
  }
  if (receipt->body.order != order->digest() || receipt->body.amount != o.amount) {
    return fail(ErrorCode::bad_signature, "the receipt is for another payment");
  }
  auto new_balance = opened_balance(receipt->body.sealed_balance);
  if (!new_balance) return std::unexpected(new_balance.error());
  auto expected = balance_before.sub(o.amount);
  if (!expected) return std::unexpected(expected.error());
  if (*new_balance != *expected) {
    return fail(ErrorCode::conflict, "the bank says the balance is " + new_balance->to_string() +
                                         ", this wallet expected " + expected->to_string());
  }
  auto saved = m_db->transact([&](store::Transaction& tx) -> Status {
    if (auto ok = parties::set_setting(tx, "balance", new_balance->to_string()); !ok) return ok;
    if (auto ok = record_history(tx, m_clock.now(), "payment", o.request_id, o.amount.negate(),
                                 *new_balance, "to shop " + shop.subject());
        !ok) {
      return ok;
    }
    auto n = tx.exec("DELETE FROM pending WHERE request_id = ?", {o.request_id.to_string()});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!saved) return std::unexpected(saved.error());
  return Payment{o.amount, *new_balance, "", std::nullopt};
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
  int sent = 0;
  for (const auto& [route, body_text, before_text, shop_pem] : rows) {
    const Json body = Json::parse(body_text);
    if (route == "deposit") {
      auto answer = center.call("deposit", body);
      if (!answer) return std::unexpected(answer.error());
      if (auto ok = finish_deposit(body, *answer); !ok) return std::unexpected(ok.error());
    } else if (route == "pay" && shop != nullptr) {
      auto answer = shop->call("pay", body);
      if (!answer) return std::unexpected(answer.error());
      auto shop_cert = pki::Certificate::from_pem(shop_pem);
      auto before = Amount::parse(before_text);
      if (!shop_cert || !before) return fail(ErrorCode::malformed, "damaged pending payment");
      if (auto ok = finish_payment(body, *answer, *before, *shop_cert); !ok) {
        return std::unexpected(ok.error());
      }
    } else {
      continue;
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

}  // namespace ecash::wallet
