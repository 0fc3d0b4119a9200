// Amount and ID parsing: no input crashes, and whatever parses formats back to itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/amount.hpp"
#include "base/id.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto amount = ecash::Amount::parse(text)) {
    const auto again = ecash::Amount::parse(amount->to_string());
    if (!again || *again != *amount) std::abort();
    if (amount->minor() > ecash::Amount::kMaxMinor || amount->minor() < -ecash::Amount::kMaxMinor) {
      std::abort();
    }
  }
  const auto eur = ecash::Currency::from_code("EUR").value();
  if (auto amount = ecash::Amount::parse(text, eur)) {
    if (ecash::Amount::parse(amount->to_string()).value() != *amount) std::abort();
  }
  if (auto id = ecash::Id128::parse(text)) {
    if (id->to_string() != text) std::abort();
  }
  return 0;
}
