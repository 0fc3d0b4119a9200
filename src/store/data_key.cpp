#include "store/data_key.hpp"

#include <filesystem>
#include <optional>

namespace ecash::store {
namespace {

// What a key is known by in its store.
std::string key_id(const crypto::AtRestKey& key) { return key.lookup("ecash data key", "data_key.id"); }

}  // namespace

Result<crypto::AtRestKey> data_key(Database& db) {
  // Nothing of a store in memory outlives it, its key included: nothing to bind.
  const std::string file = db.key_file();
  if (file.empty()) return crypto::AtRestKey::generate();
  std::optional<std::string> recorded;
  auto read = db.transact([&](Transaction& tx) -> Status {
    if (auto made = tx.exec("CREATE TABLE IF NOT EXISTS data_key (id TEXT PRIMARY KEY)"); !made) {
      return std::unexpected(made.error());
    }
    auto row = tx.query_one("SELECT id FROM data_key");
    if (!row) return std::unexpected(row.error());
    if (*row) recorded = text_at(**row, 0).value_or("");
    return {};
  });
  if (!read) return std::unexpected(read.error());
  if (recorded && !std::filesystem::exists(file)) {
    return fail(ErrorCode::not_found, file + " is missing: " + db.path() +
                                          " was sealed under the key it held, and its sealed "
                                          "fields open with no other: put it back");
  }
  auto key = crypto::AtRestKey::in_file(file);
  if (!key) return std::unexpected(key.error());
  const auto id = key_id(*key);
  if (recorded) {
    if (*recorded != id) {
      return fail(ErrorCode::unseal_failed, file + " holds another key than the one " + db.path() +
                                                " was sealed under");
    }
    return key;
  }
  auto bound = db.transact([&](Transaction& tx) -> Status {
    // Two first opens at once made one key (the second took the first's file): one row.
    auto n = tx.exec("INSERT OR IGNORE INTO data_key (id) VALUES (?)", {id});
    if (!n) return std::unexpected(n.error());
    return {};
  });
  if (!bound) return std::unexpected(bound.error());
  return key;
}

}  // namespace ecash::store
