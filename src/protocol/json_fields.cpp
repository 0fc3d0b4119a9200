#include "protocol/json_fields.hpp"

#include "crypto/encoding.hpp"

#include <type_traits>

namespace ecash::protocol {

namespace {
// Thrown by the parse's callback at the first bound crossed, to stop it there.
struct Crossed {
  ErrorCode code;  // malformed (depth) or too_large (values)
};
}  // namespace

Result<Json> parse_outside_json(std::string_view text, std::string_view what, JsonBounds bounds) {
  // One pass: the parser calls back for each value as it meets it (a container when it opens,
  // with the number of containers around it), and is stopped at the first bound crossed, having
  // built at most max_values values.
  std::size_t values = 0;
  const auto count = [&](int depth, Json::parse_event_t event, Json&) {
    using Event = Json::parse_event_t;
    const bool opens = event == Event::object_start || event == Event::array_start;
    if (opens && depth + 1 > bounds.max_depth) throw Crossed{ErrorCode::malformed};
    if ((opens || event == Event::value) && ++values > bounds.max_values) {
      throw Crossed{ErrorCode::too_large};
    }
    return true;
  };
  try {
    Json j = Json::parse(text, count, false);
    if (j.is_discarded()) return fail(ErrorCode::malformed, std::string(what) + " is not JSON");
    return j;
  } catch (const Crossed& crossed) {
    if (crossed.code == ErrorCode::malformed) {
      return fail(ErrorCode::malformed, std::string(what) + " nests deeper than " +
                                            std::to_string(bounds.max_depth) + " levels");
    }
    return fail(ErrorCode::too_large, std::string(what) + " holds more than " +
                                          std::to_string(bounds.max_values) + " JSON values");
  }
}

Json parse_limited(std::string_view text) {
  auto j = parse_outside_json(text, "");
  return j ? std::move(*j) : Json(Json::value_t::discarded);
}

namespace {
const Json kNull = nullptr;
const Currency kPlaceholderCurrency = Currency::from_code("EUR").value();
}  // namespace

FieldReader::FieldReader(const Json& object, std::string context)
    : m_object(object), m_context(std::move(context)) {
  if (!m_object.is_object()) {
    m_error = Error{ErrorCode::malformed, m_context + ": expected a JSON object"};
  }
}

bool FieldReader::has(const char* name) const {
  return m_object.is_object() && m_object.contains(name) && !m_object[name].is_null();
}

const Json* FieldReader::field(const char* name) {
  if (m_error) return nullptr;
  auto it = m_object.find(name);
  if (it == m_object.end()) {
    fail_field(name, ErrorCode::malformed, "missing");
    return nullptr;
  }
  return &*it;
}

void FieldReader::fail_field(const char* name, ErrorCode code, const std::string& why) {
  if (!m_error) m_error = Error{code, m_context + "." + name + ": " + why};
}

Status FieldReader::status() const {
  if (m_error) return std::unexpected(*m_error);
  return {};
}

std::string FieldReader::text(const char* name) {
  const Json* v = field(name);
  if (v == nullptr) return {};
  if (!v->is_string()) {
    fail_field(name, ErrorCode::malformed, "expected a string");
    return {};
  }
  return v->get<std::string>();
}

std::int64_t FieldReader::integer(const char* name) {
  const Json* v = field(name);
  if (v == nullptr) return 0;
  if (!v->is_number_integer()) {
    fail_field(name, ErrorCode::malformed, "expected an integer");
    return 0;
  }
  return v->get<std::int64_t>();
}

std::uint64_t FieldReader::count(const char* name) {
  const auto value = integer(name);
  if (value < 0) {
    fail_field(name, ErrorCode::malformed, "negative");
    return 0;
  }
  return static_cast<std::uint64_t>(value);
}

bool FieldReader::boolean(const char* name) {
  const Json* v = field(name);
  if (v == nullptr) return false;
  if (!v->is_boolean()) {
    fail_field(name, ErrorCode::malformed, "expected true or false");
    return false;
  }
  return v->get<bool>();
}

template <class T, class Parse>
T FieldReader::parsed_text(const char* name, const Parse& parse, T placeholder) {
  const auto s = text(name);
  if (m_error) return placeholder;
  auto value = parse(s);
  if (!value) {
    // A bad amount keeps its own code (bad_amount, unknown_currency, ...); the rest is malformed.
    const bool amount = std::is_same_v<T, Amount>;
    fail_field(name, amount ? value.error().code : ErrorCode::malformed, value.error().message);
    return placeholder;
  }
  return std::move(*value);
}

Id128 FieldReader::id(const char* name) {
  return parsed_text(name, [](const std::string& s) { return Id128::parse(s); }, Id128{});
}

Id128 FieldReader::optional_id(const char* name) {
  if (!has(name)) return {};
  return id(name);
}

Amount FieldReader::amount(const char* name) {
  return parsed_text(name, [](const std::string& s) { return Amount::parse(s); },
                     Amount::zero(kPlaceholderCurrency));
}

Bytes FieldReader::bytes(const char* name) {
  return parsed_text(name, [](const std::string& s) { return crypto::base64url_decode(s); },
                     Bytes{});
}

namespace {
template <std::size_t N>
std::array<std::uint8_t, N> fixed_bytes(const Bytes& raw, bool& ok) {
  std::array<std::uint8_t, N> out{};
  ok = raw.size() == N;
  if (ok) std::copy(raw.begin(), raw.end(), out.begin());
  return out;
}
}  // namespace

crypto::Digest FieldReader::digest(const char* name) {
  bool ok = false;
  auto out = fixed_bytes<32>(bytes(name), ok);
  if (!ok) fail_field(name, ErrorCode::malformed, "expected 32 bytes");
  return out;
}

crypto::Signature FieldReader::signature(const char* name) {
  bool ok = false;
  auto out = fixed_bytes<64>(bytes(name), ok);
  if (!ok) fail_field(name, ErrorCode::malformed, "expected a 64-byte signature");
  return crypto::Signature(out);
}

crypto::PublicBytes<32> FieldReader::key(const char* name) {
  bool ok = false;
  auto out = fixed_bytes<32>(bytes(name), ok);
  if (!ok) fail_field(name, ErrorCode::malformed, "expected a 32-byte key");
  return crypto::PublicBytes<32>(out);
}

std::vector<crypto::Digest> FieldReader::digests(const char* name) {
  const Json* v = field(name);
  if (v == nullptr) return {};
  if (!v->is_array() || v->size() > kMaxDigests) {
    fail_field(name, ErrorCode::malformed, "expected a list of digests");
    return {};
  }
  std::vector<crypto::Digest> out;
  for (const auto& item : *v) {
    bool ok = item.is_string();
    Bytes raw;
    if (ok) {
      auto decoded = crypto::base64url_decode(item.get<std::string>());
      ok = decoded.has_value();
      if (ok) raw = std::move(*decoded);
    }
    const auto digest = fixed_bytes<32>(raw, ok);
    if (!ok) {
      fail_field(name, ErrorCode::malformed, "expected a list of 32-byte digests");
      return {};
    }
    out.push_back(digest);
  }
  return out;
}

const Json& FieldReader::object(const char* name) {
  const Json* v = field(name);
  if (v == nullptr) return kNull;
  if (!v->is_object()) {
    fail_field(name, ErrorCode::malformed, "expected an object");
    return kNull;
  }
  return *v;
}

std::string to_text(const Bytes& bytes) {
  return crypto::base64url_encode(bytes);
}
std::string to_text(const crypto::Digest& digest) {
  return crypto::base64url_encode(digest);
}

}  // namespace ecash::protocol
