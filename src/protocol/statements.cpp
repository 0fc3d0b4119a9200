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

// TransferRequest

CanonicalWriter TransferRequest::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(nonce).amount(amount).i64(created);
  return w;
}

Json TransferRequest::to_json() const {
  return {{"nonce", nonce.to_string()}, {"amount", amount.to_string()}, {"created", created}};
}

Result<TransferRequest> TransferRequest::from_json(const Json& j) {
  FieldReader r(j, kName);
  TransferRequest out{.nonce = r.id("nonce"), .amount = r.amount("amount"),
                      .created = r.integer("created")};
  return finish(r, std::move(out));
}

// Transfer

CanonicalWriter Transfer::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(transfer_id).id(nonce).text(receiver).u64(counter).amount(amount).i64(created).i64(expires);
  w.bytes(sealed_sender_user_id);
  return w;
}

Json Transfer::to_json() const {
  return {{"transfer_id", transfer_id.to_string()}, {"nonce", nonce.to_string()},
          {"receiver", receiver}, {"counter", counter}, {"amount", amount.to_string()},
          {"created", created}, {"expires", expires},
          {"sealed_sender_user_id", to_text(sealed_sender_user_id)}};
}

Result<Transfer> Transfer::from_json(const Json& j) {
  FieldReader r(j, kName);
  const auto counter = r.integer("counter");
  Transfer out{.transfer_id = r.id("transfer_id"), .nonce = r.id("nonce"),
               .receiver = r.text("receiver"), .counter = static_cast<std::uint64_t>(counter),
               .amount = r.amount("amount"), .created = r.integer("created"),
               .expires = r.integer("expires"),
               .sealed_sender_user_id = r.bytes("sealed_sender_user_id")};
  if (r.status() && counter < 0) return fail(ErrorCode::malformed, "transfer.counter: negative");
  return finish(r, std::move(out));
}

// TransferAck

CanonicalWriter TransferAck::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(transfer_id).text(receiver).amount(amount);
  return w;
}

Json TransferAck::to_json() const {
  return {{"transfer_id", transfer_id.to_string()}, {"receiver", receiver},
          {"amount", amount.to_string()}};
}

Result<TransferAck> TransferAck::from_json(const Json& j) {
  FieldReader r(j, kName);
  TransferAck out{.transfer_id = r.id("transfer_id"), .receiver = r.text("receiver"),
                  .amount = r.amount("amount")};
  return finish(r, std::move(out));
}

// SyncOrder

CanonicalWriter SyncOrder::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp).bytes(sealed_user_id).bytes(sealed_transfers);
  return w;
}

Json SyncOrder::to_json() const {
  return {{"request_id", request_id.to_string()}, {"timestamp", timestamp},
          {"sealed_user_id", to_text(sealed_user_id)},
          {"sealed_transfers", to_text(sealed_transfers)}};
}

Result<SyncOrder> SyncOrder::from_json(const Json& j) {
  FieldReader r(j, kName);
  SyncOrder out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp"),
                .sealed_user_id = r.bytes("sealed_user_id"),
                .sealed_transfers = r.bytes("sealed_transfers")};
  return finish(r, std::move(out));
}

// SyncCenter

CanonicalWriter SyncCenter::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).fixed(order).id(user_id);
  return w;
}

Json SyncCenter::to_json() const {
  return {{"request_id", request_id.to_string()}, {"order", to_text(order)},
          {"user_id", user_id.to_string()}};
}

Result<SyncCenter> SyncCenter::from_json(const Json& j) {
  FieldReader r(j, kName);
  SyncCenter out{.request_id = r.id("request_id"), .order = r.digest("order"),
                 .user_id = r.id("user_id")};
  return finish(r, std::move(out));
}

// SyncReceipt

CanonicalWriter SyncReceipt::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).bytes(sealed_result).fixed(order);
  return w;
}

Json SyncReceipt::to_json() const {
  return {{"request_id", request_id.to_string()}, {"sealed_result", to_text(sealed_result)},
          {"order", to_text(order)}};
}

Result<SyncReceipt> SyncReceipt::from_json(const Json& j) {
  FieldReader r(j, kName);
  SyncReceipt out{.request_id = r.id("request_id"), .sealed_result = r.bytes("sealed_result"),
                  .order = r.digest("order")};
  return finish(r, std::move(out));
}

// FraudCase

CanonicalWriter FraudCase::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(case_id).id(user_id).text(kind).fixed(evidence).i64(opened);
  return w;
}

Json FraudCase::to_json() const {
  return {{"case_id", case_id.to_string()}, {"user_id", user_id.to_string()}, {"kind", kind},
          {"evidence", to_text(evidence)}, {"opened", opened}};
}

Result<FraudCase> FraudCase::from_json(const Json& j) {
  FieldReader r(j, kName);
  FraudCase out{.case_id = r.id("case_id"), .user_id = r.id("user_id"), .kind = r.text("kind"),
                .evidence = r.digest("evidence"), .opened = r.integer("opened")};
  return finish(r, std::move(out));
}

// DisclosureRequest

CanonicalWriter DisclosureRequest::encode() const {
  CanonicalWriter w(kPurpose);
  w.id(request_id).i64(timestamp).id(case_id).id(user_id).text(reason).fixed(sealed_account);
  return w;
}

Json DisclosureRequest::to_json() const {
  return {{"request_id", request_id.to_string()}, {"timestamp", timestamp},
          {"case_id", case_id.to_string()}, {"user_id", user_id.to_string()},
          {"reason", reason}, {"sealed_account", to_text(sealed_account)}};
}

Result<DisclosureRequest> DisclosureRequest::from_json(const Json& j) {
  FieldReader r(j, kName);
  DisclosureRequest out{.request_id = r.id("request_id"), .timestamp = r.integer("timestamp"),
                        .case_id = r.id("case_id"), .user_id = r.id("user_id"),
                        .reason = r.text("reason"), .sealed_account = r.digest("sealed_account")};
  return finish(r, std::move(out));
}

// DisclosureLogEntry

CanonicalWriter DisclosureLogEntry::encode() const {
  CanonicalWriter w(kPurpose);
  w.u64(sequence).i64(at).id(request_id).id(case_id).id(user_id).text(reason).text(outcome);
  w.fixed(previous);
  return w;
}

Json DisclosureLogEntry::to_json() const {
  return {{"sequence", sequence}, {"at", at}, {"request_id", request_id.to_string()},
          {"case_id", case_id.to_string()}, {"user_id", user_id.to_string()},
          {"reason", reason}, {"outcome", outcome}, {"previous", to_text(previous)}};
}

Result<DisclosureLogEntry> DisclosureLogEntry::from_json(const Json& j) {
  FieldReader r(j, kName);
  const auto sequence = r.integer("sequence");
  DisclosureLogEntry out{.sequence = static_cast<std::uint64_t>(sequence), .at = r.integer("at"),
                         .request_id = r.id("request_id"), .case_id = r.id("case_id"),
                         .user_id = r.id("user_id"), .reason = r.text("reason"),
                         .outcome = r.text("outcome"), .previous = r.digest("previous")};
  if (r.status() && sequence < 0) return fail(ErrorCode::malformed, "sequence: negative");
  return finish(r, std::move(out));
}

}  // namespace ecash::protocol
