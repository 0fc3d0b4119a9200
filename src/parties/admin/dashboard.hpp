#pragma once
// The operator's dashboard (issue 15): the roles' aggregate figures, asked every few seconds and
// kept in memory for about an hour, and the page that shows them (HTML, CSS and script of its
// own, drawing its charts as SVG; nothing fetched from anywhere else). The figures are totals,
// counts, fraud cases by their IDs and the disclosure log's state: never a person's balance, card,
// account or name. Thread-safe.
#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "base/clock.hpp"
#include "protocol/transport.hpp"

namespace ecash::admin {

// One round of asking: each role's figures by its name ({"bank": ..., "center": ..., "clearing":
// ...}), a role that could not be asked as {"error": {"code", "message"}}. The bank's hold
// "circulation" (protocol::Circulation's JSON) and "cases"; the center's "sagas"; clearing's
// "disclosure_log"; each role's "requests" ({"total", "refused", "failed"}: what it was asked
// since its process started, refused by rule, and failed with an open outcome).
using Collect = std::function<protocol::Json()>;

class Dashboard {
 public:
  // kept: the points of history kept (1,800 every 2 s: an hour).
  Dashboard(Collect collect, const Clock& clock, std::size_t kept = 1800);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Asks the roles once; keeps what they said as the latest and as a point of history.
  void poll();
  // poll() every `every` until stop is requested.
  void poll_until(std::stop_token stop, std::chrono::milliseconds every);

  // What /figures serves: {"time", "currency", "exponent", "roles" (the latest), "in_circulation"
  // (text), "payments", "payments_last_minute", "last_minute": {ROLE: {"requests", "refused",
  // "failed"}}, "history": [{"time", "in_circulation" (minor units), "payments"}]}. A count that
  // fell between two points was a process started again: it counts from 0 there.
  protocol::Json figures() const;

  // The page at / and its Content-Security-Policy (its own style and script, by hash; requests to
  // its own origin; nothing else).
  static const std::string& page();
  static const std::string& policy();

 private:
  static constexpr std::array<const char*, 3> kRoles = {"bank", "center", "clearing"};
  struct Point {
    UnixSeconds time = 0;
    // -1 when the role that tells it could not be asked.
    std::int64_t in_circulation = -1, payments = -1;
    // Each role's (kRoles) requests, refused and failed.
    std::array<std::array<std::int64_t, 3>, 3> requests{{{-1, -1, -1}, {-1, -1, -1}, {-1, -1, -1}}};
  };

  Collect m_collect;
  const Clock& m_clock;
  const std::size_t m_kept;
  mutable std::mutex m_mutex;
  std::unique_ptr<protocol::Json> m_latest;  // what the roles said last
  std::deque<Point> m_history;
};

}  // namespace ecash::admin
