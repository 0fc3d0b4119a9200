#include "crypto/encoding.hpp"

#include <sodium.h>

#include "crypto/random.hpp"

namespace ecash::crypto {

namespace {
constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
}

std::string base64url_encode(ByteView data) {
  ensure_sodium();
  std::string out(sodium_base64_encoded_len(data.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), data.data(), data.size(), kVariant);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

Result<Bytes> base64url_decode(std::string_view text) {
  ensure_sodium();
  Bytes out(text.size() * 3 / 4 + 1);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, &end,
                        kVariant) != 0 ||
      end != text.data() + text.size()) {
    return fail(ErrorCode::bad_encoding, "not base64url");
  }
  out.resize(length);
  // A second spelling of the same bytes (stray trailing bits) is not canonical.
  if (base64url_encode(out) != text) return fail(ErrorCode::bad_encoding, "non-canonical base64url");
  return out;
}

std::string hex_encode(ByteView data) {
  ensure_sodium();
  std::string out(data.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data.data(), data.size());
  out.resize(data.size() * 2);
  return out;
}

Result<Bytes> hex_decode(std::string_view text) {
  ensure_sodium();
  if (text.size() % 2 != 0) return fail(ErrorCode::bad_encoding, "odd-length hex");
  Bytes out(text.size() / 2);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, &end) !=
          0 ||
      end != text.data() + text.size() || length != out.size()) {
    return fail(ErrorCode::bad_encoding, "not hex");
  }
  return out;
}

}  // namespace ecash::crypto
