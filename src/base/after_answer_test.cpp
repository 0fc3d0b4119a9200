#include "base/after_answer.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ecash {
namespace {

TEST(AfterAnswerTest, WithNoScopeWorkRunsAtOnce) {
  std::string done;
  after_answer([&] { done += "a"; });
  EXPECT_EQ(done, "a");
}

TEST(AfterAnswerTest, InAScopeWorkWaitsForItsEndInOrder) {
  std::string done;
  {
    AfterAnswer scope;
    after_answer([&] { done += "a"; });
    after_answer([&] { done += "b"; });
    done += "answer;";
  }
  EXPECT_EQ(done, "answer;ab");
}

TEST(AfterAnswerTest, RunEmptiesTheScopeAndWorkDeferredMeanwhileRunsInTheSamePass) {
  std::string done;
  AfterAnswer scope;
  after_answer([&] {
    done += "a";
    after_answer([&] { done += "c"; });
  });
  after_answer([&] { done += "b"; });
  scope.run();
  EXPECT_EQ(done, "abc");
  scope.run();
  EXPECT_EQ(done, "abc");
}

TEST(AfterAnswerTest, WorkThatThrowsIsDroppedAndTheRestStillRuns) {
  std::string done;
  {
    AfterAnswer scope;
    after_answer([] { throw std::runtime_error("disk full"); });
    after_answer([&] { done += "b"; });
  }
  EXPECT_EQ(done, "b");
}

TEST(AfterAnswerTest, ScopesNestAndTheOuterOneIsBackAfterTheInner) {
  std::string done;
  {
    AfterAnswer outer;
    {
      AfterAnswer inner;
      after_answer([&] { done += "i"; });
    }
    EXPECT_EQ(done, "i");
    after_answer([&] { done += "o"; });
    EXPECT_EQ(done, "i");
  }
  EXPECT_EQ(done, "io");
  after_answer([&] { done += "!"; });
  EXPECT_EQ(done, "io!");
}

}  // namespace
}  // namespace ecash
