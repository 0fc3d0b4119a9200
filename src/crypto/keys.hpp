// A party's keys: Ed25519 to sign statements, X25519 to receive sealed fields (libsodium sealed
// boxes, so an intermediary relays what it cannot read). Secret keys are move-only and wiped on
// destruction. Public values are plain, copyable and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/error.hpp"
#include "crypto/canonical.hpp"
#include "crypto/secret.hpp"

namespace ecash::crypto {

// A fixed-size public value with a base64url text form.
template <std::size_t N>
class PublicBytes {
 public:
  static constexpr std::size_t kSize = N;
  PublicBytes() = default;
  explicit PublicBytes(const std::array<std::uint8_t, N>& bytes) : m_bytes(bytes) {}

  // bad_encoding unless exactly N bytes.
  static Result<PublicBytes> from_bytes(ByteView bytes);
  static Result<PublicBytes> parse(std::string_view text);
  std::string to_text() const;

  const std::array<std::uint8_t, N>& bytes() const { return m_bytes; }
  friend bool operator==(const PublicBytes&, const PublicBytes&) = default;

 private:
  std::array<std::uint8_t, N> m_bytes{};
};

using VerifyKey = PublicBytes<32>;        // Ed25519 public key
using Signature = PublicBytes<64>;        // Ed25519 signature
using SealingPublicKey = PublicBytes<32>; // X25519 public key

class SigningKey {
 public:
  static SigningKey generate();
  // The 32-byte seed is the whole secret; bad_encoding for another size.
  static Result<SigningKey> from_seed(ByteView seed);

  const VerifyKey& verify_key() const { return m_public; }
  // The seed, for key files and for OpenSSL (which takes Ed25519 keys as raw seeds).
  ByteView seed() const { return ByteView(m_secret.data(), 32); }

  Signature sign(const CanonicalWriter& statement) const;

 private:
  SigningKey() = default;
  SecretBytes<64> m_secret;  // libsodium's form: seed then public key
  VerifyKey m_public;
};

// bad_signature unless signature was made by key over exactly this statement (same purpose too).
Status verify(const VerifyKey& key, const CanonicalWriter& statement, const Signature& signature);
// The same over an already encoded statement (as CanonicalWriter::data() gave it).
Status verify_encoded(const VerifyKey& key, ByteView encoded, const Signature& signature);

class SealingKey {
 public:
  static SealingKey generate();
  static Result<SealingKey> from_secret(ByteView secret);

  const SealingPublicKey& public_key() const { return m_public; }
  ByteView secret() const { return ByteView(m_secret.data(), m_secret.size()); }

  // unseal_failed when the box was not sealed to this key or was changed.
  Result<Bytes> open(ByteView sealed) const;

 private:
  SealingKey() = default;
  SecretBytes<32> m_secret;
  SealingPublicKey m_public;
};

// Anyone can seal to a public key; only its holder can open.
Bytes seal(const SealingPublicKey& to, ByteView plaintext);

// The two keys every party holds, and their file: text, mode 0600, never overwritten.
struct PartyKeys {
  SigningKey signing;
  SealingKey sealing;

  static PartyKeys generate();
};

// How many of each public-key operation this process has made (what the load generator's floor
// counts one payment by). Relaxed counters: cheap, and exact once the threads are done.
struct OperationCounts {
  std::uint64_t signs = 0, verifies = 0, seals = 0, opens = 0;
};
OperationCounts operation_counts();

// conflict if path exists; io_error on failure. The file is written whole or not at all, sealed
// with the process's passphrase when it has one (secret_file.hpp).
Status write_key_file(const std::string& path, const PartyKeys& keys);
// insecure_permissions if group or others may read it; malformed for a damaged file;
// bad_passphrase for a sealed one that the passphrase given does not open.
Result<PartyKeys> read_key_file(const std::string& path);

}  // namespace ecash::crypto
