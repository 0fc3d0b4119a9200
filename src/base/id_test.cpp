#include "base/id.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>

namespace ecash {
namespace {

// A RandomSource that hands out a fixed pattern, so IDs are predictable in tests.
class CountingRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = m_next++;
  }

 private:
  std::uint8_t m_next = 0;
};

TEST(Id128, TextFormIsCanonicalCrockfordBase32) {
  EXPECT_EQ(Id128().to_string(), "00000000000000000000000000");
  std::array<std::uint8_t, 16> ones{};
  ones.fill(0xff);
  EXPECT_EQ(Id128(ones).to_string(), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
  std::array<std::uint8_t, 16> one{};
  one[15] = 1;
  EXPECT_EQ(Id128(one).to_string(), "00000000000000000000000001");
}

TEST(Id128, RandomIdsComeFromTheSource) {
  CountingRandom random;
  const auto a = Id128::random(random);
  const auto b = Id128::random(random);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.bytes()[0], 0);
  EXPECT_EQ(b.bytes()[0], 16);
}

TEST(Id128, RejectsNonCanonicalText) {
  EXPECT_EQ(Id128::parse("").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(Id128::parse("0000000000000000000000000").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(Id128::parse("000000000000000000000000000").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(Id128::parse("8ZZZZZZZZZZZZZZZZZZZZZZZZZ").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(Id128::parse("0000000000000000000000000I").error().code, ErrorCode::bad_encoding);
  EXPECT_EQ(Id128::parse("0000000000000000000000000a").error().code, ErrorCode::bad_encoding);
}

RC_GTEST_PROP(Id128Property, TextRoundTrips, (std::array<std::uint8_t, 16> bytes)) {
  const Id128 id(bytes);
  const auto back = Id128::parse(id.to_string());
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == id);
}

}  // namespace
}  // namespace ecash
