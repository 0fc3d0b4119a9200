// The plain pages a till serves to browsers and the client that posts to a shop's own receivers:
// a failing page does not take the server down, connections are capped, and a receiver that
// never answers is given up within the time it was given.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net/pages.hpp"

namespace ecash::net {
namespace {

// A TCP connection to 127.0.0.1:port that sends nothing (-1 if it cannot be made).
int open_idle(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(port));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

Page ok_or_throw(std::string_view path) {
  if (path == "/boom") throw std::runtime_error("a page that fails");
  return Page{200, "text/plain; charset=utf-8", "here\n"};
}

TEST(PageServer, AHandlerThatThrowsIsAnswered500AndTheServerServesOn) {
  PageServer pages(ok_or_throw);
  const int port = pages.start("127.0.0.1", 0).value();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto failed = http_get(base + "/boom");
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message.find("answered 500"), std::string::npos) << failed.error().to_string();
  auto served = http_get(base + "/fine");
  ASSERT_TRUE(served.has_value()) << served.error().to_string();
  EXPECT_EQ(*served, "here\n");
}

TEST(PageServer, ConnectionsPastTheCapAreClosedAndTheServerRecovers) {
  PageServer pages(ok_or_throw);
  const int port = pages.start("127.0.0.1", 0).value();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/fine";
  std::vector<int> idle;
  for (int k = 0; k < 256; ++k) {
    const int fd = open_idle(port);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // Every place is held by a connection that sends nothing: the next is closed, not served.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto shut_out = http_get(url);
  ASSERT_FALSE(shut_out.has_value());
  EXPECT_EQ(shut_out.error().code, ErrorCode::unavailable) << shut_out.error().to_string();
  for (const int fd : idle) ::close(fd);
  // Their places are given back as they close.
  Result<std::string> served = fail(ErrorCode::unavailable, "not tried");
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    served = http_get(url);
  }
  ASSERT_TRUE(served.has_value()) << served.error().to_string();
}

// A receiver that takes the connection and never answers: given up within the time allowed (the
// blocking client this replaced waited for ever, holding the till's main loop).
TEST(HttpClient, AReceiverThatNeverAnswersIsGivenUpInTime) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(listener, 8), 0);  // the kernel completes the handshake; nobody reads
  socklen_t size = sizeof at;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &size), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(at.sin_port)) + "/hook";
  const auto start = std::chrono::steady_clock::now();
  auto posted = post_json(url, "{}", {}, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(listener);
  ASSERT_FALSE(posted.has_value());
  EXPECT_EQ(posted.error().code, ErrorCode::unavailable) << posted.error().to_string();
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(HttpClient, PlainHttpGoesOnlyToThisMachine) {
  for (const char* url : {"http://192.0.2.1/x", "http://example.org/x"}) {
    auto refused = http_get(url);
    ASSERT_FALSE(refused.has_value()) << url;
    EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument) << url;
    auto posted = post_json(url, "{}", {});
    ASSERT_FALSE(posted.has_value()) << url;
    EXPECT_EQ(posted.error().code, ErrorCode::invalid_argument) << url;
  }
  auto smuggled = post_json("http://127.0.0.1:1/\r\nHost: evil", "{}", {});
  ASSERT_FALSE(smuggled.has_value());
  EXPECT_EQ(smuggled.error().code, ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace ecash::net
