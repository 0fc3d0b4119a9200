// The client side: a Connection keeps TLS links to one server alive and lends one to each call,
// so concurrent calls go out at once, each on its own link. Links are plain sockets driven by
// OpenSSL with poll() deadlines; HTTP responses are read by Beast's parser.
#include <utility>  // before Boost: boost/asio/awaitable.hpp uses std::exchange unincluded

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "base/failpoint.hpp"
#include "net/net.hpp"
#include "net/tls.hpp"
#include "protocol/json_fields.hpp"

namespace ecash::net {

namespace beast = boost::beast;
namespace http = beast::http;
using protocol::Json;
using Clock_ = std::chrono::steady_clock;

// A peer that hangs up mid-write must be an error to handle, not SIGPIPE ending the process
// (OpenSSL writes to the socket without MSG_NOSIGNAL).
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

namespace {

// Why a step of a call failed: the error, and whether the server told us it refused us (no use
// asking again) rather than the link failing (ask again).
struct Failure {
  Error error;
  bool refused = false;
};
using Step = std::expected<void, Failure>;

std::unexpected<Failure> broken(std::string why) {
  return std::unexpected(Failure{Error{ErrorCode::unavailable, std::move(why)}, false});
}

// Waits until fd is ready for events or the deadline passes.
Step wait(int fd, short events, Clock_::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock_::now());
    if (left.count() <= 0) return broken("timed out");
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return {};
    if (n < 0 && errno != EINTR) return broken(std::string("poll: ") + std::strerror(errno));
  }
}

}  // namespace

class Connection {
 public:
  Connection(Address address, std::optional<TlsIdentity> identity, PeerPolicy server,
             const Clock& clock, Limits limits)
      : m_address(std::move(address)), m_limits(limits), m_ctx(SSL_CTX_new(TLS_client_method())) {
    ignore_sigpipe();
    m_check.policy = std::move(server);
    m_check.clock = &clock;
    m_configured = tls::configure(m_ctx, false, identity, m_check.policy.trust ? &m_check : nullptr,
                                  SSL_VERIFY_PEER, limits.resumption);
  }
  ~Connection() {
    m_idle.clear();
    SSL_CTX_free(m_ctx);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result<Json> post(const std::string& path, const Json& body) {
    if (!m_configured) return std::unexpected(m_configured.error());
    // "/v1/bank/credit" is the call "bank/credit" in failpoints.
    const std::string point = "call/" + path.substr(std::min<std::size_t>(path.size(), 4));
    failpoint(point + "/before");
    const std::string text = body.dump();
    const std::string request = "POST " + path + " HTTP/1.1\r\nHost: " + m_address.host +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(text.size()) + "\r\n" +
                                (m_limits.keep_alive ? "" : "Connection: close\r\n") + "\r\n" +
                                text;
    std::string last;
    for (int attempt = 1; attempt <= std::max(1, m_limits.attempts); ++attempt) {
      auto link = take();
      const bool reused = link != nullptr;
      if (!link) {
        auto opened = open_link();
        if (!opened) {
          if (opened.error().refused) return std::unexpected(opened.error().error);
          last = opened.error().error.message;
          pause(attempt);
          continue;
        }
        link = std::move(*opened);
      }
      auto answer = exchange(*link, request);
      link->healthy = answer.has_value();
      if (answer) {
        if (m_limits.keep_alive && answer->keep_alive) give_back(std::move(link));
        failpoint(point + "/after");
        return read_answer(answer->status, answer->body);
      }
      if (answer.error().refused) return std::unexpected(answer.error().error);
      last = answer.error().error.message;
      // A kept-alive link the server has since closed fails once: ask again at once, on a new
      // link, without counting it.
      if (reused) {
        --attempt;
        continue;
      }
      pause(attempt);
    }
    return fail(ErrorCode::unavailable,
                "no answer from " + m_address.url() + " after " + std::to_string(m_limits.attempts) +
                    " attempts (" + last + "): it is down, or it refused this certificate");
  }

  const Address& address() const { return m_address; }
  ConnectionStats stats() const { return {m_handshakes.load(), m_resumed.load()}; }

 private:
  struct Link {
    int fd = -1;
    SSL* ssl = nullptr;
    beast::flat_buffer buffer;
    bool healthy = false;  // the last exchange went through: say goodbye with close_notify
    ~Link() {
      // A link freed without close_notify leaves its session unresumable; a broken one should.
      if (ssl != nullptr && healthy) (void)SSL_shutdown(ssl);
      if (ssl != nullptr) SSL_free(ssl);
      if (fd >= 0) ::close(fd);
    }
  };
  struct Answer {
    int status = 0;
    std::string body;
    bool keep_alive = false;
  };

  void pause(int attempt) const {
    if (attempt < m_limits.attempts) std::this_thread::sleep_for(m_limits.retry_pause * attempt);
  }

  std::unique_ptr<Link> take() {
    std::lock_guard lock(m_mutex);
    if (m_idle.empty()) return nullptr;
    auto link = std::move(m_idle.back());
    m_idle.pop_back();
    return link;
  }
  void give_back(std::unique_ptr<Link> link) {
    std::lock_guard lock(m_mutex);
    if (m_idle.size() < kMaxIdle) m_idle.push_back(std::move(link));
  }

  // A failed TLS step: the refusal it stands for (our check of the server, or the server's alert
  // about us), or a broken link.
  Failure tls_failure(SSL* ssl, const char* step) {
    if (auto refused = tls::refusal(ssl)) {
      ERR_clear_error();
      return {Error{refused->code, "the server at " + m_address.url() + " is not trusted: " + refused->message},
              true};
    }
    std::optional<Error> alert;
    std::string text;
    while (const unsigned long e = ERR_get_error()) {
      if (!alert) alert = tls::refusal_from_alert(e);
      char buffer[256];
      ERR_error_string_n(e, buffer, sizeof buffer);
      text += std::string(text.empty() ? "" : "; ") + buffer;
    }
    if (alert) {
      return {Error{alert->code, m_address.url() + " refused the connection: " + alert->message}, true};
    }
    return {Error{ErrorCode::unavailable, std::string(step) + (text.empty() ? "" : " (" + text + ")")},
            false};
  }

  // Drives one OpenSSL call on a non-blocking socket to its end or the deadline.
  template <class Op>
  std::expected<int, Failure> drive(Link& link, const Op& op, const char* step,
                                    Clock_::time_point deadline) {
    for (;;) {
      ERR_clear_error();
      const int r = op();
      if (r > 0) return r;
      const int error = SSL_get_error(link.ssl, r);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        if (auto ok = wait(link.fd, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline); !ok) {
          return std::unexpected(Failure{Error{ErrorCode::unavailable, std::string(step) + ": timed out"}, false});
        }
        continue;
      }
      if (error == SSL_ERROR_ZERO_RETURN) return std::unexpected(Failure{Error{ErrorCode::unavailable, std::string(step) + ": closed by the server"}, false});
      return std::unexpected(tls_failure(link.ssl, step));
    }
  }

  std::expected<std::unique_ptr<Link>, Failure> open_link() {
    const auto deadline = Clock_::now() + m_limits.connect_timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(m_address.host.c_str(), std::to_string(m_address.port).c_str(), &hints, &found) != 0 ||
        found == nullptr) {
      return broken("cannot resolve " + m_address.host);
    }
    auto link = std::make_unique<Link>();
    link->fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = link->fd < 0 ? -1 : ::connect(link->fd, found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
    if (link->fd < 0) return broken(std::string("socket: ") + std::strerror(errno));
    if (rc != 0 && errno != EINPROGRESS) return broken(std::string("connect: ") + std::strerror(errno));
    if (rc != 0) {
      if (auto ok = wait(link->fd, POLLOUT, deadline); !ok) return std::unexpected(ok.error());
      int error = 0;
      socklen_t size = sizeof error;
      ::getsockopt(link->fd, SOL_SOCKET, SO_ERROR, &error, &size);
      if (error != 0) return broken(std::string("connect: ") + std::strerror(error));
    }
    const int one = 1;
    ::setsockopt(link->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    link->ssl = SSL_new(m_ctx);
    if (link->ssl == nullptr) return broken("SSL_new: " + pki::take_openssl_errors());
    SSL_set_fd(link->ssl, link->fd);
    if (SSL_SESSION* session = tls::last_session(m_ctx)) {
      SSL_set_session(link->ssl, session);
      SSL_SESSION_free(session);
    }
    auto shaken = drive(*link, [&] { return SSL_connect(link->ssl); }, "TLS handshake", deadline);
    if (!shaken) return std::unexpected(shaken.error());
    ++m_handshakes;
    if (SSL_session_reused(link->ssl) == 1) ++m_resumed;
    // A resumed session skipped the check of the server's certificate: it is checked again.
    if (m_check.policy.trust != nullptr) {
      if (auto peer = tls::check_session(m_check, link->ssl); !peer) {
        return std::unexpected(Failure{Error{peer.error().code, "the server at " + m_address.url() +
                                                                    " is not trusted: " + peer.error().message},
                                       true});
      }
    }
    return link;
  }

  std::expected<Answer, Failure> exchange(Link& link, const std::string& request) {
    const auto deadline = Clock_::now() + m_limits.read_timeout;
    std::size_t written = 0;
    while (written < request.size()) {
      auto n = drive(link, [&] {
        return SSL_write(link.ssl, request.data() + written, static_cast<int>(request.size() - written));
      }, "sending", deadline);
      if (!n) return std::unexpected(n.error());
      written += static_cast<std::size_t>(*n);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswer);
    parser.header_limit(16 * 1024);
    parser.eager(true);
    for (;;) {
      if (link.buffer.size() > 0) {
        beast::error_code ec;
        const auto used = parser.put(link.buffer.data(), ec);
        link.buffer.consume(used);
        if (ec && ec != http::error::need_more) return broken("a bad HTTP answer: " + ec.message());
        if (parser.is_done()) break;
        if (!ec && used > 0) continue;
      }
      auto space = link.buffer.prepare(16 * 1024);
      auto n = drive(link, [&] {
        return SSL_read(link.ssl, space.data(), static_cast<int>(space.size()));
      }, "waiting for the answer", deadline);
      if (!n) return std::unexpected(n.error());
      link.buffer.commit(static_cast<std::size_t>(*n));
    }
    auto response = parser.release();
    return Answer{static_cast<int>(response.result_int()), std::move(response.body()),
                  response.keep_alive()};
  }

  // An answer that is not the party's own (a proxy's HTML 502, a body cut short) says nothing of
  // what the party did: unavailable, an open outcome, for the caller to ask again, never a refusal.
  Result<Json> read_answer(int status, const std::string& text) {
    Json answer = protocol::parse_limited(text);
    if (answer.is_discarded()) {
      return fail(ErrorCode::unavailable, m_address.url() + " answered HTTP " + std::to_string(status) +
                                              " without JSON: what it did is unknown");
    }
    if (status == 200) return answer;
    if (!answer.is_object() || !answer.contains("code") || !answer["code"].is_string()) {
      return fail(ErrorCode::unavailable, m_address.url() + " answered HTTP " + std::to_string(status) +
                                              " without an error code: what it did is unknown");
    }
    const auto message = answer.contains("message") && answer["message"].is_string()
                             ? answer["message"].get<std::string>()
                             : std::string();
    return fail(error_code_from_string(answer["code"].get<std::string>()), message);
  }

  static constexpr std::size_t kMaxIdle = 64;
  static constexpr std::size_t kMaxAnswer = 8 << 20;

  Address m_address;
  Limits m_limits;
  SSL_CTX* m_ctx;
  tls::PeerCheck m_check;
  Status m_configured;
  std::mutex m_mutex;
  std::vector<std::unique_ptr<Link>> m_idle;
  std::atomic<std::uint64_t> m_handshakes{0}, m_resumed{0};
};

ConnectionStats stats(const Connection& connection) { return connection.stats(); }

namespace {

class HttpsChannel final : public protocol::Channel {
 public:
  HttpsChannel(std::shared_ptr<Connection> connection, std::string party)
      : m_connection(std::move(connection)), m_prefix("/v1/" + std::move(party) + "/") {}

  Result<Json> call(std::string_view route, const Json& body) override {
    return m_connection->post(m_prefix + std::string(route), body);
  }

 private:
  std::shared_ptr<Connection> m_connection;
  std::string m_prefix;
};

}  // namespace

Result<std::shared_ptr<Connection>> connect(const std::string& url,
                                            std::optional<TlsIdentity> identity,
                                            PeerPolicy server, const Clock& clock, Limits limits) {
  auto address = parse_url(url);
  if (!address) return std::unexpected(address.error());
  if (server.trust == nullptr) return fail(ErrorCode::internal, "a connection needs a trust store");
  return std::make_shared<Connection>(std::move(*address), std::move(identity), std::move(server),
                                      clock, limits);
}

std::unique_ptr<protocol::Channel> channel(std::shared_ptr<Connection> connection,
                                           std::string party) {
  return std::make_unique<HttpsChannel>(std::move(connection), std::move(party));
}

Result<Json> fetch_trust_unverified(const std::string& url, const Limits& limits) {
  auto address = parse_url(url);
  if (!address) return std::unexpected(address.error());
  SystemClock clock;
  Connection connection(std::move(*address), std::nullopt, PeerPolicy{}, clock, limits);
  return connection.post("/v1/ca/trust", Json::object());
}

Result<pki::TrustAnchor> fresh_anchor(const std::string& url, pki::TrustAnchor anchor,
                                      UnixSeconds now, const Limits& limits) {
  const bool from_the_future = anchor.crl.this_update() > now + pki::TrustStore::kClockTolerance;
  if (anchor.crl.next_update() > now + 3600 && !from_the_future) return anchor;
  auto trust = fetch_trust_unverified(url, limits);
  if (!trust) return std::unexpected(trust.error());
  if (!trust->contains("crl") || !(*trust)["crl"].is_string()) {
    return fail(ErrorCode::malformed, url + " answered without a CRL");
  }
  auto crl = pki::Crl::from_pem((*trust)["crl"].get<std::string>());
  if (!crl) return std::unexpected(crl.error());
  pki::TrustStore store(anchor);
  if (auto ok = store.update_crl(*crl, now); !ok) return std::unexpected(ok.error());
  return store.anchor();
}

}  // namespace ecash::net
