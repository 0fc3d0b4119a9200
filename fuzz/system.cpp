#include "system.hpp"

#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "crypto/hash.hpp"

namespace ecash::fuzz {

namespace fs = std::filesystem;
using protocol::Json;

namespace {

// 2027-01-15: certificates, orders and transfers made at setup are all valid at this instant.
constexpr UnixSeconds kNow = 1'800'000'000;
constexpr std::uint64_t kSeed = 0x6563617368'66757aULL;

// splitmix64: not secret, only the same every run.
std::uint64_t g_state = kSeed;
std::uint64_t next() {
  std::uint64_t z = (g_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
const char* source_name() { return "ecash-fuzz-fixed"; }
std::uint32_t random32() { return static_cast<std::uint32_t>(next()); }
void fill(void* const out, const std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t word = next();
    for (std::size_t b = 0; b < 8 && i + b < size; ++b) bytes[i + b] = static_cast<unsigned char>(word >> (8 * b));
  }
}
randombytes_implementation g_fixed{source_name, random32, nullptr, nullptr, fill, nullptr};

// Who is at each end of a link as LocalOperator names them ("alice->center").
Who who_from(std::string_view name) {
  if (name == "alice") return Who::alice;
  if (name == "bob") return Who::bob;
  if (name == "carol") return Who::carol_revoked;
  if (name == "shop") return Who::shop;
  if (name == "center") return Who::center;
  if (name == "clearing") return Who::clearing;
  return Who::none;
}
std::optional<Party> party_of(std::string_view name) {
  for (std::uint8_t p = 0; p < static_cast<std::uint8_t>(Party::count); ++p) {
    if (name == party_name(static_cast<Party>(p))) return static_cast<Party>(p);
  }
  if (name == "shop") return Party::till;
  return std::nullopt;
}

// Records every request on every link.
class Recorder final : public local::Tap {
 public:
  explicit Recorder(std::vector<Recorded>& out) : m_out(out) {}
  void on_request(std::string_view link, std::string_view route, Json& body) override {
    const auto arrow = link.find("->");
    if (arrow == std::string_view::npos) return;
    const auto party = party_of(link.substr(arrow + 2));
    if (!party) return;
    // The CA's routes are open: a device enrols with no certificate yet.
    const Who caller = *party == Party::ca ? Who::none : who_from(link.substr(0, arrow));
    m_out.push_back({*party, caller, std::string(route), body.dump()});
    // Recorded, and spoilt so that it is refused: a valid request whose effect is left for the
    // fuzzer to have.
    if (link == withhold) body = Json::object();
  }
  std::string withhold;

 private:
  std::vector<Recorded>& m_out;
};

template <class T>
T must(Result<T> r, std::string_view what) {
  if (!r) die(what, r.error());
  return std::move(*r);
}
void must(const Status& s, std::string_view what) {
  if (!s) die(what, s.error());
}

Amount eur(const char* text) { return Amount::parse(text).value(); }

}  // namespace

void die(std::string_view what, const Error& error) {
  std::cerr << "fuzz: " << what << ": " << error.to_string() << std::endl;
  std::abort();
}

const char* party_name(Party p) {
  switch (p) {
    case Party::center: return "center";
    case Party::bank: return "bank";
    case Party::clearing: return "clearing";
    case Party::ca: return "ca";
    case Party::till: return "till";
    case Party::card_company: return "card_company";
    case Party::bank_institution: return "bank_institution";
    case Party::count: break;
  }
  return "?";
}

System::System(std::string_view target) : m_clock(kNow) {
  randombytes_set_implementation(&g_fixed);
  const char* shm = "/dev/shm";
  const fs::path base = ::access(shm, W_OK) == 0 ? fs::path(shm) : fs::temp_directory_path();
  m_dir = (base / ("ecash-fuzz-" + std::string(target) + "-" + std::to_string(::getpid()))).string();
  // libFuzzer ends a run with exit(), never destroying the system: its folder goes then.
  static std::string folder;
  folder = m_dir;
  std::atexit([] {
    std::error_code ignored;
    fs::remove_all(folder, ignored);
  });
  build();
}

System::~System() {
  tear_down();
  std::error_code ignored;
  fs::remove_all(m_dir, ignored);
}

void System::tear_down() {
  m_shop.reset();
  m_alice.reset();
  m_bob.reset();
  m_carol.reset();
  m_op.reset();
}

void System::count_input(std::uint64_t every) {
  if (++m_inputs % every != 0) return;
  tear_down();
  build();
}

void System::build() {
  // The same bytes from the generator every time: the same keys, IDs and signatures.
  g_state = kSeed;
  std::error_code ignored;
  fs::remove_all(m_dir, ignored);
  fs::create_directories(m_dir);
  fs::permissions(m_dir, fs::perms::owner_all, fs::perm_options::replace);
  m_recorded.clear();
  Recorder recorder(m_recorded);

  m_op = must(local::LocalOperator::open(m_dir + "/operator", Currency::from_code("EUR").value(),
                                         m_clock, m_random),
              "open the operator");
  m_op->set_tap(&recorder);
  const auto direct = [&](Party party, Who caller, protocol::Endpoint& to, const char* route,
                          const Json& body) {
    m_recorded.push_back({party, caller, route, body.dump()});
    // The sandboxes answer any caller: only their server's mount lets the clearing house alone in.
    return to.handle({}, route, body);
  };

  const auto wallet = [&](const char* name, const char* card, const char* deposit) {
    auto w = must(wallet::Wallet::open_in_memory(m_clock, m_random), "open a wallet");
    must(direct(Party::card_company, Who::clearing, m_op->card_company(), "open_card",
                {{"card_number", card}, {"limit", "EUR:1000.00"}}),
         "open a card");
    const std::string who(name);
    must(w->enrol(*m_op->to_ca(who), who, who + "'s street 1", card), "enrol " + who);
    auto center = m_op->to_center(who, w->certificate());
    must(w->connect(*center), "connect " + who);
    // The card's holder confirms it, as tests/system_fixture does: the sandbox's expiry and CVC,
    // then the one-time code the card company sent.
    must(w->verify_card(*center, std::string(sandbox::kSandboxExpiry), std::string(sandbox::kSandboxCvc)),
         "verify " + who + "'s card");
    const auto code = must(m_op->card_company().pending_code(card), "read " + who + "'s code");
    must(w->confirm_card(*center, code["code"].get<std::string>()), "confirm " + who + "'s card");
    if (deposit != nullptr) must(w->deposit(*center, eur(deposit)), "deposit for " + who);
    return w;
  };
  // Names as LocalOperator's links call them, so the recorder knows who sent what.
  m_alice = wallet("alice", "4111111111111111", "EUR:50.00");
  m_bob = wallet("bob", "5555555555554444", "EUR:20.00");
  m_carol = wallet("carol", "378282246310005", nullptr);

  m_shop = must(shop::Shop::open("", m_clock, m_random), "open the shop");
  const std::string iban = "DE89370400440532013000";
  must(direct(Party::bank_institution, Who::clearing, m_op->bank_institution(), "open_account",
              {{"iban", iban}, {"holder", "Corner Cafe Ltd"}, {"currency", "EUR"}}),
       "open the shop's account");
  must(m_shop->enrol(*m_op->to_ca("shop"), "Corner Cafe", "Market Square 2", iban), "enrol the shop");
  auto shop_center = m_op->to_center("shop", m_shop->certificate());
  must(m_shop->connect(*shop_center), "connect the shop");
  m_op->connect_shop(*m_shop);
  must(m_shop->register_shop(*shop_center), "register the shop");

  auto alice_center = m_op->to_center("alice", m_alice->certificate());
  auto bob_center = m_op->to_center("bob", m_bob->certificate());
  auto order = must(m_shop->create_order(eur("EUR:12.50"), "one flat white"), "make an order");
  must(m_alice->pay(*m_op->to_shop(*m_shop, "alice", m_alice->certificate()), order, nullptr),
       "pay the shop");
  // A second order left open, for the till's seeds to pay.
  auto open_order = must(m_shop->create_order(eur("EUR:2.00"), "tea"), "make an order");
  must(m_shop->payout(*shop_center), "pay the shop out");

  // Offline: Alice loads her allowance first (the default, as `ecash wallet sync` does): offline
  // value is what the bank set aside.
  must(m_alice->sync(*alice_center, m_alice->offline_limit()), "load alice's allowance");
  const auto request = must(m_bob->request_transfer(eur("EUR:7.00")), "bob asks for a transfer");
  const auto transfer = must(m_alice->send(Json::parse(request.dump())), "alice sends");
  const auto ack = must(m_bob->accept(Json::parse(transfer.dump())), "bob accepts");
  must(m_alice->confirm(Json::parse(ack.dump())), "alice confirms");
  const auto open_request = must(m_bob->request_transfer(eur("EUR:3.00")), "bob asks again");
  const auto open_transfer = must(m_alice->send(Json::parse(open_request.dump())), "alice sends again");
  m_files = {request.dump(), transfer.dump(), ack.dump(), open_request.dump(), open_transfer.dump()};
  must(m_alice->sync(*alice_center), "sync alice");
  must(m_bob->sync(*bob_center), "sync bob");

  // Bob pays the second order: his request is recorded and withheld from the till, so that the
  // seed pays an open order.
  recorder.withhold = "bob->shop";
  (void)m_bob->pay(*m_op->to_shop(*m_shop, "bob", m_bob->certificate()), open_order, nullptr);
  recorder.withhold.clear();

  // The operator's own reads of the clearing house (the report and the audit call it directly).
  m_recorded.push_back({Party::clearing, Who::center, "statement", Json{{"institution", "card_company"}}.dump()});
  m_recorded.push_back({Party::clearing, Who::center, "statement", Json{{"institution", "bank"}}.dump()});
  m_recorded.push_back({Party::clearing, Who::center, "audit", "{}"});
  m_recorded.push_back({Party::bank, Who::center, "report", "{}"});
  m_recorded.push_back({Party::clearing, Who::center, "report", "{}"});
  must(m_op->report(), "report");

  // Carol enrolled, then revoked: her certificate is refused everywhere.
  must(m_op->revoke(m_carol->certificate()->serial()), "revoke carol");
  m_op->set_tap(nullptr);

  // The certificates callers hold, in Who's order.
  const auto directory = must(local::load_directory(m_op->dir()), "read the directory");
  const auto institution = must(local::load_identity(m_op->dir() + "/sandbox", "institution"),
                                "read the sandboxes' identity");
  m_callers = {protocol::Caller{},
               protocol::Caller{*m_alice->certificate()},
               protocol::Caller{*m_bob->certificate()},
               protocol::Caller{*m_shop->certificate()},
               protocol::Caller{directory.center},
               protocol::Caller{directory.bank},
               protocol::Caller{directory.clearing},
               protocol::Caller{institution.certificate},
               protocol::Caller{directory.ca},
               protocol::Caller{*m_carol->certificate()}};
}

protocol::Endpoint& System::party(Party p) {
  switch (p) {
    case Party::center: return m_op->center();
    case Party::bank: return m_op->bank();
    case Party::clearing: return m_op->clearing();
    case Party::ca: return m_op->ca();
    case Party::till: return *m_shop;
    case Party::card_company: return m_op->card_company();
    case Party::bank_institution: return m_op->bank_institution();
    case Party::count: break;
  }
  std::abort();
}

void System::write_seeds(
    const std::function<std::vector<std::pair<std::string, std::string>>()>& seeds) const {
  const char* dir = std::getenv("ECASH_FUZZ_SEEDS");
  if (dir == nullptr) return;
  fs::create_directories(dir);
  std::set<std::string> seen;
  for (const auto& [name, bytes] : seeds()) {
    if (!seen.insert(bytes).second) continue;  // the same request twice (a retry, a replay)
    std::ofstream(fs::path(dir) / name, std::ios::binary) << bytes;
  }
  std::cerr << "fuzz: wrote " << seen.size() << " seeds to " << dir << std::endl;
}

}  // namespace ecash::fuzz
