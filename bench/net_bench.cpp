// What a call between two parties costs on loopback with mutual TLS: on a kept-alive connection,
// and with a new connection (a full handshake, both certificates checked) per call.
// Run: build/bench/net_bench
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "crypto/random.hpp"
#include "net/net.hpp"
#include "pki/authority.hpp"

namespace ecash {
namespace {

using protocol::Json;
using pki::Role;

class Echo final : public protocol::Endpoint {
 public:
  Result<Json> handle(const protocol::Caller&, std::string_view, const Json& body) override { return body; }
};

struct Link {
  Link() {
    crypto::SecureRandom random;
    const auto now = clock.now();
    auto ca = pki::CertificateAuthority::create("bench CA", crypto::PartyKeys::generate(), now - 60,
                                                86400, random)
                  .value();
    trust = std::make_unique<pki::TrustStore>(
        pki::TrustAnchor{ca.certificate(), ca.issue_crl(now - 60, now + 86400).value()});
    const auto identity = [&](Role role) {
      return net::issue_identity(ca, role, now - 60, now + 86400, random);
    };
    bank = identity(Role::bank);
    center = identity(Role::center);
    server = std::make_unique<net::Server>(*bank, net::PeerPolicy{trust.get(), {Role::center}}, clock);
    server->mount("bank", echo, {Role::center});
    url = "https://127.0.0.1:" + std::to_string(server->bind("127.0.0.1", 0).value());
    thread = std::thread([this] { server->run(); });
  }
  ~Link() {
    server->stop();
    thread.join();
  }
  SystemClock clock;
  std::unique_ptr<pki::TrustStore> trust;
  std::optional<net::TlsIdentity> bank, center;
  Echo echo;
  std::unique_ptr<net::Server> server;
  std::string url;
  std::thread thread;
};

const Json kBody = {{"request_id", "0123456789ABCDEFGHJKMNPQRS"}, {"amount", "EUR:12.50"},
                    {"signature", std::string(86, 'A')}};

void BM_CallKeptAlive(benchmark::State& state) {
  Link link;
  auto c = net::connect(link.url, link.center, {link.trust.get(), {Role::bank}}, link.clock).value();
  auto bank = net::channel(c, "bank");
  for (auto _ : state) {
    if (!bank->call("credit", kBody)) state.SkipWithError("call failed");
  }
}
BENCHMARK(BM_CallKeptAlive)->UseRealTime();

void BM_CallNewConnection(benchmark::State& state) {
  Link link;
  for (auto _ : state) {
    auto c = net::connect(link.url, link.center, {link.trust.get(), {Role::bank}}, link.clock).value();
    if (!net::channel(c, "bank")->call("credit", kBody)) state.SkipWithError("call failed");
  }
}
BENCHMARK(BM_CallNewConnection)->UseRealTime();

}  // namespace
}  // namespace ecash
