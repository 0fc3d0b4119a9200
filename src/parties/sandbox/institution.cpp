#include "parties/sandbox/institution.hpp"

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "parties/sandbox/fields.hpp"
#include "store/request_log.hpp"

namespace ecash::sandbox {
namespace {

// The answer already given to this request (same ID, route and digest), or nullopt when it is new;
// replayed when the ID was used by another request.
Result<std::optional<Json>> previous_answer(store::Transaction& tx, std::string_view request_id,
                                            std::string_view route, const crypto::Digest& digest) {
  auto previous = store::find_answer(tx, request_id, route, digest);
  if (!previous) return std::unexpected(previous.error());
  if (!*previous) return std::optional<Json>();
  Json answer = Json::parse(**previous, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) return fail(ErrorCode::internal, "stored answer is damaged");
  return std::optional<Json>(std::move(answer));
}

}  // namespace

Institution::Institution(std::string name, std::unique_ptr<store::Database> db, const Clock& clock,
                         Routes routes)
    : m_db(std::move(db)), m_clock(clock), m_name(std::move(name)), m_routes(std::move(routes)) {}

Result<std::unique_ptr<store::Database>> Institution::open_store(
    const std::string& db_path, std::span<const std::string_view> versions) {
  const std::string first = std::string(versions.front()) + std::string(store::kRequestLogSql);
  std::vector<store::Migration> migrations;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    migrations.push_back({static_cast<int>(i + 1), i == 0 ? std::string_view(first) : versions[i]});
  }
  return store::open_sqlite(db_path, migrations);
}

Result<Json> Institution::statement_of(const Json& body, std::string_view sql,
                                       const std::function<Result<Json>(const store::Row&)>& entry) {
  std::int64_t after = 0;
  std::int64_t limit = kMaxStatementPage;
  for (auto [name, field] : {std::pair{"after", &after}, std::pair{"limit", &limit}}) {
    if (!body.contains(name)) continue;
    const auto& v = body.at(name);
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
      return fail(ErrorCode::invalid_argument, std::string(name) + " must be a count");
    }
    *field = v.get<std::int64_t>();
  }
  if (limit == 0 || limit > kMaxStatementPage) limit = kMaxStatementPage;
  Json entries = Json::array();
  auto done = read(*m_db, [&](store::Transaction& tx) -> Status {
    auto rows = tx.query(sql, {after, limit});
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto made = entry(row);
      if (!made) return std::unexpected(made.error());
      made->emplace("seq", *store::int_at(row, 0));
      entries.push_back(std::move(*made));
    }
    return {};
  });
  if (!done) return std::unexpected(done.error());
  Json out = {{"entries", Json::array()}};
  if (static_cast<std::int64_t>(entries.size()) == limit) out["next"] = entries.back().at("seq");
  out["entries"] = std::move(entries);
  return out;
}

Result<Json> Institution::list_of(std::string_view sql,
                                  const std::function<Result<Json>(const store::Row&)>& entry) {
  Json list = Json::array();
  auto done = read(*m_db, [&](store::Transaction& tx) -> Status {
    auto rows = tx.query(sql);
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto made = entry(row);
      if (!made) return std::unexpected(made.error());
      list.push_back(std::move(*made));
    }
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return list;
}

Result<Json> Institution::handle(const protocol::Caller& /*caller*/, std::string_view route,
                                 const Json& body) {
  return guarded([&]() -> Result<Json> {
    for (const auto& [name, handler] : m_routes) {
      if (name == route) return handler(body);
    }
    return fail(ErrorCode::not_found, m_name + " has no route " + std::string(route));
  });
}

Result<Json> Institution::answer_once(
    std::string_view route, const std::string& request_id, const crypto::Digest& digest,
    const std::function<Result<Json>(store::Transaction&)>& work) {
  Json answer;
  auto done = write(*m_db, [&](store::Transaction& tx) -> Status {
    auto previous = previous_answer(tx, request_id, route, digest);
    if (!previous) return std::unexpected(previous.error());
    if (*previous) {
      answer = std::move(**previous);
      return {};
    }
    auto fresh = work(tx);
    if (!fresh) return std::unexpected(fresh.error());
    answer = std::move(*fresh);
    return store::remember_answer(tx, request_id, route, digest, answer.dump(), m_clock.now());
  });
  if (!done) return std::unexpected(done.error());
  return answer;
}

}  // namespace ecash::sandbox
