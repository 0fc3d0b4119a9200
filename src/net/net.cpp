#include "net/net.hpp"
#include "protocol/json_fields.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace ecash::net {

using protocol::Json;

namespace {

constexpr const char* kJson = "application/json";

// What the handshake's certificate check needs: the policy, a clock, and the last refusal (read
// by the client to say why a server was not trusted).
struct PeerCheck {
  PeerPolicy policy;
  const Clock* clock = nullptr;
  std::mutex mutex;
  std::optional<Error> refusal;
};

Status check_peer(PeerCheck& check, X509* leaf) {
  if (leaf == nullptr) return fail(ErrorCode::bad_certificate, "no certificate");
  unsigned char* der = nullptr;
  const int length = i2d_X509(leaf, &der);
  if (length <= 0) return fail(ErrorCode::bad_certificate, "unreadable certificate");
  Bytes bytes(der, der + length);
  OPENSSL_free(der);
  auto cert = pki::Certificate::from_der(bytes);
  if (!cert) return std::unexpected(cert.error());
  if (auto ok = check.policy.trust->verify(*cert, check.policy.roles, check.clock->now()); !ok) {
    return ok;
  }
  if (check.policy.pinned_fingerprint && cert->fingerprint() != *check.policy.pinned_fingerprint) {
    return fail(ErrorCode::bad_certificate,
                "the peer holds another certificate than the one it was named by");
  }
  return {};
}

// The X.509 error a refusal is reported as; OpenSSL turns it into the TLS alert the peer sees
// (certificate_revoked, unknown_ca, ...), and the peer turns the alert back into our code.
int x509_error(ErrorCode code) {
  switch (code) {
    case ErrorCode::certificate_revoked: return X509_V_ERR_CERT_REVOKED;
    case ErrorCode::certificate_expired: return X509_V_ERR_CERT_HAS_EXPIRED;
    case ErrorCode::certificate_not_yet_valid: return X509_V_ERR_CERT_NOT_YET_VALID;
    case ErrorCode::untrusted_issuer: return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    case ErrorCode::wrong_role: return X509_V_ERR_INVALID_PURPOSE;
    default: return X509_V_ERR_APPLICATION_VERIFICATION;
  }
}

// The refusal a TLS alert from the server stands for, if the last failure was one.
std::optional<Error> refusal_from_alert(unsigned long error) {
  if (ERR_GET_LIB(error) != ERR_LIB_SSL) return std::nullopt;
  switch (ERR_GET_REASON(error)) {
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      return Error{ErrorCode::certificate_revoked, "this certificate is revoked"};
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return Error{ErrorCode::certificate_expired, "this certificate has expired or is not yet valid"};
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return Error{ErrorCode::untrusted_issuer, "this certificate is not from the server's CA"};
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      return Error{ErrorCode::wrong_role, "this certificate's role may not call this server"};
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return Error{ErrorCode::bad_certificate, "this server needs a client certificate"};
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return Error{ErrorCode::bad_certificate, "the server refused this certificate"};
    default:
      return std::nullopt;
  }
}

// OpenSSL's whole certificate verification, replaced: the chain, dates, CRL and role are judged
// by the TrustStore, the one place that knows our CA and its roles.
int verify_callback(X509_STORE_CTX* store, void* arg) {
  auto& check = *static_cast<PeerCheck*>(arg);
  auto ok = check_peer(check, X509_STORE_CTX_get0_cert(store));
  std::lock_guard lock(check.mutex);
  if (!ok) {
    check.refusal = ok.error();
    X509_STORE_CTX_set_error(store, x509_error(ok.error().code));
    return 0;
  }
  check.refusal.reset();
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

// Puts identity (when given) and the peer check on ctx; TLS 1.3 only.
Status configure(SSL_CTX* ctx, const std::optional<TlsIdentity>& identity, PeerCheck* check,
                 int verify_mode) {
  if (ctx == nullptr) return fail(ErrorCode::internal, "no TLS context: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  // No session resumption: a resumed session would skip the certificate check (and its CRL).
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (identity) {
    if (SSL_CTX_use_certificate(ctx, identity->certificate.native()) != 1) {
      return fail(ErrorCode::bad_certificate, "TLS certificate refused: " + openssl_errors());
    }
    BIO* bio = BIO_new_mem_buf(identity->private_key_pem.data(),
                               static_cast<int>(identity->private_key_pem.size()));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    const bool used = key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
                      SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!used) return fail(ErrorCode::bad_encoding, "TLS key refused: " + openssl_errors());
  }
  if (check != nullptr) {
    SSL_CTX_set_verify(ctx, verify_mode, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, verify_callback, check);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return {};
}

// A peer that hangs up mid-write must be an error to handle, not SIGPIPE ending the process
// (OpenSSL writes to the socket without MSG_NOSIGNAL).
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

Json error_body(const Error& error) {
  return Json{{"code", std::string(to_string(error.code))}, {"message", error.message}};
}

void answer_error(httplib::Response& res, const Error& error) {
  res.status = http_status(error.code);
  res.set_content(error_body(error).dump(), kJson);
}

// ECASH_FAILPOINT=exit_before_answer:<party>/<route>: the process ends the moment it has handled
// such a request, before the answer leaves: a crash at the worst time, for recovery tests.
std::string failpoint_route() {
  const char* spec = std::getenv("ECASH_FAILPOINT");
  const std::string_view prefix = "exit_before_answer:";
  if (spec == nullptr || std::string_view(spec).substr(0, prefix.size()) != prefix) return {};
  return std::string(std::string_view(spec).substr(prefix.size()));
}

}  // namespace

std::string Address::url() const { return "https://" + host + ":" + std::to_string(port); }

Result<Address> parse_listen(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(ErrorCode::invalid_argument, "expected HOST:PORT, got '" + std::string(address) + "'");
  }
  const auto port_text = address.substr(colon + 1);
  int port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (port = std::stoi(std::string(port_text))) > 65535) {
    return fail(ErrorCode::invalid_argument, "bad port in '" + std::string(address) + "'");
  }
  return Address{std::string(address.substr(0, colon)), port};
}

Result<Address> parse_url(std::string_view url) {
  const std::string_view scheme = "https://";
  if (url.substr(0, scheme.size()) != scheme) {
    return fail(ErrorCode::invalid_argument, "expected https://HOST:PORT, got '" + std::string(url) + "'");
  }
  auto rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return fail(ErrorCode::invalid_argument, "expected https://HOST:PORT, got '" + std::string(url) + "'");
  }
  if (rest.find(':') == std::string_view::npos) return Address{std::string(rest), 8443};
  return parse_listen(rest);
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::not_found:
    case ErrorCode::unknown_user:
    case ErrorCode::unknown_shop:
      return 404;
    case ErrorCode::bad_certificate:
    case ErrorCode::untrusted_issuer:
    case ErrorCode::certificate_expired:
    case ErrorCode::certificate_not_yet_valid:
    case ErrorCode::certificate_revoked:
    case ErrorCode::wrong_role:
      return 403;
    case ErrorCode::conflict:
    case ErrorCode::replayed:
      return 409;
    case ErrorCode::insufficient_funds:
    case ErrorCode::limit_exceeded:
    case ErrorCode::declined:
      return 402;
    case ErrorCode::too_large:
      return 413;
    case ErrorCode::unavailable:
      return 503;
    case ErrorCode::internal:
    case ErrorCode::io_error:
    case ErrorCode::insecure_permissions:
      return 500;
    default:
      return 400;
  }
}

// ---------------------------------------------------------------------------------------------
// Server

struct Server::Impl {
  struct Mount {
    protocol::Endpoint* endpoint = nullptr;
    std::vector<pki::Role> roles;
    std::vector<std::string> open_routes;
    std::mutex mutex;
  };

  PeerCheck check;
  std::optional<httplib::SSLServer> server;
  std::map<std::string, std::unique_ptr<Mount>, std::less<>> mounts;
  Limits limits;
  std::string failpoint;

  void handle(const httplib::Request& req, httplib::Response& res) {
    const std::string party = req.matches[1];
    const std::string route = req.matches[2];
    auto found = mounts.find(party);
    if (found == mounts.end()) {
      return answer_error(res, {ErrorCode::not_found, "no party '" + party + "' here"});
    }
    Mount& mount = *found->second;
    protocol::Caller caller;
    if (const X509* peer = req.ssl ? SSL_get0_peer_certificate(req.ssl) : nullptr) {
      unsigned char* der = nullptr;
      const int length = i2d_X509(peer, &der);
      if (length > 0) {
        auto cert = pki::Certificate::from_der(Bytes(der, der + length));
        OPENSSL_free(der);
        if (!cert) return answer_error(res, cert.error());
        caller.certificate = std::move(*cert);
      }
    }
    const bool open = std::find(mount.open_routes.begin(), mount.open_routes.end(), route) !=
                      mount.open_routes.end();
    if (!open) {
      if (!caller.certificate) {
        return answer_error(res, {ErrorCode::bad_certificate,
                                  "/" + party + "/" + route + " needs a client certificate"});
      }
      const auto role = caller.certificate->role();
      if (std::find(mount.roles.begin(), mount.roles.end(), role) == mount.roles.end()) {
        return answer_error(res, {ErrorCode::wrong_role, "a " + std::string(pki::to_string(role)) +
                                                             " may not call " + party});
      }
    }
    auto parsed = protocol::parse_outside_json(req.body, "the request body");
    if (!parsed) return answer_error(res, parsed.error());
    const Json& body = *parsed;
    Result<Json> answer = fail(ErrorCode::internal, "not handled");
    {
      std::lock_guard lock(mount.mutex);
      try {
        answer = mount.endpoint->handle(caller, route, body);
      } catch (const std::exception& e) {
        answer = fail(ErrorCode::internal, e.what());
      }
    }
    if (!failpoint.empty() && failpoint == party + "/" + route) {
      std::cerr << "ECASH_FAILPOINT: exiting before answering " << failpoint << std::endl;
      std::_Exit(86);
    }
    if (!answer) return answer_error(res, answer.error());
    res.status = 200;
    res.set_content(answer->dump(), kJson);
  }
};

Server::Server(TlsIdentity identity, PeerPolicy clients, const Clock& clock, Limits limits)
    : m(std::make_unique<Impl>()) {
  ignore_sigpipe();
  m->check.policy = std::move(clients);
  m->check.clock = &clock;
  m->limits = limits;
  m->failpoint = failpoint_route();
  const int mode = SSL_VERIFY_PEER |
                   (m->check.policy.certificate_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  Status configured;
  m->server.emplace([&](SSL_CTX& ctx) {
    configured = configure(&ctx, identity, &m->check, mode);
    return configured.has_value();
  });
  if (!configured) std::cerr << "ecash: TLS server: " << configured.error().to_string() << "\n";
  auto& s = *m->server;
  s.set_tcp_nodelay(true);
  // A connection holds a pool thread from its handshake to its close: idle or slow peers are let
  // go soon, so that a few cannot keep the rest waiting.
  s.set_keep_alive_max_count(100000);
  s.set_keep_alive_timeout(5);
  s.set_read_timeout(10);
  s.set_write_timeout(10);
  s.set_payload_max_length(limits.max_body);
  s.new_task_queue = [] { return new httplib::ThreadPool(64); };
  s.Post(R"(/v1/([a-z_]+)/([a-z_]+))",
         [impl = m.get()](const httplib::Request& req, httplib::Response& res) {
           impl->handle(req, res);
         });
  // The body cap holds only for a body of declared length: chunked or compressed bodies (which
  // httplib would read or inflate without limit) are refused before they are read.
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Transfer-Encoding") || req.has_header("Content-Encoding")) {
      answer_error(res, {ErrorCode::malformed, "send the body whole, uncompressed, with its Content-Length"});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // What httplib answers itself (no such path, body too large) also comes as {code, message}.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const ErrorCode code = res.status == 413   ? ErrorCode::too_large
                           : res.status == 404 ? ErrorCode::not_found
                                               : ErrorCode::malformed;
    res.set_content(error_body({code, "HTTP " + std::to_string(res.status)}).dump(), kJson);
  });
}

Server::~Server() { stop(); }

void Server::mount(std::string party, protocol::Endpoint& endpoint, std::vector<pki::Role> roles,
                   std::vector<std::string> open_routes) {
  auto mount = std::make_unique<Impl::Mount>();
  mount->endpoint = &endpoint;
  mount->roles = std::move(roles);
  mount->open_routes = std::move(open_routes);
  m->mounts[std::move(party)] = std::move(mount);
}

Result<int> Server::bind(const std::string& host, int port) {
  if (!m->server->is_valid()) return fail(ErrorCode::bad_certificate, "the TLS server could not start");
  const int bound = port == 0 ? m->server->bind_to_any_port(host)
                              : (m->server->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return fail(ErrorCode::unavailable, "cannot listen on " + host + ":" + std::to_string(port) +
                                            " (in use, or not an address of this machine)");
  }
  return bound;
}

void Server::run() { m->server->listen_after_bind(); }

void Server::exclusive(const std::string& party, const std::function<void()>& work) {
  auto found = m->mounts.find(party);
  if (found == m->mounts.end()) return work();
  std::lock_guard lock(found->second->mutex);
  work();
}

void Server::stop() {
  if (m && m->server && m->server->is_running()) m->server->stop();
}

// ---------------------------------------------------------------------------------------------
// Client

class Connection {
 public:
  Connection(Address address, std::optional<TlsIdentity> identity, PeerPolicy server,
             const Clock& clock, Limits limits)
      : m_address(std::move(address)), m_client(m_address.host, m_address.port), m_limits(limits) {
    ignore_sigpipe();
    m_check.policy = std::move(server);
    m_check.clock = &clock;
    m_configured = configure(m_client.ssl_context(), identity,
                             m_check.policy.trust ? &m_check : nullptr, SSL_VERIFY_PEER);
    // Our own check (verify_callback) replaces httplib's, which would also demand a host name
    // in the certificate: a peer is known by its certificate and role, not by its address.
    m_client.enable_server_certificate_verification(false);
    m_client.set_tcp_nodelay(true);
    m_client.set_keep_alive(true);
    m_client.set_connection_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.connect_timeout).count());
    m_client.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.read_timeout).count());
    m_client.set_write_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.read_timeout).count());
  }

  Result<Json> post(const std::string& path, const Json& body) {
    if (!m_configured) return std::unexpected(m_configured.error());
    std::lock_guard lock(m_mutex);
    const std::string text = body.dump();
    std::string last;
    for (int attempt = 1; attempt <= std::max(1, m_limits.attempts); ++attempt) {
      {
        std::lock_guard check_lock(m_check.mutex);
        m_check.refusal.reset();
      }
      ERR_clear_error();
      auto res = m_client.Post(path, text, kJson);
      if (res) {
        m_used = true;
        return read_answer(res->status, res->body);
      }
      {
        std::lock_guard check_lock(m_check.mutex);
        if (m_check.refusal) {
          return fail(m_check.refusal->code, "the server at " + m_address.url() +
                                                 " is not trusted: " + m_check.refusal->message);
        }
      }
      last = httplib::to_string(res.error());
      // The server refused us in the handshake: no point in asking again. (TLS 1.3 ends the
      // client's handshake before the server has judged its certificate, so the alert saying why
      // arrives only if the request was written before the server hung up; otherwise all we see
      // is a closed connection.)
      std::optional<Error> refused;
      while (const unsigned long e = ERR_get_error()) {
        if (!refused) refused = refusal_from_alert(e);
        char buffer[256];
        ERR_error_string_n(e, buffer, sizeof buffer);
        last += std::string(" (") + buffer + ")";
      }
      if (refused) {
        return fail(refused->code, m_address.url() + " refused the connection: " + refused->message);
      }
      m_client.stop();  // a broken connection is not reused
      // A kept-alive connection the server has since closed fails once: ask again at once, on a
      // new connection, without counting it.
      if (std::exchange(m_used, false)) {
        --attempt;
        continue;
      }
      if (attempt < m_limits.attempts) std::this_thread::sleep_for(m_limits.retry_pause * attempt);
    }
    return fail(ErrorCode::unavailable,
                "no answer from " + m_address.url() + " after " + std::to_string(m_limits.attempts) +
                    " attempts (" + last + "): it is down, or it refused this certificate");
  }

  const Address& address() const { return m_address; }

 private:
  Result<Json> read_answer(int status, const std::string& text) {
    Json answer = protocol::parse_limited(text);
    if (answer.is_discarded()) {
      return fail(ErrorCode::malformed, m_address.url() + " answered HTTP " +
                                            std::to_string(status) + " without JSON");
    }
    if (status == 200) return answer;
    if (!answer.is_object() || !answer.contains("code") || !answer["code"].is_string()) {
      return fail(ErrorCode::malformed, m_address.url() + " answered HTTP " + std::to_string(status));
    }
    const auto message = answer.contains("message") && answer["message"].is_string()
                             ? answer["message"].get<std::string>()
                             : std::string();
    return fail(error_code_from_string(answer["code"].get<std::string>()), message);
  }

  Address m_address;
  httplib::SSLClient m_client;
  Limits m_limits;
  PeerCheck m_check;
  Status m_configured;
  bool m_used = false;  // a request has been answered on the current connection
  std::mutex m_mutex;
};

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
  if (anchor.crl.next_update() > now + 3600) return anchor;
  auto trust = fetch_trust_unverified(url, limits);
  if (!trust) return std::unexpected(trust.error());
  if (!trust->contains("crl") || !(*trust)["crl"].is_string()) {
    return fail(ErrorCode::malformed, url + " answered without a CRL");
  }
  auto crl = pki::Crl::from_pem((*trust)["crl"].get<std::string>());
  if (!crl) return std::unexpected(crl.error());
  pki::TrustStore store(anchor);
  if (auto ok = store.update_crl(*crl); !ok) return std::unexpected(ok.error());
  return store.anchor();
}

}  // namespace ecash::net
