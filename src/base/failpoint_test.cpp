#include "base/failpoint.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace ecash {
namespace {

// Each case runs in a child process of its own (the configuration is read once per process).
TEST(FailpointDeathTest, CrashesAtTheNamedPointOnTheNthHit) {
  EXPECT_EXIT(
      {
        setenv("ECASH_FAILPOINT", "commit/bank/before#2,call/bank/pay/after", 1);
        failpoint("commit/bank/before");  // the first hit: passes
        failpoint("commit/center/before");
        failpoint("commit/bank/before");  // the second: crashes
        std::exit(0);
      },
      ::testing::ExitedWithCode(kFailpointExitCode), "crashing at commit/bank/before");
  EXPECT_EXIT(
      {
        setenv("ECASH_FAILPOINT", "commit/bank/before#2,call/bank/pay/after", 1);
        failpoint("call/bank/pay/after");
        std::exit(0);
      },
      ::testing::ExitedWithCode(kFailpointExitCode), "crashing at call/bank/pay/after");
  EXPECT_EXIT(
      {
        unsetenv("ECASH_FAILPOINT");
        failpoint("commit/bank/before");
        std::exit(7);
      },
      ::testing::ExitedWithCode(7), "");
}

TEST(FailpointDeathTest, ListsThePointsReached) {
  const std::string log = ::testing::TempDir() + "/failpoints.log";
  std::remove(log.c_str());
  EXPECT_EXIT(
      {
        setenv("ECASH_FAILPOINT_LOG", log.c_str(), 1);
        failpoint("commit/wallet/before");
        failpoint("commit/wallet/after");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "commit/wallet/before\ncommit/wallet/after\n");
}

}  // namespace
}  // namespace ecash
