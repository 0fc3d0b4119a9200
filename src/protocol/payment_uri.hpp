// A shop's payment request as one line a wallet can take from a QR code, a link or a paste:
//   ecash://pay?shop=HOST:PORT&request=<base64url of the signed request's JSON>
// shop is where the shop's wallet-facing server listens; the request itself (signed by the shop,
// with its certificate) is what the wallet checks. An embedded-mode shop (no server) is named
// by its folder instead: shop_home=<percent-free absolute path>.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"
#include <nlohmann/json.hpp>

#include "protocol/transport.hpp"

namespace ecash::protocol {

struct PaymentUri {
  std::string shop;       // HOST:PORT, or empty
  std::string shop_home;  // embedded mode, or empty
  Json request;           // {"request": ..., "shop_certificate": ...}
};

std::string to_payment_uri(const PaymentUri& uri);
// malformed unless text is such a URI naming exactly one shop and carrying a JSON object.
Result<PaymentUri> parse_payment_uri(std::string_view text);

}  // namespace ecash::protocol
