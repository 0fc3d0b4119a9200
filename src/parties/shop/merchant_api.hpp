#pragma once
// The merchant API (issue 14): JSON over HTTPS on a listener of the till's own, for the shop's
// own backend, authenticated by the token `shop init` (or `shop api-token`) printed once, each
// call that creates something kept by its idempotency key. docs/merchant-api.json describes it.
#include <functional>
#include <string>
#include <vector>

#include "parties/shop/shop.hpp"
#include "protocol/transport.hpp"

namespace ecash::shop {

class MerchantApi final : public protocol::Endpoint {
 public:
  // till: HOST:PORT wallets pay at, "" when the till takes no payments (an order's state is then
  // unavailable: its payment request would name nowhere); checkout: the checkout pages' base URL ("" when none).
  MerchantApi(Shop& shop, protocol::Channel& center, std::function<std::string()> till, std::string checkout)
      : m_shop(shop), m_center(center), m_till(std::move(till)), m_checkout(std::move(checkout)) {}

  // POST /v1/api/<route>, body JSON; "Authorization: Bearer TOKEN".
  Result<protocol::Json> handle(const protocol::Caller& caller, std::string_view route,
                                const protocol::Json& body) override;

  // Every route it answers (the OpenAPI description must list exactly these).
  static const std::vector<std::string>& routes();

 private:
  Result<protocol::Json> create_order(const protocol::Json& body);
  Result<protocol::Json> order(const protocol::Json& body);
  Result<protocol::Json> refund(const protocol::Json& body);
  Result<protocol::Json> order_json(const Id128& order_id);

  Shop& m_shop;
  protocol::Channel& m_center;
  std::function<std::string()> m_till;
  std::string m_checkout;
};

}  // namespace ecash::shop
