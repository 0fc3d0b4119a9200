#include "crypto/hash.hpp"

#include <sodium.h>

#include <cassert>

#include "crypto/random.hpp"

namespace ecash::crypto {

Digest blake2b_256(ByteView data) {
  ensure_sodium();
  Digest out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

Digest blake2b_256_keyed(ByteView key, ByteView data) {
  ensure_sodium();
  assert(key.size() >= crypto_generichash_KEYBYTES_MIN &&
         key.size() <= crypto_generichash_KEYBYTES_MAX);
  Digest out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
  return out;
}

Digest hmac_sha256(ByteView key, ByteView data) {
  ensure_sodium();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, data.data(), data.size());
  Digest out{};
  crypto_auth_hmacsha256_final(&state, out.data());
  return out;
}

Digest sha256(ByteView data) {
  ensure_sodium();
  Digest out{};
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

bool equal_constant_time(ByteView a, ByteView b) {
  ensure_sodium();
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ecash::crypto
