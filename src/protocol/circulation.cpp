#include "protocol/circulation.hpp"

#include <array>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <utility>

#include "protocol/json_fields.hpp"

namespace ecash::protocol {
namespace {

// The amount fields of the report, by their JSON names: one list for writing and reading.
template <class C>
auto amount_fields(C& c) {
  using Entry = std::pair<const char*, decltype(&c.deposited)>;
  return std::array<Entry, 9>{{{"deposited", &c.deposited},
                               {"paid_out", &c.paid_out},
                               {"balances", &c.balances},
                               {"owed", &c.owed},
                               {"in_flight", &c.in_flight},
                               {"offline_reserve", &c.offline_reserve},
                               {"unpaid_sales", &c.unpaid_sales},
                               {"paying_out", &c.paying_out},
                               {"refunded", &c.refunded}}};
}

// The counts of the report, by their JSON names: one list for writing and reading.
template <class C>
auto count_fields(C& c) {
  using Entry = std::pair<const char*, decltype(&c.users)>;
  return std::array<Entry, 6>{{{"payments", &c.payments},
                               {"users", &c.users},
                               {"shops", &c.shops},
                               {"open_cases", &c.open_cases},
                               {"owing_users", &c.owing_users},
                               {"owing_without_case", &c.owing_without_case}}};
}

Result<Amount> sum(Amount first, std::initializer_list<std::pair<int, const Amount*>> terms) {
  Result<Amount> total = first;
  for (const auto& [sign, amount] : terms) {
    total = sign > 0 ? total->add(*amount) : total->sub(*amount);
    if (!total) return total;
  }
  return total;
}

}  // namespace

Circulation Circulation::zero(Currency currency) {
  const auto z = Amount::zero(currency);
  return Circulation{.currency = currency,
                     .deposited = z,
                     .paid_out = z,
                     .balances = z,
                     .owed = z,
                     .in_flight = z,
                     .offline_reserve = z,
                     .unpaid_sales = z,
                     .paying_out = z,
                     .refunded = z};
}

Result<Amount> Circulation::in_circulation() const {
  return deposited.sub(paid_out);
}

Result<Amount> Circulation::accounted_for() const {
  return sum(balances, {{-1, &owed},
                        {+1, &in_flight},
                        {+1, &offline_reserve},
                        {+1, &unpaid_sales},
                        {+1, &paying_out}});
}

InstitutionFigures InstitutionFigures::not_read(Currency currency, std::string why) {
  const auto zero = Amount::zero(currency);
  return {.card_charges = zero,
          .bank_transfers = zero,
          .being_credited = zero,
          .being_recorded = zero,
          .unread = std::move(why)};
}

Result<bool> Circulation::balanced() const {
  auto left = in_circulation();
  if (!left) return std::unexpected(left.error());
  auto right = accounted_for();
  if (!right) return std::unexpected(right.error());
  bool ok = *left == *right && owing_without_case == 0;
  if (institutions) {
    const auto& i = *institutions;
    auto credited = deposited.add(i.being_credited);
    auto recorded = paid_out.add(i.being_recorded);
    ok = ok && i.unread.empty() && credited && i.card_charges == *credited && recorded &&
         i.bank_transfers == *recorded && i.differences == 0;
  }
  return ok;
}

Json Circulation::to_json() const {
  Json figures = Json::object();
  for (const auto& [name, member] : amount_fields(*this)) figures[name] = member->to_string();
  for (const auto& [name, member] : count_fields(*this)) figures[name] = *member;
  Json out = {{"currency", std::string(currency.code())}, {"figures", figures}};
  if (institutions) {
    const auto& i = *institutions;
    if (!i.unread.empty()) {
      out["institutions"] = {{"unread", i.unread}};
    } else {
      out["institutions"] = {{"card_charges", i.card_charges.to_string()},
                             {"bank_transfers", i.bank_transfers.to_string()},
                             {"being_credited", i.being_credited.to_string()},
                             {"being_recorded", i.being_recorded.to_string()},
                             {"differences", i.differences},
                             {"named", i.named}};
    }
  }
  const auto left = in_circulation();
  const auto right = accounted_for();
  const auto ok = balanced();
  out["in_circulation"] = left ? left->to_string() : "overflow";
  out["accounted_for"] = right ? right->to_string() : "overflow";
  out["balanced"] = ok && *ok;
  return out;
}

Result<Circulation> Circulation::from_json(const Json& j) {
  FieldReader top(j, "report");
  const auto code = top.text("currency");
  const Json& figures = top.object("figures");
  if (auto ok = top.status(); !ok) return std::unexpected(ok.error());
  auto currency = Currency::from_code(code);
  if (!currency) return std::unexpected(currency.error());
  auto out = Circulation::zero(*currency);
  FieldReader r(figures, "report.figures");
  for (const auto& [name, member] : amount_fields(out)) *member = r.amount(name);
  for (const auto& [name, member] : count_fields(out)) *member = r.integer(name);
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  if (top.has("institutions")) {
    FieldReader i(top.object("institutions"), "report.institutions");
    if (i.has("unread")) {
      out.institutions = InstitutionFigures::not_read(out.currency, i.text("unread"));
    } else {
      out.institutions = InstitutionFigures{.card_charges = i.amount("card_charges"),
                                            .bank_transfers = i.amount("bank_transfers"),
                                            .being_credited = i.amount("being_credited"),
                                            .being_recorded = i.amount("being_recorded"),
                                            .differences = i.integer("differences")};
      const Json& named = j.at("institutions").value("named", Json::array());
      if (!named.is_array()) return fail(ErrorCode::malformed, "report.institutions.named is not a list");
      for (const auto& name : named) {
        if (!name.is_string()) return fail(ErrorCode::malformed, "report.institutions.named");
        out.institutions->named.push_back(name.get<std::string>());
      }
    }
    if (auto ok = i.status(); !ok) return std::unexpected(ok.error());
  }
  for (const auto& [name, member] : amount_fields(out)) {
    if (member->currency() != out.currency) {
      return fail(
          ErrorCode::currency_mismatch,
          std::string("report.figures.") + name + " is not in " + std::string(out.currency.code()));
    }
  }
  return out;
}

}  // namespace ecash::protocol
