#include "base/error.hpp"

#include <array>
#include <ostream>

namespace ecash {
namespace {

constexpr std::array kNames = {
#define ECASH_X(name) std::string_view{#name},
    ECASH_ERROR_CODES(ECASH_X)
#undef ECASH_X
};

}  // namespace

std::string_view to_string(ErrorCode code) {
  const auto index = static_cast<std::size_t>(code);
  return index < kNames.size() ? kNames[index] : std::string_view{"internal"};
}

ErrorCode error_code_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return ErrorCode::internal;
}

std::ostream& operator<<(std::ostream& out, ErrorCode code) { return out << to_string(code); }

std::string Error::to_string() const {
  std::string out{ecash::to_string(code)};
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

bool outcome_unknown(const Error& error) {
  return error.code == ErrorCode::unavailable || error.code == ErrorCode::io_error ||
         error.code == ErrorCode::internal;
}

}  // namespace ecash
