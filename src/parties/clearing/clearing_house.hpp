// The clearing house (patent party 5): the only party that opens card and account numbers. It
// checks them against the certificate's commitment, instructs the card company and the bank, and
// answers with signed results that carry no card or account data. It never stores a number.
// Thread-safe: requests are serialised by its store.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/id.hpp"
#include "parties/common/party_kit.hpp"

namespace ecash::clearing {

class ClearingHouse final : public protocol::Endpoint {
 public:
  // card_company and bank_institution reach the outside institutions (or their sandboxes).
  static Result<std::unique_ptr<ClearingHouse>> open(
      const store::Place& place, parties::Identity identity, parties::Directory directory,
      const pki::TrustStore& trust, const Clock& clock,
      std::unique_ptr<protocol::Channel> card_company,
      std::unique_ptr<protocol::Channel> bank_institution);

  // Routes, for the center only: "charge" (S18-S21), "refund", "verify_card" and "confirm_card"
  // {wallet_certificate, sealed_card} (the card company's answers, see card_check), "verify_account" (S97-S99),
  // "payout" (S190-S191), "report", "statement" {institution: "card_company" | "bank", after?,
  // limit?} (an institution's statement: {entries: [{seq, request_id, amount, refunded?}],
  // next?}, with no card or account data), "disclose" and "audit" (the disclosure log, DESIGN §4).
  // One exception to "nothing changes on an error": a refused "disclose" is still logged.
  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) override;

  // The disclosure log re-verified (its route "audit", and the operator's dashboard): {entries,
  // ok, head} when sound, {entries, ok: false, first_bad, problem} when not.
  Result<protocol::Json> audit();

  ClearingHouse(std::unique_ptr<store::Database> db, parties::Identity identity,
                parties::Directory directory, const pki::TrustStore& trust, const Clock& clock,
                std::unique_ptr<protocol::Channel> card_company,
                std::unique_ptr<protocol::Channel> bank_institution);

 private:
  Result<protocol::Json> charge(const pki::Certificate& center, const protocol::Json& body);
  Result<protocol::Json> refund(const protocol::Json& body);
  Result<protocol::Json> card_check(std::string_view route, const protocol::Json& body);
  Result<protocol::Json> verify_account(const pki::Certificate& center, const protocol::Json& body);
  Result<protocol::Json> payout(const pki::Certificate& center, const protocol::Json& body);
  Result<protocol::Json> report();
  Result<protocol::Json> statement(const protocol::Json& body);
  Result<protocol::Json> disclose(const pki::Certificate& center, const protocol::Json& body);
  Result<protocol::Json> disclose_checked(const pki::Certificate& center, const protocol::Json& body,
                                          UnixSeconds now);

  std::unique_ptr<store::Database> m_db;
  parties::Identity m_identity;
  parties::Directory m_directory;
  const pki::TrustStore& m_trust;
  const Clock& m_clock;
  std::unique_ptr<protocol::Channel> m_card_company;
  std::unique_ptr<protocol::Channel> m_bank_institution;
};

}  // namespace ecash::clearing
