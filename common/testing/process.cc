#include "common/testing/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace vitrage::testing {
namespace {

struct ChildSetup {
  pid_t parent;
  int log_fd;
  char** argv;
  char** envp;
};

// Runs in the new process, on its own stack, in the parent's memory until
// execvpe: system calls only (no allocation, no locks).
[[noreturn]] int ChildMain(void* arg) {
  const ChildSetup& s = *static_cast<const ChildSetup*>(arg);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != s.parent) _exit(127);
  if (s.log_fd >= 0) {
    dup2(s.log_fd, 1);
    dup2(s.log_fd, 2);
  }
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  execvpe(s.argv[0], s.argv, s.envp);
  dprintf(2, "exec %s: %s\n", s.argv[0], std::strerror(errno));
  _exit(127);
}

}  // namespace

absl::StatusOr<Process> Process::Start(const std::vector<std::string>& argv,
                                       const std::string& log_path,
                                       const std::vector<std::string>& extra_env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  // An extra_env entry replaces the inherited variable of the same name
  // (getenv finds the first one).
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    const std::string_view name = var.substr(0, var.find('='));
    bool replaced = false;
    for (const auto& x : extra_env) {
      replaced |=
          x.size() > name.size() && x.compare(0, name.size(), name) == 0 && x[name.size()] == '=';
    }
    if (!replaced) env_store.emplace_back(*e);
  }
  for (const auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int fd = log_path.empty()
                     ? -1
                     : open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (!log_path.empty() && fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", log_path, ": ", std::strerror(errno)));
  }
  // The child shares this process's memory until it execs (clone with
  // CLONE_VM | CLONE_VFORK, as posix_spawn does): starting a process costs
  // no page-table copy and leaves no copy-on-write faults behind in this
  // (possibly large, multi-threaded) test or bench process. On a virtual
  // machine both are dear, and service_bench times spawn -> ACTIVE.
  // Sanitizer builds fork instead: their interceptors keep per-thread state
  // that a child running in this thread's memory would share.
  ChildSetup setup{getpid(), fd, args.data(), envp.data()};
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr const char* kSpawnCall = "fork";
  pid_t pid = fork();
  if (pid == 0) ChildMain(&setup);
#else
  constexpr const char* kSpawnCall = "clone";
  std::vector<char> stack(256 << 10);
  pid_t pid =
      clone(&ChildMain, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &setup);
#endif
  const int spawn_errno = errno;
  if (fd >= 0) close(fd);  // the child has its own copy (or has exec'd)
  if (pid < 0) {
    return absl::InternalError(absl::StrCat(kSpawnCall, ": ", std::strerror(spawn_errno)));
  }
  Process p;
  p.pid_ = pid;
  return p;
}

Process::Process(Process&& o) noexcept { *this = std::move(o); }

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !exited_) Kill9();
    pid_ = o.pid_;
    status_ = o.status_;
    exited_ = o.exited_;
    o.pid_ = -1;
    o.exited_ = false;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !exited_) Kill9();
}

bool Process::running() {
  if (pid_ <= 0 || exited_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Process::Signal(int sig) const {
  if (pid_ <= 0 || exited_) return -1;
  return kill(pid_, sig);
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no process");
  absl::Time deadline = absl::Now() + timeout;
  while (!exited_) {
    int st;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = st;
      break;
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", pid_, " still running after ", absl::FormatDuration(timeout)));
    }
    usleep(10'000);
  }
  return status_;
}

int Process::Stop(absl::Duration grace) {
  if (pid_ <= 0) return -1;
  if (exited_) return status_;
  kill(pid_, SIGTERM);
  kill(pid_, SIGCONT);  // a stopped process cannot act on SIGTERM
  auto st = Wait(grace);
  if (st.ok()) return *st;
  Kill9();
  return status_;
}

void Process::Kill9() {
  if (pid_ <= 0 || exited_) return;
  kill(pid_, SIGKILL);
  int st;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  status_ = st;
}

absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                               absl::Duration timeout) {
  auto p = Process::Start(argv, log_path);
  if (!p.ok()) return p.status();
  auto st = p->Wait(timeout);
  if (!st.ok()) {
    p->Kill9();
    return absl::DeadlineExceededError(absl::StrCat(
        absl::StrJoin(argv, " "), ": did not finish within ", absl::FormatDuration(timeout)));
  }
  if (WIFEXITED(*st)) return WEXITSTATUS(*st);
  return 128 + WTERMSIG(*st);
}

namespace {

// True when nothing is bound to 127.0.0.1:port now.
bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

// A port below the kernel's ephemeral range (ip_local_port_range): a port
// the kernel chose (bind to 0) is from that range, and any outgoing
// connection made before the service binds it (the persistor's MariaDB
// pool, gRPC clients, other tests) may take it as its source port, which
// made services fail to bind now and then. Ports handed out by this
// process are not handed out again.
int PickFreePort() {
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 rng(static_cast<uint32_t>(getpid()) * 2654435761u ^
                          static_cast<uint32_t>(time(nullptr)));
  int lo = 32768;
  {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    int a = 0, b = 0;
    if (in >> a >> b && a > 0) lo = a;
  }
  std::lock_guard<std::mutex> l(mu);
  if (lo > 12000) {
    std::uniform_int_distribution<int> pick(10000, lo - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      int port = pick(rng);
      if (given.count(port) || !PortFree(port)) continue;
      given.insert(port);
      return port;
    }
  }
  // Fallback: let the kernel choose.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  close(fd);
  given.insert(port);
  return port;
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/", prefix, ".XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", std::strerror(errno)));
  }
  return tmpl;
}

void RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BinaryDir() {
  const char* d = std::getenv("VITRAGE_BINARY_DIR");
  if (d && *d) return d;
  // Fallback: tests live in BUILD/<subdir>/; guess BUILD as the parent.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return exe.parent_path().parent_path().string();
}

std::string SourceDir() {
  const char* d = std::getenv("VITRAGE_SOURCE_DIR");
  if (d && *d) return d;
#ifdef VITRAGE_SOURCE_DIR_DEFAULT
  return VITRAGE_SOURCE_DIR_DEFAULT;
#else
  return ".";
#endif
}

}  // namespace vitrage::testing
