#include "net/net.hpp"

#include <algorithm>

namespace ecash::net {

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
