// What every party shares: its identity (keys and certificate), the check of who is calling, and
// answering a request once (a retry gets the stored answer; an ID reused by another request is
// replayed). Thread-safe where the Database is.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "crypto/keys.hpp"
#include "pki/trust_store.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/signed.hpp"
#include "protocol/transport.hpp"
#include "store/database.hpp"

namespace ecash::parties {

struct Identity {
  crypto::PartyKeys keys;
  pki::Certificate certificate;
};

// The operator's published certificates: every party checks the operator roles' signatures with
// these. The center hands them to wallets and shops ("directory" route).
struct Directory {
  pki::Certificate ca;
  pki::Certificate center;
  pki::Certificate bank;
  pki::Certificate clearing;

  protocol::Json to_json() const;
  static Result<Directory> from_json(const protocol::Json& j);
};

// The caller's certificate, verified now against trust and allowed to be one of roles:
// unauthenticated (as bad_certificate) when there is none.
Result<pki::Certificate> require_caller(const protocol::Caller& caller, const pki::TrustStore& trust,
                                        std::initializer_list<pki::Role> roles, UnixSeconds now);

// A certificate carried inside a message (PEM in field `name`), verified like a caller's.
Result<pki::Certificate> read_certificate(const protocol::Json& body, const char* name,
                                          const pki::TrustStore& trust,
                                          std::initializer_list<pki::Role> roles, UnixSeconds now);

// A statement and the certificate, carried beside it, whose key signed it.
template <class T>
struct Certified {
  pki::Certificate signer;
  protocol::Signed<T> statement;
};

// Field `name` of body, signed by the certificate in field `certificate` (verified like a
// caller's, of one of roles): how a role takes in what a device signed, relayed by the center.
template <class T>
Result<Certified<T>> read_certified(const protocol::Json& body, const char* certificate,
                                    const char* name, const pki::TrustStore& trust,
                                    std::initializer_list<pki::Role> roles, UnixSeconds now) {
  auto signer = read_certificate(body, certificate, trust, roles, now);
  if (!signer) return std::unexpected(signer.error());
  auto statement = protocol::read_verified<T>(body, name, signer->verify_key());
  if (!statement) return std::unexpected(statement.error());
  return Certified<T>{std::move(*signer), std::move(*statement)};
}

// Runs work once per request ID in one transaction with its answer. The request's identity is
// its route and the digest of its JSON body. work's error rolls everything back and is returned
// (not remembered, so a retry may succeed).
Result<protocol::Json> answer_once(
    store::Database& db, std::string_view route, const Id128& request_id,
    const protocol::Json& body, UnixSeconds now,
    const std::function<Result<protocol::Json>(store::Transaction&)>& work);
// The same for a request whose digest (body_digest) is known already.
Result<protocol::Json> answer_once(
    store::Database& db, std::string_view route, const Id128& request_id,
    const crypto::Digest& digest, UnixSeconds now,
    const std::function<Result<protocol::Json>(store::Transaction&)>& work);

// The answer already given to the request whose ID is body[field].request_id, if any: a retry
// gets it before any check that depends on time or on revocation runs again, so a flow once begun
// can always finish. nullopt when the request is new or body does not parse (the full checks then
// report it).
Result<std::optional<protocol::Json>> stored_answer(store::Database& db, std::string_view route,
                                                   const protocol::Json& body, const char* field);
// Dispatch with retries answered first: the stored answer to body[field].request_id if there is
// one, else handler().
Result<protocol::Json> stored_or(store::Database& db, std::string_view route,
                                 const protocol::Json& body, const char* field,
                                 const std::function<Result<protocol::Json>()>& handler);
// The same for a request identified by request_id and identity (what answer_once was given).
Result<std::optional<protocol::Json>> stored_answer(store::Database& db, std::string_view route,
                                                   const Id128& request_id,
                                                   const protocol::Json& identity);

// The digest that identifies a request body (its canonical JSON text: keys sorted).
crypto::Digest body_digest(const protocol::Json& body);

// Party files: <dir>/<name>.keys (0600) and <dir>/<name>.pem; created when absent.
Result<crypto::PartyKeys> load_or_create_keys(const std::string& path);

// Wraps an exception-free handler so that a JSON library exception (a bug, or input that slipped
// past a check) is returned as malformed instead of escaping.
Result<protocol::Json> guarded(const std::function<Result<protocol::Json>()>& handler);

}  // namespace ecash::parties
