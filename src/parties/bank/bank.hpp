// The virtual bank (the patent's virtual bank 4): issues user and shop IDs and keeps the
// double-entry ledger of balances, sales and payouts. It answers only the center, checks every
// signature chain end to end, and moves money once per request ID. Thread-safe where its Database
// and RandomSource are: all state lives in the store's transactions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/id.hpp"
#include "parties/common/party_kit.hpp"
#include "pki/trust_store.hpp"
#include "protocol/circulation.hpp"
#include "protocol/reconcile.hpp"
#include "protocol/transport.hpp"
#include "store/database.hpp"

namespace ecash::protocol {
struct PaymentOrder;
template <class T>
struct Signed;
}  // namespace ecash::protocol

namespace ecash::bank {

// Routes, all from the center (statements are Signed<T> JSON from protocol/statements.hpp):
//   credit         {wallet_certificate, order, charged, center}            -> {receipt}
//   register_shop  {shop_certificate, registration, verified, center}      -> {registered}
//   pay            {wallet_certificate, shop_certificate, order, shop, center}
//                                                                          -> {receipt}
//   payout_start   {shop_certificate, payout_request, center}              -> {amount}
//   payout_finish  {result}                                                -> {state, amount}
//   payout_cancel  {center}  (clearing refused; the sales come back)       -> {state, amount}
//   void_credit    {order, center}  (a day without a credit: give it up)    -> {state: credited
//                                                       with its answer, or voided: never after}
//   sync           {wallet_certificate, order, center}  (reconcile transfers) -> {receipt, cases}
//   report         {} -> protocol::Circulation's JSON (the bank's figures; no institutions)
class VirtualBank final : public protocol::Endpoint {
 public:
  // Opens or creates the bank's store at db_path (conflict if it was created for another currency).
  // trust, clock and random must outlive the VirtualBank.
  static Result<std::unique_ptr<VirtualBank>> open(const store::Place& place,
                                                   parties::Identity identity,
                                                   parties::Directory directory,
                                                   const pki::TrustStore& trust, const Clock& clock,
                                                   RandomSource& random, Currency currency);

  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) override;

  // The circulation figures, from the ledger's running totals (never a scan of every account):
  // deposited - paid_out == balances - owed + in_flight + unpaid_sales + paying_out.
  Result<protocol::Circulation> totals() const;
  Currency currency() const { return m_currency; }
  // The books the institutions' statements are reconciled with, read with the totals in one
  // transaction: per request, what was credited from cards and paid out to banks, and the
  // payouts under way.
  struct Books {
    protocol::Circulation totals;
    protocol::Books requests;
    std::unordered_set<std::string> payouts_pending;
  };
  Result<Books> books() const;
  // Re-derives balances from postings and re-verifies stored statements:
  // {"checked": n, "problems": [...]}.
  Result<protocol::Json> audit() const;
  // The evidence the bank keeps for each fraud case it opened: {case_id: the evidence's text, as
  // its digest in the signed case was taken}. The operator's own view; never sent to the center.
  Result<protocol::Json> case_evidence();
  // The fraud cases for the operator's dashboard, with what their evidence shows and whether it
  // is the evidence the bank signed: [{case_id, user_id, kind, opened, counter (counter_reuse),
  // allowance_id (allowance_overlap), transfers: [transfer IDs], evidence_verified}]. Never a
  // transfer's amount or anyone's balance: those stay in the evidence, here.
  Result<protocol::Json> case_summaries();

 private:
  VirtualBank(std::unique_ptr<store::Database> db, parties::Identity identity,
              parties::Directory directory, const pki::TrustStore& trust, const Clock& clock,
              RandomSource& random, Currency currency)
      : m_db(std::move(db)),
        m_identity(std::move(identity)),
        m_directory(std::move(directory)),
        m_trust(trust),
        m_clock(clock),
        m_random(random),
        m_currency(currency) {}

  Result<protocol::Json> credit(const crypto::VerifyKey& center, const protocol::Json& body);
  Result<protocol::Json> register_shop(const crypto::VerifyKey& center, const protocol::Json& body);
  Result<protocol::Json> pay(const crypto::VerifyKey& center, const protocol::Json& body);
  // pay once its order is read: the checks, then the work, answered once.
  Result<protocol::Json> pay_once(const crypto::VerifyKey& center, const protocol::Json& body,
                                  const protocol::Signed<protocol::PaymentOrder>& order,
                                  const protocol::Json& identity, UnixSeconds now);
  // The answer that stands for a payment refused: the first one stored (paid, or refused), or
  // this refusal, stored now, so that a request refused is never paid after.
  Result<protocol::Json> settle_refused(const Id128& request_id, const protocol::Json& identity,
                                        const Error& refusal, UnixSeconds now);
  Result<protocol::Json> payout_start(const crypto::VerifyKey& center, const protocol::Json& body);
  Result<protocol::Json> payout_finish(const protocol::Json& body);
  Result<protocol::Json> refund(const crypto::VerifyKey& center, const protocol::Json& body);
  Result<protocol::Json> payout_cancel(const crypto::VerifyKey& center, const protocol::Json& body);
  Result<protocol::Json> void_credit(const crypto::VerifyKey& center, const protocol::Json& body);
  Result<protocol::Json> report();
  Result<protocol::Json> sync(const crypto::VerifyKey& center, const protocol::Json& body);

  // An allowance of at most the user's balance for the device, its value moved to its reserve:
  // the signed statement's JSON, or nothing when the balance holds nothing to set aside.
  Result<std::optional<protocol::Json>> issue_allowance(store::Transaction& tx,
                                                        const Id128& request_id, const Id128& user,
                                                        const crypto::VerifyKey& device,
                                                        const Amount& wanted, UnixSeconds now);

  Status totals_in(store::Transaction& tx, protocol::Circulation& out) const;
  // invalid_argument unless positive, currency_mismatch unless in the bank's currency.
  Status check_amount(const char* what, const Amount& amount) const;

  std::unique_ptr<store::Database> m_db;
  parties::Identity m_identity;
  parties::Directory m_directory;
  const pki::TrustStore& m_trust;
  const Clock& m_clock;
  RandomSource& m_random;
  Currency m_currency;
};

}  // namespace ecash::bank
