// The TLS links on loopback with real certificates: who gets in, who is refused and how, and that
// a refused caller never reaches the endpoint.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "crypto/random.hpp"
#include "net/net.hpp"
#include "pki/authority.hpp"

namespace ecash::net {
namespace {

using protocol::Json;
using pki::Role;

constexpr UnixSeconds kDay = 86400;

// Answers every route with what it saw; "refuse" answers an error. Counts what reached it.
class Echo final : public protocol::Endpoint {
 public:
  Result<Json> handle(const protocol::Caller& caller, std::string_view route, const Json& body) override {
    ++calls;
    if (route == "refuse") return fail(ErrorCode::insufficient_funds, "short by EUR:1.00");
    return Json{{"route", std::string(route)},
                {"caller", caller.certificate ? std::string(pki::to_string(caller.certificate->role()))
                                              : std::string("none")},
                {"body", body}};
  }
  std::atomic<int> calls = 0;
};

struct Party {
  crypto::PartyKeys keys;
  pki::Certificate cert;
  TlsIdentity identity() const { return {cert, pki::private_key_pem(keys.signing)}; }
};

class NetTest : public ::testing::Test {
 protected:
  NetTest()
      : m_now(SystemClock().now()),
        m_ca(make_ca()),
        m_other_ca(make_ca()),
        m_bank(issue(m_ca, Role::bank)),
        m_center(issue(m_ca, Role::center)),
        m_wallet(issue(m_ca, Role::wallet)),
        m_revoked(issue(m_ca, Role::center)),
        m_foreign_center(issue(m_other_ca, Role::center)) {
    m_ca.revoke(m_revoked.cert.serial(), m_now - 10);
    m_trust = std::make_unique<pki::TrustStore>(
        pki::TrustAnchor{m_ca.certificate(), m_ca.issue_crl(m_now - 60, m_now + kDay).value()});
  }

  ~NetTest() override {
    for (auto& s : m_servers) s->stop();
    for (auto& t : m_threads) t.join();
  }

  // A server for `party` on a port the OS picks; returns its URL.
  std::string serve(const Party& as, std::vector<Role> tls_roles, bool certificate_required,
                    const std::string& party, std::vector<Role> roles,
                    std::vector<std::string> open_routes = {}, Limits limits = {}) {
    auto server = std::make_unique<Server>(as.identity(),
                                           PeerPolicy{m_trust.get(), std::move(tls_roles), certificate_required},
                                           m_clock, limits);
    server->mount(party, m_echo, std::move(roles), std::move(open_routes));
    const int port = server->bind("127.0.0.1", 0).value();
    m_threads.emplace_back([s = server.get()] { s->run(); });
    m_servers.push_back(std::move(server));
    return "https://127.0.0.1:" + std::to_string(port);
  }

  Result<Json> call(const std::string& url, const Party* as, Role server_role,
                    const std::string& party, const std::string& route, Json body = Json::object()) {
    std::optional<TlsIdentity> id;
    if (as != nullptr) id = as->identity();
    Limits once;
    once.attempts = 1;
    auto connection = connect(url, id, PeerPolicy{m_trust.get(), {server_role}}, m_clock, once);
    if (!connection) return std::unexpected(connection.error());
    return channel(*connection, party)->call(route, body);
  }

  pki::CertificateAuthority make_ca() {
    return pki::CertificateAuthority::create("ecash CA", crypto::PartyKeys::generate(), m_now - kDay,
                                             365 * kDay, m_random)
        .value();
  }
  Party issue(const pki::CertificateAuthority& ca, Role role) {
    auto keys = crypto::PartyKeys::generate();
    auto cert = ca.issue({.subject = std::string(pki::to_string(role)),
                          .role = role,
                          .verify_key = keys.signing.verify_key(),
                          .sealing_key = keys.sealing.public_key(),
                          .account_commitment = std::nullopt,
                          .alt_names = {"DNS:localhost", "IP:127.0.0.1"}},
                         m_now - 60, m_now + kDay, m_random)
                    .value();
    return Party{std::move(keys), std::move(cert)};
  }

  crypto::SecureRandom m_random;
  SystemClock m_clock;
  UnixSeconds m_now;
  pki::CertificateAuthority m_ca;
  pki::CertificateAuthority m_other_ca;
  Party m_bank, m_center, m_wallet, m_revoked, m_foreign_center;
  std::unique_ptr<pki::TrustStore> m_trust;
  Echo m_echo;
  std::vector<std::unique_ptr<Server>> m_servers;
  std::vector<std::thread> m_threads;
};

TEST_F(NetTest, CenterReachesBankAndSeesItsAnswersAndErrors) {
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center});
  auto answer = call(url, &m_center, Role::bank, "bank", "credit", {{"amount", "EUR:1.00"}});
  ASSERT_TRUE(answer) << answer.error().to_string();
  EXPECT_EQ((*answer)["caller"], "center");
  EXPECT_EQ((*answer)["route"], "credit");
  EXPECT_EQ((*answer)["body"]["amount"], "EUR:1.00");
  auto refused = call(url, &m_center, Role::bank, "bank", "refuse");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::insufficient_funds);
  EXPECT_EQ(refused.error().message, "short by EUR:1.00");
  EXPECT_EQ(m_echo.calls, 2);
}

TEST_F(NetTest, ManyRequestsShareOneConnection) {
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center});
  auto connection = connect(url, m_center.identity(), PeerPolicy{m_trust.get(), {Role::bank}}, m_clock).value();
  auto bank = channel(connection, "bank");
  for (int i = 0; i < 50; ++i) {
    auto answer = bank->call("report", {{"i", i}});
    ASSERT_TRUE(answer) << answer.error().to_string();
    EXPECT_EQ((*answer)["body"]["i"], i);
  }
  EXPECT_EQ(m_echo.calls, 50);
}

TEST_F(NetTest, BankRefusesEveryoneButTheCenterBeforeAnyRequest) {
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center});
  // No certificate, one from another CA of the same name, a revoked one, a wallet's. Each is told
  // why by the TLS alert when it arrives; TLS 1.3 lets the client write before the server judged
  // its certificate, so the server may hang up first, and then all it sees is a closed connection.
  const std::pair<const Party*, ErrorCode> refused[] = {{nullptr, ErrorCode::bad_certificate},
                                                        {&m_foreign_center, ErrorCode::untrusted_issuer},
                                                        {&m_revoked, ErrorCode::certificate_revoked},
                                                        {&m_wallet, ErrorCode::wrong_role}};
  for (const auto& [who, code] : refused) {
    auto answer = call(url, who, Role::bank, "bank", "credit");
    ASSERT_FALSE(answer);
    if (answer.error().code != ErrorCode::unavailable) {
      EXPECT_EQ(answer.error().code, code) << answer.error().message;
    }
  }
  EXPECT_EQ(m_echo.calls, 0);
  EXPECT_TRUE(call(url, &m_center, Role::bank, "bank", "credit"));  // the control
  EXPECT_EQ(m_echo.calls, 1);
}

TEST_F(NetTest, ClientRefusesAServerOfAnotherRoleOrCaOrCertificate) {
  const auto bank_url = serve(m_bank, {Role::center}, true, "bank", {Role::center});
  auto wrong_role = call(bank_url, &m_center, Role::clearing, "bank", "credit");
  ASSERT_FALSE(wrong_role);
  EXPECT_EQ(wrong_role.error().code, ErrorCode::wrong_role) << wrong_role.error().message;

  const auto foreign_url = serve(m_foreign_center, {Role::wallet}, true, "center", {Role::wallet});
  auto foreign = call(foreign_url, &m_wallet, Role::center, "center", "deposit");
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ErrorCode::untrusted_issuer) << foreign.error().message;

  const auto revoked_url = serve(m_revoked, {Role::wallet}, true, "center", {Role::wallet});
  auto revoked = call(revoked_url, &m_wallet, Role::center, "center", "deposit");
  ASSERT_FALSE(revoked);
  EXPECT_EQ(revoked.error().code, ErrorCode::certificate_revoked) << revoked.error().message;

  // Pinned to one certificate: another valid one of the same role is refused.
  PeerPolicy pinned{m_trust.get(), {Role::bank}};
  pinned.pinned_fingerprint = m_center.cert.fingerprint();
  Limits once;
  once.attempts = 1;
  auto c = connect(bank_url, m_center.identity(), pinned, m_clock, once).value();
  auto pin = channel(c, "bank")->call("credit", Json::object());
  ASSERT_FALSE(pin);
  EXPECT_EQ(pin.error().code, ErrorCode::bad_certificate);
  EXPECT_EQ(m_echo.calls, 0);
}

TEST_F(NetTest, OpenRoutesTakeCallersWithoutCertificateOthersDoNot) {
  const auto url = serve(m_center, {Role::wallet}, false, "ca", {Role::wallet}, {"trust"});
  auto open = call(url, nullptr, Role::center, "ca", "trust");
  ASSERT_TRUE(open) << open.error().to_string();
  EXPECT_EQ((*open)["caller"], "none");
  auto closed = call(url, nullptr, Role::center, "ca", "deposit");
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, ErrorCode::bad_certificate);
  // A certificate that is presented must still pass, even where none is needed.
  EXPECT_FALSE(call(url, &m_revoked, Role::center, "ca", "trust"));
  // The route check: a certificate of a role the mount does not take.
  auto bank_as_caller = call(url, &m_bank, Role::center, "ca", "deposit");
  EXPECT_FALSE(bank_as_caller);
  EXPECT_EQ(m_echo.calls, 1);
  // Trust on first use needs no trust store at all.
  auto trust = fetch_trust_unverified(url);
  ASSERT_TRUE(trust) << trust.error().to_string();
  EXPECT_EQ((*trust)["route"], "trust");
}

// Bad input from a caller that did get in: every answer is {code, message}.
// A proxy's HTML 502 (or any answer not the party's own) says nothing of what the party did: it
// is unavailable, an open outcome the caller asks again, never a refusal it could take as final.
TEST_F(NetTest, AnAnswerNotThePartysOwnIsAnOpenOutcome) {
  const auto key_pem = pki::private_key_pem(m_bank.keys.signing);
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  httplib::SSLServer proxy(m_bank.cert.native(), key);
  EVP_PKEY_free(key);
  std::atomic<int> status{502};
  proxy.Post(".*", [&](const httplib::Request&, httplib::Response& res) {
    res.status = status;
    if (status == 502) {
      res.set_content("<html><body>502 Bad Gateway</body></html>", "text/html");
    } else {
      res.set_content(R"({"error": "no code here"})", "application/json");
    }
  });
  const int port = proxy.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { proxy.listen_after_bind(); });
  while (!proxy.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto url = "https://127.0.0.1:" + std::to_string(port);
  auto html = call(url, &m_center, Role::bank, "bank", "credit");
  status = 400;
  auto codeless = call(url, &m_center, Role::bank, "bank", "credit");
  proxy.stop();
  serving.join();
  for (const auto& answer : {html, codeless}) {
    ASSERT_FALSE(answer.has_value());
    EXPECT_EQ(answer.error().code, ErrorCode::unavailable) << answer.error().to_string();
    EXPECT_TRUE(outcome_unknown(answer.error()));
  }
  EXPECT_NE(html.error().message.find("HTTP 502 without JSON"), std::string::npos) << html.error().message;
}

TEST_F(NetTest, MalformedAndOversizedRequestsGetStableCodes) {
  Limits small;
  small.max_body = 1024;
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center}, {}, small);
  httplib::SSLClient raw("127.0.0.1", std::stoi(url.substr(url.rfind(':') + 1)));
  raw.enable_server_certificate_verification(false);
  const auto key_pem = pki::private_key_pem(m_center.keys.signing);
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  SSL_CTX_use_certificate(raw.ssl_context(), m_center.cert.native());
  SSL_CTX_use_PrivateKey(raw.ssl_context(), key);
  EVP_PKEY_free(key);

  const auto code_of = [](const httplib::Result& res) {
    return Json::parse(res->body, nullptr, false).value("code", std::string("(none)"));
  };
  auto not_json = raw.Post("/v1/bank/credit", "{not json", "application/json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_EQ(code_of(not_json), "malformed");
  auto big = raw.Post("/v1/bank/credit", std::string(4096, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(code_of(big), "too_large");
  auto nobody = raw.Post("/v1/nobody/credit", "{}", "application/json");
  ASSERT_TRUE(nobody);
  EXPECT_EQ(nobody->status, 404);
  EXPECT_EQ(code_of(nobody), "not_found");
  auto no_path = raw.Get("/");
  ASSERT_TRUE(no_path);
  EXPECT_EQ(no_path->status, 404);
  // Nested deeper than any message (printing such a value would exhaust the stack).
  auto deep = raw.Post("/v1/bank/credit", std::string(500, '[') + std::string(500, ']'), "application/json");
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->status, 400);
  EXPECT_EQ(code_of(deep), "malformed");
  // A body without a declared length, or compressed, would get past the cap: refused unread.
  auto chunked = raw.Post("/v1/bank/credit",
                          [](size_t offset, httplib::DataSink& sink) {
                            if (offset < 8 * 1024 * 1024) {
                              const std::string block(64 * 1024, ' ');
                              sink.write(block.data(), block.size());
                            } else {
                              sink.done();
                            }
                            return true;
                          },
                          "application/json");
  if (chunked) {  // the server may hang up before the client has written it all
    EXPECT_EQ(chunked->status, 400);
    EXPECT_EQ(code_of(chunked), "malformed");
  }
  raw.set_compress(true);
  auto gzipped = raw.Post("/v1/bank/credit", std::string(2000, ' ') + "{}", "application/json");
  raw.set_compress(false);
  ASSERT_TRUE(gzipped);
  EXPECT_EQ(gzipped->status, 400);
  EXPECT_EQ(code_of(gzipped), "malformed");
  // And the server is still there.
  auto fine = raw.Post("/v1/bank/credit", "{}", "application/json");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(m_echo.calls, 1);
}

TEST_F(NetTest, NobodyListeningIsUnavailableAfterRetries) {
  Limits quick;
  quick.attempts = 2;
  quick.retry_pause = std::chrono::milliseconds(10);
  // A port the OS handed out and took back: nothing listens on it.
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  auto c = connect("https://127.0.0.1:" + std::to_string(port), m_center.identity(),
                   PeerPolicy{m_trust.get(), {Role::bank}}, m_clock, quick)
               .value();
  auto answer = channel(c, "bank")->call("credit", Json::object());
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::unavailable);
  EXPECT_NE(answer.error().message.find("after 2 attempts"), std::string::npos) << answer.error().message;
}

// Serves the CA's "trust" route with a given CRL.
class TrustEndpoint final : public protocol::Endpoint {
 public:
  explicit TrustEndpoint(std::string crl) : m_crl(std::move(crl)) {}
  Result<Json> handle(const protocol::Caller&, std::string_view, const Json&) override {
    return Json{{"ca", "unused"}, {"crl", m_crl}};
  }

 private:
  std::string m_crl;
};

TEST_F(NetTest, AStaleCrlIsRenewedFromTheServerButOnlyIfTheCaSignedIt) {
  const pki::TrustAnchor stale{m_ca.certificate(), m_ca.issue_crl(m_now - 3 * kDay, m_now - kDay).value()};
  const auto fresh_crl = m_ca.issue_crl(m_now - 60, m_now + 7 * kDay).value();
  TrustEndpoint good(fresh_crl.to_pem());
  TrustEndpoint forged(m_other_ca.issue_crl(m_now - 60, m_now + 7 * kDay).value().to_pem());
  Server server(m_center.identity(), PeerPolicy{m_trust.get(), {Role::wallet}, false}, m_clock);
  server.mount("ca", good, {}, {"trust"});
  Server liar(m_center.identity(), PeerPolicy{m_trust.get(), {Role::wallet}, false}, m_clock);
  liar.mount("ca", forged, {}, {"trust"});
  const int port = server.bind("127.0.0.1", 0).value();
  const int liar_port = liar.bind("127.0.0.1", 0).value();
  std::thread a([&] { server.run(); }), b([&] { liar.run(); });

  // Held as it is, the stale CRL makes every server look bad.
  EXPECT_EQ(pki::verify_certificate(m_center.cert, stale, std::vector<Role>{Role::center}, m_now).error().code,
            ErrorCode::bad_crl);
  auto renewed = fresh_anchor("https://127.0.0.1:" + std::to_string(port), stale, m_now);
  ASSERT_TRUE(renewed) << renewed.error().to_string();
  EXPECT_EQ(renewed->crl.next_update(), fresh_crl.next_update());
  EXPECT_TRUE(pki::verify_certificate(m_center.cert, *renewed, std::vector<Role>{Role::center}, m_now));
  auto refused = fresh_anchor("https://127.0.0.1:" + std::to_string(liar_port), stale, m_now);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::bad_crl);
  // A CRL good for more than an hour is kept without asking anyone.
  const pki::TrustAnchor current{m_ca.certificate(), fresh_crl};
  EXPECT_TRUE(fresh_anchor("https://127.0.0.1:1", current, m_now));

  server.stop();
  liar.stop();
  a.join();
  b.join();
}

// Fails every request inside, with a detail that names a file and an address.
class Broken final : public protocol::Endpoint {
 public:
  Result<Json> handle(const protocol::Caller&, std::string_view route, const Json&) override {
    if (route == "store") return fail(ErrorCode::io_error, "COMMIT: database or disk is full (/srv/op/bank/bank.db)");
    if (route == "peer") return fail(ErrorCode::unavailable, "no answer from https://10.1.2.3:40001 after 5 attempts");
    // What a party quotes from a caller need not be UTF-8 (server_fuzz found a certificate's role
    // bytes in a message): the server must still answer, not throw on a worker thread.
    if (route == "bytes") return fail(ErrorCode::bad_certificate, "unknown role \xff\xfe");
    if (route == "answer_bytes") return Json{{"quoted", "\xc3\x28"}};
    return fail(ErrorCode::insufficient_funds, "short by EUR:1.00");
  }
};

// A server facing devices tells an open outcome by its code and a plain sentence: no file path
// or internal address of the operator reaches a wallet; refusals keep their own words.
TEST_F(NetTest, DevicesAreNotToldTheOperatorsInternals) {
  Broken broken;
  Limits facing;
  facing.devices_facing = true;
  Server server(m_center.identity(), PeerPolicy{m_trust.get(), {Role::wallet}}, m_clock, facing);
  server.mount("center", broken, {Role::wallet});
  const auto url = "https://127.0.0.1:" + std::to_string(server.bind("127.0.0.1", 0).value());
  std::thread serving([&] { server.run(); });
  for (const char* route : {"store", "peer"}) {
    auto answer = call(url, &m_wallet, Role::center, "center", route);
    ASSERT_FALSE(answer);
    EXPECT_TRUE(outcome_unknown(answer.error())) << answer.error().to_string();
    for (const char* secret : {"/srv", "bank.db", "10.1.2.3", "40001"}) {
      EXPECT_EQ(answer.error().message.find(secret), std::string::npos) << answer.error().message;
    }
  }
  EXPECT_EQ(call(url, &m_wallet, Role::center, "center", "store").error().code, ErrorCode::io_error);
  auto refused = call(url, &m_wallet, Role::center, "center", "short");
  EXPECT_EQ(refused.error().message, "short by EUR:1.00");
  auto bytes = call(url, &m_wallet, Role::center, "center", "bytes");
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, ErrorCode::bad_certificate) << bytes.error().to_string();
  auto answered = call(url, &m_wallet, Role::center, "center", "answer_bytes");
  ASSERT_TRUE(answered) << answered.error().to_string();
  EXPECT_EQ((*answered)["quoted"], "\xef\xbf\xbd(");
  server.stop();
  serving.join();
}

// Holds "wait" calls until released; answers "go" at once.
class Gate final : public protocol::Endpoint {
 public:
  Result<Json> handle(const protocol::Caller&, std::string_view route, const Json&) override {
    if (route == "wait") {
      ++waiting;
      while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return Json{{"route", std::string(route)}};
  }
  std::atomic<int> waiting = 0;
  std::atomic<bool> open = false;
};

// A request waiting inside its party does not hold the next one (the operator no longer answers
// one request at a time).
TEST_F(NetTest, RequestsAreAnsweredConcurrently) {
  Gate gate;
  Server server(m_bank.identity(), PeerPolicy{m_trust.get(), {Role::center}}, m_clock);
  server.mount("bank", gate, {Role::center});
  const auto url = "https://127.0.0.1:" + std::to_string(server.bind("127.0.0.1", 0).value());
  std::thread serving([&] { server.run(); });
  auto connection = connect(url, m_center.identity(), PeerPolicy{m_trust.get(), {Role::bank}}, m_clock).value();
  Result<Json> waited = fail(ErrorCode::internal, "not yet");
  std::thread first([&] { waited = channel(connection, "bank")->call("wait", Json::object()); });
  while (gate.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto went = channel(connection, "bank")->call("go", Json::object());
  ASSERT_TRUE(went) << went.error().to_string();
  EXPECT_FALSE(gate.open);  // answered while the first was still held
  gate.open = true;
  first.join();
  ASSERT_TRUE(waited) << waited.error().to_string();
  EXPECT_EQ((*waited)["route"], "wait");
  server.stop();
  serving.join();
}

// Connections that never finish a handshake hold no thread: with one I/O thread and one worker,
// a hundred of them do not keep a caller out.
TEST_F(NetTest, IdleConnectionsHoldNoWorker) {
  Limits one;
  one.io_threads = 1;
  one.workers = 1;
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center}, {}, one);
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    if (i % 2 == 0) {  // half of them start a ClientHello
      ASSERT_EQ(::write(fd, "\x16\x03", 2), 2);
    }
    idle.push_back(fd);
  }
  auto answer = call(url, &m_center, Role::bank, "bank", "credit");
  EXPECT_TRUE(answer) << answer.error().to_string();
  for (const int fd : idle) ::close(fd);
}

// Sessions resume (no full handshake for a device that comes back), and a resumed session is
// still checked: a caller revoked since its first handshake is refused on the resumed one.
TEST_F(NetTest, AResumedSessionIsCheckedAgain) {
  pki::TrustStore server_trust(m_trust->anchor());
  const auto caller = issue(m_ca, Role::center);
  Server server(m_bank.identity(), PeerPolicy{&server_trust, {Role::center}}, m_clock);
  server.mount("bank", m_echo, {Role::center});
  const auto url = "https://127.0.0.1:" + std::to_string(server.bind("127.0.0.1", 0).value());
  std::thread serving([&] { server.run(); });
  Limits fresh_each_time;
  fresh_each_time.keep_alive = false;
  fresh_each_time.attempts = 1;
  auto connection =
      connect(url, caller.identity(), PeerPolicy{m_trust.get(), {Role::bank}}, m_clock, fresh_each_time)
          .value();
  auto bank = channel(connection, "bank");
  ASSERT_TRUE(bank->call("credit", Json::object()));
  ASSERT_TRUE(bank->call("credit", Json::object()));
  EXPECT_EQ(stats(*connection).handshakes, 2u);
  EXPECT_EQ(stats(*connection).resumed, 1u);
  m_ca.revoke(caller.cert.serial(), m_now - 5);
  ASSERT_TRUE(server_trust.update_crl(m_ca.issue_crl(m_now - 5, m_now + kDay).value(), m_now));
  auto refused = bank->call("credit", Json::object());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::certificate_revoked) << refused.error().message;
  EXPECT_EQ(stats(*connection).resumed, 2u);  // it did resume, and was refused all the same
  EXPECT_EQ(m_echo.calls, 2);
  // Without resumption every call is a full handshake.
  Limits no_resumption = fresh_each_time;
  no_resumption.resumption = false;
  auto full = connect(url, m_center.identity(), PeerPolicy{m_trust.get(), {Role::bank}}, m_clock, no_resumption)
                  .value();
  ASSERT_TRUE(channel(full, "bank")->call("credit", Json::object()));
  ASSERT_TRUE(channel(full, "bank")->call("credit", Json::object()));
  EXPECT_EQ(stats(*full).resumed, 0u);
  server.stop();
  serving.join();
}

// --- Denial of service (issue 12, findings 3 and 4): each attack against a server with short
// time-outs, and what it gets.

using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

Ms since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<Ms>(SteadyClock::now() - start);
}

// A TCP connection to 127.0.0.1:port from the loopback address `from` (-1 when refused).
int tcp_from(const std::string& from, int port) {
  return tcp_connect_from(from, "127.0.0.1", port);
}

// Whether the server closed fd (end of stream or reset) within `wait`, dropping what it sent.
bool closed_within(int fd, Ms wait) {
  const auto start = SteadyClock::now();
  char sink[4096];
  while (since(start) < wait) {
    pollfd p{fd, POLLIN, 0};
    const int left = static_cast<int>((wait - since(start)).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    if (::read(fd, sink, sizeof sink) <= 0) return true;
  }
  return false;
}

// A TLS client on a raw socket, for requests no well-behaved client sends.
class RawTls {
 public:
  // preamble: bytes sent before the handshake (a balancer's PROXY header).
  RawTls(int port, const std::string& from = "127.0.0.1", const Party* as = nullptr,
         std::string_view preamble = {}) {
    m_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(m_ctx, SSL_VERIFY_NONE, nullptr);
    if (as != nullptr) {
      const auto key_pem = pki::private_key_pem(as->keys.signing);
      BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
      EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
      BIO_free(bio);
      SSL_CTX_use_certificate(m_ctx, as->cert.native());
      SSL_CTX_use_PrivateKey(m_ctx, key);
      EVP_PKEY_free(key);
    }
    m_fd = tcp_from(from, port);
    if (m_fd >= 0 && !preamble.empty()) {
      (void)!::write(m_fd, preamble.data(), preamble.size());
    }
    m_ssl = SSL_new(m_ctx);
    SSL_set_fd(m_ssl, m_fd);
    m_ok = m_fd >= 0 && SSL_connect(m_ssl) == 1;
  }
  ~RawTls() {
    SSL_free(m_ssl);
    if (m_fd >= 0) ::close(m_fd);
    SSL_CTX_free(m_ctx);
  }
  bool ok() const { return m_ok; }
  bool write(std::string_view text) {
    return SSL_write(m_ssl, text.data(), static_cast<int>(text.size())) == static_cast<int>(text.size());
  }
  // Whether the server has closed the connection (it sent its close, or reset it), now.
  bool closed() {
    pollfd p{m_fd, POLLIN, 0};
    if (SSL_pending(m_ssl) == 0 && ::poll(&p, 1, 0) <= 0) return false;
    char sink[4096];
    return SSL_read(m_ssl, sink, sizeof sink) <= 0;
  }
  // The whole answer to what was sent (the server closes after it, or answers within 5 s).
  std::string answer() {
    std::string out;
    char buffer[4096];
    const auto start = SteadyClock::now();
    while (since(start) < Ms(5000)) {
      pollfd p{m_fd, POLLIN, 0};
      if (SSL_pending(m_ssl) == 0 && ::poll(&p, 1, 100) <= 0) continue;
      const int n = SSL_read(m_ssl, buffer, sizeof buffer);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
      if (out.find("\r\n\r\n") != std::string::npos && out.back() == '}') break;
    }
    return out;
  }
  // POSTs body to target; the answer's status and error code.
  std::pair<int, std::string> post(const std::string& target, const std::string& body) {
    write("POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n" + body);
    return status_and_code(answer());
  }
  static std::pair<int, std::string> status_and_code(const std::string& text) {
    if (text.size() < 12) return {0, ""};
    const auto body = text.substr(std::min(text.size(), text.find("\r\n\r\n") + 4));
    return {std::stoi(text.substr(9, 3)),
            Json::parse(body, nullptr, false).value("code", std::string("(none)"))};
  }

 private:
  SSL_CTX* m_ctx = nullptr;
  SSL* m_ssl = nullptr;
  int m_fd = -1;
  bool m_ok = false;
};

Limits quick_timeouts() {
  Limits l;
  l.handshake_timeout = Ms(600);
  l.header_timeout = Ms(600);
  l.body_timeout = Ms(600);
  l.keep_alive_timeout = Ms(5000);
  return l;
}

int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

// Opens a TLS connection to port and sends `opening`, then trickles piece(i) every 100 ms, 40 at
// most (4 s if nobody stops it), until the server closes it: how long that took, none if never.
template <class Piece>
std::optional<Ms> cut_while_trickling(int port, std::string_view opening, const Piece& piece) {
  RawTls slow(port);
  if (!slow.ok() || !slow.write(opening)) {
    ADD_FAILURE() << "could not open a TLS connection to port " << port << " and write to it";
    return std::nullopt;
  }
  const auto start = SteadyClock::now();
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(Ms(100));
    slow.write(piece(i));
    if (slow.closed()) return since(start);
  }
  return std::nullopt;
}

// Slowloris: a header sent a line at a time, each well within any per-read time-out, is cut off
// when the header's own time-out runs out, however fast the lines come.
TEST_F(NetTest, AHeaderSentALineAtATimeIsCutOff) {
  const auto url = serve(m_center, {Role::wallet}, false, "ca", {}, {"trust"}, quick_timeouts());
  const auto cut = cut_while_trickling(port_of(url), "POST /v1/ca/trust HTTP/1.1\r\n", [](int i) {
    return "X-Slow-" + std::to_string(i) + ": y\r\n";
  });
  ASSERT_TRUE(cut.has_value());
  EXPECT_LT(*cut, Ms(2000));
  EXPECT_GE(*cut, Ms(400));
  EXPECT_EQ(m_echo.calls, 0);
}

// A ClientHello sent one byte at a time is cut off when the handshake's time-out runs out.
TEST_F(NetTest, AClientHelloSentAByteAtATimeIsCutOff) {
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center}, {}, quick_timeouts());
  const int fd = tcp_from("127.0.0.1", port_of(url));
  ASSERT_GE(fd, 0);
  const auto start = SteadyClock::now();
  const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
  bool cut = false;
  for (std::size_t i = 0; i + 1 < sizeof hello && !cut; ++i) {
    (void)::send(fd, hello + i, 1, MSG_NOSIGNAL);
    cut = closed_within(fd, Ms(200));
  }
  if (!cut) cut = closed_within(fd, Ms(2000));
  EXPECT_TRUE(cut);
  EXPECT_LT(since(start), Ms(2000));
  ::close(fd);
}

// A body that trickles in is cut off at the body's time-out; a POST with no Content-Length is
// answered at once (411, malformed) and the connection closed: it holds nothing.
TEST_F(NetTest, ASlowBodyIsCutOffAndAPostWithoutLengthHoldsNothing) {
  const auto url = serve(m_center, {Role::wallet}, false, "ca", {}, {"trust"}, quick_timeouts());
  const auto cut = cut_while_trickling(
      port_of(url), "POST /v1/ca/trust HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
      [](int) { return " "; });
  EXPECT_TRUE(cut.has_value());
  if (cut) {
    EXPECT_LT(*cut, Ms(2000));
  }
  RawTls no_length(port_of(url));
  ASSERT_TRUE(no_length.ok());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(no_length.write("POST /v1/ca/trust HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto [status, code] = RawTls::status_and_code(no_length.answer());
  EXPECT_EQ(status, 411);
  EXPECT_EQ(code, "malformed");
  EXPECT_LT(since(start), Ms(500));
  bool closed = false;
  for (int i = 0; i < 50 && !(closed = no_length.closed()); ++i) std::this_thread::sleep_for(Ms(20));
  EXPECT_TRUE(closed);
  EXPECT_EQ(m_echo.calls, 0);
}

// Connections over the cap for one source address, or over the total, are closed as they come,
// before any handshake; another address still gets in while one is at its cap.
TEST_F(NetTest, ConnectionsAreCappedPerSourceAndInAll) {
  Limits capped;
  capped.max_connections_per_source = 3;
  capped.max_connections = 6;
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center}, {}, capped);
  const int port = port_of(url);
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(tcp_from("127.0.0.2", port));
  for (const int fd : held) ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(Ms(100));  // accepted, and counted
  const int over = tcp_from("127.0.0.2", port);
  ASSERT_GE(over, 0);  // the kernel accepts; the server closes it at once, unread
  EXPECT_TRUE(closed_within(over, Ms(1000)));
  ::close(over);
  for (const int fd : held) EXPECT_FALSE(closed_within(fd, Ms(0)));
  // From 127.0.0.1, a caller still gets its answer.
  auto answer = call(url, &m_center, Role::bank, "bank", "credit");
  EXPECT_TRUE(answer) << answer.error().to_string();
  // Three more from 127.0.0.3 fill the total: now even 127.0.0.1 is closed at once. (First the
  // caller's connection is let go: the server's close of it may take up to a second.)
  std::this_thread::sleep_for(Ms(1200));
  for (int i = 0; i < 3; ++i) held.push_back(tcp_from("127.0.0.3", port));
  std::this_thread::sleep_for(Ms(100));
  const int full = tcp_from("127.0.0.1", port);
  EXPECT_TRUE(closed_within(full, Ms(1000)));
  ::close(full);
  for (const int fd : held) ::close(fd);
  std::this_thread::sleep_for(Ms(200));  // the slots are given back
  EXPECT_TRUE(call(url, &m_center, Role::bank, "bank", "credit"));
}

// What HAProxy sends first with send-proxy-v2: a TCP over IPv4 client at `client`, port 40000,
// to 127.0.0.1:443.
std::string proxy_v2(const std::string& client) {
  std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
  header += '\x21';  // version 2, PROXY
  header += '\x11';  // TCP over IPv4
  header += std::string("\0\x0c", 2);
  in_addr source{}, destination{};
  inet_pton(AF_INET, client.c_str(), &source);
  inet_pton(AF_INET, "127.0.0.1", &destination);
  header.append(reinterpret_cast<const char*>(&source), 4);
  header.append(reinterpret_cast<const char*>(&destination), 4);
  header += std::string("\x9c\x40\x01\xbb", 4);
  return header;
}

// Behind a load balancer (here 127.0.0.1 plays HAProxy), a connection is counted as the client
// the balancer's PROXY v2 header names: one client at its cap does not shut out another behind
// the same balancer. A connection from the balancer without the header, or a header from any
// other address, gets nowhere: a client cannot claim someone else's address.
TEST_F(NetTest, ABalancersProxyHeaderNamesTheClient) {
  Limits behind = quick_timeouts();
  behind.max_connections_per_source = 2;
  behind.proxy_from = {"127.0.0.1"};
  const auto url = serve(m_bank, {Role::center}, true, "bank", {Role::center}, {}, behind);
  const int port = port_of(url);
  RawTls first(port, "127.0.0.1", &m_center, proxy_v2("10.0.0.1"));
  RawTls second(port, "127.0.0.1", &m_center, proxy_v2("10.0.0.1"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first.post("/v1/bank/credit", "{}").first, 200);
  RawTls third(port, "127.0.0.1", &m_center, proxy_v2("10.0.0.1"));
  EXPECT_FALSE(third.ok());  // 10.0.0.1 is at its cap
  RawTls other(port, "127.0.0.1", &m_center, proxy_v2("10.0.0.2"));
  EXPECT_TRUE(other.ok());
  EXPECT_EQ(other.post("/v1/bank/credit", "{}").first, 200);
  RawTls bare(port, "127.0.0.1", &m_center);
  EXPECT_FALSE(bare.ok());  // the balancer's own connection must say whom it carries
  RawTls claiming(port, "127.0.0.2", &m_center, proxy_v2("10.0.0.3"));
  EXPECT_FALSE(claiming.ok());  // not the balancer: its header is no TLS
  RawTls direct(port, "127.0.0.2", &m_center);
  EXPECT_TRUE(direct.ok());  // a client that is not behind the balancer still connects
}

// Open routes are rate-limited per source address: over the limit a caller gets 429 and
// rate_limited; another address has its own allowance; a certificate lifts the limit only
// where the route says so (not on enrolment).
TEST_F(NetTest, OpenRoutesAreRateLimitedPerSourceAddress) {
  Server server(m_center.identity(), PeerPolicy{m_trust.get(), {Role::wallet}, false}, m_clock);
  server.mount("ca", m_echo, {}, {"trust", "enrol"}, {{"trust", {256, 3}}, {"enrol", {4096, 2, true}}});
  const auto url = "https://127.0.0.1:" + std::to_string(server.bind("127.0.0.1", 0).value());
  std::thread serving([&] { server.run(); });
  for (int i = 0; i < 3; ++i) {
    auto fine = call(url, nullptr, Role::center, "ca", "trust");
    ASSERT_TRUE(fine) << i << ": " << fine.error().to_string();
  }
  auto limited = call(url, nullptr, Role::center, "ca", "trust");
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code, ErrorCode::rate_limited) << limited.error().message;
  EXPECT_EQ(http_status(ErrorCode::rate_limited), 429);
  {
    RawTls raw(port_of(url));
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(raw.post("/v1/ca/trust", "{}"), (std::pair<int, std::string>{429, "rate_limited"}));
  }
  {
    RawTls elsewhere(port_of(url), "127.0.0.2");
    ASSERT_TRUE(elsewhere.ok());
    EXPECT_EQ(elsewhere.post("/v1/ca/trust", "{}").first, 200);
  }
  // A device with a certificate is not held to the anonymous limit on trust...
  EXPECT_TRUE(call(url, &m_wallet, Role::center, "ca", "trust"));
  // ...but it is on enrolment.
  EXPECT_TRUE(call(url, &m_wallet, Role::center, "ca", "enrol"));
  EXPECT_TRUE(call(url, nullptr, Role::center, "ca", "enrol"));
  auto enrol = call(url, &m_wallet, Role::center, "ca", "enrol");
  ASSERT_FALSE(enrol);
  EXPECT_EQ(enrol.error().code, ErrorCode::rate_limited);
  server.stop();
  serving.join();
}

// Each route has its own body cap, judged on the declared length before the body is read; JSON
// nested too deep or holding too many values is refused before its tree is built.
TEST_F(NetTest, BodyCapsArePerRouteAndJsonIsBounded) {
  Limits facing;
  facing.devices_facing = true;
  Server server(m_center.identity(), PeerPolicy{m_trust.get(), {Role::wallet}, false}, m_clock, facing);
  server.mount("ca", m_echo, {}, {"trust", "enrol"}, {{"trust", {64}}, {"enrol", {64 * 1024}}});
  const auto url = "https://127.0.0.1:" + std::to_string(server.bind("127.0.0.1", 0).value());
  std::thread serving([&] { server.run(); });
  const int port = port_of(url);
  const auto post = [&](const std::string& route, const std::string& body) {
    RawTls raw(port);
    return raw.post("/v1/ca/" + route, body);
  };
  const std::string hundred = "{\"a\":\"" + std::string(92, 'x') + "\"}";
  EXPECT_EQ(post("trust", hundred), (std::pair<int, std::string>{413, "too_large"}));
  EXPECT_EQ(post("enrol", hundred).first, 200);
  {  // a mebibyte declared: refused on the header, before a byte of it is sent
    RawTls raw(port);
    ASSERT_TRUE(raw.write("POST /v1/ca/trust HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"));
    EXPECT_EQ(RawTls::status_and_code(raw.answer()), (std::pair<int, std::string>{413, "too_large"}));
  }
  // [{},{},...]: 5,000 values in 15 KB, within the route's cap, over the values a request may hold.
  std::string many = "[";
  for (int i = 0; i < 5000; ++i) many += i ? ",{}" : "{}";
  many += "]";
  EXPECT_EQ(post("enrol", many), (std::pair<int, std::string>{413, "too_large"}));
  const std::string deep = std::string(33, '[') + std::string(33, ']');
  EXPECT_EQ(post("enrol", deep), (std::pair<int, std::string>{400, "malformed"}));
  EXPECT_EQ(post("enrol", std::string(32, '[') + std::string(32, ']')).first, 200);
  EXPECT_EQ(m_echo.calls, 2);
  server.stop();
  serving.join();
}

TEST(Urls, ParseAndRefuse) {
  EXPECT_EQ(parse_url("https://127.0.0.1:9000").value().port, 9000);
  EXPECT_EQ(parse_url("https://localhost").value().port, 8443);
  EXPECT_EQ(parse_url("https://h:1/").value().host, "h");
  EXPECT_FALSE(parse_url("http://127.0.0.1:9000"));
  EXPECT_FALSE(parse_url("https://h:99999"));
  EXPECT_FALSE(parse_url("https://h:1/path"));
  EXPECT_FALSE(parse_listen("nohost"));
  EXPECT_FALSE(parse_listen("h:x"));
  EXPECT_EQ(parse_listen("127.0.0.1:0").value().port, 0);
}

}  // namespace
}  // namespace ecash::net
