#include "crypto/purpose.hpp"

namespace ecash::crypto {

std::string_view to_string(Purpose purpose) {
  switch (purpose) {
#define ECASH_P(name) \
  case Purpose::name: \
    return #name;
    ECASH_P(enrol_request)
    ECASH_P(deposit_order)
    ECASH_P(deposit_center_charge)
    ECASH_P(deposit_charged)
    ECASH_P(deposit_center_credit)
    ECASH_P(deposit_receipt)
    ECASH_P(deposit_receipt_center)
    ECASH_P(deposit_center_void)
    ECASH_P(shop_registration)
    ECASH_P(shop_registration_center)
    ECASH_P(shop_account_verified)
    ECASH_P(shop_registration_bank)
    ECASH_P(shop_registered)
    ECASH_P(shop_registered_center)
    ECASH_P(transfer_request)
    ECASH_P(transfer)
    ECASH_P(transfer_ack)
    ECASH_P(offline_allowance)
    ECASH_P(allowance_transfer)
    ECASH_P(payment_request)
    ECASH_P(payment_order)
    ECASH_P(payment_shop)
    ECASH_P(payment_center)
    ECASH_P(payment_receipt_bank)
    ECASH_P(payment_receipt_center)
    ECASH_P(payment_receipt_shop)
    ECASH_P(payout_request)
    ECASH_P(payout_center)
    ECASH_P(payout_amount)
    ECASH_P(payout_clearing)
    ECASH_P(payout_result)
    ECASH_P(payout_receipt)
    ECASH_P(fraud_case)
    ECASH_P(disclosure_request)
    ECASH_P(disclosure_log_entry)
    ECASH_P(sync_order)
    ECASH_P(sync_center)
    ECASH_P(sync_receipt)
    ECASH_P(sync_receipt_center)
    ECASH_P(refund_request)
    ECASH_P(refund_center)
    ECASH_P(refund_receipt)
    ECASH_P(refund_receipt_center)
    ECASH_P(test_statement)
    ECASH_P(test_other_statement)
#undef ECASH_P
  }
  return "unknown";
}

}  // namespace ecash::crypto
