// Reading and writing message fields in JSON: every value has one text form (amounts "EUR:12.50",
// IDs in base32, bytes/keys/signatures in base64url). A FieldReader keeps the first error and
// hands back placeholders after it, so a message is read in one straight sequence and checked once.
// Not thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.hpp"
#include "base/error.hpp"
#include "base/id.hpp"
#include "crypto/hash.hpp"
#include "crypto/keys.hpp"
#include "protocol/transport.hpp"

namespace ecash::protocol {

// No message nests deeper than this; deeper input is refused before it is parsed (writing and
// destroying a parsed value recurses once per level).
inline constexpr int kMaxJsonDepth = 32;
// No statement names more digests than this.
inline constexpr std::size_t kMaxDigests = 16;

// What a parse of outside JSON may build: nesting, and values in all (each value costs a node of
// tens of bytes whatever its text, so `[{},{},...]` builds twenty times its size).
struct JsonBounds {
  int max_depth = kMaxJsonDepth;
  std::size_t max_values = SIZE_MAX;
};
// No request a device sends holds more values than this (the largest, a payment, a few hundred).
inline constexpr std::size_t kMaxRequestValues = 4096;

// JSON from outside (the network, a file another device wrote): malformed, naming `what`, unless
// it is JSON within `bounds` (too_large when it holds more values). The parse stops at the first
// bound crossed, having built no more than the bounds allow.
Result<Json> parse_outside_json(std::string_view text, std::string_view what, JsonBounds bounds = {});
// The same as a value: discarded (is_discarded()) when it is not such JSON.
Json parse_limited(std::string_view text);

class FieldReader {
 public:
  explicit FieldReader(const Json& object, std::string context);

  std::string text(const char* name);
  std::int64_t integer(const char* name);
  // A non-negative integer (a counter, a sequence number).
  std::uint64_t count(const char* name);
  bool boolean(const char* name);
  Id128 id(const char* name);
  // An absent or null field reads as the zero ID.
  Id128 optional_id(const char* name);
  Amount amount(const char* name);
  Bytes bytes(const char* name);
  crypto::Digest digest(const char* name);
  crypto::Signature signature(const char* name);
  // A 32-byte public key (signing or sealing).
  crypto::PublicBytes<32> key(const char* name);
  // A list of at most kMaxDigests digests (what an endorsement names).
  std::vector<crypto::Digest> digests(const char* name);
  const Json& object(const char* name);
  bool has(const char* name) const;

  // The first error met, as malformed (or the specific code of a bad amount).
  Status status() const;

 private:
  const Json* field(const char* name);
  // The string field name read by parse (which returns a Result), or placeholder after an error.
  template <class T, class Parse>
  T parsed_text(const char* name, const Parse& parse, T placeholder);
  void fail_field(const char* name, ErrorCode code, const std::string& why);

  const Json& m_object;
  std::string m_context;
  std::optional<Error> m_error;
};

std::string to_text(const Bytes& bytes);
std::string to_text(const crypto::Digest& digest);

}  // namespace ecash::protocol
