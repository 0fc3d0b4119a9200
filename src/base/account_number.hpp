// Checks of the account numbers people type: card numbers (Luhn) and IBANs (ISO 13616 mod 97), and
// the masked form shown in reports and logs. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"

namespace ecash {

// A card number: 12 to 19 ASCII digits, nothing else, with a valid Luhn check digit.
// bad_account otherwise.
Status check_card_number(std::string_view digits);

// The compact form of an IBAN ("DE89370400440532013000") from what a person typed: spaces are
// removed and letters upper-cased; then 2 letters of country, 2 check digits and 11 to 30 letters
// or digits (15 to 34 characters in all), with the ISO 13616 mod-97 check equal to 1.
// bad_account otherwise.
Result<std::string> normalize_iban(std::string_view text);

// "****1111": the last 4 characters (spaces skipped), so a person can tell accounts apart without
// the number being disclosed. Inputs of 4 characters or fewer show nothing ("****").
std::string mask_account(std::string_view account);

}  // namespace ecash
