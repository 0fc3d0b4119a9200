// What a party trusts, kept current: the CA certificate and its latest CRL, with the certificates
// it has parsed and verified remembered, so that a caller seen again costs a lookup, not a
// signature check (a certificate verification costs as much as five Ed25519 verifications). The
// memory is bounded and forgotten whenever the CRL changes. Thread-safe: the CRL may be replaced
// while other threads verify.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pki/certificate.hpp"

namespace ecash::pki {

class TrustStore {
 public:
  // How many parsed and how many verified certificates are remembered, each.
  static constexpr std::size_t kDefaultCacheEntries = 16384;

  explicit TrustStore(TrustAnchor anchor, std::size_t cache_entries = kDefaultCacheEntries)
      : m_anchor(std::move(anchor)), m_cache_entries(cache_entries) {}

  TrustAnchor anchor() const {
    std::lock_guard lock(m_mutex);
    return m_anchor;
  }
  // How far a CRL may be dated ahead of this party's clock before it counts as from a clock that
  // ran ahead.
  static constexpr UnixSeconds kClockTolerance = 300;

  // Takes a newer CRL; bad_crl unless the CA signed it, or when it is dated ahead of now (beyond
  // the tolerance). An older CRL is taken only in place of one dated ahead of now: a clock that
  // ran ahead, put right, must not leave the party stuck with a CRL from its future. Every
  // certificate is verified afresh after it.
  Status update_crl(const Crl& crl, UnixSeconds now);
  // Whether the CRL held is dated ahead of now, beyond the tolerance (to be renewed).
  bool crl_from_the_future(UnixSeconds now) const;

  // verify_certificate() against the anchor held now. A certificate that passed under the
  // current CRL is not checked again while its dates and the CRL's still hold at `now`; its role
  // is checked every time.
  Status verify(const Certificate& cert, std::span<const Role> allowed_roles, UnixSeconds now) const;
  // The certificate in pem (parsed once, then remembered), verified as verify() does.
  Result<Certificate> verify_pem(std::string_view pem, std::span<const Role> allowed_roles,
                                 UnixSeconds now) const;
  // The same for the DER form (a TLS peer's certificate).
  Result<Certificate> verify_der(ByteView der, std::span<const Role> allowed_roles,
                                 UnixSeconds now) const;
  // The certificate in pem, parsed once, then remembered; not verified.
  Result<Certificate> parse_pem(std::string_view pem) const;

  // How many verifications the cache answered, and how many it could not (for tests and metrics).
  struct CacheCounts {
    std::uint64_t hits = 0, misses = 0;
  };
  CacheCounts cache_counts() const;

 private:
  struct DigestHash {
    std::size_t operator()(const crypto::Digest& d) const;
  };
  struct Verified {
    std::uint64_t epoch;
    UnixSeconds from, until;  // when both the certificate and the CRL it passed under are in date
  };
  template <class Parse>
  Result<Certificate> parsed(std::string_view text, const Parse& parse) const;

  mutable std::mutex m_mutex;  // guards the anchor, the epoch and both caches
  TrustAnchor m_anchor;
  std::uint64_t m_epoch = 1;
  std::size_t m_cache_entries;
  mutable std::unordered_map<crypto::Digest, Verified, DigestHash> m_verified;
  mutable std::unordered_map<std::string, Certificate> m_parsed;
  mutable CacheCounts m_counts;
};

}  // namespace ecash::pki
