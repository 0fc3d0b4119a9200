// A working sandbox of the outside card company (the patent's card company 7): opens cards with a
// credit limit, charges and refunds them on the clearing house's instruction, each retry answered
// once. Keeps its own SQLite file. Thread-safe: all state lives in the store's transactions.
#pragma once

#include <memory>
#include <string>

#include "parties/sandbox/institution.hpp"

namespace ecash::sandbox {

// Routes (amounts are "EUR:12.50" strings; IDs are "CH-000001", "RF-000001"):
//   open_card {card_number, limit}              -> {card_number_masked}
//   charge    {request_id, card_number, amount} -> {charge_id, amount, status: "approved"}
//   refund    {request_id, charge_id}           -> {refund_id, amount}
//   card      {card_number} -> {limit, charged, refunded, available,
//                               charges: [{charge_id, amount, status, refund_id?}]}
//   statement {after?, limit?} -> {entries: [{seq, charge_id, request_id, amount, refund_id?,
//                                  refund_request_id?}], next?}  (every card, in order; paged)
// It knows card numbers (it is outside the system's privacy boundary), but keeps them sealed at
// rest: found by a keyed hash, each number sealed under the data key beside its store.
class CardCompany final : public Institution {
 public:
  // Opens or creates the store at db_path. clock must outlive the CardCompany.
  static Result<std::unique_ptr<CardCompany>> open(const std::string& db_path, const Clock& clock);

  // Every card, as the company's own desk lists them (not a route: nobody outside asks for it):
  // [{card (masked, "****1111"), limit, charged, refunded, available, opened}], oldest first.
  Result<protocol::Json> cards();

 private:
  friend class Institution;  // open_as constructs it
  CardCompany(std::unique_ptr<store::Database> db, const Clock& clock);

  Status seal_clear_rows() override;
  Result<protocol::Json> open_card(const protocol::Json& body);
  Result<protocol::Json> charge(const protocol::Json& body);
  Result<protocol::Json> refund(const protocol::Json& body);
  Result<protocol::Json> card(const protocol::Json& body);
  Result<protocol::Json> statement(const protocol::Json& body);
};

}  // namespace ecash::sandbox
