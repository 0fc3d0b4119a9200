// A statement with its signer's signature, and the generic pieces every statement shares: the chain
// digest that later signers endorse, signing, checking, and the JSON form (the statement's fields
// plus "signature"). Endorsement<P> is a countersignature: a party vouching, under purpose P, for
// statements it has checked, named by their chain digests. Values; thread-safe to share.
#pragma once

#include <vector>

#include "crypto/keys.hpp"
#include "protocol/fields.hpp"

namespace ecash::protocol {

// What an endorsement names: the statement's encoding and its signature, hashed together.
crypto::Digest chain_digest(const crypto::CanonicalWriter& statement,
                            const crypto::Signature& signature);
// A digest of plain bytes (a sealed blob) for endorsements.
crypto::Digest blob_digest(ByteView bytes);

template <class T>
struct Signed {
  T body;
  crypto::Signature signature;

  crypto::Digest digest() const { return chain_digest(body.encode(), signature); }

  // bad_signature unless key signed exactly this body for T's purpose.
  Status verify(const crypto::VerifyKey& key) const {
    auto ok = crypto::verify(key, body.encode(), signature);
    if (!ok) ok.error().message = std::string(T::kName) + ": " + ok.error().message;
    return ok;
  }

  Json to_json() const {
    Json j = body.to_json();
    j["signature"] = signature.to_text();
    return j;
  }

  static Result<Signed> from_json(const Json& j) {
    auto body = T::from_json(j);
    if (!body) return std::unexpected(body.error());
    FieldReader r(j, T::kName);
    auto signature = r.signature("signature");
    if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
    return Signed{std::move(*body), signature};
  }
};

template <class T>
Signed<T> sign(const crypto::SigningKey& key, T body) {
  auto signature = key.sign(body.encode());
  return Signed<T>{std::move(body), signature};
}

// Reads field `name` of j as a Signed<T>.
template <class T>
Result<Signed<T>> read_signed(const Json& j, const char* name) {
  FieldReader r(j, "message");
  const Json& inner = r.object(name);
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  return Signed<T>::from_json(inner);
}

// Reads field `name` of j as a Signed<T> and checks that key signed it: how a party takes in a
// statement whose signer it knows. malformed for a bad field, bad_signature for another signer.
template <class T>
Result<Signed<T>> read_verified(const Json& j, const char* name, const crypto::VerifyKey& key) {
  auto statement = read_signed<T>(j, name);
  if (!statement) return statement;
  if (auto ok = statement->verify(key); !ok) return std::unexpected(ok.error());
  return statement;
}

template <crypto::Purpose P>
struct Endorsement {
  using Self = Endorsement;
  static constexpr crypto::Purpose kPurpose = P;
  static constexpr const char* kName = "endorsement";
  ECASH_DERIVED_FORMS(Endorsement)

  Id128 request_id;
  std::vector<crypto::Digest> endorsed;
  static constexpr auto fields() {
    return std::tuple{Field<Self, Id128>{"request_id", &Self::request_id},
                      Field<Self, std::vector<crypto::Digest>>{"endorsed", &Self::endorsed}};
  }
};

// An endorsement by key of exactly these digests under purpose P.
template <crypto::Purpose P>
Signed<Endorsement<P>> endorse(const crypto::SigningKey& key, const Id128& request_id,
                               std::vector<crypto::Digest> endorsed) {
  return sign(key, Endorsement<P>{request_id, std::move(endorsed)});
}

// bad_signature unless e is key's endorsement of exactly `expected` for request_id.
template <crypto::Purpose P>
Status check_endorsement(const Signed<Endorsement<P>>& e, const crypto::VerifyKey& key,
                         const Id128& request_id, const std::vector<crypto::Digest>& expected) {
  if (e.body.request_id != request_id || e.body.endorsed != expected) {
    return fail(ErrorCode::bad_signature,
                std::string(crypto::to_string(P)) + ": endorses something else");
  }
  return e.verify(key);
}

// A statement and the endorsement of it that came with it.
template <class T, class E>
struct Endorsed {
  Signed<T> statement;
  Signed<E> endorsement;
};

// Reads field `name` of j, signed by key, with field `by`: endorser's endorsement of exactly its
// digest for request_id. How a device takes in an answer one role made and the center
// countersigned. malformed for a bad field, bad_signature for any other signer or endorsement.
template <class T, class E>
Result<Endorsed<T, E>> read_endorsed(const Json& j, const char* name, const crypto::VerifyKey& key,
                                     const char* by, const crypto::VerifyKey& endorser,
                                     const Id128& request_id) {
  auto statement = read_verified<T>(j, name, key);
  if (!statement) return std::unexpected(statement.error());
  auto endorsement = read_signed<E>(j, by);
  if (!endorsement) return std::unexpected(endorsement.error());
  if (auto ok = check_endorsement(*endorsement, endorser, request_id, {statement->digest()}); !ok) {
    return std::unexpected(ok.error());
  }
  return Endorsed<T, E>{std::move(*statement), std::move(*endorsement)};
}

}  // namespace ecash::protocol
