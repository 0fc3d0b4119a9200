#include "base/after_answer.hpp"

#include <iostream>
#include <utility>

namespace ecash {
namespace {
thread_local AfterAnswer* t_scope = nullptr;
}  // namespace

AfterAnswer::AfterAnswer() : m_outer(t_scope) { t_scope = this; }

AfterAnswer::~AfterAnswer() {
  run();
  t_scope = m_outer;
}

void AfterAnswer::run() {
  // Work deferred while this runs (by the work itself) runs in this same pass.
  for (std::size_t i = 0; i < m_work.size(); ++i) {
    auto work = std::move(m_work[i]);
    try {
      work();
    } catch (const std::exception& e) {
      std::cerr << "ecash: work after an answer failed: " << e.what() << "\n";
    } catch (...) {
      std::cerr << "ecash: work after an answer failed\n";
    }
  }
  m_work.clear();
}

void after_answer(std::function<void()> work) {
  if (t_scope == nullptr) return work();
  t_scope->m_work.push_back(std::move(work));
}

}  // namespace ecash
