#include "store/postgres_sql.hpp"

#include <gtest/gtest.h>

namespace ecash::store::detail {
namespace {

TEST(PostgresSql, PlaceholdersAreNumberedOutsideQuotedText) {
  EXPECT_EQ(to_postgres("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2");
  EXPECT_EQ(to_postgres("UPDATE t SET \"odd?\" = ? WHERE id = ?"),
            "UPDATE t SET \"odd?\" = $1 WHERE id = $2");
}

TEST(PostgresSql, TablesTakeSixtyFourBitIntegersAndByteArrays) {
  EXPECT_EQ(to_postgres("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, b BLOB);"
                        "ALTER TABLE t ADD COLUMN m integer"),
            "CREATE TABLE t (id TEXT COLLATE \"C\" PRIMARY KEY, n BIGINT NOT NULL, b BYTEA);"
            "ALTER TABLE t ADD COLUMN m BIGINT");
  EXPECT_EQ(to_postgres("CREATE TABLE p (id INTEGER PRIMARY KEY, n INTEGER)"),
            "CREATE TABLE p (id BIGSERIAL PRIMARY KEY, n BIGINT)");
  // Only in definitions, and only whole words: data and names keep theirs.
  EXPECT_EQ(to_postgres("SELECT blob_size, 'INTEGER' FROM integers WHERE kind = ?"),
            "SELECT blob_size, 'INTEGER' FROM integers WHERE kind = $1");
}

// Text is compared byte by byte, as in SQLite, whatever the cluster's collation: in new tables and
// in columns added later; text in data and in queries is left alone.
TEST(PostgresSql, TextColumnsCompareTheirBytes) {
  EXPECT_EQ(to_postgres("ALTER TABLE t ADD COLUMN s text NOT NULL DEFAULT 'TEXT'"),
            "ALTER TABLE t ADD COLUMN s TEXT COLLATE \"C\" NOT NULL DEFAULT 'TEXT'");
  EXPECT_EQ(to_postgres("CREATE TABLE n (s TEXT COLLATE NOCASE)"),
            "CREATE TABLE n (s TEXT COLLATE NOCASE)");
  EXPECT_EQ(to_postgres("SELECT text_of, 'TEXT' FROM t WHERE kind = ?"),
            "SELECT text_of, 'TEXT' FROM t WHERE kind = $1");
}

TEST(PostgresSql, InsertOrIgnoreDoesNothingOnAConflict) {
  EXPECT_EQ(to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING");
  EXPECT_EQ(to_postgres("insert  or\n ignore into t (a) VALUES (1);INSERT INTO u VALUES (2)"),
            "INSERT into t (a) VALUES (1) ON CONFLICT DO NOTHING;INSERT INTO u VALUES (2)");
}

TEST(PostgresSql, GlobIsLikeWithItsStarsAsPercents) {
  EXPECT_EQ(to_postgres("SELECT id FROM a WHERE id GLOB 'user:*' AND id NOT GLOB 'user:*:r:*'"),
            "SELECT id FROM a WHERE id LIKE 'user:%' AND id NOT LIKE 'user:%:r:%'");
  EXPECT_EQ(to_postgres("SELECT 1 FROM a WHERE id = ? OR id GLOB ?"),
            "SELECT 1 FROM a WHERE id = $1 OR id LIKE replace($2, '*', '%')");
}

TEST(PostgresSql, PragmasAreDropped) {
  EXPECT_EQ(to_postgres("PRAGMA defer_foreign_keys = ON"), "");
  EXPECT_EQ(
      to_postgres("CREATE TABLE a (x TEXT); PRAGMA foreign_keys=ON; CREATE TABLE b (y TEXT);"),
      "CREATE TABLE a (x TEXT COLLATE \"C\"); CREATE TABLE b (y TEXT COLLATE \"C\");");
}

// SQLite's guard trigger becomes PostgreSQL's function and trigger; its refusal an integrity
// violation (a conflict), as in SQLite.
TEST(PostgresSql, GuardTriggersBecomeAFunctionAndATrigger) {
  EXPECT_EQ(to_postgres("CREATE TABLE p (x INTEGER);"
                        "CREATE TRIGGER p_fixed BEFORE UPDATE ON p "
                        "  BEGIN SELECT RAISE(ABORT, 'p is immutable'); END;"
                        "CREATE TABLE q (y TEXT);"),
            "CREATE TABLE p (x BIGINT);"
            "CREATE FUNCTION p_fixed_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$ BEGIN "
            "RAISE EXCEPTION 'p is immutable' USING ERRCODE = '23000'; END $guard$;"
            "CREATE TRIGGER p_fixed BEFORE UPDATE ON p FOR EACH ROW EXECUTE FUNCTION "
            "p_fixed_guard();"
            "CREATE TABLE q (y TEXT COLLATE \"C\");");
}

}  // namespace
}  // namespace ecash::store::detail
