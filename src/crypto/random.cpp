#include "crypto/random.hpp"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

#include "crypto/secret.hpp"

namespace ecash::crypto {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Without a working libsodium no key is safe to make: this is not a recoverable state.
    if (sodium_init() < 0) std::abort();
  });
}

void wipe(std::span<std::uint8_t> bytes) { sodium_memzero(bytes.data(), bytes.size()); }

SecureRandom::SecureRandom() { ensure_sodium(); }

void SecureRandom::fill(std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); }

void fill_random(std::span<std::uint8_t> out) {
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

Bytes random_bytes(std::size_t count) {
  Bytes out(count);
  fill_random(out);
  return out;
}

}  // namespace ecash::crypto
