#include <sqlite3.h>

#include <mutex>
#include <unordered_map>

#include "store/database.hpp"

namespace ecash::store {
namespace {

class SqliteTransaction;

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::string path) : m_path(std::move(path)) {}
  ~SqliteDatabase() override {
    for (auto& [sql, stmt] : m_statements) sqlite3_finalize(stmt);
    if (m_db != nullptr) sqlite3_close(m_db);
  }

  Status open(std::span<const Migration> migrations);
  Status transact(const std::function<Status(Transaction&)>& body) override;
  Status read(const std::function<Status(Transaction&)>& body) override;
  const std::string& path() const override { return m_path; }

  Result<sqlite3_stmt*> prepare(std::string_view sql);
  std::unexpected<Error> failure(const std::string& what) const {
    return fail(ErrorCode::io_error, what + ": " + sqlite3_errmsg(m_db) + " (" + m_path + ")");
  }
  Status exec_plain(const char* sql) {
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return failure(sql);
    return {};
  }
  sqlite3* handle() const { return m_db; }

 private:
  Status run(const char* begin, const std::function<Status(Transaction&)>& body);

  std::string m_path;
  sqlite3* m_db = nullptr;
  std::mutex m_mutex;  // one transaction at a time on this connection
  std::unordered_map<std::string, sqlite3_stmt*> m_statements;
};

class SqliteTransaction final : public Transaction {
 public:
  explicit SqliteTransaction(SqliteDatabase& db) : m_db(db) {}

  Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Value> params) override {
    auto stmt = bind(sql, params);
    if (!stmt) return std::unexpected(stmt.error());
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return step_failure(rc, sql);
    return static_cast<std::int64_t>(sqlite3_changes(m_db.handle()));
  }

  Result<std::vector<Row>> query(std::string_view sql,
                                 std::initializer_list<Value> params) override {
    auto stmt = bind(sql, params);
    if (!stmt) return std::unexpected(stmt.error());
    std::vector<Row> rows;
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      const int columns = sqlite3_column_count(*stmt);
      Row row;
      row.reserve(static_cast<std::size_t>(columns));
      for (int i = 0; i < columns; ++i) row.push_back(column(*stmt, i));
      rows.push_back(std::move(row));
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return step_failure(rc, sql);
    return rows;
  }

 private:
  std::unexpected<Error> step_failure(int rc, std::string_view sql) {
    const bool constraint = (rc & 0xff) == SQLITE_CONSTRAINT;
    return fail(constraint ? ErrorCode::conflict : ErrorCode::io_error,
                std::string(sqlite3_errmsg(m_db.handle())) + " in: " + std::string(sql.substr(0, 120)));
  }

  Result<sqlite3_stmt*> bind(std::string_view sql, std::initializer_list<Value> params) {
    auto stmt = m_db.prepare(sql);
    if (!stmt) return stmt;
    sqlite3_clear_bindings(*stmt);
    if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(*stmt)) {
      return fail(ErrorCode::internal, "wrong number of parameters for: " + std::string(sql));
    }
    int index = 1;
    for (const auto& value : params) {
      int rc = SQLITE_OK;
      if (const auto* i = std::get_if<std::int64_t>(&value)) {
        rc = sqlite3_bind_int64(*stmt, index, *i);
      } else if (const auto* s = std::get_if<std::string>(&value)) {
        rc = sqlite3_bind_text(*stmt, index, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
      } else if (const auto* b = std::get_if<Bytes>(&value)) {
        rc = sqlite3_bind_blob(*stmt, index, b->data(), static_cast<int>(b->size()), SQLITE_TRANSIENT);
      } else {
        rc = sqlite3_bind_null(*stmt, index);
      }
      if (rc != SQLITE_OK) return m_db.failure("bind");
      ++index;
    }
    return stmt;
  }

  static Value column(sqlite3_stmt* stmt, int i) {
    switch (sqlite3_column_type(stmt, i)) {
      case SQLITE_INTEGER:
        return static_cast<std::int64_t>(sqlite3_column_int64(stmt, i));
      case SQLITE_TEXT:
        return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt, i)));
      case SQLITE_BLOB: {
        const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, i));
        return Bytes(data, data + sqlite3_column_bytes(stmt, i));
      }
      default:
        return std::monostate{};
    }
  }

  SqliteDatabase& m_db;
};

Result<sqlite3_stmt*> SqliteDatabase::prepare(std::string_view sql) {
  std::string key(sql);
  if (auto it = m_statements.find(key); it != m_statements.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(m_db, key.c_str(), static_cast<int>(key.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return fail(ErrorCode::internal,
                std::string("bad SQL: ") + sqlite3_errmsg(m_db) + " in: " + key.substr(0, 120));
  }
  m_statements.emplace(std::move(key), stmt);
  return stmt;
}

Status SqliteDatabase::run(const char* begin, const std::function<Status(Transaction&)>& body) {
  std::lock_guard lock(m_mutex);
  if (auto ok = exec_plain(begin); !ok) return ok;
  SqliteTransaction tx(*this);
  Status result;
  try {
    result = body(tx);
  } catch (...) {
    // Nothing of a transaction whose body threw may stay; the exception goes on to the caller.
    exec_plain("ROLLBACK");
    throw;
  }
  if (!result) {
    exec_plain("ROLLBACK");
    return result;
  }
  if (auto ok = exec_plain("COMMIT"); !ok) {
    exec_plain("ROLLBACK");
    return ok;
  }
  return {};
}

Status SqliteDatabase::transact(const std::function<Status(Transaction&)>& body) {
  return run("BEGIN IMMEDIATE", body);
}

Status SqliteDatabase::read(const std::function<Status(Transaction&)>& body) {
  return run("BEGIN DEFERRED", body);
}

Status SqliteDatabase::open(std::span<const Migration> migrations) {
  if (sqlite3_open_v2(m_path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    return failure("cannot open database");
  }
  sqlite3_busy_timeout(m_db, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON"}) {
    if (auto ok = exec_plain(pragma); !ok) return ok;
  }
  if (auto ok = exec_plain("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      !ok) {
    return ok;
  }
  std::int64_t current = 0;
  auto read_version = read([&](Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!row) return std::unexpected(row.error());
    auto v = int_at(**row, 0);
    if (!v) return std::unexpected(v.error());
    current = *v;
    return {};
  });
  if (!read_version) return read_version;
  const int known = migrations.empty() ? 0 : migrations.back().version;
  if (current > known) {
    return fail(ErrorCode::conflict, m_path + " has schema version " + std::to_string(current) +
                                         ", newer than this program's " + std::to_string(known));
  }
  for (const auto& migration : migrations) {
    if (migration.version <= current) continue;
    auto applied = transact([&](Transaction& tx) -> Status {
      // A migration may hold several statements; exec runs them all.
      char* message = nullptr;
      const std::string sql(migration.sql);
      if (sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "unknown";
        sqlite3_free(message);
        return fail(ErrorCode::internal, "migration " + std::to_string(migration.version) + ": " + text);
      }
      auto done = tx.exec("INSERT INTO schema_version (version) VALUES (?)",
                          {static_cast<std::int64_t>(migration.version)});
      if (!done) return std::unexpected(done.error());
      return {};
    });
    if (!applied) return applied;
  }
  return {};
}

}  // namespace

Result<std::int64_t> int_at(const Row& row, std::size_t column) {
  if (column < row.size()) {
    if (const auto* v = std::get_if<std::int64_t>(&row[column])) return *v;
  }
  return fail(ErrorCode::internal, "column " + std::to_string(column) + " is not an integer");
}

Result<std::string> text_at(const Row& row, std::size_t column) {
  if (column < row.size()) {
    if (const auto* v = std::get_if<std::string>(&row[column])) return *v;
  }
  return fail(ErrorCode::internal, "column " + std::to_string(column) + " is not text");
}

Result<Bytes> blob_at(const Row& row, std::size_t column) {
  if (column < row.size()) {
    if (const auto* v = std::get_if<Bytes>(&row[column])) return *v;
    // SQLite returns an empty blob as NULL.
    if (std::holds_alternative<std::monostate>(row[column])) return Bytes{};
  }
  return fail(ErrorCode::internal, "column " + std::to_string(column) + " is not a blob");
}

bool is_null_at(const Row& row, std::size_t column) {
  return column >= row.size() || std::holds_alternative<std::monostate>(row[column]);
}

Result<std::optional<Row>> Transaction::query_one(std::string_view sql,
                                                  std::initializer_list<Value> params) {
  auto rows = query(sql, params);
  if (!rows) return std::unexpected(rows.error());
  if (rows->size() > 1) return fail(ErrorCode::internal, "more than one row: " + std::string(sql));
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

Result<std::unique_ptr<Database>> open_sqlite(const std::string& path,
                                              std::span<const Migration> migrations) {
  auto db = std::make_unique<SqliteDatabase>(path);
  if (auto ok = db->open(migrations); !ok) return std::unexpected(ok.error());
  return db;
}

}  // namespace ecash::store
