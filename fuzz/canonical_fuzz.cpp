// The canonical statement reader and the base64url decoder: no input crashes or reads out of bounds.
#include <cstdint>
#include <cstdlib>

#include "crypto/canonical.hpp"
#include "crypto/encoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ecash::ByteView bytes(data, size);
  if (auto reader = ecash::crypto::CanonicalReader::open(bytes, ecash::crypto::Purpose::transfer)) {
    // A plausible statement shape: every read is bounds-checked whatever the bytes say.
    (void)reader->id();
    (void)reader->amount();
    (void)reader->bytes();
    (void)reader->text();
    (void)reader->boolean();
    (void)reader->u64();
    (void)reader->finish();
  }
  if (auto decoded = ecash::crypto::base64url_decode(ecash::as_text(bytes))) {
    if (ecash::crypto::base64url_encode(*decoded) != ecash::as_text(bytes)) std::abort();
  }
  return 0;
}
