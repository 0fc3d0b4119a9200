// `ecash demo`: shows the system's parts at work on loopback and temporary files, narrated.
#pragma once

#include <optional>
#include <string>

namespace ecash::app {

struct DemoOptions {
  std::optional<std::string> keep_dir;  // keep the files here instead of a temporary folder
};

// Returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace ecash::app
