#include "net/nodes.hpp"

#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <mutex>
#include <thread>
#include <utility>

#include "base/metrics.hpp"
#include "base/text_file.hpp"
#include "crypto/random.hpp"
#include "local/local_operator.hpp"
#include "net/pages.hpp"
#include "parties/admin/dashboard.hpp"
#include "parties/shop/merchant_api.hpp"
#include "parties/common/device.hpp"

namespace ecash::net {

namespace fs = std::filesystem;
using protocol::Json;
using pki::Role;

namespace {

// Written next to the final name and renamed: a reader sees the old file or the new, whole.
Status write_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out) return fail(ErrorCode::io_error, "cannot write " + temporary);
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) return fail(ErrorCode::io_error, "cannot write " + path + ": " + ec.message());
  return {};
}

TlsIdentity tls_identity(const parties::Identity& id) {
  return {id.certificate, pki::private_key_pem(id.keys.signing)};
}

constexpr const char* kFrontDoor = "127.0.0.1:8443";
constexpr const char* kAnyPort = "127.0.0.1:0";

// Blocks SIGINT and SIGTERM in this thread and every thread it starts, so that wait_for_stop
// alone receives them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Serves until a stop signal, calling refresh every `every` and tick (when given) every second.
void serve_until_stopped(Server& server, const sigset_t& signals, std::chrono::seconds every,
                         const std::function<void()>& refresh, const std::function<void()>& tick) {
  std::thread serving([&] { server.run(); });
  auto next = std::chrono::steady_clock::now() + every;
  for (;;) {
    timespec second{1, 0};
    if (sigtimedwait(&signals, nullptr, &second) > 0) break;
    if (tick) tick();
    if (std::chrono::steady_clock::now() >= next) {
      refresh();
      next = std::chrono::steady_clock::now() + every;
    }
  }
  server.stop();
  serving.join();
}

// Binds, announces the URL (folder/listening and a line said), serves, and removes the file.
Status listen_and_serve(Server& server, const NodeOptions& options, const std::string& folder,
                        const std::string& default_listen, const std::string& what,
                        const std::function<void()>& refresh,
                        const std::function<void()>& tick = {}) {
  const sigset_t signals = block_stop_signals();
  if (!metrics::open_access_log(options.access_log)) {
    return fail(ErrorCode::io_error, "cannot open the access log " + options.access_log);
  }
  auto address = parse_listen(options.listen.empty() ? default_listen : options.listen);
  if (!address) return std::unexpected(address.error());
  auto port = server.bind(address->host, address->port);
  if (!port) return std::unexpected(port.error());
  // The metrics on a listener of their own, plain HTTP for a Prometheus server to scrape.
  std::optional<PageServer> scrape;
  const std::string metrics_file = folder + "/metrics";
  if (options.metrics != "off") {
    auto at = parse_listen(options.metrics.empty() ? kAnyPort : options.metrics);
    if (!at) return std::unexpected(at.error());
    scrape.emplace([](std::string_view path) {
      if (path != "/metrics") return Page{404, "text/plain; charset=utf-8", "the metrics are at /metrics\n"};
      return Page{200, "text/plain; version=0.0.4; charset=utf-8", metrics::render()};
    }, PageLimits{.hosts = hosts_of(at->host)});
    auto metrics_port = scrape->start(at->host, at->port);
    if (!metrics_port) return std::unexpected(metrics_port.error());
    const auto url = "http://" + at->host + ":" + std::to_string(*metrics_port) + "/metrics";
    if (auto ok = write_atomically(metrics_file, url + "\n"); !ok) return ok;
    options.say(what + " metrics on " + url);
  }
  const Address bound{address->host, *port};
  const std::string file = folder + "/listening";
  if (auto ok = write_atomically(file, bound.url() + "\n"); !ok) return ok;
  options.say(what + " listening on " + bound.url());
  serve_until_stopped(server, signals, options.crl_refresh, refresh, tick);
  std::error_code ec;
  fs::remove(file, ec);
  if (scrape) {
    scrape->stop();
    fs::remove(metrics_file, ec);
  }
  options.say(what + " stopped");
  return {};
}

// Sagas left open (a party was out of reach, a store failed) are tried again while the center
// runs, each after its back-off.
void resume_sagas(center::Center& center, const NodeOptions& options) {
  auto done = center.resume_due();
  if (done && *done > 0) options.say("center: finished " + std::to_string(*done) + " open requests");
}

// A CRL fetched from the CA ("trust" route) into trust.
void refresh_from_ca(protocol::Channel& ca, pki::TrustStore& trust, const NodeOptions& options) {
  auto answer = ca.call("trust", Json::object());
  if (answer && answer->contains("crl") && (*answer)["crl"].is_string()) {
    auto crl = pki::Crl::from_pem((*answer)["crl"].get<std::string>());
    if (crl && trust.update_crl(*crl, SystemClock().now())) return;
  }
  options.say("warning: could not refresh the CRL from the CA" +
              (answer ? std::string() : ": " + answer.error().to_string()));
}

// The CA's routes, answered by the CA process: the center's front door forwards a device's
// enrolment and trust requests to it.
class Relay final : public protocol::Endpoint {
 public:
  explicit Relay(std::unique_ptr<protocol::Channel> to) : m_to(std::move(to)) {}
  Result<Json> handle(const protocol::Caller&, std::string_view route, const Json& body) override {
    if (route != "enrol" && route != "trust") {
      return fail(ErrorCode::not_found, "the CA has no public route " + std::string(route));
    }
    return m_to->call(route, body);
  }

 private:
  std::unique_ptr<protocol::Channel> m_to;
};

// One process per folder: a second `operator run` of the same role (or shop run of the same
// shop) would serve the same store and take the first one's address away. The lock goes with the
// process, however it ends.
class FolderLock {
 public:
  static Result<FolderLock> take(const std::string& folder) {
    if (!fs::is_directory(folder)) {
      return fail(ErrorCode::not_found, "no " + folder + ": was it initialised (`ecash operator init`, `ecash shop init`)?");
    }
    const std::string path = folder + "/lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return fail(ErrorCode::io_error, "cannot open " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return fail(ErrorCode::conflict, "another process is serving " + folder + " already");
    }
    return FolderLock(fd);
  }
  FolderLock(FolderLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  FolderLock& operator=(FolderLock&&) = delete;
  ~FolderLock() {
    if (m_fd >= 0) ::close(m_fd);
  }

 private:
  explicit FolderLock(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

Result<std::vector<FolderLock>> lock_folders(const std::vector<std::string>& folders) {
  std::vector<FolderLock> locks;
  for (const auto& folder : folders) {
    auto lock = FolderLock::take(folder);
    if (!lock) return std::unexpected(lock.error());
    locks.push_back(std::move(*lock));
  }
  return locks;
}

// Calls to CRL refreshes are short and not retried: the next refresh comes soon, and a stop
// signal must not wait for a peer that hangs.
Limits refresh_limits() {
  Limits l;
  l.connect_timeout = std::chrono::milliseconds(2000);
  l.read_timeout = std::chrono::milliseconds(5000);
  l.attempts = 1;
  return l;
}

// Another operator role, found where its processes wrote their addresses: DATA/ROLE/listening
// (the role run once) and DATA/ROLE/nodes/NAME/listening (its nodes, issue 13). Calls go to the
// nodes in turn; a node that cannot be reached is left aside for a while and the call goes to the
// next (every call carries a request ID its receiver answers once, so asking another node again is
// as safe as asking the same one again). When none answers, the addresses are read again (a role
// may have been restarted on another port) and the call made once more.
class Peer final : public protocol::Channel {
 public:
  // The peer is asked `limits.attempts` times in all; each node is asked once per attempt, so
  // that a node restarted on another port is found at the next attempt, not after the last.
  Peer(std::string folder, std::string party, TlsIdentity identity, PeerPolicy policy,
       const Clock& clock, Limits limits = {})
      : m_folder(std::move(folder)), m_party(std::move(party)), m_identity(std::move(identity)),
        m_policy(std::move(policy)), m_clock(clock), m_attempts(std::max(1, limits.attempts)),
        m_pause(limits.retry_pause), m_limits(limits) {
    m_limits.attempts = 1;
  }

  // Waits up to `wait` for a node to say where it listens.
  Status open(std::chrono::seconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!look_again()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return fail(ErrorCode::unavailable, "nothing is listening for " + m_folder + " (no " +
                                                m_folder + "/listening, nor under " + m_folder +
                                                "/nodes): start that role first");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return {};
  }
  // Where it calls: the nodes' addresses, comma-separated.
  std::string url() {
    std::lock_guard lock(m_mutex);
    std::string urls;
    for (const auto& node : m_nodes) urls += (urls.empty() ? "" : ", ") + node->url;
    return urls;
  }

  Result<protocol::Json> call(std::string_view route, const Json& body) override {
    Result<Json> answer = fail(ErrorCode::unavailable, "nothing is listening for " + m_folder);
    for (int attempt = 1; attempt <= m_attempts; ++attempt) {
      auto order = in_turn();
      for (const auto& node : order) {
        answer = node->channel->call(route, body);
        // Nobody there, or someone else there (the port went to another process): the next.
        const auto code = answer ? ErrorCode::internal : answer.error().code;
        if (answer || !elsewhere(code)) return answer;
        node->down_until = std::chrono::steady_clock::now() + kSetAside;
      }
      const auto code = answer ? ErrorCode::internal : answer.error().code;
      if (look_again()) continue;
      if (code != ErrorCode::unavailable) return answer;
      if (attempt < m_attempts) std::this_thread::sleep_for(m_pause * attempt);
    }
    return answer;
  }

 private:
  struct Node {
    std::string url;
    std::unique_ptr<protocol::Channel> channel;
    std::atomic<std::chrono::steady_clock::time_point> down_until{};
  };
  static constexpr auto kSetAside = std::chrono::seconds(2);

  static bool elsewhere(ErrorCode code) {
    return code == ErrorCode::unavailable || code == ErrorCode::wrong_role ||
           code == ErrorCode::untrusted_issuer || code == ErrorCode::bad_certificate;
  }

  // Every node, starting with the next in turn, those set aside last.
  std::vector<std::shared_ptr<Node>> in_turn() {
    std::vector<std::shared_ptr<Node>> nodes;
    {
      std::lock_guard lock(m_mutex);
      nodes = m_nodes;
    }
    if (nodes.empty()) return nodes;
    std::rotate(nodes.begin(), nodes.begin() + (m_next++ % nodes.size()), nodes.end());
    const auto now = std::chrono::steady_clock::now();
    std::stable_partition(nodes.begin(), nodes.end(),
                          [&](const auto& node) { return node->down_until.load() <= now; });
    return nodes;
  }

  // Reads the addresses again: connects to the new ones, forgets the gone. True when they changed.
  bool look_again() {
    const auto urls = listening_urls(m_folder);
    std::lock_guard lock(m_mutex);
    std::vector<std::shared_ptr<Node>> nodes;
    for (const auto& url : urls) {
      auto known = std::find_if(m_nodes.begin(), m_nodes.end(),
                                [&](const auto& node) { return node->url == url; });
      if (known != m_nodes.end()) {
        nodes.push_back(*known);
        continue;
      }
      auto c = connect(url, m_identity, m_policy, m_clock, m_limits);
      if (!c) continue;
      auto node = std::make_shared<Node>();
      node->url = url;
      node->channel = channel(*c, m_party);
      nodes.push_back(std::move(node));
    }
    const bool changed = nodes.size() != m_nodes.size() ||
                         !std::equal(nodes.begin(), nodes.end(), m_nodes.begin());
    m_nodes = std::move(nodes);
    return changed && !m_nodes.empty();
  }

  std::string m_folder, m_party;
  TlsIdentity m_identity;
  PeerPolicy m_policy;
  const Clock& m_clock;
  int m_attempts;
  std::chrono::milliseconds m_pause;
  Limits m_limits;
  std::mutex m_mutex;
  std::vector<std::shared_ptr<Node>> m_nodes;
  std::atomic<std::size_t> m_next{0};
};

struct Common {
  OperatorSettings settings;
  parties::Directory directory;
  std::unique_ptr<pki::TrustStore> trust;
};

Result<Common> open_common(const NodeOptions& options) {
  const auto& data = options.data;
  auto settings = read_operator_settings(data);
  if (!settings) return std::unexpected(settings.error());
  if (!options.card_company_url.empty() || !options.bank_url.empty()) {
    if (options.card_company_url.empty() || options.bank_url.empty()) {
      return fail(ErrorCode::invalid_argument, "give both --card-company and --bank, or neither");
    }
    settings->card_company_url = options.card_company_url;
    settings->bank_url = options.bank_url;
  }
  auto directory = local::load_directory(data);
  if (!directory) return std::unexpected(directory.error());
  auto anchor = read_trust(data);
  if (!anchor) return std::unexpected(anchor.error());
  return Common{*settings, *directory, std::make_unique<pki::TrustStore>(*anchor)};
}

// Channels to the card company and bank for clearing, when they are outside this operator.
Result<local::OpenOptions> institutions(const OperatorSettings& settings, const TlsIdentity& clearing,
                                        const pki::TrustStore& trust, const Clock& clock) {
  local::OpenOptions out;
  out.store_server = settings.store;
  if (settings.card_company_url.empty() || settings.bank_url.empty()) return out;
  auto cards = connect(settings.card_company_url, clearing, {&trust, {Role::institution}}, clock);
  auto bank = connect(settings.bank_url, clearing, {&trust, {Role::institution}}, clock);
  if (!cards) return std::unexpected(cards.error());
  if (!bank) return std::unexpected(bank.error());
  out.card_company = channel(*cards, "card_company");
  out.bank_institution = channel(*bank, "bank_institution");
  return out;
}

// Body caps of the routes devices reach: about ten times the largest message measured on each in
// the command-line tests (cli_network_test: trust and directory 2 bytes, enrol 412, deposit 382,
// register_shop 359, payout 186, center/pay 1,731, shop/pay 586), so that a message may grow a
// field or two. A route not listed takes kDeviceBody. Sync is the exception (2,137 bytes with one
// transfer): it carries every transfer since the last sync, in one sealed report.
constexpr std::size_t kDeviceBody = 4 * 1024;
constexpr std::size_t KiB = 1024;

// The center's routes and the CA's on the front door. The open routes are rate-limited per
// source address: trust and directory for callers without a certificate, enrolment for everyone.
std::map<std::string, RouteLimits, std::less<>> center_routes(const NodeOptions& options) {
  return {{"directory", {256, options.open_per_minute}},
          {"deposit", {4 * KiB}},
          {"register_shop", {4 * KiB}},
          {"pay", {16 * KiB}},
          {"payout", {4 * KiB}},
          {"refund", {4 * KiB}},
          {"sync", {1024 * KiB}}};
}
std::map<std::string, RouteLimits, std::less<>> ca_routes(const NodeOptions& options) {
  return {{"trust", {256, options.open_per_minute}}, {"enrol", {4 * KiB, options.enrol_per_minute, true}}};
}

// The limits of a server this process runs, with the thread counts the command line gave.
Limits server_limits(const NodeOptions& options, bool devices_facing = false) {
  Limits limits;
  limits.io_threads = options.io_threads;
  limits.workers = options.workers;
  limits.devices_facing = devices_facing;
  if (devices_facing) {
    limits.max_body = kDeviceBody;
    limits.proxy_from = options.proxy_from;  // a balancer stands only in front of devices
  }
  return limits;
}

// What the bank tells the operator's metrics, read at each scrape from its running totals (never
// a scan of the accounts): the money in circulation and where it is, in minor units; the users,
// shops and open fraud cases.
std::vector<metrics::Registration> bank_metrics(bank::VirtualBank& bank) {
  using metrics::Sample;
  std::vector<metrics::Registration> out;
  // The four families below are read in one scrape: the bank's totals once for them all.
  struct Totals {
    std::mutex mutex;
    std::chrono::steady_clock::time_point at;
    std::optional<protocol::Circulation> read;
  };
  const auto totals = [&bank, cache = std::make_shared<Totals>()]() -> std::optional<protocol::Circulation> {
    const std::lock_guard lock(cache->mutex);
    const auto now = std::chrono::steady_clock::now();
    if (!cache->read || now - cache->at > std::chrono::milliseconds(500)) {
      auto t = bank.totals();
      cache->read = t ? std::optional<protocol::Circulation>(*t) : std::nullopt;
      cache->at = now;
    }
    return cache->read;
  };
  out.push_back(metrics::read_at_scrape(
      "ecash_money_minor",
      "Money in circulation and where it is, by component, in the currency's minor units (cents), "
      "from the bank's running totals.",
      metrics::Kind::gauge, [totals] {
        std::vector<Sample> samples;
        auto t = totals();
        if (!t) return samples;
        const std::string currency(t->currency.code());
        auto in_circulation = t->in_circulation();
        const std::pair<const char*, const Amount*> parts[] = {
            {"deposited", &t->deposited},   {"paid_out", &t->paid_out},
            {"balances", &t->balances},     {"owed", &t->owed},
            {"in_flight", &t->in_flight},   {"offline_reserve", &t->offline_reserve},
            {"unpaid_sales", &t->unpaid_sales}, {"paying_out", &t->paying_out},
            {"refunded", &t->refunded},     {"in_circulation", in_circulation ? &*in_circulation : nullptr}};
        for (const auto& [name, amount] : parts) {
          if (amount) samples.push_back({{{"component", name}, {"currency", currency}}, static_cast<double>(amount->minor())});
        }
        return samples;
      }));
  const auto count_of = [totals](std::int64_t protocol::Circulation::*field) {
    return [totals, field] {
      auto t = totals();
      return t ? std::vector<Sample>{{{}, static_cast<double>((*t).*field)}} : std::vector<Sample>{};
    };
  };
  out.push_back(metrics::read_at_scrape("ecash_users", "Users with an account at the bank.", metrics::Kind::gauge,
                                        count_of(&protocol::Circulation::users)));
  out.push_back(metrics::read_at_scrape("ecash_shops", "Shops registered at the bank.", metrics::Kind::gauge,
                                        count_of(&protocol::Circulation::shops)));
  out.push_back(metrics::read_at_scrape("ecash_fraud_cases_open", "Fraud cases open at the bank.",
                                        metrics::Kind::gauge, count_of(&protocol::Circulation::open_cases)));
  return out;
}

// What the center tells: its sagas open now, and the age of the oldest (one stuck shows here).
std::vector<metrics::Registration> center_metrics(center::Center& center, const Clock& clock) {
  using metrics::Sample;
  std::vector<metrics::Registration> out;
  out.push_back(metrics::read_at_scrape("ecash_sagas_open", "Requests the center is still finishing (sagas open).",
                                        metrics::Kind::gauge, [&center] {
                                          auto open = center.open_sagas();
                                          return open ? std::vector<Sample>{{{}, static_cast<double>(open->count)}}
                                                      : std::vector<Sample>{};
                                        }));
  out.push_back(metrics::read_at_scrape(
      "ecash_saga_oldest_age_seconds", "Age of the oldest saga open at the center (0 when none).",
      metrics::Kind::gauge, [&center, &clock] {
        auto open = center.open_sagas();
        if (!open) return std::vector<Sample>{};
        return std::vector<Sample>{{{}, open->count == 0 ? 0.0 : static_cast<double>(clock.now() - open->oldest)}};
      }));
  return out;
}


// The requests this process answered for party since it started: in all, refused by rule, and
// failed with an open outcome (unavailable, io_error, internal), from its counters. Callers
// refused at party's admin routes count; the dashboard's own asking (answered ok) does not.
Json requests_counted(const std::string& party) {
  std::int64_t total = 0, refused = 0, failed = 0;
  for (const auto& sample : metrics::counted("ecash_requests_total")) {
    const auto label = [&](const char* name) {
      for (const auto& [key, value] : sample.labels) {
        if (key == name) return value;
      }
      return std::string();
    };
    const auto counted_as = label("party");
    const auto code = label("code");
    if (counted_as != party && !(counted_as == "admin" && code != "ok")) continue;
    const auto n = static_cast<std::int64_t>(sample.value);
    total += n;
    if (code == "ok") continue;
    const auto known = error_code_from_string(code);
    if (outcome_unknown(Error{known, ""})) {
      failed += n;
    } else {
      refused += n;
    }
  }
  return {{"total", total}, {"refused", refused}, {"failed", failed}};
}

// Each role's figures for the operator's dashboard (admin::Collect): running totals and counts,
// the fraud cases by their IDs, the disclosure log's state. Nothing about any one person's money.
Result<Json> bank_figures(bank::VirtualBank& bank) {
  auto totals = bank.totals();
  if (!totals) return std::unexpected(totals.error());
  auto cases = bank.case_summaries();
  if (!cases) return std::unexpected(cases.error());
  return Json{{"circulation", totals->to_json()}, {"cases", std::move(*cases)}, {"requests", requests_counted("bank")}};
}
Result<Json> center_figures(center::Center& center, const Clock& clock) {
  auto open = center.open_sagas();
  if (!open) return std::unexpected(open.error());
  return Json{{"sagas",
               {{"open", open->count},
                {"oldest_age", open->count == 0 ? 0 : clock.now() - open->oldest},
                {"payouts", open->payouts}}},
              {"requests", requests_counted("center")}};
}
Result<Json> clearing_figures(clearing::ClearingHouse& clearing) {
  auto log = clearing.audit();
  if (!log) return std::unexpected(log.error());
  return Json{{"disclosure_log", std::move(*log)}, {"requests", requests_counted("clearing")}};
}

// A role's figures, or the error that kept them, as the dashboard shows either.
Json figures_or_error(const Result<Json>& figures) {
  if (figures) return *figures;
  return {{"error", {{"code", std::string(to_string(figures.error().code))}, {"message", figures.error().message}}}};
}

// admin/figures on a role's server: its figures, for the operator's admin certificate, which
// reaches nothing else (the server mounts this party for Role::admin alone, and no other party
// for it).
class Figures final : public protocol::Endpoint {
 public:
  explicit Figures(std::function<Result<Json>()> read) : m_read(std::move(read)) {}
  Result<Json> handle(const protocol::Caller& caller, std::string_view route, const Json&) override {
    if (!caller.certificate || caller.certificate->role() != Role::admin) {
      return fail(ErrorCode::wrong_role, "only the operator's admin certificate asks for figures");
    }
    if (route != "figures") return fail(ErrorCode::not_found, "admin has no route " + std::string(route));
    return m_read();
  }

 private:
  std::function<Result<Json>()> m_read;
};

// The dashboard while it lives: the roles asked every two seconds, the page and /figures served
// on options.dashboard, its URL in `file`. Stops its poller and pages before it goes.
class DashboardRun {
 public:
  static Result<std::unique_ptr<DashboardRun>> start(admin::Collect collect, const Clock& clock,
                                                     const NodeOptions& options, std::string file) {
    if (options.dashboard == "off") return nullptr;
    auto at = parse_listen(options.dashboard.empty() ? kAnyPort : options.dashboard);
    if (!at) return std::unexpected(at.error());
    // The threads started here leave the stop signals to the main thread.
    block_stop_signals();
    auto run = std::unique_ptr<DashboardRun>(new DashboardRun(std::move(collect), clock, std::move(file)));
    PageLimits limits;
    limits.hosts = hosts_of(at->host);
    run->m_pages.emplace([d = &run->m_dashboard](std::string_view path) {
      if (path == "/") return Page{200, "text/html; charset=utf-8", admin::Dashboard::page(), admin::Dashboard::policy()};
      if (path == "/figures") return Page{200, "application/json", d->figures().dump()};
      return Page{404, "text/plain; charset=utf-8", "the dashboard is at /, its figures at /figures\n"};
    }, limits);
    auto port = run->m_pages->start(at->host, at->port);
    if (!port) return std::unexpected(port.error());
    if (hosts_of(at->host).empty()) {  // off loopback
      options.say("warning: the dashboard is plain HTTP with no login, on " + at->host +
                  ": whoever reaches it reads the operator's figures (keep it on loopback, behind your own proxy)");
    }
    run->m_poller = std::jthread([d = &run->m_dashboard](std::stop_token stop) {
      d->poll_until(stop, std::chrono::seconds(2));
    });
    const auto url = "http://" + at->host + ":" + std::to_string(*port) + "/";
    if (auto ok = write_atomically(run->m_file, url + "\n"); !ok) return std::unexpected(ok.error());
    options.say("dashboard on " + url);
    return run;
  }
  ~DashboardRun() {
    m_poller.request_stop();
    if (m_poller.joinable()) m_poller.join();
    if (m_pages) m_pages->stop();
    std::error_code ec;
    fs::remove(m_file, ec);
  }

 private:
  DashboardRun(admin::Collect collect, const Clock& clock, std::string file)
      : m_dashboard(std::move(collect), clock), m_file(std::move(file)) {}

  admin::Dashboard m_dashboard;
  std::string m_file;
  std::optional<PageServer> m_pages;
  std::jthread m_poller;
};

Status run_all(const NodeOptions& options, SystemClock& clock, RandomSource& random) {
  const auto& data = options.data;
  auto locks = lock_folders({data + "/ca", data + "/center", data + "/bank", data + "/clearing"});
  if (!locks) return std::unexpected(locks.error());
  auto common = open_common(options);
  if (!common) return std::unexpected(common.error());
  auto clearing_id = local::load_identity(data + "/clearing", "clearing");
  if (!clearing_id) return std::unexpected(clearing_id.error());
  auto outside = institutions(common->settings, tls_identity(*clearing_id), *common->trust, clock);
  if (!outside) return std::unexpected(outside.error());
  const bool hosted = !outside->card_company;
  auto op = local::LocalOperator::open(data, common->settings.currency, clock, random,
                                       std::move(*outside));
  if (!op) return std::unexpected(op.error());
  auto& o = **op;
  auto center_id = local::load_identity(data + "/center", "center");
  if (!center_id) return std::unexpected(center_id.error());
  PeerPolicy devices{&o.trust(), {Role::wallet, Role::shop}, false};
  Server server(tls_identity(*center_id), devices, clock, server_limits(options, true));
  server.mount("center", o.center(), {Role::wallet, Role::shop}, {"directory"}, center_routes(options));
  server.mount("ca", o.ca(), {}, {"trust", "enrol"}, ca_routes(options));
  if (hosted) options.say("card company and bank: SANDBOXES hosted in this process");
  const auto refresh = [&] {
    // Enrolments whose first deposit never completed within a day are revoked (issue 12,
    // finding 6), at every refresh, before the CRL is issued.
    if (auto expired = o.expire_unconfirmed(); !expired) {
      options.say("warning: could not expire unconfirmed enrolments: " + expired.error().to_string());
    } else if (!expired->empty()) {
      options.say("revoked " + std::to_string(expired->size()) +
                  " wallet certificates enrolled more than a day ago with no deposit");
    }
    // A device under an open fraud case is revoked (issue 12, finding 1).
    if (auto revoked = o.revoke_under_cases(); !revoked) {
      options.say("warning: could not revoke devices under fraud cases: " + revoked.error().to_string());
    } else if (!revoked->empty()) {
      options.say("revoked " + std::to_string(revoked->size()) + " certificates of users with an open fraud case");
    }
    auto crl = o.ca().crl();
    if (!crl || !o.refresh_crl() || !publish_crl(data, *crl) ||
        !common->trust->update_crl(*crl, SystemClock().now())) {
      options.say("warning: could not refresh the CRL");
    }
  };
  refresh();
  o.center().set_credit_deadline(options.credit_deadline.count());
  auto watched = bank_metrics(o.bank());
  for (auto& r : center_metrics(o.center(), clock)) watched.push_back(std::move(r));
  // The dashboard asks the roles in this process directly.
  auto dashboard = DashboardRun::start(
      [&] {
        return Json{{"bank", figures_or_error(bank_figures(o.bank()))},
                    {"center", figures_or_error(center_figures(o.center(), clock))},
                    {"clearing", figures_or_error(clearing_figures(o.clearing()))}};
      },
      clock, options, data + "/center/dashboard");
  if (!dashboard) return std::unexpected(dashboard.error());
  return listen_and_serve(server, options, data + "/center", kFrontDoor,
                          "operator (ca, center, bank, clearing)", refresh,
                          [&] { resume_sagas(o.center(), options); });
}

Status run_ca(const NodeOptions& options, SystemClock& clock, RandomSource& random) {
  auto locks = lock_folders({options.data + "/ca"});
  if (!locks) return std::unexpected(locks.error());
  auto settings = read_operator_settings(options.data);
  if (!settings) return std::unexpected(settings.error());
  auto ca = ca::CaParty::open(options.data + "/ca", "ecash CA", clock, random, settings->store);
  if (!ca) return std::unexpected(ca.error());
  auto anchor = (*ca)->anchor();
  if (!anchor) return std::unexpected(anchor.error());
  pki::TrustStore trust(*anchor);
  // The CA shows its own certificate in the handshake: the key is in this process anyway.
  auto id = local::load_identity(options.data + "/ca", "ca");
  if (!id) return std::unexpected(id.error());
  const std::vector<Role> operators{Role::center, Role::bank, Role::clearing};
  Server server(tls_identity(*id), {&trust, operators}, clock, server_limits(options));
  server.mount("ca", **ca, operators);
  const auto refresh = [&] {
    auto crl = (*ca)->crl();
    if (!crl || !trust.update_crl(*crl, SystemClock().now()) || !publish_crl(options.data, *crl)) {
      options.say("warning: could not refresh the CRL");
    }
  };
  refresh();
  return listen_and_serve(server, options, options.data + "/ca", kAnyPort, "ca", refresh);
}

// The CA process, for roles that fetch their CRL from it.
Result<std::unique_ptr<Peer>> ca_peer(const NodeOptions& options, const TlsIdentity& id,
                                      const pki::TrustStore& trust, const Clock& clock) {
  auto peer = std::make_unique<Peer>(options.data + "/ca", "ca", id, PeerPolicy{&trust, {Role::ca}},
                                     clock, refresh_limits());
  if (auto ok = peer->open(options.peer_wait); !ok) return std::unexpected(ok.error());
  return peer;
}

// How a process of a role calls itself in what it says: "bank", or "bank node b2".
std::string name_of(const std::string& role, const NodeOptions& options) {
  return options.node.empty() ? role : role + " node " + options.node;
}

// The folder a process of a role locks and says where it listens in: the role's, or its node's.
// Several processes of a role share its stores, so they must be on PostgreSQL (a SQLite file is
// one process's).
Result<std::string> process_folder(const NodeOptions& options, const OperatorSettings& settings,
                                   const std::string& role) {
  if (!options.node.empty() && settings.store.empty()) {
    return fail(ErrorCode::invalid_argument,
                "--node: several " + role + " processes share its store, so it must be on "
                "PostgreSQL (`ecash operator init --store postgresql://...`); this operator's "
                "stores are SQLite files");
  }
  return node_folder(options.data + "/" + role, options.node);
}

Status run_bank(const NodeOptions& options, SystemClock& clock, RandomSource& random) {
  auto common = open_common(options);
  if (!common) return std::unexpected(common.error());
  auto folder = process_folder(options, common->settings, "bank");
  if (!folder) return std::unexpected(folder.error());
  auto locks = lock_folders({*folder});
  if (!locks) return std::unexpected(locks.error());
  auto id = local::load_identity(options.data + "/bank", "bank");
  if (!id) return std::unexpected(id.error());
  const auto tls = tls_identity(*id);
  auto ca = ca_peer(options, tls, *common->trust, clock);
  if (!ca) return std::unexpected(ca.error());
  auto bank = bank::VirtualBank::open(
      local::role_store(options.data, "bank", common->settings.store), std::move(*id),
      common->directory, *common->trust, clock, random, common->settings.currency);
  if (!bank) return std::unexpected(bank.error());
  Server server(tls, {common->trust.get(), {Role::center, Role::admin}}, clock, server_limits(options));
  server.mount("bank", **bank, {Role::center});
  Figures figures([&] { return bank_figures(**bank); });
  server.mount("admin", figures, {Role::admin});
  const auto watched = bank_metrics(**bank);
  const auto refresh = [&] { refresh_from_ca(**ca, *common->trust, options); };
  refresh();
  return listen_and_serve(server, options, *folder, kAnyPort, name_of("bank", options), refresh);
}

Status run_clearing(const NodeOptions& options, SystemClock& clock) {
  auto locks = lock_folders({options.data + "/clearing"});
  if (!locks) return std::unexpected(locks.error());
  auto common = open_common(options);
  if (!common) return std::unexpected(common.error());
  auto id = local::load_identity(options.data + "/clearing", "clearing");
  if (!id) return std::unexpected(id.error());
  const auto tls = tls_identity(*id);
  auto ca = ca_peer(options, tls, *common->trust, clock);
  if (!ca) return std::unexpected(ca.error());
  auto outside = institutions(common->settings, tls, *common->trust, clock);
  if (!outside) return std::unexpected(outside.error());
  // Without URLs the sandboxes live in this process, as in the all-in-one operator.
  std::unique_ptr<sandbox::CardCompany> cards;
  std::unique_ptr<sandbox::BankInstitution> bank;
  local::Tap* const no_tap = nullptr;
  if (!outside->card_company) {
    auto c = sandbox::CardCompany::open(options.data + "/sandbox/card_company.db", clock);
    auto b = sandbox::BankInstitution::open(options.data + "/sandbox/bank.db", clock);
    if (!c) return std::unexpected(c.error());
    if (!b) return std::unexpected(b.error());
    cards = std::move(*c);
    bank = std::move(*b);
    const protocol::Caller as_clearing{id->certificate};
    outside->card_company = std::make_unique<local::LocalChannel>("clearing->card_company", *cards,
                                                                  as_clearing, &no_tap);
    outside->bank_institution = std::make_unique<local::LocalChannel>(
        "clearing->bank_institution", *bank, as_clearing, &no_tap);
    options.say("card company and bank: SANDBOXES hosted in this process");
  }
  auto clearing = clearing::ClearingHouse::open(
      local::role_store(options.data, "clearing", common->settings.store), std::move(*id),
      common->directory, *common->trust, clock, std::move(outside->card_company),
      std::move(outside->bank_institution));
  if (!clearing) return std::unexpected(clearing.error());
  Server server(tls, {common->trust.get(), {Role::center, Role::admin}}, clock, server_limits(options));
  server.mount("clearing", **clearing, {Role::center});
  Figures figures([&] { return clearing_figures(**clearing); });
  server.mount("admin", figures, {Role::admin});
  const auto refresh = [&] { refresh_from_ca(**ca, *common->trust, options); };
  refresh();
  return listen_and_serve(server, options, options.data + "/clearing", kAnyPort, "clearing",
                          refresh);
}

Status run_center(const NodeOptions& options, SystemClock& clock) {
  auto common = open_common(options);
  if (!common) return std::unexpected(common.error());
  auto folder = process_folder(options, common->settings, "center");
  if (!folder) return std::unexpected(folder.error());
  auto locks = lock_folders({*folder});
  if (!locks) return std::unexpected(locks.error());
  auto id = local::load_identity(options.data + "/center", "center");
  if (!id) return std::unexpected(id.error());
  const auto tls = tls_identity(*id);
  std::unique_ptr<Peer> peers[3];
  const std::pair<const char*, Role> roles[3] = {
      {"ca", Role::ca}, {"bank", Role::bank}, {"clearing", Role::clearing}};
  for (int i = 0; i < 3; ++i) {
    peers[i] = std::make_unique<Peer>(options.data + "/" + roles[i].first, roles[i].first, tls,
                                      PeerPolicy{common->trust.get(), {roles[i].second}}, clock);
    if (auto ok = peers[i]->open(options.peer_wait); !ok) return std::unexpected(ok.error());
    options.say(std::string("center: ") + roles[i].first + " at " + peers[i]->url());
  }
  Peer ca(options.data + "/ca", "ca", tls, {common->trust.get(), {Role::ca}}, clock, refresh_limits());
  if (auto ok = ca.open(options.peer_wait); !ok) return std::unexpected(ok.error());
  refresh_from_ca(ca, *common->trust, options);
  auto center =
      center::Center::open(local::role_store(options.data, "center", common->settings.store),
                           std::move(*id), common->directory, *common->trust, clock,
                           common->settings.currency, std::move(peers[2]), std::move(peers[1]));
  if (!center) return std::unexpected(center.error());
  if (!options.node.empty()) (*center)->set_node(options.node);
  // Whatever a crash left open is finished before new requests come in. On SQLite this is the
  // only center, and takes over every lease; on PostgreSQL other nodes may be running the sagas
  // they lease, so only this node's own and the lapsed are taken.
  if (auto resumed = (*center)->resume(common->settings.store.empty()); !resumed) {
    return std::unexpected(resumed.error());
  }
  Relay relay(std::move(peers[0]));
  Server server(tls, {common->trust.get(), {Role::wallet, Role::shop, Role::admin}, false}, clock,
                server_limits(options, true));
  server.mount("center", **center, {Role::wallet, Role::shop}, {"directory"}, center_routes(options));
  server.mount("ca", relay, {}, {"trust", "enrol"}, ca_routes(options));
  Figures figures([&] { return center_figures(**center, clock); });
  server.mount("admin", figures, {Role::admin});
  const auto refresh = [&] { refresh_from_ca(ca, *common->trust, options); };
  (*center)->set_credit_deadline(options.credit_deadline.count());
  const auto watched = center_metrics(**center, clock);
  return listen_and_serve(server, options, *folder, kFrontDoor, name_of("center", options), refresh,
                          [&] { resume_sagas(**center, options); });
}


// The operator's dashboard as a role of its own: it asks the bank, center and clearing processes
// for their figures over mutual TLS with the admin certificate, and serves the page. It serves
// nothing else, and reads the CRL the CA publishes to DATA/ca/crl.pem.
Status run_admin(const NodeOptions& options, SystemClock& clock) {
  const std::string folder = options.data + "/admin";
  if (!fs::exists(folder + "/admin.pem")) {
    return fail(ErrorCode::not_found,
                "no admin certificate in " + folder + ": this operator was made before the dashboard had "
                "a role of its own. Any operator command that opens every role issues it (`ecash operator "
                "report --data " + options.data + " --books-only`, or the all-in-one `ecash operator run`); "
                "then start --role admin again");
  }
  auto locks = lock_folders({folder});
  if (!locks) return std::unexpected(locks.error());
  auto common = open_common(options);
  if (!common) return std::unexpected(common.error());
  auto id = local::load_identity(folder, "admin");
  if (!id) return std::unexpected(id.error());
  const auto tls = tls_identity(*id);
  const sigset_t signals = block_stop_signals();
  const std::pair<const char*, Role> roles[3] = {
      {"bank", Role::bank}, {"center", Role::center}, {"clearing", Role::clearing}};
  std::vector<std::unique_ptr<Peer>> peers;
  for (const auto& [name, role] : roles) {
    peers.push_back(std::make_unique<Peer>(options.data + "/" + name, "admin", tls,
                                           PeerPolicy{common->trust.get(), {role}}, clock, refresh_limits()));
    // A role not up yet is asked again at every round.
    (void)peers.back()->open(std::chrono::seconds(0));
  }
  auto dashboard = DashboardRun::start(
      [&] {
        // The roles asked at once: one that hangs holds the round no longer than its own call.
        std::vector<std::future<Result<Json>>> asked;
        for (auto& peer : peers) {
          asked.push_back(std::async(std::launch::async, [&peer] { return peer->call("figures", Json::object()); }));
        }
        Json out = Json::object();
        for (std::size_t k = 0; k < peers.size(); ++k) out[roles[k].first] = figures_or_error(asked[k].get());
        return out;
      },
      clock, options, folder + "/dashboard");
  if (!dashboard) return std::unexpected(dashboard.error());
  if (!*dashboard) options.say("admin: --dashboard off, so nothing to serve");
  auto next = std::chrono::steady_clock::now() + options.crl_refresh;
  for (;;) {
    timespec second{1, 0};
    if (sigtimedwait(&signals, nullptr, &second) > 0) break;
    if (std::chrono::steady_clock::now() < next) continue;
    next = std::chrono::steady_clock::now() + options.crl_refresh;
    auto anchor = read_trust(options.data);
    if (!anchor || !common->trust->update_crl(anchor->crl, SystemClock().now())) {
      options.say("warning: could not refresh the CRL from " + options.data + "/ca/crl.pem");
    }
  }
  dashboard->reset();
  options.say("admin stopped");
  return {};
}

}  // namespace

Result<OperatorSettings> read_operator_settings(const std::string& data) {
  const std::string path = data + "/operator.json";
  if (!fs::exists(path)) {
    return fail(ErrorCode::not_found,
                "no operator in " + data + ": run `ecash operator init --data " + data + "`");
  }
  const auto j = Json::parse(read_text_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("currency") || !j["currency"].is_string()) {
    return fail(ErrorCode::malformed, path + " is damaged");
  }
  auto currency = Currency::from_code(j["currency"].get<std::string>());
  if (!currency) return std::unexpected(currency.error());
  return OperatorSettings{*currency, j.value("card_company", std::string()),
                          j.value("bank", std::string()), j.value("store", std::string())};
}

Status write_operator_settings(const std::string& data, const OperatorSettings& settings) {
  Json j{{"currency", std::string(settings.currency.code())}};
  if (!settings.card_company_url.empty()) j["card_company"] = settings.card_company_url;
  if (!settings.bank_url.empty()) j["bank"] = settings.bank_url;
  if (!settings.store.empty()) j["store"] = settings.store;
  return write_atomically(data + "/operator.json", j.dump(2) + "\n");
}

Status publish_crl(const std::string& data, const pki::Crl& crl) {
  return write_atomically(data + "/ca/crl.pem", crl.to_pem());
}

Result<pki::TrustAnchor> read_trust(const std::string& data) {
  auto ca = pki::Certificate::from_pem(read_text_file(data + "/ca/ca.pem"));
  if (!ca) return fail(ca.error().code, data + "/ca/ca.pem: " + ca.error().message);
  auto crl = pki::Crl::from_pem(read_text_file(data + "/ca/crl.pem"));
  if (!crl) return fail(crl.error().code, data + "/ca/crl.pem: " + crl.error().message);
  return pki::TrustAnchor{*ca, *crl};
}

Result<std::string> node_folder(const std::string& role_folder, const std::string& node) {
  if (node.empty()) return role_folder;
  const bool named = node.size() <= 32 && std::all_of(node.begin(), node.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (!named) {
    return fail(ErrorCode::invalid_argument,
                "a node's name is 1 to 32 letters, digits, '-' or '_': " + node);
  }
  if (!fs::is_directory(role_folder)) {
    return fail(ErrorCode::not_found, "no " + role_folder + ": was it initialised (`ecash operator init`)?");
  }
  const std::string folder = role_folder + "/nodes/" + node;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return fail(ErrorCode::io_error, "cannot make " + folder + ": " + ec.message());
  return folder;
}

std::vector<std::string> listening_urls(const std::string& role_folder) {
  std::vector<std::string> folders{role_folder};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(role_folder + "/nodes", ec)) {
    if (entry.is_directory(ec)) folders.push_back(entry.path().string());
  }
  std::sort(folders.begin() + 1, folders.end());
  std::vector<std::string> urls;
  for (const auto& folder : folders) {
    auto url = listening_url(folder, std::chrono::seconds(0));
    if (url) urls.push_back(std::move(*url));
  }
  return urls;
}

Result<std::string> listening_url(const std::string& folder, std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const std::string file = folder + "/listening";
  for (;;) {
    std::string url = read_text_file(file);
    while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
    if (!url.empty()) return url;
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(ErrorCode::unavailable, "nothing is listening for " + folder + " (no " + file +
                                              "): start that role first");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<TlsIdentity> device_identity(const std::string& key_file, const pki::Certificate& cert) {
  auto keys = parties::load_or_create_keys(key_file);
  if (!keys) return std::unexpected(keys.error());
  if (keys->signing.verify_key() != cert.verify_key()) {
    return fail(ErrorCode::bad_certificate, key_file + " does not hold this certificate's key");
  }
  return TlsIdentity{cert, pki::private_key_pem(keys->signing)};
}

Status run_operator(const NodeOptions& options) {
  SystemClock clock;
  crypto::SecureRandom random;
  if (options.role == "all") return run_all(options, clock, random);
  if (options.role == "ca") return run_ca(options, clock, random);
  if (options.role == "bank") return run_bank(options, clock, random);
  if (options.role == "clearing") return run_clearing(options, clock);
  if (options.role == "center") return run_center(options, clock);
  if (options.role == "admin") return run_admin(options, clock);
  return fail(ErrorCode::invalid_argument,
              "--role is one of all, ca, center, bank, clearing, admin; not '" + options.role + "'");
}

Status run_sandbox(const NodeOptions& options) {
  SystemClock clock;
  const auto& data = options.data;
  auto locks = lock_folders({data + "/sandbox"});
  if (!locks) return std::unexpected(locks.error());
  auto anchor = read_trust(data);
  if (!anchor) return std::unexpected(anchor.error());
  pki::TrustStore trust(*anchor);
  auto id = local::load_identity(data + "/sandbox", "institution");
  if (!id) return std::unexpected(id.error());
  auto cards = sandbox::CardCompany::open(data + "/sandbox/card_company.db", clock);
  auto bank = sandbox::BankInstitution::open(data + "/sandbox/bank.db", clock);
  if (!cards) return std::unexpected(cards.error());
  if (!bank) return std::unexpected(bank.error());
  Server server(tls_identity(*id), {&trust, {Role::clearing}}, clock, server_limits(options));
  server.mount("card_company", **cards, {Role::clearing});
  server.mount("bank_institution", **bank, {Role::clearing});
  // The CRL comes from the operator's distribution point, the file its CA publishes.
  const auto refresh = [&] {
    auto latest = read_trust(data);
    if (!latest || !trust.update_crl(latest->crl, SystemClock().now())) options.say("warning: could not refresh the CRL");
  };
  return listen_and_serve(server, options, data + "/sandbox", kAnyPort,
                          "SANDBOX card company and bank", refresh);
}

namespace {

// HOST:PORT the till listens on for wallets (what payment requests name), "" before it does.
std::string till_address(const std::string& home) {
  auto till = listening_url(home, std::chrono::seconds(0));
  auto address = till ? parse_url(*till) : Result<Address>(std::unexpected(till.error()));
  return address ? address->host + ":" + std::to_string(address->port) : std::string();
}

// GET /checkout/ORDER[/status|/request] at a shop's till.
Page checkout_page(shop::Shop& shop, const std::string& home, std::string_view path) {
  const auto text = [](int status, std::string body) {
    return Page{status, "text/plain; charset=utf-8", std::move(body) + "\n"};
  };
  constexpr std::string_view prefix = "/checkout/";
  if (!path.starts_with(prefix)) return text(404, "no such page: the checkout pages are /checkout/ORDER");
  path.remove_prefix(prefix.size());
  const auto slash = path.find('/');
  const auto part = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  auto order_id = Id128::parse(path.substr(0, slash));
  if (!order_id) return text(404, "no such order");
  const auto till = till_address(home);
  if (till.empty()) return text(503, "the till is not listening yet");
  auto view = shop.checkout(*order_id, till);
  if (!view) return text(view.error().code == ErrorCode::not_found ? 404 : 500, "no such order");
  if (part == "status") {
    return Page{200, "application/json", Json{{"order_id", view->order_id}, {"state", view->state}}.dump()};
  }
  if (part == "request") {
    if (view->state != "unpaid" && view->state != "paying") return text(410, "order " + view->order_id + " is " + view->state);
    return text(200, view->payment_uri);
  }
  if (!part.empty()) return text(404, "no such page");
  // A request too long for a QR code is still shown as a link.
  auto qr = shop::qr_svg(view->payment_uri);
  return Page{200, "text/html; charset=utf-8", shop::checkout_html(*view, qr ? *qr : std::string()),
              shop::checkout_policy()};
}

}  // namespace

Status run_shop(const NodeOptions& options) {
  // Before any thread starts (the pages', the API's, the webhooks'): each inherits the mask, so
  // a stop signal waits for the main loop instead of killing the till where it stands.
  (void)block_stop_signals();
  SystemClock clock;
  crypto::SecureRandom random;
  const auto& home = options.data;
  auto locks = lock_folders({home});
  if (!locks) return std::unexpected(locks.error());
  auto opened = shop::Shop::open(home, clock, random);
  if (!opened) return std::unexpected(opened.error());
  auto& shop = **opened;
  auto location = shop.setting("operator_location");
  if (!location) return std::unexpected(location.error());
  auto anchor = shop.trust_anchor();
  if (!*location || !anchor || !shop.certificate()) {
    return fail(ErrorCode::invalid_argument, "run `ecash shop init --home " + home + "` first");
  }
  if (!parse_url(**location)) {
    return fail(ErrorCode::invalid_argument,
                "this shop's operator is a data folder, not a URL: `shop run` needs an operator "
                "that runs (`ecash operator run`)");
  }
  auto tls = device_identity(home + "/shop.keys", *shop.certificate());
  if (!tls) return std::unexpected(tls.error());
  auto fresh = fresh_anchor(**location, *anchor, clock.now());
  if (!fresh) return std::unexpected(fresh.error());
  pki::TrustStore trust(*fresh);
  auto operator_connection = connect(**location, *tls, {&trust, {Role::center}}, clock);
  if (!operator_connection) return std::unexpected(operator_connection.error());
  shop.set_center(channel(*operator_connection, "center"));
  // Refreshes use their own short-lived calls: a stalled operator must not hold payments or a
  // stop signal for long.
  auto refresh_connection = connect(**location, *tls, {&trust, {Role::center}}, clock, refresh_limits());
  if (!refresh_connection) return std::unexpected(refresh_connection.error());
  auto center = channel(*refresh_connection, "center");
  Server server(*tls, {&trust, {Role::wallet}}, clock, server_limits(options, true));
  server.mount("shop", shop, {Role::wallet}, {}, {{"pay", {8 * KiB}}});
  // The shop's own view of the operator (what it checks wallets' certificates in payments
  // against) and the handshake's trust are refreshed together, between two payments.
  const auto refresh = [&] {
    Status done;
    done = shop.connect(*center);
    auto held = shop.trust_anchor();
    if (!done || !held || !trust.update_crl(held->crl, SystemClock().now())) {
      options.say("warning: could not refresh the CRL" + (done ? std::string() : ": " + done.error().to_string()));
    }
  };
  refresh();
  // The checkout pages, for customers' browsers: /checkout/ORDER (the page), .../status (its
  // state as JSON), .../request (the payment request, for `wallet pay URL`).
  std::optional<PageServer> pages;
  if (options.checkout != "off") {
    for (const auto& proxy : options.checkout_proxies) {
      in6_addr any{};
      if (::inet_pton(AF_INET, proxy.c_str(), &any) != 1 && ::inet_pton(AF_INET6, proxy.c_str(), &any) != 1) {
        return fail(ErrorCode::invalid_argument, "--checkout-proxy-from takes an IP address, not " + proxy);
      }
    }
    PageLimits limits;
    limits.proxies = options.checkout_proxies;
    pages.emplace([&shop, &home](std::string_view path) { return checkout_page(shop, home, path); }, limits);
    auto at = parse_listen(options.checkout.empty() ? kAnyPort : options.checkout);
    if (!at) return std::unexpected(at.error());
    if (options.checkout_certificate.empty() != options.checkout_key.empty()) {
      return fail(ErrorCode::invalid_argument, "HTTPS for the checkout pages takes a certificate and its key");
    }
    auto port = pages->start(at->host, at->port, options.checkout_certificate, options.checkout_key);
    if (!port) return std::unexpected(port.error());
    const auto url = std::string(options.checkout_certificate.empty() ? "http://" : "https://") + at->host +
                     ":" + std::to_string(*port);
    if (auto ok = write_atomically(home + "/checkout", url + "\n"); !ok) return ok;
    options.say("checkout pages on " + url + "/checkout/ORDER");
  }
  // The merchant API, for the shop's own backend: HTTPS with the till's certificate, no client
  // certificate asked, the shop's API token in each request (Authorization: Bearer).
  auto api_center = channel(*operator_connection, "center");
  std::optional<shop::MerchantApi> api;
  std::optional<Server> api_server;
  std::thread api_thread;
  if (options.api != "off") {
    auto at = parse_listen(options.api.empty() ? kAnyPort : options.api);
    if (!at) return std::unexpected(at.error());
    const std::string checkout_base = pages ? read_text_file(home + "/checkout") : std::string();
    api_server.emplace(*tls, PeerPolicy{&trust, {Role::wallet}, false}, clock, server_limits(options));
    api.emplace(shop, *api_center, [&home] { return till_address(home); },
                checkout_base.substr(0, checkout_base.find('\n')));
    api_server->mount("api", *api, {}, shop::MerchantApi::routes());
    auto port = api_server->bind(at->host, at->port);
    if (!port) return std::unexpected(port.error());
    const Address bound{at->host, *port};
    if (auto ok = write_atomically(home + "/api", bound.url() + "\n"); !ok) return ok;
    options.say("merchant API on " + bound.url() + "/v1/api/ROUTE (Authorization: Bearer TOKEN)");
    api_thread = std::thread([&] { api_server->run(); });
  }
  // The webhook events that are due, each second, on a thread of their own: a receiver that is
  // slow or never answers holds neither payments nor the till's signals (each POST has five
  // seconds); what is kept only for retries is pruned each hour.
  std::mutex webhook_mutex;
  std::condition_variable webhook_wake;
  bool stopping = false;
  std::thread webhooks([&] {
    const auto go_on = [&] {
      std::lock_guard lock(webhook_mutex);
      return !stopping;
    };
    UnixSeconds pruned = 0;
    while (go_on()) {
      (void)shop.deliver_webhooks(
          [](const std::string& url, const std::string& body,
             const std::vector<std::pair<std::string, std::string>>& headers) {
            return post_json(url, body, headers, std::chrono::seconds(5));
          },
          go_on);
      if (const auto now = clock.now(); now - pruned >= 3600) {
        if (auto ok = shop.prune(now); !ok) options.say("warning: could not prune: " + ok.error().to_string());
        pruned = now;
      }
      std::unique_lock lock(webhook_mutex);
      webhook_wake.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });
    }
  });
  auto served = listen_and_serve(server, options, home, kAnyPort, "shop", refresh);
  // The API and the pages stop first (they answer nothing once the till has stopped taking
  // payments), then the webhooks' thread, between two events.
  if (api_server) {
    api_server->stop();
    api_thread.join();
    std::error_code ec;
    fs::remove(home + "/api", ec);
  }
  if (pages) {
    pages->stop();
    std::error_code ec;
    fs::remove(home + "/checkout", ec);
  }
  {
    std::lock_guard lock(webhook_mutex);
    stopping = true;
  }
  webhook_wake.notify_all();
  webhooks.join();
  return served;
}

}  // namespace ecash::net
