// The network between parties (DESIGN §3, the patent's Fig 4): HTTPS over TLS 1.3 with a
// certificate at both ends of every link. Each side checks the other's certificate in the
// handshake against the CA, the latest CRL and the roles allowed on that link; a refused peer
// never gets as far as a request. Parties stay unaware of it: a Server hands requests to their
// protocol::Endpoint, a client is a protocol::Channel.
//
// Wire format: POST /v1/<party>/<route> with the request's JSON; 200 with the answer's JSON, or an
// error status with {"code": "<stable Error code>", "message": "..."}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "pki/trust_store.hpp"
#include "protocol/transport.hpp"

namespace ecash::pki {
class CertificateAuthority;
}

namespace ecash::net {

// This end's certificate and its private key (PKCS#8 PEM, see pki::private_key_pem).
struct TlsIdentity {
  pki::Certificate certificate;
  std::string private_key_pem;
};

// Fresh keys and a certificate of role from ca, valid from `from` until `until`: for benchmarks
// and tests that stand up a CA of their own.
TlsIdentity issue_identity(const pki::CertificateAuthority& ca, pki::Role role, UnixSeconds from,
                           UnixSeconds until, RandomSource& random);

// A TCP connection to the IPv4 host:port from the local address `from` (another loopback
// address, 127.0.0.2, ...: a second source for per-source limits). -1 when it cannot be made.
int tcp_connect_from(const std::string& from, const std::string& host, int port);

// Who may be at the other end of a link: a certificate from the trusted CA, in date, not on its
// latest CRL, of one of `roles`.
struct PeerPolicy {
  const pki::TrustStore* trust = nullptr;
  std::vector<pki::Role> roles;
  // Server side: false lets clients without a certificate complete the handshake (enrolment with
  // the CA); routes still decide whether they need one.
  bool certificate_required = true;
  // Client side: the server must hold exactly this certificate (a shop named in a payment request).
  std::optional<std::string> pinned_fingerprint;
};

struct Limits {
  std::chrono::milliseconds connect_timeout{5000};
  // Client: an answer must arrive within this; server: an answer's write.
  std::chrono::milliseconds read_timeout{30000};
  // Server: the body cap of a route the mount gave none (Server::mount's RouteLimits).
  std::size_t max_body = 1 << 20;
  // TLS session resumption (tickets): a resumed peer is still checked against the trust store.
  bool resumption = true;
  // Client: keep links open for the next call (otherwise a new connection, and handshake, each).
  bool keep_alive = true;
  // Server, each a whole phase, never reset by a byte that trickles in (slowloris): the
  // handshake must finish within handshake_timeout, and the first request's first byte come
  // within it too; a request's header within header_timeout of its first byte; its body within
  // body_timeout of the header; a kept-alive connection's next request start within
  // keep_alive_timeout. An idle connection costs no thread (the server is event-driven), only
  // its buffers: devices may keep theirs for a while.
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{15000};
  std::chrono::milliseconds keep_alive_timeout{30000};
  // Server: connections at once, in all and from one source address; one over either cap is
  // closed as it comes, before any handshake. The total is also kept below the process's file
  // limit. A till talks to its operator over one link per payment under way, so a source may
  // need a few hundred.
  int max_connections = 8192;
  int max_connections_per_source = 256;
  // Server: answers go to devices (wallets, shops): an error that leaves the outcome open
  // (outcome_unknown: a store failed, a party was out of reach, a failure inside) is told as its
  // code and a plain sentence, never the operator's file paths or internal addresses; the detail
  // goes to this process's log.
  bool devices_facing = false;
  // Server: threads for the connections' I/O (0: one per core), and workers that answer requests
  // (0: 16 per core; a party's answer may wait on another party or on a commit).
  int io_threads = 0;
  int workers = 0;
  // Server: the load balancers that connect on clients' behalf (HAProxy in TCP mode with
  // send-proxy-v2, so that mutual TLS reaches this server). A connection from one of these
  // addresses must open with a PROXY protocol v2 header, and is counted and rate-limited as the
  // client the header names; from any other address no header is taken (a client cannot claim
  // another's address). Empty: no balancer.
  std::vector<std::string> proxy_from;
  // Client: a request that got no answer (connection refused, reset, timed out) is sent again, as
  // it is, this many times in all. Safe because every request that changes state carries its
  // request ID and the receiver answers a repeat with its first answer.
  int attempts = 5;
  std::chrono::milliseconds retry_pause{300};
};

// What one route takes, given at mount: its body cap, and how many requests a minute one source
// address may make (a token bucket of that size, refilled evenly; 0: no limit). The limit counts
// callers without a certificate only, unless even_certified: on an open route a certificate
// proves a device the operator admitted, except on enrolment, where a certificate must not buy
// more enrolments.
struct RouteLimits {
  std::size_t max_body = 4096;
  int per_minute = 0;
  bool even_certified = false;
};

struct Address {
  std::string host;
  int port = 0;
  std::string url() const;
};
// "https://host:port" (the port defaults to 8443); "host:port" for --listen.
Result<Address> parse_url(std::string_view url);
Result<Address> parse_listen(std::string_view address);

class Server {
 public:
  Server(TlsIdentity identity, PeerPolicy clients, const Clock& clock, Limits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves endpoint under /v1/<party>/. Only callers with a certificate of one of `roles` reach
  // it, except on `open_routes`, which also take callers with no certificate. Requests are
  // answered concurrently, by a pool of workers: endpoints are thread-safe. `routes` gives routes
  // their own body cap and rate limit (the rest: Limits::max_body, no rate limit). A request is
  // judged on its header (path, caller, rate, declared length) before its body is read.
  void mount(std::string party, protocol::Endpoint& endpoint, std::vector<pki::Role> roles,
             std::vector<std::string> open_routes = {},
             std::map<std::string, RouteLimits, std::less<>> routes = {});
  // Binds (port 0: the OS picks one); returns the port.
  Result<int> bind(const std::string& host, int port);
  // Serves until stop(); call after bind().
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
  Status m_configured;
};

// Kept-alive links to one server; thread-safe: concurrent calls each get a link of their own.
class Connection;

// How many handshakes a connection has made, and how many of them resumed a session.
struct ConnectionStats {
  std::uint64_t handshakes = 0, resumed = 0;
};
ConnectionStats stats(const Connection& connection);

// Connects lazily (the handshake happens with the first request). identity: this end's
// certificate, or none (enrolment). The server must satisfy `server`.
Result<std::shared_ptr<Connection>> connect(const std::string& url,
                                            std::optional<TlsIdentity> identity,
                                            PeerPolicy server, const Clock& clock,
                                            Limits limits = {});
// The channel to `party` on that server: call(route, body) posts to /v1/<party>/<route>.
std::unique_ptr<protocol::Channel> channel(std::shared_ptr<Connection> connection,
                                           std::string party);

// Trust on first use: the CA certificate and CRL an operator serves at url ("ca/trust"), fetched
// without checking the server, for a device that has nothing pinned yet. The caller compares
// the fingerprint with one it got another way, or says it trusts it on first use.
Result<protocol::Json> fetch_trust_unverified(const std::string& url, const Limits& limits = {});

// The pinned anchor, with its CRL brought up to date first when the one held runs out within the
// hour (a device offline for a week would otherwise refuse every server): a new CRL is fetched
// from url without checking the server, and taken only if the pinned CA signed it.
Result<pki::TrustAnchor> fresh_anchor(const std::string& url, pki::TrustAnchor anchor,
                                      UnixSeconds now, const Limits& limits = {});

// The HTTP status an error code travels with.
int http_status(ErrorCode code);

}  // namespace ecash::net
