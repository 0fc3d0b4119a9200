// Where a server that others find by its address (the operator's front door, the sandboxes, a
// shop's till) listens: the address it had before, kept in FOLDER/listen_address, unless --listen
// names another. Thread-safe as long as no two calls share a folder.
#pragma once

#include <functional>
#include <string>

#include "base/error.hpp"
#include "net/nodes.hpp"

namespace ecash::app {

// What a server says around its kept address; only the wording differs between servers.
struct KeptAddressWording {
  // Who listened there before and who reaches it there, for the error when it is taken:
  // "this operator listened before (its wallets and shops reach it there)".
  std::string who;
  // Added to the listening line when the kept address is used again.
  std::string again;
  // Added to the listening line when the address is new (the first start, or --listen).
  std::string kept;
  // What moving to another address costs, ending the error when the kept one is taken.
  std::string after_moving;
  // The address a first start listens on, named when it is taken; empty: none is named.
  std::string first_default;
};

// Runs run on the kept address when options.listen (--listen) is empty and one is kept, and keeps
// the address it binds (from FOLDER/listening) for its next start, saying so with the listening
// line through options.say. A kept address now taken is an error naming it and --listen, never
// another port in silence: those who reach the server know only that one.
Status serve_at_kept_address(const std::string& folder, const KeptAddressWording& wording,
                             net::NodeOptions options,
                             const std::function<Status(const net::NodeOptions&)>& run);

}  // namespace ecash::app
