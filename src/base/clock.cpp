#include "base/clock.hpp"

#include <array>
#include <chrono>
#include <ctime>

namespace ecash {

UnixSeconds SystemClock::now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc_time(UnixSeconds t) {
  const auto time = static_cast<std::time_t>(t);
  std::tm utc{};
  if (gmtime_r(&time, &utc) == nullptr) return std::to_string(t);
  std::array<char, 32> text{};
  const auto n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text.data(), n);
}

}  // namespace ecash
