#include "crypto/keys.hpp"

#include <atomic>

#include <sodium.h>

#include <algorithm>
#include <sstream>

#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "crypto/secret_file.hpp"

namespace ecash::crypto {

template <std::size_t N>
Result<PublicBytes<N>> PublicBytes<N>::from_bytes(ByteView bytes) {
  if (bytes.size() != N) {
    return fail(ErrorCode::bad_encoding,
                "expected " + std::to_string(N) + " bytes, got " + std::to_string(bytes.size()));
  }
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return PublicBytes(out);
}

template <std::size_t N>
Result<PublicBytes<N>> PublicBytes<N>::parse(std::string_view text) {
  auto raw = base64url_decode(text);
  if (!raw) return std::unexpected(raw.error());
  return from_bytes(*raw);
}

template <std::size_t N>
std::string PublicBytes<N>::to_text() const {
  return base64url_encode(m_bytes);
}

template class PublicBytes<32>;
template class PublicBytes<64>;

SigningKey SigningKey::generate() {
  const auto seed = random_secret<32>();
  return from_seed(ByteView(seed.data(), seed.size())).value();
}

Result<SigningKey> SigningKey::from_seed(ByteView seed) {
  ensure_sodium();
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return fail(ErrorCode::bad_encoding, "an Ed25519 seed is 32 bytes");
  }
  SigningKey key;
  std::array<std::uint8_t, 32> pub{};
  crypto_sign_seed_keypair(pub.data(), key.m_secret.data(), seed.data());
  key.m_public = VerifyKey(pub);
  return key;
}

namespace {
struct Counters {
  std::atomic<std::uint64_t> signs{0}, verifies{0}, seals{0}, opens{0};
};
Counters g_counters;
}  // namespace

OperationCounts operation_counts() {
  return {g_counters.signs.load(std::memory_order_relaxed),
          g_counters.verifies.load(std::memory_order_relaxed),
          g_counters.seals.load(std::memory_order_relaxed),
          g_counters.opens.load(std::memory_order_relaxed)};
}

Signature SigningKey::sign(const CanonicalWriter& statement) const {
  g_counters.signs.fetch_add(1, std::memory_order_relaxed);
  std::array<std::uint8_t, 64> sig{};
  const auto msg = statement.data();
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), m_secret.data());
  return Signature(sig);
}

Status verify_encoded(const VerifyKey& key, ByteView encoded, const Signature& signature) {
  g_counters.verifies.fetch_add(1, std::memory_order_relaxed);
  ensure_sodium();
  if (crypto_sign_verify_detached(signature.bytes().data(), encoded.data(), encoded.size(),
                                  key.bytes().data()) != 0) {
    return fail(ErrorCode::bad_signature, "signature does not verify");
  }
  return {};
}

Status verify(const VerifyKey& key, const CanonicalWriter& statement, const Signature& signature) {
  auto result = verify_encoded(key, statement.data(), signature);
  if (!result) {
    result.error().message += std::string(" for ") + std::string(to_string(statement.purpose()));
  }
  return result;
}

SealingKey SealingKey::generate() {
  ensure_sodium();
  SealingKey key;
  std::array<std::uint8_t, 32> pub{};
  crypto_box_keypair(pub.data(), key.m_secret.data());
  key.m_public = SealingPublicKey(pub);
  return key;
}

Result<SealingKey> SealingKey::from_secret(ByteView secret) {
  ensure_sodium();
  if (secret.size() != crypto_box_SECRETKEYBYTES) {
    return fail(ErrorCode::bad_encoding, "an X25519 secret key is 32 bytes");
  }
  SealingKey key;
  std::copy(secret.begin(), secret.end(), key.m_secret.data());
  std::array<std::uint8_t, 32> pub{};
  crypto_scalarmult_base(pub.data(), key.m_secret.data());
  key.m_public = SealingPublicKey(pub);
  return key;
}

Bytes seal(const SealingPublicKey& to, ByteView plaintext) {
  g_counters.seals.fetch_add(1, std::memory_order_relaxed);
  ensure_sodium();
  Bytes out(plaintext.size() + crypto_box_SEALBYTES);
  crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), to.bytes().data());
  return out;
}

Result<Bytes> SealingKey::open(ByteView sealed) const {
  g_counters.opens.fetch_add(1, std::memory_order_relaxed);
  if (sealed.size() < crypto_box_SEALBYTES) {
    return fail(ErrorCode::unseal_failed, "sealed box too short");
  }
  Bytes out(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), m_public.bytes().data(),
                           m_secret.data()) != 0) {
    return fail(ErrorCode::unseal_failed, "sealed box is not for this key or was altered");
  }
  return out;
}

PartyKeys PartyKeys::generate() { return {SigningKey::generate(), SealingKey::generate()}; }

namespace {

constexpr std::string_view kKeyFileHeader = "ecash-party-keys-v1";

}  // namespace

Status write_key_file(const std::string& path, const PartyKeys& keys) {
  std::string text(kKeyFileHeader);
  text += "\nsign ";
  text += base64url_encode(keys.signing.seed());
  text += "\nseal ";
  text += base64url_encode(keys.sealing.secret());
  text += '\n';
  auto written = write_secret_file(path, text);
  wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
  if (!written && written.error().code == ErrorCode::conflict) {
    return fail(ErrorCode::conflict, "key file already exists: " + path);
  }
  return written;
}

Result<PartyKeys> read_key_file(const std::string& path) {
  auto text = read_secret_file(path);
  if (!text) return std::unexpected(text.error());
  std::istringstream in(*text);
  wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(text->data()), text->size()));
  std::string header, sign_label, sign_text, seal_label, seal_text;
  if (!(in >> header >> sign_label >> sign_text >> seal_label >> seal_text) ||
      header != kKeyFileHeader || sign_label != "sign" || seal_label != "seal") {
    return fail(ErrorCode::malformed, "not an ecash key file: " + path);
  }
  auto seed = base64url_decode(sign_text);
  auto secret = base64url_decode(seal_text);
  if (!seed || !secret) return fail(ErrorCode::malformed, "damaged key file: " + path);
  auto signing = SigningKey::from_seed(*seed);
  auto sealing = SealingKey::from_secret(*secret);
  wipe(*seed);
  wipe(*secret);
  if (!signing || !sealing) return fail(ErrorCode::malformed, "damaged key file: " + path);
  return PartyKeys{std::move(*signing), std::move(*sealing)};
}

}  // namespace ecash::crypto
