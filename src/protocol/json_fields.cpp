#include "protocol/json_fields.hpp"

#include "crypto/encoding.hpp"

namespace ecash::protocol {

Result<Json> parse_outside_json(std::string_view text, std::string_view what) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return fail(ErrorCode::malformed, std::string(what) + " nests deeper than " +
                                              std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::malformed, std::string(what) + " is not JSON");
  return j;
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

bool FieldReader::boolean(const char* name) {
  const Json* v = field(name);
  if (v == nullptr) return false;
  if (!v->is_boolean()) {
    fail_field(name, ErrorCode::malformed, "expected true or false");
    return false;
  }
  return v->get<bool>();
}

Id128 FieldReader::id(const char* name) {
  const auto s = text(name);
  if (m_error) return {};
  auto parsed = Id128::parse(s);
  if (!parsed) {
    fail_field(name, ErrorCode::malformed, parsed.error().message);
    return {};
  }
  return *parsed;
}

Id128 FieldReader::optional_id(const char* name) {
  if (!has(name)) return {};
  return id(name);
}

Amount FieldReader::amount(const char* name) {
  const auto s = text(name);
  if (m_error) return Amount::zero(kPlaceholderCurrency);
  auto parsed = Amount::parse(s);
  if (!parsed) {
    fail_field(name, parsed.error().code, parsed.error().message);
    return Amount::zero(kPlaceholderCurrency);
  }
  return *parsed;
}

Bytes FieldReader::bytes(const char* name) {
  const auto s = text(name);
  if (m_error) return {};
  auto parsed = crypto::base64url_decode(s);
  if (!parsed) {
    fail_field(name, ErrorCode::malformed, parsed.error().message);
    return {};
  }
  return *parsed;
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

crypto::VerifyKey FieldReader::verify_key(const char* name) {
  bool ok = false;
  auto out = fixed_bytes<32>(bytes(name), ok);
  if (!ok) fail_field(name, ErrorCode::malformed, "expected a 32-byte key");
  return crypto::VerifyKey(out);
}

crypto::SealingPublicKey FieldReader::sealing_key(const char* name) {
  bool ok = false;
  auto out = fixed_bytes<32>(bytes(name), ok);
  if (!ok) fail_field(name, ErrorCode::malformed, "expected a 32-byte key");
  return crypto::SealingPublicKey(out);
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

std::string to_text(const Bytes& bytes) { return crypto::base64url_encode(bytes); }
std::string to_text(const crypto::Digest& digest) { return crypto::base64url_encode(digest); }

}  // namespace ecash::protocol
