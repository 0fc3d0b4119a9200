// The payment request a wallet takes from a QR code, a link or a paste: no input crashes or
// throws, and whatever parses writes back to a URI that parses to the same request.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/payment_uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ecash::protocol::parse_payment_uri(text);
  if (!parsed) return 0;
  auto again = ecash::protocol::parse_payment_uri(ecash::protocol::to_payment_uri(*parsed));
  if (!again || again->shop != parsed->shop || again->shop_home != parsed->shop_home ||
      again->request != parsed->request) {
    std::abort();
  }
  return 0;
}
