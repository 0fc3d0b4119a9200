// The signed statements of every flow, one type per place where the patent has a party append its
// signature (step numbers from the patent). Each is one ECASH_STATEMENT (protocol/fields.hpp): its
// purpose code and its fields in signing order, from which its canonical encoding (what the
// signature covers), its JSON form and its reader are derived. Sealed fields are opaque bytes here:
// only their reader opens them. Plain values; thread-safe to share.
#pragma once

#include <optional>
#include <string>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "base/id.hpp"
#include "protocol/signed.hpp"

namespace ecash::protocol {

using crypto::Purpose;

// How far a request's timestamp may stray from the receiver's clock.
inline constexpr UnixSeconds kMaxClockSkew = 300;
// stale when timestamp is further than kMaxClockSkew from now.
Status check_fresh(UnixSeconds timestamp, UnixSeconds now);

// S11, S91: a party asks the CA for a certificate. Signed with the key to be certified (proof of
// possession). Name and address go to the CA alone, the only store of personal information.
// role: "wallet" or "shop"
ECASH_STATEMENT(EnrolRequest, enrol_request, (Id128, request_id), (UnixSeconds, timestamp),
                (std::string, role), (std::string, name), (std::string, address),
                (crypto::VerifyKey, verify_key), (crypto::SealingPublicKey, sealing_key),
                (std::optional<crypto::Digest>, account_commitment));

// --- Register and deposit (Figs 2 and 5) ---

// S14/S72: the wallet orders a deposit. The first deposit registers the user: it carries the card
// number and salt sealed to clearing (sealed_card) and no user ID. Later ones carry the user ID
// sealed to the center (sealed_user_id), so the clearing house, which checks this signature too,
// never learns who deposits.
ECASH_STATEMENT(DepositOrder, deposit_order, (Id128, request_id), (UnixSeconds, timestamp),
                (Bytes, sealed_user_id), (Amount, amount), (Bytes, sealed_card));
// S17: center to clearing, endorsing [order, sealed card].
using DepositCenterCharge = Endorsement<Purpose::deposit_center_charge>;

// S21: clearing has charged the card.
// charge_ref: the card company's reference, no card data
ECASH_STATEMENT(DepositCharged, deposit_charged, (Id128, request_id), (Amount, amount),
                (std::string, charge_ref), (crypto::Digest, order));
// S23: center to bank: credit this charged order to user_id (zero: register a new user).
ECASH_STATEMENT(DepositCenterCredit, deposit_center_credit, (Id128, request_id),
                (crypto::Digest, order), (crypto::Digest, charged), (Id128, user_id));

// S26: the bank credited the user; the new balance is sealed to the user.
ECASH_STATEMENT(DepositReceipt, deposit_receipt, (Id128, request_id), (Id128, user_id),
                (Amount, amount), (Bytes, sealed_balance), (crypto::Digest, order));
// S28: center to wallet, endorsing [receipt].
using DepositReceiptCenter = Endorsement<Purpose::deposit_receipt_center>;
// Center to bank, endorsing [order]: a charged deposit not credited within a day is not to be
// credited after; its charge is reversed.
using DepositCenterVoid = Endorsement<Purpose::deposit_center_void>;

// --- Register a shop (Fig 6) ---

// S94: the shop's account number and salt, sealed to clearing.
ECASH_STATEMENT(ShopRegistration, shop_registration, (Id128, request_id), (UnixSeconds, timestamp),
                (Bytes, sealed_account));
// S96: center to clearing, endorsing [registration].
using ShopRegistrationCenter = Endorsement<Purpose::shop_registration_center>;

// S99: clearing found the account valid and matching the certificate's commitment.
ECASH_STATEMENT(ShopAccountVerified, shop_account_verified, (Id128, request_id),
                (std::string, certificate_serial), (crypto::Digest, registration));
// S101: center to bank, endorsing [registration, verified].
using ShopRegistrationBank = Endorsement<Purpose::shop_registration_bank>;

// S104: the bank issued a shop ID.
ECASH_STATEMENT(ShopRegistered, shop_registered, (Id128, request_id), (Id128, shop_id),
                (std::string, certificate_serial), (crypto::Digest, registration));
// S106: center to shop, endorsing [registered].
using ShopRegisteredCenter = Endorsement<Purpose::shop_registered_center>;

// --- Pay a shop (Fig 10) ---

// What the shop asks for, signed by the shop: the wallet shows it to the user and pays it.
ECASH_STATEMENT(PaymentRequest, payment_request, (Id128, order_id), (Amount, amount),
                (std::string, item), (UnixSeconds, expires));

// S153: the wallet pays. The article is sealed to the shop, the user ID to the center, and the
// transfer records (uncleared amount) to the bank; shop names the shop's certificate subject.
ECASH_STATEMENT(PaymentOrder, payment_order, (Id128, request_id), (UnixSeconds, timestamp),
                (Id128, order_id), (std::string, shop), (Amount, amount), (Bytes, sealed_article),
                (Bytes, sealed_user_id), (Bytes, sealed_transfers));

// S156: the shop vouches for the order and adds its shop ID sealed to the center.
ECASH_STATEMENT(PaymentShop, payment_shop, (Id128, request_id), (crypto::Digest, order),
                (Bytes, sealed_shop_id));

// S159: the center tells the bank who pays whom, having opened both IDs.
ECASH_STATEMENT(PaymentCenter, payment_center, (Id128, request_id), (crypto::Digest, order),
                (crypto::Digest, shop), (Id128, user_id), (Id128, shop_id), (Amount, amount));

// S162: the bank moved the money; the new balance is sealed to the user.
ECASH_STATEMENT(PaymentReceiptBank, payment_receipt_bank, (Id128, request_id), (Amount, amount),
                (Bytes, sealed_balance), (crypto::Digest, order));
// S163: center, endorsing [bank receipt]. S165: shop, endorsing [bank receipt, center's].
using PaymentReceiptCenter = Endorsement<Purpose::payment_receipt_center>;
using PaymentReceiptShop = Endorsement<Purpose::payment_receipt_shop>;

// --- Pay out proceeds (Fig 11) ---

// S182: the shop asks for its proceeds.
ECASH_STATEMENT(PayoutRequest, payout_request, (Id128, request_id), (UnixSeconds, timestamp));

// S185: center to bank: set this shop's sales aside for payout.
ECASH_STATEMENT(PayoutCenter, payout_center, (Id128, request_id), (crypto::Digest, payout_request),
                (Id128, shop_id));

// S187: the bank set the amount aside (it is no longer sales, not yet paid).
ECASH_STATEMENT(PayoutAmount, payout_amount, (Id128, request_id), (Id128, shop_id),
                (Amount, amount));
// S189: center to clearing, endorsing [amount, sealed account].
using PayoutClearing = Endorsement<Purpose::payout_clearing>;

// S191: clearing's result of the bank transfer.
ECASH_STATEMENT(PayoutResult, payout_result, (Id128, request_id), (Amount, amount), (bool, paid),
                (std::string, reference));
// S192: center to shop, endorsing [result].
using PayoutReceipt = Endorsement<Purpose::payout_receipt>;

// --- Refunds (beyond the patent) ---

// A shop gives back amount of a paid order: `payment` is the request ID that paid it. The request
// ID is the refund's idempotency key: one refund, however often it is sent.
ECASH_STATEMENT(RefundRequest, refund_request, (Id128, request_id), (UnixSeconds, timestamp),
                (Id128, order_id), (Id128, payment), (Amount, amount));
// Center to bank: the shop that asks (it never names itself).
ECASH_STATEMENT(RefundCenter, refund_center, (Id128, request_id), (crypto::Digest, refund_request),
                (Id128, shop_id));
// The bank gave amount back to whoever paid the order (the shop is not told who, nor the balance);
// `refunded` is all the order's refunds so far, this one included.
ECASH_STATEMENT(RefundReceipt, refund_receipt, (Id128, request_id), (Id128, order_id),
                (Amount, amount), (Amount, refunded), (crypto::Digest, refund_request));
// Center to shop, endorsing [receipt].
using RefundReceiptCenter = Endorsement<Purpose::refund_receipt_center>;

// --- Device to device (Figs 8 and 9) and reconciliation ---

// The receiver asks for amount; the fresh nonce binds the transfer to this one request. Carried as
// {"request": ..., "receiver_certificate": PEM}.
ECASH_STATEMENT(TransferRequest, transfer_request, (Id128, nonce), (Amount, amount),
                (UnixSeconds, created));

// The bank set amount aside from the user's balance for offline transfers by the device holding
// device_key, until expires. Issued at a sync, sealed to that device; every transfer carries it, so
// a receiver checks offline that the value is backed, and learns this amount, never the balance.
ECASH_STATEMENT(OfflineAllowance, offline_allowance, (Id128, allowance_id),
                (crypto::VerifyKey, device_key), (Amount, amount), (UnixSeconds, issued),
                (UnixSeconds, expires));

// S132: the sender's transfer, bound to the receiver's nonce and certificate and to the sender's
// strictly increasing counter, with the sender's user ID sealed to the center. The value left the
// sender (durably) before this was made. It is spent under an allowance (its chain digest), and
// allowance_total is this amount plus every amount sent under that allowance before: the range
// (allowance_total - amount, allowance_total] is this transfer's, so two transfers whose ranges
// overlap prove a copied device. Carried sealed to the receiver as
// {"transfer": ..., "sender_certificate": PEM, "allowance": Signed<OfflineAllowance>}.
// receiver: the receiver's certificate serial
ECASH_STATEMENT(Transfer, allowance_transfer, (Id128, transfer_id), (Id128, nonce), (std::string, receiver),
                (std::uint64_t, counter), (Amount, amount), (UnixSeconds, created),
                (UnixSeconds, expires), (Bytes, sealed_sender_user_id), (crypto::Digest, allowance),
                (Amount, allowance_total));

// A transfer as made before allowances (no bank-backed value): refused by receivers and by the
// bank; declared so that its encoding, and every signature made over it, stays fixed.
ECASH_STATEMENT(LegacyTransfer, transfer, (Id128, transfer_id), (Id128, nonce),
                (std::string, receiver), (std::uint64_t, counter), (Amount, amount),
                (UnixSeconds, created), (UnixSeconds, expires), (Bytes, sealed_sender_user_id));

// S134: the receiver took the transfer.
ECASH_STATEMENT(TransferAck, transfer_ack, (Id128, transfer_id), (std::string, receiver),
                (Amount, amount));

// A wallet reports its transfer records (sealed to the bank) to be reconciled.
ECASH_STATEMENT(SyncOrder, sync_order, (Id128, request_id), (UnixSeconds, timestamp),
                (Bytes, sealed_user_id), (Bytes, sealed_transfers));

// The center tells the bank whose records they are.
ECASH_STATEMENT(SyncCenter, sync_center, (Id128, request_id), (crypto::Digest, order),
                (Id128, user_id));

// The bank's result (balance, records accepted, refused, returned), sealed to the wallet.
ECASH_STATEMENT(SyncReceipt, sync_receipt, (Id128, request_id), (Bytes, sealed_result),
                (crypto::Digest, order));
using SyncReceiptCenter = Endorsement<Purpose::sync_receipt_center>;

// --- Fraud and disclosure ---

// The bank's evidence of fraud against a user ID: what opens a case at the center, and what the
// clearing house checks before it discloses anything.
// kind: negative_balance, counter_reuse, device_disagrees, forged_record, ...
ECASH_STATEMENT(FraudCase, fraud_case, (Id128, case_id), (Id128, user_id), (std::string, kind),
                (crypto::Digest, evidence), (UnixSeconds, opened));

// The center asks clearing to open the account information behind user_id, for case_id.
// sealed_account: digest of the sealed card number sent with it
ECASH_STATEMENT(DisclosureRequest, disclosure_request, (Id128, request_id),
                (UnixSeconds, timestamp), (Id128, case_id), (Id128, user_id), (std::string, reason),
                (crypto::Digest, sealed_account));

// One entry of clearing's disclosure log: every disclosure and every refusal, chained by hash.
// outcome: "disclosed" or "refused: <code>"
ECASH_STATEMENT(DisclosureLogEntry, disclosure_log_entry, (std::uint64_t, sequence),
                (UnixSeconds, at), (Id128, request_id), (Id128, case_id), (Id128, user_id),
                (std::string, reason), (std::string, outcome), (crypto::Digest, previous));

}  // namespace ecash::protocol
