#include "crypto/keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/test_folder.hpp"
#include "crypto/random.hpp"

namespace ecash::crypto {
namespace {

CanonicalWriter statement(Purpose purpose = Purpose::test_statement) {
  CanonicalWriter w(purpose);
  w.id(Id128()).amount(Amount::parse("EUR:12.50").value()).text("shop-7").u64(42);
  return w;
}

TEST(Signing, SignThenVerify) {
  const auto key = SigningKey::generate();
  const auto sig = key.sign(statement());
  EXPECT_TRUE(verify(key.verify_key(), statement(), sig).has_value());
}

TEST(Signing, EveryFlippedBitOfTheMessageIsRejected) {
  const auto key = SigningKey::generate();
  const auto good = statement();
  const auto sig = key.sign(good);
  ASSERT_TRUE(verify_encoded(key.verify_key(), good.data(), sig).has_value());
  // Every bit, the tag and purpose code included.
  for (std::size_t i = 0; i < good.data().size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes changed(good.data().begin(), good.data().end());
      changed[i] ^= static_cast<std::uint8_t>(1u << bit);
      auto result = verify_encoded(key.verify_key(), changed, sig);
      ASSERT_FALSE(result.has_value()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(result.error().code, ErrorCode::bad_signature);
    }
  }
}

TEST(Signing, ChangedFieldsAreRejected) {
  const auto key = SigningKey::generate();
  const auto sig = key.sign(statement());
  CanonicalWriter amount(Purpose::test_statement);
  amount.id(Id128()).amount(Amount::parse("EUR:12.51").value()).text("shop-7").u64(42);
  CanonicalWriter currency(Purpose::test_statement);
  currency.id(Id128()).amount(Amount::parse("USD:12.50").value()).text("shop-7").u64(42);
  CanonicalWriter text(Purpose::test_statement);
  text.id(Id128()).amount(Amount::parse("EUR:12.50").value()).text("shop-8").u64(42);
  // Moving bytes between adjacent fields changes the encoding: length prefixes bind the split.
  CanonicalWriter split(Purpose::test_statement);
  split.id(Id128()).amount(Amount::parse("EUR:12.50").value()).text("shop-").text("7").u64(42);
  for (const auto* w : {&amount, &currency, &text, &split}) {
    EXPECT_EQ(verify(key.verify_key(), *w, sig).error().code, ErrorCode::bad_signature);
  }
}

TEST(Signing, EveryFlippedBitOfTheSignatureIsRejected) {
  const auto key = SigningKey::generate();
  const auto sig = key.sign(statement());
  for (std::size_t i = 0; i < Signature::kSize; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bytes = sig.bytes();
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
      auto result = verify(key.verify_key(), statement(), Signature(bytes));
      ASSERT_FALSE(result.has_value()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(result.error().code, ErrorCode::bad_signature);
    }
  }
}

TEST(Signing, PurposeIsBound) {
  const auto key = SigningKey::generate();
  const auto sig = key.sign(statement(Purpose::test_statement));
  auto result = verify(key.verify_key(), statement(Purpose::test_other_statement), sig);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::bad_signature);
  // A flipped bit in the purpose code is another purpose.
  auto purpose_bits = static_cast<std::uint16_t>(Purpose::test_statement);
  for (int bit = 0; bit < 16; ++bit) {
    const auto other = static_cast<Purpose>(purpose_bits ^ (1u << bit));
    EXPECT_EQ(verify(key.verify_key(), statement(other), sig).error().code,
              ErrorCode::bad_signature);
  }
}

TEST(Signing, AnotherKeyIsRejected) {
  const auto key = SigningKey::generate();
  const auto other = SigningKey::generate();
  EXPECT_EQ(verify(other.verify_key(), statement(), key.sign(statement())).error().code,
            ErrorCode::bad_signature);
}

TEST(Signing, SeedDeterminesKey) {
  const auto key = SigningKey::generate();
  const auto again = SigningKey::from_seed(key.seed()).value();
  EXPECT_EQ(key.verify_key(), again.verify_key());
  EXPECT_EQ(SigningKey::from_seed(Bytes(31)).error().code, ErrorCode::bad_encoding);
}

TEST(Sealing, SealThenOpen) {
  const auto clearing = SealingKey::generate();
  const auto sealed = seal(clearing.public_key(), as_bytes("4111111111111111"));
  auto opened = clearing.open(sealed);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(as_text(*opened), "4111111111111111");
  // Sealed boxes are randomised: the same plaintext never seals to the same bytes.
  EXPECT_NE(sealed, seal(clearing.public_key(), as_bytes("4111111111111111")));
}

TEST(Sealing, OpenWithTheWrongKeyFails) {
  const auto clearing = SealingKey::generate();
  const auto center = SealingKey::generate();
  const auto sealed = seal(clearing.public_key(), as_bytes("4111111111111111"));
  EXPECT_EQ(center.open(sealed).error().code, ErrorCode::unseal_failed);
}

TEST(Sealing, AlteredBoxFails) {
  const auto key = SealingKey::generate();
  auto sealed = seal(key.public_key(), as_bytes("article: one coffee"));
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto changed = sealed;
    changed[i] ^= 0x01;
    EXPECT_EQ(key.open(changed).error().code, ErrorCode::unseal_failed) << "byte " << i;
  }
  EXPECT_EQ(key.open(Bytes(10)).error().code, ErrorCode::unseal_failed);
}

TEST(Sealing, SecretDeterminesPublicKey) {
  const auto key = SealingKey::generate();
  EXPECT_EQ(SealingKey::from_secret(key.secret())->public_key(), key.public_key());
}

TEST(PublicBytes, TextRoundTripAndSizeCheck) {
  const auto key = SigningKey::generate();
  EXPECT_EQ(VerifyKey::parse(key.verify_key().to_text()).value(), key.verify_key());
  EXPECT_EQ(VerifyKey::from_bytes(Bytes(31)).error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(Signature::parse("AAAA").error().code, ErrorCode::bad_encoding);
}

class KeyFileTest : public FolderTest {
 protected:
  std::string path(const char* name) const { return (m_dir / name).string(); }
};

TEST_F(KeyFileTest, WritesWith0600AndReadsBack) {
  const auto keys = PartyKeys::generate();
  ASSERT_TRUE(write_key_file(path("keys"), keys).has_value());
  struct stat st {};
  ASSERT_EQ(::stat(path("keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = read_key_file(path("keys"));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->signing.verify_key(), keys.signing.verify_key());
  EXPECT_EQ(back->sealing.public_key(), keys.sealing.public_key());
  EXPECT_FALSE(std::filesystem::exists(path("keys.tmp")));
}

TEST_F(KeyFileTest, NeverOverwritesAKey) {
  const auto first = PartyKeys::generate();
  ASSERT_TRUE(write_key_file(path("keys"), first).has_value());
  EXPECT_EQ(write_key_file(path("keys"), PartyKeys::generate()).error().code, ErrorCode::conflict);
  EXPECT_EQ(read_key_file(path("keys"))->signing.verify_key(), first.signing.verify_key());
}

TEST_F(KeyFileTest, RefusesReadableByOthers) {
  ASSERT_TRUE(write_key_file(path("keys"), PartyKeys::generate()).has_value());
  ::chmod(path("keys").c_str(), 0644);
  EXPECT_EQ(read_key_file(path("keys")).error().code, ErrorCode::insecure_permissions);
}

TEST_F(KeyFileTest, DamagedOrMissingFile) {
  EXPECT_EQ(read_key_file(path("none")).error().code, ErrorCode::not_found);
  {
    std::ofstream out(path("bad"));
    out << "ecash-party-keys-v1\nsign AAAA\nseal AAAA\n";
  }
  ::chmod(path("bad").c_str(), 0600);
  EXPECT_EQ(read_key_file(path("bad")).error().code, ErrorCode::malformed);
}

}  // namespace
}  // namespace ecash::crypto
