// Failpoints: named places where a test can make the process crash, to check that nothing is lost
// or created by a crash at the worst time. Every step of every flow passes some: before and after
// each commit of each store ("commit/<store>/before", ".../after"), before and after each call to
// another party ("call/<party>/<route>/before", ".../after"), before a server answers
// ("answer/<party>/<route>"), and before a device's command reports its result
// ("answer/wallet/<command>", "answer/shop/<command>").
//
//   ECASH_FAILPOINT=NAME[#N][,NAME[#N]...]  the process ends at once (exit code 86, no clean-up,
//                                           like kill -9) the N-th time (default: the first) it
//                                           reaches NAME;
//   ECASH_FAILPOINT_LOG=FILE                every point reached is appended to FILE, one a line
//                                           (the crash walk lists the points of a flow so).
// Without either variable a failpoint costs one relaxed atomic load. Thread-safe.
//
// Storage faults, for what a small filesystem cannot show (a store that turns read-only while
// open; a full disk where the test may not mount one):
//   ECASH_STORE_FAULT=FILE                  while FILE holds a line "STORE full" or "STORE
//                                           readonly" (STORE a store's name, or *), that store's
//                                           commits fail as SQLite's do on a full disk or a
//                                           read-only file; removing the line ends the fault.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ecash {

inline constexpr int kFailpointExitCode = 86;

void failpoint(std::string_view name);

// The message SQLite would give a commit of `store` now, under ECASH_STORE_FAULT; none without.
std::optional<std::string> storage_fault(std::string_view store);

}  // namespace ecash
