// The event-driven HTTPS server (Boost.Beast on Asio): connections, handshakes, reads and writes
// are asynchronous on a few I/O threads, so an idle or slow connection holds no thread; a request
// that has fully arrived is handed to a fixed pool of workers, where the party answers it.
#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange unincluded

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "base/failpoint.hpp"
#include "net/net.hpp"
#include "net/tls.hpp"
#include "protocol/json_fields.hpp"

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

}  // namespace

void ignore_sigpipe();

struct Server::Impl {
  struct Mount {
    protocol::Endpoint* endpoint = nullptr;
    std::vector<pki::Role> roles;
    std::vector<std::string> open_routes;
  };

  class Session;

  explicit Impl(Limits l) : limits(l), ssl(asio::ssl::context::tls_server) {}

  // In this order: what sessions use outlives the I/O context that may still hold sessions.
  tls::PeerCheck check;
  Limits limits;
  std::atomic<int> connections{0};
  std::once_flag stopped;
  asio::ssl::context ssl;
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::map<std::string, Mount, std::less<>> mounts;
  std::optional<asio::thread_pool> workers;

  void accept();
  // What a request gets: the party's answer, or an error. Runs on a worker.
  std::pair<int, std::string> answer(const protocol::Caller& caller, const std::string& party,
                                     const std::string& route, const std::string& text);
};

class Server::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket)
      : m_server(server), m_stream(std::move(socket), server.ssl) {}
  ~Session() { --m_server.connections; }

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
    read_header();
  }

  void read_header() {
    m_parser.emplace();
    m_parser->header_limit(kMaxHeader);
    m_parser->body_limit(m_server.limits.max_body);
    // Waiting for a request, and its header, take at most the keep-alive time.
    beast::get_lowest_layer(m_stream).expires_after(m_server.limits.keep_alive_timeout);
    http::async_read_header(m_stream, m_buffer, *m_parser,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::header_limit) return reply(431, {ErrorCode::too_large, "header too large"}, false);
    if (ec == http::error::body_limit) return refuse_body();
    if (ec) return close();
    const auto& req = m_parser->get();
    // The body cap holds only for a body of declared length: chunked or compressed bodies are
    // refused before they are read.
    if (req.find(http::field::transfer_encoding) != req.end() ||
        req.find(http::field::content_encoding) != req.end()) {
      return reply(400, {ErrorCode::malformed, "send the body whole, uncompressed, with its Content-Length"},
                   false);
    }
    if (req.payload_size() && *req.payload_size() > m_server.limits.max_body) return refuse_body();
    beast::get_lowest_layer(m_stream).expires_after(m_server.limits.read_timeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) return refuse_body();
    if (ec) return close();
    auto req = m_parser->release();
    m_keep_alive = req.keep_alive();
    if (m_refused) return reply(http_status(m_refused->code), *m_refused, false);
    const auto target = split_target(std::string_view(req.target().data(), req.target().size()));
    if (req.method() != http::verb::post || !target) {
      return reply(404, {ErrorCode::not_found, "no such path: POST /v1/<party>/<route>"}, m_keep_alive);
    }
    beast::get_lowest_layer(m_stream).expires_never();
    asio::post(*m_server.workers, [self = shared_from_this(), target = *target,
                                   body = std::move(req.body())]() mutable {
      auto answer = self->m_server.answer(self->m_caller, target.first, target.second, body);
      asio::post(self->m_stream.get_executor(), [self, answer = std::move(answer)]() mutable {
        self->send(answer.first, std::move(answer.second), self->m_keep_alive);
      });
    });
  }

  void refuse_body() {
    m_drain = true;  // the client may still be sending: let it, so that it reads the answer
    reply(413, {ErrorCode::too_large, "body over " + std::to_string(m_server.limits.max_body) + " bytes"},
          false);
  }

  void reply(int status, const Error& error, bool keep_alive) {
    send(status, error_body(error).dump(), keep_alive);
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
                        self->read_header();
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
    read_some_more(0);
  }
  void read_some_more(std::size_t dropped) {
    if (dropped > kMaxDrain) return close();
    m_stream.async_read_some(m_buffer.prepare(64 * 1024),
                             [self = shared_from_this(), dropped](beast::error_code ec, std::size_t n) {
                               if (ec) return self->close();
                               self->read_some_more(dropped + n);
                             });
  }
  static constexpr std::size_t kMaxDrain = 4 << 20;

  Impl& m_server;
  bool m_drain = false;
  beast::ssl_stream<beast::tcp_stream> m_stream;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::string_body>> m_parser;
  std::optional<http::response<http::string_body>> m_response;
  protocol::Caller m_caller;
  std::optional<Error> m_refused;
  bool m_keep_alive = true;
};

void Server::Impl::accept() {
  acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (!ec) {
      if (connections.fetch_add(1) >= limits.max_connections) {
        --connections;
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(*this, std::move(socket))->start();
      }
    }
    accept();
  });
}

std::pair<int, std::string> Server::Impl::answer(const protocol::Caller& caller,
                                                 const std::string& party, const std::string& route,
                                                 const std::string& text) {
  const auto error = [&](const Error& e) {
    if (limits.devices_facing && outcome_unknown(e)) {
      std::cerr << "ecash: " << party << "/" << route << ": " << e.to_string() << std::endl;
      const Error told{e.code, e.code == ErrorCode::io_error
                                   ? "the server's storage failed; the request is kept: ask again later"
                               : e.code == ErrorCode::unavailable
                                   ? "the server could not finish the request now: ask again"
                                   : "the server failed inside; the request is kept: ask again later"};
      return std::pair{http_status(e.code), error_body(told).dump()};
    }
    return std::pair{http_status(e.code), error_body(e).dump()};
  };
  auto found = mounts.find(party);
  if (found == mounts.end()) return error({ErrorCode::not_found, "no party '" + party + "' here"});
  const Mount& mount = found->second;
  const bool open =
      std::find(mount.open_routes.begin(), mount.open_routes.end(), route) != mount.open_routes.end();
  if (!open) {
    if (!caller.certificate) {
      return error({ErrorCode::bad_certificate, "/" + party + "/" + route + " needs a client certificate"});
    }
    const auto role = caller.certificate->role();
    if (std::find(mount.roles.begin(), mount.roles.end(), role) == mount.roles.end()) {
      return error({ErrorCode::wrong_role,
                    "a " + std::string(pki::to_string(role)) + " may not call " + party});
    }
  }
  auto parsed = protocol::parse_outside_json(text, "the request body");
  if (!parsed) return error(parsed.error());
  Result<Json> result = fail(ErrorCode::internal, "not handled");
  try {
    result = mount.endpoint->handle(caller, route, *parsed);
  } catch (const std::exception& e) {
    result = fail(ErrorCode::internal, e.what());
  }
  // The party has done its work, and the answer has not left: the worst time to crash.
  ecash::failpoint("answer/" + party + "/" + route);
  if (!result) return error(result.error());
  return {200, result->dump()};
}

Server::Server(TlsIdentity identity, PeerPolicy clients, const Clock& clock, Limits limits)
    : m(std::make_unique<Impl>(limits)) {
  ignore_sigpipe();
  m->check.policy = std::move(clients);
  m->check.clock = &clock;
  const int mode = SSL_VERIFY_PEER |
                   (m->check.policy.certificate_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  m_configured = tls::configure(m->ssl.native_handle(), true, identity, &m->check, mode,
                                limits.resumption);
  if (!m_configured) std::cerr << "ecash: TLS server: " << m_configured.error().to_string() << "\n";
}

Server::~Server() {
  stop();
  if (m->workers) m->workers->join();
}

void Server::mount(std::string party, protocol::Endpoint& endpoint, std::vector<pki::Role> roles,
                   std::vector<std::string> open_routes) {
  m->mounts[std::move(party)] = Impl::Mount{&endpoint, std::move(roles), std::move(open_routes)};
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
