#include "protocol/statements.hpp"


namespace ecash::protocol {

using crypto::CanonicalWriter;

Status check_fresh(UnixSeconds timestamp, UnixSeconds now) {
  // Compared without subtracting the untrusted value, which could overflow.
  if (timestamp < now - kMaxClockSkew || timestamp > now + kMaxClockSkew) {
    return fail(ErrorCode::stale, "request timestamp " + std::to_string(timestamp) +
                                      " is more than " + std::to_string(kMaxClockSkew) +
                                      " s from this party's clock");
  }
  return {};
}

crypto::Digest chain_digest(const CanonicalWriter& statement, const crypto::Signature& signature) {
  Bytes all(statement.data().begin(), statement.data().end());
  all.insert(all.end(), signature.bytes().begin(), signature.bytes().end());
  return crypto::blake2b_256(all);
}

crypto::Digest blob_digest(ByteView bytes) { return crypto::blake2b_256(bytes); }

namespace {

template <class T>
Result<T> finish(const FieldReader& r, T value) {
  if (auto ok = r.status(); !ok) return std::unexpected(ok.error());
  return value;
}

}  // namespace

// EnrolRequest

CanonicalWriter EnrolRequest::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp).text(role).text(name).text(address);
  w.fixed(verify_key.bytes()).fixed(sealing_key.bytes()).boolean(account_commitment.has_value());
  if (account_commitment) w.fixed(*account_commitment);
  return w;
}

Json EnrolRequest::to_json() const {
  Json j = {{"request_id", request_id.to_string()}, {"timestamp", timestamp},
            {"role", role}, {"name", name}, {"address", address},
            {"verify_key", verify_key.to_text()}, {"sealing_key", sealing_key.to_text()}};
  if (account_commitment) j["account_commitment"] = to_text(*account_commitment);
  return j;
}

Result<EnrolRequest> EnrolRequest::from_json(const Json& j) {
  FieldReader r(j, kName);
  EnrolRequest out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp"),
                   .role = r.text("role"), .name = r.text("name"), .address = r.text("address"),
                   .verify_key = r.verify_key("verify_key"),
                   .sealing_key = r.sealing_key("sealing_key"), .account_commitment = {}};
  if (r.has("account_commitment")) out.account_commitment = r.digest("account_commitment");
  return finish(r, std::move(out));
}

// DepositOrder

CanonicalWriter DepositOrder::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp).bytes(sealed_user_id).amount(amount).bytes(sealed_card);
  return w;
}

Json DepositOrder::to_json() const {
  return {{"request_id", request_id.to_string()}, {"timestamp", timestamp},
          {"sealed_user_id", to_text(sealed_user_id)}, {"amount", amount.to_string()},
          {"sealed_card", to_text(sealed_card)}};
}

Result<DepositOrder> DepositOrder::from_json(const Json& j) {
  FieldReader r(j, kName);
  DepositOrder out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp"),
                   .sealed_user_id = r.bytes("sealed_user_id"), .amount = r.amount("amount"),
                   .sealed_card = r.bytes("sealed_card")};
  return finish(r, std::move(out));
}

// DepositCenterCredit

CanonicalWriter DepositCenterCredit::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).fixed(order).fixed(charged).id(user_id);
  return w;
}

Json DepositCenterCredit::to_json() const {
  return {{"request_id", request_id.to_string()}, {"order", to_text(order)},
          {"charged", to_text(charged)}, {"user_id", user_id.to_string()}};
}

Result<DepositCenterCredit> DepositCenterCredit::from_json(const Json& j) {
  FieldReader r(j, kName);
  DepositCenterCredit out{.request_id = r.id("request_id"), .order = r.digest("order"),
                          .charged = r.digest("charged"), .user_id = r.id("user_id")};
  return finish(r, std::move(out));
}

// DepositCharged

CanonicalWriter DepositCharged::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).amount(amount).text(charge_ref).fixed(order);
  return w;
}

Json DepositCharged::to_json() const {
  return {{"request_id", request_id.to_string()}, {"amount", amount.to_string()},
          {"charge_ref", charge_ref}, {"order", to_text(order)}};
}

Result<DepositCharged> DepositCharged::from_json(const Json& j) {
  FieldReader r(j, kName);
  DepositCharged out{.request_id = r.id("request_id"), .amount = r.amount("amount"),
                     .charge_ref = r.text("charge_ref"), .order = r.digest("order")};
  return finish(r, std::move(out));
}

// DepositReceipt

CanonicalWriter DepositReceipt::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).id(user_id).amount(amount).bytes(sealed_balance).fixed(order);
  return w;
}

Json DepositReceipt::to_json() const {
  return {{"request_id", request_id.to_string()}, {"user_id", user_id.to_string()},
          {"amount", amount.to_string()}, {"sealed_balance", to_text(sealed_balance)},
          {"order", to_text(order)}};
}

Result<DepositReceipt> DepositReceipt::from_json(const Json& j) {
  FieldReader r(j, kName);
  DepositReceipt out{.request_id = r.id("request_id"), .user_id = r.id("user_id"),
                     .amount = r.amount("amount"), .sealed_balance = r.bytes("sealed_balance"),
                     .order = r.digest("order")};
  return finish(r, std::move(out));
}

// ShopRegistration

CanonicalWriter ShopRegistration::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp).bytes(sealed_account);
  return w;
}

Json ShopRegistration::to_json() const {
  return {{"request_id", request_id.to_string()}, {"timestamp", timestamp},
          {"sealed_account", to_text(sealed_account)}};
}

Result<ShopRegistration> ShopRegistration::from_json(const Json& j) {
  FieldReader r(j, kName);
  ShopRegistration out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp"),
                       .sealed_account = r.bytes("sealed_account")};
  return finish(r, std::move(out));
}

// ShopAccountVerified

CanonicalWriter ShopAccountVerified::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).text(certificate_serial).fixed(registration);
  return w;
}

Json ShopAccountVerified::to_json() const {
  return {{"request_id", request_id.to_string()}, {"certificate_serial", certificate_serial},
          {"registration", to_text(registration)}};
}

Result<ShopAccountVerified> ShopAccountVerified::from_json(const Json& j) {
  FieldReader r(j, kName);
  ShopAccountVerified out{.request_id = r.id("request_id"),
                          .certificate_serial = r.text("certificate_serial"),
                          .registration = r.digest("registration")};
  return finish(r, std::move(out));
}

// ShopRegistered

CanonicalWriter ShopRegistered::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).id(shop_id).text(certificate_serial).fixed(registration);
  return w;
}

Json ShopRegistered::to_json() const {
  return {{"request_id", request_id.to_string()}, {"shop_id", shop_id.to_string()},
          {"certificate_serial", certificate_serial}, {"registration", to_text(registration)}};
}

Result<ShopRegistered> ShopRegistered::from_json(const Json& j) {
  FieldReader r(j, kName);
  ShopRegistered out{.request_id = r.id("request_id"), .shop_id = r.id("shop_id"),
                     .certificate_serial = r.text("certificate_serial"),
                     .registration = r.digest("registration")};
  return finish(r, std::move(out));
}

// PaymentRequest

CanonicalWriter PaymentRequest::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(order_id).amount(amount).text(item).i64(expires);
  return w;
}

Json PaymentRequest::to_json() const {
  return {{"order_id", order_id.to_string()}, {"amount", amount.to_string()}, {"item", item},
          {"expires", expires}};
}

Result<PaymentRequest> PaymentRequest::from_json(const Json& j) {
  FieldReader r(j, kName);
  PaymentRequest out{.order_id = r.id("order_id"), .amount = r.amount("amount"),
                     .item = r.text("item"), .expires = r.integer("expires")};
  return finish(r, std::move(out));
}

// PaymentOrder

CanonicalWriter PaymentOrder::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp).id(order_id).text(shop).amount(amount);
  w.bytes(sealed_article).bytes(sealed_user_id).bytes(sealed_transfers);
  return w;
}

Json PaymentOrder::to_json() const {
  return {{"request_id", request_id.to_string()}, {"timestamp", timestamp},
          {"order_id", order_id.to_string()}, {"shop", shop}, {"amount", amount.to_string()},
          {"sealed_article", to_text(sealed_article)},
          {"sealed_user_id", to_text(sealed_user_id)},
          {"sealed_transfers", to_text(sealed_transfers)}};
}

Result<PaymentOrder> PaymentOrder::from_json(const Json& j) {
  FieldReader r(j, kName);
  PaymentOrder out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp"),
                   .order_id = r.id("order_id"), .shop = r.text("shop"),
                   .amount = r.amount("amount"), .sealed_article = r.bytes("sealed_article"),
                   .sealed_user_id = r.bytes("sealed_user_id"),
                   .sealed_transfers = r.bytes("sealed_transfers")};
  return finish(r, std::move(out));
}

// PaymentShop

CanonicalWriter PaymentShop::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).fixed(order).bytes(sealed_shop_id);
  return w;
}

Json PaymentShop::to_json() const {
  return {{"request_id", request_id.to_string()}, {"order", to_text(order)},
          {"sealed_shop_id", to_text(sealed_shop_id)}};
}

Result<PaymentShop> PaymentShop::from_json(const Json& j) {
  FieldReader r(j, kName);
  PaymentShop out{.request_id = r.id("request_id"), .order = r.digest("order"),
                  .sealed_shop_id = r.bytes("sealed_shop_id")};
  return finish(r, std::move(out));
}

// PaymentCenter

CanonicalWriter PaymentCenter::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).fixed(order).fixed(shop).id(user_id).id(shop_id).amount(amount);
  return w;
}

Json PaymentCenter::to_json() const {
  return {{"request_id", request_id.to_string()}, {"order", to_text(order)},
          {"shop", to_text(shop)}, {"user_id", user_id.to_string()},
          {"shop_id", shop_id.to_string()}, {"amount", amount.to_string()}};
}

Result<PaymentCenter> PaymentCenter::from_json(const Json& j) {
  FieldReader r(j, kName);
  PaymentCenter out{.request_id = r.id("request_id"), .order = r.digest("order"),
                    .shop = r.digest("shop"), .user_id = r.id("user_id"),
                    .shop_id = r.id("shop_id"), .amount = r.amount("amount")};
  return finish(r, std::move(out));
}

// PaymentReceiptBank

CanonicalWriter PaymentReceiptBank::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).amount(amount).bytes(sealed_balance).fixed(order);
  return w;
}

Json PaymentReceiptBank::to_json() const {
  return {{"request_id", request_id.to_string()}, {"amount", amount.to_string()},
          {"sealed_balance", to_text(sealed_balance)}, {"order", to_text(order)}};
}

Result<PaymentReceiptBank> PaymentReceiptBank::from_json(const Json& j) {
  FieldReader r(j, kName);
  PaymentReceiptBank out{.request_id = r.id("request_id"), .amount = r.amount("amount"),
                         .sealed_balance = r.bytes("sealed_balance"), .order = r.digest("order")};
  return finish(r, std::move(out));
}

// PayoutRequest

CanonicalWriter PayoutRequest::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp);
  return w;
}

Json PayoutRequest::to_json() const {
  return {{"request_id", request_id.to_string()}, {"timestamp", timestamp}};
}

Result<PayoutRequest> PayoutRequest::from_json(const Json& j) {
  FieldReader r(j, kName);
  PayoutRequest out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp")};
  return finish(r, std::move(out));
}

// PayoutCenter

CanonicalWriter PayoutCenter::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).fixed(payout_request).id(shop_id);
  return w;
}

Json PayoutCenter::to_json() const {
  return {{"request_id", request_id.to_string()}, {"payout_request", to_text(payout_request)},
          {"shop_id", shop_id.to_string()}};
}

Result<PayoutCenter> PayoutCenter::from_json(const Json& j) {
  FieldReader r(j, kName);
  PayoutCenter out{.request_id = r.id("request_id"),
                   .payout_request = r.digest("payout_request"), .shop_id = r.id("shop_id")};
  return finish(r, std::move(out));
}

// PayoutAmount

CanonicalWriter PayoutAmount::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).id(shop_id).amount(amount);
  return w;
}

Json PayoutAmount::to_json() const {
  return {{"request_id", request_id.to_string()}, {"shop_id", shop_id.to_string()},
          {"amount", amount.to_string()}};
}

Result<PayoutAmount> PayoutAmount::from_json(const Json& j) {
  FieldReader r(j, kName);
  PayoutAmount out{.request_id = r.id("request_id"), .shop_id = r.id("shop_id"),
                   .amount = r.amount("amount")};
  return finish(r, std::move(out));
}

// PayoutResult

CanonicalWriter PayoutResult::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).amount(amount).boolean(paid).text(reference);
  return w;
}

Json PayoutResult::to_json() const {
  return {{"request_id", request_id.to_string()}, {"amount", amount.to_string()},
          {"paid", paid}, {"reference", reference}};
}

Result<PayoutResult> PayoutResult::from_json(const Json& j) {
  FieldReader r(j, kName);
  PayoutResult out{.request_id = r.id("request_id"), .amount = r.amount("amount"),
                   .paid = r.boolean("paid"), .reference = r.text("reference")};
  return finish(r, std::move(out));
}

}  // namespace ecash::protocol
