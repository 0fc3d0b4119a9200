// What the cryptography of one payment costs: statement signing and checking, sealing, amount
// parsing, certificate issue and verification. Run: build/bench/crypto_bench
#include <benchmark/benchmark.h>

#include <array>

#include "crypto/keys.hpp"
#include "crypto/random.hpp"
#include "pki/authority.hpp"

namespace ecash {
namespace {

crypto::CanonicalWriter statement() {
  crypto::CanonicalWriter w(crypto::Purpose::payment_order);
  w.id(Id128()).amount(Amount::parse("EUR:12.50").value()).bytes(Bytes(64, 7));
  return w;
}

void BM_Sign(benchmark::State& state) {
  const auto key = crypto::SigningKey::generate();
  const auto s = statement();
  for (auto _ : state) benchmark::DoNotOptimize(key.sign(s));
}
BENCHMARK(BM_Sign);

void BM_Verify(benchmark::State& state) {
  const auto key = crypto::SigningKey::generate();
  const auto s = statement();
  const auto sig = key.sign(s);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::verify(key.verify_key(), s, sig));
}
BENCHMARK(BM_Verify);

void BM_SealOpen(benchmark::State& state) {
  const auto key = crypto::SealingKey::generate();
  const auto card = as_bytes("4111111111111111");
  for (auto _ : state) benchmark::DoNotOptimize(key.open(crypto::seal(key.public_key(), card)));
}
BENCHMARK(BM_SealOpen);

void BM_AmountParseFormat(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Amount::parse("EUR:1234567.89")->to_string());
}
BENCHMARK(BM_AmountParseFormat);

// A CA valid from the epoch for `lifetime` seconds, and a wallet's request to it.
pki::CertificateAuthority bench_ca(UnixSeconds lifetime, RandomSource& random) {
  return pki::CertificateAuthority::create("bench CA", crypto::PartyKeys::generate(), 0, lifetime,
                                           random)
      .value();
}
pki::CertificateRequest wallet_request(const crypto::PartyKeys& keys) {
  return {.subject = "bench-wallet",
          .role = pki::Role::wallet,
          .verify_key = keys.signing.verify_key(),
          .sealing_key = keys.sealing.public_key()};
}

void BM_CertificateIssue(benchmark::State& state) {
  crypto::SecureRandom random;
  const auto ca = bench_ca(1'000'000'000, random);
  const auto request = wallet_request(crypto::PartyKeys::generate());
  for (auto _ : state) benchmark::DoNotOptimize(ca.issue(request, 0, 999'999'999, random));
}
BENCHMARK(BM_CertificateIssue);

void BM_CertificateVerify(benchmark::State& state) {
  crypto::SecureRandom random;
  const auto ca = bench_ca(2'000'000'000, random);
  const auto cert =
      ca.issue(wallet_request(crypto::PartyKeys::generate()), 0, 1'999'999'999, random).value();
  const pki::TrustAnchor anchor{ca.certificate(), ca.issue_crl(0, 1'999'999'999).value()};
  constexpr std::array kRoles = {pki::Role::wallet};
  for (auto _ : state) {
    benchmark::DoNotOptimize(pki::verify_certificate(cert, anchor, kRoles, 1'000'000'000));
  }
}
BENCHMARK(BM_CertificateVerify);

}  // namespace
}  // namespace ecash
