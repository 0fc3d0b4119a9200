// The store on PostgreSQL (libpq): the same Database as SQLite's, for operators whose stores live
// on a database server that several nodes share.
//
// Each write transaction runs SERIALIZABLE on a connection of its own from a small pool, so that
// concurrent transactions behave as SQLite's one writer at a time does; a transaction the server
// refuses as conflicting with another (a serialization failure, a deadlock) is rolled back and its
// body run again, as is one whose connection was lost before COMMIT was sent (nothing of it was
// kept). A connection lost while COMMIT was under way leaves the outcome unknown: io_error, which
// every caller keeps for a retry. A failed statement is undone alone (a savepoint before it, sent
// with it in one round trip), as in SQLite, so a body may go on after a refused INSERT. A SELECT
// has no savepoint until one fails: the body then runs again with one before every statement.
//
// Each connection prepares a statement the first time it runs it (the server parses and plans it
// once). Write transactions take an index whenever one serves: under SERIALIZABLE a sequential
// scan locks the whole table against every concurrent writer, and the planner prefers one on a
// small table.
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/failpoint.hpp"
#include "store/database.hpp"
#include "store/db_timer.hpp"
#include "store/postgres_sql.hpp"

namespace ecash::store {
namespace {

// Type OIDs (catalog/pg_type.h, which only the server's headers carry).
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
              kOidOid = 26, kNumericOid = 1700;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// The connection's URL with any password left out, for messages.
std::string redacted(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + ":***" + url.substr(at);
}

std::string sqlstate(const PGresult* r) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return state != nullptr ? state : "";
}

bool succeeded(const PGresult* r) {
  const auto status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

// One connection and the translations of the statements it ran. Used by one thread at a time.
class Connection {
 public:
  explicit Connection(PGconn* conn) : m_conn(conn) {}
  ~Connection() { PQfinish(m_conn); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A connection whose statements name the tables of schema (when given).
  static Result<std::unique_ptr<Connection>> open(const std::string& url,
                                                  const std::string& schema) {
    auto connection = std::make_unique<Connection>(PQconnectdb(url.c_str()));
    if (connection->broken()) {
      return fail(ErrorCode::io_error,
                  "cannot connect to " + redacted(url) + ": " + connection->message());
    }
    // The server's notices (a table that exists already, ...) are not printed on stderr.
    PQsetNoticeProcessor(
        connection->m_conn, [](void*, const char*) {}, nullptr);
    if (!schema.empty()) {
      auto set = connection->plain("SET search_path TO " + connection->identifier(schema));
      if (!succeeded(set.get())) {
        return fail(ErrorCode::io_error,
                    "cannot use schema " + schema + ": " + connection->message());
      }
    }
    return connection;
  }

  bool broken() const { return m_conn == nullptr || PQstatus(m_conn) != CONNECTION_OK; }
  std::string message() const {
    std::string text = m_conn != nullptr ? PQerrorMessage(m_conn) : "out of memory";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }
  PGconn* handle() const { return m_conn; }
  // name quoted as an identifier ("bank"), whatever it holds.
  std::string identifier(const std::string& name) const {
    char* quoted = PQescapeIdentifier(m_conn, name.c_str(), name.size());
    std::string out = quoted != nullptr ? quoted : "\"\"";
    PQfreemem(quoted);
    return out;
  }

  // A statement with no parameters (COMMIT, a migration's several).
  PgResult plain(const std::string& sql) {
    drain();
    return PgResult(PQexec(m_conn, sql.c_str()));
  }

  // A transaction is begun with `begin` (statements), sent with its first statement (in the same
  // round trip); one with no statement is never begun.
  void begin_with_first(std::vector<std::string> begin) { m_begin = std::move(begin); }
  bool begun() const { return m_begun; }
  // Ends the transaction (when begun) without waiting for the answer: a read's, or one that
  // failed. The next use of the connection reads it first.
  void roll_back() {
    m_begin.clear();
    if (!m_begun) return;
    m_begun = false;
    m_unread = PQsendQuery(m_conn, "ROLLBACK") == 1;
  }
  // The transaction was ended by a statement (COMMIT, ROLLBACK).
  void ended() { m_begun = false; }

  const std::string& translated(std::string_view sql) {
    auto it = m_translated.find(std::string(sql));
    if (it == m_translated.end()) {
      it = m_translated.emplace(std::string(sql), detail::to_postgres(sql)).first;
    }
    return it->second;
  }

  // Runs text (translated) with its parameters as a statement prepared on this connection (the
  // first time, prepared in the same round trip), after a savepoint when asked. A statement is
  // prepared apart for write transactions (its plan made without sequential scans). The first
  // result that failed, or the statement's.
  PgResult execute(const std::string& text, const std::vector<Oid>& types,
                   const std::vector<const char*>& values, const std::vector<int>& lengths,
                   const std::vector<int>& formats, bool writes, bool savepoint) {
    std::string key = (writes ? "w" : "r") + text;
    key.append(reinterpret_cast<const char*>(types.data()), types.size() * sizeof(Oid));
    const auto known = m_prepared.find(key);
    const bool fresh = known == m_prepared.end();
    const std::string name = fresh ? "s" + std::to_string(m_next_name++) : known->second;
    const int n = static_cast<int>(types.size());
    drain();
    if (PQenterPipelineMode(m_conn) != 1) return nullptr;
    int sent = 0;
    bool ok = true;
    const int begins = static_cast<int>(m_begin.size());
    for (const auto& begin : m_begin) {
      ok = ok && PQsendQueryParams(m_conn, begin.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                                   0) == 1;
      ++sent;
      m_begun = true;
    }
    m_begin.clear();
    if (savepoint) {
      ok = ok && PQsendQueryParams(m_conn, "SAVEPOINT statement", 0, nullptr, nullptr, nullptr,
                                   nullptr, 0) == 1;
      ++sent;
    }
    if (fresh) {
      ok = ok && PQsendPrepare(m_conn, name.c_str(), text.c_str(), n, types.data()) == 1;
      ++sent;
    }
    ok = ok && PQsendQueryPrepared(m_conn, name.c_str(), n, values.data(), lengths.data(),
                                   formats.data(), 0) == 1;
    ++sent;
    ok = ok && PQpipelineSync(m_conn) == 1;
    std::vector<PgResult> results;
    for (int i = 0; ok && i < sent; ++i) {
      PgResult first(PQgetResult(m_conn));
      if (!first) break;  // the connection is lost
      while (PGresult* more = PQgetResult(m_conn)) PQclear(more);
      results.push_back(std::move(first));
    }
    if (ok && static_cast<int>(results.size()) == sent) {
      PgResult sync(PQgetResult(m_conn));  // PGRES_PIPELINE_SYNC
    }
    (void)PQexitPipelineMode(m_conn);
    if (static_cast<int>(results.size()) < sent) return nullptr;
    if (fresh && PQresultStatus(results[begins + (savepoint ? 1 : 0)].get()) == PGRES_COMMAND_OK) {
      m_prepared.emplace(std::move(key), name);
    }
    for (auto& r : results) {
      if (!succeeded(r.get())) return std::move(r);
    }
    return std::move(results.back());
  }

 private:
  // Reads the answer to a ROLLBACK sent without waiting, if any.
  void drain() {
    if (!m_unread) return;
    m_unread = false;
    while (PGresult* r = PQgetResult(m_conn)) PQclear(r);
  }

  PGconn* m_conn;
  std::vector<std::string> m_begin;
  bool m_begun = false;
  bool m_unread = false;
  std::unordered_map<std::string, std::string> m_translated;
  // Statements prepared on this connection, by their text and parameter types.
  std::unordered_map<std::string, std::string> m_prepared;
  std::size_t m_next_name = 0;
};

Value column(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return std::monostate{};
  const char* text = PQgetvalue(r, row, col);
  switch (PQftype(r, col)) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
      return static_cast<std::int64_t>(std::stoll(text));
    case kBoolOid:
      return static_cast<std::int64_t>(text[0] == 't' ? 1 : 0);
    case kNumericOid: {
      // SUM over BIGINT is NUMERIC: a whole number is the integer SQLite gives.
      const std::string_view v(text);
      if (!v.empty() && v.find_first_not_of("-0123456789") == std::string_view::npos) {
        return static_cast<std::int64_t>(std::stoll(text));
      }
      return std::string(v);
    }
    case kByteaOid: {
      std::size_t length = 0;
      unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &length);
      Bytes out(bytes, bytes + length);
      PQfreemem(bytes);
      return out;
    }
    default:
      return std::string(text);
  }
}

class PgTransaction final : public Transaction {
 public:
  // A write transaction has savepoints, before every statement (select_savepoints) or before
  // every one but a SELECT.
  PgTransaction(Connection& connection, bool savepoints, bool select_savepoints)
      : m_connection(connection),
        m_savepoints(savepoints),
        m_select_savepoints(select_savepoints) {}

  Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Value> params) override {
    auto r = run(sql, params);
    if (!r) return std::unexpected(r.error());
    const char* changed = PQcmdTuples(r->get());
    return static_cast<std::int64_t>(changed[0] == '\0' ? 0 : std::stoll(changed));
  }

  Result<std::vector<Row>> query(std::string_view sql,
                                 std::initializer_list<Value> params) override {
    auto r = run(sql, params);
    if (!r) return std::unexpected(r.error());
    const int rows = PQntuples(r->get()), columns = PQnfields(r->get());
    std::vector<Row> out(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
      out[i].reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) out[i].push_back(column(r->get(), i, c));
    }
    return out;
  }

  // The server refused the transaction as conflicting with another, or its connection was lost
  // before COMMIT: nothing of it stays, and its body is to run again.
  bool must_retry() const { return m_retry; }
  // A SELECT failed without a savepoint: the body's next run needs one before every statement.
  bool needs_select_savepoints() const { return m_needs_select_savepoints; }

 private:
  Result<PgResult> run(std::string_view sql, std::initializer_list<Value> params) {
    if (m_retry) {
      return fail(ErrorCode::unavailable,
                  "the transaction conflicted with another and will run again");
    }
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    std::vector<Oid> types;
    std::vector<std::string> texts;
    texts.reserve(params.size());
    for (const auto& p : params) {
      if (const auto* i = std::get_if<std::int64_t>(&p)) {
        texts.push_back(std::to_string(*i));
        values.push_back(texts.back().c_str());
        lengths.push_back(0);
        formats.push_back(0);
        types.push_back(kInt8Oid);
      } else if (const auto* s = std::get_if<std::string>(&p)) {
        values.push_back(s->c_str());
        lengths.push_back(0);
        formats.push_back(0);
        types.push_back(0);  // unknown: the server takes the type the statement needs there
      } else if (const auto* b = std::get_if<Bytes>(&p)) {
        values.push_back(reinterpret_cast<const char*>(b->data()));
        lengths.push_back(static_cast<int>(b->size()));
        formats.push_back(1);
        types.push_back(kByteaOid);
      } else {
        values.push_back(nullptr);
        lengths.push_back(0);
        formats.push_back(0);
        types.push_back(0);
      }
    }
    const std::string& text = m_connection.translated(sql);
    // A SELECT seldom fails (a bug in its SQL, or a conflict, for which the body runs again).
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    const bool select = first != std::string::npos && text.compare(first, 6, "SELECT") == 0;
    const bool savepoint = m_savepoints && (m_select_savepoints || !select);
    PgResult r = m_connection.execute(text, types, values, lengths, formats, m_savepoints, savepoint);
    if (!succeeded(r.get())) return failure(r.get(), sql, savepoint);
    return r;
  }

  std::unexpected<Error> failure(const PGresult* r, std::string_view sql, bool savepoint) {
    const std::string state = sqlstate(r);
    std::string why = r != nullptr ? PQresultErrorMessage(r) : "";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (why.empty()) why = m_connection.message();
    const std::string where = why + " in: " + std::string(sql.substr(0, 120));
    if (m_connection.broken() || state == "40001" || state == "40P01") {
      m_retry = true;
      return fail(ErrorCode::unavailable, where);
    }
    if (m_savepoints && !savepoint) {
      // A SELECT failed with nothing to undo it alone: the transaction is failed whole, and its
      // body runs again with a savepoint before every statement, to go on as in SQLite.
      m_retry = true;
      m_needs_select_savepoints = true;
      return fail(ErrorCode::unavailable, where);
    }
    // The statement alone is undone; the transaction goes on, as in SQLite.
    if (savepoint) (void)m_connection.plain("ROLLBACK TO SAVEPOINT statement");
    if (state.starts_with("23")) return fail(ErrorCode::conflict, where);
    // Syntax, unknown names, wrong types, a write in a read: a bug in the program's SQL.
    if (state.starts_with("42") || state.starts_with("22") || state.starts_with("25")) {
      return fail(ErrorCode::internal, where);
    }
    return fail(ErrorCode::io_error, where);
  }

  Connection& m_connection;
  bool m_savepoints;
  bool m_select_savepoints;
  bool m_retry = false;
  bool m_needs_select_savepoints = false;
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::string url, std::string name, std::string key_file, std::string schema)
      : m_url(std::move(url)),
        m_shown(redacted(m_url) + (schema.empty() ? "" : " schema " + schema)),
        m_name(std::move(name)),
        m_key_file(std::move(key_file)),
        m_schema(std::move(schema)) {}

  Status open(std::span<const Migration> migrations);
  Status transact(const std::function<Status(Transaction&)>& body) override;
  Status read(const std::function<Status(Transaction&)>& body) override;
  const std::string& path() const override { return m_shown; }
  std::string key_file() const override { return m_key_file; }
  Status compact() override;

 private:
  // Transactions at once, each on its own connection; more wait for one.
  static constexpr std::size_t kMaxConnections = 16;
  // A body the server keeps refusing as conflicting is run at most this many times.
  static constexpr int kMaxAttempts = 20;

  Result<std::unique_ptr<Connection>> take();
  void give_back(std::unique_ptr<Connection> connection);

  // One run of body in a transaction begun with `begin` (with its first statement), on a
  // connection from the pool: the body's result, whether it must run again (a conflict, a lost
  // connection), and the connection, still in the transaction for the caller to end (null when
  // none could be had).
  struct Attempt {
    std::unique_ptr<Connection> connection;
    Status result;
    bool retry = false;
    bool select_savepoints = false;  // the next run needs a savepoint before every statement
  };
  Attempt attempt(bool writes, bool select_savepoints,
                  const std::function<Status(Transaction&)>& body);

  std::string m_url;
  std::string m_shown;
  std::string m_name;
  std::string m_key_file;
  std::string m_schema;
  std::mutex m_pool_mutex;
  std::condition_variable m_pool_free;
  std::vector<std::unique_ptr<Connection>> m_idle;
  std::size_t m_open = 0;
  // The server was reached once: a connection refused after that is waited for (take).
  std::atomic<bool> m_reached = false;
  static constexpr auto kReachAgainWithin = std::chrono::seconds(5);
};

Result<std::unique_ptr<Connection>> PostgresDatabase::take() {
  {
    std::unique_lock lock(m_pool_mutex);
    m_pool_free.wait(lock, [&] { return !m_idle.empty() || m_open < kMaxConnections; });
    if (!m_idle.empty()) {
      auto c = std::move(m_idle.back());
      m_idle.pop_back();
      return c;
    }
    ++m_open;
  }
  auto c = Connection::open(m_url, m_schema);
  // A server reached before and out of reach now is restarting, or its standby is being promoted
  // (a few seconds): nothing was sent yet, so the request waits for it a while, and is then
  // refused as unavailable (done nothing: ask again), not as an unknown outcome.
  if (!c && m_reached) {
    const auto give_up = std::chrono::steady_clock::now() + kReachAgainWithin;
    for (auto pause = std::chrono::milliseconds(50); !c && std::chrono::steady_clock::now() < give_up;
         pause = std::min(pause * 2, std::chrono::milliseconds(1000))) {
      std::this_thread::sleep_for(pause);
      c = Connection::open(m_url, m_schema);
    }
    if (!c) c = fail(ErrorCode::unavailable, c.error().message + " (nothing was done: ask again)");
  }
  if (c) m_reached = true;
  if (!c) {
    std::lock_guard lock(m_pool_mutex);
    --m_open;
    m_pool_free.notify_one();
  }
  return c;
}

void PostgresDatabase::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(m_pool_mutex);
  // A connection the server dropped is not reused: the next caller opens a new one.
  if (connection->broken()) {
    --m_open;
  } else {
    m_idle.push_back(std::move(connection));
  }
  m_pool_free.notify_one();
}

auto PostgresDatabase::attempt(bool writes, bool select_savepoints,
                               const std::function<Status(Transaction&)>& body) -> Attempt {
  auto c = take();
  if (!c) return {nullptr, std::unexpected(c.error())};
  // Under SERIALIZABLE a sequential scan locks the whole table against every concurrent writer
  // (the planner prefers one on a small table): a write plans none where an index serves.
  if (writes) {
    (*c)->begin_with_first({"BEGIN ISOLATION LEVEL SERIALIZABLE", "SET LOCAL enable_seqscan = off"});
  } else {
    (*c)->begin_with_first({"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"});
  }
  PgTransaction tx(**c, writes, select_savepoints);
  Status result;
  try {
    result = body(tx);
  } catch (...) {
    (*c)->roll_back();
    give_back(std::move(*c));
    throw;
  }
  return {std::move(*c), std::move(result), tx.must_retry(), tx.needs_select_savepoints()};
}

Status PostgresDatabase::transact(const std::function<Status(Transaction&)>& body) {
  const DbTimer timer(m_name, "write");
  bool select_savepoints = false;
  for (int round = 0; round < kMaxAttempts; ++round) {
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(round, 6)));
    auto run = attempt(true, select_savepoints, body);
    select_savepoints = select_savepoints || run.select_savepoints;
    if (!run.connection) {
      if (run.retry) continue;
      return run.result;
    }
    auto& connection = *run.connection;
    if (run.retry || !run.result) {
      connection.roll_back();
      give_back(std::move(run.connection));
      if (run.retry) continue;
      return run.result;
    }
    failpoint("commit/" + m_name + "/before");
    // A body that ran no statement began no transaction: nothing to commit.
    auto committed = connection.begun() ? connection.plain("COMMIT") : nullptr;
    connection.ended();
    // COMMIT of a transaction a failed statement left failed rolls it back, and says so.
    if (committed != nullptr && succeeded(committed.get()) &&
        std::string_view(PQcmdStatus(committed.get())) != "COMMIT") {
      give_back(std::move(run.connection));
      return fail(ErrorCode::internal, "a failed statement left the transaction failed: nothing "
                                       "of it was kept (" + m_shown + ")");
    }
    if (committed == nullptr || succeeded(committed.get())) {
      give_back(std::move(run.connection));
      failpoint("commit/" + m_name + "/after");
      return {};
    }
    const std::string state = sqlstate(committed.get());
    const std::string why = connection.message();
    const bool lost = connection.broken();
    give_back(std::move(run.connection));
    if (state == "40001" || state == "40P01") continue;  // refused whole: nothing was kept
    return fail(ErrorCode::io_error,
                std::string(lost ? "COMMIT: the connection was lost, the outcome is unknown: "
                                 : "COMMIT: ") +
                    why + " (" + m_shown + ")");
  }
  return fail(ErrorCode::unavailable, "the database refused the transaction " +
                                          std::to_string(kMaxAttempts) +
                                          " times as conflicting with others (" + m_shown + ")");
}

Status PostgresDatabase::read(const std::function<Status(Transaction&)>& body) {
  const DbTimer timer(m_name, "read");
  // A read has no effects: a lost connection is tried once more on a new one.
  for (int round = 0; round < 2; ++round) {
    auto run = attempt(false, false, body);
    if (run.connection) {
      run.connection->roll_back();
      give_back(std::move(run.connection));
    }
    if (!run.retry) return run.result;
  }
  return fail(ErrorCode::unavailable, "the database could not be read (" + m_shown + ")");
}

Status PostgresDatabase::compact() {
  auto c = take();
  if (!c) return std::unexpected(c.error());
  // Rewrites every table of the database without the old versions of its rows.
  auto done = (*c)->plain("VACUUM FULL");
  const bool ok = succeeded(done.get());
  const auto why = (*c)->message();
  give_back(std::move(*c));
  if (!ok) return fail(ErrorCode::io_error, "VACUUM FULL: " + why + " (" + m_shown + ")");
  return {};
}

// Text columns compare their bytes, as SQLite's do: the translator makes new ones so (COLLATE "C");
// the columns of a store made before it are changed once (their indexes rebuilt), in one
// transaction.
Status bytewise_text(Connection& connection) {
  auto columns = connection.plain(
      "SELECT format('ALTER TABLE %I %s', c.relname, string_agg(format('ALTER COLUMN %I TYPE TEXT "
      "COLLATE \"C\"', a.attname), ', ')) FROM pg_attribute a "
      "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 "
      "AND NOT a.attisdropped AND a.atttypid = 'text'::regtype AND a.attcollation <> "
      "'pg_catalog.\"C\"'::regcollation GROUP BY c.relname");
  if (!succeeded(columns.get())) return fail(ErrorCode::io_error, connection.message());
  const int tables = PQntuples(columns.get());
  if (tables == 0) return {};
  std::string sql = "BEGIN;";
  for (int i = 0; i < tables; ++i) sql += std::string(PQgetvalue(columns.get(), i, 0)) + ";";
  sql += "COMMIT";
  if (auto done = connection.plain(sql); !succeeded(done.get())) {
    const auto why = connection.message();
    (void)connection.plain("ROLLBACK");
    return fail(ErrorCode::internal, "text columns to bytewise order: " + why);
  }
  return {};
}

Status PostgresDatabase::open(std::span<const Migration> migrations) {
  auto c = take();
  if (!c) return std::unexpected(c.error());
  auto& connection = **c;
  // Nodes starting at once migrate one after another (a lock held for this session).
  const auto step = [&](const std::string& sql) -> Status {
    if (auto r = connection.plain(sql); !succeeded(r.get())) {
      return fail(ErrorCode::io_error,
                  connection.message() + " in: " + sql.substr(0, 120) + " (" + m_shown + ")");
    }
    return {};
  };
  const auto migrate = [&]() -> Status {
    if (auto ok = step("SELECT pg_advisory_lock(7291845)"); !ok) return ok;
    if (!m_schema.empty()) {
      if (auto ok = step("CREATE SCHEMA IF NOT EXISTS " + connection.identifier(m_schema)); !ok) {
        return ok;
      }
    }
    if (auto ok = step("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
        !ok) {
      return ok;
    }
    auto current_row = connection.plain("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!succeeded(current_row.get())) return fail(ErrorCode::io_error, connection.message());
    const std::int64_t current = std::stoll(PQgetvalue(current_row.get(), 0, 0));
    if (auto ok = check_not_newer(m_shown, current, migrations); !ok) return ok;
    for (const auto& migration : migrations) {
      if (migration.version <= current) continue;
      if (auto ok = step("BEGIN"); !ok) return ok;
      auto applied = connection.plain(detail::to_postgres(migration.sql));
      if (!succeeded(applied.get())) {
        const auto why = connection.message();
        (void)connection.plain("ROLLBACK");
        return fail(ErrorCode::internal,
                    "migration " + std::to_string(migration.version) + ": " + why);
      }
      if (auto ok = step("INSERT INTO schema_version (version) VALUES (" +
                         std::to_string(migration.version) + ")");
          !ok) {
        (void)connection.plain("ROLLBACK");
        return ok;
      }
      if (auto ok = step("COMMIT"); !ok) return ok;
    }
    return bytewise_text(connection);
  };
  auto migrated = migrate();
  (void)connection.plain("SELECT pg_advisory_unlock_all()");
  give_back(std::move(*c));
  return migrated;
}

// Runs statements outside any transaction (CREATE DATABASE cannot run inside one).
// Runs what statements(database) gives, database being `name` quoted, on one connection and
// outside any transaction (CREATE DATABASE cannot run inside one).
Status on_database(const std::string& url, const std::string& name,
                   std::vector<std::string> (*statements)(const std::string& database)) {
  auto c = Connection::open(url, "");
  if (!c) return std::unexpected(c.error());
  for (const auto& sql : statements((*c)->identifier(name))) {
    if (auto r = (*c)->plain(sql); !succeeded(r.get())) {
      return fail(ErrorCode::io_error,
                  (*c)->message() + " in: " + sql + " (" + redacted(url) + ")");
    }
  }
  return {};
}

}  // namespace

Status create_postgres_database(const std::string& url, const std::string& name) {
  return on_database(url, name, [](const std::string& database) -> std::vector<std::string> {
    return {"DROP DATABASE IF EXISTS " + database + " WITH (FORCE)", "CREATE DATABASE " + database};
  });
}

Status drop_postgres_database(const std::string& url, const std::string& name) {
  return on_database(url, name, [](const std::string& database) -> std::vector<std::string> {
    return {"DROP DATABASE IF EXISTS " + database + " WITH (FORCE)"};
  });
}

bool is_postgres_url(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

Result<std::unique_ptr<Database>> open_postgres(const std::string& url, const std::string& name,
                                                std::span<const Migration> migrations,
                                                const std::string& key_file,
                                                const std::string& schema) {
  auto db = std::make_unique<PostgresDatabase>(url, name, key_file, schema);
  if (auto ok = db->open(migrations); !ok) return std::unexpected(ok.error());
  return db;
}

}  // namespace ecash::store
