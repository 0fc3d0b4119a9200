// The clearing house's disclosure log: every disclosure of account information and every refusal,
// one signed entry each, chained by hash so that an auditor finds any changed, inserted or removed
// entry. Functions over the clearing house's store; thread-safe where the Database is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/keys.hpp"
#include "protocol/statements.hpp"
#include "store/database.hpp"

namespace ecash::clearing {

// The table, in the clearing house's migrations. entry is the Signed<DisclosureLogEntry> JSON text;
// hash is protocol::chain_digest(entry's encoding, its signature), what the next entry's previous
// names. The first entry's previous is 32 zero bytes.
inline constexpr std::string_view kDisclosureLogSql =
    "CREATE TABLE disclosure_log (sequence INTEGER PRIMARY KEY, entry TEXT NOT NULL, "
    "hash BLOB NOT NULL);";

// Appends entry inside tx, setting its sequence (last + 1, from 1) and previous (the last entry's
// hash), signed with key; the new entry's sequence. Durable only with tx.
Result<std::uint64_t> append_disclosure(store::Transaction& tx, const crypto::SigningKey& key,
                                        protocol::DisclosureLogEntry entry);

struct AuditReport {
  std::uint64_t entries = 0;               // rows read
  std::optional<std::uint64_t> first_bad;  // the first bad (or missing) entry's sequence
  std::string problem;                     // what is wrong with it; empty when the log is sound
  crypto::Digest head{};                   // hash of the last entry, when the log is sound
};

// Re-reads every entry and checks its JSON (byte for byte the signed entry's canonical text), its
// signature by clearing_key, its sequence (1, 2, 3, ... without gaps), its previous (the hash of
// the entry before) and its stored hash. A damaged entry is reported, not returned as an error; an
// error means the store could not be read. Removing entries from the end leaves a shorter sound
// chain: compare head with one kept earlier.
Result<AuditReport> audit_disclosure_log(store::Database& db,
                                         const crypto::VerifyKey& clearing_key);

}  // namespace ecash::clearing
