#include "store/request_log.hpp"

#include <algorithm>

namespace ecash::store {

Result<std::optional<std::string>> find_answer(Transaction& tx, std::string_view id,
                                               std::string_view route, ByteView digest) {
  auto row = tx.query_one("SELECT route, digest, response FROM request_log WHERE id = ?",
                          {std::string(id)});
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  auto stored_route = text_at(**row, 0);
  auto stored_digest = blob_at(**row, 1);
  auto response = text_at(**row, 2);
  if (!stored_route || !stored_digest || !response) {
    return fail(ErrorCode::internal, "damaged request log row");
  }
  if (*stored_route != route ||
      !std::equal(stored_digest->begin(), stored_digest->end(), digest.begin(), digest.end())) {
    return fail(ErrorCode::replayed, "request ID " + std::string(id) + " was used by another request");
  }
  return std::optional<std::string>(std::move(*response));
}

Result<bool> claim_answer(Transaction& tx, std::string_view id, std::string_view route,
                          ByteView digest, UnixSeconds now) {
  auto claimed = tx.exec(
      "INSERT OR IGNORE INTO request_log (id, route, digest, response, created) "
      "VALUES (?, ?, ?, '', ?)",
      {std::string(id), std::string(route), Bytes(digest.begin(), digest.end()), now});
  if (!claimed) return std::unexpected(claimed.error());
  return *claimed == 1;
}

Status fill_answer(Transaction& tx, std::string_view id, std::string_view response) {
  auto filled = tx.exec("UPDATE request_log SET response = ? WHERE id = ?",
                        {std::string(response), std::string(id)});
  if (!filled) return std::unexpected(filled.error());
  if (*filled != 1) return fail(ErrorCode::internal, "request " + std::string(id) + " was not claimed");
  return {};
}

Status remember_answer(Transaction& tx, std::string_view id, std::string_view route,
                       ByteView digest, std::string_view response, UnixSeconds now) {
  auto done = tx.exec(
      "INSERT INTO request_log (id, route, digest, response, created) VALUES (?, ?, ?, ?, ?)",
      {std::string(id), std::string(route), Bytes(digest.begin(), digest.end()),
       std::string(response), now});
  if (!done) return std::unexpected(done.error());
  return {};
}

}  // namespace ecash::store
