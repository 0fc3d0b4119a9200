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
  deposit_request = 10,
  deposit_clearing = 11,
  deposit_bank = 12,
  deposit_receipt = 13,
  // Register a shop (Fig 6).
  shop_registration = 20,
  shop_registration_receipt = 21,
  // Device to device transfer (Figs 8 and 9).
  transfer_request = 30,
  transfer = 31,
  transfer_ack = 32,
  // Pay a shop (Fig 10).
  payment_order = 40,
  payment_request = 41,
  payment_shop = 42,
  payment_center = 43,
  payment_receipt_bank = 44,
  payment_receipt_center = 45,
  payment_receipt_shop = 46,
  // Pay out proceeds (Fig 11).
  payout_request = 50,
  payout_receipt = 51,
  // Fraud cases and disclosure.
  fraud_case = 60,
  disclosure_request = 61,
  disclosure_log_entry = 62,
  // Reserved for tests of the signing machinery itself.
  test_statement = 65000,
  test_other_statement = 65001,
};

std::string_view to_string(Purpose purpose);

}  // namespace ecash::crypto
