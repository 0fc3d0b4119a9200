// Every signed statement's JSON reader: no input crashes or throws, and whatever parses writes
// back to JSON that parses to the same canonical encoding (what signatures cover).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <tuple>

#include "protocol/statements.hpp"

namespace {

using namespace ecash::protocol;

template <class T>
void check(const Json& j) {
  auto parsed = Signed<T>::from_json(j);
  if (!parsed) return;
  auto again = Signed<T>::from_json(Json::parse(parsed->to_json().dump()));
  if (!again) std::abort();
  const auto a = parsed->body.encode();
  const auto b = again->body.encode();
  if (!std::equal(a.data().begin(), a.data().end(), b.data().begin(), b.data().end())) std::abort();
  if (again->signature != parsed->signature) std::abort();
}

template <class... T>
void check_all(const Json& j) {
  (check<T>(j), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Json j = Json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  check_all<EnrolRequest, DepositOrder, DepositCenterCharge, DepositCharged, DepositCenterCredit,
            DepositReceipt, DepositReceiptCenter, ShopRegistration, ShopAccountVerified,
            ShopRegistered, PaymentRequest, PaymentOrder, PaymentShop, PaymentCenter,
            PaymentReceiptBank, PaymentReceiptCenter, PayoutRequest, PayoutCenter, PayoutAmount,
            PayoutResult, TransferRequest, Transfer, TransferAck, SyncOrder, SyncCenter,
            SyncReceipt, FraudCase, DisclosureRequest, DisclosureLogEntry>(j);
  return 0;
}
