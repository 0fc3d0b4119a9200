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

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <system_error>
#include <type_traits>
#include <vector>

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
// An accept that fails (out of descriptors) waits this long before the next.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The connections a PageServer holds, in all and per source address; used on its I/O thread only.
// Past a cap, a new connection takes the place of the one that has waited longest for a request
// (idle between a page's polls, or sending its request a byte at a time), within the source's
// connections or within all: one client's idle connections cannot shut others out, and a busy
// shop's polling pages make room for each other. When none waits, the new one is closed.
class Connections {
 public:
  explicit Connections(const PageLimits& limits) : m_limits(limits) {
    for (const auto& proxy : limits.proxies) {
      beast::error_code ec;
      const auto address = asio::ip::make_address(proxy, ec);
      if (!ec) m_proxies.push_back(address);
    }
  }
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  // A place for a connection from source (its number), or 0 when there is none.
  std::uint64_t admit(const asio::ip::address& source) {
    const bool proxy = std::find(m_proxies.begin(), m_proxies.end(), source) != m_proxies.end();
    if (!proxy && count(&source) >= m_limits.per_source && !close_longest_waiting(&source)) return 0;
    if (count(nullptr) >= m_limits.connections && !close_longest_waiting(nullptr)) return 0;
    const auto id = ++m_last;
    m_held.emplace(id, Held{source, {}, {}, false});
    return id;
  }
  // The connection waits for a request from now; close ends its wait.
  void waiting(std::uint64_t id, std::function<void()> close) {
    if (auto it = m_held.find(id); it != m_held.end()) {
      it->second.since = std::chrono::steady_clock::now();
      it->second.close = std::move(close);
    }
  }
  // The connection has a request to answer: not to be closed for another from now. False when it
  // was closed for another already (its request, come as it was closed, is not answered).
  bool busy(std::uint64_t id) {
    const auto it = m_held.find(id);
    if (it == m_held.end() || it->second.closing) return false;
    it->second.close = nullptr;
    return true;
  }
  void release(std::uint64_t id) { m_held.erase(id); }
  // Whether a request's Host header (NAME[:PORT]) names this server.
  bool host_allowed(std::string_view header) const {
    if (m_limits.hosts.empty()) return true;
    auto name = header;
    if (const auto colon = name.rfind(':'); colon != std::string_view::npos && name.find(']', colon) == std::string_view::npos) {
      name = name.substr(0, colon);
    }
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return std::find(m_limits.hosts.begin(), m_limits.hosts.end(), lower) != m_limits.hosts.end();
  }

 private:
  struct Held {
    asio::ip::address source;
    std::chrono::steady_clock::time_point since;
    std::function<void()> close;  // set while waiting for a request
    bool closing = false;         // closed for another: its place is free, its end not yet run
  };
  // The places taken (from source, when given).
  int count(const asio::ip::address* source) const {
    return static_cast<int>(std::count_if(m_held.begin(), m_held.end(), [&](const auto& h) {
      return !h.second.closing && (source == nullptr || h.second.source == *source);
    }));
  }
  // Closes the connection (from source, when given) that has waited longest; false if none waits.
  bool close_longest_waiting(const asio::ip::address* source) {
    Held* longest = nullptr;
    for (auto& [id, held] : m_held) {
      if (!held.close || held.closing || (source != nullptr && held.source != *source)) continue;
      if (longest == nullptr || held.since < longest->since) longest = &held;
    }
    if (longest == nullptr) return false;
    longest->closing = true;
    std::exchange(longest->close, nullptr)();
    return true;
  }

  PageLimits m_limits;
  std::vector<asio::ip::address> m_proxies;
  std::map<std::uint64_t, Held> m_held;
  std::uint64_t m_last = 0;
};

// One browser's connection: plain (Stream = beast::tcp_stream) or TLS (TlsStream).
template <class Stream>
class PageSession : public std::enable_shared_from_this<PageSession<Stream>> {
 public:
  // Holds place `id` in connections, and gives it back when it ends.
  PageSession(tcp::socket socket, const PageHandler& handler, Connections& connections, std::uint64_t id)
      : m_stream(std::move(socket)), m_handler(handler), m_connections(connections), m_id(id) {}
  PageSession(tcp::socket socket, asio::ssl::context& tls, const PageHandler& handler, Connections& connections,
              std::uint64_t id)
      : m_stream(std::move(socket), tls), m_handler(handler), m_connections(connections), m_id(id) {}
  ~PageSession() { m_connections.release(m_id); }
  PageSession(const PageSession&) = delete;
  PageSession& operator=(const PageSession&) = delete;

  void start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      wait_closable();
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
    wait_closable();
    lowest().expires_after(kReadTimeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(m_stream); }

  // Until a request has come, another connection may take this one's place.
  void wait_closable() {
    m_connections.waiting(m_id, [weak = this->weak_from_this()] {
      // Closed, not only cancelled: a read whose bytes have come is not waiting to be cancelled.
      if (auto self = weak.lock()) self->lowest().close();
    });
  }

  void on_read(beast::error_code ec) {
    if (!m_connections.busy(m_id) || ec) return close();
    const auto& request = m_parser->get();
    Page page;
    const auto host = request[http::field::host];
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      page = {405, "text/plain; charset=utf-8", "only GET\n"};
    } else if (!m_connections.host_allowed(std::string_view(host.data(), host.size()))) {
      page = {421, "text/plain; charset=utf-8", "this server is not that host: open it by its own address\n"};
    } else {
      std::string_view target(request.target().data(), request.target().size());
      target = target.substr(0, target.find('?'));
      try {
        page = m_handler(target);
      } catch (...) {  // whatever it throws: the server serves on
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
  Connections& m_connections;
  const std::uint64_t m_id;
};

}  // namespace

// The handlers hold the Impl by plain pointer: the PageServer owns it, and stops and joins its
// thread before it goes (a handler holding it by shared_ptr kept it, and its io_context with
// that very handler, alive for ever).
struct PageServer::Impl {
  Impl(PageHandler h, PageLimits limits) : handler(std::move(h)), connections(limits), acceptor(ioc), pause(ioc) {}
  PageHandler handler;
  std::optional<asio::ssl::context> tls;
  Connections connections;  // before the io_context: its sessions, destroyed with it, give places back
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
      beast::error_code no_peer;
      const auto from = socket.remote_endpoint(no_peer);
      const auto place = no_peer ? 0 : self->connections.admit(from.address());
      try {
        if (place == 0) {  // past a cap with no connection waiting: closed at once
          beast::error_code ignored;
          socket.close(ignored);
        } else if (self->tls) {
          std::make_shared<PageSession<TlsStream>>(std::move(socket), *self->tls, self->handler, self->connections, place)
              ->start();
        } else {
          std::make_shared<PageSession<beast::tcp_stream>>(std::move(socket), self->handler, self->connections, place)
              ->start();
        }
      } catch (const std::bad_alloc&) {
        self->connections.release(place);
      }
      self->accept();
    });
  }
};

std::vector<std::string> hosts_of(const std::string& host) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec || !address.is_loopback()) return {};
  const auto named = address.is_v6() ? "[" + host + "]" : host;
  std::vector<std::string> names = {"localhost", "127.0.0.1", "[::1]"};
  if (std::find(names.begin(), names.end(), named) == names.end()) names.push_back(named);
  return names;
}

PageServer::PageServer(PageHandler handler, PageLimits limits)
    : m(std::make_unique<Impl>(std::move(handler), limits)) {}

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

std::atomic<std::int64_t> g_lookup_delay_ms{0};

struct Exchanged {
  int status = 0;
  std::string body;
};

// The addresses of url's host, within timeout. A numeric host needs no lookup. A name is looked
// up on a thread of its own, which is left to finish alone when the time is up: a resolver's own
// thread would be joined, and a slow DNS server would hold the caller past any time-out.
Result<std::vector<tcp::endpoint>> find_host(const HttpUrl& url, std::chrono::milliseconds timeout) {
  const auto port = static_cast<std::uint16_t>(std::stoi(url.port));  // 1-65535: parse_http_url
  beast::error_code numeric;
  const auto address = asio::ip::make_address(url.host, numeric);
  if (!numeric) return std::vector<tcp::endpoint>{tcp::endpoint(address, port)};
  struct Lookup {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<Result<std::vector<tcp::endpoint>>> found;
  };
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host = url.host, service = url.port] {
      if (const auto delay = g_lookup_delay_ms.load(); delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      asio::io_context ioc;
      tcp::resolver resolver(ioc);
      beast::error_code ec;
      const auto results = resolver.resolve(host, service, ec);
      Result<std::vector<tcp::endpoint>> found = std::vector<tcp::endpoint>{};
      if (ec) {
        found = fail(ErrorCode::unavailable, "could not find " + host + ": " + ec.message());
      } else {
        for (const auto& entry : results) found->push_back(entry.endpoint());
      }
      const std::lock_guard lock(lookup->mutex);
      lookup->found = std::move(found);
      lookup->done.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return fail(ErrorCode::unavailable, "could not look up " + url.host + ": " + e.what());
  }
  std::unique_lock lock(lookup->mutex);
  if (!lookup->done.wait_for(lock, timeout, [&] { return lookup->found.has_value(); })) {
    return fail(ErrorCode::unavailable, "could not find " + url.host + " within " + std::to_string(timeout.count()) + " ms");
  }
  return *lookup->found;
}

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
  const auto started = std::chrono::steady_clock::now();
  auto found = find_host(url, timeout);
  if (!found) return std::unexpected(found.error());
  const auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  beast::error_code failed;
  std::string step = "reach";
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
    socket.async_connect(*found, [&](beast::error_code connect_ec, const tcp::endpoint&) {
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
    ioc.run_for(std::max(left, std::chrono::milliseconds(1)));
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

void delay_name_lookups_for_tests(std::chrono::milliseconds delay) { g_lookup_delay_ms = delay.count(); }

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
