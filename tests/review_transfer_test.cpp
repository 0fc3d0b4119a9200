#include <nlohmann/json.hpp>
#include "system_fixture.hpp"
namespace ecash::testing {
namespace {
TEST(Placeholder, Builds) { SUCCEED(); }
}  // namespace
}  // namespace ecash::testing
