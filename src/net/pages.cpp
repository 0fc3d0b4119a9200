#include "net/pages.hpp"

#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange unincluded

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <chrono>
#include <thread>
#include <type_traits>

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

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One browser's connection: plain (Stream = beast::tcp_stream) or TLS (TlsStream).
template <class Stream>
class PageSession : public std::enable_shared_from_this<PageSession<Stream>> {
 public:
  PageSession(tcp::socket socket, const PageHandler& handler) : m_stream(std::move(socket)), m_handler(handler) {}
  PageSession(tcp::socket socket, asio::ssl::context& tls, const PageHandler& handler)
      : m_stream(std::move(socket), tls), m_handler(handler) {}

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
      page = m_handler(target);
    }
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(page.status), request.version());
    response->set(http::field::content_type, page.content_type);
    response->set(http::field::cache_control, "no-store");
    // Nothing from elsewhere: the page's own inline style and script only.
    response->set("Content-Security-Policy",
                  "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                  "script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'");
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
};

}  // namespace

// The handlers hold the Impl by plain pointer: the PageServer owns it, and stops and joins its
// thread before it goes (a handler holding it by shared_ptr kept it, and its io_context with
// that very handler, alive for ever).
struct PageServer::Impl {
  explicit Impl(PageHandler h) : handler(std::move(h)), acceptor(ioc) {}
  PageHandler handler;
  std::optional<asio::ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  std::thread thread;

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [self = this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec && self->tls) {
        std::make_shared<PageSession<TlsStream>>(std::move(socket), *self->tls, self->handler)->start();
      } else if (!ec) {
        std::make_shared<PageSession<beast::tcp_stream>>(std::move(socket), self->handler)->start();
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
    impl->ioc.stop();
  });
  m->thread.join();
}

namespace {

struct Exchanged {
  int status = 0;
  std::string body;
};

// One request to url (http:// or https://, the latter checked against the system's CA store and
// the host's name) and its answer; unavailable when it cannot be reached within timeout.
Result<Exchanged> exchange(const std::string& url, http::verb method, const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::chrono::seconds timeout, std::size_t max_body, bool plain_only_to_loopback) {
  const bool tls = url.starts_with("https://");
  if (!tls && !url.starts_with("http://")) return fail(ErrorCode::invalid_argument, "not an http(s):// URL: " + url);
  const auto rest = url.substr(tls ? 8 : 7);
  const auto slash = rest.find('/');
  const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::string host_port = rest.substr(0, slash);
  const auto colon = host_port.rfind(':');
  const std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  const std::string port = colon == std::string::npos ? (tls ? "443" : "80") : host_port.substr(colon + 1);
  if (host.empty()) return fail(ErrorCode::invalid_argument, "no host in " + url);
  if (!tls && plain_only_to_loopback && host != "127.0.0.1" && host != "localhost" && host != "::1") {
    return fail(ErrorCode::invalid_argument, "plain http:// only to this machine (loopback): use https:// for " + host);
  }
  http::request<http::string_body> request(method, target, 11);
  request.set(http::field::host, host);
  request.set(http::field::user_agent, "ecash");
  if (method == http::verb::post) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  if (method == http::verb::post) {
    request.body() = body;
    request.prepare_payload();
  }
  const auto talk = [&](auto& stream) {
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    return Exchanged{static_cast<int>(parser.get().result_int()), parser.get().body()};
  };
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    const auto found = resolver.resolve(host, port);
    if (!tls) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(timeout);
      stream.connect(found);
      return talk(stream);
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) ||
        !SSL_set1_host(stream.native_handle(), host.c_str())) {
      return fail(ErrorCode::invalid_argument, "cannot check the name " + host);
    }
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).connect(found);
    stream.handshake(asio::ssl::stream_base::client);
    return talk(stream);
  } catch (const boost::system::system_error& e) {
    return fail(ErrorCode::unavailable, "could not reach " + url + ": " + e.code().message());
  }
}

}  // namespace

Result<std::string> http_get(const std::string& url, std::size_t max_body) {
  auto got = exchange(url, http::verb::get, "", {}, std::chrono::seconds(10), max_body, false);
  if (!got) return std::unexpected(got.error());
  if (got->status == 200) return got->body;
  if (got->status == 404) return fail(ErrorCode::not_found, url + ": not found");
  return fail(ErrorCode::invalid_argument,
              url + " answered " + std::to_string(got->status) + ": " + got->body.substr(0, 200));
}

Result<int> post_json(const std::string& url, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::chrono::seconds timeout) {
  auto got = exchange(url, http::verb::post, body, headers, timeout, 64 * 1024, true);
  if (!got) return std::unexpected(got.error());
  return got->status;
}

}  // namespace ecash::net
