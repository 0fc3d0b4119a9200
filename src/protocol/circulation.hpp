// The money in circulation (the patent's "management of circulation of money") and where every
// cent of it is: the one model of what the operator reports, audits and, later, shows on its
// dashboard. The identity it checks:
//   deposited - paid_out == balances - owed + in_flight + offline_reserve + unpaid_sales +
//   paying_out
// Money owed by users (negative balances under fraud cases) is shown apart, never netted into the
// balances silently. Figures that later flows add (refunds, the institutions' own statements) have
// their place here already. Plain values; thread-safe to share.
#pragma once

#include <cstdint>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.hpp"
#include "protocol/transport.hpp"

namespace ecash::protocol {

// What the outside institutions' statements say happened, request by request (the way a real
// scheme reconciles with settlement files), beside what the operator's books say (reconcile.hpp).
struct InstitutionFigures {
  static constexpr std::size_t kMaxNamed = 100;

  Amount card_charges;    // charged to cards, net of charges refunded
  Amount bank_transfers;  // transferred to shops' bank accounts
  Amount being_credited;  // of card_charges: deposits still open at the center (credited soon,
                          // or refunded)
  Amount being_recorded;  // of bank_transfers: payouts still open at the center
  // Requests where the institutions and the books disagree; the first kMaxNamed named.
  std::int64_t differences = 0;
  std::vector<std::string> named;
  // Why the statements could not be read; empty when they were.
  std::string unread;

  static InstitutionFigures not_read(Currency currency, std::string why);

  friend bool operator==(const InstitutionFigures&, const InstitutionFigures&) = default;
};

struct Circulation {
  Currency currency;
  // Money in and out of the system.
  Amount deposited;  // credited from card charges, net of charges reversed
  Amount paid_out;   // transferred to shops' bank accounts
  // Where the money in circulation is now.
  Amount balances;         // held by users (the sum of positive balances)
  Amount owed;             // owed by users under fraud cases (negative balances), as a positive sum
  Amount in_flight;        // transfers debited from their sender, not yet claimed
  Amount offline_reserve;  // set aside at the bank for offline transfers under allowances
  Amount unpaid_sales;     // shops' proceeds not yet paid out
  Amount paying_out;       // set aside for payouts under way
  // Beside the identity: flows, and counts.
  Amount refunded;  // given back to users from shops' sales, in all
  std::int64_t payments = 0;  // payments to shops, in all
  std::int64_t users = 0;
  std::int64_t shops = 0;
  std::int64_t open_cases = 0;
  // Users whose balance is negative, and of them those with no fraud case: money owed that nobody
  // is recovering is a hole in the books, never balanced.
  std::int64_t owing_users = 0;
  std::int64_t owing_without_case = 0;
  // The institutions' side, when their statements were read.
  std::optional<InstitutionFigures> institutions;

  // Every figure zero, in currency.
  static Circulation zero(Currency currency);

  // deposited - paid_out.
  Result<Amount> in_circulation() const;
  // balances - owed + in_flight + offline_reserve + unpaid_sales + paying_out.
  Result<Amount> accounted_for() const;
  // The identity holds, every user who owes has a fraud case, and, when the institutions were asked, their statements were read and agree
  // with the books: the card charges are deposited plus what is being credited, the bank's
  // transfers paid_out plus what is being recorded, and no request differs.
  Result<bool> balanced() const;

  // {"figures": {...}, "in_circulation", "accounted_for", "balanced"}: the report's JSON form.
  Json to_json() const;
  static Result<Circulation> from_json(const Json& j);

  friend bool operator==(const Circulation&, const Circulation&) = default;
};

}  // namespace ecash::protocol
