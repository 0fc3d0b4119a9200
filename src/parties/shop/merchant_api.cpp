#include "parties/shop/merchant_api.hpp"

#include <nlohmann/json.hpp>

#include "crypto/hash.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/statements.hpp"

namespace ecash::shop {

using protocol::Json;

namespace {

// The ID of what a call makes (an order, a refund, a payout), from the shop and the call's
// idempotency key: asked again after a lost answer, or after a crash before its answer was kept,
// the call makes the same thing under the same ID, never a second one. (Request IDs are one space
// at the operator: the shop is in it, so two shops may use one key.)
Result<Id128> id_for_key(const Shop& shop, std::string_view what, const std::string& key) {
  const auto shop_id = shop.shop_id();
  if (!shop_id) return fail(ErrorCode::invalid_argument, "the shop is not registered");
  const auto digest =
      crypto::blake2b_256(as_bytes("ecash shop api " + std::string(what) + " " + shop_id->to_string() + " " + key));
  std::array<std::uint8_t, Id128::kSize> id{};
  std::copy_n(digest.begin(), id.size(), id.begin());
  return Id128(id);
}

}  // namespace

const std::vector<std::string>& MerchantApi::routes() {
  static const std::vector<std::string> list = {"create_order", "order", "orders", "refund", "payout", "webhook"};
  return list;
}

Result<Json> MerchantApi::handle(const protocol::Caller& caller, std::string_view route, const Json& body) {
  if (auto ok = m_shop.check_api_token(caller.bearer); !ok) return std::unexpected(ok.error());
  if (!body.is_object()) return fail(ErrorCode::malformed, "the body is a JSON object");
  try {
    if (route == "create_order") return create_order(body);
    if (route == "order") return order(body);
    if (route == "orders") return m_shop.sales();
    if (route == "refund") return refund(body);
    if (route == "webhook") {
      protocol::FieldReader r(body, "webhook");
      const auto url = r.text("url");
      if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
      auto secret = m_shop.set_webhook(url);
      if (!secret) return std::unexpected(secret.error());
      return Json{{"url", url}, {"secret", *secret}};
    }
    if (route == "payout") {
      protocol::FieldReader r(body, "payout");
      const auto key = r.text("idempotency_key");
      if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
      auto id = id_for_key(m_shop, "payout", key);
      if (!id) return std::unexpected(id.error());
      return m_shop.once_per_key(key, route, body, [&]() -> Result<Json> {
        auto paid = m_shop.payout(m_center, *id);
        if (!paid) return std::unexpected(paid.error());
        return Json{{"amount", paid->amount.to_string()}, {"paid", paid->paid}, {"reference", paid->reference}};
      });
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::malformed, std::string("malformed message: ") + e.what());
  }
  return fail(ErrorCode::not_found, "the merchant API has no route " + std::string(route));
}

Result<Json> MerchantApi::order_json(const Id128& order_id) {
  const auto till = m_till();
  auto view = m_shop.checkout(order_id, till);
  if (!view) return std::unexpected(view.error());
  const bool payable = view->state == "unpaid" || view->state == "paying";
  // A payment request names the till wallets pay at: none while it is starting or stopping.
  if (payable && till.empty()) {
    return fail(ErrorCode::unavailable, "the till is not taking payments now (starting or stopping): ask again");
  }
  Json out = {{"order_id", view->order_id},
              {"amount", view->amount.to_string()},
              {"item", view->item},
              {"state", view->state},
              {"refunded", view->refunded.to_string()},
              {"expires_unix", view->expires}};
  if (!view->reference.empty()) out["reference"] = view->reference;
  if (payable) {
    out["payment_uri"] = view->payment_uri;
    if (!m_checkout.empty()) out["checkout_url"] = m_checkout + "/checkout/" + view->order_id;
    auto qr = qr_svg(view->payment_uri);
    if (qr) out["qr_svg"] = *qr;
  }
  return out;
}

Result<Json> MerchantApi::create_order(const Json& body) {
  protocol::FieldReader r(body, "create_order");
  const auto key = r.text("idempotency_key");
  const auto amount = r.amount("amount");
  const auto item = r.text("item");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  // Optional fields are of their type when given: a mistake in one is refused, not ignored.
  auto expires_in = Shop::kOrderLifetime;
  if (body.contains("expires_in")) {
    if (!body["expires_in"].is_number_integer()) {
      return fail(ErrorCode::invalid_argument, "expires_in: whole seconds, 1 to 604800");
    }
    expires_in = body["expires_in"].get<std::int64_t>();
  }
  std::string reference;
  if (body.contains("reference")) {
    if (!body["reference"].is_string()) return fail(ErrorCode::invalid_argument, "reference: text of the shop's own");
    reference = body["reference"].get<std::string>();
  }
  auto id = id_for_key(m_shop, "order", key);
  if (!id) return std::unexpected(id.error());
  return m_shop.once_per_key(key, "create_order", body, [&]() -> Result<Json> {
    auto made = m_shop.create_order(amount, item, expires_in, reference, *id);
    if (!made) return std::unexpected(made.error());
    auto request = protocol::Signed<protocol::PaymentRequest>::from_json((*made)["request"]);
    if (!request) return std::unexpected(request.error());
    return order_json(request->body.order_id);
  });
}

Result<Json> MerchantApi::order(const Json& body) {
  protocol::FieldReader r(body, "order");
  const auto order_id = r.id("order_id");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  return order_json(order_id);
}

Result<Json> MerchantApi::refund(const Json& body) {
  protocol::FieldReader r(body, "refund");
  const auto key = r.text("idempotency_key");
  const auto order_id = r.id("order_id");
  const auto reason = r.text("reason");
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  std::optional<Amount> amount;
  if (body.contains("amount")) {
    protocol::FieldReader a(body, "refund");
    amount = a.amount("amount");
    if (auto ok = a.status(); !ok) return std::unexpected(ok.error());
  }
  // One refund per key: a refund refused by the bank is that key's answer too (its ID is used).
  auto id = id_for_key(m_shop, "refund", key);
  if (!id) return std::unexpected(id.error());
  return m_shop.once_per_key(key, "refund", body, [&]() -> Result<Json> {
    auto made = m_shop.refund(m_center, order_id, amount, reason, *id);
    if (!made) return std::unexpected(made.error());
    return Json{{"refund_id", made->request_id.to_string()},
                {"order_id", made->order_id.to_string()},
                {"amount", made->amount.to_string()},
                {"refunded", made->refunded.to_string()}};
  });
}

}  // namespace ecash::shop
