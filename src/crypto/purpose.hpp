// Every kind of signed statement has its own purpose code, written first in its canonical encoding,
// so a signature made for one kind never verifies as another (domain separation). The numbers are
// part of the wire format: never renumber, only add.
#pragma once

#include <cstdint>
#include <string_view>

namespace ecash::crypto {

enum class Purpose : std::uint16_t {
  // Enrolment with the certificate authority (S11-S12, S91-S92).
  enrol_request = 1,
  // Register and deposit (Figs 2 and 5).
  deposit_order = 10,         // wallet: amount, sealed card (S14)
  deposit_center_charge = 11, // center to clearing (S17)
  deposit_charged = 12,       // clearing: the card was charged (S21)
  deposit_center_credit = 13, // center to bank (S23)
  deposit_receipt = 14,       // bank: user ID and new balance (S26)
  deposit_receipt_center = 15,// center's countersignature for the wallet (S28)
  deposit_center_void = 16,   // center to bank: this charged order is not to be credited (its
                              // charge is being reversed, after a day without a credit)
  // Register a shop (Fig 6).
  shop_registration = 20,          // shop: sealed account number (S94)
  shop_registration_center = 21,   // center to clearing (S96)
  shop_account_verified = 22,      // clearing: account matches the certificate (S99)
  shop_registration_bank = 23,     // center to bank (S101)
  shop_registered = 24,            // bank: the shop ID (S104)
  shop_registered_center = 25,     // center's countersignature for the shop (S106)
  // Device to device transfer (Figs 8 and 9).
  transfer_request = 30,
  transfer = 31,            // before allowances: no longer accepted
  transfer_ack = 32,
  offline_allowance = 33,   // bank: value set aside for a device's offline transfers
  allowance_transfer = 34,  // a transfer spent under an offline allowance
  // Pay a shop (Fig 10).
  payment_request = 40,         // shop: what is sold, for how much
  payment_order = 41,           // wallet (S153)
  payment_shop = 42,            // shop to center (S156)
  payment_center = 43,          // center to bank (S159)
  payment_receipt_bank = 44,    // bank: new balance sealed to the user (S162)
  payment_receipt_center = 45,  // S163
  payment_receipt_shop = 46,    // S165
  // Pay out proceeds (Fig 11).
  payout_request = 50,   // shop (S182)
  payout_center = 51,    // center to bank (S185)
  payout_amount = 52,    // bank: proceeds set aside (S187)
  payout_clearing = 53,  // center to clearing (S189)
  payout_result = 54,    // clearing: the bank transfer's result (S191)
  payout_receipt = 55,   // center to shop (S192)
  // Fraud cases and disclosure.
  fraud_case = 60,            // bank: evidence of fraud against a user ID
  disclosure_request = 61,    // center to clearing: open the account behind a user ID
  disclosure_log_entry = 62,  // clearing: one entry of its hash-chained disclosure log
  // Reconciling device-to-device transfers.
  sync_order = 70,            // wallet: its transfer records, sealed to the bank
  sync_center = 71,           // center to bank: whose records they are
  sync_receipt = 72,          // bank: the result, sealed to the wallet
  sync_receipt_center = 73,   // center's countersignature for the wallet
  // Refunds (beyond the patent): a shop gives back all or part of a paid order.
  refund_request = 80,         // shop
  refund_center = 81,          // center to bank: which shop asks
  refund_receipt = 82,         // bank: the money went back to the payer
  refund_receipt_center = 83,  // center's countersignature for the shop
  // Reserved for tests of the signing machinery itself.
  test_statement = 65000,
  test_other_statement = 65001,
};

std::string_view to_string(Purpose purpose);

}  // namespace ecash::crypto
