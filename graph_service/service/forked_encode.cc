#include "graph_service/service/forked_encode.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crc32c.h"
#include "graph_service/snapshot/frames.h"

namespace vitrage::service {
namespace {

// The child's output: frames of [type byte][u64 length][payload], types
// 'H' (the header), 'C' (a chunk, in order) or 'E' (an error message).
constexpr char kHeader = 'H';
constexpr char kChunk = 'C';
constexpr char kError = 'E';

using snapshot::WriteFrame;

[[noreturn]] void ChildMain(pid_t parent, int fd, const ForkedEncode::EncodeFn& encode, bool idle) {
  // Die with the parent; it may already be gone.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(3);
  // Let go of the parent's sockets (its listening port above all: a graph
  // restarted after a kill -9 must be able to bind it at once).
  if (fd > 3) ::close_range(3, fd - 1, 0);
  ::close_range(fd + 1, ~0U, 0);
  // SCHED_IDLE (its helper inherits it): whenever a thread of the graph,
  // the persistor or MariaDB wakes up it takes the core at once (issue 27,
  // the processing stall). At nice 19 alone the encoder kept the core
  // until its slice ended, and acks came 10-27 ms late during the encode.
  ::setpriority(PRIO_PROCESS, 0, 19);
  if (idle) {
    struct sched_param idle_param = {};
    ::sched_setscheduler(0, SCHED_IDLE, &idle_param);
  }
  auto encoded = encode();
  if (!encoded.ok()) {
    WriteFrame(fd, kError, encoded.status().ToString());
    ::_exit(1);
  }
  std::string buf;
  bool ok = encoded->header.SerializeToString(&buf) && WriteFrame(fd, kHeader, buf);
  for (const auto& chunk : encoded->chunks) {
    if (!ok) break;
    ok = chunk.SerializeToString(&buf) && WriteFrame(fd, kChunk, buf);
  }
  ::_exit(ok ? 0 : 2);
}

}  // namespace

absl::StatusOr<ForkedEncode> ForkedEncode::Start(const EncodeFn& encode, bool idle) {
  int fd = ::memfd_create("vitrage-snapshot", MFD_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("memfd_create: ", std::strerror(errno)));
  }
  // The child must not be the first to run a function-local static's
  // initializer (forked_encode.h).
  (void)crc32c::Value("", 0);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fd);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(err)));
  }
  if (pid == 0) ChildMain(parent, fd, encode, idle);
  return ForkedEncode(pid, fd);
}

ForkedEncode::ForkedEncode(ForkedEncode&& o) noexcept : pid_(o.pid_), fd_(o.fd_) {
  o.pid_ = -1;
  o.fd_ = -1;
}

ForkedEncode::~ForkedEncode() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<snapshot::EncodedSnapshot> ForkedEncode::Wait(
    absl::Duration timeout, const std::function<bool()>& cancelled) {
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
    }
    if (cancelled()) return absl::CancelledError("snapshot cancelled (shutting down)");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("snapshot encoder process ", pid_,
                                                      " did not finish within ",
                                                      absl::FormatDuration(timeout), "; killed"));
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  const pid_t pid = pid_;
  pid_ = -1;  // reaped
  if (WIFSIGNALED(status)) {
    return absl::InternalError(
        absl::StrCat("snapshot encoder process ", pid, " died of signal ", WTERMSIG(status)));
  }
  auto out = ReadOutput();
  if (!out.ok()) return out.status();
  if (WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("snapshot encoder process ", pid, " exited with ", WEXITSTATUS(status)));
  }
  return out;
}

absl::StatusOr<snapshot::EncodedSnapshot> ForkedEncode::ReadOutput() {
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    return absl::InternalError(absl::StrCat("fstat: ", std::strerror(errno)));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t r = ::pread(fd_, data.data() + done, data.size() - done, done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return absl::InternalError(
          absl::StrCat("reading the encoder's output: ", r < 0 ? std::strerror(errno) : "EOF"));
    done += static_cast<size_t>(r);
  }
  snapshot::EncodedSnapshot out;
  bool have_header = false;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 9) return absl::InternalError("encoder output: truncated frame");
    char type = data[pos];
    uint64_t len;
    std::memcpy(&len, data.data() + pos + 1, sizeof(len));
    pos += 9;
    if (len > data.size() - pos) return absl::InternalError("encoder output: truncated frame");
    const char* p = data.data() + pos;
    pos += len;
    switch (type) {
      case kError:
        return absl::InternalError(std::string(p, len));
      case kHeader:
        if (!out.header.ParseFromArray(p, static_cast<int>(len))) {
          return absl::InternalError("encoder output: bad header");
        }
        have_header = true;
        break;
      case kChunk:
        if (!out.chunks.emplace_back().ParseFromArray(p, static_cast<int>(len))) {
          return absl::InternalError("encoder output: bad chunk");
        }
        break;
      default:
        return absl::InternalError("encoder output: unknown frame");
    }
  }
  if (!have_header) return absl::InternalError("encoder output: no header");
  return out;
}

}  // namespace vitrage::service
