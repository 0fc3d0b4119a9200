// Work that need not hold up an answer: a server's worker opens a scope around answering a
// request, and what the party defers in it runs on that worker once the answer is on its way.
// With no scope open (a party called in-process, a test) deferred work runs at once, in place.
//
// Only what the answer does not depend on is deferred: the answer must be the same whether the
// deferred work is done, fails, or is lost with the process (the center's record that a payment
// finished: a payment left open is finished again from the bank's stored receipt, to the same
// answer).
#pragma once

#include <functional>
#include <vector>

namespace ecash {

class AfterAnswer {
 public:
  AfterAnswer();
  ~AfterAnswer();  // runs what is still deferred
  AfterAnswer(const AfterAnswer&) = delete;
  AfterAnswer& operator=(const AfterAnswer&) = delete;

  // Runs what was deferred so far (each once; one that throws is dropped, the rest still run).
  void run();

 private:
  friend void after_answer(std::function<void()> work);
  std::vector<std::function<void()>> m_work;
  AfterAnswer* m_outer;
};

// Defers `work` to the innermost scope open on this thread, or runs it now when none is.
void after_answer(std::function<void()> work);

}  // namespace ecash
