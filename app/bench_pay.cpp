#include "bench_pay.hpp"

#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "base/text_file.hpp"
#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "net/net.hpp"
#include "net/nodes.hpp"
#include "parties/wallet/wallet.hpp"
#include "pki/authority.hpp"
#include "processes.hpp"

namespace ecash::app {
namespace {

namespace fs = std::filesystem;
using protocol::Json;
using pki::Role;
using Steady = std::chrono::steady_clock;

// --- Test data the sandboxes take ---

// A 16-digit card number that passes the Luhn check, one per index.
// The card's holder confirms it before its first deposit (issue 12, finding 6): the sandbox's
// expiry and CVC over the wallet's own route, then the code its card company sent, read from the
// sandbox as the holder's banking app would show it.
Status confirm_card(wallet::Wallet& w, protocol::Channel& center, sandbox::CardCompany& cards,
                    const std::string& card) {
  if (auto ok = w.verify_card(center, std::string(sandbox::kSandboxExpiry),
                              std::string(sandbox::kSandboxCvc));
      !ok) {
    return ok;
  }
  auto code = cards.pending_code(card);
  if (!code) return std::unexpected(code.error());
  return w.confirm_card(center, (*code)["code"].get<std::string>());
}

std::string card_number(long index) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "4%014ld", index % 100000000000000L);
  int sum = 0;
  for (int i = 14; i >= 0; --i) {
    int d = digits[i] - '0';
    if ((14 - i) % 2 == 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return std::string(digits, 15) + static_cast<char>('0' + (10 - sum % 10) % 10);
}

// A German IBAN with valid check digits (ISO 13616 mod 97), one per index.
std::string iban(long index) {
  char bban[32];
  std::snprintf(bban, sizeof bban, "37040044%010ld", index);
  // bban, then "DE00" as digits (D=13, E=14), mod 97.
  const std::string number = std::string(bban) + "131400";
  int mod = 0;
  for (char c : number) mod = (mod * 10 + (c - '0')) % 97;
  char check[8];
  std::snprintf(check, sizeof check, "%02d", 98 - mod);
  return std::string("DE") + check + bban;
}

// --- CPU accounting ---

double cpu_seconds(pid_t pid) {
  const auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// --- The floor: what the cryptography of one payment costs on this machine ---

struct Floor {
  crypto::OperationCounts ops;  // per payment, all parties
  double sign_us = 0, verify_us = 0, seal_us = 0, open_us = 0, handshake_us = 0;
  double cpu_ms = 0;  // per payment
  double payments_per_second = 0;
};

template <class Op>
double microseconds_each(int n, const Op& op) {
  const double start = thread_cpu_seconds();
  for (int i = 0; i < n; ++i) op();
  return (thread_cpu_seconds() - start) * 1e6 / n;
}

class Echo final : public protocol::Endpoint {
 public:
  Result<Json> handle(const protocol::Caller&, std::string_view, const Json& body) override { return body; }
};

// CPU of a full mutual-TLS handshake, both ends: calls on new connections against calls on one
// kept-alive connection, in this process.
double handshake_microseconds() {
  SystemClock clock;
  crypto::SecureRandom random;
  const auto now = clock.now();
  auto ca = pki::CertificateAuthority::create("bench CA", crypto::PartyKeys::generate(), now - 60,
                                              86400, random)
                .value();
  pki::TrustStore trust({ca.certificate(), ca.issue_crl(now - 60, now + 86400).value()});
  const auto identity = [&](Role role) {
    return net::issue_identity(ca, role, now - 60, now + 86400, random);
  };
  Echo echo;
  net::Server server(identity(Role::shop), {&trust, {Role::wallet}}, clock);
  server.mount("shop", echo, {Role::wallet});
  const auto url = "https://127.0.0.1:" + std::to_string(server.bind("127.0.0.1", 0).value());
  std::thread serving([&] { server.run(); });
  const auto wallet = identity(Role::wallet);
  const auto calls = [&](net::Limits limits, int n) {
    auto c = net::connect(url, wallet, {&trust, {Role::shop}}, clock, limits).value();
    auto shop = net::channel(c, "shop");
    (void)shop->call("pay", Json::object());
    const double start = self_cpu_seconds();
    for (int i = 0; i < n; ++i) (void)shop->call("pay", Json{{"i", i}});
    return self_cpu_seconds() - start;
  };
  net::Limits full;
  full.keep_alive = false;
  full.resumption = false;
  constexpr int kCalls = 300;
  const double kept = calls({}, kCalls);
  const double fresh = calls(full, kCalls);
  server.stop();
  serving.join();
  return std::max(0.0, fresh - kept) * 1e6 / kCalls;
}

// Counts the public-key operations of one payment, every party in this process on its own store
// (the same code as over the network), and times each operation here.
Result<Floor> measure_floor(const fs::path& dir, bool full_handshake) {
  SystemClock clock;
  crypto::SecureRandom random;
  const auto eur = Currency::from_code("EUR").value();
  fs::create_directories(dir);
  auto op = local::LocalOperator::open((dir / "op").string(), eur, clock, random);
  if (!op) return std::unexpected(op.error());
  auto& o = **op;
  const auto money = [&](const char* text) { return Amount::parse(text, eur).value(); };
  if (auto ok = o.open_card(card_number(1), money("1000.00")); !ok) return std::unexpected(ok.error());
  if (auto ok = o.open_bank_account(iban(1), "Floor Shop"); !ok) return std::unexpected(ok.error());
  auto shop = shop::Shop::open((dir / "shop").string(), clock, random);
  if (!shop) return std::unexpected(shop.error());
  auto& s = **shop;
  if (auto ok = s.enrol(*o.to_ca("shop"), "Floor Shop", "1 Bench St", iban(1)); !ok) return std::unexpected(ok.error());
  if (auto ok = s.connect(*o.to_center("shop", s.certificate())); !ok) return std::unexpected(ok.error());
  if (auto id = s.register_shop(*o.to_center("shop", s.certificate())); !id) return std::unexpected(id.error());
  o.connect_shop(s);
  auto made = wallet::Wallet::open_in_memory(clock, random);
  if (!made) return std::unexpected(made.error());
  auto& w = **made;
  if (auto ok = w.enrol(*o.to_ca("wallet"), "Floor", "1 Bench St", card_number(1)); !ok) return std::unexpected(ok.error());
  auto center = o.to_center("wallet", w.certificate());
  if (auto ok = w.connect(*center); !ok) return std::unexpected(ok.error());
  if (auto ok = confirm_card(w, *center, o.card_company(), card_number(1)); !ok) return std::unexpected(ok.error());
  if (auto ok = w.deposit(*center, money("100.00")); !ok) return std::unexpected(ok.error());
  auto to_shop = o.to_shop(s, "wallet", w.certificate());
  const auto pay_one = [&]() -> Status {
    auto order = s.create_order(money("1.00"), "bench");
    if (!order) return std::unexpected(order.error());
    auto paid = w.pay(*to_shop, *order, nullptr);
    if (!paid) return std::unexpected(paid.error());
    return {};
  };
  for (int i = 0; i < 3; ++i) {  // caches warm, as in a steady run
    if (auto ok = pay_one(); !ok) return std::unexpected(ok.error());
  }
  // Orders are made outside the path (the generator pays orders made beforehand).
  auto order = s.create_order(money("1.00"), "bench");
  if (!order) return std::unexpected(order.error());
  const auto before = crypto::operation_counts();
  if (auto paid = w.pay(*to_shop, *order, nullptr); !paid) return std::unexpected(paid.error());
  const auto after = crypto::operation_counts();
  Floor f;
  f.ops = {after.signs - before.signs, after.verifies - before.verifies, after.seals - before.seals,
           after.opens - before.opens};

  const auto keys = crypto::PartyKeys::generate();
  crypto::CanonicalWriter statement(crypto::Purpose::test_statement);
  statement.bytes(Bytes(200, 7));
  const auto signature = keys.signing.sign(statement);
  const Bytes plain(200, 9);
  const auto sealed = crypto::seal(keys.sealing.public_key(), plain);
  constexpr int kEach = 3000;
  f.sign_us = microseconds_each(kEach, [&] { (void)keys.signing.sign(statement); });
  f.verify_us = microseconds_each(kEach, [&] { (void)crypto::verify(keys.signing.verify_key(), statement, signature); });
  f.seal_us = microseconds_each(kEach, [&] { (void)crypto::seal(keys.sealing.public_key(), plain); });
  f.open_us = microseconds_each(kEach, [&] { (void)keys.sealing.open(sealed); });
  if (full_handshake) f.handshake_us = handshake_microseconds();
  f.cpu_ms = (static_cast<double>(f.ops.signs) * f.sign_us + static_cast<double>(f.ops.verifies) * f.verify_us +
              static_cast<double>(f.ops.seals) * f.seal_us + static_cast<double>(f.ops.opens) * f.open_us +
              f.handshake_us) /
             1000;
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  f.payments_per_second = f.cpu_ms > 0 ? cores * 1000 / f.cpu_ms : 0;
  return f;
}

// --- The run ---

// A progress line on a terminal.
class Progress {
 public:
  explicit Progress(std::string what, long total)
      : m_what(std::move(what)), m_total(total), m_tty(isatty(STDERR_FILENO) == 1), m_start(Steady::now()) {}
  void show(long done) {
    if (!m_tty) return;
    const auto now = Steady::now();
    if (done < m_total && now - m_last < std::chrono::milliseconds(200)) return;
    m_last = now;
    const double seconds = std::chrono::duration<double>(now - m_start).count();
    const int width = 30;
    const int filled = m_total > 0 ? static_cast<int>(width * done / m_total) : width;
    std::fprintf(stderr, "\r  %-12s [%s%s] %ld/%ld  %.0f/s   ", m_what.c_str(),
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), done, m_total,
                 seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
    if (done >= m_total) std::fprintf(stderr, "\n");
  }

 private:
  std::string m_what;
  long m_total;
  bool m_tty;
  Steady::time_point m_start, m_last;
};

// Runs work(i) for i in [0, n) on `threads` threads, showing progress.
template <class Work>
void in_parallel(const std::string& what, long n, int threads, const Work& work) {
  std::atomic<long> next{0}, done{0};
  Progress progress(what, n);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (long i; (i = next++) < n;) {
        work(i);
        ++done;
      }
    });
  }
  while (done < n) {
    progress.show(done);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (next >= n && done >= n) break;
  }
  for (auto& t : pool) t.join();
  progress.show(n);
}

// TLS connections from another loopback address that finish their handshake and then send
// nothing: the idle devices a server must not let stall the others.
class IdleConnections {
 public:
  Status open(const std::string& url, const std::string& from, int count) {
    auto address = net::parse_url(url);
    if (!address) return std::unexpected(address.error());
    m_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(m_ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(m_ctx, SSL_VERIFY_NONE, nullptr);
    for (int i = 0; i < count; ++i) {
      const int fd = net::tcp_connect_from(from, address->host, address->port);
      if (fd < 0) {
        return fail(ErrorCode::unavailable, "cannot connect from " + from + " to " + url);
      }
      SSL* ssl = SSL_new(m_ctx);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        ::close(fd);
        return fail(ErrorCode::unavailable, "an idle connection's handshake failed");
      }
      m_links.push_back({fd, ssl});
    }
    return {};
  }
  ~IdleConnections() {
    for (auto& [fd, ssl] : m_links) {
      SSL_free(ssl);
      ::close(fd);
    }
    if (m_ctx != nullptr) SSL_CTX_free(m_ctx);
  }

 private:
  SSL_CTX* m_ctx = nullptr;
  std::vector<std::pair<int, SSL*>> m_links;
};

struct Device {
  std::unique_ptr<wallet::Wallet> wallet;
  std::unique_ptr<protocol::Channel> till;
  int shop = 0;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

// A port no one on loopback listens on now (for a program that takes its port from a file).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

class Bench {
 public:
  Bench(const BenchOptions& options, fs::path dir)
      : m_options(options), m_dir(std::move(dir)), m_processes(m_dir),
        m_eur(Currency::from_code("EUR").value()) {}

  int run() {
    auto amount = Amount::parse(m_options.amount, m_eur);
    if (!amount || !amount->is_positive()) return stop("--amount must be a positive EUR amount");
    m_amount = *amount;
    std::cout << "ecash bench pay: " << m_options.payments << " payments from " << m_options.wallets
              << " wallets to " << m_options.shops << (m_options.shops == 1 ? " shop" : " shops") << ", "
              << (m_options.rate > 0 ? "open loop at " + std::to_string(static_cast<long>(m_options.rate)) + "/s"
                                     : "closed loop")
              << ", concurrency " << m_options.concurrency << ", "
              << (full_handshake() ? "a full handshake per payment" : "connections kept alive")
              << ", operator "
              << (m_options.nodes > 1 ? "one process per role, " + std::to_string(m_options.nodes) +
                                            " center and bank nodes behind HAProxy"
                  : apart()            ? "one process per role"
                                       : "in one process")
              << (m_options.users > 0 ? ", " + std::to_string(m_options.users) + " more users" : "")
              << "\n  files in " << m_dir.string() << "\n";

    auto floor = measure_floor(m_dir / "floor", full_handshake());
    if (!floor) return stop("measuring the floor: " + floor.error().to_string());
    m_floor = *floor;
    if (!m_options.answered.empty()) {
      m_answered.open(m_options.answered, std::ios::trunc);
      if (!m_answered) return stop("cannot write " + m_options.answered);
    }
    if (auto ok = make_operator(); !ok) return stop(ok.error().to_string());
    if (auto ok = start_operator(); !ok) return stop(ok.error().to_string());
    if (auto ok = make_shops(); !ok) return stop(ok.error().to_string());
    if (auto ok = make_wallets(); !ok) return stop(ok.error().to_string());
    IdleConnections idle;
    if (m_options.idle > 0) {
      if (auto ok = idle.open(m_operator_url, m_options.idle_from, m_options.idle); !ok) {
        return stop(ok.error().to_string());
      }
      std::cout << "  " << m_options.idle << " idle TLS connections held open to the operator from "
                << m_options.idle_from << "\n";
    }
    // Every wallet pays once first: connections up, caches warm.
    in_parallel("warm-up", static_cast<long>(m_devices.size()), m_options.concurrency,
                [&](long i) { (void)pay(m_devices[static_cast<std::size_t>(i)]); });
    measure();
    report();
    m_processes.stop_all();
    return m_failed == 0 ? 0 : 1;
  }

 private:
  bool full_handshake() const { return m_options.handshake == "full"; }
  bool apart() const { return m_options.roles == "apart"; }
  std::string op_dir() const { return (m_dir / "op").string(); }

  int stop(const std::string& why) {
    std::cerr << "ecash bench: " << why << "\n";
    for (const auto& b : m_processes.background()) {
      std::cerr << "--- " << b.name << ".log\n" << m_processes.log(b.name);
    }
    return 1;
  }

  // The operator's files, its sandbox cards and accounts, and the extra users, made in this
  // process through the same code the operator runs.
  Status make_operator() {
    std::vector<std::string> init_args = {"operator", "init", "--data", op_dir()};
    if (!m_options.store.empty()) init_args.insert(init_args.end(), {"--store", m_options.store});
    auto init = m_processes.run(init_args);
    if (init.status != 0) return fail(ErrorCode::internal, "operator init: " + init.err);
    auto opened = local::LocalOperator::open(op_dir(), m_eur, m_clock, m_random,
                                             {.resume = false, .store_server = m_options.store});
    if (!opened) return std::unexpected(opened.error());
    auto& op = **opened;
    const auto limit = Amount::parse("1000000000.00", m_eur).value();
    const long cards = m_options.wallets + m_options.users;
    std::atomic<bool> failed{false};
    in_parallel("cards", cards, 8, [&](long i) {
      if (!op.open_card(card_number(i), limit)) failed = true;
    });
    for (int i = 0; i < m_options.shops; ++i) {
      if (auto ok = op.open_bank_account(iban(i), "Bench Shop " + std::to_string(i)); !ok) return ok;
    }
    if (failed) return fail(ErrorCode::internal, "could not open the sandbox cards");
    if (m_options.users > 0) {
      const auto deposit = Amount::parse("10.00", m_eur).value();
      std::atomic<long> refused{0};
      in_parallel("users", m_options.users, 4, [&](long i) {
        const long card = m_options.wallets + i;
        auto w = wallet::Wallet::open_in_memory(m_clock, m_random);
        if (!w || !(*w)->enrol(*op.to_ca("user"), "User " + std::to_string(card), "Bench St", card_number(card))) {
          ++refused;
          return;
        }
        auto center = op.to_center("user", (*w)->certificate());
        if (!(*w)->connect(*center) || !confirm_card(**w, *center, op.card_company(), card_number(card)) ||
            !(*w)->deposit(*center, deposit)) {
          ++refused;
        }
      });
      if (refused > 0) return fail(ErrorCode::internal, std::to_string(refused.load()) + " users could not be made");
    }
    return {};
  }

  Status start_operator() {
    const std::vector<std::string> data{"--data", op_dir()};
    if (m_options.nodes > 1) {
      if (auto ok = start_nodes(); !ok) return ok;
    } else if (!apart()) {
      // Every wallet here enrols from 127.0.0.1: no enrolment rate limit.
      auto url = m_processes.start("operator", {"operator", "run", "--data", op_dir(), "--listen", "127.0.0.1:0",
                                                "--enrol-limit", "0", "--open-limit", "0"},
                                   m_dir / "op" / "center" / "listening");
      if (!url) return std::unexpected(url.error());
      m_operator_url = *url;
      m_servers.push_back({"operator", m_processes.background().back().pid});
    } else {
      for (const char* role : {"ca", "bank", "clearing", "center"}) {
        auto url = m_processes.start(role, {"operator", "run", "--data", op_dir(), "--role", role, "--listen", "127.0.0.1:0",
                                            "--enrol-limit", "0", "--open-limit", "0"},
                                     m_dir / "op" / role / "listening");
        if (!url) return std::unexpected(url.error());
        m_servers.push_back({role, m_processes.background().back().pid});
        if (std::string(role) == "center") m_operator_url = *url;
      }
    }
    auto anchor = net::read_trust(op_dir());
    if (!anchor) return std::unexpected(anchor.error());
    m_trust = std::make_unique<pki::TrustStore>(*anchor);
    std::cout << "  operator at " << m_operator_url << "\n";
    return {};
  }

  // Several nodes (issue 13): the CA and clearing once, --nodes bank nodes and --nodes center
  // nodes, and HAProxy (TCP, send-proxy-v2, round robin) in front of the center nodes: the tills
  // and wallets reach the operator through it.
  Status start_nodes() {
    for (const char* role : {"ca", "clearing"}) {
      auto url = m_processes.start(role, {"operator", "run", "--data", op_dir(), "--role", role, "--listen", "127.0.0.1:0"},
                                   m_dir / "op" / role / "listening");
      if (!url) return std::unexpected(url.error());
      m_servers.push_back({role, m_processes.background().back().pid});
    }
    std::string backends;
    for (const char* role : {"bank", "center"}) {
      for (int k = 1; k <= m_options.nodes; ++k) {
        const std::string node = role[0] + std::to_string(k);
        std::vector<std::string> args{"operator", "run", "--data", op_dir(), "--role", role, "--node", node,
                                      "--listen", "127.0.0.1:0", "--enrol-limit", "0", "--open-limit", "0"};
        if (std::string(role) == "center") args.insert(args.end(), {"--proxy-from", "127.0.0.1"});
        auto url = m_processes.start(std::string(role) + "-" + node, args,
                                     m_dir / "op" / role / "nodes" / node / "listening");
        if (!url) return std::unexpected(url.error());
        m_servers.push_back({role, m_processes.background().back().pid});
        if (std::string(role) == "center") {
          backends += "  server " + node + " " + url->substr(url->find("://") + 3) + " send-proxy-v2\n";
        }
      }
    }
    const int port = free_port();
    const auto config = m_dir / "haproxy.cfg";
    std::ofstream(config) << "global\n  maxconn 4000\n"
                          << "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 120s\n"
                          << "  timeout server 120s\n  retries 3\n  option redispatch\n"
                          << "frontend devices\n  bind 127.0.0.1:" << port << "\n  default_backend centers\n"
                          << "backend centers\n  balance roundrobin\n" << backends;
    if (auto ok = m_processes.start_program("haproxy", "haproxy", {"-db", "-f", config.string()}, port); !ok) {
      return fail(ok.error().code, ok.error().message + " (is haproxy installed? scripts/install-deps.sh installs it)");
    }
    m_servers.push_back({"balancer", m_processes.background().back().pid});
    m_operator_url = "https://127.0.0.1:" + std::to_string(port);
    return {};
  }

  // Shops enrol and register through the command line, run their tills, and get their orders
  // made beforehand (through their own stores, as `shop order` does).
  Status make_shops() {
    // Wallet i pays shop i mod shops, so a shop has up to `most` wallets. Each of the
    // `concurrency` threads pays about payments / concurrency, shared by its own wallets (wallets
    // t, t + concurrency, ...): at least wallets / concurrency of them (half as much again:
    // threads run at different speeds).
    const long most = (m_options.wallets + m_options.shops - 1) / m_options.shops;
    const long threads = std::min<long>(m_options.concurrency, m_options.wallets);
    const long fewest = threads * (m_options.wallets / threads);
    const long per_wallet = (m_options.payments + fewest - 1) / fewest;
    const long per_shop = most * per_wallet * 3 / 2 + m_options.wallets + 1;
    m_orders.resize(static_cast<std::size_t>(m_options.shops));
    m_next_order = std::vector<std::atomic<long>>(static_cast<std::size_t>(m_options.shops));
    for (int i = 0; i < m_options.shops; ++i) {
      const auto home = (m_dir / ("shop-" + std::to_string(i))).string();
      auto init = m_processes.run({"shop", "init", "--home", home, "--operator", m_operator_url, "--name",
                                   "Bench Shop " + std::to_string(i), "--account", iban(i)});
      if (init.status != 0) return fail(ErrorCode::internal, "shop init: " + init.err);
      // A till's threads sized to its share of the payments under way at once.
      const int share = std::max(1, 2 * m_options.concurrency / m_options.shops);
      std::vector<std::string> run = {"shop", "run", "--home", home};
      if (m_options.shops > 1) {
        run.insert(run.end(), {"--io-threads", "1", "--workers", std::to_string(std::min(share, 32))});
      }
      auto url = m_processes.start("till-" + std::to_string(i), run, fs::path(home) / "listening");
      if (!url) return std::unexpected(url.error());
      m_servers.push_back({"tills", m_processes.background().back().pid});
      m_till_urls.push_back(*url);
      auto shop = shop::Shop::open(home, m_clock, m_random);
      if (!shop) return std::unexpected(shop.error());
      m_shop_pins.push_back((*shop)->certificate()->fingerprint());
      auto& orders = m_orders[static_cast<std::size_t>(i)];
      orders.resize(static_cast<std::size_t>(per_shop));
      std::atomic<bool> failed{false};
      in_parallel("orders", per_shop, 4, [&](long k) {
        auto order = (*shop)->create_order(m_amount, "bench item");
        if (order) orders[static_cast<std::size_t>(k)] = std::move(*order);
        else failed = true;
      });
      if (failed) return fail(ErrorCode::internal, "could not make the orders");
    }
    std::cout << "  " << m_options.shops << (m_options.shops == 1 ? " till" : " tills") << " running, "
              << per_shop * m_options.shops << " orders made\n";
    return {};
  }

  // Wallets in this process: each enrols over the network with its own keys, deposits, and has
  // its own TLS connection to its shop's till.
  Status make_wallets() {
    m_devices.resize(static_cast<std::size_t>(m_options.wallets));
    // Twice what an even share needs: threads run at different speeds.
    const long each = 2 * (m_options.payments / m_options.wallets) + 10;
    const auto deposit = Amount::from_minor(m_eur, m_amount.minor() * each).value();
    net::Limits till_limits;
    if (full_handshake()) {
      till_limits.keep_alive = false;
      till_limits.resumption = false;
    }
    std::atomic<long> failed{0};
    std::string first_error;
    std::mutex error_mutex;
    in_parallel("wallets", m_options.wallets, std::min(m_options.concurrency, 8), [&](long i) {
      auto made = make_wallet(i, deposit, till_limits);
      if (!made) {
        ++failed;
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = made.error().to_string();
        return;
      }
      m_devices[static_cast<std::size_t>(i)] = std::move(*made);
    });
    if (failed > 0) return fail(ErrorCode::internal, std::to_string(failed.load()) + " wallets failed: " + first_error);
    return {};
  }

  Result<Device> make_wallet(long i, const Amount& deposit, const net::Limits& till_limits) {
    auto w = wallet::Wallet::open_in_memory(m_clock, m_random);
    if (!w) return std::unexpected(w.error());
    auto anonymous = net::connect(m_operator_url, std::nullopt, {m_trust.get(), {Role::center}}, m_clock);
    if (!anonymous) return std::unexpected(anonymous.error());
    if (auto ok = (*w)->enrol(*net::channel(*anonymous, "ca"), "Wallet " + std::to_string(i), "Bench St",
                              card_number(i));
        !ok) {
      return std::unexpected(ok.error());
    }
    const net::TlsIdentity identity{*(*w)->certificate(), pki::private_key_pem((*w)->keys().signing)};
    auto link = net::connect(m_operator_url, identity, {m_trust.get(), {Role::center}}, m_clock);
    if (!link) return std::unexpected(link.error());
    auto center = net::channel(*link, "center");
    if (auto ok = (*w)->connect(*center); !ok) return std::unexpected(ok.error());
    auto* cards = sandbox_cards();
    if (cards == nullptr) return fail(ErrorCode::internal, "could not open the sandbox card company");
    if (auto ok = confirm_card(**w, *center, *cards, card_number(i)); !ok) return std::unexpected(ok.error());
    if (auto ok = (*w)->deposit(*center, deposit); !ok) return std::unexpected(ok.error());
    const int shop = static_cast<int>(i % m_options.shops);
    net::PeerPolicy till{m_trust.get(), {Role::shop}};
    till.pinned_fingerprint = m_shop_pins[static_cast<std::size_t>(shop)];
    auto to_till = net::connect(m_till_urls[static_cast<std::size_t>(shop)], identity, till, m_clock, till_limits);
    if (!to_till) return std::unexpected(to_till.error());
    return Device{std::move(*w), net::channel(*to_till, "shop"), shop};
  }

  // One payment by device d of its shop's next order. A refused one (the operator's database
  // switching over, say) counts as failed, by its error code, and the run goes on; an answered
  // one is written to --answered with the time of its answer.
  bool pay(Device& d) {
    auto& next = m_next_order[static_cast<std::size_t>(d.shop)];
    const auto& orders = m_orders[static_cast<std::size_t>(d.shop)];
    const long k = next++;
    if (k >= static_cast<long>(orders.size())) {
      std::lock_guard lock(m_errors_mutex);
      ++m_failed_by_code["no_orders_left"];
      return false;
    }
    const auto& order = orders[static_cast<std::size_t>(k)];
    auto paid = d.wallet->pay(*d.till, order, nullptr);
    if (!paid) {
      std::lock_guard lock(m_errors_mutex);
      ++m_failed_by_code[std::string(to_string(paid.error().code))];
      if (m_errors.size() < 5) m_errors.push_back(paid.error().to_string());
      return false;
    }
    if (m_answered.is_open()) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      std::lock_guard lock(m_answered_mutex);
      m_answered << order["request"]["order_id"].get<std::string>() << '\t' << ms << std::endl;
    }
    return true;
  }

  void measure() {
    std::vector<double> before;
    for (const auto& s : m_servers) before.push_back(cpu_seconds(s.pid));
    const double generator_before = self_cpu_seconds();
    const long n = m_options.payments;
    std::vector<double> latencies(static_cast<std::size_t>(n), 0);
    std::atomic<long> next{0}, done{0}, failed{0};
    const auto start = Steady::now();
    std::vector<std::thread> pool;
    const int threads = m_options.concurrency;
    if (m_options.rate <= 0) {
      // Closed loop: each thread drives its own wallets, one payment at a time.
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          std::size_t mine = static_cast<std::size_t>(t);
          for (long i; (i = next++) < n;) {
            auto& d = m_devices[mine];
            mine += static_cast<std::size_t>(threads);
            if (mine >= m_devices.size()) mine = static_cast<std::size_t>(t);
            const auto began = Steady::now();
            if (!pay(d)) ++failed;
            latencies[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::milli>(Steady::now() - began).count();
            ++done;
          }
        });
      }
    } else {
      // Open loop: payment i is due at start + i/rate, whatever came before; its latency counts
      // from when it was due. Wallets are lent from a pool, one payment at a time each.
      for (std::size_t i = 0; i < m_devices.size(); ++i) m_free.push_back(i);
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
          for (long i; (i = next++) < n;) {
            const auto due = start + std::chrono::duration_cast<Steady::duration>(
                                         std::chrono::duration<double>(static_cast<double>(i) / m_options.rate));
            std::this_thread::sleep_until(due);
            std::size_t d;
            {
              std::unique_lock lock(m_free_mutex);
              m_free_cv.wait(lock, [&] { return !m_free.empty(); });
              d = m_free.front();
              m_free.pop_front();
            }
            if (!pay(m_devices[d])) ++failed;
            {
              std::lock_guard lock(m_free_mutex);
              m_free.push_back(d);
            }
            m_free_cv.notify_one();
            latencies[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::milli>(Steady::now() - due).count();
            ++done;
          }
        });
      }
    }
    Progress progress("payments", n);
    while (done < n) {
      progress.show(done);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : pool) t.join();
    progress.show(n);
    m_seconds = std::chrono::duration<double>(Steady::now() - start).count();
    m_generator_cpu = self_cpu_seconds() - generator_before;
    for (std::size_t i = 0; i < m_servers.size(); ++i) {
      m_server_cpu[m_servers[i].name] += cpu_seconds(m_servers[i].pid) - before[i];
    }
    m_failed = failed;
    std::sort(latencies.begin(), latencies.end());
    m_latencies = std::move(latencies);
  }

  void report() {
    const long ok = m_options.payments - m_failed;
    const double pps = m_seconds > 0 ? static_cast<double>(ok) / m_seconds : 0;
    const auto per_payment = [&](double cpu) { return ok > 0 ? cpu * 1000 / static_cast<double>(ok) : 0.0; };
    Json cpu = Json::object();
    double all = 0;
    for (const auto& [name, seconds] : m_server_cpu) {
      cpu[name] = per_payment(seconds);
      all += per_payment(seconds);
    }
    cpu["generator"] = per_payment(m_generator_cpu);
    all += per_payment(m_generator_cpu);
    const auto books = m_processes.run({"operator", "report", "--data", op_dir(), "--json"});
    const Json figures = Json::parse(books.out, nullptr, false);
    const bool balanced = !figures.is_discarded() && figures.value("balanced", false);
    Json out = {{"payments", m_options.payments},
                {"failed", m_failed},
                {"seconds", m_seconds},
                {"payments_per_second", pps},
                {"p50_ms", percentile(m_latencies, 0.50)},
                {"p90_ms", percentile(m_latencies, 0.90)},
                {"p99_ms", percentile(m_latencies, 0.99)},
                {"max_ms", m_latencies.empty() ? 0.0 : m_latencies.back()},
                {"cpu_ms_per_payment", cpu},
                {"cpu_ms_per_payment_all", all},
                {"floor_cpu_ms_per_payment", m_floor.cpu_ms},
                {"floor_payments_per_second", m_floor.payments_per_second},
                {"floor_share", m_floor.payments_per_second > 0 ? pps / m_floor.payments_per_second : 0},
                {"crypto_per_payment",
                 {{"signs", m_floor.ops.signs}, {"verifies", m_floor.ops.verifies},
                  {"seals", m_floor.ops.seals}, {"opens", m_floor.ops.opens},
                  {"sign_us", m_floor.sign_us}, {"verify_us", m_floor.verify_us},
                  {"seal_us", m_floor.seal_us}, {"open_us", m_floor.open_us},
                  {"handshake_us", m_floor.handshake_us}}},
                {"failed_by_code", m_failed_by_code},
                {"books_balanced", balanced},
                {"options",
                 {{"wallets", m_options.wallets}, {"concurrency", m_options.concurrency},
                  {"rate", m_options.rate}, {"handshake", m_options.handshake},
                  {"shops", m_options.shops}, {"users", m_options.users}, {"roles", m_options.roles}, {"nodes", m_options.nodes},
                  {"idle", m_options.idle}, {"cores", std::thread::hardware_concurrency()}}}};
    char line[256];
    std::cout << "\n";
    std::snprintf(line, sizeof line, "  payments/s          %.0f  (%ld in %.1f s, %ld failed)\n", pps, ok,
                  m_seconds, m_failed);
    std::cout << line;
    if (!m_failed_by_code.empty()) {
      std::cout << "  failed by code     ";
      for (const auto& [code, count] : m_failed_by_code) std::cout << " " << code << " " << count;
      std::cout << "\n";
    }
    std::snprintf(line, sizeof line, "  latency ms          p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
                  out["p50_ms"].get<double>(), out["p90_ms"].get<double>(), out["p99_ms"].get<double>(),
                  out["max_ms"].get<double>());
    std::cout << line << "  CPU ms per payment ";
    for (const auto& [name, value] : cpu.items()) {
      std::snprintf(line, sizeof line, " %s %.3f", name.c_str(), value.get<double>());
      std::cout << line;
    }
    std::snprintf(line, sizeof line, "  (all %.3f)\n", all);
    std::cout << line;
    std::snprintf(line, sizeof line,
                  "  floor               %.3f ms of cryptography per payment (%llu signs x %.1f us, "
                  "%llu verifications x %.1f us, %llu seals x %.1f us, %llu opens x %.1f us%s)\n",
                  m_floor.cpu_ms, static_cast<unsigned long long>(m_floor.ops.signs), m_floor.sign_us,
                  static_cast<unsigned long long>(m_floor.ops.verifies), m_floor.verify_us,
                  static_cast<unsigned long long>(m_floor.ops.seals), m_floor.seal_us,
                  static_cast<unsigned long long>(m_floor.ops.opens), m_floor.open_us,
                  full_handshake() ? (", a handshake " + std::to_string(static_cast<int>(m_floor.handshake_us)) + " us").c_str() : "");
    std::cout << line;
    std::snprintf(line, sizeof line, "                      allows %.0f payments/s on %u cores; this run: %.0f%% of it\n",
                  m_floor.payments_per_second, std::thread::hardware_concurrency(),
                  100 * out["floor_share"].get<double>());
    std::cout << line << "  books               " << (balanced ? "balanced" : "NOT BALANCED") << "\n";
    for (const auto& e : m_errors) std::cout << "  error: " << e << "\n";
    if (!m_options.json.empty()) std::ofstream(m_options.json) << out.dump(2) << "\n";
  }

  struct Server {
    std::string name;
    pid_t pid;
  };

  BenchOptions m_options;
  fs::path m_dir;
  Processes m_processes;
  Currency m_eur;
  Amount m_amount = Amount::zero(Currency::from_code("EUR").value());
  SystemClock m_clock;
  crypto::SecureRandom m_random;
  Floor m_floor;
  std::string m_operator_url;
  // The sandbox card company the operator's processes run on op_dir(), opened here (SQLite serves
  // both) to read the codes it sends card holders; once, for every thread making wallets.
  std::once_flag m_cards_once;
  std::unique_ptr<sandbox::CardCompany> m_cards;
  sandbox::CardCompany* sandbox_cards() {
    std::call_once(m_cards_once, [&] {
      auto opened = sandbox::CardCompany::open(op_dir() + "/sandbox/card_company.db", m_clock);
      if (opened) m_cards = std::move(*opened);
    });
    return m_cards.get();
  }
  std::unique_ptr<pki::TrustStore> m_trust;
  std::vector<Server> m_servers;
  std::vector<std::string> m_till_urls, m_shop_pins;
  std::vector<std::vector<Json>> m_orders;
  std::vector<std::atomic<long>> m_next_order;
  std::vector<Device> m_devices;
  std::mutex m_free_mutex;
  std::condition_variable m_free_cv;
  std::deque<std::size_t> m_free;
  std::mutex m_errors_mutex;
  std::vector<std::string> m_errors;
  std::map<std::string, long> m_failed_by_code;  // under m_errors_mutex
  std::mutex m_answered_mutex;
  std::ofstream m_answered;  // --answered: one line per answered payment
  std::vector<double> m_latencies;
  double m_seconds = 0, m_generator_cpu = 0;
  std::map<std::string, double> m_server_cpu;
  long m_failed = 0;
};

}  // namespace

int run_bench_pay(const BenchOptions& options) {
  if (options.wallets < 1 || options.payments < 1 || options.concurrency < 1 || options.shops < 1 ||
      options.concurrency > options.wallets || options.users < 0 || options.idle < 0) {
    std::cerr << "ecash bench: --wallets, --payments, --concurrency and --shops must be positive, "
                 "and --concurrency at most --wallets\n";
    return 2;
  }
  if (options.handshake != "kept" && options.handshake != "full") {
    std::cerr << "ecash bench: --handshake is kept or full\n";
    return 2;
  }
  if (options.roles != "together" && options.roles != "apart") {
    std::cerr << "ecash bench: --roles is together or apart\n";
    return 2;
  }
  if (options.nodes < 1 || (options.nodes > 1 && options.store.empty())) {
    std::cerr << "ecash bench: --nodes is 1 or more, and more than 1 needs --store (the nodes of a role "
                 "share its stores on PostgreSQL)\n";
    return 2;
  }
  const bool keep = options.keep.has_value();
  const fs::path dir = keep ? fs::path(*options.keep)
                            : fs::temp_directory_path() / ("ecash-bench-" + std::to_string(::getpid()));
  if (fs::exists(dir / "op")) {
    std::cerr << "ecash bench: " << dir.string() << " holds an earlier run; give another folder\n";
    return 2;
  }
  fs::create_directories(dir);
  int result = 0;
  {
    Bench bench(options, dir);
    result = bench.run();
  }
  if (!keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return result;
}

}  // namespace ecash::app
