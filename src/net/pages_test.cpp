// The plain pages a till serves to browsers and the client that posts to a shop's own receivers:
// a failing page does not take the server down, connections are capped, and a receiver that
// never answers is given up within the time it was given.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "net/pages.hpp"

namespace ecash::net {
namespace {

// A TCP connection from `from` (a loopback address) to 127.0.0.1:port that sends nothing (-1 if it
// cannot be made).
int open_idle(int port, const char* from = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &source.sin_addr);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(port));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the server has closed fd (its read ends), waiting up to a second.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 1000) != 1) return false;
  char c = 0;
  return ::recv(fd, &c, 1, 0) <= 0;
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

// One address's idle connections hold at most its share; past it, its own longest-waiting one
// makes room, and a customer from elsewhere is served all along.
TEST(PageServer, OneAddressCannotHoldEveryPlace) {
  PageServer pages(ok_or_throw, PageLimits{.connections = 8, .per_source = 4});
  const int port = pages.start("127.0.0.1", 0).value();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/fine";
  std::vector<int> idle;
  for (int k = 0; k < 4; ++k) {
    idle.push_back(open_idle(port, "127.0.0.2"));
    ASSERT_GE(idle.back(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // they wait in this order
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A fifth from that address takes the place of its first.
  const int fifth = open_idle(port, "127.0.0.2");
  ASSERT_GE(fifth, 0);
  EXPECT_TRUE(closed_by_server(idle[0]));
  pollfd p{idle[1], POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 200), 0) << "the second is still open";
  auto served = http_get(url);
  ASSERT_TRUE(served.has_value()) << served.error().to_string();
  for (const int fd : idle) ::close(fd);
  ::close(fifth);
}

// Connections sending their requests a byte at a time hold no more than their address's share:
// past it, the one waiting longest is closed (a read whose bytes have come is not waiting to be
// cancelled), and its request, finished later, is not answered.
TEST(PageServer, ConnectionsTricklingTheirRequestsHoldNoMoreThanTheirShare) {
  PageServer pages(ok_or_throw, PageLimits{.connections = 64, .per_source = 2});
  const int port = pages.start("127.0.0.1", 0).value();
  const std::string request = "GET /fine HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(4000, 'a') + "\r\n\r\n";
  std::vector<std::pair<int, std::size_t>> trickling;  // each connection and the bytes it has sent
  std::mutex mutex;
  std::atomic<bool> done{false};
  // Bytes keep coming on every connection while new ones are made.
  std::thread trickler([&] {
    while (!done) {
      const std::lock_guard lock(mutex);
      for (auto& [fd, sent] : trickling) {
        if (sent + 1 < request.size() && ::send(fd, &request[sent], 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++sent;
      }
    }
  });
  for (int k = 0; k < 60; ++k) {
    const int fd = open_idle(port, "127.0.0.2");
    if (fd < 0) break;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
      const std::lock_guard lock(mutex);
      trickling.emplace_back(fd, 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  done = true;
  trickler.join();
  ASSERT_EQ(trickling.size(), 60u);
  int answered = 0;
  for (auto& [fd, sent] : trickling) {
    (void)::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
  }
  for (auto& [fd, sent] : trickling) {
    pollfd p{fd, POLLIN, 0};
    char head[16] = {};
    if (::poll(&p, 1, 1000) == 1 && ::recv(fd, head, sizeof head - 1, 0) > 0 &&
        std::string_view(head).starts_with("HTTP/1.1 200")) {
      ++answered;
    }
    ::close(fd);
  }
  EXPECT_GE(answered, 1);
  EXPECT_LE(answered, 2);
}

// The shop's own web server in front (every customer comes from it) is held by the cap in all
// only, not by one address's share.
TEST(PageServer, AProxyInFrontIsCappedOnlyInAll) {
  PageServer pages(ok_or_throw, PageLimits{.connections = 8, .per_source = 2, .proxies = {"127.0.0.2"}});
  const int port = pages.start("127.0.0.1", 0).value();
  std::vector<int> idle;
  for (int k = 0; k < 6; ++k) {
    idle.push_back(open_idle(port, "127.0.0.2"));
    ASSERT_GE(idle.back(), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (const int fd : idle) {
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "a proxy's connection was closed";
    ::close(fd);
  }
}

// A page server on loopback answers only to this machine's names: a page elsewhere whose DNS
// name points here (DNS rebinding) is answered 421.
TEST(PageServer, AnswersOnlyToItsOwnHostNames) {
  EXPECT_EQ(hosts_of("127.0.0.1"), (std::vector<std::string>{"localhost", "127.0.0.1", "[::1]"}));
  EXPECT_EQ(hosts_of("::1"), (std::vector<std::string>{"localhost", "127.0.0.1", "[::1]"}));
  EXPECT_TRUE(hosts_of("10.1.2.3").empty());  // reached by the names its network gives it
  EXPECT_TRUE(hosts_of("0.0.0.0").empty());
  PageServer pages(ok_or_throw, PageLimits{.hosts = hosts_of("127.0.0.1")});
  const int port = pages.start("127.0.0.1", 0).value();
  const auto status_for = [&](const std::string& host) {
    const int fd = open_idle(port);
    const std::string request = "GET /fine HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char head[16] = {};
    pollfd p{fd, POLLIN, 0};
    const bool answered = ::poll(&p, 1, 2000) == 1 && ::recv(fd, head, sizeof head - 1, 0) > 0;
    ::close(fd);
    return answered ? std::string(head).substr(9, 3) : std::string("none");
  };
  EXPECT_EQ(status_for("127.0.0.1:" + std::to_string(port)), "200");
  EXPECT_EQ(status_for("LOCALHOST:" + std::to_string(port)), "200");
  EXPECT_EQ(status_for("[::1]:" + std::to_string(port)), "200");
  EXPECT_EQ(status_for("attacker.example:" + std::to_string(port)), "421");
  EXPECT_EQ(status_for("127.0.0.1.attacker.example"), "421");
  EXPECT_EQ(status_for(""), "421");
}

// Every place taken by idle connections from many addresses: a new customer takes the place of
// the one that has waited longest, and is served.
TEST(PageServer, PastTheCapTheLongestWaitingConnectionMakesRoom) {
  PageServer pages(ok_or_throw, PageLimits{.connections = 8, .per_source = 4});
  const int port = pages.start("127.0.0.1", 0).value();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/fine";
  std::vector<int> idle;
  for (const char* from : {"127.0.0.2", "127.0.0.3"}) {
    for (int k = 0; k < 4; ++k) {
      idle.push_back(open_idle(port, from));
      ASSERT_GE(idle.back(), 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  for (int round = 0; round < 3; ++round) {
    auto served = http_get(url);
    ASSERT_TRUE(served.has_value()) << served.error().to_string();
    EXPECT_EQ(*served, "here\n");
  }
  EXPECT_TRUE(closed_by_server(idle[0]));
  for (const int fd : idle) ::close(fd);
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

// A slow name lookup is bounded by the time-out too: the lookup is left to finish alone.
TEST(HttpClient, ASlowNameLookupIsGivenUpInTime) {
  delay_name_lookups_for_tests(std::chrono::seconds(4));
  const auto start = std::chrono::steady_clock::now();
  auto posted = post_json("http://localhost:9/hook", "{}", {}, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  delay_name_lookups_for_tests(std::chrono::milliseconds(0));
  ASSERT_FALSE(posted.has_value());
  EXPECT_EQ(posted.error().code, ErrorCode::unavailable) << posted.error().to_string();
  EXPECT_NE(posted.error().message.find("could not find localhost within 300 ms"), std::string::npos)
      << posted.error().to_string();
  EXPECT_LT(took, std::chrono::seconds(2));
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
