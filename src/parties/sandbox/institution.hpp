// What the sandbox institutions (the card company, the bank) share: their own SQLite store (their
// tables and the request log), a clock, routing each route to its handler with no exception
// escaping, and answering a request once. Thread-safe: all state lives in the store's transactions.
#pragma once

#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "crypto/at_rest.hpp"
#include "crypto/hash.hpp"
#include "protocol/transport.hpp"
#include "store/data_key.hpp"
#include "store/database.hpp"

namespace ecash::sandbox {

class Institution : public protocol::Endpoint {
 public:
  // Runs the route's handler guarded (see fields.hpp); not_found for a route it does not have.
  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) final;

 protected:
  using Handler = std::function<Result<protocol::Json>(const protocol::Json&)>;
  using Routes = std::vector<std::pair<std::string_view, Handler>>;

  // name says who refuses an unknown route ("the card company"). clock must outlive it.
  Institution(std::string name, std::unique_ptr<store::Database> db, const Clock& clock,
              Routes routes);

  // Opens or creates the institution I with its store at db_path and the data key beside it
  // (db_path.key, see crypto/at_rest.hpp): versions[0] is the first schema (the request log is
  // added to it), each later one a migration; then I's seal_clear_rows runs. I's constructor
  // takes (db, clock) and befriends Institution.
  template <class I>
  static Result<std::unique_ptr<I>> open_as(const std::string& db_path,
                                            std::span<const std::string_view> versions,
                                            const Clock& clock) {
    auto db = open_store(db_path, versions);
    if (!db) return std::unexpected(db.error());
    auto key = store::data_key(**db);
    if (!key) return std::unexpected(key.error());
    std::unique_ptr<I> institution(new I(std::move(*db), clock));
    auto& base = static_cast<Institution&>(*institution);
    base.m_data_key.emplace(std::move(*key));
    if (auto ok = base.seal_clear_rows(); !ok) return std::unexpected(ok.error());
    return institution;
  }

  // Seals what an older version of the store kept in clear (card numbers, IBANs, holders), then
  // compacts the store so that no old byte stays on the disk. Runs at every open; finds nothing
  // to do once done.
  virtual Status seal_clear_rows() { return {}; }
  // The key that seals this institution's card numbers, IBANs and holders in its store.
  const crypto::AtRestKey& data_key() const { return *m_data_key; }

  // The answer already given to this request (same ID, route and digest), or else work's answer,
  // remembered in the transaction work ran in. replayed when the ID was used by another request;
  // work's error rolls everything back.
  Result<protocol::Json> answer_once(
      std::string_view route, const std::string& request_id, const crypto::Digest& digest,
      const std::function<Result<protocol::Json>(store::Transaction&)>& work);

  // Every row `sql` selects, each made an entry by `entry`: a list for the institution's own
  // desk (cards, accounts).
  Result<protocol::Json> list_of(
      std::string_view sql, const std::function<Result<protocol::Json>(const store::Row&)>& entry);

  // A statement page (the "statement" route of both institutions): the rows `sql` selects, given
  // the body's "after" (a sequence number, 0 when absent) and "limit" (at most kMaxStatementPage,
  // that when absent) as its two parameters, its first column the entry's sequence number, each
  // row made an entry by `entry`. {entries, next?}: next (the last entry's "seq") only when the
  // page is full. invalid_argument when after or limit is not a count.
  static constexpr std::int64_t kMaxStatementPage = 5000;
  Result<protocol::Json> statement_of(
      const protocol::Json& body, std::string_view sql,
      const std::function<Result<protocol::Json>(const store::Row&)>& entry);

  std::unique_ptr<store::Database> m_db;
  const Clock& m_clock;

 private:
  static Result<std::unique_ptr<store::Database>> open_store(
      const std::string& db_path, std::span<const std::string_view> versions);

  std::string m_name;
  Routes m_routes;
  std::optional<crypto::AtRestKey> m_data_key;  // set by open_as, before any route runs
};

}  // namespace ecash::sandbox
