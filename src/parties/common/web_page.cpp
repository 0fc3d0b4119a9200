#include "parties/common/web_page.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"

namespace ecash::parties {

std::string csp_hash(std::string_view text) {
  auto b64 = crypto::base64url_encode(crypto::sha256(as_bytes(text)));
  for (auto& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (b64.size() % 4 != 0) b64 += '=';
  return "'sha256-" + b64 + "'";
}

}  // namespace ecash::parties
