#pragma once
// http:// and https:// URLs of parties outside the system (a shop's webhook receiver, its checkout
// page): parsed once, strictly, so that what is checked (loopback, the host's name) is what is
// connected to.
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace ecash {

struct HttpUrl {
  bool tls = false;
  std::string host;    // a name, an IPv4 address, or an IPv6 address without its brackets
  std::string port;    // "443" or "80" when the URL names none
  std::string target;  // the path and query, "/" when the URL has none

  // Whether the host is this machine: localhost, 127.0.0.0/8 or ::1.
  bool loopback() const;
  // The Host header: the host (in brackets if IPv6), with the port unless it is the scheme's own.
  std::string host_header() const;
};

// Refuses anything but http(s)://HOST[:PORT][/PATH]: user names, fragments, spaces and control
// characters, an empty host, a port that is not 1-65535.
Result<HttpUrl> parse_http_url(std::string_view url);

}  // namespace ecash
