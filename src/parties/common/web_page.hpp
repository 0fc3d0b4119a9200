#pragma once
// What the pages the binary serves to browsers (a shop's checkout, the operator's dashboard) share:
// their inline style and script are named in the Content-Security-Policy by hash, so that nothing
// else runs on them. Pure functions.
#include <string>
#include <string_view>

namespace ecash::parties {

// 'sha256-BASE64' of text, as a Content-Security-Policy names an inline element.
std::string csp_hash(std::string_view text);

}  // namespace ecash::parties
