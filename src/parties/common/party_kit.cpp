#include "parties/common/party_kit.hpp"

#include <filesystem>

#include "store/request_log.hpp"

namespace ecash::parties {

using protocol::Json;

Json Directory::to_json() const {
  return {{"ca", ca.to_pem()}, {"center", center.to_pem()}, {"bank", bank.to_pem()},
          {"clearing", clearing.to_pem()}};
}

Result<Directory> Directory::from_json(const Json& j) {
  protocol::FieldReader r(j, "directory");
  const auto ca = r.text("ca"), center = r.text("center"), bank = r.text("bank"),
             clearing = r.text("clearing");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  auto ca_cert = pki::Certificate::from_pem(ca);
  auto center_cert = pki::Certificate::from_pem(center);
  auto bank_cert = pki::Certificate::from_pem(bank);
  auto clearing_cert = pki::Certificate::from_pem(clearing);
  for (const auto* c : {&ca_cert, &center_cert, &bank_cert, &clearing_cert}) {
    if (!*c) return std::unexpected(c->error());
  }
  if (ca_cert->role() != pki::Role::ca || center_cert->role() != pki::Role::center ||
      bank_cert->role() != pki::Role::bank || clearing_cert->role() != pki::Role::clearing) {
    return fail(ErrorCode::wrong_role, "directory lists a certificate under the wrong role");
  }
  return Directory{*ca_cert, *center_cert, *bank_cert, *clearing_cert};
}

Result<pki::Certificate> require_caller(const protocol::Caller& caller, const pki::TrustStore& trust,
                                        std::initializer_list<pki::Role> roles, UnixSeconds now) {
  if (!caller.certificate) {
    return fail(ErrorCode::bad_certificate, "this route needs a client certificate");
  }
  if (auto ok = trust.verify(*caller.certificate, std::span(roles.begin(), roles.size()), now);
      !ok) {
    return std::unexpected(ok.error());
  }
  return *caller.certificate;
}

Result<pki::Certificate> read_certificate(const Json& body, const char* name,
                                          const pki::TrustStore& trust,
                                          std::initializer_list<pki::Role> roles, UnixSeconds now) {
  const auto field = body.is_object() ? body.find(name) : body.end();
  if (field == body.end() || !field->is_string()) {
    return fail(ErrorCode::malformed, std::string("message.") + name + ": expected a PEM certificate");
  }
  // Parsed and verified once, then answered from the trust store's memory.
  return trust.verify_pem(field->get_ref<const std::string&>(), std::span(roles.begin(), roles.size()), now);
}

crypto::Digest body_digest(const Json& body) { return crypto::blake2b_256(as_bytes(body.dump())); }

Result<std::optional<Json>> stored_answer(store::Database& db, std::string_view route,
                                          const Id128& request_id, const Json& identity) {
  const auto digest = body_digest(identity);
  std::optional<Json> out;
  auto read = db.read([&](store::Transaction& tx) -> Status {
    auto seen = store::find_answer(tx, request_id.to_string(), route, digest);
    // A reused ID is reported by the full path, with the request checked first.
    if (!seen) return seen.error().code == ErrorCode::replayed ? Status{} : std::unexpected(seen.error());
    if (*seen) {
      out = Json::parse(**seen, nullptr, false);
      if (out->is_discarded()) return fail(ErrorCode::internal, "stored answer is damaged");
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

Result<std::optional<Json>> stored_answer(store::Database& db, std::string_view route,
                                          const Json& body, const char* field) {
  if (!body.is_object() || !body.contains(field) || !body[field].is_object()) {
    return std::optional<Json>();
  }
  protocol::FieldReader r(body[field], "message");
  const auto request_id = r.id("request_id");
  if (!r.status()) return std::optional<Json>();
  return stored_answer(db, route, request_id, body);
}

Result<Json> stored_or(store::Database& db, std::string_view route, const Json& body,
                       const char* field, const std::function<Result<Json>()>& handler) {
  auto stored = stored_answer(db, route, body, field);
  if (!stored) return std::unexpected(stored.error());
  if (*stored) return **stored;
  return handler();
}

Result<Json> answer_once(store::Database& db, std::string_view route, const Id128& request_id,
                         const Json& body, UnixSeconds now,
                         const std::function<Result<Json>(store::Transaction&)>& work) {
  return answer_once(db, route, request_id, body_digest(body), now, work);
}

Result<Json> answer_once(store::Database& db, std::string_view route, const Id128& request_id,
                         const crypto::Digest& digest, UnixSeconds now,
                         const std::function<Result<Json>(store::Transaction&)>& work) {
  const auto id = request_id.to_string();
  Json answer;
  auto done = db.transact([&](store::Transaction& tx) -> Status {
    auto claimed = store::claim_answer(tx, id, route, digest, now);
    if (!claimed) return std::unexpected(claimed.error());
    if (*claimed) {
      auto result = work(tx);
      if (!result) return std::unexpected(result.error());
      answer = std::move(*result);
      return store::fill_answer(tx, id, answer.dump());
    }
    auto seen = store::find_answer(tx, id, route, digest);
    if (!seen) return std::unexpected(seen.error());
    if (!*seen) return fail(ErrorCode::internal, "request " + id + " was claimed and is gone");
    answer = Json::parse(**seen, nullptr, false);
    if (answer.is_discarded()) return fail(ErrorCode::internal, "stored answer is damaged");
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return answer;
}

Result<crypto::PartyKeys> load_or_create_keys(const std::string& path) {
  if (std::filesystem::exists(path)) return crypto::read_key_file(path);
  auto keys = crypto::PartyKeys::generate();
  if (auto ok = crypto::write_key_file(path, keys); !ok) return std::unexpected(ok.error());
  return keys;
}

Result<Json> guarded(const std::function<Result<Json>()>& handler) {
  try {
    return handler();
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::malformed, std::string("malformed message: ") + e.what());
  }
}

}  // namespace ecash::parties
