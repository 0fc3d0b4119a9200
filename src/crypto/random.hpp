// Secure randomness from the operating system (libsodium's randombytes). Thread-safe.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/id.hpp"
#include "crypto/secret.hpp"

namespace ecash::crypto {

class SecureRandom final : public RandomSource {
 public:
  SecureRandom();
  void fill(std::span<std::uint8_t> out) override;
};

Bytes random_bytes(std::size_t count);

// N random bytes that are wiped when they die: a new key's seed.
void fill_random(std::span<std::uint8_t> out);
template <std::size_t N>
SecretBytes<N> random_secret() {
  SecretBytes<N> secret;
  fill_random(secret.span());
  return secret;
}

// Makes libsodium ready; every entry point of this layer calls it, so callers need not.
void ensure_sodium();

}  // namespace ecash::crypto
