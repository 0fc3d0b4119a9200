// Child processes of this same `ecash` binary, for the commands that run the system as real
// processes on loopback (the demo, the load generator): run one to its end, or start one in the
// background and wait for the URL it writes to its `listening` file; stop them all (SIGTERM,
// then wait). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace ecash::app {

class Processes {
 public:
  // Logs and captured output go to dir.
  explicit Processes(std::filesystem::path dir);
  ~Processes() { stop_all(); }
  Processes(const Processes&) = delete;
  Processes& operator=(const Processes&) = delete;

  struct Output {
    int status = -1;
    std::string out;
    std::string err;
  };
  // Runs `ecash ARGS...` to its end, stdin from input.
  Output run(const std::vector<std::string>& args, const std::string& input = {});

  // Starts `ecash ARGS...` in the background (output to DIR/NAME.log) and waits for the URL it
  // writes to `listening`: unavailable, with its log, if it ends or 30 s pass first.
  Result<std::string> start(const std::string& name, const std::vector<std::string>& args,
                            const std::filesystem::path& listening);

  // Starts another program (PROGRAM ARGS..., found on PATH) in the background, output to
  // DIR/NAME.log, and waits until something accepts connections on 127.0.0.1:port: unavailable,
  // with its log, if it ends or 30 s pass first.
  Status start_program(const std::string& name, const std::string& program,
                       const std::vector<std::string>& args, int port);

  struct Background {
    std::string name;
    pid_t pid;
  };
  const std::vector<Background>& background() const { return m_background; }
  std::string log(const std::string& name) const;
  void stop_all();

 private:
  // Spawns program (this binary when empty) with args.
  pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& out,
              const std::filesystem::path& err, const std::filesystem::path& in,
              const std::string& program = {});

  std::filesystem::path m_dir;
  std::string m_self;
  std::vector<Background> m_background;
};

}  // namespace ecash::app
