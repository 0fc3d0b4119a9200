// Hashes: BLAKE2b-256 for our own structures, SHA-256 where outside tools expect it. Thread-safe.
#pragma once

#include <array>
#include <cstdint>

#include "base/bytes.hpp"

namespace ecash::crypto {

using Digest = std::array<std::uint8_t, 32>;

Digest blake2b_256(ByteView data);
// Keyed BLAKE2b-256 (a MAC or a domain-separated hash); key of 16 to 64 bytes.
Digest blake2b_256_keyed(ByteView key, ByteView data);
Digest sha256(ByteView data);
// HMAC-SHA-256 (RFC 2104), for receivers outside the system (a shop's webhook).
Digest hmac_sha256(ByteView key, ByteView data);

// Comparison whose time does not depend on where the inputs differ.
bool equal_constant_time(ByteView a, ByteView b);

}  // namespace ecash::crypto
