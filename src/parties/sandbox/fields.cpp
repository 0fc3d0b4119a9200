#include "parties/sandbox/fields.hpp"

#include <exception>
#include <nlohmann/json.hpp>

namespace ecash::sandbox {
namespace {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (byte < 0x80) {
      extra = 0;
    } else if (byte >= 0xC2 && byte <= 0xDF) {
      extra = 1;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      extra = 2;
      if (byte == 0xE0) low = 0xA0;
      if (byte == 0xED) high = 0x9F;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      extra = 3;
      if (byte == 0xF0) low = 0x90;
      if (byte == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i - 1 < extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xBF;
      if (next < lo || next > hi) return false;
    }
    i += extra + 1;
  }
  return true;
}

Status guard_body(const std::function<Status(store::Transaction&)>& body, store::Transaction& tx) {
  try {
    return body(tx);
  } catch (const std::exception& e) {
    return fail(ErrorCode::internal, std::string("exception in a transaction: ") + e.what());
  }
}

}  // namespace

Result<std::string> text_field(const Json& body, std::string_view name) {
  if (!body.is_object()) return fail(ErrorCode::malformed, "request body is not a JSON object");
  const auto it = body.find(std::string(name));
  if (it == body.end()) return fail(ErrorCode::malformed, "missing field " + std::string(name));
  if (!it->is_string()) {
    return fail(ErrorCode::malformed, "field " + std::string(name) + " is not a string");
  }
  return it->get<std::string>();
}

Result<Amount> positive_amount_field(const Json& body, std::string_view name) {
  auto text = text_field(body, name);
  if (!text) return std::unexpected(text.error());
  auto amount = Amount::parse(*text);
  if (!amount) return amount;
  if (!amount->is_positive()) {
    return fail(ErrorCode::invalid_argument,
                std::string(name) + " must be positive, not " + amount->to_string());
  }
  return amount;
}

Result<std::string> request_id_field(const Json& body) {
  auto id = text_field(body, "request_id");
  if (!id) return id;
  if (id->empty() || id->size() > kMaxRequestIdSize) {
    return fail(ErrorCode::invalid_argument, "request_id has 1 to 128 characters");
  }
  for (char c : *id) {
    if (c <= ' ' || c > '~') {
      return fail(ErrorCode::invalid_argument, "request_id has only printable ASCII characters");
    }
  }
  return id;
}

Status check_plain_text(std::string_view field, std::string_view text, std::size_t max_size) {
  if (text.size() > max_size) {
    return fail(ErrorCode::invalid_argument,
                std::string(field) + " has at most " + std::to_string(max_size) + " bytes");
  }
  if (!is_utf8(text)) {
    return fail(ErrorCode::invalid_argument, std::string(field) + " is not valid UTF-8");
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return fail(ErrorCode::invalid_argument, std::string(field) + " has a control character");
    }
  }
  return {};
}

crypto::Digest request_digest(std::initializer_list<std::string_view> fields) {
  Bytes encoded;
  for (std::string_view field : fields) {
    std::uint64_t size = field.size();
    for (int shift = 56; shift >= 0; shift -= 8) {
      encoded.push_back(static_cast<std::uint8_t>(size >> shift));
    }
    encoded.insert(encoded.end(), field.begin(), field.end());
  }
  return crypto::sha256(encoded);
}

Result<Json> guarded(const std::function<Result<Json>()>& route) {
  try {
    return route();
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::malformed, std::string("malformed JSON: ") + e.what());
  } catch (const std::exception& e) {
    return fail(ErrorCode::internal, e.what());
  }
}

Status write(store::Database& db, const std::function<Status(store::Transaction&)>& body) {
  return db.transact([&](store::Transaction& tx) { return guard_body(body, tx); });
}

Status read(store::Database& db, const std::function<Status(store::Transaction&)>& body) {
  return db.read([&](store::Transaction& tx) { return guard_body(body, tx); });
}

Result<Amount> amount_at(const store::Row& row, std::size_t currency_column,
                         std::size_t minor_column) {
  auto code = store::text_at(row, currency_column);
  auto minor = store::int_at(row, minor_column);
  if (!code || !minor) return fail(ErrorCode::internal, "stored amount has the wrong type");
  auto currency = Currency::from_code(*code);
  if (!currency) return fail(ErrorCode::internal, "stored currency is damaged: " + *code);
  auto amount = Amount::from_minor(*currency, *minor);
  if (!amount) return fail(ErrorCode::internal, "stored amount is out of range");
  return amount;
}

std::string sequence_id(std::string_view prefix, std::int64_t sequence) {
  constexpr std::size_t kDigits = 6;
  std::string digits = std::to_string(sequence);
  if (digits.size() < kDigits) digits.insert(0, kDigits - digits.size(), '0');
  return std::string(prefix) + "-" + digits;
}

Result<std::int64_t> next_sequence(store::Transaction& tx, std::string_view table) {
  auto row = tx.query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM " + std::string(table));
  if (!row) return std::unexpected(row.error());
  if (!*row) return fail(ErrorCode::internal, "no sequence row");
  return store::int_at(**row, 0);
}

}  // namespace ecash::sandbox
