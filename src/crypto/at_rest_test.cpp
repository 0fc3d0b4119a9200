// The data key that seals fields at rest, and key files sealed with a passphrase (issue 12,
// finding 5).
#include "crypto/at_rest.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/test_folder.hpp"
#include "crypto/encoding.hpp"
#include "crypto/keys.hpp"
#include "crypto/secret_file.hpp"

namespace ecash::crypto {
namespace {

constexpr std::string_view kCard = "4111111111111111";

TEST(AtRestKey, SealThenOpen) {
  const auto key = AtRestKey::generate();
  const auto sealed = key.seal(kCard, "cards.card");
  EXPECT_TRUE(AtRestKey::is_sealed(sealed));
  EXPECT_EQ(sealed.find(kCard), std::string::npos);
  EXPECT_EQ(key.open(sealed, "cards.card").value(), kCard);
  // A fresh nonce each time: two seals of one value differ.
  EXPECT_NE(key.seal(kCard, "cards.card"), sealed);
}

TEST(AtRestKey, TamperedFieldIsRefused) {
  const auto key = AtRestKey::generate();
  const auto sealed = key.seal(kCard, "cards.card");
  for (std::size_t i = std::string_view("sealed:").size(); i < sealed.size(); i += 7) {
    std::string changed = sealed;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    auto opened = key.open(changed, "cards.card");
    ASSERT_FALSE(opened.has_value()) << "changed at " << i;
    EXPECT_TRUE(opened.error().code == ErrorCode::unseal_failed ||
                opened.error().code == ErrorCode::malformed)
        << opened.error().to_string();
  }
  EXPECT_EQ(key.open(sealed.substr(0, 20), "cards.card").error().code, ErrorCode::malformed);
  EXPECT_EQ(key.open(std::string(kCard), "cards.card").error().code, ErrorCode::malformed);
}

TEST(AtRestKey, WrongKeyOrColumnIsRefused) {
  const auto key = AtRestKey::generate();
  const auto sealed = key.seal(kCard, "cards.card");
  EXPECT_EQ(AtRestKey::generate().open(sealed, "cards.card").error().code,
            ErrorCode::unseal_failed);
  // Moved to another column, it does not open there.
  EXPECT_EQ(key.open(sealed, "people.name").error().code, ErrorCode::unseal_failed);
}

TEST(AtRestKey, LookupIsStableAndKeyed) {
  const Bytes raw(32, 7);
  const auto key = AtRestKey::from_bytes(raw).value();
  const auto again = AtRestKey::from_bytes(raw).value();
  const auto lookup = key.lookup(kCard, "cards.card");
  EXPECT_TRUE(AtRestKey::is_lookup(lookup));
  EXPECT_EQ(lookup, key.lookup(kCard, "cards.card"));
  EXPECT_EQ(lookup, again.lookup(kCard, "cards.card"));
  EXPECT_EQ(lookup.find(kCard), std::string::npos);
  EXPECT_NE(lookup, key.lookup("5555555555554444", "cards.card"));
  EXPECT_NE(lookup, key.lookup(kCard, "accounts.iban"));
  EXPECT_NE(lookup, AtRestKey::generate().lookup(kCard, "cards.card"));
  EXPECT_EQ(AtRestKey::from_bytes(Bytes(31)).error().code, ErrorCode::bad_encoding);
}

class SecretFileTest : public FolderTest {
 protected:
  void SetUp() override {
    FolderTest::SetUp();
    set_passphrase("", nullptr);
  }
  void TearDown() override {
    set_passphrase("", nullptr);
    FolderTest::TearDown();
  }
  std::string path(const char* name) const { return (m_dir / name).string(); }
  static std::string bytes_of(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(SecretFileTest, DataKeyIsKeptBesideTheStoreAndReadBack) {
  const auto store = path("cards.db");
  const auto first = AtRestKey::in_file(store + ".key").value();
  struct stat st {};
  ASSERT_EQ(::stat((store + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto second = AtRestKey::in_file(store + ".key").value();
  EXPECT_EQ(first.lookup(kCard, "c"), second.lookup(kCard, "c"));
  EXPECT_EQ(second.open(first.seal(kCard, "c"), "c").value(), kCard);
  // A store in memory gets a key of its own, and writes no file.
  EXPECT_NE(AtRestKey::in_file("")->lookup(kCard, "c"), first.lookup(kCard, "c"));
}

TEST_F(SecretFileTest, KeyFileSealedWithAPassphraseHoldsNoKeyInClear) {
  set_passphrase("correct horse battery staple", nullptr);
  const auto keys = PartyKeys::generate();
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(write_key_file(path("party.keys"), keys).has_value());
  const auto took = std::chrono::steady_clock::now() - started;
  std::cout << "Argon2id (moderate limits) and the seal took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  const auto text = bytes_of(path("party.keys"));
  EXPECT_TRUE(is_sealed_file(path("party.keys")));
  EXPECT_EQ(text.find(base64url_encode(keys.signing.seed())), std::string::npos);
  EXPECT_EQ(text.find(base64url_encode(keys.sealing.secret())), std::string::npos);
  EXPECT_EQ(text.find("ecash-party-keys"), std::string::npos);
  // Read back in a process that was given the passphrase (the derived key is reused: fast).
  auto back = read_key_file(path("party.keys"));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->signing.verify_key(), keys.signing.verify_key());
  // The data key beside a store is sealed the same way.
  const auto data = AtRestKey::in_file(path("s.db") + ".key").value();
  EXPECT_TRUE(is_sealed_file(path("s.db.key")));

  // A process without the passphrase: refused with the code, not a crash.
  set_passphrase("", nullptr);
  EXPECT_EQ(read_key_file(path("party.keys")).error().code, ErrorCode::bad_passphrase);
  EXPECT_EQ(AtRestKey::in_file(path("s.db") + ".key").error().code, ErrorCode::bad_passphrase);
  // The wrong one.
  set_passphrase("wrong horse", nullptr);
  EXPECT_EQ(read_key_file(path("party.keys")).error().code, ErrorCode::bad_passphrase);
  // Asked for on a prompt: a wrong answer is refused, the right one opens both files, asked once.
  int asked = 0;
  set_passphrase("", [&](const std::string&) -> Result<std::string> {
    ++asked;
    return std::string("correct horse battery staple");
  });
  ASSERT_TRUE(read_key_file(path("party.keys")).has_value());
  auto reopened = AtRestKey::in_file(path("s.db") + ".key");
  ASSERT_TRUE(reopened.has_value()) << reopened.error().to_string();
  EXPECT_EQ(reopened->lookup(kCard, "c"), data.lookup(kCard, "c"));
  EXPECT_EQ(asked, 1);
}

TEST_F(SecretFileTest, AChangedSealedFileIsRefused) {
  auto sealed = seal_with_passphrase("secret text", "pass").value();
  EXPECT_EQ(open_with_passphrase(sealed, "pass").value(), "secret text");
  // Each character of the box changed in turn (the last line): never opens.
  const auto box = sealed.rfind('\n', sealed.size() - 2) + 1;
  for (std::size_t i = box; i + 1 < sealed.size(); i += 5) {
    std::string changed = sealed;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    auto opened = open_with_passphrase(changed, "pass");
    ASSERT_FALSE(opened.has_value());
    EXPECT_TRUE(opened.error().code == ErrorCode::bad_passphrase ||
                opened.error().code == ErrorCode::malformed);
  }
  EXPECT_EQ(open_with_passphrase("ecash-sealed-v1\nnonsense", "pass").error().code,
            ErrorCode::malformed);
}

TEST_F(SecretFileTest, AKeyFileWithoutAPassphraseStaysReadable) {
  const auto keys = PartyKeys::generate();
  ASSERT_TRUE(write_key_file(path("party.keys"), keys).has_value());
  EXPECT_FALSE(is_sealed_file(path("party.keys")));
  // A passphrase given later does not stop a clear file from being read.
  set_passphrase("anything", nullptr);
  EXPECT_EQ(read_key_file(path("party.keys"))->signing.verify_key(), keys.signing.verify_key());
}

}  // namespace
}  // namespace ecash::crypto
