#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <stdexcept>

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

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() /
            ("ecash-store-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  std::string path() const { return (m_dir / "party.db").string(); }

  std::int64_t balance(Database& db, const std::string& id) {
    std::int64_t out = -1;
    EXPECT_TRUE(db.read([&](Transaction& tx) -> Status {
      auto row = tx.query_one("SELECT balance FROM accounts WHERE id = ?", {id});
      if (row && *row) out = int_at(**row, 0).value();
      return {};
    }));
    return out;
  }

  fs::path m_dir;
};

TEST_F(StoreTest, MigratesAndPersists) {
  {
    auto db = open_sqlite(path(), kMigrations).value();
    ASSERT_TRUE(db->transact([](Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO accounts (id, balance, note) VALUES (?, ?, ?)",
                       {std::string("alice"), std::int64_t{1250}, Bytes{1, 2, 3}});
      if (!n) return std::unexpected(n.error());
      EXPECT_EQ(*n, 1);
      return {};
    }));
  }
  auto db = open_sqlite(path(), kMigrations).value();
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

TEST_F(StoreTest, UsesWalAndFullSync) {
  auto db = open_sqlite(path(), kMigrations).value();
  ASSERT_TRUE(db->read([](Transaction& tx) -> Status {
    EXPECT_EQ(text_at(*tx.query_one("PRAGMA journal_mode").value(), 0).value(), "wal");
    EXPECT_EQ(int_at(*tx.query_one("PRAGMA synchronous").value(), 0).value(), 2);  // FULL
    return {};
  }));
}

TEST_F(StoreTest, RefusesSchemaNewerThanProgram) {
  open_sqlite(path(), kMigrations).value();
  auto older = open_sqlite(path(), std::span(kMigrations).first(1));
  ASSERT_FALSE(older.has_value());
  EXPECT_EQ(older.error().code, ErrorCode::conflict);
}

TEST_F(StoreTest, ErrorRollsBackEverything) {
  auto db = open_sqlite(path(), kMigrations).value();
  auto result = db->transact([](Transaction& tx) -> Status {
    tx.exec("INSERT INTO accounts (id, balance) VALUES ('bob', 5)").value();
    return fail(ErrorCode::insufficient_funds, "changed my mind");
  });
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::insufficient_funds);
  EXPECT_EQ(balance(*db, "bob"), -1);
}

TEST_F(StoreTest, ExceptionInBodyRollsBackAndStoreStaysUsable) {
  auto db = open_sqlite(path(), kMigrations).value();
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

TEST_F(StoreTest, ConstraintViolationIsConflict) {
  auto db = open_sqlite(path(), kMigrations).value();
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

TEST_F(StoreTest, RequestLogAnswersRetriesAndRefusesReuse) {
  auto db = open_sqlite(path(), kMigrations).value();
  const Bytes digest{1, 2, 3}, other{4, 5, 6};
  ASSERT_TRUE(db->transact([&](Transaction& tx) -> Status {
    EXPECT_EQ(find_answer(tx, "req-1", "deposit", digest).value(), std::nullopt);
    return remember_answer(tx, "req-1", "deposit", digest, "{\"ok\":true}", 100);
  }));
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
    EXPECT_EQ(find_answer(tx, "req-1", "deposit", digest).value(), "{\"ok\":true}");
    EXPECT_EQ(find_answer(tx, "req-1", "deposit", other).error().code, ErrorCode::replayed);
    EXPECT_EQ(find_answer(tx, "req-1", "pay", digest).error().code, ErrorCode::replayed);
    EXPECT_EQ(remember_answer(tx, "req-1", "deposit", digest, "{}", 101).error().code,
              ErrorCode::conflict);
    return {};
  }));
}

TEST_F(StoreTest, UnopenableFileIsIoError) {
  auto db = open_sqlite((m_dir / "no" / "such" / "dir.db").string(), kMigrations);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code, ErrorCode::io_error);
}

}  // namespace
}  // namespace ecash::store
