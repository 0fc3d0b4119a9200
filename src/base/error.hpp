// Errors as values: every operation that can fail on input, the network, the disk or another party
// returns Result<T>. Codes are stable (they travel in JSON as their names); messages are for people.
#pragma once

#include <cstdint>
#include <expected>
#include <iosfwd>
#include <string>
#include <string_view>

namespace ecash {

// X(name): the code's identifier and its stable wire name are the same word.
#define ECASH_ERROR_CODES(X) \
  X(invalid_argument)        \
  X(malformed)               \
  X(bad_amount)              \
  X(amount_precision)        \
  X(unknown_currency)        \
  X(currency_mismatch)       \
  X(overflow)                \
  X(bad_encoding)            \
  X(bad_signature)           \
  X(unseal_failed)           \
  X(bad_certificate)         \
  X(untrusted_issuer)        \
  X(certificate_expired)     \
  X(certificate_not_yet_valid) \
  X(certificate_revoked)     \
  X(bad_crl)                 \
  X(wrong_role)              \
  X(bad_commitment)          \
  X(bad_account)             \
  X(replayed)                \
  X(stale)                   \
  X(insufficient_funds)      \
  X(limit_exceeded)          \
  X(unknown_user)            \
  X(unknown_shop)            \
  X(declined)                \
  X(not_found)               \
  X(conflict)                \
  X(unavailable)             \
  X(too_large)               \
  X(rate_limited)            \
  X(io_error)                \
  X(insecure_permissions)    \
  X(allowance_exceeded)      \
  X(allowance_expired)       \
  X(bad_passphrase)          \
  X(card_not_confirmed)      \
  X(wrong_cvc)               \
  X(wrong_expiry)            \
  X(wrong_code)              \
  X(code_expired)            \
  X(unauthorized)            \
  X(internal)

enum class ErrorCode : std::uint16_t {
#define ECASH_X(name) name,
  ECASH_ERROR_CODES(ECASH_X)
#undef ECASH_X
};

// The stable wire name of a code ("bad_signature").
std::string_view to_string(ErrorCode code);
// The code for a wire name; internal for a name this build does not know.
ErrorCode error_code_from_string(std::string_view name);
// Prints the wire name (so test failures read "bad_signature", not a number).
std::ostream& operator<<(std::ostream& out, ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;

  // "bad_signature: signature does not verify"
  std::string to_string() const;
};

// Whether an error leaves the outcome of a request open: the other side may have acted (it is out
// of reach, its store failed, or it failed inside). Such a request is kept and sent again under its
// own ID, never taken as refused; every other code is a definite refusal (nothing changed).
bool outcome_unknown(const Error& error);

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// return fail(ErrorCode::overflow, "...") from a function returning Result<T>.
inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace ecash
