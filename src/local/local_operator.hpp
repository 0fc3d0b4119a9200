// In-process glue: every operator role (CA, center, bank, clearing) and the institution sandboxes
// in one process, each with its own keys and store, passing JSON messages through LocalChannels
// as the network does (with a tap in place, as text parsed again). A Tap sees, and may change,
// every message in transit: the tests' man in the middle. The parties are thread-safe; the tap is
// set while no request runs.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "parties/bank/bank.hpp"
#include "parties/ca/ca_party.hpp"
#include "parties/center/center.hpp"
#include "parties/clearing/clearing_house.hpp"
#include "parties/sandbox/bank_institution.hpp"
#include "parties/sandbox/card_company.hpp"
#include "parties/shop/shop.hpp"

namespace ecash::local {

class Tap {
 public:
  virtual ~Tap() = default;
  // An error to answer instead of delivering the request: the receiver is down or out of reach.
  virtual std::optional<Error> cut(std::string_view link, std::string_view route) {
    (void)link, (void)route;
    return std::nullopt;
  }
  // link names the two ends, "wallet->center", "center->bank", ...
  virtual void on_request(std::string_view link, std::string_view route, protocol::Json& body) {
    (void)link, (void)route, (void)body;
  }
  virtual void on_answer(std::string_view link, std::string_view route, protocol::Json& answer) {
    (void)link, (void)route, (void)answer;
  }
};

class LocalChannel final : public protocol::Channel {
 public:
  LocalChannel(std::string link, protocol::Endpoint& target, protocol::Caller caller,
               Tap* const* tap)
      : m_link(std::move(link)), m_target(target), m_caller(std::move(caller)), m_tap(tap) {}

  Result<protocol::Json> call(std::string_view route, const protocol::Json& body) override;

 private:
  Result<protocol::Json> deliver(std::string_view route, const protocol::Json& body);

  std::string m_link;
  protocol::Endpoint& m_target;
  protocol::Caller m_caller;
  Tap* const* m_tap;  // the operator's current tap, may be null
};

// An operator role's keys and certificate, kept in dir/<name>.keys and dir/<name>.pem.
Result<parties::Identity> load_identity(const std::string& dir, const std::string& name);
// The certificates of the CA and the three operator roles under an operator's data folder.
Result<parties::Directory> load_directory(const std::string& data);

struct OpenOptions {
  // Channels to the outside institutions; without them the sandboxes under dir/sandbox are
  // opened in this process.
  std::unique_ptr<protocol::Channel> card_company;
  std::unique_ptr<protocol::Channel> bank_institution;
  // Finish the center's open sagas before anything else (off for read-only inspection while
  // another process runs the operator).
  bool resume = true;
  // The operator's stores (CA, center, bank, clearing) on this PostgreSQL database, each role in
  // a schema of its own, instead of SQLite files under dir; their data keys stay under dir.
  std::string store_server;
};

// Where role's store is under the operator's folder dir: DIR/ROLE/ROLE.db, or, with a
// store_server, the schema ROLE of that PostgreSQL database (its data key still under dir).
store::Place role_store(const std::string& dir, const std::string& role,
                        const std::string& store_server);

class LocalOperator {
 public:
  // Opens (creating when new) every operator role under dir, working in currency. A new operator
  // also gets TLS identities for a separate CA server (dir/ca/ca-server), for the sandboxes
  // (dir/sandbox/institution) and for the dashboard (dir/admin/admin); one made before the
  // dashboard gets the last when it is next opened.
  static Result<std::unique_ptr<LocalOperator>> open(const std::string& dir, Currency currency,
                                                     const Clock& clock, RandomSource& random,
                                                     OpenOptions options = {});

  ca::CaParty& ca() { return *m_ca; }
  center::Center& center() { return *m_center; }
  bank::VirtualBank& bank() { return *m_bank; }
  clearing::ClearingHouse& clearing() { return *m_clearing; }
  sandbox::CardCompany& card_company() { return *m_card_company; }
  sandbox::BankInstitution& bank_institution() { return *m_bank_institution; }
  const pki::TrustStore& trust() const { return *m_trust; }
  const pki::Certificate& center_certificate() const { return *m_center_cert; }
  Currency currency() const { return m_currency; }
  const std::string& dir() const { return m_dir; }

  // Channels as a wallet or shop would hold them; caller is the device's certificate (or none).
  std::unique_ptr<protocol::Channel> to_ca(const std::string& from);
  std::unique_ptr<protocol::Channel> to_center(const std::string& from,
                                               const pki::Certificate* caller);
  std::unique_ptr<protocol::Channel> to_shop(shop::Shop& shop, const std::string& from,
                                             const pki::Certificate* caller);
  // The shop's own link to the center, set up for its "pay" route.
  void connect_shop(shop::Shop& shop);

  // Opens a card at the card company sandbox and an account at the bank sandbox.
  Status open_card(const std::string& number, const Amount& limit);
  Status open_bank_account(const std::string& iban, const std::string& holder);

  // Revokes a certificate and publishes the new CRL to every operator role.
  Status revoke(const std::string& serial);
  // Publishes a fresh CRL to every operator role (a CRL is valid for a week).
  Status refresh_crl();
  // Revokes the wallet certificates enrolled more than a day ago whose first deposit never
  // completed (ca::CaParty::revoke_unconfirmed, the center's users being those that did), and
  // refreshes the CRL when it revoked any. Returns the serials revoked.
  Result<std::vector<std::string>> expire_unconfirmed();
  // Revokes the certificate of every user with an open fraud case (a copied or rolled-back device:
  // receivers then refuse its transfers offline from their next sync's CRL), and refreshes the CRL
  // when it revoked any. Returns the serials revoked now.
  Result<std::vector<std::string>> revoke_under_cases();

  // The circulation figures and their identity (protocol::Circulation's JSON): deposited - paid
  // out = balances - owed + in flight + offline reserve + unpaid sales + paying out; with
  // institutions, the books reconciled request by request with the card company's and the
  // bank's statements (read through the clearing house; "unread" and not balanced when they
  // cannot be read).
  Result<protocol::Json> report(bool institutions = true);
  // The fraud cases, each with the evidence the bank keeps for it and whether that evidence is
  // the one the bank's signed case names (its digest): [{case_id, user_id, kind, state, opened,
  // evidence, evidence_matches}].
  Result<protocol::Json> cases();
  // What the operator may list of its members, each joined with its certificate at the CA:
  // users [{user_id, certificate_serial, enrolled, revoked, open_cases}] (no card, name or
  // address); shops [{shop_id, name, certificate_serial, enrolled, revoked}] (the name the shop
  // enrolled under; no account); certificates, the CA's list (ca::CaParty::certificates).
  // enrolled is when the CA issued the certificate; revoked when it was revoked, or null.
  Result<protocol::Json> users();
  Result<protocol::Json> shops();
  Result<protocol::Json> certificates();
  // report(), plus every stored signature chain re-verified (center sagas and cases, the bank's
  // transfers, cases and postings, clearing's disclosure log): {"ok": bool, "problems": [...]},
  // each difference with the institutions a problem.
  Result<protocol::Json> audit(bool institutions = true);

  void set_tap(Tap* tap) { m_tap = tap; }

  LocalOperator() = default;

 private:
  // The institutions' statements reconciled with books read at or after since.
  protocol::InstitutionFigures reconcile_statements(const protocol::Books& books,
                                                    const std::unordered_set<std::string>& pending,
                                                    UnixSeconds since);

  std::string m_dir;
  const Clock* m_clock = nullptr;
  Currency m_currency = Currency::from_code("EUR").value();
  Tap* m_tap = nullptr;
  std::unique_ptr<ca::CaParty> m_ca;
  std::unique_ptr<pki::TrustStore> m_trust;
  std::unique_ptr<sandbox::CardCompany> m_card_company;
  std::unique_ptr<sandbox::BankInstitution> m_bank_institution;
  std::unique_ptr<bank::VirtualBank> m_bank;
  std::unique_ptr<clearing::ClearingHouse> m_clearing;
  std::unique_ptr<center::Center> m_center;
  std::optional<pki::Certificate> m_center_cert;
  std::optional<pki::Certificate> m_clearing_cert;
};

}  // namespace ecash::local
