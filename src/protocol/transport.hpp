// How parties reach each other: a party is an Endpoint answering JSON requests on named routes; a
// Channel is one party's way to call another. The in-process glue and the network (mutual TLS)
// both implement Channel, so parties never know which carries their messages. Each message's JSON
// carries its fields readably; signatures cover the canonical binary encoding, never the JSON text.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string_view>

#include "base/error.hpp"
#include "pki/certificate.hpp"

namespace ecash::protocol {

using Json = nlohmann::json;

// Who is calling: the certificate the peer proved it holds in the handshake (Fig 4), or none for
// a caller that has no certificate yet (enrolment with the CA).
struct Caller {
  std::optional<pki::Certificate> certificate;
  // The request's "Authorization: Bearer TOKEN", if it had one (a shop's merchant API).
  std::string bearer;
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Answers one request. Errors carry their stable code; nothing changes when one is returned.
  virtual Result<Json> handle(const Caller& caller, std::string_view route, const Json& body) = 0;
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual Result<Json> call(std::string_view route, const Json& body) = 0;
};

}  // namespace ecash::protocol
