// The center (patent party 3): routes every flow between wallets, shops, the clearing house and the
// virtual bank, countersigning where the patent appends its signature. It keeps user ID ->
// (certificate, card number sealed to clearing) and shop ID -> (certificate, account number sealed
// to clearing), and never sees an article or a balance. Each request runs as a saga recorded before
// its first outside call, so a crash is finished by resume(): a charge is always credited or
// refunded. Thread-safe: requests run in parallel; a saga is leased (in the store) to the node
// running it, and no lock is held across a call to another party.
#pragma once

#include <memory>
#include <atomic>
#include <string>
#include <unordered_set>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "parties/common/party_kit.hpp"

namespace ecash::center {

class Center final : public protocol::Endpoint {
 public:
  static Result<std::unique_ptr<Center>> open(const store::Place& place, parties::Identity identity,
                                              parties::Directory directory,
                                              const pki::TrustStore& trust, const Clock& clock,
                                              Currency currency,
                                              std::unique_ptr<protocol::Channel> clearing,
                                              std::unique_ptr<protocol::Channel> bank);

  // Routes: "directory" (anyone), "deposit" and "sync" (wallets, Figs 2 and 5, reconciliation), "verify_card" and
  // "confirm_card" {sealed_card} (wallets: forwarded to clearing with the caller's certificate),
  // "register_shop" (shops, Fig 6), "pay" (shops, Fig 10), "payout" (shops, Fig 11).
  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) override;

  // The fraud cases the bank has opened, with their evidence.
  Result<protocol::Json> cases();
  // The registered users, for the operator to look up: [{user_id, certificate_serial,
  // open_cases}]; and the registered shops: [{shop_id, certificate_serial}]. Never the sealed
  // card or account (only clearing can open them).
  Result<protocol::Json> users();
  Result<protocol::Json> shops();
  // Asks clearing for the account information behind user_id for case_id (logged by clearing,
  // refused without an open case).
  Result<protocol::Json> disclose(const Id128& user_id, const Id128& case_id,
                                  const std::string& reason, RandomSource& random);

  // Re-verifies every stored signature chain: {"checked": n, "problems": [...]}.
  Result<protocol::Json> audit();

  // The requests being finished: sagas open now, or changed at or after since (a reconciliation
  // read over a stretch of time counts a request finished during it as open).
  Result<std::unordered_set<std::string>> open_requests(UnixSeconds since);

  // How many sagas are open now, when the oldest of them began (0 when none), and how many of
  // them are payouts (pending with clearing or the bank): for the operator's metrics and dashboard.
  struct OpenSagas {
    std::int64_t count = 0;
    UnixSeconds oldest = 0;
    std::int64_t payouts = 0;
  };
  Result<OpenSagas> open_sagas();

  // Finishes the sagas a crash left open (call it before serving); the number finished. As the
  // only center (take_over), it takes over every lease a crashed run left; as one of several
  // nodes, only the leases that ran out and its own (set_node), the others' are theirs to finish.
  Result<int> resume(bool take_over = true);
  // This node's name in the saga leases (a random one by default, new on every start): a node
  // restarted under its name takes its own leases back at once.
  void set_node(std::string name) { m_node = std::move(name); }
  // Tries again, while serving, at most at_most open sagas whose lease has run out and whose
  // back-off has passed (a party was out of reach, a store failed); the number finished. Call it
  // every second or so: sagas are finished while the center runs, not only when it starts.
  Result<int> resume_due(int at_most = 100);
  // A charged deposit not credited within this long is given up at the bank and its charge
  // reversed (a day by default).
  void set_credit_deadline(UnixSeconds seconds) { m_credit_deadline = seconds; }

  Center(std::unique_ptr<store::Database> db, parties::Identity identity,
         parties::Directory directory, const pki::TrustStore& trust, const Clock& clock,
         Currency currency, std::unique_ptr<protocol::Channel> clearing,
         std::unique_ptr<protocol::Channel> bank);

 private:
  // What a saga's steps produce: the answer, and the center's own records to write with it.
  struct Outcome {
    protocol::Json answer;
    std::function<Status(store::Transaction&)> effects;
  };
  using Steps = std::function<Result<Outcome>()>;
  // Where a saga is kept: here (written before its steps run), or by the bank, which keeps a
  // payment's answer once given, paid or refused: the center then writes nothing (asked again,
  // the steps give the same answer: the bank's stored one under the center's deterministic
  // signature), and only finishes a saga an older center wrote.
  enum class Kept { here, by_the_bank };

  Result<protocol::Json> dispatch(const pki::Certificate& caller, std::string_view route,
                                  const protocol::Json& body);
  // Runs steps once per request ID; digest names the request, so the same ID with another
  // digest is replayed.
  Result<protocol::Json> run_saga(std::string_view route, const Id128& request_id,
                                  const pki::Certificate& caller, const protocol::Json& body,
                                  const crypto::Digest& digest, const Steps& steps,
                                  Kept kept = Kept::here);

  Result<protocol::Json> deposit(const pki::Certificate& wallet, const protocol::Json& body);
  Result<protocol::Json> register_shop(const pki::Certificate& shop, const protocol::Json& body);
  Result<protocol::Json> pay(const pki::Certificate& shop, const protocol::Json& body);
  Result<protocol::Json> payout(const pki::Certificate& shop, const protocol::Json& body);
  Result<protocol::Json> sync(const pki::Certificate& wallet, const protocol::Json& body);
  Result<protocol::Json> refund(const pki::Certificate& shop, const protocol::Json& body);

  struct Member {
    Id128 id;
    Bytes sealed_account;
  };
  struct Wanted {
    const char* table;  // "users" or "shops"
    Id128 id;
    crypto::VerifyKey key;
  };
  // The registered users and shops with these IDs, each held by its certificate key, in order,
  // looked up in one read; unknown_user or unknown_shop for the first that is not.
  Result<std::vector<Member>> find_members(std::initializer_list<Wanted> wanted);
  Result<Member> find_member(const char* table, const Id128& id, const crypto::VerifyKey& key);
  Result<Member> find_shop_by_key(const crypto::VerifyKey& key);
  Status check_amount(const Amount& amount) const;
  bool saga_begun(const Id128& request_id);
  // The bank's answer to this order if it paid it, nullopt if not (and then it never will), or
  // the refusal the bank gave it before.
  Result<std::optional<protocol::Json>> paid_at_bank(const protocol::Json& order);
  // When the saga of request_id began (now, when it has not).
  UnixSeconds saga_created(const Id128& request_id);
  // stale unless fresh, or the saga of request_id has already begun.
  Status fresh_or_begun(UnixSeconds timestamp, const Id128& request_id);
  // A certificate in a message, parsed but not checked against trust (a saga already begun).
  static Result<pki::Certificate> certificate_field(const protocol::Json& body, const char* name);

  // How long a node holds an open saga before another may take it over.
  static constexpr UnixSeconds kSagaLease = 15;
  std::string m_node;  // this node's name in the leases, new on every start
  std::atomic<bool> m_take_over = false;
  std::atomic<UnixSeconds> m_credit_deadline = 24 * 3600;
  std::unique_ptr<store::Database> m_db;
  parties::Identity m_identity;
  parties::Directory m_directory;
  const pki::TrustStore& m_trust;
  const Clock& m_clock;
  Currency m_currency;
  std::unique_ptr<protocol::Channel> m_clearing;
  std::unique_ptr<protocol::Channel> m_bank;
};

}  // namespace ecash::center
