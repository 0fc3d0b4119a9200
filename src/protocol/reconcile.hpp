// Reconciling the operator's books with the outside institutions' statements, request by request,
// the way a real scheme reconciles with its settlement files: every card charge (net of its
// refund) against the deposit the books credited under the same request ID, every bank transfer
// against the payout the books paid out. A request still open at the center is being finished
// (credited, refunded or recorded soon) and is counted apart; any other disagreement is a
// difference, and each is named. Pure functions over plain values; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "base/amount.hpp"
#include "base/error.hpp"
#include "protocol/circulation.hpp"

namespace ecash::protocol {

// Minor units per request ID.
using RequestAmounts = std::unordered_map<std::string, std::int64_t>;

// The operator's books: what the ledger credited from cards and paid out to banks, per request.
struct Books {
  RequestAmounts deposits;
  RequestAmounts payouts;
};

// The institutions' side, from their statements (see StatementReader).
struct Statements {
  RequestAmounts charges;    // charged, per deposit request; 0 when the charge was refunded
  RequestAmounts transfers;  // transferred, per payout request
  std::vector<std::string> problems;  // entries that could not be matched at all, each named
};

// Adds one page of a statement ({entries: [{request_id, amount, refunded?}]}, as the clearing
// house relays it) to statements; charges when from the card company, else transfers. Entries in
// another currency or with no reference become problems. malformed when the page is not a page.
Status add_statement_page(Statements& statements, Currency currency, bool charges,
                          const Json& page);

// The institutions' figures and the named differences. open says whether a request is still being
// finished at the center. overflow only when the sums overflow.
Result<InstitutionFigures> reconcile(Currency currency, const Books& books,
                                     const Statements& statements,
                                     const std::function<bool(const std::string&)>& open);

}  // namespace ecash::protocol
