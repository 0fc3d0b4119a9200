// What the bank tells a wallet, sealed to it, in every receipt that changes its balance (deposit,
// payment, sync): the new balance, what changed meanwhile that the device did not do itself (an
// expired transfer returned, a refund), itemised, and the fate of the transfer records it reported.
// One versioned payload for all three, so later flows add items or fields without reshaping it.
// Readers take version 1 and the unversioned forms receipts carried before it (a bare amount, or
// {"balance", "adjusted"}). Plain values; thread-safe to share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "crypto/keys.hpp"
#include "protocol/transport.hpp"

namespace ecash::protocol {

struct BalanceNotice {
  static constexpr int kVersion = 1;

  // One change the bank made to the balance besides the request the notice answers.
  struct Change {
    std::string kind;       // "returned" (an unclaimed transfer came back), "refund", ...
    Amount amount;          // signed: what it added to the balance
    std::string reference;  // the transfer, order or case it concerns
    UnixSeconds at = 0;
    // The change's own ID (a refund's request ID): a change told twice is counted once. Empty in
    // notices from before changes had IDs.
    std::string id;
  };

  // A transfer record the bank would not take, and why.
  struct Refusal {
    std::string transfer_id;
    ErrorCode code = ErrorCode::invalid_argument;
    std::string why;
  };

  Amount balance;
  // The sum of changes: new balance = old balance + adjusted + what this request moved.
  Amount adjusted;
  std::vector<Change> changes;
  // Transfer records reported with the request, by transfer ID.
  std::vector<std::string> accepted, returned;
  std::vector<Refusal> refused;
  // Sync only: the device's offline allowance from now, as JSON text (a Signed<OfflineAllowance>,
  // or "null" when it holds none any more); absent when the sync left it as it was.
  std::optional<std::string> allowance;

  // A notice of balance with nothing else changed.
  static BalanceNotice of(const Amount& balance);

  Json to_json() const;
  // malformed for a payload that is none of the known forms, or of a later version (refused
  // rather than misread).
  static Result<BalanceNotice> from_json(const Json& j);

  Bytes seal(const crypto::SealingPublicKey& to) const;
  static Result<BalanceNotice> open(const crypto::SealingKey& key, ByteView sealed);
};

}  // namespace ecash::protocol
