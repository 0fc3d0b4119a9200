// Every server's requests, in process: the parsing and dispatch behind each party's routes (the
// center, bank, clearing house, CA, a shop's till, and the sandboxes' card company and bank),
// reached as the network server reaches them once TLS has named the caller, from the body's text
// through protocol::parse_outside_json to Endpoint::handle. The servers' own checks before that
// (which routes are open, which roles may call a party) are not here: they live inside
// net::Server with its sockets.
//
// An input is: a byte picking the party (Party), a byte picking the caller's certificate (Who),
// the route, a newline, and the body's JSON text. The seeds (fuzz/corpus/server_fuzz) are the
// requests a whole system's flows sent, so their signatures verify and mutations reach the
// checks behind them. Remake them with
//   ECASH_FUZZ_SEEDS=fuzz/corpus/server_fuzz build-fuzz/fuzz/server_fuzz -runs=0
//
// Besides crashes, sanitizer reports and exceptions escaping a party, an answer of internal or
// io_error is a finding: the stores are healthy, so only a bug gives them.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include "protocol/json_fields.hpp"
#include "system.hpp"

namespace {

using namespace ecash;
using protocol::Json;
using ecash::fuzz::Party;
using ecash::fuzz::Who;

// Built afresh this often: the requests answered meanwhile are forgotten.
constexpr std::uint64_t kRebuildEvery = 20'000;

fuzz::System* g_system = nullptr;
// ECASH_FUZZ_VERBOSE=1: each refusal on stderr (for reading what an input did).
const bool g_verbose = std::getenv("ECASH_FUZZ_VERBOSE") != nullptr;

std::vector<std::pair<std::string, std::string>> seeds(const fuzz::System& system) {
  std::vector<std::pair<std::string, std::string>> out;
  std::map<std::string, int> counts;
  for (const auto& r : system.recorded()) {
    std::string bytes;
    bytes += static_cast<char>(r.party);
    bytes += static_cast<char>(r.caller);
    bytes += r.route + "\n" + r.body;
    const std::string name = std::string(fuzz::party_name(r.party)) + "-" + r.route;
    out.emplace_back(name + "-" + std::to_string(++counts[name]), std::move(bytes));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_system = new fuzz::System("server");
  g_system->write_seeds([] { return seeds(*g_system); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  g_system->count_input(kRebuildEvery);
  const auto party = static_cast<Party>(data[0] % static_cast<std::uint8_t>(Party::count));
  const auto who = static_cast<Who>(data[1] % static_cast<std::uint8_t>(Who::count));
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const auto newline = rest.find('\n');
  if (newline == std::string_view::npos) return 0;
  const auto route = rest.substr(0, newline);
  // What net::Server lets through as a route name ("/v1/<party>/<route>").
  if (route.empty() || route.size() > 64 ||
      !std::all_of(route.begin(), route.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; })) {
    return 0;
  }
  auto body = protocol::parse_outside_json(rest.substr(newline + 1), "the request body");
  if (!body) return 0;
  auto answer = g_system->party(party).handle(g_system->caller(who), route, *body);
  if (answer) {
    (void)answer->dump();  // what the server sends back
    return 0;
  }
  if (g_verbose) {
    std::cerr << fuzz::party_name(party) << "/" << route << ": " << answer.error().to_string() << "\n";
  }
  // The error as the server sends it back (a message must be text JSON can carry).
  (void)Json{{"code", std::string(to_string(answer.error().code))}, {"message", answer.error().message}}.dump();
  if (answer.error().code == ErrorCode::internal || answer.error().code == ErrorCode::io_error) {
    fuzz::die(std::string(fuzz::party_name(party)) + "/" + std::string(route), answer.error());
  }
  return 0;
}
