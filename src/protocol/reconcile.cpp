#include "protocol/reconcile.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace ecash::protocol {
namespace {

std::string money(Currency currency, std::int64_t minor) {
  auto amount = Amount::from_minor(currency, minor);
  return amount ? amount->to_string() : std::to_string(minor) + " minor units";
}

// One kind of request (deposits against charges, payouts against transfers): sums the
// institution's side into total, what is still open into pending, and names each difference.
struct Side {
  const char* kind;         // "deposit"
  const char* institution;  // "the card company"
  const char* moved;        // "charged"
  const char* booked;       // "credited"
};

Status match(Currency currency, const Side& side, const RequestAmounts& books,
             const RequestAmounts& statement, const std::function<bool(const std::string&)>& open,
             Amount& total, Amount& pending, std::vector<std::string>& differences) {
  const auto add = [&](Amount& sum, std::int64_t minor) -> Status {
    auto amount = Amount::from_minor(currency, minor);
    if (!amount) return std::unexpected(amount.error());
    auto next = sum.add(*amount);
    if (!next) return std::unexpected(next.error());
    sum = *next;
    return {};
  };
  for (const auto& [request, minor] : statement) {
    if (auto ok = add(total, minor); !ok) return ok;
    const auto booked = books.find(request);
    const std::int64_t in_books = booked == books.end() ? 0 : booked->second;
    if (in_books == minor) continue;
    if (in_books < minor && open(request)) {
      if (auto ok = add(pending, minor - in_books); !ok) return ok;
      continue;
    }
    differences.push_back(std::string(side.kind) + " " + request + ": " + side.institution + " " +
                          side.moved + " " + money(currency, minor) + ", the books " +
                          side.booked + " " + money(currency, in_books));
  }
  for (const auto& [request, minor] : books) {
    if (statement.contains(request)) continue;
    differences.push_back(std::string(side.kind) + " " + request + ": the books " + side.booked +
                          " " + money(currency, minor) + ", " + side.institution + " " +
                          side.moved + " nothing");
  }
  return {};
}

}  // namespace

Status add_statement_page(Statements& statements, Currency currency, bool charges,
                          const Json& page) {
  const char* who = charges ? "the card company's statement" : "the bank's statement";
  if (!page.is_object() || !page.contains("entries") || !page.at("entries").is_array()) {
    return fail(ErrorCode::malformed, std::string(who) + " has no entries");
  }
  auto& into = charges ? statements.charges : statements.transfers;
  for (const auto& e : page.at("entries")) {
    if (!e.is_object() || !e.contains("request_id") || !e.contains("amount") ||
        !e.at("request_id").is_string() || !e.at("amount").is_string()) {
      return fail(ErrorCode::malformed, std::string(who) + ": an entry without request_id or amount");
    }
    const auto request = e.at("request_id").get<std::string>();
    const auto seq = e.contains("seq") ? e.at("seq").dump() : "?";
    auto amount = Amount::parse(e.at("amount").get<std::string>());
    if (request.empty()) {
      statements.problems.push_back(std::string(who) + ", entry " + seq + ": no reference");
      continue;
    }
    if (!amount || amount->currency() != currency) {
      statements.problems.push_back(std::string(who) + ", entry " + seq + " (" + request +
                                    "): not an amount in " + std::string(currency.code()));
      continue;
    }
    const bool refunded = e.contains("refunded") && e.at("refunded") == true;
    auto& sum = into[request];
    const std::int64_t add = refunded ? 0 : amount->minor();
    if (sum > Amount::kMaxMinor - add) return fail(ErrorCode::overflow, std::string(who) + " overflows");
    sum += add;
  }
  return {};
}

Result<InstitutionFigures> reconcile(Currency currency, const Books& books,
                                     const Statements& statements,
                                     const std::function<bool(const std::string&)>& open) {
  InstitutionFigures out{.card_charges = Amount::zero(currency),
                         .bank_transfers = Amount::zero(currency),
                         .being_credited = Amount::zero(currency),
                         .being_recorded = Amount::zero(currency)};
  std::vector<std::string> differences = statements.problems;
  if (auto ok = match(currency, {"deposit", "the card company", "charged", "credited"},
                      books.deposits, statements.charges, open, out.card_charges,
                      out.being_credited, differences);
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = match(currency, {"payout", "the bank", "transferred", "paid out"}, books.payouts,
                      statements.transfers, open, out.bank_transfers, out.being_recorded,
                      differences);
      !ok) {
    return std::unexpected(ok.error());
  }
  std::sort(differences.begin(), differences.end());
  out.differences = static_cast<std::int64_t>(differences.size());
  if (differences.size() > InstitutionFigures::kMaxNamed) {
    differences.resize(InstitutionFigures::kMaxNamed);
  }
  out.named = std::move(differences);
  return out;
}

}  // namespace ecash::protocol
