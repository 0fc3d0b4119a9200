// The clearing house's disclosure of account information (DESIGN §4 "Fraud and disclosure"): only
// under a case the bank signed, every disclosure and refusal in a signed hash-chained log, and an
// audit that names the first entry changed or removed.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "crypto/hash.hpp"
#include "crypto/keys.hpp"
#include "protocol/statements.hpp"
#include "system_fixture.hpp"

namespace ecash::testing {
namespace {

namespace fs = std::filesystem;
using protocol::Json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A second connection to a party's SQLite file, as someone with access to the disk has.
class SqliteFile {
 public:
  explicit SqliteFile(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path;
    }
    sqlite3_busy_timeout(m_db, 5000);
  }
  ~SqliteFile() { sqlite3_close(m_db); }
  SqliteFile(const SqliteFile&) = delete;
  SqliteFile& operator=(const SqliteFile&) = delete;

  // Column 0 of the row sql selects with key bound to ?1 (text or blob, as bytes).
  std::optional<std::string> value(const char* sql, const std::string& key) {
    sqlite3_stmt* stmt = prepare(sql);
    sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    return step_value(stmt);
  }
  std::optional<std::string> value(const char* sql, std::int64_t key) {
    sqlite3_stmt* stmt = prepare(sql);
    sqlite3_bind_int64(stmt, 1, key);
    return step_value(stmt);
  }
  // Runs sql with ?1 bound to bytes (as a blob when blob, else text) and ?2 to key.
  void exec(const char* sql, const std::string& bytes, bool blob, std::int64_t key) {
    sqlite3_stmt* stmt = prepare(sql);
    const int size = static_cast<int>(bytes.size());
    if (blob)
      sqlite3_bind_blob(stmt, 1, bytes.data(), size, SQLITE_TRANSIENT);
    else
      sqlite3_bind_text(stmt, 1, bytes.data(), size, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, key);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE) << sqlite3_errmsg(m_db);
    sqlite3_finalize(stmt);
  }
  void exec(const char* sql) {
    EXPECT_EQ(sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(m_db);
  }

 private:
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(m_db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(m_db);
    return stmt;
  }
  static std::optional<std::string> step_value(sqlite3_stmt* stmt) {
    std::optional<std::string> out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
      out.emplace(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    return out;
  }

  sqlite3* m_db = nullptr;
};

class DisclosureTest : public SystemTest {
 protected:
  void SetUp() override {
    SystemTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    m_alice = make_wallet("Alice", kAliceCard);
    ASSERT_TRUE(m_alice.wallet->deposit(*m_alice.center, eur("EUR:20.00")).has_value());
    m_user = m_alice.wallet->user_id().value();
    // What the center stored at registration, and the operator roles' keys and certificates.
    SqliteFile center(m_dir + "/operator/center/center.db");
    const auto sealed =
        center.value("SELECT sealed_card FROM users WHERE user_id = ?1", m_user.to_string());
    ASSERT_TRUE(sealed.has_value());
    m_sealed_card.assign(sealed->begin(), sealed->end());
    m_bank_keys.emplace(crypto::read_key_file(m_dir + "/operator/bank/bank.keys").value());
    m_center_keys.emplace(crypto::read_key_file(m_dir + "/operator/center/center.keys").value());
    m_center_cert.emplace(
        pki::Certificate::from_pem(read_text(m_dir + "/operator/center/center.pem")).value());
    m_bank_cert.emplace(
        pki::Certificate::from_pem(read_text(m_dir + "/operator/bank/bank.pem")).value());
  }

  // A disclosure request and its case; tests spoil one part at a time.
  struct Ask {
    Id128 request_id;
    Id128 case_id;  // what the request names
    Id128 user_id;
    Id128 fraud_case_id;  // what the case says
    Id128 fraud_case_user_id;
    std::string reason = "counter reused by two devices: suspected clone";
    UnixSeconds timestamp = 0;
    const crypto::SigningKey* request_signer = nullptr;
    const crypto::SigningKey* case_signer = nullptr;
  };
  Ask ask() {
    const auto case_id = Id128::random(m_random);
    return Ask{.request_id = Id128::random(m_random),
               .case_id = case_id,
               .user_id = m_user,
               .fraud_case_id = case_id,
               .fraud_case_user_id = m_user,
               .timestamp = m_clock.now(),
               .request_signer = &m_center_keys->signing,
               .case_signer = &m_bank_keys->signing};
  }
  Json body(const Ask& a) {
    const auto fraud_case = protocol::sign(
        *a.case_signer, protocol::FraudCase{.case_id = a.fraud_case_id,
                                            .user_id = a.fraud_case_user_id,
                                            .kind = "counter_reuse",
                                            .evidence = crypto::blake2b_256(as_bytes("evidence")),
                                            .opened = m_clock.now()});
    const auto request = protocol::sign(
        *a.request_signer,
        protocol::DisclosureRequest{.request_id = a.request_id,
                                    .timestamp = a.timestamp,
                                    .case_id = a.case_id,
                                    .user_id = a.user_id,
                                    .reason = a.reason,
                                    .sealed_account = protocol::blob_digest(m_sealed_card)});
    return {{"request", request.to_json()},
            {"case", fraud_case.to_json()},
            {"sealed_account", protocol::to_text(m_sealed_card)},
            {"wallet_certificate", m_alice.wallet->certificate()->to_pem()}};
  }
  Result<Json> disclose(const Json& body) {
    return m_op->clearing().handle({*m_center_cert}, "disclose", body);
  }
  Json audit() {
    return m_op->clearing().handle({*m_center_cert}, "audit", Json::object()).value();
  }
  std::uint64_t entries() { return audit()["entries"].get<std::uint64_t>(); }
  SqliteFile clearing_db() { return SqliteFile(m_dir + "/operator/clearing/clearing.db"); }
  Json entry(std::int64_t sequence) {
    auto text =
        clearing_db().value("SELECT entry FROM disclosure_log WHERE sequence = ?1", sequence);
    return text ? Json::parse(*text) : Json();
  }
  // Flips one byte of entry sequence's stored column ("entry" or "hash") at offset.
  void flip(std::int64_t sequence, const char* column, std::size_t offset) {
    auto db = clearing_db();
    const std::string select =
        std::string("SELECT ") + column + " FROM disclosure_log WHERE sequence = ?1";
    auto bytes = db.value(select.c_str(), sequence).value();
    ASSERT_LT(offset, bytes.size());
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x01);
    const std::string update =
        std::string("UPDATE disclosure_log SET ") + column + " = ?1 WHERE sequence = ?2";
    db.exec(update.c_str(), bytes, std::string(column) == "hash", sequence);
  }

  Device m_alice;
  Id128 m_user;
  Bytes m_sealed_card;
  std::optional<crypto::PartyKeys> m_bank_keys;
  std::optional<crypto::PartyKeys> m_center_keys;
  std::optional<pki::Certificate> m_center_cert;
  std::optional<pki::Certificate> m_bank_cert;
};

TEST_F(DisclosureTest, DisclosesTheCardUnderABankSignedCaseAndLogsIt) {
  const auto a = ask();
  const auto request = body(a);
  auto answer = disclose(request);
  ASSERT_TRUE(answer.has_value()) << answer.error().to_string();
  const auto& d = (*answer)["disclosure"];
  EXPECT_EQ(d["account"], kAliceCard);
  EXPECT_EQ(d["user_id"], m_user.to_string());
  EXPECT_EQ(d["case_id"], a.case_id.to_string());
  EXPECT_EQ(d["entry"], 1);

  const auto report = audit();
  EXPECT_EQ(report["entries"], 1);
  EXPECT_EQ(report["ok"], true);
  EXPECT_FALSE(report.contains("first_bad"));
  const auto logged = entry(1);
  EXPECT_EQ(logged["outcome"], "disclosed");
  EXPECT_EQ(logged["reason"], a.reason);
  EXPECT_EQ(logged["user_id"], m_user.to_string());
  EXPECT_EQ(logged["request_id"], a.request_id.to_string());

  // A retry, even once the request is stale, gets the same answer and adds no entry.
  m_clock.advance(2 * protocol::kMaxClockSkew);
  auto again = disclose(request);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(*again, *answer);
  EXPECT_EQ(entries(), 1u);

  // Clearing opened the number but stores it nowhere in clear, not even in the stored answer.
  for (const auto& file : fs::directory_iterator(m_dir + "/operator/clearing")) {
    EXPECT_EQ(read_text(file.path().string()).find(kAliceCard), std::string::npos) << file.path();
  }
}

TEST_F(DisclosureTest, EachRefusalHasItsCodeAndIsLogged) {
  struct Case {
    const char* what;
    std::function<void(Ask&)> spoil_ask;
    std::function<void(Json&)> spoil_body;
    ErrorCode code;
  };
  const auto keep = [](Ask&) {};
  const auto as_is = [](Json&) {};
  Bytes other_blob = m_sealed_card;
  other_blob[0] ^= 1;
  const std::vector<Case> cases = {
      {"no case", keep, [](Json& b) { b.erase("case"); }, ErrorCode::not_found},
      {"case signed by the center", [&](Ask& a) { a.case_signer = &m_center_keys->signing; }, as_is,
       ErrorCode::not_found},
      {"case changed after the bank signed it", keep,
       [](Json& b) { b["case"]["kind"] = "nothing"; }, ErrorCode::not_found},
      {"case about another user", [&](Ask& a) { a.fraud_case_user_id = Id128::random(m_random); },
       as_is, ErrorCode::not_found},
      {"another case", [&](Ask& a) { a.fraud_case_id = Id128::random(m_random); }, as_is,
       ErrorCode::not_found},
      {"empty reason", [](Ask& a) { a.reason = ""; }, as_is, ErrorCode::invalid_argument},
      {"blank reason", [](Ask& a) { a.reason = "  \n"; }, as_is, ErrorCode::invalid_argument},
      {"request signed by the bank", [&](Ask& a) { a.request_signer = &m_bank_keys->signing; },
       as_is, ErrorCode::bad_signature},
      {"stale request", [&](Ask& a) { a.timestamp = m_clock.now() - 2 * protocol::kMaxClockSkew; },
       as_is, ErrorCode::stale},
      {"another sealed account", keep,
       [&](Json& b) { b["sealed_account"] = protocol::to_text(other_blob); },
       ErrorCode::bad_signature},
      {"no request", keep, [](Json& b) { b.erase("request"); }, ErrorCode::malformed},
  };
  std::uint64_t expected = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto a = ask();
    c.spoil_ask(a);
    Json request = body(a);
    c.spoil_body(request);
    auto answer = disclose(request);
    ASSERT_FALSE(answer.has_value());
    EXPECT_EQ(answer.error().code, c.code) << answer.error().to_string();
    ++expected;
    const auto report = audit();
    EXPECT_EQ(report["entries"], expected);
    EXPECT_EQ(report["ok"], true) << report.dump();
    const auto logged = entry(static_cast<std::int64_t>(expected));
    EXPECT_EQ(logged["outcome"], "refused: " + std::string(to_string(c.code)));
  }
  // The logged refusal names what was asked.
  EXPECT_EQ(entry(1)["user_id"], m_user.to_string());

  // Alice's sealed card against Bob's certificate: the commitment does not match.
  auto bob = make_wallet("Bob", kBobCard);
  Json request = body(ask());
  request["wallet_certificate"] = bob.wallet->certificate()->to_pem();
  EXPECT_EQ(disclose(request).error().code, ErrorCode::bad_commitment);
  // A refused request asked again is refused and logged again: each attempt is on record.
  EXPECT_EQ(disclose(request).error().code, ErrorCode::bad_commitment);
  EXPECT_EQ(entries(), expected + 2);

  // A disclosed request's ID reused for another request is a replay, logged too.
  const auto a = ask();
  ASSERT_TRUE(disclose(body(a)).has_value());
  auto reused = a;
  reused.reason = "another reason";
  EXPECT_EQ(disclose(body(reused)).error().code, ErrorCode::replayed);
  const auto report = audit();
  EXPECT_EQ(report["entries"], expected + 4);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(entry(static_cast<std::int64_t>(expected + 3))["outcome"], "disclosed");
  EXPECT_EQ(entry(static_cast<std::int64_t>(expected + 4))["outcome"], "refused: replayed");
}

TEST_F(DisclosureTest, OnlyTheCenterMayAskAndOthersAreNotLogged) {
  const auto request = body(ask());
  EXPECT_EQ(m_op->clearing().handle({}, "disclose", request).error().code,
            ErrorCode::bad_certificate);
  EXPECT_EQ(
      m_op->clearing().handle({*m_alice.wallet->certificate()}, "disclose", request).error().code,
      ErrorCode::wrong_role);
  EXPECT_EQ(m_op->clearing().handle({*m_bank_cert}, "disclose", request).error().code,
            ErrorCode::wrong_role);
  EXPECT_EQ(m_op->clearing().handle({*m_bank_cert}, "audit", Json::object()).error().code,
            ErrorCode::wrong_role);
  EXPECT_EQ(entries(), 0u);
}

TEST_F(DisclosureTest, ARevokedWalletCanStillBeDisclosed) {
  // A cloned wallet is revoked; the case against it is exactly when disclosure is needed.
  ASSERT_TRUE(m_op->revoke(m_alice.wallet->certificate()->serial()).has_value());
  auto answer = disclose(body(ask()));
  ASSERT_TRUE(answer.has_value()) << answer.error().to_string();
  EXPECT_EQ((*answer)["disclosure"]["account"], kAliceCard);
}

TEST_F(DisclosureTest, TamperingWithOneByteNamesTheEntry) {
  ASSERT_TRUE(disclose(body(ask())).has_value());
  auto refused = ask();
  refused.reason = "";
  ASSERT_FALSE(disclose(body(refused)).has_value());
  ASSERT_TRUE(disclose(body(ask())).has_value());
  ASSERT_EQ(audit()["ok"], true);
  const auto original =
      clearing_db()
          .value("SELECT entry FROM disclosure_log WHERE sequence = ?1", std::int64_t{1})
          .value();

  // One byte of the reason of entry 1 (a letter, so the JSON still reads).
  const auto at = original.find("suspected clone");
  ASSERT_NE(at, std::string::npos);
  flip(1, "entry", at);
  auto report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["first_bad"], 1);
  EXPECT_EQ(report["entries"], 3);
  EXPECT_NE(report["problem"].get<std::string>().find("signature"), std::string::npos)
      << report.dump();
  flip(1, "entry", at);
  EXPECT_EQ(audit()["ok"], true);

  // One byte of the stored hash of entry 2.
  flip(2, "hash", 5);
  report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["first_bad"], 2);
  EXPECT_NE(report["problem"].get<std::string>().find("hash"), std::string::npos) << report.dump();
  flip(2, "hash", 5);

  // One byte that breaks the JSON of entry 3: reported, not thrown.
  flip(3, "entry", 0);
  report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["first_bad"], 3);
  flip(3, "entry", 0);
  EXPECT_EQ(audit()["ok"], true);

  // The same edit with the system stopped is found after a restart too.
  m_op.reset();
  flip(2, "entry", entry(2).dump().find("refused"));
  restart_operator();
  report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["first_bad"], 2);
}

// Whatever single byte of an entry or its hash changes, audit names that entry.
TEST_F(DisclosureTest, EveryByteOfAnEntryIsCovered) {
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(disclose(body(ask())).has_value());
  auto db = clearing_db();
  for (const char* column : {"entry", "hash"}) {
    const std::string select =
        std::string("SELECT ") + column + " FROM disclosure_log WHERE sequence = ?1";
    const std::string update =
        std::string("UPDATE disclosure_log SET ") + column + " = ?1 WHERE sequence = ?2";
    const bool blob = std::string(column) == "hash";
    const auto original = db.value(select.c_str(), std::int64_t{1}).value();
    for (std::size_t at = 0; at < original.size(); ++at) {
      auto changed = original;
      changed[at] = static_cast<char>(changed[at] ^ 0x01);
      db.exec(update.c_str(), changed, blob, 1);
      const auto report = audit();
      EXPECT_EQ(report["first_bad"], 1) << column << " byte " << at << ": " << report.dump();
    }
    db.exec(update.c_str(), original, blob, 1);
    ASSERT_EQ(audit()["ok"], true);
  }
}

TEST_F(DisclosureTest, RemovingOrReorderingEntriesIsReported) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(disclose(body(ask())).has_value());
  ASSERT_EQ(audit()["ok"], true);

  // An entry moved to another place, re-signed by no one: its sequence and chain do not fit.
  clearing_db().exec("UPDATE disclosure_log SET sequence = 5 WHERE sequence = 4");
  auto report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["first_bad"], 4);
  clearing_db().exec("UPDATE disclosure_log SET sequence = 4 WHERE sequence = 5");
  ASSERT_EQ(audit()["ok"], true);

  // A middle entry deleted.
  clearing_db().exec("DELETE FROM disclosure_log WHERE sequence = 2");
  report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["entries"], 3);
  EXPECT_EQ(report["first_bad"], 2);
  EXPECT_NE(report["problem"].get<std::string>().find("missing"), std::string::npos)
      << report.dump();

  // The first entry deleted.
  clearing_db().exec("DELETE FROM disclosure_log WHERE sequence = 1");
  report = audit();
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["first_bad"], 1);
}

TEST_F(DisclosureTest, TheLogContinuesAcrossARestart) {
  ASSERT_TRUE(disclose(body(ask())).has_value());
  const auto head = audit()["head"];
  restart_operator();
  auto answer = disclose(body(ask()));
  ASSERT_TRUE(answer.has_value()) << answer.error().to_string();
  EXPECT_EQ((*answer)["disclosure"]["entry"], 2);
  const auto report = audit();
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["entries"], 2);
  EXPECT_NE(report["head"], head);
  EXPECT_EQ(entry(2)["previous"], head);
}

}  // namespace
}  // namespace ecash::testing
