#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/failpoint.hpp"
#include "store/database.hpp"
#include "store/db_timer.hpp"

namespace ecash::store {
namespace {

// One SQLite connection and its prepared statements. Used by one thread at a time.
class Connection {
 public:
  Connection(sqlite3* db, std::string path) : m_db(db), m_path(std::move(path)) {}
  ~Connection() {
    for (auto& [sql, stmt] : m_statements) sqlite3_finalize(stmt);
    sqlite3_close(m_db);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  static Result<std::unique_ptr<Connection>> open(const std::string& path) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    auto connection = std::make_unique<Connection>(db, path);
    if (rc != SQLITE_OK) return connection->failure("cannot open database");
    sqlite3_busy_timeout(db, 5000);
    // A larger page cache than the default 2 MiB. Statement journals (a savepoint's copy of each
    // page it changes: every body of a shared commit runs in one) in memory, not in a temporary
    // file opened, written page by page and deleted in every such transaction.
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                               "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-16384",
                               "PRAGMA temp_store=MEMORY"}) {
      if (auto ok = connection->exec_plain(pragma); !ok) return std::unexpected(ok.error());
    }
    return connection;
  }

  Result<sqlite3_stmt*> prepare(std::string_view sql) {
    // Statements are mostly string literals, asked for from the same address every time: looked
    // up by that address first (and compared byte for byte), before their text is hashed.
    if (auto it = m_by_address.find(sql.data());
        it != m_by_address.end() && *it->second.first == sql) {
      return it->second.second;
    }
    auto it = m_statements.find(sql);
    if (it == m_statements.end()) {
      std::string key(sql);
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(m_db, key.c_str(), static_cast<int>(key.size()), &stmt, nullptr) !=
          SQLITE_OK) {
        return fail(ErrorCode::internal,
                    std::string("bad SQL: ") + sqlite3_errmsg(m_db) + " in: " + key.substr(0, 120));
      }
      it = m_statements.emplace(std::move(key), stmt).first;
    }
    // Bounded: text built at run time would come from ever new addresses.
    if (auto at = m_by_address.find(sql.data()); at != m_by_address.end()) {
      at->second = {&it->first, it->second};
    } else if (m_by_address.size() < kMaxAddresses) {
      m_by_address.emplace(sql.data(), std::pair{&it->first, it->second});
    }
    return it->second;
  }
  // Runs one statement without parameters or rows, prepared once.
  Status exec_plain(const char* sql) {
    auto stmt = prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return failure(sql);
    return {};
  }
  std::unexpected<Error> failure(const std::string& what) const {
    return fail(ErrorCode::io_error, what + ": " + sqlite3_errmsg(m_db) + " (" + m_path + ")");
  }
  sqlite3* handle() const { return m_db; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr std::size_t kMaxAddresses = 512;
  sqlite3* m_db;
  std::string m_path;
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> m_statements;
  // Where a statement's text was last asked for from: the text (a key of m_statements, whose
  // nodes stay put) and its statement.
  std::unordered_map<const char*, std::pair<const std::string*, sqlite3_stmt*>> m_by_address;
};

class SqliteTransaction final : public Transaction {
 public:
  explicit SqliteTransaction(Connection& connection) : m_connection(connection) {}

  Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Value> params) override {
    auto stmt = bind(sql, params);
    if (!stmt) return std::unexpected(stmt.error());
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return step_failure(rc, sql);
    return static_cast<std::int64_t>(sqlite3_changes(m_connection.handle()));
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
                std::string(sqlite3_errmsg(m_connection.handle())) + " in: " +
                    std::string(sql.substr(0, 120)));
  }

  Result<sqlite3_stmt*> bind(std::string_view sql, std::initializer_list<Value> params) {
    auto stmt = m_connection.prepare(sql);
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
        rc = sqlite3_bind_text(*stmt, index, s->data(), static_cast<int>(s->size()),
                               SQLITE_STATIC);
      } else if (const auto* b = std::get_if<Bytes>(&value)) {
        rc = sqlite3_bind_blob(*stmt, index, b->data(), static_cast<int>(b->size()),
                               SQLITE_STATIC);
      } else {
        rc = sqlite3_bind_null(*stmt, index);
      }
      if (rc != SQLITE_OK) return m_connection.failure("bind");
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

  Connection& m_connection;
};

// A SQLite file with one writing connection and a pool of reading ones (WAL lets readers go on
// while a write commits). Writes are group-committed: callers queue their transaction bodies; one
// of them, the leader, runs every queued body in one SQLite transaction, each inside its own
// savepoint (so one body's error undoes only that body), then commits once, durably, and wakes
// them all. Every caller still returns only after the commit that holds its work is durable.
class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::string path) : m_path(std::move(path)), m_name(store_name(m_path)) {}

  Status open(std::span<const Migration> migrations);
  Status transact(const std::function<Status(Transaction&)>& body) override;
  Status read(const std::function<Status(Transaction&)>& body) override;
  const std::string& path() const override { return m_path; }
  std::string key_file() const override { return in_memory() ? "" : m_path + ".key"; }
  Status compact() override;

 private:
  struct Pending {
    const std::function<Status(Transaction&)>* body;
    Status result;
    std::exception_ptr exception;
    bool done = false;
    bool lead = false;
    std::condition_variable woken;
  };
  // A batch holds at most this many bodies, so that a steady stream of writers still commits.
  static constexpr std::size_t kMaxBatch = 256;
  static constexpr std::size_t kMaxReaders = 8;

  void run_batch(const std::vector<Pending*>& batch);
  Result<std::unique_ptr<Connection>> take_reader();
  void give_back(std::unique_ptr<Connection> reader);
  bool in_memory() const { return m_path == ":memory:" || m_path.empty(); }

  // A store is named in failpoints by its file: "bank", "wallet", "sandbox.card_company".
  static std::string store_name(const std::string& path) {
    const std::filesystem::path p(path);
    const auto stem = p.stem().string();
    const auto folder = p.parent_path().filename().string();
    return folder == "sandbox" ? "sandbox." + stem : stem;
  }

  std::string m_path;
  std::string m_name;
  std::unique_ptr<Connection> m_writer;  // only the leader uses it

  std::mutex m_memory_mutex;  // an in-memory store's one connection
  std::mutex m_queue_mutex;
  std::deque<Pending*> m_queue;
  bool m_leader = false;  // a caller is running a batch, and will hand over to the next in line

  std::mutex m_readers_mutex;
  std::condition_variable m_reader_free;
  std::vector<std::unique_ptr<Connection>> m_idle_readers;
  std::size_t m_reader_count = 0;
};

Status SqliteDatabase::transact(const std::function<Status(Transaction&)>& body) {
  const DbTimer timer(m_name, "write");
  Pending mine{&body, {}, nullptr};
  if (in_memory()) {
    // Nothing to make durable, so nothing to share: one body at a time, on the caller's thread.
    std::lock_guard lock(m_memory_mutex);
    run_batch({&mine});
    if (mine.exception) std::rethrow_exception(mine.exception);
    return mine.result;
  }
  std::unique_lock lock(m_queue_mutex);
  m_queue.push_back(&mine);
  if (m_leader) {
    // Woken once: when a leader has committed this body, or when this one is to lead next.
    mine.woken.wait(lock, [&] { return mine.done || mine.lead; });
  }
  while (!mine.done) {
    m_leader = true;
    std::vector<Pending*> batch;
    while (!m_queue.empty() && batch.size() < kMaxBatch) {
      batch.push_back(m_queue.front());
      m_queue.pop_front();
    }
    lock.unlock();
    run_batch(batch);
    lock.lock();
    for (auto* p : batch) {
      p->done = true;
      if (p != &mine) p->woken.notify_one();
    }
    // The next body in line leads the next commit; none: nobody leads until one comes.
    if (!m_queue.empty()) {
      m_queue.front()->lead = true;
      m_queue.front()->woken.notify_one();
    } else {
      m_leader = false;
    }
  }
  lock.unlock();
  if (mine.exception) std::rethrow_exception(mine.exception);
  return mine.result;
}

void SqliteDatabase::run_batch(const std::vector<Pending*>& batch) {
  Connection& c = *m_writer;
  if (auto begun = c.exec_plain("BEGIN IMMEDIATE"); !begun) {
    for (auto* p : batch) p->result = begun;
    return;
  }
  SqliteTransaction tx(c);
  bool any = false;
  // A body alone in its transaction needs no savepoint: its failure rolls the whole back.
  const bool alone = batch.size() == 1;
  for (auto* p : batch) {
    if (auto ok = alone ? Status{} : c.exec_plain("SAVEPOINT body"); !ok) {
      p->result = ok;
      continue;
    }
    try {
      p->result = (*p->body)(tx);
    } catch (...) {
      p->exception = std::current_exception();
    }
    if (!p->result || p->exception) {
      // Nothing of a body that failed or threw may stay.
      if (!alone) (void)c.exec_plain("ROLLBACK TO body");
    } else {
      any = true;
    }
    if (!alone) (void)c.exec_plain("RELEASE body");
  }
  if (!any) {
    (void)c.exec_plain("ROLLBACK");
    return;
  }
  failpoint("commit/" + m_name + "/before");
  Status committed;
  if (auto fault = storage_fault(m_name)) {
    committed = fail(ErrorCode::io_error, "COMMIT: " + *fault + " (" + m_path + ")");
  } else {
    committed = c.exec_plain("COMMIT");
  }
  if (!committed) {
    (void)c.exec_plain("ROLLBACK");
    // The work of every body that succeeded is lost with the commit.
    for (auto* p : batch) {
      if (p->result && !p->exception) p->result = committed;
    }
    return;
  }
  failpoint("commit/" + m_name + "/after");
}

Result<std::unique_ptr<Connection>> SqliteDatabase::take_reader() {
  std::unique_lock lock(m_readers_mutex);
  for (;;) {
    if (!m_idle_readers.empty()) {
      auto reader = std::move(m_idle_readers.back());
      m_idle_readers.pop_back();
      return reader;
    }
    if (m_reader_count < kMaxReaders) {
      ++m_reader_count;
      lock.unlock();
      auto reader = Connection::open(m_path);
      if (!reader) {
        lock.lock();
        --m_reader_count;
        m_reader_free.notify_one();
      }
      return reader;
    }
    m_reader_free.wait(lock);
  }
}

void SqliteDatabase::give_back(std::unique_ptr<Connection> reader) {
  std::lock_guard lock(m_readers_mutex);
  m_idle_readers.push_back(std::move(reader));
  m_reader_free.notify_one();
}

Status SqliteDatabase::read(const std::function<Status(Transaction&)>& body) {
  const DbTimer timer(m_name, "read");
  // An in-memory database exists on its one connection only: reads join the writers.
  if (in_memory()) return transact(body);
  auto reader = take_reader();
  if (!reader) return std::unexpected(reader.error());
  Connection& c = **reader;
  Status result = c.exec_plain("BEGIN DEFERRED");
  if (result) {
    SqliteTransaction tx(c);
    try {
      result = body(tx);
    } catch (...) {
      (void)c.exec_plain("ROLLBACK");
      give_back(std::move(*reader));
      throw;
    }
    // Nothing was written: ending the snapshot either way is the same.
    (void)c.exec_plain("ROLLBACK");
  }
  give_back(std::move(*reader));
  return result;
}

Status SqliteDatabase::compact() {
  std::lock_guard lock(m_queue_mutex);
  // Idle readers hold no snapshot, but each connection's WAL index view is dropped with it.
  {
    std::lock_guard readers(m_readers_mutex);
    m_reader_count -= m_idle_readers.size();
    m_idle_readers.clear();
  }
  for (const char* step : {"PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"}) {
    if (auto ok = m_writer->exec_plain(step); !ok) return ok;
  }
  return {};
}

Status SqliteDatabase::open(std::span<const Migration> migrations) {
  auto writer = Connection::open(in_memory() ? ":memory:" : m_path);
  if (!writer) return std::unexpected(writer.error());
  m_writer = std::move(*writer);
  if (auto ok = m_writer->exec_plain(
          "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      !ok) {
    return ok;
  }
  std::int64_t current = 0;
  auto read_version = transact([&](Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!row) return std::unexpected(row.error());
    auto v = int_at(**row, 0);
    if (!v) return std::unexpected(v.error());
    current = *v;
    return {};
  });
  if (!read_version) return read_version;
  if (auto ok = check_not_newer(m_path, current, migrations); !ok) return ok;
  for (const auto& migration : migrations) {
    if (migration.version <= current) continue;
    auto applied = transact([&](Transaction& tx) -> Status {
      // A migration may hold several statements; sqlite3_exec runs them all.
      char* message = nullptr;
      const std::string sql(migration.sql);
      if (sqlite3_exec(m_writer->handle(), sql.c_str(), nullptr, nullptr, &message) !=
          SQLITE_OK) {
        std::string text = message ? message : "unknown";
        sqlite3_free(message);
        return fail(ErrorCode::internal,
                    "migration " + std::to_string(migration.version) + ": " + text);
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

Status check_not_newer(const std::string& store, std::int64_t current,
                       std::span<const Migration> migrations) {
  const int known = migrations.empty() ? 0 : migrations.back().version;
  if (current > known) {
    return fail(ErrorCode::conflict, store + " has schema version " + std::to_string(current) +
                                         ", newer than this program's " + std::to_string(known));
  }
  return {};
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

namespace ecash::store {

Result<std::unique_ptr<Database>> open_store(const Place& place,
                                             std::span<const Migration> migrations) {
  if (place.server.empty()) return open_sqlite(place.file, migrations);
  return open_postgres(place.server, place.schema, migrations, place.file + ".key", place.schema);
}

}  // namespace ecash::store
