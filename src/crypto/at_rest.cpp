#include "crypto/at_rest.hpp"

#include <sodium.h>

#include <algorithm>
#include <sstream>

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "crypto/secret_file.hpp"

namespace ecash::crypto {
namespace {

constexpr std::string_view kFileHeader = "ecash-data-key-v1";
constexpr std::string_view kSealedPrefix = "sealed:";
constexpr std::string_view kLookupPrefix = "lookup:";
constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

// One key for sealing, another for lookups, both from the data key (BLAKE2b keyed, each its
// purpose): a lookup key then says nothing about the sealing key.
void derive(const std::uint8_t* key, std::string_view purpose, SecretBytes<32>& out) {
  const auto d = blake2b_256_keyed(ByteView(key, 32), as_bytes(purpose));
  std::copy(d.begin(), d.end(), out.data());
}

}  // namespace

AtRestKey AtRestKey::generate() {
  const auto key = random_secret<32>();
  return from_bytes(ByteView(key.data(), key.size())).value();
}

Result<AtRestKey> AtRestKey::from_bytes(ByteView key) {
  if (key.size() != 32) return fail(ErrorCode::bad_encoding, "a data key is 32 bytes");
  AtRestKey out;
  derive(key.data(), "ecash at-rest seal v1", out.m_seal);
  derive(key.data(), "ecash at-rest lookup v1", out.m_lookup);
  return out;
}

Result<AtRestKey> AtRestKey::in_file(const std::string& path) {
  if (path.empty()) return generate();
  auto text = read_secret_file(path);
  if (!text && text.error().code == ErrorCode::not_found) {
    const auto key = random_secret<32>();
    std::string file = std::string(kFileHeader) + "\n" +
                       base64url_encode(ByteView(key.data(), key.size())) + "\n";
    auto written = write_secret_file(path, file);
    wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(file.data()), file.size()));
    // Another process made it first: take theirs.
    if (!written && written.error().code != ErrorCode::conflict) {
      return std::unexpected(written.error());
    }
    if (written) return from_bytes(ByteView(key.data(), key.size()));
    text = read_secret_file(path);
  }
  if (!text) return std::unexpected(text.error());
  std::istringstream in(*text);
  std::string header, encoded;
  in >> header >> encoded;
  wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(text->data()), text->size()));
  auto key = base64url_decode(encoded);
  if (header != kFileHeader || !key || key->size() != 32) {
    return fail(ErrorCode::malformed, "not an ecash data key file: " + path);
  }
  auto out = from_bytes(*key);
  wipe(*key);
  return out;
}

std::string AtRestKey::seal(std::string_view value, std::string_view column) const {
  ensure_sodium();
  Bytes box(kNonce + value.size() + kTag);
  randombytes_buf(box.data(), kNonce);
  unsigned long long length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      box.data() + kNonce, &length, reinterpret_cast<const unsigned char*>(value.data()),
      value.size(), reinterpret_cast<const unsigned char*>(column.data()), column.size(), nullptr,
      box.data(), m_seal.data());
  box.resize(kNonce + length);
  return std::string(kSealedPrefix) + base64url_encode(box);
}

Result<std::string> AtRestKey::open(std::string_view sealed, std::string_view column) const {
  if (!is_sealed(sealed)) return fail(ErrorCode::malformed, "not a sealed field");
  auto box = base64url_decode(sealed.substr(kSealedPrefix.size()));
  if (!box || box->size() < kNonce + kTag) return fail(ErrorCode::malformed, "damaged sealed field");
  std::string value(box->size() - kNonce - kTag, '\0');
  unsigned long long length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(value.data()), &length, nullptr, box->data() + kNonce,
          box->size() - kNonce, reinterpret_cast<const unsigned char*>(column.data()),
          column.size(), box->data(), m_seal.data()) != 0) {
    return fail(ErrorCode::unseal_failed,
                "a sealed field does not open with this store's data key (another key, or changed)");
  }
  value.resize(length);
  return value;
}

std::string AtRestKey::lookup(std::string_view value, std::string_view column) const {
  // The column and the value, length-prefixed: no two pairs hash alike.
  std::string input = std::to_string(column.size()) + ":" + std::string(column) + std::string(value);
  const auto d = blake2b_256_keyed(ByteView(m_lookup.data(), m_lookup.size()), as_bytes(input));
  wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(input.data()), input.size()));
  return std::string(kLookupPrefix) + base64url_encode(d);
}

bool AtRestKey::is_sealed(std::string_view text) { return text.starts_with(kSealedPrefix); }
bool AtRestKey::is_lookup(std::string_view text) { return text.starts_with(kLookupPrefix); }

}  // namespace ecash::crypto
