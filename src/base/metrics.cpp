#include "base/metrics.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>

namespace ecash::metrics {

namespace {

// What each metric of the code means (HELP); one not listed is described by its name.
constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kHelp{{
    {"ecash_requests_total", "Requests answered, by party, route and outcome code (ok or the error's stable code)."},
    {"ecash_request_seconds", "Time from a request's body read to its answer made, by party and route."},
    {"ecash_payments_total", "Payments the center finished (its route pay answered ok)."},
    {"ecash_deposits_total", "Deposits the center finished (its route deposit answered ok)."},
    {"ecash_transfers_reconciled_total", "Offline transfers reconciled at the center (their sync answered ok)."},
    {"ecash_certificate_checks_total", "Peer certificates checked in TLS handshakes, by outcome."},
    {"ecash_db_seconds", "Time a store's transactions took, by store and kind (read or write)."},
    {"ecash_access_log_lines_total", "Lines written to the access log."},
}};

// Latency buckets, in seconds: a payment takes milliseconds; a saga's outside call may take seconds.
constexpr std::array<double, 14> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,   5,    10};
// A metric's label sets are capped (routes come from callers): past it, one overflow series.
constexpr std::size_t kMaxSeries = 1000;

struct Histogram {
  std::array<std::uint64_t, kBuckets.size()> buckets{};
  std::uint64_t count = 0;
  double sum = 0;
};

struct Reader {
  std::string name, help;
  Kind kind;
  std::function<std::vector<Sample>()> read;
};

struct Registry {
  std::mutex mutex;
  std::map<std::string, std::map<Labels, double>, std::less<>> counters;
  std::map<std::string, std::map<Labels, Histogram>, std::less<>> histograms;
  std::map<std::uint64_t, Reader> readers;
  std::uint64_t next_reader = 1;
  std::FILE* log = nullptr;
  bool log_owned = false;
};

Registry& registry() {
  static auto* r = new Registry;  // never destroyed: threads may count while the process exits
  return *r;
}

std::string help_of(std::string_view name) {
  for (const auto& [known, help] : kHelp) {
    if (known == name) return std::string(help);
  }
  return std::string(name);
}

template <class T>
T& series(std::map<Labels, T>& all, const Labels& labels) {
  auto found = all.find(labels);
  if (found != all.end()) return found->second;
  if (all.size() >= kMaxSeries) return all[Labels{{"overflow", "true"}}];
  return all[labels];
}

// A label value or HELP text as the text format escapes it.
std::string escaped(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string label_text(const Labels& labels, std::string_view extra_name = {}, std::string_view extra = {}) {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    out += (first ? "" : ",") + name + "=\"" + escaped(value, true) + "\"";
    first = false;
  }
  if (!extra_name.empty()) out += (first ? "" : ",") + std::string(extra_name) + "=\"" + std::string(extra) + "\"";
  return out + "}";
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

Labels sorted(Labels labels) {
  std::sort(labels.begin(), labels.end());
  return labels;
}

}  // namespace

void count(std::string_view name, const Labels& labels, double by) {
  auto& r = registry();
  const auto key = sorted(labels);
  std::lock_guard lock(r.mutex);
  auto found = r.counters.find(name);
  if (found == r.counters.end()) found = r.counters.emplace(std::string(name), std::map<Labels, double>{}).first;
  series(found->second, key) += by;
}

std::vector<Sample> counted(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<Sample> out;
  const auto found = r.counters.find(name);
  if (found == r.counters.end()) return out;
  for (const auto& [labels, value] : found->second) out.push_back({labels, value});
  return out;
}

void observe(std::string_view name, const Labels& labels, double seconds) {
  auto& r = registry();
  const auto key = sorted(labels);
  std::lock_guard lock(r.mutex);
  auto found = r.histograms.find(name);
  if (found == r.histograms.end()) {
    found = r.histograms.emplace(std::string(name), std::map<Labels, Histogram>{}).first;
  }
  auto& h = series(found->second, key);
  for (std::size_t k = 0; k < kBuckets.size(); ++k) {
    if (seconds <= kBuckets[k]) ++h.buckets[k];
  }
  ++h.count;
  h.sum += seconds;
}

Registration::~Registration() {
  if (m_id == 0) return;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.readers.erase(m_id);
}

Registration& Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    Registration gone(std::exchange(m_id, std::exchange(other.m_id, 0)));
  }
  return *this;
}

Registration read_at_scrape(std::string name, std::string help, Kind kind, std::function<std::vector<Sample>()> read) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  const auto id = r.next_reader++;
  r.readers.emplace(id, Reader{std::move(name), std::move(help), kind, std::move(read)});
  return Registration(id);
}

std::string render() {
  auto& r = registry();
  // The readers run outside the lock (they read stores); what they give is merged by name.
  std::vector<Reader> readers;
  std::string out;
  {
    std::lock_guard lock(r.mutex);
    for (const auto& [id, reader] : r.readers) readers.push_back(reader);
    for (const auto& [name, all] : r.counters) {
      out += "# HELP " + name + " " + escaped(help_of(name), false) + "\n# TYPE " + name + " counter\n";
      for (const auto& [labels, value] : all) out += name + label_text(labels) + " " + number(value) + "\n";
    }
    for (const auto& [name, all] : r.histograms) {
      out += "# HELP " + name + " " + escaped(help_of(name), false) + "\n# TYPE " + name + " histogram\n";
      for (const auto& [labels, h] : all) {
        for (std::size_t k = 0; k < kBuckets.size(); ++k) {
          out += name + "_bucket" + label_text(labels, "le", number(kBuckets[k])) + " " + number(static_cast<double>(h.buckets[k])) + "\n";
        }
        out += name + "_bucket" + label_text(labels, "le", "+Inf") + " " + number(static_cast<double>(h.count)) + "\n";
        out += name + "_sum" + label_text(labels) + " " + number(h.sum) + "\n";
        out += name + "_count" + label_text(labels) + " " + number(static_cast<double>(h.count)) + "\n";
      }
    }
  }
  std::map<std::string, std::pair<const Reader*, std::vector<Sample>>> read;
  for (const auto& reader : readers) {
    auto& [first, samples] = read[reader.name];
    if (!first) first = &reader;
    for (auto& s : reader.read()) samples.push_back({sorted(std::move(s.labels)), s.value});
  }
  for (const auto& [name, entry] : read) {
    const auto& [reader, samples] = entry;
    if (samples.empty()) continue;
    out += "# HELP " + name + " " + escaped(reader->help, false) + "\n# TYPE " + name + " " +
           (reader->kind == Kind::counter ? "counter" : "gauge") + "\n";
    for (const auto& s : samples) out += name + label_text(s.labels) + " " + number(s.value) + "\n";
  }
  return out;
}

bool open_access_log(const std::string& where) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  if (r.log_owned) std::fclose(r.log);
  r.log = nullptr;
  r.log_owned = false;
  if (where.empty() || where == "off") return true;
  if (where == "stderr") {
    r.log = stderr;
    return true;
  }
  r.log = std::fopen(where.c_str(), "ae");
  r.log_owned = r.log != nullptr;
  return r.log != nullptr;
}

void log_access(const Access& a) {
  auto& r = registry();
  {
    std::lock_guard lock(r.mutex);
    if (!r.log) return;
  }
  const auto now = std::chrono::system_clock::now();
  const auto since = now.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  // Every field is a name, a code, an ID or a number: JSON-escaped all the same.
  const auto field = [](std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\u%04x", c);
        out += hex;
      } else {
        out += c;
      }
    }
    return out + "\"";
  };
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", a.ms);
  const std::string line = "{\"time\":\"" + std::string(stamp) + "\",\"role\":" + field(a.role) +
                           ",\"route\":" + field(a.route) + ",\"request_id\":" + field(a.request_id) +
                           ",\"caller\":" + field(a.caller) + ",\"code\":" + field(a.code) + ",\"ms\":" + ms + "}\n";
  std::lock_guard lock(r.mutex);
  if (!r.log) return;
  std::fputs(line.c_str(), r.log);
  std::fflush(r.log);
  r.counters["ecash_access_log_lines_total"][Labels{}] += 1;
}

void reset_for_tests() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.counters.clear();
  r.histograms.clear();
}

}  // namespace ecash::metrics
