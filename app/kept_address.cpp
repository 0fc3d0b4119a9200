#include "kept_address.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/text_file.hpp"

namespace ecash::app {
namespace {

// The address kept in FOLDER/listen_address (empty before the first start).
std::string kept_address(const std::string& folder) {
  const auto text = read_text_file(folder + "/listen_address");
  return text.substr(0, text.find('\n'));
}

// Keeps the address a server bound (the URL it wrote to FOLDER/listening) in FOLDER/listen_address.
Status keep_address(const std::string& folder) {
  auto url = net::listening_url(folder, std::chrono::seconds(0));
  if (!url) return std::unexpected(url.error());
  auto address = net::parse_url(*url);
  if (!address) return std::unexpected(address.error());
  const std::string file = folder + "/listen_address";
  {
    std::ofstream out(file + ".new", std::ios::trunc);
    out << address->host << ":" << address->port << "\n";
    if (!out) return fail(ErrorCode::io_error, "cannot write " + file);
  }
  std::error_code ec;
  std::filesystem::rename(file + ".new", file, ec);
  if (ec) return fail(ErrorCode::io_error, "cannot write " + file + ": " + ec.message());
  return {};
}

}  // namespace

Status serve_at_kept_address(const std::string& folder, const KeptAddressWording& wording,
                             net::NodeOptions options,
                             const std::function<Status(const net::NodeOptions&)>& run) {
  const bool chosen = !options.listen.empty();
  const std::string kept = kept_address(folder);
  const bool again = !chosen && !kept.empty();
  if (again) options.listen = kept;
  const auto say = options.say;
  bool announced = false;
  options.say = [&](const std::string& line) {
    if (announced || line.find(" listening on ") == std::string::npos) return say(line);
    announced = true;
    if (auto kept_now = keep_address(folder); !kept_now) {
      return say(line + " (warning: not kept for its next start: " + kept_now.error().message +
                 ")");
    }
    say(line + (again ? wording.again : wording.kept));
  };
  auto ok = run(options);
  if (!ok && again && ok.error().code == ErrorCode::invalid_argument) {
    return fail(ErrorCode::invalid_argument,
                folder + "/listen_address holds '" + kept + "', not an address to listen on (" +
                    ok.error().message + "): give --listen HOST:PORT, which is kept instead");
  }
  if (ok || ok.error().code != ErrorCode::unavailable ||
      ok.error().message.rfind("cannot listen on ", 0) != 0) {
    return ok;
  }
  if (again) {
    return fail(
        ErrorCode::unavailable,
        "cannot listen on " + kept + ", where " + wording.who +
            ": the port is in use, or the address is not this machine's. Free that port, or give "
            "--listen HOST:PORT to move " +
            wording.after_moving);
  }
  if (!chosen && !wording.first_default.empty()) {
    return fail(ErrorCode::unavailable,
                "cannot listen on " + wording.first_default +
                    " (in use, or not an address of this machine): give --listen HOST:PORT");
  }
  return ok;
}

}  // namespace ecash::app
