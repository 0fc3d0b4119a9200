// A party's data key: what keeps card numbers, IBANs, names and addresses unreadable in its store.
// Fields are sealed with XChaCha20-Poly1305 (a fresh nonce each, the column named as associated
// data, so a sealed value cannot be moved to another column); a field a store must find rows by
// gets a lookup key instead, a keyed BLAKE2b under a second key derived from the data key (a card
// number has too few possible values for a plain hash to hide it). The key lives in a file of its
// own beside the store (<store>.key, 0600, sealed with the passphrase when one is given: see
// secret_file.hpp), so a copy of the store alone reveals nothing. Immutable once made: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/error.hpp"
#include "crypto/secret.hpp"

namespace ecash::crypto {

class AtRestKey {
 public:
  static AtRestKey generate();
  // bad_encoding unless 32 bytes.
  static Result<AtRestKey> from_bytes(ByteView key);
  // The key kept in key_file (a store's, beside it or in its party's folder), made (and written
  // there) when the file is new: see read_secret_file for the codes. An empty key_file is a store
  // that lives in memory only: a fresh key.
  static Result<AtRestKey> in_file(const std::string& key_file);

  // The text that stands for value in column: "sealed:" then base64url (nonce, ciphertext, tag).
  std::string seal(std::string_view value, std::string_view column) const;
  // The value sealed in column: unseal_failed when it was sealed under another key or column, or
  // changed; malformed when it is not a sealed text at all.
  Result<std::string> open(std::string_view sealed, std::string_view column) const;
  // The same value always gives the same lookup key in column ("lookup:" then base64url), under
  // this key only.
  std::string lookup(std::string_view value, std::string_view column) const;

  // Whether text is a sealed field (a store's clear rows, kept by an older version, are not).
  static bool is_sealed(std::string_view text);
  static bool is_lookup(std::string_view text);

 private:
  AtRestKey() = default;
  SecretBytes<32> m_seal;
  SecretBytes<32> m_lookup;
};

}  // namespace ecash::crypto
