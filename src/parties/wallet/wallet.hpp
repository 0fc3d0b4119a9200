// A wallet (patent party 1, the user device): enrols with the CA, deposits from its card (Figs 2
// and 5), pays shops (Fig 10) and checks every answer's signature chain and its balance (S166).
// Keeps its keys, card number, user ID and balance mirror under its home folder. A request is
// recorded before it is sent, so after a crash retry_pending() re-sends it under the same ID and
// gets the original answer. Not thread-safe: one user drives it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "parties/common/device.hpp"
#include "protocol/notice.hpp"

namespace ecash::protocol {
struct BalanceNotice;
}

namespace ecash::wallet {

class Wallet : public parties::Device {
 public:
  using parties::Device::Device;

  static Result<std::unique_ptr<Wallet>> open(const std::string& home, const Clock& clock,
                                              RandomSource& random);
  // A wallet held in memory only: new keys, nothing written to disk (the load generator's).
  static Result<std::unique_ptr<Wallet>> open_in_memory(const Clock& clock, RandomSource& random) {
    return open("", clock, random);
  }

  // Enrols with the CA: name and address go to the CA alone; the card number stays here and
  // only its salted commitment is certified.
  Status enrol(protocol::Channel& ca, const std::string& name, const std::string& address,
               const std::string& card_number);
  // Fetches the operator's directory and CRL (CA pinned at enrolment).
  Status connect(protocol::Channel& center) override;

  // The card's holder proves the card before its first charge (issue 12, finding 6), as 3-D
  // Secure asks: verify_card sends the card's expiry and CVC (sealed to the clearing house, never
  // kept here) and the card company sends its holder a one-time code; confirm_card sends that code
  // back, binding the card to this wallet's certificate. The card company's codes: declined,
  // wrong_expiry, wrong_cvc, wrong_code, code_expired.
  Status verify_card(protocol::Channel& center, const std::string& expiry, const std::string& cvc);
  Status confirm_card(protocol::Channel& center, const std::string& code);
  // Whether the card was confirmed (or a deposit made, which needed it).
  bool card_confirmed();

  // Figs 2 and 5. A deposit an earlier run left unanswered (the command failed or was killed)
  // is finished first; when it was for the same amount that is all, unless `again` asks for a
  // second deposit of it: running the same command again never charges the card twice.
  struct Deposit {
    Amount balance;
    std::vector<Amount> finished_earlier;  // unanswered deposits finished now
    bool made = true;                      // a new deposit of the amount asked was made
    // Unanswered deposits the operator now refused (nothing was charged, or the charge was
    // reversed): forgotten, with why.
    std::vector<std::pair<Amount, Error>> refused_earlier;
    // An earlier command finished a deposit of this amount and was never seen to report it (it
    // was killed, or its output lost): that one counts as this, and nothing more is charged.
    std::optional<Amount> unreported_earlier;
  };
  Result<Deposit> deposit(protocol::Channel& center, const Amount& amount, bool again = false);
  // The last deposit finished was reported to the user (the command printed it).
  Status deposit_reported();

  struct Payment {
    Amount paid;
    Amount balance;
    std::string item;
    std::optional<Amount> topped_up;
    bool earlier = false;  // this wallet had paid the order already: nothing more paid now
    // The bank's balance differed from this wallet's by more than the payment (a change this
    // wallet had not seen): the bank's figure was taken, and the difference written in history.
    std::optional<Amount> corrected;
    // Done first: unanswered deposits finished, or refused and forgotten; offline transfer
    // records reconciled with the bank.
    std::vector<Amount> finished_earlier;
    std::vector<std::pair<Amount, Error>> refused_earlier;
    int reconciled = 0;
    // What the offline allowance held that came back to the balance first, to pay with it.
    std::optional<Amount> released;
  };
  // Fig 10, paying a shop's payment request ({"request", "shop_certificate"}). With `center`,
  // transfers not yet reconciled and requests left unanswered are settled first. When the
  // balance is short: insufficient_funds saying by how much, or with top_up, a deposit of the
  // difference first (S151) through `center`. A request this wallet paid already is not paid
  // again (the answer says `earlier`); one sent and left unanswered is sent again under its
  // request ID.
  Result<Payment> pay(protocol::Channel& shop, const protocol::Json& payment_request,
                      protocol::Channel* center, bool top_up = false);

  // --- Device to device (Figs 8 and 9), over any carrier: each step's output is JSON text ---

  // The receiver's side: a request for amount, bound to a fresh nonce and this certificate.
  Result<protocol::Json> request_transfer(const Amount& amount);
  // The sender's side: checks the request, durably takes the amount out of this wallet first,
  // then returns the signed transfer sealed to the receiver. limit_exceeded past the offline limit
  // since the last reconciliation; insufficient_funds past balance + uncleared amount. The same
  // request sent again (the output was lost) gets the same transfer; nothing more leaves.
  Result<protocol::Json> send(const protocol::Json& request);
  // The receiver's side: checks and credits the transfer (once, before it expires, only on the
  // device it was made for) and returns the signed acknowledgement.
  Result<protocol::Json> accept(const protocol::Json& sealed_transfer);
  // The sender's side: closes the transfer with the receiver's acknowledgement.
  Status confirm(const protocol::Json& ack);
  // The most one transfer may carry, and what a sync loads for offline use by default.
  void set_offline_limit(const Amount& limit) { m_offline_limit = limit; }
  Amount offline_limit() const;

  // The value the bank set aside for this device's offline transfers (issue 12): what it allows,
  // what this wallet has sent under it, and when it expires. Transfers past it are refused, by
  // this wallet and by every receiver.
  struct Allowance {
    Amount amount;
    Amount used;
    UnixSeconds expires = 0;
    // What may still be sent under it now: nothing once it expired.
    Amount left(UnixSeconds now) const;
  };
  Result<std::optional<Allowance>> allowance();

  struct Sync {
    Amount balance;
    int accepted = 0;
    int refused = 0;
    int returned = 0;
    int received = 0;  // of the accepted: transfers to this wallet, now credited by the bank
    int sent = 0;      // of the accepted: transfers from this wallet, now cleared at the bank
    // The records the bank refused: transfer ID and why (allowance_exceeded, stale, ...).
    std::vector<std::pair<std::string, ErrorCode>> refusals;
    std::vector<Amount> finished_earlier;  // unanswered deposits finished first
    std::vector<std::pair<Amount, Error>> refused_earlier;
    // What the bank changed by itself and this sync told first (a shop's refund): its kind, the
    // amount it added, and what it concerns (an order's ID).
    struct Change {
      std::string kind;
      Amount amount;
      std::string reference;
    };
    std::vector<Change> bank_changes;
  };
  // Reports the transfer records to the bank (through the center) and takes its balance. With
  // load, the bank replaces this device's offline allowance with one of that amount (at most the
  // balance; zero returns it all to the balance); without, the allowance stays as it is.
  Result<Sync> sync(protocol::Channel& center, std::optional<Amount> load = std::nullopt);
  // Offline value not yet reconciled: received minus sent.
  Result<Amount> uncleared();

  // Re-sends a request a crash left unanswered; the number re-sent.
  Result<int> retry_pending(protocol::Channel& center, protocol::Channel* shop);

  // The balance at the bank, as this wallet last heard it.
  Result<Amount> balance();
  // What this wallet can spend: the bank's balance with the value sent and received offline and
  // not yet reported to the bank (the uncleared amount).
  Result<Amount> spendable();
  std::optional<Id128> user_id() const { return m_user_id; }
  // Every change of the spendable figure, oldest first: at, kind, amount, balance (spendable
  // after it), detail, and for payments the article and the shop.
  Result<protocol::Json> history();

  // What is open: requests sent and unanswered, transfers sent and not confirmed, requests for
  // transfers not yet answered (each with "id", "kind", "amount", "since", "cancel": whether
  // cancelling it is safe).
  Result<protocol::Json> pending();
  // Cancels an open request for a transfer (nothing was received for it: safe). Anything else
  // may have moved money and is refused with the reason.
  Status cancel(const std::string& id);

 private:
  Status load() override;
  // Sends the card, sealed to the clearing house with details, on route (verify_card, confirm_card).
  Status card_check(protocol::Channel& center, const char* route, const protocol::Json& details);
  // The saved request (route, body, balance before) is sent, its answer checked, and the
  // wallet's state updated with it in one transaction that also clears the pending request.
  Result<Amount> finish_deposit(const protocol::Json& body, const protocol::Json& answer);
  Result<Payment> finish_payment(const protocol::Json& body, const protocol::Json& answer,
                                 const Amount& balance_before, const pki::Certificate& shop);
  Status save_pending(const Id128& request_id, const std::string& route,
                      const protocol::Json& body, const Amount& balance_before,
                      const std::string& shop_pem, const std::string& item = "");
  // The bank's own changes a notice lists (an unclaimed transfer returned, ...) written to history,
  // and, when its balance still differs from this wallet's figure plus what the request moved
  // (`moved`), a correction for the difference, which it returns: the bank keeps the balance.
  Result<std::optional<Amount>> record_bank_changes(store::Transaction& tx,
                                                    const protocol::BalanceNotice& notice,
                                                    const Amount& moved, const Id128& request_id);
  // The changes of a notice (a shop's refund) this wallet has not written yet, each written as a
  // line of its own, moving running; returns them. A change told before (by ID) is skipped.
  Result<std::vector<protocol::BalanceNotice::Change>> write_changes(
      store::Transaction& tx, const std::vector<protocol::BalanceNotice::Change>& changes,
      const Id128& request_id, Amount& running);
  // What of a difference between the bank's figure and this wallet's (positive: the bank's is
  // higher) returned transfers or payments whose answers were lost explain, written down (their
  // lines move running); returns what is left unexplained.
  Result<Amount> explain_difference(store::Transaction& tx, const Amount& difference,
                                    const Id128& request_id, Amount& running);
  // A way the bank's figure may have moved without this wallet hearing of it (a payment whose
  // answer was lost, a transfer that came back): its row's id, the ID its history line carries,
  // its amount, and what the line says.
  struct Unheard {
    std::string id;
    Id128 line_id;
    Amount amount;
    std::string detail;
  };
  // Of the candidates, those that make up target (all of them, or one alone) get their line of
  // kind (raising the balance or lowering it) and are marked by mark_sql (taking the row's id);
  // returns what they add up to.
  Result<Amount> record_unheard(store::Transaction& tx, const std::vector<Unheard>& candidates,
                                const Amount& target, bool raises, const std::string& kind,
                                const char* mark_sql, Amount& running);
  // Unanswered payments (other than `except`) that make up `missing`, a fall in the bank's figure
  // nothing else explains: all of them, or one alone. Each gets its payment line (running moves
  // by it) and is marked recorded; returns what they add up to (zero: none matched).
  Result<Amount> record_unanswered_payments(store::Transaction& tx, const Amount& missing,
                                            const Id128& except, Amount& running);
  // Transfers this wallet sent that expired unclaimed and make up `extra`, a rise in the bank's
  // figure nothing else explains (all of them, or one alone): each gets its "returned" line and
  // leaves the list of what is open. Returns what they add up to.
  Result<Amount> record_returned_transfers(store::Transaction& tx, const Amount& extra,
                                           const Id128& request_id, Amount& running);
  // The spendable figure for a bank balance, with this wallet's uncleared amount.
  Result<Amount> spendable_in(store::Transaction& tx, const Amount& bank_balance);
  Result<Sync> finish_sync(const protocol::Json& body, const protocol::Json& answer);
  // The allowance kept in the store (its signed statement and what was sent under it).
  struct HeldAllowance {
    protocol::Json statement;
    Allowance allowance;
  };
  Result<std::optional<HeldAllowance>> held_allowance(store::Transaction& tx);
  // Checks a signed allowance the bank sent this device (its key, this device).
  Status check_own_allowance(const protocol::Json& statement);
  // Deposits finished by settle_pending, by amount.
  struct Settled {
    std::vector<Amount> deposits;
    std::vector<std::pair<Amount, Error>> refused;
  };
  // Reconciles first when there are transfer records the bank has not seen.
  Status sync_if_needed(protocol::Channel& center);
  Result<Settled> settle_pending(protocol::Channel& center);
  // Forgets a request that was definitely refused (so it did nothing).
  Status drop_pending(const Id128& request_id);
  Result<std::int64_t> unreconciled_records();
  Result<std::int64_t> unreconciled_records_in(store::Transaction& tx);
  // What a payment is checked against, read in one transaction: transfer records the bank has not
  // seen, the allowance held, and the balance.
  struct Standing {
    std::int64_t open_records = 0;
    std::optional<Allowance> held;
    Amount balance;
  };
  Result<Standing> standing_in(store::Transaction& tx);
  Result<Standing> read_standing();
  Result<Amount> setting_amount(store::Transaction& tx, std::string_view key);

  std::optional<Id128> m_user_id;
  std::optional<Amount> m_offline_limit;
};

}  // namespace ecash::wallet
