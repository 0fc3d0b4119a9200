#pragma once
// A shop's checkout page (issue 14): what a customer sees at the till or in a web shop. The
// amount, the article, the payment request as a QR code (SVG drawn here, nothing fetched) and as
// a link, and a status that turns to "paid" or "expired" on its own.
#include <string>

#include "base/amount.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"

namespace ecash::shop {

// The QR code of text (byte mode, error correction level L, so that a payment request with the
// shop's certificate fits), as an SVG drawing: black modules on white with a quiet zone of four.
Result<std::string> qr_svg(const std::string& text);

struct CheckoutView {
  std::string order_id;
  Amount amount;
  std::string item;
  UnixSeconds expires = 0;
  std::string state;  // unpaid, paying (at the center now), paid, expired, refunded, partly refunded
  std::string payment_uri;
  Amount refunded;        // given back so far
  std::string reference;  // the shop's own, if it gave one
};

// The page: plain HTML with its own style and a short script of its own that asks
// /checkout/<order>/status every second or two (without script, the page reloads itself). With
// qr empty (a request too long for a code) it shows the request as a link only.
std::string checkout_html(const CheckoutView& view, const std::string& qr);
// The page's Content-Security-Policy: its own style and script (by their hashes), pictures of
// its own, requests to its own origin, and nothing else; in no other site's frame.
std::string checkout_policy();

// Text for HTML, with <, >, &, " and ' escaped.
std::string html_escape(const std::string& text);

}  // namespace ecash::shop
