#include "private_files.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

#include "crypto/secret_file.hpp"

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

namespace {

// One line typed on the controlling terminal without echo (as ssh and gpg ask): the terminal, not
// stdin, which may carry a transfer or a request. bad_passphrase when there is no terminal.
Result<std::string> ask_on_terminal(const std::string& question) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) {
    return fail(ErrorCode::bad_passphrase,
                "no terminal to ask the passphrase on: give --passphrase-file FILE or set "
                "ECASH_PASSPHRASE");
  }
  termios saved{};
  const bool is_terminal = ::tcgetattr(tty, &saved) == 0;
  if (is_terminal) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  (void)!::write(tty, question.data(), question.size());
  std::string line;
  char c = 0;
  while (::read(tty, &c, 1) == 1 && c != '\n') line += c;
  if (is_terminal) ::tcsetattr(tty, TCSAFLUSH, &saved);
  ::close(tty);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

bool on_a_terminal() { return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1; }

}  // namespace

Result<std::string> ask_hidden(const std::string& question) { return ask_on_terminal(question); }

Status use_passphrase(const std::string& passphrase_file, bool creating) {
  const auto later = [](const std::string& path) -> Result<std::string> {
    return ask_on_terminal("passphrase for " + path + ": ");
  };
  if (!passphrase_file.empty()) {
    std::ifstream in(passphrase_file);
    if (!in) {
      return fail(fs::exists(passphrase_file) ? ErrorCode::io_error : ErrorCode::not_found,
                  "cannot read the passphrase file " + passphrase_file);
    }
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      return fail(ErrorCode::invalid_argument, "the passphrase file " + passphrase_file + " is empty");
    }
    crypto::set_passphrase(std::move(line), nullptr);
    return {};
  }
  if (const char* given = std::getenv("ECASH_PASSPHRASE"); given != nullptr && *given != '\0') {
    crypto::set_passphrase(given, nullptr);
    return {};
  }
  // A sealed file met later is asked for where a person sees messages (stderr a terminal), even
  // when stdin carries a transfer; under a script or a test runner, it is refused instead.
  const crypto::PassphrasePrompt prompt =
      ::isatty(STDERR_FILENO) == 1 ? crypto::PassphrasePrompt(later) : nullptr;
  if (!creating || !on_a_terminal()) {
    crypto::set_passphrase("", prompt);
    return {};
  }
  auto first = ask_on_terminal("passphrase to seal the keys (empty for none): ");
  if (!first) return std::unexpected(first.error());
  if (!first->empty()) {
    auto again = ask_on_terminal("the same passphrase again: ");
    if (!again) return std::unexpected(again.error());
    if (*again != *first) return fail(ErrorCode::invalid_argument, "the two passphrases differ");
  }
  crypto::set_passphrase(std::move(*first), prompt);
  return {};
}

}  // namespace ecash::app
