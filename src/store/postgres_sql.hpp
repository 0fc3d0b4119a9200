// Inside the store layer: the SQL the parties write (SQLite's dialect, `?` placeholders) as
// PostgreSQL takes it, so that each statement is written once for both engines.
#pragma once

#include <string>
#include <string_view>

namespace ecash::store::detail {

// One statement or a migration's several: `?` placeholders numbered $1, $2, ... (outside quoted
// text); in table definitions INTEGER as BIGINT (SQLite's integers are 64-bit) and BLOB as BYTEA;
// `INSERT OR IGNORE INTO ...` as `INSERT INTO ... ON CONFLICT DO NOTHING`. SQLite's PRAGMAs have
// no meaning here: a statement that is one becomes empty.
std::string to_postgres(std::string_view sql);

}  // namespace ecash::store::detail
