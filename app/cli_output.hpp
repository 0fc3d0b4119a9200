// What every command shares in how it talks to a person: results as text or (--json) JSON, errors
// as one line, and where devices keep their files by default.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "base/error.hpp"
#include "base/failpoint.hpp"

namespace ecash::app {

// The one line a failed command exits with: "ecash wallet: insufficient_funds: ...".
inline int fail_as(const char* command, const Error& error) {
  std::cerr << "ecash " << command << ": " << error.to_string() << "\n";
  return 1;
}

// A result: text, or its JSON form with --json.
inline void print_as(bool json, const nlohmann::json& j, const std::string& text) {
  if (json) std::cout << j.dump() << "\n";
  else std::cout << text << "\n";
}

// What a device's command reports passes the failpoint "answer/<device>/<command>" before it is
// printed, as a server's answer does: the crash walk crashes there, after the work was kept and
// before its user was told.
class Reporter {
 public:
  explicit Reporter(std::string device) : m_device(std::move(device)) {}
  void command(const std::string& name) { m_point = "answer/" + m_device + "/" + name; }
  void reaching() const { failpoint(m_point); }
  void print(bool json, const nlohmann::json& j, const std::string& text) const {
    reaching();
    print_as(json, j, text);
  }

 private:
  std::string m_device;
  std::string m_point;
};

// A running server's progress line: text, or {"event": line} with --json (flushed at once).
inline void say_as(bool json, const std::string& line) {
  if (json) std::cout << nlohmann::json{{"event", line}}.dump() << std::endl;
  else std::cout << line << std::endl;
}

// ~/.ecash/<kind>: where a wallet or shop keeps its keys and store unless --home says otherwise.
inline std::string default_home(const char* kind) {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.ecash/" + kind;
}

}  // namespace ecash::app
