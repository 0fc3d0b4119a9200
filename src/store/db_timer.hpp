#pragma once
// Times one of a store's transactions for the operator's metrics (ecash_db_seconds), from its
// start to its end, whatever the way out.
#include <chrono>
#include <string>

#include "base/metrics.hpp"

namespace ecash::store {

class DbTimer {
 public:
  DbTimer(const std::string& store, const char* kind) : m_store(store), m_kind(kind) {}
  ~DbTimer() {
    metrics::observe("ecash_db_seconds", {{"store", m_store}, {"kind", m_kind}},
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count());
  }
  DbTimer(const DbTimer&) = delete;
  DbTimer& operator=(const DbTimer&) = delete;

 private:
  const std::string& m_store;
  const char* m_kind;
  std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

}  // namespace ecash::store
