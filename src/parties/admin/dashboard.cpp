#include "parties/admin/dashboard.hpp"

#include <condition_variable>
#include <nlohmann/json.hpp>
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
  point.requests = count_at(roles, Json::json_pointer("/center/requests/total"));
  point.refused = count_at(roles, Json::json_pointer("/center/requests/refused"));
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
    history.push_back({{"time", p.time},
                       {"in_circulation", p.in_circulation},
                       {"payments", p.payments},
                       {"requests", p.requests},
                       {"refused", p.refused}});
  }
  if (!m_history.empty()) {
    const auto& last = m_history.back();
    const Point* first = &m_history.front();
    for (const auto& p : m_history) {
      if (p.time > last.time - 60) break;
      first = &p;
    }
    const auto change = [&](std::int64_t Point::*field) -> Json {
      if (first->*field < 0 || last.*field < 0) return nullptr;
      return last.*field - first->*field;
    };
    out["payments_last_minute"] = change(&Point::payments);
    out["requests_last_minute"] = change(&Point::requests);
    out["refused_last_minute"] = change(&Point::refused);
  }
  out["history"] = std::move(history);
  return out;
}

}  // namespace ecash::admin
