// A man in the middle on every link: each flow is run once to record its messages, then again
// once per signed field (and per certificate), with that one field changed in transit. A changed
// request must be refused with a specific code and change no store; a changed answer must be
// refused by its receiver, and the device's retry must then finish the flow with money moved once.
#include <nlohmann/json.hpp>

#include <functional>

#include "protocol/statements.hpp"
#include "system_fixture.hpp"

namespace ecash::testing {
namespace {

using protocol::Json;

struct Message {
  std::string link;
  std::string route;
  bool answer = false;
  Json json;
};

class Recorder final : public local::Tap {
 public:
  void on_request(std::string_view link, std::string_view route, Json& body) override {
    messages.push_back({std::string(link), std::string(route), false, body});
  }
  void on_answer(std::string_view link, std::string_view route, Json& answer) override {
    messages.push_back({std::string(link), std::string(route), true, answer});
  }
  std::vector<Message> messages;
};

struct Target {
  std::string link;
  std::string route;
  bool answer = false;
  Json::json_pointer field;
};

// Changes a value so that it still parses where it can: only a signature check can catch it.
Json changed(const Json& value) {
  if (value.is_string()) {
    auto s = value.get<std::string>();
    if (s.empty()) return "A";
    if (s.rfind("-----BEGIN", 0) == 0) {
      const auto at = s.size() / 2;  // inside the base64 body
      s[at] = s[at] == 'A' ? 'B' : 'A';
      return s;
    }
    if (s.find(':') != std::string::npos) {  // an amount: one more minor unit
      auto& last = s.back();
      last = last == '9' ? '8' : static_cast<char>(last + 1);
      return s;
    }
    char& c = s[0];
    c = c == 'A' ? 'B' : (c >= '0' && c <= '6') ? static_cast<char>(c + 1) : 'A';
    return s;
  }
  if (value.is_number_integer()) return value.get<std::int64_t>() + 1;
  if (value.is_boolean()) return !value.get<bool>();
  return "changed";
}

class OneChange final : public local::Tap {
 public:
  explicit OneChange(Target target) : m_target(std::move(target)) {}
  void on_request(std::string_view link, std::string_view route, Json& body) override {
    apply(link, route, false, body);
  }
  void on_answer(std::string_view link, std::string_view route, Json& answer) override {
    apply(link, route, true, answer);
  }
  bool fired() const { return m_fired; }

 private:
  void apply(std::string_view link, std::string_view route, bool answer, Json& json) {
    if (m_fired || link != m_target.link || route != m_target.route || answer != m_target.answer) return;
    if (!json.contains(m_target.field)) return;
    json[m_target.field] = changed(json[m_target.field]);
    m_fired = true;
  }
  Target m_target;
  bool m_fired = false;
};

// The fields worth changing: every leaf of every signed object, and every certificate.
void collect(const Json& j, const Json::json_pointer& at, std::vector<Json::json_pointer>& out) {
  if (j.is_object()) {
    const bool signed_object = j.contains("signature");
    for (const auto& [key, value] : j.items()) {
      const auto here = at / key;
      if (value.is_structured()) {
        collect(value, here, out);
      } else if (signed_object || key.ends_with("certificate")) {
        out.push_back(here);
      }
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (j[i].is_structured()) collect(j[i], at / i, out);
      else if (i == 0) out.push_back(at / i);  // one element of an endorsement's list
    }
  }
}

struct FlowCase {
  const char* name;
  // Brings the system to the flow's starting point (untampered).
  std::function<void()> prepare;
  // Runs the flow; its error.
  std::function<Status()> run;
  // The device's retry after a refused answer.
  std::function<Status()> retry;
  // Money after the flow, as the untampered run leaves it.
  std::function<std::string()> outcome;
};

class TamperTest : public SystemTest {
 protected:
  Device m_alice;
  ShopDevice m_shop;
  Json m_request;

  void fresh() {
    m_alice = {};
    m_shop = {};
    TearDown();
    SetUp();
  }

  std::string money() {
    const auto t = totals();
    std::string out = t.to_json()["figures"].dump();
    if (m_alice.wallet) out += " wallet " + m_alice.wallet->balance().value().to_string();
    return out;
  }

  Id128 order_id() const {
    return protocol::Signed<protocol::PaymentRequest>::from_json(m_request["request"])->body.order_id;
  }

  std::vector<FlowCase> flows() {
    auto with_wallet = [this] { m_alice = make_wallet("Alice", kAliceCard); };
    auto with_everything = [this] {
      m_alice = make_wallet("Alice", kAliceCard);
      m_shop = make_shop("Corner Cafe");
      ASSERT_TRUE(m_shop.shop->register_shop(*m_shop.center).has_value());
      ASSERT_TRUE(m_alice.wallet->deposit(*m_alice.center, eur("EUR:50.00")).has_value());
    };
    auto status = [](auto result) -> Status {
      if (!result) return std::unexpected(result.error());
      return {};
    };
    auto wallet_retry = [this, status] {
      auto to_shop = m_shop.shop ? wallet_to_shop(m_alice, m_shop) : nullptr;
      auto sent = m_alice.wallet->retry_pending(*m_alice.center, to_shop.get());
      if (sent && *sent == 0) return Status(fail(ErrorCode::not_found, "nothing pending"));
      return status(sent);
    };
    return {
        {"first deposit", with_wallet,
         [this, status] { return status(m_alice.wallet->deposit(*m_alice.center, eur("EUR:50.00"))); },
         wallet_retry, [this] { return money(); }},
        {"deposit again",
         [this, with_wallet] {
           with_wallet();
           ASSERT_TRUE(m_alice.wallet->deposit(*m_alice.center, eur("EUR:50.00")).has_value());
         },
         [this, status] { return status(m_alice.wallet->deposit(*m_alice.center, eur("EUR:20.00"))); },
         wallet_retry, [this] { return money(); }},
        {"register shop", [this] { m_shop = make_shop("Corner Cafe"); },
         [this, status] { return status(m_shop.shop->register_shop(*m_shop.center)); },
         [this, status] { return status(m_shop.shop->register_shop(*m_shop.center)); },
         [this] { return money(); }},
        {"pay",
         [this, with_everything] {
           with_everything();
           m_request = m_shop.shop->create_order(eur("EUR:12.50"), "one flat white").value();
         },
         [this, status] {
           return status(m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), m_request, nullptr));
         },
         wallet_retry, [this] { return money(); }},
        {"payout",
         [this, with_everything] {
           with_everything();
           auto request = m_shop.shop->create_order(eur("EUR:12.50"), "lunch").value();
           ASSERT_TRUE(m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), request, nullptr));
         },
         [this, status] { return status(m_shop.shop->payout(*m_shop.center)); },
         [this, status] { return status(m_shop.shop->payout(*m_shop.center)); },
         [this] { return money(); }},
        {"refund",
         [this, with_everything] {
           with_everything();
           m_request = m_shop.shop->create_order(eur("EUR:12.50"), "a scarf").value();
           ASSERT_TRUE(m_alice.wallet->pay(*wallet_to_shop(m_alice, m_shop), m_request, nullptr));
         },
         [this, status] { return status(m_shop.shop->refund(*m_shop.center, order_id(), eur("EUR:5.00"), "torn")); },
         [this, status] { return status(m_shop.shop->refund(*m_shop.center, order_id(), eur("EUR:5.00"), "torn")); },
         [this] { return money(); }},
    };
  }
};

bool outside(const std::string& link) {
  return link.ends_with("card_company") || link.ends_with("bank_institution");
}

TEST_F(TamperTest, EveryChangedFieldIsCaughtAndNothingIsLostOrCreated) {
  int cases = 0;
  for (auto& flow : flows()) {
    SCOPED_TRACE(flow.name);
    // Record the untampered flow and its outcome.
    fresh();
    flow.prepare();
    Recorder recorder;
    m_op->set_tap(&recorder);
    auto clean = flow.run();
    m_op->set_tap(nullptr);
    ASSERT_TRUE(clean.has_value()) << clean.error().to_string();
    const auto expected_outcome = flow.outcome();

    std::vector<Target> targets;
    for (const auto& m : recorder.messages) {
      if (outside(m.link)) continue;
      std::vector<Json::json_pointer> fields;
      collect(m.json, Json::json_pointer(), fields);
      for (auto& f : fields) targets.push_back({m.link, m.route, m.answer, f});
    }
    ASSERT_GT(targets.size(), 5u);

    for (const auto& target : targets) {
      const std::string where = target.link + " " + target.route +
                                (target.answer ? " answer " : " request ") +
                                target.field.to_string();
      SCOPED_TRACE(where);
      fresh();
      flow.prepare();
      const auto before = snapshot_stores(m_dir);
      const auto card_before = card(kAliceCard);
      OneChange tap(target);
      m_op->set_tap(&tap);
      auto result = flow.run();
      m_op->set_tap(nullptr);
      ASSERT_TRUE(tap.fired());
      ++cases;
      ASSERT_FALSE(result.has_value()) << "accepted a changed field";
      EXPECT_NE(result.error().code, ErrorCode::internal) << result.error().to_string();

      // The bank refusing to settle a payout clearing already made: the center keeps asking.
      const bool settle_later = !target.answer && target.link == "center->bank" &&
                                target.route == "payout_finish";
      // Clearing refusing a payout the bank set aside: the center cancels it, the sales return.
      const bool cancelled =
          !target.answer && target.link == "center->clearing" && target.route == "payout";
      if (settle_later) {
        EXPECT_EQ(result.error().code, ErrorCode::unavailable) << result.error().to_string();
        auto retried = flow.retry();
        ASSERT_TRUE(retried.has_value()) << retried.error().to_string();
        EXPECT_EQ(flow.outcome(), expected_outcome);
      } else if (cancelled) {
        EXPECT_EQ(describe_difference(before, snapshot_stores(m_dir)),
                  "operator/bank/bank.db:payouts operator/bank/bank.db:postings ")
            << result.error().to_string();
      } else if (!target.answer) {
        // A refused request changes nothing. The one exception: the bank refusing a deposit the
        // card company already charged, which the center refunds.
        const auto diff = describe_difference(before, snapshot_stores(m_dir));
        if (target.link == "center->bank" && target.route == "credit") {
          EXPECT_EQ(card(kAliceCard)["available"], card_before["available"]);
          EXPECT_EQ(diff, "operator/clearing/clearing.db:charges "
                          "operator/sandbox/card_company.db:charges "
                          "operator/sandbox/card_company.db:refunds ")
              << "refund did not happen as expected";
        } else {
          EXPECT_EQ(diff, "") << result.error().to_string();
        }
      } else {
        // A refused answer: the retry gets the stored, unchanged answer and finishes the flow.
        auto retried = flow.retry();
        ASSERT_TRUE(retried.has_value()) << "first: " << result.error().to_string()
                                         << " retry: " << retried.error().to_string();
        EXPECT_EQ(flow.outcome(), expected_outcome);
      }
      expect_circulation_balances();
    }
  }
  std::cout << "tamper cases run: " << cases << "\n";
  EXPECT_GT(cases, 100);
}

}  // namespace
}  // namespace ecash::testing
