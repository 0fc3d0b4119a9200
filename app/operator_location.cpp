#include "operator_location.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

namespace ecash::app {

Result<std::unique_ptr<local::LocalOperator>> open_operator_at(const std::string& location,
                                                               const Clock& clock,
                                                               RandomSource& random) {
  if (location.rfind("https://", 0) == 0) {
    return fail(ErrorCode::unavailable,
                "network operators are not supported yet; give the operator's data folder");
  }
  std::ifstream in(location + "/operator.json");
  if (!in) {
    return fail(ErrorCode::not_found, "no operator in " + location +
                                          ": run `ecash operator init --data " + location + "`");
  }
  const auto settings = nlohmann::json::parse(in, nullptr, false);
  if (settings.is_discarded() || !settings.contains("currency") || !settings["currency"].is_string()) {
    return fail(ErrorCode::malformed, location + "/operator.json is damaged");
  }
  auto currency = Currency::from_code(settings["currency"].get<std::string>());
  if (!currency) return std::unexpected(currency.error());
  return local::LocalOperator::open(location, *currency, clock, random);
}

}  // namespace ecash::app
