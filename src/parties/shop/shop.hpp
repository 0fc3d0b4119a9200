// A shop (patent party 2): enrols with the CA, registers with the center (Fig 6), sells against
// signed payment requests, takes payments from wallets and passes them to the center (Fig 10), and
// asks for its proceeds (Fig 11). Keeps its keys and store under its home folder; holds its own
// bank account number and never a user ID in clear. Thread-safe where its store is.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "parties/common/device.hpp"
#include "parties/shop/checkout.hpp"
#include "protocol/signed.hpp"

namespace ecash::protocol {
struct PayoutRequest;
}

namespace ecash::shop {

class Shop final : public parties::Device, public protocol::Endpoint {
 public:
  using parties::Device::Device;

  // Opens the shop whose files are in home (shop.keys, shop.db), creating keys when new.
  static Result<std::unique_ptr<Shop>> open(const std::string& home, const Clock& clock,
                                            RandomSource& random);

  // Enrols with the CA; the IBAN stays here, its salted commitment goes into the certificate.
  Status enrol(protocol::Channel& ca, const std::string& name, const std::string& address,
               const std::string& iban);
  // Fig 6: registers with the center and the bank; the shop ID.
  Result<Id128> register_shop(protocol::Channel& center);
  // How long an order can be paid when its maker says nothing else, and the bounds of what it
  // may say.
  static constexpr UnixSeconds kOrderLifetime = 15 * 60;
  static constexpr UnixSeconds kMinOrderLifetime = 1;
  static constexpr UnixSeconds kMaxOrderLifetime = 7 * 24 * 3600;
  // A signed payment request for amount and item, payable for `lifetime` seconds:
  // {"request": ..., "shop_certificate": PEM}.
  // Under order_id when one is given (the merchant API derives it from the call's idempotency
  // key): an order made under it before stays as it was, so a call asked again makes one order.
  Result<protocol::Json> create_order(const Amount& amount, const std::string& item,
                                      UnixSeconds lifetime = kOrderLifetime,
                                      const std::string& reference = "",
                                      std::optional<Id128> order_id = std::nullopt);

  // The merchant API's token: a new one (shown once by the caller; only its hash is kept, and the
  // old one stops working), and the check of one (unauthorized unless it is the current one).
  Result<std::string> new_api_token();
  Status check_api_token(const std::string& token);
  // work once per idempotency key: asked again with the same route and body, the answer kept,
  // made or refused (only an open outcome, or a conflict or rate limit of the moment, is not
  // kept: asked again, it is tried again); replayed with another route or body; conflict while
  // a call with the key is under way.
  Result<protocol::Json> once_per_key(const std::string& key, std::string_view route,
                                      const protocol::Json& body,
                                      const std::function<Result<protocol::Json>()>& work);
  // Where "pay" sends payments on to.
  void set_center(std::unique_ptr<protocol::Channel> center) { m_center = std::move(center); }

  // Route "pay" (wallets): S154-S156, then the center's answer checked and countersigned (S165).
  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) override;

  struct Payout {
    Amount amount;
    bool paid = false;
    std::string reference;
  };
  // Has the proceeds paid to the shop's bank account. A payout made marks the paid orders it
  // covers (the bank pays out every sale it holds, so those paid earliest first, up to its amount).
  // Under request_id when one is given (a payout made under it before is its answer); one at a
  // time (conflict while another is under way).
  Result<Payout> payout(protocol::Channel& center, std::optional<Id128> request_id = std::nullopt);
  // Every order, oldest first, and the totals:
  //   {"orders": [{"time", "time_unix", "order_id", "amount", "item", "state", "expires",
  //                "expires_unix"[, "payout"]}],
  //    "totals": {"paid", "paid_out", "to_pay_out", "open"}}
  // state is open, expired (open, and past its expiry now), paid, or paid out; totals: paid is
  // every paid order, paid_out what payouts moved to the bank account, to_pay_out the rest of
  // paid, open the orders still payable.
  Result<protocol::Json> sales();
  // Every payout asked for, oldest first: {"payouts": [{"time", "time_unix", "request_id",
  // "amount", "paid", "reference", "orders": [order IDs it covered]}]}.
  Result<protocol::Json> payouts();

  struct Refund {
    Id128 request_id;
    Id128 order_id;
    Amount amount;    // this refund
    Amount refunded;  // the order's refunds so far, this one included
    bool resent = false;  // an earlier refund of the order, unanswered, sent again
  };
  // Gives back amount (default: all not yet given back) of a paid order to whoever paid it,
  // through the center and the bank, from the sales not yet paid out. A refund of the order sent
  // before and left unanswered (the operator out of reach) is sent again first, under its ID.
  // invalid_argument beyond what was paid; insufficient_funds when the unpaid sales are short.
  // With request_id (the merchant API's, from its idempotency key): that refund once, answered
  // again as it was when asked again.
  Result<Refund> refund(protocol::Channel& center, const Id128& order_id, std::optional<Amount> amount,
                        const std::string& reason, std::optional<Id128> request_id = std::nullopt);

  // An order as its checkout page shows it, with its payment request for the till at `till`
  // (HOST:PORT), rebuilt as create_order made it (the signature is deterministic).
  Result<CheckoutView> checkout(const Id128& order_id, const std::string& till);

  // The shop's webhook: a POST to url when an order is paid or refunded (https://, or http:// to
  // this machine; "" for none). Returns the secret each POST is signed with (HMAC-SHA-256 over
  // "TIME.BODY", in the header Ecash-Signature: t=TIME,v1=HEX): a new one each time it is set.
  Result<std::string> set_webhook(const std::string& url);
  // Posts the events that are due (each until a 2xx answer, waiting 1, 2, 4 ... seconds, at most
  // an hour, between tries, for up to a day); returns how many were acknowledged.
  using WebhookPost = std::function<Result<int>(const std::string& url, const std::string& body,
                                                const std::vector<std::pair<std::string, std::string>>& headers)>;
  // Stops between two events once go_on (if given) says no.
  int deliver_webhooks(const WebhookPost& post, const std::function<bool()>& go_on = {});
  // Forgets what is kept only for retries: idempotency keys' answers after 30 days, webhook
  // events delivered or given up after 7. (Orders, refunds and payouts are kept: a key asked
  // again after that still makes nothing twice, for their IDs follow from it.)
  Status prune(UnixSeconds now);

  std::optional<Id128> shop_id() const { return m_shop_id; }

 private:
  Status load() override;
  // Sends again every refund left without an answer (refused ones are forgotten); an error when
  // one's outcome is still unknown.
  Status send_pending_refunds(protocol::Channel& center);
  Result<protocol::Json> take_payment(const pki::Certificate& wallet, const protocol::Json& body);
  // Sends a payout request saved as pending, and records its answer (or forgets a refused one).
  Result<Payout> send_payout(protocol::Channel& center, const protocol::Signed<protocol::PayoutRequest>& request);
  // Marks the paid orders a payout of amount covered, in the transaction that records it.
  Status mark_paid_out(store::Transaction& tx, const Id128& payout, const Amount& amount);
  // A request saved under key before it was sent and not yet answered, if any.
  template <class T>
  Result<std::optional<protocol::Signed<T>>> pending_request(const char* key);

  std::unique_ptr<protocol::Channel> m_center;
  // Orders whose payment is at the center now, and how many copies of it.
  // Keys held by calls under way in this process, each as many times as calls hold it.
  class HeldKeys {
   public:
    // Given back when it goes.
    class Hold {
     public:
      Hold(HeldKeys& keys, std::string key) : m_keys(&keys), m_key(std::move(key)) {}
      Hold(Hold&& other) noexcept : m_keys(std::exchange(other.m_keys, nullptr)), m_key(std::move(other.m_key)) {}
      Hold(const Hold&) = delete;
      Hold& operator=(const Hold&) = delete;
      Hold& operator=(Hold&&) = delete;
      ~Hold() {
        if (m_keys != nullptr) m_keys->give_back(m_key);
      }

     private:
      HeldKeys* m_keys;
      std::string m_key;
    };
    // Holds key; when only_one, nothing if a call holds it already.
    std::optional<Hold> hold(const std::string& key, bool only_one);
    bool held(const std::string& key) const;

   private:
    void give_back(const std::string& key);
    mutable std::mutex m_mutex;
    std::map<std::string, int> m_count;
  };
  HeldKeys m_paying;
  // Idempotency keys whose call is under way in this process; held while a payout is made.
  HeldKeys m_keys_working;
  std::mutex m_payout_mutex;
  std::optional<Id128> m_shop_id;
};

}  // namespace ecash::shop
