#include "net/pages.hpp"

#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange unincluded

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <type_traits>

#include "base/http_url.hpp"
#include "net/net.hpp"

namespace ecash::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A browser's request is a line and a few headers; a page is answered within this long.
constexpr std::size_t kMaxHeader = 8 * 1024;
constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
// At most this many browsers' connections at once; an accept that fails waits this long.
constexpr int kMaxConnections = 256;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One browser's connection: plain (Stream = beast::tcp_stream) or TLS (TlsStream).
template <class Stream>
class PageSession : public std::enable_shared_from_this<PageSession<Stream>> {
 public:
  PageSession(tcp::socket socket, const PageHandler& handler, std::atomic<int>& live)
      : m_stream(std::move(socket)), m_handler(handler), m_live(live) {}
  PageSession(tcp::socket socket, asio::ssl::context& tls, const PageHandler& handler, std::atomic<int>& live)
      : m_stream(std::move(socket), tls), m_handler(handler), m_live(live) {}
  ~PageSession() { --m_live; }
  PageSession(const PageSession&) = delete;
  PageSession& operator=(const PageSession&) = delete;

  void start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      lowest().expires_after(kReadTimeout);
      m_stream.async_handshake(asio::ssl::stream_base::server,
                               [self = this->shared_from_this()](beast::error_code ec) {
                                 if (ec) return self->close();
                                 self->read();
                               });
    } else {
      read();
    }
  }

  void read() {
    m_parser.emplace();
    m_parser->header_limit(kMaxHeader);
    m_parser->body_limit(0);
    lowest().expires_after(kReadTimeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(m_stream); }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    const auto& request = m_parser->get();
    Page page;
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      page = {405, "text/plain; charset=utf-8", "only GET\n"};
    } else {
      std::string_view target(request.target().data(), request.target().size());
      target = target.substr(0, target.find('?'));
      try {
        page = m_handler(target);
      } catch (const std::exception&) {
        page = {500, "text/plain; charset=utf-8", "internal error\n"};
      }
    }
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(page.status), request.version());
    response->set(http::field::content_type, page.content_type);
    response->set(http::field::cache_control, "no-store");
    // Nothing from elsewhere, and the page in no one else's frame.
    response->set("Content-Security-Policy",
                  page.policy.empty() ? "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
                                      : page.policy);
    response->set("X-Content-Type-Options", "nosniff");
    response->set("Referrer-Policy", "no-referrer");
    response->keep_alive(request.keep_alive());
    if (request.method() == http::verb::head) {
      response->content_length(page.body.size());
    } else {
      response->body() = std::move(page.body);
      response->prepare_payload();
    }
    lowest().expires_after(kWriteTimeout);
    http::async_write(m_stream, *response,
                      [self = this->shared_from_this(), response](beast::error_code written, std::size_t) {
                        if (written || !response->keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Stream m_stream;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::empty_body>> m_parser;
  const PageHandler& m_handler;
  std::atomic<int>& m_live;  // the server's count of open connections
};

}  // namespace

// The handlers hold the Impl by plain pointer: the PageServer owns it, and stops and joins its
// thread before it goes (a handler holding it by shared_ptr kept it, and its io_context with
// that very handler, alive for ever).
struct PageServer::Impl {
  explicit Impl(PageHandler h) : handler(std::move(h)), acceptor(ioc), pause(ioc) {}
  PageHandler handler;
  std::optional<asio::ssl::context> tls;
  std::atomic<int> live{0};  // before the io_context: its sessions, destroyed with it, count down
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::steady_timer pause;
  std::thread thread;

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [self = this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (ec) {
        // Out of descriptors or memory: wait a little rather than spin on the error.
        self->pause.expires_after(kAcceptPause);
        self->pause.async_wait([self](beast::error_code waited) {
          if (!waited) self->accept();
        });
        return;
      }
      // Past the cap a new connection is closed at once: the open ones keep being served.
      if (self->live.load() >= kMaxConnections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else if (self->tls) {
        ++self->live;
        std::make_shared<PageSession<TlsStream>>(std::move(socket), *self->tls, self->handler, self->live)->start();
      } else {
        ++self->live;
        std::make_shared<PageSession<beast::tcp_stream>>(std::move(socket), self->handler, self->live)->start();
      }
      self->accept();
    });
  }
};

PageServer::PageServer(PageHandler handler) : m(std::make_unique<Impl>(std::move(handler))) {}

PageServer::~PageServer() { stop(); }

Result<int> PageServer::start(const std::string& host, int port, const std::string& certificate_file,
                              const std::string& key_file) {
  beast::error_code ec;
  if (!certificate_file.empty()) {
    m->tls.emplace(asio::ssl::context::tls_server);
    m->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    m->tls->use_certificate_chain_file(certificate_file, ec);
    if (ec) return fail(ErrorCode::invalid_argument, "cannot read the certificate " + certificate_file + ": " + ec.message());
    m->tls->use_private_key_file(key_file, asio::ssl::context::pem, ec);
    if (ec) return fail(ErrorCode::invalid_argument, "cannot read the key " + key_file + ": " + ec.message());
  }
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return fail(ErrorCode::invalid_argument, "not an IP address: " + host);
  const tcp::endpoint at(address, static_cast<unsigned short>(port));
  m->acceptor.open(at.protocol(), ec);
  if (!ec) m->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) m->acceptor.bind(at, ec);
  if (!ec) m->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorCode::unavailable, "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  const int bound = m->acceptor.local_endpoint().port();
  m->accept();
  m->thread = std::thread([impl = m.get()] { impl->ioc.run(); });
  return bound;
}

void PageServer::stop() {
  if (!m->thread.joinable()) return;
  asio::post(m->ioc, [impl = m.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->pause.cancel();
    impl->ioc.stop();
  });
  m->thread.join();
}

namespace {

struct Exchanged {
  int status = 0;
  std::string body;
};

// One request to url and its answer, all within timeout (every step is asynchronous and the
// whole exchange runs for at most that long: a receiver that accepts and never answers cannot
// hold the caller). https:// is checked against the system's CA store and the host's name.
Result<Exchanged> exchange(const HttpUrl& url, http::verb method, const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::chrono::milliseconds timeout, std::size_t max_body) {
  http::request<http::string_body> request(method, url.target, 11);
  request.set(http::field::host, url.host_header());
  request.set(http::field::user_agent, "ecash");
  if (method == http::verb::post) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  if (method == http::verb::post) {
    request.body() = body;
    request.prepare_payload();
  }
  const std::string where = (url.tls ? "https://" : "http://") + url.host_header();
  asio::io_context ioc;
  std::optional<asio::ssl::context> tls;
  if (url.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    tls->set_default_verify_paths();
    tls->set_verify_mode(asio::ssl::verify_peer);
  }
  tcp::resolver resolver(ioc);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  beast::error_code failed;
  std::string step = "find";
  bool done = false;
  const auto talk = [&](auto& stream) -> Result<Exchanged> {
    auto& socket = beast::get_lowest_layer(stream);
    const auto read = [&] {
      step = "send to";
      http::async_write(stream, request, [&](beast::error_code ec, std::size_t) {
        if (ec) { failed = ec; return; }
        step = "hear from";
        http::async_read(stream, buffer, parser, [&](beast::error_code read_ec, std::size_t) {
          failed = read_ec;
          done = !read_ec;
        });
      });
    };
    resolver.async_resolve(url.host, url.port, [&](beast::error_code ec, const tcp::resolver::results_type& found) {
      if (ec) { failed = ec; return; }
      step = "reach";
      socket.async_connect(found, [&](beast::error_code connect_ec, const tcp::endpoint&) {
        if (connect_ec) { failed = connect_ec; return; }
        if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, TlsStream>) {
          step = "check the certificate of";
          stream.async_handshake(asio::ssl::stream_base::client, [&, read](beast::error_code tls_ec) {
            if (tls_ec) { failed = tls_ec; return; }
            read();
          });
        } else {
          read();
        }
      });
    });
    ioc.run_for(timeout);
    if (failed) return fail(ErrorCode::unavailable, "could not " + step + " " + where + ": " + failed.message());
    if (!done) {
      return fail(ErrorCode::unavailable, "could not " + step + " " + where + " within " +
                                              std::to_string(timeout.count()) + " ms");
    }
    beast::error_code ignored;
    socket.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return Exchanged{static_cast<int>(parser.get().result_int()), parser.get().body()};
  };
  if (!url.tls) {
    beast::tcp_stream stream(ioc);
    return talk(stream);
  }
  TlsStream stream(ioc, *tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) ||
      !SSL_set1_host(stream.native_handle(), url.host.c_str())) {
    return fail(ErrorCode::invalid_argument, "cannot check the name " + url.host);
  }
  return talk(stream);
}

}  // namespace

Result<std::string> http_get(const std::string& url, std::size_t max_body) {
  auto parsed = parse_http_url(url);
  if (!parsed) return std::unexpected(parsed.error());
  if (!parsed->tls && !parsed->loopback()) {
    return fail(ErrorCode::invalid_argument, "plain http:// only to this machine (loopback): use https:// for " + parsed->host);
  }
  auto got = exchange(*parsed, http::verb::get, "", {}, std::chrono::seconds(10), max_body);
  if (!got) return std::unexpected(got.error());
  if (got->status == 200) return got->body;
  if (got->status == 404) return fail(ErrorCode::not_found, url + ": not found");
  return fail(ErrorCode::invalid_argument,
              url + " answered " + std::to_string(got->status) + ": " + got->body.substr(0, 200));
}

Result<int> post_json(const std::string& url, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::chrono::milliseconds timeout) {
  auto parsed = parse_http_url(url);
  if (!parsed) return std::unexpected(parsed.error());
  if (!parsed->tls && !parsed->loopback()) {
    return fail(ErrorCode::invalid_argument, "plain http:// only to this machine (loopback): use https:// for " + parsed->host);
  }
  auto got = exchange(*parsed, http::verb::post, body, headers, timeout, 64 * 1024);
  if (!got) return std::unexpected(got.error());
  return got->status;
}

}  // namespace ecash::net
