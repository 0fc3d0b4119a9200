// A statement's fields, listed once: ECASH_STATEMENT (at the end) declares a statement's members
// in the order they are signed. Its canonical encoding (what the signature covers), its JSON form
// and its reader are all derived from that one list, so a field cannot be sent without being
// signed, or signed without being sent (STYLE.md, "Say it once"). Each field's type has exactly one
// encoding and one JSON form, chosen by overloads below. Thread-safe: plain functions on values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "base/amount.hpp"
#include "base/id.hpp"
#include "crypto/canonical.hpp"
#include "crypto/hash.hpp"
#include "crypto/keys.hpp"
#include "protocol/json_fields.hpp"

namespace ecash::protocol {

// One member of statement T, with its JSON name.
template <class T, class M>
struct Field {
  const char* name;
  M T::*member;
};

// A member's value before it is set: zero, empty, or (for an amount) zero euros.
template <class T>
T field_default() {
  if constexpr (std::is_same_v<T, Amount>) {
    return Amount::zero(Currency::from_code("EUR").value());
  } else {
    return T{};
  }
}

// --- How each type of field is signed, written to JSON and read back ---

inline void put(crypto::CanonicalWriter& w, const Id128& v) {
  w.id(v);
}
inline void put(crypto::CanonicalWriter& w, std::int64_t v) {
  w.i64(v);
}
inline void put(crypto::CanonicalWriter& w, std::uint64_t v) {
  w.u64(v);
}
inline void put(crypto::CanonicalWriter& w, bool v) {
  w.boolean(v);
}
inline void put(crypto::CanonicalWriter& w, const std::string& v) {
  w.text(v);
}
inline void put(crypto::CanonicalWriter& w, const Bytes& v) {
  w.bytes(v);
}
inline void put(crypto::CanonicalWriter& w, const crypto::Digest& v) {
  w.fixed(v);
}
inline void put(crypto::CanonicalWriter& w, const crypto::PublicBytes<32>& v) {
  w.fixed(v.bytes());
}
inline void put(crypto::CanonicalWriter& w, const Amount& v) {
  w.amount(v);
}
// Present or not (a flag), then the digest.
inline void put(crypto::CanonicalWriter& w, const std::optional<crypto::Digest>& v) {
  w.boolean(v.has_value());
  if (v) w.fixed(*v);
}
// A count, then each digest.
inline void put(crypto::CanonicalWriter& w, const std::vector<crypto::Digest>& v) {
  w.u32(static_cast<std::uint32_t>(v.size()));
  for (const auto& d : v) w.fixed(d);
}

inline Json json_value(const Id128& v) {
  return v.to_string();
}
inline Json json_value(std::int64_t v) {
  return v;
}
inline Json json_value(std::uint64_t v) {
  return v;
}
inline Json json_value(bool v) {
  return v;
}
inline Json json_value(const std::string& v) {
  return v;
}
inline Json json_value(const Bytes& v) {
  return to_text(v);
}
inline Json json_value(const crypto::Digest& v) {
  return to_text(v);
}
inline Json json_value(const crypto::PublicBytes<32>& v) {
  return v.to_text();
}
inline Json json_value(const Amount& v) {
  return v.to_string();
}
Json json_value(const std::vector<crypto::Digest>& v);

template <class V>
void set_json(Json& j, const char* name, const V& v) {
  j[name] = json_value(v);
}
// An absent optional is an absent key.
inline void set_json(Json& j, const char* name, const std::optional<crypto::Digest>& v) {
  if (v) j[name] = to_text(*v);
}

inline void get(FieldReader& r, const char* name, Id128& out) {
  out = r.id(name);
}
inline void get(FieldReader& r, const char* name, std::int64_t& out) {
  out = r.integer(name);
}
inline void get(FieldReader& r, const char* name, std::uint64_t& out) {
  out = r.count(name);
}
inline void get(FieldReader& r, const char* name, bool& out) {
  out = r.boolean(name);
}
inline void get(FieldReader& r, const char* name, std::string& out) {
  out = r.text(name);
}
inline void get(FieldReader& r, const char* name, Bytes& out) {
  out = r.bytes(name);
}
inline void get(FieldReader& r, const char* name, crypto::Digest& out) {
  out = r.digest(name);
}
inline void get(FieldReader& r, const char* name, crypto::PublicBytes<32>& out) {
  out = r.key(name);
}
inline void get(FieldReader& r, const char* name, Amount& out) {
  out = r.amount(name);
}
inline void get(FieldReader& r, const char* name, std::optional<crypto::Digest>& out) {
  if (r.has(name)) out = r.digest(name);
}
inline void get(FieldReader& r, const char* name, std::vector<crypto::Digest>& out) {
  out = r.digests(name);
}

// --- Whole statements, from their field list ---

template <class T>
crypto::CanonicalWriter encode_fields(const T& value) {
  crypto::CanonicalWriter w(T::kPurpose);
  std::apply([&](const auto&... f) { (put(w, value.*(f.member)), ...); }, T::fields());
  return w;
}

template <class T>
Json fields_to_json(const T& value) {
  Json j = Json::object();
  std::apply([&](const auto&... f) { (set_json(j, f.name, value.*(f.member)), ...); }, T::fields());
  return j;
}

// The statement in j, or the first field that is missing or malformed (named "<kName>.<field>").
template <class T>
Result<T> fields_from_json(const Json& j) {
  FieldReader r(j, T::kName);
  T out{};
  std::apply([&](const auto&... f) { (get(r, f.name, out.*(f.member)), ...); }, T::fields());
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  return out;
}

}  // namespace ecash::protocol

// ECASH_STATEMENT(Type, purpose, (T1, name1), (T2, name2), ...) defines the statement struct Type
// of purpose code Purpose::purpose: its members in signing order (at most 12), each with a default
// value, and its encode(), to_json() and from_json(), all from that one list. The struct is an
// aggregate: build it as Type{.name1 = ..., .name2 = ...}.
#define ECASH_FE_1_(m, x) m(x)
#define ECASH_FE_2_(m, x, ...) m(x) ECASH_FE_1_(m, __VA_ARGS__)
#define ECASH_FE_3_(m, x, ...) m(x) ECASH_FE_2_(m, __VA_ARGS__)
#define ECASH_FE_4_(m, x, ...) m(x) ECASH_FE_3_(m, __VA_ARGS__)
#define ECASH_FE_5_(m, x, ...) m(x) ECASH_FE_4_(m, __VA_ARGS__)
#define ECASH_FE_6_(m, x, ...) m(x) ECASH_FE_5_(m, __VA_ARGS__)
#define ECASH_FE_7_(m, x, ...) m(x) ECASH_FE_6_(m, __VA_ARGS__)
#define ECASH_FE_8_(m, x, ...) m(x) ECASH_FE_7_(m, __VA_ARGS__)
#define ECASH_FE_9_(m, x, ...) m(x) ECASH_FE_8_(m, __VA_ARGS__)
#define ECASH_FE_10_(m, x, ...) m(x) ECASH_FE_9_(m, __VA_ARGS__)
#define ECASH_FE_11_(m, x, ...) m(x) ECASH_FE_10_(m, __VA_ARGS__)
#define ECASH_FE_12_(m, x, ...) m(x) ECASH_FE_11_(m, __VA_ARGS__)
#define ECASH_FE_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, name, ...) name
#define ECASH_FOR_EACH_(m, ...)                                                                   \
  ECASH_FE_PICK_(__VA_ARGS__, ECASH_FE_12_, ECASH_FE_11_, ECASH_FE_10_, ECASH_FE_9_, ECASH_FE_8_, \
                 ECASH_FE_7_, ECASH_FE_6_, ECASH_FE_5_, ECASH_FE_4_, ECASH_FE_3_, ECASH_FE_2_,    \
                 ECASH_FE_1_)                                                                     \
  (m, __VA_ARGS__)
#define ECASH_MEMBER_(pair) ECASH_MEMBER_I_ pair
#define ECASH_MEMBER_I_(type, name) type name = ::ecash::protocol::field_default<type>();
#define ECASH_FIELD_OF_(pair) ECASH_FIELD_OF_I_ pair
#define ECASH_FIELD_OF_I_(type, name) ::ecash::protocol::Field<Self, type>{#name, &Self::name},

// encode(), to_json() and from_json() of a statement Type, derived from its fields().
#define ECASH_DERIVED_FORMS(Type)                                            \
  ::ecash::crypto::CanonicalWriter encode() const {                          \
    return ::ecash::protocol::encode_fields(*this);                          \
  }                                                                          \
  ::ecash::protocol::Json to_json() const {                                  \
    return ::ecash::protocol::fields_to_json(*this);                         \
  }                                                                          \
  static ::ecash::Result<Type> from_json(const ::ecash::protocol::Json& j) { \
    return ::ecash::protocol::fields_from_json<Type>(j);                     \
  }

#define ECASH_STATEMENT(Type, purpose, ...)                                                 \
  struct Type {                                                                             \
    using Self = Type;                                                                      \
    static constexpr ::ecash::crypto::Purpose kPurpose = ::ecash::crypto::Purpose::purpose; \
    static constexpr const char* kName = #purpose;                                          \
    ECASH_FOR_EACH_(ECASH_MEMBER_, __VA_ARGS__)                                             \
    static constexpr auto fields() {                                                        \
      return std::tuple{ECASH_FOR_EACH_(ECASH_FIELD_OF_, __VA_ARGS__)};                     \
    }                                                                                       \
    ECASH_DERIVED_FORMS(Type)                                                               \
  }
