#include "net/pages.hpp"

#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange unincluded

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <thread>

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

class PageSession : public std::enable_shared_from_this<PageSession> {
 public:
  PageSession(tcp::socket socket, const PageHandler& handler)
      : m_stream(std::move(socket)), m_handler(handler) {}

  void read() {
    m_parser.emplace();
    m_parser->header_limit(kMaxHeader);
    m_parser->body_limit(0);
    m_stream.expires_after(kReadTimeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
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
    m_stream.expires_after(kWriteTimeout);
    http::async_write(m_stream, *response,
                      [self = shared_from_this(), response](beast::error_code written, std::size_t) {
                        if (written || !response->keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream m_stream;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::empty_body>> m_parser;
  const PageHandler& m_handler;
};

}  // namespace

struct PageServer::Impl : std::enable_shared_from_this<PageServer::Impl> {
  explicit Impl(PageHandler h) : handler(std::move(h)), acceptor(ioc) {}
  PageHandler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  std::thread thread;

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) std::make_shared<PageSession>(std::move(socket), self->handler)->read();
      self->accept();
    });
  }
};

PageServer::PageServer(PageHandler handler) : m(std::make_shared<Impl>(std::move(handler))) {}

PageServer::~PageServer() { stop(); }

Result<int> PageServer::start(const std::string& host, int port) {
  beast::error_code ec;
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
  m->thread = std::thread([impl = m] { impl->ioc.run(); });
  return bound;
}

void PageServer::stop() {
  if (!m->thread.joinable()) return;
  asio::post(m->ioc, [impl = m] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->ioc.stop();
  });
  m->thread.join();
}

Result<std::string> http_get(const std::string& url, std::size_t max_body) {
  if (!url.starts_with("http://")) return fail(ErrorCode::invalid_argument, "not an http:// URL: " + url);
  const auto rest = url.substr(std::string_view("http://").size());
  const auto slash = rest.find('/');
  const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::string host_port = rest.substr(0, slash);
  auto address = host_port.find(':') == std::string::npos ? Result<Address>(Address{host_port, 80})
                                                          : parse_listen(host_port);
  if (!address) return fail(ErrorCode::invalid_argument, "not an http://HOST:PORT/... URL: " + url);
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(address->host, std::to_string(address->port)));
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, address->host);
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    const auto& response = parser.get();
    if (response.result() == http::status::ok) return response.body();
    if (response.result() == http::status::not_found) return fail(ErrorCode::not_found, url + ": not found");
    return fail(ErrorCode::invalid_argument,
                url + " answered " + std::to_string(response.result_int()) + ": " + response.body().substr(0, 200));
  } catch (const boost::system::system_error& e) {
    return fail(ErrorCode::unavailable, "could not reach " + url + ": " + e.code().message());
  }
}

}  // namespace ecash::net
