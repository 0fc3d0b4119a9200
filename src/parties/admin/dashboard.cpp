#include "parties/admin/dashboard.hpp"

#include <condition_variable>
#include <nlohmann/json.hpp>
#include <iterator>
#include <utility>

#include "protocol/circulation.hpp"

namespace ecash::admin {

using protocol::Json;

namespace {

// A count a role told, or -1 when it told none.
std::int64_t count_at(const Json& figures, const Json::json_pointer& where) {
  if (!figures.contains(where)) return -1;
  const auto& value = figures.at(where);
  return value.is_number_integer() ? value.get<std::int64_t>() : -1;
}

}  // namespace

Dashboard::Dashboard(Collect collect, const Clock& clock, std::size_t kept)
    : m_collect(std::move(collect)),
      m_clock(clock),
      m_kept(kept == 0 ? 1 : kept),
      m_latest(std::make_unique<Json>(Json::object())) {}

Dashboard::~Dashboard() = default;

void Dashboard::poll() {
  Json roles = m_collect();
  Point point{.time = m_clock.now()};
  if (roles.contains("bank") && roles["bank"].contains("circulation")) {
    auto circulation = protocol::Circulation::from_json(roles["bank"]["circulation"]);
    if (circulation) {
      auto in_circulation = circulation->in_circulation();
      if (in_circulation) point.in_circulation = in_circulation->minor();
      point.payments = circulation->payments;
    }
  }
  for (std::size_t r = 0; r < kRoles.size(); ++r) {
    const std::string at = std::string("/") + kRoles[r] + "/requests/";
    point.requests[r] = {count_at(roles, Json::json_pointer(at + "total")),
                         count_at(roles, Json::json_pointer(at + "refused")),
                         count_at(roles, Json::json_pointer(at + "failed"))};
  }
  std::lock_guard lock(m_mutex);
  *m_latest = std::move(roles);
  m_history.push_back(point);
  while (m_history.size() > m_kept) m_history.pop_front();
}

void Dashboard::poll_until(std::stop_token stop, std::chrono::milliseconds every) {
  std::mutex mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    poll();
    std::unique_lock lock(mutex);
    wake.wait_for(lock, stop, every, [] { return false; });
  }
}

Json Dashboard::figures() const {
  std::lock_guard lock(m_mutex);
  const Json& latest = *m_latest;
  Json out = {{"time", m_clock.now()}, {"roles", latest}};
  const Json* circulation = nullptr;
  if (latest.contains("bank") && latest["bank"].contains("circulation")) {
    circulation = &latest["bank"]["circulation"];
  }
  if (circulation != nullptr) {
    const auto code = circulation->value("currency", "");
    out["currency"] = code;
    if (auto currency = Currency::from_code(code)) out["exponent"] = currency->exponent();
    out["in_circulation"] = circulation->value("in_circulation", "");
    out["payments"] =
        circulation->contains("figures") ? (*circulation)["figures"].value("payments", 0) : 0;
  }
  // What changed over the last minute: from the last point a minute or more before the latest
  // (or the oldest kept) to the latest.
  Json history = Json::array();
  for (const auto& p : m_history) {
    history.push_back({{"time", p.time}, {"in_circulation", p.in_circulation}, {"payments", p.payments}});
  }
  if (!m_history.empty()) {
    // The last minute: from the last point a minute or more before the latest (or the oldest kept).
    const auto last_time = m_history.back().time;
    auto first = m_history.begin();
    for (auto it = m_history.begin(); it != m_history.end() && it->time <= last_time - 60; ++it) first = it;
    // What a count rose by over the minute, a fall being a process started again (counted from 0
    // there); null when the latest point lacks it.
    const auto risen = [&](const auto& count) -> Json {
      if (count(m_history.back()) < 0) return nullptr;
      std::int64_t sum = 0;
      for (auto it = first; std::next(it) != m_history.end(); ++it) {
        const auto before = count(*it), after = count(*std::next(it));
        if (before < 0 || after < 0) continue;
        sum += after >= before ? after - before : after;
      }
      return sum;
    };
    out["payments_last_minute"] = risen([](const Point& p) { return p.payments; });
    Json minute = Json::object();
    for (std::size_t r = 0; r < kRoles.size(); ++r) {
      const auto of = [r](std::size_t k) { return [r, k](const Point& p) { return p.requests[r][k]; }; };
      minute[kRoles[r]] = {{"requests", risen(of(0))}, {"refused", risen(of(1))}, {"failed", risen(of(2))}};
    }
    out["last_minute"] = std::move(minute);
  }
  out["history"] = std::move(history);
  return out;
}

}  // namespace ecash::admin
