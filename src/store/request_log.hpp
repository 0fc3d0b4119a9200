// The answers a party has given, by request ID: a retry of a request gets the first answer again and
// moves nothing twice; a different request reusing an ID is refused as replayed. Used inside the
// transaction that does the request's work, so the answer and the work are durable together.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/clock.hpp"
#include "store/database.hpp"

namespace ecash::store {

// Every party's migrations include this table.
inline constexpr std::string_view kRequestLogSql =
    "CREATE TABLE request_log (id TEXT PRIMARY KEY, route TEXT NOT NULL, digest BLOB NOT NULL, "
    "response TEXT NOT NULL, created INTEGER NOT NULL);";

// nullopt when the ID is new; the stored answer when this same request (route and digest) was
// answered; replayed when the ID was used by a different request.
Result<std::optional<std::string>> find_answer(Transaction& tx, std::string_view id,
                                               std::string_view route, ByteView digest);
// Claims the ID for this request before its work, in the transaction that does it: true when it is
// new (the answer is then given by fill_answer), false when it was used before (find_answer says
// by what). Written before it is read: a read of an ID that is not there would lock its index
// page against every concurrent request's insert there (PostgreSQL's SERIALIZABLE).
Result<bool> claim_answer(Transaction& tx, std::string_view id, std::string_view route,
                          ByteView digest, UnixSeconds now);
Status fill_answer(Transaction& tx, std::string_view id, std::string_view response);
// conflict if the ID is already recorded.
Status remember_answer(Transaction& tx, std::string_view id, std::string_view route,
                       ByteView digest, std::string_view response, UnixSeconds now);

}  // namespace ecash::store
