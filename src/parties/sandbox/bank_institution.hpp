// A working sandbox of the outside bank (the patent's bank 8): keeps accounts by IBAN and credits
// them with the clearing house's payouts, each retry answered once. Keeps its own SQLite file, with
// IBANs and holders sealed at rest (found by a keyed hash of the IBAN).
// Thread-safe: all state lives in the store's transactions.
#pragma once

#include <memory>
#include <string>

#include "parties/sandbox/institution.hpp"

namespace ecash::sandbox {

// Routes (amounts are "EUR:12.50" strings; IBANs are accepted with spaces and in lower case and
// answered in compact upper case; transfer IDs are "TR-000001"):
//   open_account {iban, holder, currency?}  -> {iban}           (currency defaults to "EUR")
//   transfer_in  {request_id, iban, amount, reference} -> {transfer_id, status: "credited"}
//   account      {iban} -> {iban, holder, balance, transfers: [{transfer_id, amount, reference}]}
//   statement    {after?, limit?} -> {entries: [{seq, transfer_id, request_id, amount}], next?}
//                                    (every account, in order; paged)
class BankInstitution final : public Institution {
 public:
  // Opens or creates the store at db_path. clock must outlive the BankInstitution.
  static Result<std::unique_ptr<BankInstitution>> open(const std::string& db_path,
                                                       const Clock& clock);

  // Every account, as the bank's own desk lists them (not a route: nobody outside asks for it):
  // [{iban (masked, "****3000"), holder, balance, transfers, opened}], oldest first.
  Result<protocol::Json> accounts();

 private:
  friend class Institution;  // open_as constructs it
  BankInstitution(std::unique_ptr<store::Database> db, const Clock& clock);

  Status seal_clear_rows() override;
  Result<protocol::Json> open_account(const protocol::Json& body);
  Result<protocol::Json> transfer_in(const protocol::Json& body);
  Result<protocol::Json> account(const protocol::Json& body);
  Result<protocol::Json> statement(const protocol::Json& body);
};

}  // namespace ecash::sandbox
