#include "private_files.hpp"

#include <filesystem>
#include <iostream>
#include <system_error>

namespace ecash::app {

namespace fs = std::filesystem;

int make_private(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return 0;
  int changed = 0;
  const auto fix = [&](const fs::path& path, const fs::file_status& status) {
    const auto others = fs::perms::group_all | fs::perms::others_all;
    if ((status.permissions() & others) == fs::perms::none) return;
    std::error_code failed;
    fs::permissions(path, others, fs::perm_options::remove, failed);
    if (!failed) ++changed;
  };
  fix(root, fs::symlink_status(root, ec));
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto status = it->symlink_status(ec);
    if (ec) break;
    // Links are left as they are (their target is not this folder's to change).
    if (fs::is_directory(status) || fs::is_regular_file(status)) fix(it->path(), status);
  }
  if (changed > 0) {
    std::cerr << "ecash: " << changed << " folders and files in " << root
              << " could be read by other users: now by their owner alone\n";
  }
  return changed;
}

}  // namespace ecash::app
