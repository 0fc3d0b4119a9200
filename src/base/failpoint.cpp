#include "base/failpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ecash {
namespace {

struct Point {
  std::string name;
  long at = 1;  // crash at this hit
  std::atomic<long> hits{0};
};

struct Config {
  std::vector<std::unique_ptr<Point>> points;
  int log_fd = -1;
  bool active = false;
};

const Config& config() {
  static const Config* parsed = [] {
    auto* c = new Config;
    if (const char* spec = std::getenv("ECASH_FAILPOINT")) {
      std::string_view rest(spec);
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (item.empty()) continue;
        auto point = std::make_unique<Point>();
        const auto hash = item.rfind('#');
        if (hash != std::string_view::npos) {
          point->at = std::max(1L, std::atol(std::string(item.substr(hash + 1)).c_str()));
          item = item.substr(0, hash);
        }
        point->name = std::string(item);
        c->points.push_back(std::move(point));
      }
    }
    if (const char* log = std::getenv("ECASH_FAILPOINT_LOG")) {
      c->log_fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    c->active = !c->points.empty() || c->log_fd >= 0;
    return c;
  }();
  return *parsed;
}

}  // namespace

void failpoint(std::string_view name) {
  const Config& c = config();
  if (!c.active) return;
  if (c.log_fd >= 0) {
    std::string line(name);
    line += '\n';
    (void)!::write(c.log_fd, line.data(), line.size());  // one write: lines stay whole
  }
  for (const auto& point : c.points) {
    if (point->name == name && point->hits.fetch_add(1) + 1 == point->at) {
      const std::string said = "ECASH_FAILPOINT: crashing at " + std::string(name) + "\n";
      (void)!::write(STDERR_FILENO, said.data(), said.size());
      ::_exit(kFailpointExitCode);
    }
  }
}

std::optional<std::string> storage_fault(std::string_view store) {
  const char* file = std::getenv("ECASH_STORE_FAULT");  // read each time: tests set it
  if (file == nullptr) return std::nullopt;
  std::ifstream in(file);
  std::string name;
  std::string kind;
  while (in >> name >> kind) {
    if (name != store && name != "*") continue;
    if (kind == "full") return "database or disk is full";
    if (kind == "readonly") return "attempt to write a readonly database";
  }
  return std::nullopt;
}

}  // namespace ecash
