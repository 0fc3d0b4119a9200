#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <thread>

#include "base/test_folder.hpp"
#include "store/database.hpp"
#include "store/request_log.hpp"

namespace ecash::store {
namespace {

namespace fs = std::filesystem;

constexpr std::array<Migration, 2> kMigrations = {{
    {1, "CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INTEGER NOT NULL);"},
    {2, std::string_view("ALTER TABLE accounts ADD COLUMN note BLOB;"
                         "CREATE TABLE request_log (id TEXT PRIMARY KEY, route TEXT NOT NULL, "
                         "digest BLOB NOT NULL, response TEXT NOT NULL, created INTEGER NOT NULL);")},
}};

class StoreTest : public FolderTest {
 protected:
  std::string path() const { return (m_dir / "party.db").string(); }

  // The first column of what sql selects, as text.
  std::vector<std::string> ids(Database& db, const std::string& sql) {
    std::vector<std::string> out;
    EXPECT_TRUE(db.read([&](Transaction& tx) -> Status {
      const auto rows = tx.query(sql).value();
      for (const auto& row : rows) out.push_back(text_at(row, 0).value());
      return {};
    }));
    return out;
  }

  std::int64_t balance(Database& db, const std::string& id) {
    std::int64_t out = -1;
    EXPECT_TRUE(db.read([&](Transaction& tx) -> Status {
      auto row = tx.query_one("SELECT balance FROM accounts WHERE id = ?", {id});
      if (row && *row) out = int_at(**row, 0).value();
      return {};
    }));
    return out;
  }
};

// The tests of what every engine must do alike, run on SQLite and on PostgreSQL: a server the
// environment names (ECASH_TEST_POSTGRES, a URL: scripts/postgres.sh start prints one; the test
// command sets it), each test in a schema of its own, dropped after.
class EngineTest : public StoreTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (GetParam() != "postgresql") return;
    const char* server = std::getenv("ECASH_TEST_POSTGRES");
    if (server == nullptr || *server == '\0') {
      // In CI the tests must run on both engines: a server missing there is a failure.
      if (std::getenv("CI") != nullptr) FAIL() << "CI runs without ECASH_TEST_POSTGRES";
      GTEST_SKIP() << "no PostgreSQL server: ECASH_TEST_POSTGRES=$(scripts/postgres.sh start)";
    }
    m_server = server;
    m_schema = "t" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (auto& c : m_schema) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    const auto made =
        admin({"DROP SCHEMA IF EXISTS " + m_schema + " CASCADE", "CREATE SCHEMA " + m_schema});
    ASSERT_TRUE(made) << made.error().to_string();
  }
  void TearDown() override {
    if (!m_schema.empty()) {
      EXPECT_TRUE(admin({"DROP SCHEMA " + m_schema + " CASCADE"}));
    }
    StoreTest::TearDown();
  }

  Result<std::unique_ptr<Database>> open(std::span<const Migration> migrations) {
    if (GetParam() == "sqlite") return open_sqlite(path(), migrations);
    const std::string separator = m_server.find('?') == std::string::npos ? "?" : "&";
    return open_postgres(m_server + separator + "options=-csearch_path%3D" + m_schema, "party",
                         migrations);
  }

  Status admin(std::initializer_list<std::string> statements) {
    auto db = open_postgres(m_server, "admin", {});
    if (!db) return std::unexpected(db.error());
    return (*db)->transact([&](Transaction& tx) -> Status {
      for (const auto& sql : statements) {
        if (auto n = tx.exec(sql); !n) return std::unexpected(n.error());
      }
      return {};
    });
  }

 protected:
  std::string m_server;
  std::string m_schema;
};

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// A statement the store refuses (a duplicate key) is undone alone: the transaction goes on, and
// what it did before and after is committed.
TEST_P(EngineTest, ARefusedStatementLeavesTheTransactionUsable) {
  auto db = open(kMigrations).value();
  ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
    EXPECT_EQ(tx.exec("INSERT INTO accounts (id, balance) VALUES ('erin', 1)").value(), 1);
    auto again = tx.exec("INSERT INTO accounts (id, balance) VALUES ('erin', 2)");
    EXPECT_EQ(again.error().code, ErrorCode::conflict);
    EXPECT_EQ(tx.exec("INSERT OR IGNORE INTO accounts (id, balance) VALUES ('erin', 3)").value(),
              0);
    EXPECT_EQ(tx.exec("UPDATE accounts SET balance = balance + ? WHERE id = ?",
                      {std::int64_t{10}, std::string("erin")})
                  .value(),
              1);
    return {};
  }));
  EXPECT_EQ(balance(*db, "erin"), 11);
  ASSERT_TRUE(db->read([](Transaction& tx) -> Status {
    // A sum is an integer on both engines (PostgreSQL's SUM over BIGINT is NUMERIC).
    auto sum = tx.query_one("SELECT COALESCE(SUM(balance), 0), COUNT(*) FROM accounts").value();
    EXPECT_EQ(int_at(*sum, 0).value(), 11);
    EXPECT_EQ(int_at(*sum, 1).value(), 1);
    EXPECT_TRUE(is_null_at(*tx.query_one("SELECT note FROM accounts").value(), 0));
    return {};
  }));
}

// A failed SELECT is undone alone too: the body goes on, and what it did before and after is
// committed (on PostgreSQL the body runs again, with a savepoint before every statement).
TEST_P(EngineTest, AFailedSelectLeavesTheTransactionUsable) {
  auto db = open(kMigrations).value();
  ErrorCode seen = ErrorCode::io_error;
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    (void)tx.exec("INSERT INTO accounts (id, balance) VALUES ('gus', 1)");
    auto bad = tx.query("SELECT nonsense FROM nowhere");
    seen = bad.error().code;
    (void)tx.exec("UPDATE accounts SET balance = balance + 1 WHERE id = 'gus'");
    return {};
  }));
  EXPECT_EQ(seen, ErrorCode::internal);
  EXPECT_EQ(balance(*db, "gus"), 2);
}

// Text compares its bytes on both engines, whatever the server's collation: an order, and a
// prefix's range (what the parties use to find an account's stripes), are the same.
TEST_P(EngineTest, TextComparesItsBytes) {
  auto db = open(kMigrations).value();
  ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
    for (const char* id : {"a", "B", "_x", "a#1", "a:b", "ab", "\xc3\xa9"}) {
      if (auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES (?, 1)", {std::string(id)});
          !n) {
        return std::unexpected(n.error());
      }
    }
    return {};
  }));
  EXPECT_EQ(ids(*db, "SELECT id FROM accounts ORDER BY id"),
            (std::vector<std::string>{"B", "_x", "a", "a#1", "a:b", "ab", "\xc3\xa9"}));
  EXPECT_EQ(ids(*db, "SELECT id FROM accounts WHERE id >= 'a#' AND id < 'a$' ORDER BY id"),
            (std::vector<std::string>{"a#1"}));
}

// PostgreSQL only: a store made before text compared its bytes (a column in the cluster's or
// another collation) is changed when opened, and keeps its rows.
TEST_P(EngineTest, AnOlderStoresTextComesToCompareItsBytes) {
  if (GetParam() != "postgresql") GTEST_SKIP() << "SQLite's text always compares its bytes";
  const auto made = admin(
      {"CREATE TABLE " + m_schema + ".accounts (id TEXT COLLATE \"und-x-icu\" PRIMARY KEY, " +
           "balance BIGINT NOT NULL)",
       "CREATE TABLE " + m_schema + ".schema_version (version BIGINT NOT NULL)",
       "INSERT INTO " + m_schema + ".schema_version VALUES (1)",
       "INSERT INTO " + m_schema + ".accounts VALUES ('a', 1), ('B', 2)"});
  ASSERT_TRUE(made) << made.error().to_string();
  auto db = open(kMigrations).value();
  EXPECT_EQ(ids(*db, "SELECT id FROM accounts ORDER BY id"), (std::vector<std::string>{"B", "a"}));
  EXPECT_EQ(balance(*db, "B"), 2);
}

// PostgreSQL only: a transaction whose connection the server dropped before COMMIT kept nothing,
// and its body runs again on a new connection; it commits once.
TEST_P(EngineTest, ALostConnectionBeforeCommitRunsTheBodyAgain) {
  if (GetParam() != "postgresql") GTEST_SKIP() << "SQLite has no connection to lose";
  auto db = open(kMigrations).value();
  int runs = 0;
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    if (auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('frank', 4)"); !n) {
      return std::unexpected(n.error());
    }
    if (++runs == 1) {
      auto cut = tx.query("SELECT pg_terminate_backend(pg_backend_pid())");
      EXPECT_FALSE(cut.has_value());
      return std::unexpected(cut.error());
    }
    return {};
  }));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(balance(*db, "frank"), 4);
}

// PostgreSQL only: a server that was reached and then refuses connections for a moment (it is
// restarting, or its standby is being promoted) is waited for, and a request it comes back for is
// done; one that stays away is refused as unavailable, nothing done.
class OutOfReach {
 public:
  explicit OutOfReach(std::string server) : m_server(std::move(server)) {
    m_name = "reach_" + std::to_string(::getpid());
    (void)drop_postgres_database(m_server, m_name);
    EXPECT_TRUE(create_postgres_database(m_server, m_name));
    m_url = m_server.substr(0, m_server.rfind('/') + 1) + m_name;
  }
  ~OutOfReach() {
    set_reachable(true);
    EXPECT_TRUE(drop_postgres_database(m_server, m_name));
  }
  const std::string& url() const { return m_url; }
  // Connections to the database refused (even a superuser's) and those open cut, or let in again.
  void set_reachable(bool yes) {
    auto admin = open_postgres(m_server, "admin", {}).value();
    EXPECT_TRUE(admin->transact([&](Transaction& tx) -> Status {
      auto n = tx.exec("ALTER DATABASE " + m_name + " ALLOW_CONNECTIONS " + (yes ? "true" : "false"));
      if (!n) return std::unexpected(n.error());
      if (yes) return {};
      auto cut = tx.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?", {m_name});
      if (!cut) return std::unexpected(cut.error());
      return {};
    }));
  }

 private:
  std::string m_server, m_name, m_url;
};

TEST_P(EngineTest, AServerOutOfReachForAMomentIsWaitedFor) {
  if (GetParam() != "postgresql") GTEST_SKIP() << "SQLite has no server";
  OutOfReach server(m_server);
  auto db = open_postgres(server.url(), "party", kMigrations).value();
  server.set_reachable(false);
  std::thread back([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    server.set_reachable(true);
  });
  const auto done = db->transact([](Transaction& tx) -> Status {
    auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('grace', 7)");
    if (!n) return std::unexpected(n.error());
    return {};
  });
  back.join();
  ASSERT_TRUE(done) << done.error().to_string();
  EXPECT_EQ(balance(*db, "grace"), 7);
}

TEST_P(EngineTest, AServerThatStaysAwayIsUnavailableNothingDone) {
  if (GetParam() != "postgresql") GTEST_SKIP() << "SQLite has no server";
  OutOfReach server(m_server);
  auto db = open_postgres(server.url(), "party", kMigrations).value();
  server.set_reachable(false);
  const auto done = db->transact([](Transaction& tx) -> Status {
    auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('heidi', 9)");
    if (!n) return std::unexpected(n.error());
    return {};
  });
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::unavailable) << done.error().to_string();
  server.set_reachable(true);
  ASSERT_TRUE(db->read([](Transaction& tx) -> Status {
    EXPECT_FALSE(tx.query_one("SELECT balance FROM accounts WHERE id = 'heidi'").value().has_value());
    return {};
  }));
}

TEST_P(EngineTest, MigratesAndPersists) {
  {
    auto db = open(kMigrations).value();
    ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO accounts (id, balance, note) VALUES (?, ?, ?)",
                       {std::string("alice"), std::int64_t{1250}, Bytes{1, 2, 3}});
      if (!n) return std::unexpected(n.error());
      EXPECT_EQ(*n, 1);
      return {};
    }));
  }
  auto db = open(kMigrations).value();
  EXPECT_EQ(balance(*db, "alice"), 1250);
  ASSERT_TRUE(db->read([](Transaction& tx) -> Status {
    auto row = tx.query_one("SELECT note, id FROM accounts").value();
    EXPECT_EQ(blob_at(*row, 0).value(), (Bytes{1, 2, 3}));
    EXPECT_EQ(int_at(*row, 1).error().code, ErrorCode::internal);
    auto version = tx.query_one("SELECT MAX(version) FROM schema_version").value();
    EXPECT_EQ(int_at(*version, 0).value(), 2);
    return {};
  }));
}

// A value replaced (sealed where an older version kept it in clear) leaves its old bytes in free
// pages and in the write-ahead log until the store is compacted; after, no file holds them.
TEST_F(StoreTest, CompactLeavesNoOldBytesInTheFileOrItsLog) {
  const std::string secret = "DE89370400440532013000";
  auto file_holds = [&](const std::string& needle) {
    for (const auto* suffix : {"", "-wal", "-shm"}) {
      std::ifstream in(path() + suffix, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      if (bytes.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  auto db = open_sqlite(path(), kMigrations).value();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES (?, ?)",
                       {secret + "-" + std::to_string(i), std::int64_t{i}});
      if (!n) return std::unexpected(n.error());
      return {};
    }));
  }
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    auto n = tx.exec("UPDATE accounts SET id = 'sealed-' || balance");
    if (!n) return std::unexpected(n.error());
    return {};
  }));
  EXPECT_TRUE(file_holds(secret));  // what compact is for
  ASSERT_TRUE(db->compact().has_value());
  EXPECT_FALSE(file_holds(secret));
  EXPECT_EQ(balance(*db, "sealed-7"), 7);
}

TEST_F(StoreTest, UsesWalAndFullSync) {
  auto db = open_sqlite(path(), kMigrations).value();
  ASSERT_TRUE(db->read([](Transaction& tx) -> Status {
    EXPECT_EQ(text_at(*tx.query_one("PRAGMA journal_mode").value(), 0).value(), "wal");
    EXPECT_EQ(int_at(*tx.query_one("PRAGMA synchronous").value(), 0).value(), 2);  // FULL
    // Savepoints' statement journals in memory, not in a temporary file each transaction.
    EXPECT_EQ(int_at(*tx.query_one("PRAGMA temp_store").value(), 0).value(), 2);  // MEMORY
    return {};
  }));
}

TEST_P(EngineTest, RefusesSchemaNewerThanProgram) {
  open(kMigrations).value();
  auto older = open(std::span(kMigrations).first(1));
  ASSERT_FALSE(older.has_value());
  EXPECT_EQ(older.error().code, ErrorCode::conflict);
}

// A commit that fails for the disk (full, or a store turned read-only: here injected, as
// ECASH_STORE_FAULT does for the system tests) keeps nothing, says io_error as SQLite says it,
// and the store works again once the fault is gone, without reopening it.
TEST_F(StoreTest, CommitFailingForTheDiskKeepsNothingAndRecovers) {
  auto db = open_sqlite(path(), kMigrations).value();
  const auto fault = (m_dir / "fault").string();
  setenv("ECASH_STORE_FAULT", fault.c_str(), 1);
  const auto insert = [&](const std::string& id) {
    return db->transact([&](Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES (?, 7)", {id});
      if (!n) return std::unexpected(n.error());
      return {};
    });
  };
  for (const std::string kind : {"full", "readonly"}) {
    std::ofstream(fault) << "wallet full\nparty " << kind << "\n";  // another store's line: ignored
    auto failed = insert("during-" + kind);
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code, ErrorCode::io_error);
    EXPECT_NE(failed.error().message.find(kind == "full" ? "database or disk is full"
                                                         : "attempt to write a readonly database"),
              std::string::npos)
        << failed.error().message;
    EXPECT_EQ(balance(*db, "during-" + kind), -1);
    std::ofstream(fault) << "wallet full\n";
    ASSERT_TRUE(insert("after-" + kind).has_value());
    EXPECT_EQ(balance(*db, "after-" + kind), 7);
  }
  unsetenv("ECASH_STORE_FAULT");
}

TEST_P(EngineTest, ErrorRollsBackEverything) {
  auto db = open(kMigrations).value();
  auto result = db->transact([](Transaction& tx) -> Status {
    tx.exec("INSERT INTO accounts (id, balance) VALUES ('bob', 5)").value();
    return fail(ErrorCode::insufficient_funds, "changed my mind");
  });
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::insufficient_funds);
  EXPECT_EQ(balance(*db, "bob"), -1);
}

TEST_P(EngineTest, ExceptionInBodyRollsBackAndStoreStaysUsable) {
  auto db = open(kMigrations).value();
  EXPECT_THROW((void)db->transact([](Transaction& tx) -> Status {
                 tx.exec("INSERT INTO accounts (id, balance) VALUES ('dave', 5)").value();
                 throw std::runtime_error("bug in a body");
               }),
               std::runtime_error);
  EXPECT_EQ(balance(*db, "dave"), -1);
  ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
    tx.exec("INSERT INTO accounts (id, balance) VALUES ('dave', 6)").value();
    return {};
  }));
  EXPECT_EQ(balance(*db, "dave"), 6);
}

TEST_P(EngineTest, ConstraintViolationIsConflict) {
  auto db = open(kMigrations).value();
  auto insert = [](Transaction& tx) -> Status {
    auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('carol', 1)");
    if (!n) return std::unexpected(n.error());
    return {};
  };
  ASSERT_TRUE(db->transact(insert));
  EXPECT_EQ(db->transact(insert).error().code, ErrorCode::conflict);
  EXPECT_EQ(db->transact([](Transaction& tx) -> Status {
              auto n = tx.exec("SELECT nonsense FROM nowhere");
              if (!n) return std::unexpected(n.error());
              return {};
            }).error().code,
            ErrorCode::internal);
}

TEST_P(EngineTest, RequestLogAnswersRetriesAndRefusesReuse) {
  auto db = open(kMigrations).value();
  const Bytes digest{1, 2, 3}, other{4, 5, 6};
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    EXPECT_EQ(find_answer(tx, "req-1", "deposit", digest).value(), std::nullopt);
    return remember_answer(tx, "req-1", "deposit", digest, "{\"ok\":true}", 100);
  }));
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
    EXPECT_EQ(find_answer(tx, "req-1", "deposit", digest).value(), "{\"ok\":true}");
    EXPECT_EQ(find_answer(tx, "req-1", "deposit", other).error().code, ErrorCode::replayed);
    EXPECT_EQ(find_answer(tx, "req-1", "pay", digest).error().code, ErrorCode::replayed);
    return {};
  }));
  EXPECT_EQ(db->transact([&](Transaction& tx) -> Status {
                return remember_answer(tx, "req-1", "deposit", digest, "{}", 101);
              })
                .error()
                .code,
            ErrorCode::conflict);
}

// A request's ID is claimed before its work and its answer filled in after: a second claim finds
// the ID taken, and find_answer tells the same request (its answer) from another (replayed); a
// claim whose transaction fails leaves nothing.
TEST_P(EngineTest, RequestLogIsClaimedBeforeTheWork) {
  auto db = open(kMigrations).value();
  const Bytes digest{1, 2, 3}, other{4, 5, 6};
  EXPECT_EQ(db->transact([&](Transaction& tx) -> Status {
                EXPECT_TRUE(claim_answer(tx, "req-2", "pay", digest, 100).value());
                return fail(ErrorCode::insufficient_funds, "the work failed");
              })
                .error()
                .code,
            ErrorCode::insufficient_funds);
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    EXPECT_TRUE(claim_answer(tx, "req-2", "pay", digest, 100).value());
    return fill_answer(tx, "req-2", "{\"paid\":true}");
  }));
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    EXPECT_FALSE(claim_answer(tx, "req-2", "pay", digest, 101).value());
    EXPECT_EQ(find_answer(tx, "req-2", "pay", digest).value(), "{\"paid\":true}");
    EXPECT_EQ(find_answer(tx, "req-2", "pay", other).error().code, ErrorCode::replayed);
    EXPECT_EQ(fill_answer(tx, "req-3", "{}").error().code, ErrorCode::internal);
    return {};
  }));
}

// Writers on many threads share commits (group commit): every increment lands once, each caller
// returns only after its own work is durable (seen by a new connection), and none is lost.
TEST_P(EngineTest, ConcurrentWritersEachCommitOnce) {
  auto db = open(kMigrations).value();
  ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
    auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('pool', 0)");
    if (!n) return std::unexpected(n.error());
    return {};
  }));
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> seen_on_return{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
          auto n = tx.exec("UPDATE accounts SET balance = balance + 1 WHERE id = 'pool'");
          if (!n) return std::unexpected(n.error());
          auto m = tx.exec("INSERT INTO accounts (id, balance) VALUES (?, 1)", {id});
          if (!m) return std::unexpected(m.error());
          return {};
        }));
        if (balance(*db, id) == 1) ++seen_on_return;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen_on_return.load(), kThreads * kEach);
  EXPECT_EQ(balance(*db, "pool"), kThreads * kEach);
  db.reset();
  auto again = open(kMigrations).value();
  EXPECT_EQ(balance(*again, "pool"), kThreads * kEach);
}

// Bodies that share a commit stay apart: one that fails or throws leaves nothing, the others
// commit, and each caller gets its own outcome.
TEST_P(EngineTest, ABodyThatFailsInASharedCommitUndoesOnlyItself) {
  auto db = open(kMigrations).value();
  std::atomic<bool> release{false};
  auto insert = [&](const char* id) {
    return [id](Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES (?, 7)", {std::string(id)});
      if (!n) return std::unexpected(n.error());
      return {};
    };
  };
  // The first writer holds the commit open while the others queue behind it.
  std::thread holder([&] {
    ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('first', 1)");
      if (!n) return std::unexpected(n.error());
      return {};
    }));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Status failed, thrown_status, good;
  bool threw = false;
  std::thread failing([&] {
    failed = db->transact([&](Transaction& tx) -> Status {
      (void)insert("failing")(tx);
      return fail(ErrorCode::insufficient_funds, "no");
    });
  });
  std::thread throwing([&] {
    try {
      thrown_status = db->transact([&](Transaction& tx) -> Status {
        (void)insert("throwing")(tx);
        throw std::runtime_error("boom");
      });
    } catch (const std::runtime_error&) {
      threw = true;
    }
  });
  std::thread succeeding([&] { good = db->transact(insert("good")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  release = true;
  for (auto* t : {&holder, &failing, &throwing, &succeeding}) t->join();
  EXPECT_EQ(failed.error().code, ErrorCode::insufficient_funds);
  EXPECT_TRUE(threw);
  EXPECT_TRUE(good.has_value());
  EXPECT_EQ(balance(*db, "first"), 1);
  EXPECT_EQ(balance(*db, "good"), 7);
  EXPECT_EQ(balance(*db, "failing"), -1);
  EXPECT_EQ(balance(*db, "throwing"), -1);
}

// Readers have their own connections: a read goes on while a write is open, and sees the state
// before it.
TEST_P(EngineTest, ReadsDoNotWaitForAnOpenWrite) {
  auto db = open(kMigrations).value();
  std::atomic<bool> inside{false}, release{false};
  std::thread writer([&] {
    ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('late', 5)");
      if (!n) return std::unexpected(n.error());
      inside = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return {};
    }));
  });
  while (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(balance(*db, "late"), -1);  // not committed yet, and the read did not block
  release = true;
  writer.join();
  EXPECT_EQ(balance(*db, "late"), 5);
}

TEST_F(StoreTest, InMemoryStoreReadsWhatItWrote) {
  auto db = open_sqlite(":memory:", kMigrations).value();
  ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
    auto n = tx.exec("INSERT INTO accounts (id, balance) VALUES ('mem', 3)");
    if (!n) return std::unexpected(n.error());
    return {};
  }));
  EXPECT_EQ(balance(*db, "mem"), 3);
}

// Statements are found by the address of their text first: text built at run time, another
// statement's text later in the same buffer, gets its own statement.
TEST_F(StoreTest, AStatementIsFoundByItsTextNotOnlyByWhereTheTextIs) {
  auto db = open_sqlite(path(), kMigrations).value();
  std::string sql(64, ' ');
  const char* const where = sql.data();
  for (int i = 1; i <= 3; ++i) {
    sql.replace(0, sql.size(), "SELECT " + std::to_string(i) + std::string(55, ' '));
    ASSERT_EQ(sql.data(), where);  // the same buffer, holding another statement
    ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
      EXPECT_EQ(int_at(*tx.query_one(sql).value(), 0).value(), i);
      return {};
    }));
  }
}

TEST_F(StoreTest, UnopenableFileIsIoError) {
  auto db = open_sqlite((m_dir / "no" / "such" / "dir.db").string(), kMigrations);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code, ErrorCode::io_error);
}

}  // namespace
}  // namespace ecash::store
