#include "base/http_url.hpp"

#include <gtest/gtest.h>

namespace ecash {
namespace {

TEST(HttpUrl, NamesItsPartsAndTheHostHeader) {
  auto u = parse_http_url("https://Shop.Example:8443/hooks/ecash?x=1").value();
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "shop.example");
  EXPECT_EQ(u.port, "8443");
  EXPECT_EQ(u.target, "/hooks/ecash?x=1");
  EXPECT_EQ(u.host_header(), "shop.example:8443");
  EXPECT_FALSE(u.loopback());

  auto plain = parse_http_url("http://127.0.0.1").value();
  EXPECT_EQ(plain.port, "80");
  EXPECT_EQ(plain.target, "/");
  EXPECT_EQ(plain.host_header(), "127.0.0.1");
  EXPECT_TRUE(plain.loopback());
  EXPECT_EQ(parse_http_url("http://localhost:8080?a=b").value().target, "/?a=b");
}

TEST(HttpUrl, TakesIpv6AddressesInBrackets) {
  auto u = parse_http_url("http://[::1]:9000/h").value();
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "9000");
  EXPECT_TRUE(u.loopback());
  EXPECT_EQ(u.host_header(), "[::1]:9000");
  EXPECT_EQ(parse_http_url("https://[2001:db8::1]/").value().host_header(), "[2001:db8::1]");
}

// Loopback is told by address: a name that only looks like one is someone else's machine.
TEST(HttpUrl, LoopbackIsANumericAddressOfThisMachine) {
  for (const char* here : {"http://127.0.0.1/", "http://127.255.0.9:81/", "http://localhost/", "http://[::1]/",
                           "http://[0:0:0:0:0:0:0:1]/"}) {
    EXPECT_TRUE(parse_http_url(here).value().loopback()) << here;
  }
  for (const char* there : {"http://127.attacker.example/", "http://127.0.0.1.nip.io/", "http://127/",
                            "http://128.0.0.1/", "http://[::2]/", "http://localhost.example/", "http://[::ffff:8.8.8.8]/"}) {
    EXPECT_FALSE(parse_http_url(there).value().loopback()) << there;
  }
}

// The scheme in any case and an empty port (the scheme's own), as RFC 3986 allows.
TEST(HttpUrl, TakesTheSchemeInAnyCaseAndAnEmptyPort) {
  auto u = parse_http_url("HTTPS://shop.example:/x").value();
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, "443");
  auto plain = parse_http_url("Http://127.0.0.1:/").value();
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.port, "80");
}

TEST(HttpUrl, RefusesWhatCouldSmuggleAnotherRequestOrHost) {
  for (const char* bad : {"ftp://x/", "http://", "https://:443/", "http://a b/", "http://a/\r\nHost: evil",
                          "http://user@127.0.0.1/", "http://evil.example@127.0.0.1/", "http://127.0.0.1:0/",
                          "http://127.0.0.1:65536/", "http://127.0.0.1:80x/", "http://[::1/", "http://[::1]x/",
                          "http://[evil]/", "http://a/#frag", "http://a_b/"}) {
    auto parsed = parse_http_url(bad);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, ErrorCode::invalid_argument) << bad;
    }
  }
  EXPECT_FALSE(parse_http_url("https://" + std::string(2000, 'a') + "/"));
}

}  // namespace
}  // namespace ecash
