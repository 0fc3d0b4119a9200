#include "net/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "crypto/keys.hpp"
#include "pki/authority.hpp"

namespace ecash::net {

TlsIdentity issue_identity(const pki::CertificateAuthority& ca, pki::Role role, UnixSeconds from,
                           UnixSeconds until, RandomSource& random) {
  auto keys = crypto::PartyKeys::generate();
  auto cert = ca.issue({.subject = "x",
                        .role = role,
                        .verify_key = keys.signing.verify_key(),
                        .sealing_key = keys.sealing.public_key()},
                       from, until, random)
                  .value();
  return {cert, pki::private_key_pem(keys.signing)};
}

int tcp_connect_from(const std::string& from, const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, from.c_str(), &local.sin_addr) != 1 ||
      inet_pton(AF_INET, host.c_str(), &remote.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string Address::url() const { return "https://" + host + ":" + std::to_string(port); }

Result<Address> parse_listen(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(ErrorCode::invalid_argument, "expected HOST:PORT, got '" + std::string(address) + "'");
  }
  const auto port_text = address.substr(colon + 1);
  int port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (port = std::stoi(std::string(port_text))) > 65535) {
    return fail(ErrorCode::invalid_argument, "bad port in '" + std::string(address) + "'");
  }
  return Address{std::string(address.substr(0, colon)), port};
}

Result<Address> parse_url(std::string_view url) {
  const std::string_view scheme = "https://";
  if (url.substr(0, scheme.size()) != scheme) {
    return fail(ErrorCode::invalid_argument, "expected https://HOST:PORT, got '" + std::string(url) + "'");
  }
  auto rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return fail(ErrorCode::invalid_argument, "expected https://HOST:PORT, got '" + std::string(url) + "'");
  }
  if (rest.find(':') == std::string_view::npos) return Address{std::string(rest), 8443};
  return parse_listen(rest);
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::not_found:
    case ErrorCode::unknown_user:
    case ErrorCode::unknown_shop:
      return 404;
    case ErrorCode::bad_certificate:
    case ErrorCode::untrusted_issuer:
    case ErrorCode::certificate_expired:
    case ErrorCode::certificate_not_yet_valid:
    case ErrorCode::certificate_revoked:
    case ErrorCode::wrong_role:
      return 403;
    case ErrorCode::conflict:
    case ErrorCode::replayed:
      return 409;
    case ErrorCode::insufficient_funds:
    case ErrorCode::limit_exceeded:
    case ErrorCode::declined:
      return 402;
    case ErrorCode::too_large:
      return 413;
    case ErrorCode::unauthorized:
      return 401;
    case ErrorCode::rate_limited:
      return 429;
    case ErrorCode::unavailable:
      return 503;
    case ErrorCode::internal:
    case ErrorCode::io_error:
    case ErrorCode::insecure_permissions:
      return 500;
    default:
      return 400;
  }
}

}  // namespace ecash::net
