// The data key bound to its store (issue 12, finding 5): a lost or swapped key file is refused.
#include "store/data_key.hpp"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>

#include "base/test_folder.hpp"

namespace ecash::store {
namespace {

namespace fs = std::filesystem;

constexpr std::array<Migration, 1> kSchema = {{{1, "CREATE TABLE t (v TEXT);"}}};

class DataKeyTest : public FolderTest {
 protected:
  std::string path() const { return (m_dir / "party.db").string(); }
  std::unique_ptr<Database> open() { return open_sqlite(path(), kSchema).value(); }
};

TEST_F(DataKeyTest, MadeForANewStoreAndReadBackAfter) {
  std::string sealed;
  {
    auto db = open();
    auto key = data_key(*db);
    ASSERT_TRUE(key.has_value()) << key.error().to_string();
    sealed = key->seal("DE89370400440532013000", "t.v");
  }
  EXPECT_TRUE(fs::exists(path() + ".key"));
  auto db = open();
  EXPECT_EQ(data_key(*db)->open(sealed, "t.v").value(), "DE89370400440532013000");
}

TEST_F(DataKeyTest, AMissingOrSwappedKeyFileIsRefused) {
  {
    auto db = open();
    ASSERT_TRUE(data_key(*db).has_value());
  }
  fs::rename(path() + ".key", path() + ".key.saved");
  auto db = open();
  EXPECT_EQ(data_key(*db).error().code, ErrorCode::not_found);
  EXPECT_FALSE(fs::exists(path() + ".key"));  // nothing made in its place
  // Another store's key put in its place: not this store's.
  {
    auto other = open_sqlite((m_dir / "other.db").string(), kSchema).value();
    ASSERT_TRUE(data_key(*other).has_value());
  }
  fs::copy_file(m_dir / "other.db.key", path() + ".key");
  EXPECT_EQ(data_key(*db).error().code, ErrorCode::unseal_failed);
  fs::remove(path() + ".key");
  fs::rename(path() + ".key.saved", path() + ".key");
  EXPECT_TRUE(data_key(*db).has_value());
}

TEST_F(DataKeyTest, AStoreInMemoryGetsAFreshKeyAndNoFile) {
  auto db = open_sqlite(":memory:", kSchema).value();
  EXPECT_TRUE(data_key(*db).has_value());
  EXPECT_TRUE(data_key(*db).has_value());
  EXPECT_FALSE(fs::exists(":memory:.key"));
}

}  // namespace
}  // namespace ecash::store
