#include "common/testing/rabbitmq_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace vitrage::testing {
namespace {

// True when 127.0.0.1:port answers the AMQP 0-9-1 protocol header with a
// frame (connection.start): the broker is booted, not just bound.
bool AmqpAnswers(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    static const char kHeader[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    char first = 0;
    ok = write(fd, kHeader, sizeof(kHeader)) == sizeof(kHeader) && read(fd, &first, 1) == 1 &&
         first == 1;
  }
  close(fd);
  return ok;
}

// True when 127.0.0.1:port accepts a TCP connection.
bool TcpAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Runs openssl with `args`; its output in the error.
absl::Status OpenSsl(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = dir + "/openssl.out";
  auto rc = RunCommand(argv, log, absl::Seconds(60));
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::InternalError(absl::StrCat("openssl ", absl::StrJoin(args, " "), " exited ", *rc,
                                            ": ", ReadFileOrEmpty(log).substr(0, 2000)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RabbitMqFixture::MakeTestCa(const std::string& dir,
                                                        const std::string& name) {
  std::filesystem::create_directories(dir);
  // EC keys: quick to make on a loaded machine.
  if (absl::Status s =
          OpenSsl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem", "-days", "2",
                        "-subj", "/CN=" + name});
      !s.ok()) {
    return s;
  }
  return dir + "/ca.pem";
}

absl::Status RabbitMqFixture::MakeTestCert(const std::string& ca_dir, const std::string& prefix,
                                           const std::string& cn, const std::string& san) {
  const std::string base = ca_dir + "/" + prefix;
  if (absl::Status s = OpenSsl(
          ca_dir, {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn});
      !s.ok()) {
    return s;
  }
  std::ofstream(base + ".ext") << "subjectAltName=" << san << "\n"
                               << "basicConstraints=CA:FALSE\n";
  return OpenSsl(ca_dir, {"x509", "-req", "-in", base + ".csr", "-CA", ca_dir + "/ca.pem", "-CAkey",
                          ca_dir + "/ca.key", "-CAcreateserial", "-out", base + ".pem", "-days",
                          "2", "-extfile", base + ".ext"});
}

std::string RabbitMqFixture::tls_url() const {
  return absl::StrCat("rabbit://guest:guest@127.0.0.1:", tls_port_, "/");
}

RabbitMqFixture::RabbitMqFixture(Options options) : options_(std::move(options)) {}

RabbitMqFixture::~RabbitMqFixture() {
  if (server_.running()) (void)Stop();
  StopEpmd();
  if (own_dir_) RemoveTree(dir_);
}

std::string RabbitMqFixture::url() const {
  return absl::StrCat("rabbit://guest:guest@127.0.0.1:", port_, "/");
}

std::string RabbitMqFixture::log_path() const { return absl::StrCat(dir_, "/log/", node_, ".log"); }

std::vector<std::string> RabbitMqFixture::Env() const {
  return {
      "HOME=" + dir_,
      "RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia",
      "RABBITMQ_LOG_BASE=" + dir_ + "/log",
      "RABBITMQ_NODENAME=" + node_,
      absl::StrCat("RABBITMQ_NODE_PORT=", port_),
      "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
      absl::StrCat("RABBITMQ_DIST_PORT=", dist_port_),
      absl::StrCat("ERL_EPMD_PORT=", epmd_port_),
      "ERL_EPMD_ADDRESS=127.0.0.1",
      "RABBITMQ_PID_FILE=" + dir_ + "/pid",
      "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins",
      "RABBITMQ_FEATURE_FLAGS_FILE=" + dir_ + "/feature_flags",
      "RABBITMQ_CONFIG_FILE=" + dir_ + "/rabbitmq",
      "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
      // The start script then execs the VM instead of running it as a
      // child: the pid we hold is the broker's.
      "RUNNING_UNDER_SYSTEMD=true",
  };
}

absl::Status RabbitMqFixture::Start() {
  if (server_.running()) return absl::OkStatus();
  if (dir_.empty()) {
    if (options_.dir.empty()) {
      auto d = MakeTempDir("vitrage-rabbitmq");
      if (!d.ok()) return d.status();
      dir_ = *d;
      own_dir_ = true;
    } else {
      dir_ = options_.dir;
    }
    std::filesystem::create_directories(dir_ + "/mnesia");
    std::filesystem::create_directories(dir_ + "/log");
    std::ofstream(dir_ + "/enabled_plugins") << "[].\n";
    // Small disk-free limit: test machines run with little free space.
    std::ofstream(dir_ + "/rabbitmq.conf") << "disk_free_limit.absolute = 50MB\n"
                                           << "log.file.level = info\n";
  }
  if (port_ == 0) {
    port_ = PickFreePort();
    dist_port_ = PickFreePort();
    epmd_port_ = PickFreePort();
    if (port_ == 0 || dist_port_ == 0 || epmd_port_ == 0) {
      return absl::InternalError("no free port on 127.0.0.1");
    }
    node_ = absl::StrCat("vitrage", port_, "@localhost");
    if (options_.tls) {
      tls_port_ = PickFreePort();
      if (tls_port_ == 0) return absl::InternalError("no free port on 127.0.0.1");
      const std::string tls = dir_ + "/tls";
      if (auto ca = MakeTestCa(tls, "vitrage-test-ca"); !ca.ok()) return ca.status();
      if (absl::Status s = MakeTestCert(tls, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
          !s.ok()) {
        return s;
      }
      // The TLS listener on loopback only; clients need no certificate.
      std::ofstream(dir_ + "/rabbitmq.conf", std::ios::app)
          << "listeners.ssl.1 = 127.0.0.1:" << tls_port_ << "\n"
          << "ssl_options.cacertfile = " << tls << "/ca.pem\n"
          << "ssl_options.certfile = " << tls << "/server.pem\n"
          << "ssl_options.keyfile = " << tls << "/server.key\n"
          << "ssl_options.verify = verify_none\n"
          << "ssl_options.fail_if_no_peer_cert = false\n";
    }
  }
  auto p = Process::Start({"/usr/lib/rabbitmq/bin/rabbitmq-server"}, dir_ + "/server.out", Env());
  if (!p.ok()) return p.status();
  server_ = std::move(*p);
  return WaitForListener(absl::Now() + options_.start_timeout);
}

absl::Status RabbitMqFixture::WaitForListener(absl::Time deadline) {
  // The TLS listener opens with the plain one; a TCP connect is enough.
  while (!AmqpAnswers(port_) || (tls_port_ != 0 && !TcpAccepts(tls_port_))) {
    if (!server_.running()) {
      std::string out = ReadFileOrEmpty(dir_ + "/server.out");
      if (out.size() > 3000) out = out.substr(out.size() - 3000);
      return absl::InternalError(absl::StrCat("rabbitmq-server exited during start-up (port ",
                                              port_, "); see ", dir_, "/server.out:\n", out));
    }
    if (absl::Now() > deadline) {
      server_.Kill9();
      return absl::DeadlineExceededError(absl::StrCat(
          "rabbitmq-server did not answer on 127.0.0.1:", port_, "; see ", log_path()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::OkStatus();
}

absl::Status RabbitMqFixture::Stop() {
  if (!server_.running()) return absl::OkStatus();
  int status = server_.Stop(absl::Seconds(60));
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    return absl::DeadlineExceededError("rabbitmq-server did not stop within 60 s; killed");
  }
  return absl::OkStatus();
}

void RabbitMqFixture::Kill9() { server_.Kill9(); }
void RabbitMqFixture::Pause() { server_.Signal(SIGSTOP); }
void RabbitMqFixture::Resume() { server_.Signal(SIGCONT); }

void RabbitMqFixture::StopEpmd() {
  if (epmd_port_ == 0) return;
  // epmd is a daemon the VM started (its parent is init): find it by the
  // port only it listens on, then end it by that pid.
  std::string out_path = dir_ + "/ss.out";
  auto rc = RunCommand({"ss", "-ltnpH", absl::StrCat("sport = :", epmd_port_)}, out_path,
                       absl::Seconds(10));
  if (!rc.ok()) return;
  std::string out = ReadFileOrEmpty(out_path);
  size_t at = out.find("pid=");
  if (at == std::string::npos) return;
  int pid = 0;
  std::string digits;
  for (size_t i = at + 4; i < out.size() && isdigit(static_cast<unsigned char>(out[i])); ++i) {
    digits += out[i];
  }
  if (absl::SimpleAtoi(digits, &pid) && pid > 1) {
    std::string comm = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/comm"));
    if (absl::StartsWith(comm, "epmd")) kill(pid, SIGTERM);
  }
}

absl::StatusOr<std::string> RabbitMqFixture::Ctl(const std::vector<std::string>& args) const {
  // rabbitmqctl takes the environment of the node it talks to.
  std::vector<std::string> argv = {"env"};
  for (const std::string& e : Env()) argv.push_back(e);
  argv.push_back("/usr/lib/rabbitmq/bin/rabbitmqctl");
  argv.push_back("-q");
  argv.push_back("-n");
  argv.push_back(node_);
  for (const std::string& a : args) argv.push_back(a);
  std::string out_path = absl::StrCat(dir_, "/ctl.", getpid(), ".", rand(), ".out");
  auto rc = RunCommand(argv, out_path, absl::Seconds(60));
  std::string out = ReadFileOrEmpty(out_path);
  std::filesystem::remove(out_path);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::InternalError(absl::StrCat("rabbitmqctl ", absl::StrJoin(args, " "), " exited ",
                                            *rc, ": ", out.substr(0, 2000)));
  }
  return out;
}

absl::StatusOr<int64_t> RabbitMqFixture::QueueDepth(const std::string& queue) const {
  auto out = Ctl({"list_queues", "--no-table-headers", "name", "messages"});
  if (!out.ok()) return out.status();
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
    int64_t n = 0;
    if (f.size() == 2 && f[0] == queue && absl::SimpleAtoi(absl::StripAsciiWhitespace(f[1]), &n)) {
      return n;
    }
  }
  return absl::NotFoundError(absl::StrCat("no queue \"", queue, "\" on the broker"));
}

}  // namespace vitrage::testing
