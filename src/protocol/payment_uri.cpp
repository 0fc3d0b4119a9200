#include "protocol/payment_uri.hpp"

#include <nlohmann/json.hpp>

#include "crypto/encoding.hpp"
#include "protocol/json_fields.hpp"

namespace ecash::protocol {

namespace {
constexpr std::string_view kPrefix = "ecash://pay?";
constexpr std::size_t kMaxUri = 64 * 1024;
}  // namespace

std::string to_payment_uri(const PaymentUri& uri) {
  const std::string text = uri.request.dump();
  std::string out(kPrefix);
  out += uri.shop.empty() ? "shop_home=" + uri.shop_home : "shop=" + uri.shop;
  out += "&request=" + crypto::base64url_encode(ByteView(
                           reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  return out;
}

Result<PaymentUri> parse_payment_uri(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (text.size() > kMaxUri) return fail(ErrorCode::malformed, "payment request too long");
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return fail(ErrorCode::malformed, "not a payment request (ecash://pay?...)");
  }
  PaymentUri out;
  bool have_request = false;
  auto rest = text.substr(kPrefix.size());
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) return fail(ErrorCode::malformed, "payment request: bad parameter");
    const auto key = pair.substr(0, eq);
    const auto value = pair.substr(eq + 1);
    if (key == "shop" && out.shop.empty() && !value.empty()) {
      out.shop = std::string(value);
    } else if (key == "shop_home" && out.shop_home.empty() && !value.empty()) {
      out.shop_home = std::string(value);
    } else if (key == "request" && !have_request) {
      auto bytes = crypto::base64url_decode(value);
      if (!bytes) return fail(ErrorCode::malformed, "payment request: request is not base64url");
      out.request = parse_limited(as_text(*bytes));
      if (out.request.is_discarded() || !out.request.is_object()) {
        return fail(ErrorCode::malformed, "payment request: request is not a JSON object");
      }
      have_request = true;
    } else {
      return fail(ErrorCode::malformed, "payment request: unexpected or repeated '" + std::string(key) + "'");
    }
  }
  if (!have_request || out.shop.empty() == out.shop_home.empty()) {
    return fail(ErrorCode::malformed, "payment request: needs a request and exactly one shop");
  }
  return out;
}

}  // namespace ecash::protocol
