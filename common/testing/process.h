// Child processes for tests, benchmarks and the local stack: start a real
// binary, signal it by pid, wait for it. Nothing here kills by name.
#ifndef VITRAGE_COMMON_TESTING_PROCESS_H_
#define VITRAGE_COMMON_TESTING_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vitrage::testing {

class Process {
 public:
  // Starts argv[0] (searched in PATH) with stdout and stderr appended to
  // `log_path` ("" = inherit). `extra_env` entries are "NAME=value". The
  // child gets SIGKILL if the process that started it dies, so a crashed
  // test leaves nothing running.
  static absl::StatusOr<Process> Start(const std::vector<std::string>& argv,
                                       const std::string& log_path,
                                       const std::vector<std::string>& extra_env = {});

  Process() = default;
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // Kills (SIGKILL) and reaps the child if it still runs.
  ~Process();

  pid_t pid() const { return pid_; }
  bool running();             // false once it exited (reaps it)
  int Signal(int sig) const;  // kill(pid, sig); 0 on success

  // Waits up to `timeout` for exit; returns the wait status, or
  // DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status.
  int Stop(absl::Duration grace = absl::Seconds(20));

  // SIGKILL and reap.
  void Kill9();

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

// Runs a command to completion (stdout+stderr to `log_path`, "" inherits),
// returns its exit code; error if it cannot start or exceeds `timeout`.
absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                               absl::Duration timeout = absl::Seconds(120));

// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

// Makes a fresh directory under $TMPDIR (default /tmp), "PREFIX.XXXXXX".
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);

// rm -rf `path` (refuses "" and "/").
void RemoveTree(const std::string& path);

// Reads a whole file ("" if it cannot).
std::string ReadFileOrEmpty(const std::string& path);

// The directory of a built binary: $VITRAGE_BINARY_DIR set by ctest, else
// the directory of /proc/self/exe's build tree guess.
std::string BinaryDir();
// The source tree: $VITRAGE_SOURCE_DIR set by ctest.
std::string SourceDir();

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_PROCESS_H_
