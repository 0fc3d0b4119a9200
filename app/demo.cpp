#include "demo.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "pki/authority.hpp"

namespace ecash::app {
namespace {

namespace fs = std::filesystem;

constexpr UnixSeconds kDay = 86'400;

void step(const std::string& text) { std::cout << "\n== " << text << "\n"; }
void say(const std::string& text) { std::cout << "   " << text << "\n"; }

// Stops the demo when something that must work does not.
template <class T>
T must(Result<T> result, const char* what) {
  if (!result) {
    std::cout << "UNEXPECTED: " << what << ": " << result.error().to_string() << "\n";
    std::exit(1);
  }
  return std::move(*result);
}

void must(Status status, const char* what) {
  if (!status) {
    std::cout << "UNEXPECTED: " << what << ": " << status.error().to_string() << "\n";
    std::exit(1);
  }
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  const fs::path dir = options.keep_dir
                           ? fs::path(*options.keep_dir)
                           : fs::temp_directory_path() / ("ecash-demo-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  SystemClock clock;
  crypto::SecureRandom random;
  const UnixSeconds now = clock.now();

  std::cout << "ecash demo: the foundation layers at work (files in " << dir.string() << ")\n";

  step("1. The certificate authority creates its Ed25519 key and self-signed certificate");
  auto ca = must(pki::CertificateAuthority::create("ecash demo CA", crypto::PartyKeys::generate(),
                                                   now - 60, 3650 * kDay, random),
                 "create CA");
  write_file(dir / "ca.pem", ca.certificate().to_pem());
  say("CA certificate: " + (dir / "ca.pem").string());
  say("fingerprint (what wallets pin): " + ca.certificate().fingerprint());

  step("2. The clearing house and a wallet enrol; subjects are pseudonyms, never names");
  const auto clearing_keys = crypto::PartyKeys::generate();
  const auto clearing_cert = must(
      ca.issue({.subject = "clearing-" + Id128::random(random).to_string().substr(0, 8),
                .role = pki::Role::clearing,
                .verify_key = clearing_keys.signing.verify_key(),
                .sealing_key = clearing_keys.sealing.public_key()},
               now - 60, now + 365 * kDay, random),
      "issue clearing certificate");

  const std::string card_number = "4111111111111111";
  pki::AccountSalt salt{};
  random.fill(salt);
  const auto wallet_keys = crypto::PartyKeys::generate();
  const auto wallet_cert = must(
      ca.issue({.subject = Id128::random(random).to_string(),
                .role = pki::Role::wallet,
                .verify_key = wallet_keys.signing.verify_key(),
                .sealing_key = wallet_keys.sealing.public_key(),
                .account_commitment = pki::commit_account(card_number, salt)},
               now - 60, now + 365 * kDay, random),
      "issue wallet certificate");
  write_file(dir / "wallet.pem", wallet_cert.to_pem());
  say("wallet certificate: subject " + wallet_cert.subject() + ", serial " + wallet_cert.serial());
  say("carries: role=" + std::string(pki::to_string(wallet_cert.role())) +
      ", sealing key, and a salted commitment to the card number (not the number)");
  say("read it yourself: openssl x509 -noout -text -in " + (dir / "wallet.pem").string());

  auto trust = pki::TrustAnchor{ca.certificate(),
                                must(ca.issue_crl(now - 60, now + 7 * kDay), "issue CRL")};
  constexpr std::array kWallets = {pki::Role::wallet};
  must(verify_certificate(wallet_cert, trust, kWallets, now),
       "verify wallet certificate");
  say("the wallet's certificate verifies against the CA and its CRL");

  step("3. The wallet signs a deposit of EUR:50.00, its card number sealed to the clearing house");
  const auto amount = must(Amount::parse("EUR:50.00"), "parse amount");
  const auto request_id = Id128::random(random);
  const auto sealed_card = crypto::seal(clearing_cert.sealing_key(), as_bytes(card_number));
  const auto statement = [&](const Amount& a) {
    crypto::CanonicalWriter w(crypto::Purpose::deposit_order);
    w.id(request_id).amount(a).bytes(sealed_card);
    return w;
  };
  const auto signature = wallet_keys.signing.sign(statement(amount));
  say("request " + request_id.to_string() + ", amount " + amount.to_string());
  say("sealed card number (" + std::to_string(sealed_card.size()) +
      " bytes): " + crypto::base64url_encode(sealed_card).substr(0, 32) + "...");
  say("signature: " + signature.to_text().substr(0, 32) + "...");

  step("4. The clearing house checks the signature, opens the card number, checks the commitment");
  must(crypto::verify(wallet_cert.verify_key(), statement(amount), signature),
       "verify deposit signature");
  const auto opened = must(clearing_keys.sealing.open(sealed_card), "open sealed card number");
  must(pki::verify_account_commitment(*wallet_cert.account_commitment(), as_text(opened), salt),
       "check account commitment");
  say("signature ok; card ending " + std::string(as_text(opened).substr(12)) +
      " matches the certificate's commitment");
  const auto intruder = crypto::SealingKey::generate();
  say("anyone else opening the sealed card number gets: " +
      intruder.open(sealed_card).error().to_string());

  step("5. Tampering is caught");
  const auto more = must(Amount::parse("EUR:500.00"), "parse amount");
  say("amount changed in transit to " + more.to_string() + ": " +
      crypto::verify(wallet_cert.verify_key(), statement(more), signature).error().to_string());
  const auto total = must(amount.add(more), "add");
  say("checked money arithmetic: " + amount.to_string() + " + " + more.to_string() + " = " +
      total.to_string() + "; EUR + JPY is " +
      amount.add(must(Amount::parse("JPY:1500"), "parse")).error().to_string());

  step("6. The CA revokes the wallet's certificate; the signed CRL now refuses it");
  ca.revoke(wallet_cert.serial(), now);
  trust.crl = must(ca.issue_crl(now - 60, now + 7 * kDay), "issue CRL");
  write_file(dir / "crl.pem", trust.crl.to_pem());
  const auto revoked = verify_certificate(wallet_cert, trust, kWallets, now);
  if (revoked) {
    std::cout << "UNEXPECTED: a revoked certificate verified\n";
    return 1;
  }
  say("verify wallet certificate: " + revoked.error().to_string());
  say("read the CRL: openssl crl -noout -text -in " + (dir / "crl.pem").string());

  if (!options.keep_dir) {
    fs::remove_all(dir);
    std::cout << "\nDone. (Files removed; run `ecash demo --keep DIR` to keep them.)\n";
  } else {
    std::cout << "\nDone. Files kept in " << dir.string() << "\n";
  }
  return 0;
}

}  // namespace ecash::app
