// The event-driven HTTPS server (Boost.Beast on Asio): connections, handshakes, reads and writes
// are asynchronous on a few I/O threads, so an idle or slow connection holds no thread; a request
// that has fully arrived is handed to a fixed pool of workers, where the party answers it.
#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange unincluded

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <malloc.h>
#include <sys/resource.h>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "base/failpoint.hpp"
#include "base/metrics.hpp"
#include "net/net.hpp"
#include "net/tls.hpp"
#include "protocol/json_fields.hpp"

// jemalloc's control, present when the binary is linked with it (the ecash binary; not the tests).
extern "C" int mallctl(const char* name, void* old, std::size_t* old_size, void* value,
                       std::size_t size) __attribute__((weak));

namespace ecash::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using protocol::Json;

namespace {

constexpr std::size_t kMaxHeader = 16 * 1024;

Json error_body(const Error& error) {
  return Json{{"code", std::string(to_string(error.code))}, {"message", error.message}};
}

// JSON as it goes on the wire. Bytes that are not UTF-8 (a message quoting what a caller sent)
// become U+FFFD rather than an exception on a worker thread, which would end the process.
std::string wire_text(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "/v1/<party>/<route>" with lower-case names: the two names.
std::optional<std::pair<std::string, std::string>> split_target(std::string_view target) {
  constexpr std::string_view prefix = "/v1/";
  if (target.substr(0, prefix.size()) != prefix) return std::nullopt;
  target.remove_prefix(prefix.size());
  const auto slash = target.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto party = target.substr(0, slash), route = target.substr(slash + 1);
  const auto name = [](std::string_view s) {
    return !s.empty() && s.size() <= 64 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
  };
  if (!name(party) || !name(route)) return std::nullopt;
  return std::pair{std::string(party), std::string(route)};
}

// The request's own ID, for the access log: the first "request_id" within its top three levels
// (a signed statement's body sits two down) that is an ID, "" when it names none. Only an ID is
// written, never what else a caller put there.
std::string request_id_in(const Json& j, int depth = 0) {
  if (!j.is_object() || depth > 2) return "";
  if (const auto found = j.find("request_id"); found != j.end() && found->is_string()) {
    if (auto id = Id128::parse(found->get_ref<const std::string&>())) return id->to_string();
  }
  for (const auto& [key, value] : j.items()) {
    if (auto inner = request_id_in(value, depth + 1); !inner.empty()) return inner;
  }
  return "";
}

// Counts a request answered (or refused) and writes its access log line.
void account(const std::string& party, const std::string& route, const protocol::Caller& caller,
             const std::string& request_id, std::string_view code, std::chrono::steady_clock::duration took) {
  const double seconds = std::chrono::duration<double>(took).count();
  metrics::count("ecash_requests_total", {{"party", party}, {"route", route}, {"code", std::string(code)}});
  metrics::observe("ecash_request_seconds", {{"party", party}, {"route", route}}, seconds);
  if (party == "center" && code == "ok") {
    if (route == "pay") metrics::count("ecash_payments_total", {});
    if (route == "deposit") metrics::count("ecash_deposits_total", {});
  }
  metrics::log_access({party, route, request_id, caller.certificate ? caller.certificate->serial() : "",
                       std::string(code), seconds * 1000});
}


}  // namespace

void ignore_sigpipe();

namespace {

// Token buckets per (source address, route): each holds up to a minute's allowance and refills
// evenly. Buckets that are full again are forgotten when the table grows; a table full of
// buckets in use (requests from very many addresses at once) refuses new sources rather than grow.
class RateLimiter {
 public:
  bool take(const asio::ip::address& from, const std::string& route, int per_minute) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(m_mutex);
    auto key = std::pair{from, route};
    auto found = m_buckets.find(key);
    if (found == m_buckets.end()) {
      if (m_buckets.size() >= kMaxBuckets) forget_full(now);
      if (m_buckets.size() >= kMaxBuckets) return false;
      found = m_buckets.emplace(std::move(key), Bucket{static_cast<double>(per_minute), now, per_minute}).first;
    }
    Bucket& b = found->second;
    b.tokens = std::min<double>(per_minute, b.tokens + seconds(now - b.at) * per_minute / 60.0);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
    int per_minute;
  };
  static double seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
  }
  void forget_full(std::chrono::steady_clock::time_point now) {
    std::erase_if(m_buckets, [&](const auto& entry) {
      const Bucket& b = entry.second;
      return b.tokens + seconds(now - b.at) * b.per_minute / 60.0 >= b.per_minute;
    });
  }
  static constexpr std::size_t kMaxBuckets = 1 << 16;
  std::mutex m_mutex;
  std::map<std::pair<asio::ip::address, std::string>, Bucket> m_buckets;
};

// The source a connection is counted and rate-limited under: its IPv4 address, or the /64 an
// IPv6 address is in (one host is handed a whole /64).
asio::ip::address source_of(const asio::ip::address& address) {
  if (!address.is_v6()) return address;
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes);
}

// A body over this is followed by giving freed memory back to the system: glibc keeps what a
// thread's arena freed, so a burst of large bodies would otherwise leave the process at its peak.
constexpr std::size_t kTrimAfter = 64 * 1024;

// What malloc keeps of freed memory, given back: jemalloc's arenas purged (all of them:
// MALLCTL_ARENAS_ALL, 4096), or glibc's trimmed.
void give_back_freed_memory() {
  if (mallctl != nullptr) {
    (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  malloc_trim(0);
}

}  // namespace

struct Server::Impl {
  struct Mount {
    protocol::Endpoint* endpoint = nullptr;
    std::vector<pki::Role> roles;
    std::vector<std::string> open_routes;
    std::map<std::string, RouteLimits, std::less<>> routes;
  };

  class Session;

  explicit Impl(Limits l) : limits(l), ssl(asio::ssl::context::tls_server) {
    for (const auto& balancer : limits.proxy_from) {
      boost::system::error_code bad;
      const auto address = asio::ip::make_address(balancer, bad);
      if (!bad) balancers.push_back(source_of(address));
    }
  }

  class ProxyHeader;

  // In this order: what sessions use outlives the I/O context that may still hold sessions.
  tls::PeerCheck check;
  Limits limits;
  std::mutex connections_mutex;
  int connections = 0;
  std::map<asio::ip::address, int> connections_from;
  std::vector<asio::ip::address> balancers;  // limits.proxy_from, parsed
  RateLimiter rates;
  std::once_flag stopped;
  asio::ssl::context ssl;
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_pause;
  std::map<std::string, Mount, std::less<>> mounts;
  // The largest body cap of any route: what a header may declare before its route is known.
  std::size_t largest_body = 0;
  std::optional<asio::thread_pool> workers;

  void accept();
  // Whether a connection from `from` fits under both caps; counts it when it does.
  bool admit_connection(const asio::ip::address& from);
  void release_connection(const asio::ip::address& from);
  // A request judged on its header: the mount that answers it, or why it is refused (unknown
  // path, a caller the route does not take, over the rate, a body over the route's cap).
  Result<const Mount*> admit(const protocol::Caller& caller, const asio::ip::address& from,
                             const std::string& party, const std::string& route,
                             std::uint64_t length);
  // What an admitted request gets: the party's answer, or an error. Runs on a worker.
  std::pair<int, std::string> answer(const Mount& mount, const protocol::Caller& caller,
                                     const std::string& party, const std::string& route,
                                     const std::string& text);
  std::pair<int, std::string> told(const std::string& party, const std::string& route,
                                   const Error& e) const;
};

class Server::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket, asio::ip::address from)
      : m_server(server), m_from(std::move(from)), m_stream(std::move(socket), server.ssl) {}
  ~Session() { m_server.release_connection(m_from); }

  void start() {
    beast::get_lowest_layer(m_stream).socket().set_option(tcp::no_delay(true));
    beast::get_lowest_layer(m_stream).expires_after(m_server.limits.handshake_timeout);
    m_stream.async_handshake(asio::ssl::stream_base::server,
                             [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) return;  // refused in the handshake (the peer got an alert), or it went away
    // A resumed session skipped the handshake's check: the peer is checked again, from memory.
    auto peer = tls::check_session(m_server.check, m_stream.native_handle());
    if (!peer) {
      m_refused = peer.error();
    } else {
      m_caller.certificate = std::move(*peer);
    }
    // The first request follows the handshake at once.
    await_request(m_server.limits.handshake_timeout);
  }

  // Waits for a request's first byte (up to `wait`), then gives its header a time-out of its own.
  void await_request(std::chrono::milliseconds wait) {
    if (m_buffer.size() > 0) return read_header();  // the next request came with the last
    beast::get_lowest_layer(m_stream).expires_after(wait);
    m_stream.async_read_some(m_buffer.prepare(kFirstRead),
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               if (ec) return self->close();
                               self->m_buffer.commit(n);
                               self->read_header();
                             });
  }

  void read_header() {
    m_parser.emplace();
    m_parser->header_limit(kMaxHeader);
    m_parser->body_limit(m_server.largest_body);
    beast::get_lowest_layer(m_stream).expires_after(m_server.limits.header_timeout);
    http::async_read_header(m_stream, m_buffer, *m_parser,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::header_limit) return reply(431, {ErrorCode::too_large, "header too large"}, false);
    if (ec == http::error::body_limit) {
      return refuse({ErrorCode::too_large, "body over " + std::to_string(m_server.largest_body) + " bytes"});
    }
    if (ec) return close();
    const auto& req = m_parser->get();
    // The body cap holds only for a body of declared length: chunked or compressed bodies are
    // refused before they are read, and so is a POST that declares no length.
    if (req.find(http::field::transfer_encoding) != req.end() ||
        req.find(http::field::content_encoding) != req.end()) {
      return refuse({ErrorCode::malformed, "send the body whole, uncompressed, with its Content-Length"});
    }
    m_caller.bearer.clear();
    if (const auto auth = req.find(http::field::authorization); auth != req.end()) {
      const std::string_view value(auth->value().data(), auth->value().size());
      // The scheme's name is case-insensitive (RFC 9110); spaces around the token are not part of it.
      if (value.size() > 7 && boost::algorithm::iequals(value.substr(0, 7), "bearer ")) {
        auto token = value.substr(7);
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        m_caller.bearer = std::string(token);
      }
    }
    const auto target = split_target(std::string_view(req.target().data(), req.target().size()));
    if (req.method() != http::verb::post || !target) {
      return refuse({ErrorCode::not_found, "no such path: POST /v1/<party>/<route>"});
    }
    const auto length = m_parser->content_length();
    // No body declared: whatever follows is not this request's, and is not waited for.
    if (!length) return reply(411, {ErrorCode::malformed, "a request needs its Content-Length"}, false);
    read_body(*target, *length);
  }

  // The body, once the request is admitted on its header.
  void read_body(std::pair<std::string, std::string> target, std::uint64_t length) {
    auto mount = m_refused ? Result<const Mount*>(std::unexpected(*m_refused))
                           : m_server.admit(m_caller, m_from, target.first, target.second, length);
    if (!mount) return refuse(mount.error());
    m_target = std::move(target);
    m_mount = *mount;
    m_parser->body_limit(length);
    beast::get_lowest_layer(m_stream).expires_after(m_server.limits.body_timeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec) return close();
    auto req = m_parser->release();
    m_parser.reset();
    m_keep_alive = req.keep_alive();
    beast::get_lowest_layer(m_stream).expires_never();
    asio::post(*m_server.workers, [self = shared_from_this(), body = std::move(req.body())]() mutable {
      auto answer = self->m_server.answer(*self->m_mount, self->m_caller, self->m_target.first,
                                          self->m_target.second, body);
      if (body.size() > kTrimAfter) {
        std::string().swap(body);
        give_back_freed_memory();
      }
      asio::post(self->m_stream.get_executor(), [self, answer = std::move(answer)]() mutable {
        self->send(answer.first, std::move(answer.second), self->m_keep_alive);
      });
    });
  }

  // Refused on its header: answered, and the connection closed once what the client still sends
  // is drained (so that it reads the answer).
  void refuse(const Error& error) {
    // Counted and logged as its path named it; a path that names no party counts as one place.
    const auto* target = m_parser ? &m_parser->get() : nullptr;
    auto named = target ? split_target(std::string_view(target->target().data(), target->target().size()))
                        : std::nullopt;
    const bool known = named && m_server.mounts.contains(named->first);
    account(known ? named->first : "-", known ? named->second : "-", m_caller, "", to_string(error.code),
            std::chrono::steady_clock::duration::zero());
    m_drain = true;
    reply(http_status(error.code), error, false);
  }

  void reply(int status, const Error& error, bool keep_alive) {
    send(status, wire_text(error_body(error)), keep_alive);
  }

  void send(int status, std::string text, bool keep_alive) {
    m_response.emplace(static_cast<http::status>(status), 11);
    m_response->set(http::field::content_type, "application/json");
    m_response->keep_alive(keep_alive);
    m_response->body() = std::move(text);
    m_response->prepare_payload();
    beast::get_lowest_layer(m_stream).expires_after(m_server.limits.read_timeout);
    http::async_write(m_stream, *m_response,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        self->m_response.reset();
                        if (ec || !keep_alive) return self->close();
                        self->await_request(self->m_server.limits.keep_alive_timeout);
                      });
  }

  void close() {
    if (m_drain) return drain();
    beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(1));
    m_stream.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->m_stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  // Reads and drops what a refused client still sends (at most kMaxDrain bytes, for a second),
  // then closes: closing with unread data would reset the connection before it read the answer.
  void drain() {
    m_drain = false;
    beast::get_lowest_layer(m_stream).expires_after(std::chrono::seconds(1));
    m_buffer.clear();
    m_buffer.shrink_to_fit();
    read_some_more(0);
  }
  void read_some_more(std::size_t dropped) {
    if (dropped > kMaxDrain) return close();
    m_buffer.clear();
    m_stream.async_read_some(m_buffer.prepare(16 * 1024),
                             [self = shared_from_this(), dropped](beast::error_code ec, std::size_t n) {
                               if (ec) return self->close();
                               self->read_some_more(dropped + n);
                             });
  }
  static constexpr std::size_t kMaxDrain = 4 << 20;
  static constexpr std::size_t kFirstRead = 4096;

  Impl& m_server;
  const asio::ip::address m_from;
  bool m_drain = false;
  beast::ssl_stream<beast::tcp_stream> m_stream;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::string_body>> m_parser;
  std::optional<http::response<http::string_body>> m_response;
  protocol::Caller m_caller;
  std::optional<Error> m_refused;
  std::pair<std::string, std::string> m_target;
  const Mount* m_mount = nullptr;
  bool m_keep_alive = true;
};

// A connection from a load balancer: its PROXY protocol v2 header (a 16-byte start, then the
// addresses, and any TLVs, which are skipped) within the handshake's time; then the client it
// names is admitted and served as if it had connected itself. A LOCAL header (the balancer's own
// health check) is counted under the balancer. Anything else closes the connection.
class Server::Impl::ProxyHeader : public std::enable_shared_from_this<ProxyHeader> {
 public:
  ProxyHeader(Impl& server, tcp::socket socket, asio::ip::address balancer)
      : m_server(server),
        m_socket(std::move(socket)),
        m_balancer(std::move(balancer)),
        m_timer(m_socket.get_executor()) {}

  void start() {
    m_timer.expires_after(m_server.limits.handshake_timeout);
    m_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->close();
    });
    asio::async_read(
        m_socket, asio::buffer(m_bytes.data(), kFixed),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_fixed(ec); });
  }

 private:
  static constexpr std::size_t kFixed = 16;
  static constexpr std::size_t kMaxRest = 512;  // the addresses (36 at most for TCP) and TLVs

  void on_fixed(beast::error_code ec) {
    static constexpr std::uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    const std::size_t rest = (std::size_t{m_bytes[14]} << 8) | m_bytes[15];
    if (ec || !std::equal(std::begin(kSignature), std::end(kSignature), m_bytes.begin()) ||
        (m_bytes[12] >> 4) != 2 || rest > kMaxRest) {
      return close();
    }
    asio::async_read(m_socket, asio::buffer(m_bytes.data() + kFixed, rest),
                     [self = shared_from_this()](beast::error_code read, std::size_t) {
                       self->on_addresses(read);
                     });
  }

  void on_addresses(beast::error_code ec) {
    if (ec) return close();
    m_timer.cancel();
    const std::uint8_t command = m_bytes[12] & 0x0F, family = m_bytes[13];
    asio::ip::address client = m_balancer;
    if (command == 1 && family == 0x11) {  // PROXY, TCP over IPv4: source first
      asio::ip::address_v4::bytes_type v4;
      std::copy_n(m_bytes.begin() + kFixed, v4.size(), v4.begin());
      client = asio::ip::address_v4(v4);
    } else if (command == 1 && family == 0x21) {  // PROXY, TCP over IPv6
      asio::ip::address_v6::bytes_type v6;
      std::copy_n(m_bytes.begin() + kFixed, v6.size(), v6.begin());
      client = asio::ip::address_v6(v6);
    } else if (command != 0) {
      return close();  // neither LOCAL nor a TCP client's addresses
    }
    const auto from = source_of(client);
    if (!m_server.admit_connection(from)) return close();
    std::make_shared<Session>(m_server, std::move(m_socket), from)->start();
  }

  void close() {
    beast::error_code ignored;
    m_socket.close(ignored);
    m_timer.cancel();
  }

  Impl& m_server;
  tcp::socket m_socket;
  asio::ip::address m_balancer;
  asio::steady_timer m_timer;
  std::array<std::uint8_t, kFixed + kMaxRest> m_bytes{};
};

bool Server::Impl::admit_connection(const asio::ip::address& from) {
  std::lock_guard lock(connections_mutex);
  if (connections >= limits.max_connections) return false;
  auto& mine = connections_from[from];
  if (mine >= limits.max_connections_per_source) {
    if (mine == 0) connections_from.erase(from);
    return false;
  }
  ++mine;
  ++connections;
  return true;
}

void Server::Impl::release_connection(const asio::ip::address& from) {
  std::lock_guard lock(connections_mutex);
  --connections;
  if (auto found = connections_from.find(from); found != connections_from.end() && --found->second <= 0) {
    connections_from.erase(found);
  }
}

void Server::Impl::accept() {
  acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // Out of file descriptors, most likely: try again shortly rather than spin.
      accept_pause->expires_after(std::chrono::milliseconds(50));
      accept_pause->async_wait([this](beast::error_code waited) {
        if (!waited) accept();
      });
      return;
    }
    beast::error_code no_peer;
    const auto from = source_of(socket.remote_endpoint(no_peer).address());
    if (!no_peer && std::find(balancers.begin(), balancers.end(), from) != balancers.end()) {
      // The client is named by the balancer's header: counted once that has been read.
      std::make_shared<ProxyHeader>(*this, std::move(socket), from)->start();
    } else if (no_peer || !admit_connection(from)) {
      // Over a cap: closed before any handshake, at no cost but the accept.
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(*this, std::move(socket), from)->start();
    }
    accept();
  });
}

Result<const Server::Impl::Mount*> Server::Impl::admit(const protocol::Caller& caller,
                                                       const asio::ip::address& from,
                                                       const std::string& party,
                                                       const std::string& route,
                                                       std::uint64_t length) {
  auto found = mounts.find(party);
  if (found == mounts.end()) return fail(ErrorCode::not_found, "no party '" + party + "' here");
  const Mount& mount = found->second;
  const bool open =
      std::find(mount.open_routes.begin(), mount.open_routes.end(), route) != mount.open_routes.end();
  // A party that takes no certificate at all (a shop's merchant API) has only its open routes.
  if (!open && mount.roles.empty()) return fail(ErrorCode::not_found, "no route /" + party + "/" + route);
  if (!open) {
    if (!caller.certificate) {
      return fail(ErrorCode::bad_certificate, "/" + party + "/" + route + " needs a client certificate");
    }
    const auto role = caller.certificate->role();
    if (std::find(mount.roles.begin(), mount.roles.end(), role) == mount.roles.end()) {
      return fail(ErrorCode::wrong_role, "a " + std::string(pki::to_string(role)) + " may not call " + party);
    }
  }
  const auto limit = mount.routes.find(route);
  const RouteLimits own{limits.max_body};
  const RouteLimits& route_limits = limit == mount.routes.end() ? own : limit->second;
  if (route_limits.per_minute > 0 && (!caller.certificate || route_limits.even_certified) &&
      !rates.take(from, party + "/" + route, route_limits.per_minute)) {
    return fail(ErrorCode::rate_limited, "more than " + std::to_string(route_limits.per_minute) + " /" +
                                             party + "/" + route + " requests a minute from " +
                                             from.to_string() + ": wait a little");
  }
  if (length > route_limits.max_body) {
    return fail(ErrorCode::too_large, "/" + party + "/" + route + " takes a body of at most " +
                                          std::to_string(route_limits.max_body) + " bytes");
  }
  return &mount;
}

std::pair<int, std::string> Server::Impl::told(const std::string& party, const std::string& route,
                                               const Error& e) const {
  if (limits.devices_facing && outcome_unknown(e)) {
    std::cerr << "ecash: " << party << "/" << route << ": " << e.to_string() << std::endl;
    const Error plain{e.code, e.code == ErrorCode::io_error
                                  ? "the server's storage failed; the request is kept: ask again later"
                              : e.code == ErrorCode::unavailable
                                  ? "the server could not finish the request now: ask again"
                                  : "the server failed inside; the request is kept: ask again later"};
    return std::pair{http_status(e.code), wire_text(error_body(plain))};
  }
  return std::pair{http_status(e.code), wire_text(error_body(e))};
}

std::pair<int, std::string> Server::Impl::answer(const Mount& mount, const protocol::Caller& caller,
                                                 const std::string& party, const std::string& route,
                                                 const std::string& text) {
  const auto start = std::chrono::steady_clock::now();
  std::string request_id;
  const auto done = [&](const char* code) {
    account(party, route, caller, request_id, code, std::chrono::steady_clock::now() - start);
  };
  // Devices' requests are bounded in values too; the operator's roles, which reach only each
  // other, are trusted not to flood (their messages may list many records).
  auto parsed = protocol::parse_outside_json(
      text, "the request body",
      {protocol::kMaxJsonDepth, limits.devices_facing ? protocol::kMaxRequestValues : SIZE_MAX});
  if (!parsed) {
    done(to_string(parsed.error().code).data());
    return told(party, route, parsed.error());
  }
  request_id = request_id_in(*parsed);
  Result<Json> result = fail(ErrorCode::internal, "not handled");
  try {
    result = mount.endpoint->handle(caller, route, *parsed);
  } catch (const std::exception& e) {
    result = fail(ErrorCode::internal, e.what());
  }
  // The party has done its work, and the answer has not left: the worst time to crash.
  ecash::failpoint("answer/" + party + "/" + route);
  done(result ? "ok" : to_string(result.error().code).data());
  if (!result) return told(party, route, result.error());
  return {200, wire_text(*result)};
}

namespace {

// Connections (each a file descriptor) stay below the process's file limit, which is raised to
// its hard limit when that is what they need, with room left for stores, logs and outgoing links.
void keep_under_file_limit(int& max_connections) {
  constexpr rlim_t kOtherFiles = 256;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kOtherFiles;
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted) {
    files.rlim_cur = files.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, files.rlim_max);
    (void)::setrlimit(RLIMIT_NOFILE, &files);
    (void)::getrlimit(RLIMIT_NOFILE, &files);
  }
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted) {
    max_connections = static_cast<int>(std::max<rlim_t>(files.rlim_cur, 2 * kOtherFiles) - kOtherFiles);
  }
}

}  // namespace

Server::Server(TlsIdentity identity, PeerPolicy clients, const Clock& clock, Limits limits)
    : m(std::make_unique<Impl>(limits)) {
  ignore_sigpipe();
  m->check.policy = std::move(clients);
  m->check.clock = &clock;
  const int mode = SSL_VERIFY_PEER |
                   (m->check.policy.certificate_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  m_configured = tls::configure(m->ssl.native_handle(), true, identity, &m->check, mode,
                                limits.resumption);
  // An idle connection gives its TLS buffers back (tens of kilobytes each) until it sends again.
  SSL_CTX_set_mode(m->ssl.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  if (!m_configured) std::cerr << "ecash: TLS server: " << m_configured.error().to_string() << "\n";
}

Server::~Server() {
  stop();
  if (m->workers) m->workers->join();
}

void Server::mount(std::string party, protocol::Endpoint& endpoint, std::vector<pki::Role> roles,
                   std::vector<std::string> open_routes,
                   std::map<std::string, RouteLimits, std::less<>> routes) {
  m->largest_body = std::max(m->largest_body, m->limits.max_body);
  for (const auto& [route, limit] : routes) m->largest_body = std::max(m->largest_body, limit.max_body);
  m->mounts[std::move(party)] =
      Impl::Mount{&endpoint, std::move(roles), std::move(open_routes), std::move(routes)};
}

Result<int> Server::bind(const std::string& host, int port) {
  if (!m_configured) return fail(ErrorCode::bad_certificate, "the TLS server could not start");
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return fail(ErrorCode::invalid_argument, "not an IP address: " + host);
  tcp::endpoint at(address, static_cast<unsigned short>(port));
  tcp::acceptor acceptor(m->ioc);
  acceptor.open(at.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorCode::unavailable, "cannot listen on " + host + ":" + std::to_string(port) +
                                            " (in use, or not an address of this machine)");
  }
  const int bound = acceptor.local_endpoint().port();
  m->acceptor.emplace(std::move(acceptor));
  return bound;
}

void Server::run() {
  if (!m->acceptor) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int io_threads = m->limits.io_threads > 0 ? m->limits.io_threads : cores;
  keep_under_file_limit(m->limits.max_connections);
  m->accept_pause.emplace(m->ioc);
  m->workers.emplace(static_cast<std::size_t>(m->limits.workers > 0 ? m->limits.workers : 16 * cores));
  asio::post(m->ioc, [impl = m.get()] { impl->accept(); });
  std::vector<std::thread> more;
  for (int i = 1; i < io_threads; ++i) more.emplace_back([impl = m.get()] { impl->ioc.run(); });
  m->ioc.run();
  for (auto& t : more) t.join();
  // Requests still being answered finish before the server is gone.
  m->workers->join();
}

void Server::stop() {
  if (!m) return;
  std::call_once(m->stopped, [impl = m.get()] {
    asio::post(impl->ioc, [impl] {
      beast::error_code ignored;
      if (impl->acceptor) impl->acceptor->close(ignored);
    });
    impl->ioc.stop();
  });
}

}  // namespace ecash::net
