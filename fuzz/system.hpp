// A whole ecash system in one fuzzing process, as tests/system_fixture builds it: every operator
// role and sandbox on stores under a private folder (on /dev/shm when there is one: SQLite's
// fsyncs cost nothing there), wallets and a shop held in memory, a fixed clock, and randomness
// made deterministic (libsodium's source replaced by a seeded generator), so that every run makes
// the same keys and certificates and the seed corpora's signatures verify in every run.
//
// Setting it up plays the flows a real system sees (enrolment, deposits, a payment, a payout,
// an offline transfer, syncs, a revocation) and records every request on every link: the seeds.
// Not thread-safe; one per process.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "parties/shop/shop.hpp"
#include "parties/wallet/wallet.hpp"

namespace ecash::fuzz {

// The parties that serve requests, in the order a server input's first byte picks them.
enum class Party : std::uint8_t {
  center, bank, clearing, ca, till, card_company, bank_institution, count
};
const char* party_name(Party p);

// The certificates a request may come with, in the order a server input's second byte picks
// them: none, the two wallets, the shop, the operator roles, the sandboxes' and a revoked wallet.
enum class Who : std::uint8_t {
  none, alice, bob, shop, center, bank, clearing, institution, ca, carol_revoked, count
};

// One request seen on a link during setup.
struct Recorded {
  Party party;
  Who caller;
  std::string route;
  std::string body;
};

// The offline exchange's messages as the wallets printed them (Alice sends to Bob).
struct OfflineFiles {
  std::string request;   // Bob's `wallet receive`, answered
  std::string transfer;  // Alice's `wallet send`, accepted
  std::string ack;       // Bob's `wallet accept`
  // A second exchange left open: Bob's request, and Alice's transfer for it not yet accepted.
  std::string open_request;
  std::string open_transfer;
};

class System {
 public:
  // Builds the system (aborting with a message when a step fails: no fuzzing without it).
  explicit System(std::string_view target);
  ~System();

  protocol::Endpoint& party(Party p);
  const protocol::Caller& caller(Who w) const { return m_callers.at(static_cast<std::size_t>(w)); }
  wallet::Wallet& alice() { return *m_alice; }
  wallet::Wallet& bob() { return *m_bob; }
  const std::vector<Recorded>& recorded() const { return m_recorded; }
  const OfflineFiles& files() const { return m_files; }

  // Every `every` inputs, everything is built afresh from the same seed: what inputs changed
  // (requests answered, accounts opened) does not pile up over a long run.
  void count_input(std::uint64_t every);

  // When ECASH_FUZZ_SEEDS names a folder, writes files there named after what they hold: how the
  // seed corpora in fuzz/corpus/ are made again after the messages change.
  void write_seeds(const std::function<std::vector<std::pair<std::string, std::string>>()>& seeds) const;

 private:
  void build();
  void tear_down();

  std::string m_dir;
  std::uint64_t m_inputs = 0;
  ManualClock m_clock;
  crypto::SecureRandom m_random;
  std::unique_ptr<local::LocalOperator> m_op;
  std::unique_ptr<wallet::Wallet> m_alice, m_bob, m_carol;
  std::unique_ptr<shop::Shop> m_shop;
  std::vector<protocol::Caller> m_callers;
  std::vector<Recorded> m_recorded;
  OfflineFiles m_files;
};

// Aborts with what and the error: a setup step failed, or an input reached a state that healthy
// stores and correct code never produce.
[[noreturn]] void die(std::string_view what, const Error& error);

}  // namespace ecash::fuzz
