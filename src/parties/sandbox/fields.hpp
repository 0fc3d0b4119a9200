// What the sandboxes share at their JSON boundary: reading a request's fields into checked values,
// the digest that tells a retry from a different request, and running work so that no exception
// escapes (and no transaction is left open). Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/amount.hpp"
#include "base/error.hpp"
#include "crypto/hash.hpp"
#include "store/database.hpp"

namespace ecash::sandbox {

using Json = nlohmann::json;

// A request ID: 1 to 128 printable ASCII characters.
inline constexpr std::size_t kMaxRequestIdSize = 128;
// Names and payment references: at most 140 bytes, as in a SEPA transfer.
inline constexpr std::size_t kMaxTextSize = 140;

// malformed when the body is not an object, or the field is missing or not a string.
Result<std::string> text_field(const Json& body, std::string_view name);
// A text_field parsed by Amount::parse (its codes: bad_amount, unknown_currency, amount_precision);
// invalid_argument unless positive.
Result<Amount> positive_amount_field(const Json& body, std::string_view name);
// The "request_id" text_field; invalid_argument unless 1..kMaxRequestIdSize printable ASCII.
Result<std::string> request_id_field(const Json& body);
// invalid_argument unless text is valid UTF-8 of at most max_size bytes without control characters.
Status check_plain_text(std::string_view field, std::string_view text, std::size_t max_size);

// What makes two requests under one ID the same request: the route's checked fields, each
// length-prefixed so that no two different lists hash alike.
crypto::Digest request_digest(std::initializer_list<std::string_view> fields);

// Runs a route: a nlohmann exception becomes malformed, any other exception internal.
Result<Json> guarded(const std::function<Result<Json>()>& route);
// Database::transact / read, with an exception in body turned into internal inside the transaction,
// so that it is rolled back instead of left open.
Status write(store::Database& db, const std::function<Status(store::Transaction&)>& body);
Status read(store::Database& db, const std::function<Status(store::Transaction&)>& body);

// The amount stored in a row as a currency code and a count of minor units; internal when damaged.
Result<Amount> amount_at(const store::Row& row, std::size_t currency_column,
                         std::size_t minor_column);
// "CH-000042": the IDs an institution gives, from a sequence number that its store never reuses.
std::string sequence_id(std::string_view prefix, std::int64_t sequence);
// The next sequence number of a table's "seq" column, inside the transaction that inserts it.
Result<std::int64_t> next_sequence(store::Transaction& tx, std::string_view table);

}  // namespace ecash::sandbox
