#include "protocol/statements.hpp"

namespace ecash::protocol {

using crypto::CanonicalWriter;

Status check_fresh(UnixSeconds timestamp, UnixSeconds now) {
  // Compared without subtracting the untrusted value, which could overflow.
  if (timestamp < now - kMaxClockSkew || timestamp > now + kMaxClockSkew) {
    return fail(ErrorCode::stale, "request timestamp " + std::to_string(timestamp) +
                                      " is more than " + std::to_string(kMaxClockSkew) +
                                      " s from this party's clock");
  }
  return {};
}

crypto::Digest chain_digest(const CanonicalWriter& statement, const crypto::Signature& signature) {
  Bytes all(statement.data().begin(), statement.data().end());
  all.insert(all.end(), signature.bytes().begin(), signature.bytes().end());
  return crypto::blake2b_256(all);
}

crypto::Digest blob_digest(ByteView bytes) {
  return crypto::blake2b_256(bytes);
}

Json json_value(const std::vector<crypto::Digest>& v) {
  Json list = Json::array();
  for (const auto& d : v) list.push_back(to_text(d));
  return list;
}

}  // namespace ecash::protocol
