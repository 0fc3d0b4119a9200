// The data key beside a store (crypto/at_rest.hpp: <store>.key), bound to the store it seals: the
// store records which key sealed it (a keyed hash of a fixed text, which reveals nothing of the
// key), so a key file lost, or swapped for another, is refused instead of a new one silently
// sealing new rows under a key the old rows do not open with. Thread-safe where the Database is.
#pragma once

#include "crypto/at_rest.hpp"
#include "store/database.hpp"

namespace ecash::store {

// The data key of db: read from db.path() + ".key", or made when the store has none yet (new, or
// written by a version that sealed nothing). not_found when the store was sealed under a key whose
// file is missing; unseal_failed when the key file holds another key; and read_secret_file's codes
// (bad_passphrase, insecure_permissions, ...). A store in memory gets a fresh key each time.
Result<crypto::AtRestKey> data_key(Database& db);

}  // namespace ecash::store
