// Failpoints: named places where a test can make the process crash, to check that nothing is lost
// or created by a crash at the worst time. Every step of every flow passes some: before and after
// each commit of each store ("commit/<store>/before", ".../after"), before and after each call to
// another party ("call/<party>/<route>/before", ".../after"), and before a server answers
// ("answer/<party>/<route>").
//
//   ECASH_FAILPOINT=NAME[#N][,NAME[#N]...]  the process ends at once (exit code 86, no clean-up,
//                                           like kill -9) the N-th time (default: the first) it
//                                           reaches NAME;
//   ECASH_FAILPOINT_LOG=FILE                every point reached is appended to FILE, one a line
//                                           (the crash walk lists the points of a flow so).
// Without either variable a failpoint costs one relaxed atomic load. Thread-safe.
#pragma once

#include <string_view>

namespace ecash {

inline constexpr int kFailpointExitCode = 86;

void failpoint(std::string_view name);

}  // namespace ecash
