#include "base/http_url.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ecash {

namespace {

Result<HttpUrl> refuse(std::string_view url, const std::string& why) {
  return fail(ErrorCode::invalid_argument, "not a usable http(s) URL (" + why + "): " + std::string(url.substr(0, 200)));
}

}  // namespace

// Whether text starts with prefix, in any case.
bool starts_with_any_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = text[i];
    if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != prefix[i]) return false;
  }
  return true;
}

// By address, not by the look of a name: "127.example.org" is someone else's machine.
bool HttpUrl::loopback() const {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
}

std::string HttpUrl::host_header() const {
  const std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == (tls ? "443" : "80") ? name : name + ":" + port;
}

Result<HttpUrl> parse_http_url(std::string_view url) {
  HttpUrl out;
  if (url.size() > 2000) return refuse(url, "longer than 2000 characters");
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return refuse(url, "a space or control character");
  }
  if (starts_with_any_case(url, "https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (starts_with_any_case(url, "http://")) {
    url.remove_prefix(7);
  } else {
    return refuse(url, "neither http:// nor https://");
  }
  if (url.find('#') != std::string_view::npos) return refuse(url, "a fragment");
  const auto end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, end);
  out.target = end == std::string_view::npos ? "/" : std::string(url.substr(end));
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) return refuse(url, "a user name");
  std::string_view port;
  bool port_named = false;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return refuse(url, "an IPv6 address without its ]");
    out.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) return refuse(url, "text after the IPv6 address");
    port_named = !after.empty();
    if (port_named) port = after.substr(1);
    if (out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos || out.host.empty()) {
      return refuse(url, "not an IPv6 address");
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    port_named = colon != std::string_view::npos;
    if (port_named) port = authority.substr(colon + 1);
    if (out.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
        std::string::npos) {
      return refuse(url, "a host name of letters, digits, dots and hyphens");
    }
  }
  if (out.host.empty()) return refuse(url, "no host");
  if (!port_named || port.empty()) {  // "host:" is the scheme's port (RFC 3986, 3.2.3)
    out.port = out.tls ? "443" : "80";
  } else {
    int number = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || ptr != port.data() + port.size() || number < 1 || number > 65535) {
      return refuse(url, "a port of 1 to 65535");
    }
    out.port = std::to_string(number);
  }
  for (auto& c : out.host) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace ecash
