// Time as seen by a party: passed in, so tests can fix it. Thread-safe for reading.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ecash {

// Seconds since the Unix epoch, UTC.
using UnixSeconds = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixSeconds now() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixSeconds now() const override;
};

// "2026-11-27T20:41:05Z": a moment as ISO 8601 in UTC, for people and for JSON.
std::string utc_time(UnixSeconds t);

// A clock that stands still until told to move; for tests and simulations.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixSeconds start) : m_now(start) {}
  UnixSeconds now() const override { return m_now.load(); }
  void set(UnixSeconds t) { m_now.store(t); }
  void advance(UnixSeconds seconds) { m_now.fetch_add(seconds); }

 private:
  std::atomic<UnixSeconds> m_now;
};

}  // namespace ecash
