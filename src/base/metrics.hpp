#pragma once
// What a process tells its operator about itself (issue 15): counters and latency histograms it
// keeps as it works, gauges read when asked (money in circulation, open sagas), rendered in the
// Prometheus text format; and the access log, one JSON line per request. One registry a process,
// thread-safe. Nothing here ever holds a card number, an account, a name or a balance of anyone:
// labels are routes, codes and store names, and the access log has fixed fields only.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ecash::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Adds `by` to a counter (its name ends in _total).
void count(std::string_view name, const Labels& labels, double by = 1);
// Puts one value (seconds) into a histogram (its name ends in _seconds).
void observe(std::string_view name, const Labels& labels, double seconds);

struct Sample {
  Labels labels;
  double value = 0;
};
// A gauge (or a counter kept elsewhere, as a running total in a store) read at each scrape: while
// the returned handle lives. read may fail by returning nothing.
class Registration {
 public:
  Registration() = default;
  explicit Registration(std::uint64_t id) : m_id(id) {}
  ~Registration();
  Registration(Registration&& other) noexcept : m_id(std::exchange(other.m_id, 0)) {}
  Registration& operator=(Registration&& other) noexcept;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::uint64_t m_id = 0;
};
enum class Kind { gauge, counter };
[[nodiscard]] Registration read_at_scrape(std::string name, std::string help, Kind kind,
                                          std::function<std::vector<Sample>()> read);

// A counter's series as they stand (the dashboard's request figures); none when never counted.
std::vector<Sample> counted(std::string_view name);

// Every metric of this process, in the Prometheus text format (version 0.0.4).
std::string render();

// The access log: one JSON line per request answered, to a file (appended) or "stderr"; "off" or
// "" for none.
bool open_access_log(const std::string& where);
struct Access {
  std::string role;        // the party that answered (center, bank, ...)
  std::string route;       // its route
  std::string request_id;  // the request's own ID, when it names one
  std::string caller;      // the caller's certificate serial, "" for none
  std::string code;        // "ok" or the error's stable code
  double ms = 0;
};
void log_access(const Access& access);

// Forgets every counter and histogram (tests).
void reset_for_tests();

}  // namespace ecash::metrics
