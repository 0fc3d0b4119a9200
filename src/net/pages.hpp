#pragma once
// Plain HTTP pages for people and their browsers (a shop's checkout page), beside the mutual-TLS
// servers devices talk to: GET only, no certificate asked, meant for loopback behind the shop's
// own web server. Event-driven like the Server: an idle or slow browser holds no thread.
#include <chrono>
#include <functional>
#include <utility>
#include <vector>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace ecash::net {

struct Page {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  // The Content-Security-Policy: the page's own (hashes of its inline style and script), or,
  // when empty, one that lets nothing in.
  std::string policy;
};

// Answers a GET of path (with no query string): must be quick (it runs on the I/O thread) and
// thread-safe. An exception it throws is answered 500 and logged nowhere else.
using PageHandler = std::function<Page(std::string_view path)>;

// How many browsers' connections a PageServer holds at once, in all and from one address. Past
// either, a new connection takes the place of the one waiting longest for a request (within that
// address's, or within all), or is closed when none waits.
struct PageLimits {
  int connections = 1024;
  int per_source = 64;
  // Addresses (as written, "127.0.0.1") of the shop's own web servers in front: every customer
  // comes from them, so no cap per address holds them, only the cap in all.
  std::vector<std::string> proxies;
  // The host names a request's Host header may give (without its port; an IPv6 address in
  // brackets); empty: any. Others are answered 421: a page on loopback is not read through a
  // name someone else's DNS points here (DNS rebinding).
  std::vector<std::string> hosts;
};

// The names a page server bound to host answers to: this machine's names when it is on loopback
// (what a web page elsewhere reaches only through DNS rebinding); any off loopback, where it is
// reached by whatever name the operator's network gives it.
std::vector<std::string> hosts_of(const std::string& host);

class PageServer {
 public:
  explicit PageServer(PageHandler handler, PageLimits limits = {});
  ~PageServer();
  PageServer(const PageServer&) = delete;
  PageServer& operator=(const PageServer&) = delete;

  // Binds (port 0: the OS picks one) and serves on a thread of its own until stop() or the
  // destructor; returns the port. With a certificate (PEM, the chain) and its key: HTTPS.
  Result<int> start(const std::string& host, int port, const std::string& certificate_file = "",
                    const std::string& key_file = "");
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

// GET of an http:// or https:// URL (the latter checked against the system's CA store and the
// host's name; http:// to a loopback address only): its body, or an error (unavailable when it
// cannot be reached or does not answer within ten seconds, not_found on 404, invalid_argument on
// another status). Bodies beyond max_body are refused.
Result<std::string> http_get(const std::string& url, std::size_t max_body = 64 * 1024);

// POST of a JSON body to a receiver outside the system (a shop's webhook): https:// checked against
// the system's CA store and the host's name, or http:// to a loopback address only. The HTTP
// status it answered, or unavailable when it could not be reached within `timeout`.
Result<int> post_json(const std::string& url, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

// For tests: every name lookup (not a numeric address) waits this long first, as behind a slow
// DNS server.
void delay_name_lookups_for_tests(std::chrono::milliseconds delay);

}  // namespace ecash::net
