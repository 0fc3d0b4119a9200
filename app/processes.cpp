#include "processes.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/text_file.hpp"

extern char** environ;

namespace ecash::app {

namespace fs = std::filesystem;

namespace {

std::string self_path() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("ecash") : path.string();
}

}  // namespace

Processes::Processes(fs::path dir) : m_dir(std::move(dir)), m_self(self_path()) {}

Processes::Output Processes::run(const std::vector<std::string>& args, const std::string& input) {
  const auto out_path = m_dir / "last.out";
  const auto err_path = m_dir / "last.err";
  const auto in_path = m_dir / "last.in";
  std::ofstream(in_path) << input;
  const pid_t pid = spawn(args, out_path, err_path, in_path);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  return Output{pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                read_text_file(out_path.string()),
                pid > 0 ? read_text_file(err_path.string()) : "cannot start " + m_self};
}

Result<std::string> Processes::start(const std::string& name, const std::vector<std::string>& args,
                                     const fs::path& listening) {
  fs::remove(listening);
  const auto log_path = m_dir / (name + ".log");
  const pid_t pid = spawn(args, log_path, log_path, "/dev/null");
  if (pid <= 0) return fail(ErrorCode::unavailable, "cannot start " + m_self);
  m_background.push_back({name, pid});
  for (int i = 0; i < 300; ++i) {
    auto url = read_text_file(listening.string());
    while (!url.empty() && url.back() == '\n') url.pop_back();
    if (!url.empty()) return url;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fail(ErrorCode::unavailable,
              name + " did not start:\n" + read_text_file(log_path.string()));
}

Status Processes::start_program(const std::string& name, const std::string& program,
                                const std::vector<std::string>& args, int port) {
  const auto log_path = m_dir / (name + ".log");
  const pid_t pid = spawn(args, log_path, log_path, "/dev/null", program);
  if (pid <= 0) return fail(ErrorCode::unavailable, "cannot start " + program);
  m_background.push_back({name, pid});
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 300; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool up = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (fd >= 0) ::close(fd);
    if (up) return {};
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fail(ErrorCode::unavailable, name + " did not start:\n" + read_text_file(log_path.string()));
}

std::string Processes::log(const std::string& name) const {
  return read_text_file((m_dir / (name + ".log")).string());
}

void Processes::stop_all() {
  for (const auto& b : m_background) kill(b.pid, SIGTERM);
  for (const auto& b : m_background) {
    int status = 0;
    waitpid(b.pid, &status, 0);
  }
  m_background.clear();
}

pid_t Processes::spawn(const std::vector<std::string>& args, const fs::path& out,
                       const fs::path& err, const fs::path& in, const std::string& program) {
  std::vector<std::string> all{program.empty() ? m_self : program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (err == out) {
    posix_spawn_file_actions_adddup2(&files, 1, 2);
  } else {
    posix_spawn_file_actions_addopen(&files, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  pid_t pid = 0;
  const int failed = posix_spawnp(&pid, all[0].c_str(), &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  return failed == 0 ? pid : -1;
}

}  // namespace ecash::app
