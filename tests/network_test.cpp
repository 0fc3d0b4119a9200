// The real `ecash operator run --role ...` processes on loopback: who gets through to the bank
// and the center's front door, and that everyone else is refused at the TLS or role check (never
// by the bank's own checks of a message), with nothing changed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "net/net.hpp"
#include "net/nodes.hpp"
#include "pki/authority.hpp"

extern char** environ;

namespace ecash {
namespace {

namespace fs = std::filesystem;
using protocol::Json;
using pki::Role;

class OperatorProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ecash-network-XXXXXX";
    ASSERT_NE(mkdtemp(name), nullptr);
    m_dir = name;
    m_data = m_dir + "/op";
    ASSERT_EQ(run({"operator", "init", "--data", m_data}), 0);
    for (const char* role : {"ca", "bank", "clearing", "center"}) {
      start({"operator", "run", "--data", m_data, "--role", role, "--listen", "127.0.0.1:0",
             "--crl-refresh", "1"},
            role);
    }
    for (const char* role : {"ca", "bank", "clearing", "center"}) {
      auto url = net::listening_url(m_data + "/" + role, std::chrono::seconds(30));
      ASSERT_TRUE(url) << url.error().to_string() << "\n" << logs();
      m_urls[role] = *url;
    }
    m_trust = std::make_unique<pki::TrustStore>(net::read_trust(m_data).value());
    auto center = local::load_identity(m_data + "/center", "center").value();
    m_center = net::TlsIdentity{center.certificate, pki::private_key_pem(center.keys.signing)};
  }

  void TearDown() override {
    for (pid_t pid : m_pids) kill(pid, SIGTERM);
    for (pid_t pid : m_pids) {
      int status = 0;
      waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a role did not stop cleanly\n" << logs();
    }
    fs::remove_all(m_dir);
  }

  static int run(std::vector<std::string> args) {
    std::string line = ECASH_BINARY;
    for (const auto& a : args) line += " '" + a + "'";
    return std::system((line + " >/dev/null").c_str());
  }

  void start(std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), ECASH_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    const std::string path = m_dir + "/" + log + ".log";
    posix_spawn_file_actions_addopen(&files, 1, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, ECASH_BINARY, &files, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&files);
    m_pids.push_back(pid);
  }

  std::string logs() const {
    std::string out;
    for (const auto& entry : fs::directory_iterator(m_dir)) {
      if (entry.path().extension() != ".log") continue;
      std::ifstream in(entry.path());
      out += "--- " + entry.path().filename().string() + "\n" +
             std::string(std::istreambuf_iterator<char>(in), {});
    }
    return out;
  }

  Result<Json> call(const std::string& role, std::optional<net::TlsIdentity> as, Role server,
                    const std::string& party, const std::string& route, const Json& body) {
    net::Limits once;
    once.attempts = 1;
    auto c = net::connect(m_urls[role], std::move(as), {m_trust.get(), {server}}, m_clock, once);
    if (!c) return std::unexpected(c.error());
    return net::channel(*c, party)->call(route, body);
  }

  // Keys and a certificate for role from the operator's own CA (the test opens its store too).
  net::TlsIdentity issue(Role role, const std::string& subject, bool revoke = false) {
    auto ca = ca::CaParty::open(m_data + "/ca", "ecash CA", m_clock, m_random).value();
    auto keys = crypto::PartyKeys::generate();
    auto cert = ca->issue_operator(role, subject, keys, {}).value();
    if (revoke) {
      EXPECT_TRUE(ca->revoke(cert.serial()));
    }
    return {cert, pki::private_key_pem(keys.signing)};
  }

  std::string m_dir, m_data;
  std::map<std::string, std::string> m_urls;
  std::vector<pid_t> m_pids;
  std::unique_ptr<pki::TrustStore> m_trust;
  std::optional<net::TlsIdentity> m_center;
  SystemClock m_clock;
  crypto::SecureRandom m_random;
};

// A refusal by the TLS policy or the server's role check: never an answer from the bank's own
// checks of the message (which would mean the request got through).
void expect_refused_at_the_door(const Result<Json>& answer, const std::string& who) {
  ASSERT_FALSE(answer) << who << " got through";
  const auto code = answer.error().code;
  EXPECT_TRUE(code == ErrorCode::unavailable || code == ErrorCode::bad_certificate ||
              code == ErrorCode::untrusted_issuer || code == ErrorCode::certificate_revoked ||
              code == ErrorCode::wrong_role)
      << who << ": " << answer.error().to_string();
}

TEST_F(OperatorProcesses, OnlyTheCenterGetsToTheBank) {
  const Json credit = {{"request", "anything"}};
  auto before = call("bank", m_center, Role::bank, "bank", "report", Json::object());
  ASSERT_TRUE(before) << before.error().to_string() << logs();

  auto wallet = issue(Role::wallet, "a-wallet");
  auto revoked = issue(Role::center, "old-center", true);
  crypto::SecureRandom random;
  auto other_ca = pki::CertificateAuthority::create("ecash CA", crypto::PartyKeys::generate(),
                                                    m_clock.now() - 60, 86400, random)
                      .value();
  auto foreign_keys = crypto::PartyKeys::generate();
  net::TlsIdentity foreign{other_ca.issue({.subject = "center", .role = Role::center,
                                           .verify_key = foreign_keys.signing.verify_key(),
                                           .sealing_key = foreign_keys.sealing.public_key()},
                                          m_clock.now() - 60, m_clock.now() + 86400, random)
                               .value(),
                           pki::private_key_pem(foreign_keys.signing)};
  // The bank learns of the revocation from the CA within a second or two.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));

  expect_refused_at_the_door(call("bank", std::nullopt, Role::bank, "bank", "credit", credit), "no certificate");
  expect_refused_at_the_door(call("bank", foreign, Role::bank, "bank", "credit", credit), "another CA");
  expect_refused_at_the_door(call("bank", revoked, Role::bank, "bank", "credit", credit), "revoked");
  expect_refused_at_the_door(call("bank", wallet, Role::bank, "bank", "credit", credit), "a wallet");

  // The control: the center's own certificate reaches the bank, whose checks then refuse the
  // message itself.
  auto through = call("bank", m_center, Role::bank, "bank", "credit", credit);
  ASSERT_FALSE(through);
  EXPECT_EQ(through.error().code, ErrorCode::malformed) << through.error().to_string();

  auto after = call("bank", m_center, Role::bank, "bank", "report", Json::object());
  ASSERT_TRUE(after);
  EXPECT_EQ(*before, *after);
}

TEST_F(OperatorProcesses, TheFrontDoorTakesDevicesAndRefusesOthers) {
  // Anyone may fetch the CA's certificate and CRL (to pin it), through the center to the CA.
  auto trust = net::fetch_trust_unverified(m_urls["center"]);
  ASSERT_TRUE(trust) << trust.error().to_string();
  EXPECT_EQ(pki::Certificate::from_pem((*trust)["ca"].get<std::string>()).value().fingerprint(),
            m_trust->anchor().ca.fingerprint());
  // Without a certificate only the open routes answer.
  auto closed = call("center", std::nullopt, Role::center, "center", "deposit", Json::object());
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, ErrorCode::bad_certificate);
  // A bank certificate is not a device: refused in the handshake.
  auto bank = local::load_identity(m_data + "/bank", "bank").value();
  expect_refused_at_the_door(
      call("center", net::TlsIdentity{bank.certificate, pki::private_key_pem(bank.keys.signing)},
           Role::center, "center", "deposit", Json::object()),
      "the bank at the front door");
  // A wallet gets in, and the center then judges its message.
  auto wallet = issue(Role::wallet, "a-wallet");
  auto deposit = call("center", wallet, Role::center, "center", "deposit", Json::object());
  ASSERT_FALSE(deposit);
  EXPECT_EQ(deposit.error().code, ErrorCode::malformed) << deposit.error().to_string();
  // The CA itself is not reachable by a device directly.
  expect_refused_at_the_door(call("ca", wallet, Role::ca, "ca", "trust", Json::object()), "a wallet at the CA");
}

// The dashboard's certificate (issue 15), which `operator init` made: each role tells it its
// figures, and nothing else reaches it: not a party's routes, not another admin route; and no
// other certificate asks for figures.
TEST_F(OperatorProcesses, TheAdminCertificateReachesTheFiguresAndNothingElse) {
  auto id = local::load_identity(m_data + "/admin", "admin");
  ASSERT_TRUE(id) << id.error().to_string();
  EXPECT_EQ(id->certificate.role(), Role::admin);
  const net::TlsIdentity admin{id->certificate, pki::private_key_pem(id->keys.signing)};

  auto bank = call("bank", admin, Role::bank, "admin", "figures", Json::object());
  ASSERT_TRUE(bank) << bank.error().to_string() << logs();
  EXPECT_TRUE((*bank)["circulation"]["balanced"].get<bool>());
  EXPECT_EQ((*bank)["circulation"]["figures"]["payments"], 0);
  EXPECT_EQ((*bank)["cases"], Json::array());
  auto center = call("center", admin, Role::center, "admin", "figures", Json::object());
  ASSERT_TRUE(center) << center.error().to_string();
  EXPECT_EQ((*center)["sagas"]["open"], 0);
  EXPECT_EQ((*center)["sagas"]["payouts"], 0);
  auto clearing = call("clearing", admin, Role::clearing, "admin", "figures", Json::object());
  ASSERT_TRUE(clearing) << clearing.error().to_string();
  EXPECT_TRUE((*clearing)["disclosure_log"]["ok"].get<bool>());
  EXPECT_EQ((*clearing)["disclosure_log"]["entries"], 0);

  const Json body = {{"request", "anything"}};
  const std::tuple<const char*, Role, const char*, const char*> elsewhere[] = {
      {"bank", Role::bank, "bank", "pay"},           {"bank", Role::bank, "bank", "credit"},
      {"bank", Role::bank, "bank", "report"},        {"center", Role::center, "center", "pay"},
      {"center", Role::center, "center", "deposit"}, {"clearing", Role::clearing, "clearing", "disclose"},
      {"clearing", Role::clearing, "clearing", "audit"}};
  for (const auto& [role, server, party, route] : elsewhere) {
    const auto who = std::string("the admin certificate at ") + party + "/" + route;
    auto answer = call(role, admin, server, party, route, body);
    expect_refused_at_the_door(answer, who);
    if (!answer) {
      EXPECT_EQ(answer.error().code, ErrorCode::wrong_role) << who << ": " << answer.error().to_string();
    }
  }
  auto other = call("bank", admin, Role::bank, "admin", "report", Json::object());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::not_found);
  expect_refused_at_the_door(call("ca", admin, Role::ca, "ca", "trust", Json::object()), "the admin certificate at the CA");

  // The figures are the admin's alone.
  expect_refused_at_the_door(call("bank", m_center, Role::bank, "admin", "figures", Json::object()),
                             "the center asking the bank for figures");
  auto wallet = issue(Role::wallet, "a-wallet");
  expect_refused_at_the_door(call("center", wallet, Role::center, "admin", "figures", Json::object()),
                             "a wallet asking the center for figures");
}

}  // namespace
}  // namespace ecash
