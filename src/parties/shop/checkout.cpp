#include "parties/shop/checkout.hpp"

#include <qrencode.h>

#include <memory>
#include <string_view>

#include "parties/common/web_page.hpp"

namespace ecash::shop {

Result<std::string> qr_svg(const std::string& text) {
  std::unique_ptr<QRcode, void (*)(QRcode*)> code(
      QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_L), QRcode_free);
  if (!code) {
    return fail(ErrorCode::invalid_argument,
                "the payment request (" + std::to_string(text.size()) + " bytes) does not fit in a QR code");
  }
  constexpr int kQuiet = 4;
  const int width = code->width;
  const int size = width + 2 * kQuiet;
  std::string path;
  path.reserve(static_cast<std::size_t>(width * width) * 4);
  for (int y = 0; y < width; ++y) {
    for (int x = 0; x < width; ++x) {
      if ((code->data[y * width + x] & 1) == 0) continue;
      path += "M" + std::to_string(x + kQuiet) + " " + std::to_string(y + kQuiet) + "h1v1h-1z";
    }
  }
  const auto n = std::to_string(size);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + n + " " + n +
         "\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code of the payment request\">"
         "<rect width=\"" + n + "\" height=\"" + n + "\" fill=\"#fff\"/>"
         "<path fill=\"#000\" d=\"" + path + "\"/></svg>";
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// The page's own style and script, the same on every page: the Content-Security-Policy names
// them by their hashes, so nothing else inline runs.
constexpr std::string_view kStyle =
    "\nbody{font-family:system-ui,sans-serif;max-width:28rem;margin:0 auto;padding:1rem;color:#111;background:#fff}\n"
    "h1{font-size:1.4rem}.amount{font-size:2rem;font-weight:bold;margin:.2rem 0}\n"
    ".qr svg{width:100%;max-width:22rem;height:auto;border:1px solid #ccc}\n"
    "a{color:#0645ad;word-break:break-all}a:focus{outline:3px solid #f90}\n"
    "#state{font-size:1.3rem;font-weight:bold;padding:.6rem;border-radius:.3rem;background:#eef}\n"
    "#state[data-state=paid]{background:#dfd}#state[data-state=expired]{background:#fdd}\n";

// Asks for the order's state until it is settled. An expired order is watched two minutes more:
// a payment sent before the expiry may still finish.
constexpr std::string_view kScript =
    "\n(function(){\n"
    "  var texts={paid:'Paid. Thank you!',expired:'This order has expired: ask for a new one.',"
    "refunded:'Paid, and refunded.','partly refunded':'Paid, and partly refunded.'};\n"
    "  var late=0;\n"
    "  function ask(){\n"
    "    fetch(location.pathname.replace(/\\/$/,'')+'/status',{cache:'no-store'})\n"
    "      .then(function(r){return r.json();})\n"
    "      .then(function(s){\n"
    "        var el=document.getElementById('state');\n"
    "        if(s.state==='unpaid'||s.state==='paying'){\n"
    "          el.textContent=s.state==='paying'?'Payment on its way...':'Waiting for payment';\n"
    "          el.setAttribute('data-state',s.state);setTimeout(ask,1000);return;}\n"
    "        el.textContent=texts[s.state]||s.state;\n"
    "        el.setAttribute('data-state',s.state);\n"
    "        var pay=document.getElementById('pay');if(pay)pay.remove();\n"
    "        if(s.state==='expired'&&late++<24)setTimeout(ask,5000);\n"
    "      })\n"
    "      .catch(function(){setTimeout(ask,5000);});\n"
    "  }\n"
    "  setTimeout(ask,2000);\n"
    "})();\n";

std::string state_text(const std::string& state) {
  if (state == "paid") return "Paid. Thank you!";
  if (state == "expired") return "This order has expired: ask for a new one.";
  if (state == "refunded") return "Paid, and refunded.";
  if (state == "partly refunded") return "Paid, and partly refunded.";
  if (state == "paying") return "Payment on its way...";
  return "Waiting for payment";
}

}  // namespace

std::string checkout_policy() {
  static const std::string policy = "default-src 'none'; img-src 'self' data:; style-src " + parties::csp_hash(kStyle) +
                                    "; script-src " + parties::csp_hash(kScript) +
                                    "; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  return policy;
}

std::string checkout_html(const CheckoutView& v, const std::string& qr) {
  const auto id = html_escape(v.order_id);
  const bool waiting = v.state == "unpaid" || v.state == "paying";
  std::string html =
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Pay " + html_escape(v.amount.to_string()) + " for " + html_escape(v.item) + "</title>\n";
  if (waiting) html += "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>\n";
  html += "<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n<main>\n"
          "<h1>Checkout</h1>\n"
          "<p class=\"amount\" id=\"amount\">" + html_escape(v.amount.to_string()) + "</p>\n"
          "<p>for <span id=\"item\">" + html_escape(v.item) + "</span></p>\n"
          "<p id=\"state\" role=\"status\" aria-live=\"polite\" data-state=\"" + html_escape(v.state) + "\">" +
          html_escape(state_text(v.state)) + "</p>\n";
  if (waiting) {
    html += "<div id=\"pay\">\n";
    if (!qr.empty()) {
      html += "<div class=\"qr\" id=\"qr\">" + qr + "</div>\n"
              "<p>Scan the code with your ecash wallet, or open the payment request with it:</p>\n";
    } else {
      html += "<p>Open the payment request with your ecash wallet:</p>\n";
    }
    html += "<p><a id=\"request\" href=\"" + html_escape(v.payment_uri) + "\">Pay with ecash</a></p>\n</div>\n";
  }
  html += "<p><small>Order <span id=\"order\">" + id + "</span></small></p>\n</main>\n";
  if (waiting) html += "<script>" + std::string(kScript) + "</script>\n";
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace ecash::shop
