// Text forms of binary values: base64url without padding for keys, signatures and sealed blobs;
// hex for digests people compare by eye. Decoders accept only the canonical form. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/error.hpp"

namespace ecash::crypto {

std::string base64url_encode(ByteView data);
// bad_encoding for padding, whitespace, characters outside the URL-safe alphabet, or non-zero
// trailing bits (a second spelling of the same bytes).
Result<Bytes> base64url_decode(std::string_view text);

std::string hex_encode(ByteView data);
Result<Bytes> hex_decode(std::string_view text);

}  // namespace ecash::crypto
