#include "protocol/notice.hpp"

#include <nlohmann/json.hpp>

#include "protocol/json_fields.hpp"

namespace ecash::protocol {
namespace {

// A list of strings in field name of j, or none when absent.
Result<std::vector<std::string>> strings(const Json& j, const char* name) {
  std::vector<std::string> out;
  if (!j.contains(name)) return out;
  const Json& list = j[name];
  if (!list.is_array())
    return fail(ErrorCode::malformed, std::string("notice.") + name + ": expected a list");
  for (const auto& item : list) {
    if (!item.is_string()) {
      return fail(ErrorCode::malformed, std::string("notice.") + name + ": expected strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

BalanceNotice BalanceNotice::of(const Amount& balance) {
  return BalanceNotice{.balance = balance,
                       .adjusted = Amount::zero(balance.currency()),
                       .changes = {},
                       .accepted = {},
                       .returned = {},
                       .refused = {},
                       .allowance = std::nullopt};
}

Json BalanceNotice::to_json() const {
  Json changes_json = Json::array();
  for (const auto& c : changes) {
    changes_json.push_back({{"kind", c.kind},
                            {"amount", c.amount.to_string()},
                            {"reference", c.reference},
                            {"at", c.at}});
    if (!c.id.empty()) changes_json.back()["id"] = c.id;
  }
  Json refused_json = Json::array();
  for (const auto& r : refused) {
    refused_json.push_back(
        {{"transfer_id", r.transfer_id}, {"code", std::string(to_string(r.code))}, {"why", r.why}});
  }
  Json out = {{"v", kVersion},
              {"balance", balance.to_string()},
              {"adjusted", adjusted.to_string()},
              {"changes", changes_json},
              {"accepted", accepted},
              {"refused", refused_json},
              {"returned", returned}};
  if (allowance) out["allowance"] = Json::parse(*allowance, nullptr, false);
  return out;
}

Result<BalanceNotice> BalanceNotice::from_json(const Json& j) {
  // Before version 1 a deposit receipt sealed the bare balance.
  if (j.is_string()) {
    auto balance = Amount::parse(j.get<std::string>());
    if (!balance) return fail(ErrorCode::malformed, "notice: " + balance.error().message);
    return of(*balance);
  }
  FieldReader r(j, "notice");
  const auto version = r.has("v") ? r.integer("v") : 0;
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  if (version > kVersion) {
    return fail(ErrorCode::malformed, "notice version " + std::to_string(version) +
                                          " is newer than this wallet reads (" +
                                          std::to_string(kVersion) + "): update the wallet");
  }
  auto out = of(r.amount("balance"));
  if (r.has("adjusted")) out.adjusted = r.amount("adjusted");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  if (out.adjusted.currency() != out.balance.currency()) {
    return fail(ErrorCode::currency_mismatch, "notice: adjusted and balance differ in currency");
  }
  if (j.contains("changes")) {
    if (!j["changes"].is_array())
      return fail(ErrorCode::malformed, "notice.changes: expected a list");
    for (const auto& item : j["changes"]) {
      FieldReader c(item, "notice.changes");
      Change change{.kind = c.text("kind"),
                    .amount = c.amount("amount"),
                    .reference = c.text("reference"),
                    .at = c.integer("at")};
      if (auto ok = c.status(); !ok) return std::unexpected(ok.error());
      if (item.contains("id")) {
        if (!item["id"].is_string()) return fail(ErrorCode::malformed, "notice.changes.id: expected text");
        change.id = item["id"].get<std::string>();
      }
      out.changes.push_back(std::move(change));
    }
  }
  for (auto [name, list] : {std::pair{"accepted", &out.accepted}, std::pair{"returned", &out.returned}}) {
    auto read = strings(j, name);
    if (!read) return std::unexpected(read.error());
    *list = std::move(*read);
  }
  if (j.contains("refused")) {
    if (!j["refused"].is_array()) return fail(ErrorCode::malformed, "notice.refused: expected a list");
    for (const auto& item : j["refused"]) {
      FieldReader r(item, "notice.refused");
      Refusal refusal{.transfer_id = r.text("transfer_id"),
                      .code = error_code_from_string(r.text("code")),
                      .why = r.text("why")};
      if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
      out.refused.push_back(std::move(refusal));
    }
  }
  if (j.contains("allowance")) {
    if (!j["allowance"].is_null() && !j["allowance"].is_object()) {
      return fail(ErrorCode::malformed, "notice.allowance: expected a signed allowance or null");
    }
    out.allowance = j["allowance"].dump();
  }
  return out;
}

Bytes BalanceNotice::seal(const crypto::SealingPublicKey& to) const {
  return crypto::seal(to, as_bytes(to_json().dump()));
}

Result<BalanceNotice> BalanceNotice::open(const crypto::SealingKey& key, ByteView sealed) {
  auto plain = key.open(sealed);
  if (!plain) return std::unexpected(plain.error());
  const auto text = as_text(*plain);
  // The unversioned deposit form is a bare amount, not JSON.
  if (!text.empty() && text.front() != '{') return from_json(Json(std::string(text)));
  const Json j = parse_limited(text);
  if (j.is_discarded()) return fail(ErrorCode::malformed, "notice: not JSON");
  return from_json(j);
}

}  // namespace ecash::protocol
