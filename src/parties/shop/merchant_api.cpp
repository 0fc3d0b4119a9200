#include "parties/shop/merchant_api.hpp"

#include <nlohmann/json.hpp>

#include "crypto/hash.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/statements.hpp"

namespace ecash::shop {

using protocol::Json;

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
      return m_shop.once_per_key(key, route, body, [&]() -> Result<Json> {
        auto paid = m_shop.payout(m_center);
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
  auto view = m_shop.checkout(order_id, m_till());
  if (!view) return std::unexpected(view.error());
  Json out = {{"order_id", view->order_id},
              {"amount", view->amount.to_string()},
              {"item", view->item},
              {"state", view->state},
              {"refunded", view->refunded.to_string()},
              {"expires_unix", view->expires}};
  if (!view->reference.empty()) out["reference"] = view->reference;
  if (view->state == "unpaid" || view->state == "paying") {
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
  const auto expires_in = body.contains("expires_in") && body["expires_in"].is_number_integer()
                              ? body["expires_in"].get<std::int64_t>()
                              : Shop::kOrderLifetime;
  const auto reference = body.contains("reference") && body["reference"].is_string()
                             ? body["reference"].get<std::string>()
                             : std::string();
  return m_shop.once_per_key(key, "create_order", body, [&]() -> Result<Json> {
    auto made = m_shop.create_order(amount, item, expires_in, reference);
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
  // One refund per key: its request ID follows from the key (and the shop: request IDs are one
  // space at the operator), so a call asked again after a lost answer (or a crash) sends the
  // same refund, never a second one.
  const auto shop_id = m_shop.shop_id();
  if (!shop_id) return fail(ErrorCode::invalid_argument, "the shop is not registered");
  const auto digest = crypto::blake2b_256(as_bytes("ecash shop api refund " + shop_id->to_string() + " " + key));
  std::array<std::uint8_t, Id128::kSize> id{};
  std::copy_n(digest.begin(), id.size(), id.begin());
  return m_shop.once_per_key(key, "refund", body, [&]() -> Result<Json> {
    auto made = m_shop.refund(m_center, order_id, amount, reason, Id128(id));
    if (!made) return std::unexpected(made.error());
    return Json{{"refund_id", made->request_id.to_string()},
                {"order_id", made->order_id.to_string()},
                {"amount", made->amount.to_string()},
                {"refunded", made->refunded.to_string()}};
  });
}

}  // namespace ecash::shop
