// A working sandbox of the outside card company (the patent's card company 7): opens cards with a
// credit limit, charges and refunds them on the clearing house's instruction, each retry answered
// once. Keeps its own SQLite file. Thread-safe: all state lives in the store's transactions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "parties/sandbox/institution.hpp"

namespace ecash::sandbox {

// Routes (amounts are "EUR:12.50" strings; IDs are "CH-000001", "RF-000001"):
//   open_card {card_number, limit, expiry?, cvc?} -> {card_number_masked}  (expiry "MM/YY" and a
//             3-digit CVC: kSandboxExpiry and kSandboxCvc when absent)
//   verify_card  {card_number, expiry, cvc, reference} -> {code_sent: true, expires}
//   confirm_card {card_number, reference, code}        -> {confirmed: true}
//   charge    {request_id, card_number, amount, reference} -> {charge_id, amount, status: "approved"}
//   refund    {request_id, charge_id}           -> {refund_id, amount}
//   card      {card_number} -> {limit, charged, refunded, available,
//                               charges: [{charge_id, amount, status, refund_id?}]}
//   statement {after?, limit?} -> {entries: [{seq, charge_id, request_id, amount, refund_id?,
//                                  refund_request_id?}], next?}  (every card, in order; paged)
// Before a card is charged for a holder's certificate (its opaque `reference`, given by the clearing
// house), the holder proves it, as 3-D Secure has a real card company ask: verify_card checks the
// expiry and CVC (wrong_expiry, wrong_cvc; declined for an unknown card, or one locked after
// kMaxWrongDetails wrong details in a row) and makes a one-time code for (card, reference), valid
// kCodeLifetime seconds; the holder reads it in their banking app (here: pending_code, the
// `ecash sandbox code` command) and confirm_card binds the card to the reference (wrong_code;
// code_expired once expired, after kMaxCodeAttempts wrong ones, or when none was asked for; once
// bound, confirming again is answered as the first time, for a retry whose answer was lost).
// A charge under a reference the card is not bound to is card_not_confirmed (nothing charged).
// The CVC is kept only as a keyed hash, the expiry sealed.
// It knows card numbers (it is outside the system's privacy boundary), but keeps them sealed at
// rest: found by a keyed hash, each number sealed under the data key beside its store.
inline constexpr std::string_view kSandboxExpiry = "12/30";
inline constexpr std::string_view kSandboxCvc = "123";
inline constexpr std::int64_t kCodeLifetime = 600;
inline constexpr std::int64_t kMaxCodeAttempts = 3;
inline constexpr std::int64_t kMaxWrongDetails = 5;

class CardCompany final : public Institution {
 public:
  // Opens or creates the store at db_path. clock must outlive the CardCompany.
  static Result<std::unique_ptr<CardCompany>> open(const std::string& db_path, const Clock& clock);

  // Every card, as the company's own desk lists them (not a route: nobody outside asks for it):
  // [{card (masked, "****1111"), limit, charged, refunded, available, opened}], oldest first.
  Result<protocol::Json> cards();
  // The one-time code waiting for the card's holder (what their banking app shows): {code,
  // expires}; not_found when the card is unknown or no code is pending (or it expired).
  Result<protocol::Json> pending_code(const std::string& card_number);

 private:
  friend class Institution;  // open_as constructs it
  CardCompany(std::unique_ptr<store::Database> db, const Clock& clock);

  Status seal_clear_rows() override;
  Result<protocol::Json> open_card(const protocol::Json& body);
  Result<protocol::Json> verify_card(const protocol::Json& body);
  Result<protocol::Json> confirm_card(const protocol::Json& body);
  std::string code_of(const std::string& card_key, const std::string& reference,
                      const std::string& nonce) const;
  Result<protocol::Json> charge(const protocol::Json& body);
  Result<protocol::Json> refund(const protocol::Json& body);
  Result<protocol::Json> card(const protocol::Json& body);
  Result<protocol::Json> statement(const protocol::Json& body);
};

}  // namespace ecash::sandbox
