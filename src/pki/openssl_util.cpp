#include "pki/openssl_util.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace ecash::pki {

std::string take_openssl_errors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace ecash::pki

namespace ecash::pki::detail {

std::unexpected<Error> openssl_failure(ErrorCode code, const std::string& what) {
  const auto reasons = take_openssl_errors();
  return fail(code, reasons.empty() ? what : what + " (" + reasons + ")");
}

Result<UnixSeconds> to_unix(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return openssl_failure(ErrorCode::bad_certificate, "bad time field");
  }
  return static_cast<UnixSeconds>(timegm(&tm));
}

std::string integer_to_hex(const ASN1_INTEGER* integer) {
  BignumPtr bn(ASN1_INTEGER_to_BN(integer, nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex ? hex : "");
  OPENSSL_free(hex);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Result<IntegerPtr> hex_to_integer(const std::string& hex) {
  if (hex.empty() || hex.size() > 40 ||
      !std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c); })) {
    return fail(ErrorCode::invalid_argument, "serial must be hex");
  }
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, hex.c_str()) == 0) return openssl_failure(ErrorCode::invalid_argument, "serial");
  BignumPtr bn(raw);
  IntegerPtr out(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!out) return openssl_failure(ErrorCode::internal, "serial");
  return out;
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

}  // namespace ecash::pki::detail
