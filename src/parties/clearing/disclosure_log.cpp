#include "parties/clearing/disclosure_log.hpp"

#include <nlohmann/json.hpp>

#include "crypto/hash.hpp"

namespace ecash::clearing {

using protocol::DisclosureLogEntry;
using protocol::Json;
using protocol::Signed;

Result<std::uint64_t> append_disclosure(store::Transaction& tx, const crypto::SigningKey& key,
                                        DisclosureLogEntry entry) {
  auto last =
      tx.query_one("SELECT sequence, hash FROM disclosure_log ORDER BY sequence DESC LIMIT 1");
  if (!last) return std::unexpected(last.error());
  entry.sequence = 1;
  entry.previous = {};
  if (*last) {
    auto sequence = store::int_at(**last, 0);
    auto hash = store::blob_at(**last, 1);
    if (!sequence) return std::unexpected(sequence.error());
    if (!hash) return std::unexpected(hash.error());
    if (*sequence < 1 || hash->size() != entry.previous.size()) {
      return fail(ErrorCode::internal, "the disclosure log's last entry is damaged");
    }
    entry.sequence = static_cast<std::uint64_t>(*sequence) + 1;
    std::copy(hash->begin(), hash->end(), entry.previous.begin());
  }
  const auto sequence = entry.sequence;
  const auto signed_entry = protocol::sign(key, std::move(entry));
  const auto hash = signed_entry.digest();
  auto saved = tx.exec("INSERT INTO disclosure_log (sequence, entry, hash) VALUES (?, ?, ?)",
                       {static_cast<std::int64_t>(sequence), signed_entry.to_json().dump(),
                        Bytes(hash.begin(), hash.end())});
  if (!saved) return std::unexpected(saved.error());
  return sequence;
}

namespace {

// What is wrong with one row, given the sequence and hash of the sound entry before it; empty when
// the row is sound, and then hash holds its hash.
std::string check_row(const store::Row& row, std::uint64_t sequence, const crypto::Digest& previous,
                      const crypto::VerifyKey& key, crypto::Digest& hash) {
  auto text = store::text_at(row, 1);
  if (!text) return "the entry is not text";
  const Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded()) return "the entry is not JSON";
  auto entry = Signed<DisclosureLogEntry>::from_json(j);
  if (!entry) return "the entry does not read: " + entry.error().message;
  if (auto ok = entry->verify(key); !ok) return "the clearing house's signature does not verify";
  // Every stored byte counts, not only those the signature covers once parsed.
  if (entry->to_json().dump() != *text) return "the entry's text is not the signed entry's";
  if (entry->body.sequence != sequence) {
    return "the signed entry says sequence " + std::to_string(entry->body.sequence);
  }
  if (entry->body.previous != previous) {
    return sequence == 1 ? "the first entry names a previous one"
                         : "previous is not the hash of entry " + std::to_string(sequence - 1);
  }
  hash = entry->digest();
  auto stored = store::blob_at(row, 2);
  if (!stored || !crypto::equal_constant_time(*stored, hash)) {
    return "the stored hash is not the entry's";
  }
  return {};
}

}  // namespace

Result<AuditReport> audit_disclosure_log(store::Database& db,
                                         const crypto::VerifyKey& clearing_key) {
  AuditReport report;
  auto read = db.read([&](store::Transaction& tx) -> Status {
    auto rows = tx.query("SELECT sequence, entry, hash FROM disclosure_log ORDER BY sequence");
    if (!rows) return std::unexpected(rows.error());
    report.entries = rows->size();
    crypto::Digest previous{};
    std::uint64_t expected = 1;
    for (const auto& row : *rows) {
      const auto sequence = store::int_at(row, 0);
      if (!sequence) return std::unexpected(sequence.error());
      if (*sequence != static_cast<std::int64_t>(expected)) {
        report.first_bad = expected;
        report.problem = *sequence > static_cast<std::int64_t>(expected)
                             ? "entry " + std::to_string(expected) + " is missing: entry " +
                                   std::to_string(*sequence) + " follows"
                             : "a row numbered " + std::to_string(*sequence) + " stands first";
        return {};
      }
      crypto::Digest hash{};
      std::string problem;
      try {
        problem = check_row(row, expected, previous, clearing_key, hash);
      } catch (const nlohmann::json::exception& e) {
        problem = std::string("the entry does not read: ") + e.what();
      }
      if (!problem.empty()) {
        report.first_bad = expected;
        report.problem = std::move(problem);
        return {};
      }
      previous = hash;
      ++expected;
    }
    report.head = previous;
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return report;
}

}  // namespace ecash::clearing
