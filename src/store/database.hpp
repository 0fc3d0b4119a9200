// A party's own store: a small relational interface (transactions, statements with ? placeholders)
// that SQLite (the embedded default) and PostgreSQL implement. A Database may be used from several
// threads; each transaction runs on one thread, serialised with other writers.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/bytes.hpp"
#include "base/error.hpp"

namespace ecash::store {

// NULL, INTEGER, TEXT, BLOB.
using Value = std::variant<std::monostate, std::int64_t, std::string, Bytes>;
using Row = std::vector<Value>;

// Typed access to a column; an internal error when the stored type is another (a schema bug).
Result<std::int64_t> int_at(const Row& row, std::size_t column);
Result<std::string> text_at(const Row& row, std::size_t column);
Result<Bytes> blob_at(const Row& row, std::size_t column);
bool is_null_at(const Row& row, std::size_t column);

class Transaction {
 public:
  virtual ~Transaction() = default;
  // Runs one statement; the number of rows it changed.
  virtual Result<std::int64_t> exec(std::string_view sql, std::initializer_list<Value> params = {}) = 0;
  virtual Result<std::vector<Row>> query(std::string_view sql,
                                         std::initializer_list<Value> params = {}) = 0;
  // The single row a query returns, nullopt for none, internal for more than one.
  Result<std::optional<Row>> query_one(std::string_view sql, std::initializer_list<Value> params = {});
};

class Database {
 public:
  virtual ~Database() = default;
  // Runs body in one write transaction: committed (durably) when body succeeds, rolled back when it
  // returns an error, which is passed on.
  virtual Status transact(const std::function<Status(Transaction&)>& body) = 0;
  // Runs body on a consistent read-only snapshot.
  virtual Status read(const std::function<Status(Transaction&)>& body) = 0;
  virtual const std::string& path() const = 0;
  // Where the key that seals this store's fields is kept (store/data_key.hpp): beside a SQLite
  // file (path + ".key"), in the party's folder for a store on a server; empty for a store in
  // memory, whose key lives and dies with it.
  virtual std::string key_file() const = 0;
  // Rewrites the file without its free pages, and empties the write-ahead log: after a value was
  // replaced (sealed where it was kept in clear), its old bytes are gone from the disk. Not while
  // other threads use the store (a migration's last step, at open).
  virtual Status compact() = 0;
};

struct Migration {
  int version;  // 1, 2, 3, ... in order; never change a released one, add another
  std::string_view sql;
};

// For the engines: conflict when a store at schema version `current` is newer than the last of
// migrations (a newer program wrote it).
Status check_not_newer(const std::string& store, std::int64_t current,
                       std::span<const Migration> migrations);

// Opens or creates the SQLite file at path (WAL, synchronous=FULL, foreign keys) and brings its
// schema up to date, each migration in its own transaction. conflict if the file's schema is newer
// than the migrations given (a newer binary wrote it); io_error if it cannot be opened.
Result<std::unique_ptr<Database>> open_sqlite(const std::string& path,
                                              std::span<const Migration> migrations);

// Whether a store's location is a PostgreSQL URL (postgresql://...) rather than a file.
bool is_postgres_url(std::string_view location);

// Opens the store in the PostgreSQL database at url (libpq's URL: several hosts with
// target_session_attrs=read-write find the primary) and brings its schema up to date, the same
// migrations as SQLite's, translated (see postgres_sql.hpp). name stands for the store in
// failpoints ("bank"); its data key is kept in key_file, on this machine; its tables in schema
// (made when missing; empty: the server's default). conflict if its schema is newer than the
// migrations given; io_error if the server cannot be reached.
Result<std::unique_ptr<Database>> open_postgres(const std::string& url, const std::string& name,
                                                std::span<const Migration> migrations,
                                                const std::string& key_file = "",
                                                const std::string& schema = "");

// Makes (or, with drop, removes) the database `name` on the PostgreSQL server at url: for tests
// that give each test a database of its own, and for setting up an operator's. An existing
// database is removed first when made again.
Status create_postgres_database(const std::string& url, const std::string& name);
Status drop_postgres_database(const std::string& url, const std::string& name);

// Where a party's store is: the SQLite file `file`, or, when `server` names a PostgreSQL database,
// the schema `schema` there (a role's tables apart from the others'), its data key still kept at
// file + ".key" on this machine. A path alone is a SQLite file.
struct Place {
  Place(std::string path) : file(std::move(path)) {}  // NOLINT: a path is a place
  Place(std::string path, std::string url, std::string name)
      : file(std::move(path)), server(std::move(url)), schema(std::move(name)) {}
  std::string file;
  std::string server;
  std::string schema;
};
Result<std::unique_ptr<Database>> open_store(const Place& place,
                                             std::span<const Migration> migrations);

}  // namespace ecash::store
