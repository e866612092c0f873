// vitrage-test-vip: a stand-in, for tests on one machine, for the virtual
// IP (or health-checked load balancer) that carries the collectors' traffic
// to whichever graph instance is ACTIVE, and the poller that times a
// failover.
//
//   vitrage-test-vip --listen 127.0.0.1:PORT --backend 127.0.0.1:A
//       --backend 127.0.0.1:B [--interval_ms 20]
//
// Every interval it asks each backend's standard health service (one
// persistent channel per backend, deadline 250 ms): "vitrage.v1.Graph" is
// SERVING only on the ACTIVE graph, "vitrage.v1.Graph.standby" only on a
// current standby (graph_service/service/main.cc). A new TCP connection on
// --listen is piped to the ACTIVE backend, or closed when there is none;
// when the ACTIVE backend changes (or goes away) every open connection is
// cut, so clients reconnect to the new one.
//
// It prints one line per change on stdout (flushed at once), times in
// milliseconds since the Unix epoch:
//   <ms> listening 127.0.0.1:PORT
//   <ms> backend ADDR ACTIVE|STANDBY|NOT_READY|DOWN
//   <ms> target ADDR|none
// NOT_READY: it answers but is neither (starting, recovering, promoting, a
// standby not caught up); DOWN: no answer. Tests (deploy_standby_test.sh)
// read these lines to measure kill -9 -> new ACTIVE without starting a
// client process per poll. Ends on SIGTERM/SIGINT (default action).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/tcp_pipe.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration_tests/stack.h"

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckResponse;

void Say(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> l(mu);
  std::printf("%lld %s\n", static_cast<long long>(absl::ToUnixMillis(absl::Now())), line.c_str());
  std::fflush(stdout);
}

// "HOST:PORT" with a numeric IPv4 host -> sockaddr_in; false when it is not.
bool ParseAddress(const std::string& addr, sockaddr_in* out) {
  auto colon = addr.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return false;
  }
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, addr.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

class Proxy {
 public:
  explicit Proxy(std::vector<std::string> backends) : backends_(std::move(backends)) {}

  // Binds; false (and a message on stderr) when it cannot.
  bool Listen(const std::string& addr) {
    sockaddr_in a;
    if (!ParseAddress(addr, &a)) {
      std::fprintf(stderr, "--listen %s: not IPV4:PORT\n", addr.c_str());
      return false;
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        listen(listen_fd_, 128) != 0) {
      std::fprintf(stderr, "--listen %s: %s\n", addr.c_str(), std::strerror(errno));
      return false;
    }
    Say(absl::StrCat("listening ", addr));
    return true;
  }

  // Polls the backends forever (the calling thread); accepts on another.
  void Run(absl::Duration interval) {
    std::thread acceptor([this] { Accept(); });
    acceptor.detach();
    std::vector<std::unique_ptr<Health::Stub>> stubs;
    std::vector<std::string> last(backends_.size());
    for (const auto& b : backends_)
      stubs.push_back(Health::NewStub(vitrage::MakeChannel(b, vitrage::ServerRole::kGraph)));
    std::string target_said = "?";
    while (true) {
      const absl::Time round = absl::Now();
      std::string active;
      for (size_t i = 0; i < backends_.size(); ++i) {
        std::string state = State(stubs[i].get());
        if (state != last[i]) {
          last[i] = state;
          Say(absl::StrCat("backend ", backends_[i], " ", state));
        }
        if (state == "ACTIVE" && active.empty()) active = backends_[i];
      }
      if (active != target_said) {
        {
          std::lock_guard<std::mutex> l(mu_);
          target_ = active;
          for (int fd : open_) shutdown(fd, SHUT_RDWR);
        }
        target_said = active;
        Say(absl::StrCat("target ", active.empty() ? "none" : active));
      }
      absl::SleepFor(interval - (absl::Now() - round));
    }
  }

 private:
  static bool Serving(Health::Stub* stub, const std::string& service, bool* answered) {
    auto s = vitrage::testing::CheckHealth(stub, service, absl::Milliseconds(250));
    // NOT_FOUND: the server answers but has no such name registered.
    *answered = s.ok() || absl::IsNotFound(s.status());
    return s.ok() && *s == HealthCheckResponse::SERVING;
  }

  static std::string State(Health::Stub* stub) {
    bool answered = false;
    if (Serving(stub, "vitrage.v1.Graph", &answered)) return "ACTIVE";
    if (!answered) return "DOWN";
    if (Serving(stub, "vitrage.v1.Graph.standby", &answered)) return "STANDBY";
    return answered ? "NOT_READY" : "DOWN";
  }

  void Accept() {
    while (true) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string target;
      {
        std::lock_guard<std::mutex> l(mu_);
        target = target_;
      }
      sockaddr_in a;
      int u = -1;
      if (!target.empty() && ParseAddress(target, &a)) {
        u = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
          close(u);
          u = -1;
        }
      }
      if (u < 0) {
        close(c);
        continue;
      }
      std::lock_guard<std::mutex> l(mu_);
      if (target_ != target) {  // changed while connecting
        close(c);
        close(u);
        continue;
      }
      open_.insert(c);
      open_.insert(u);
      std::thread([this, c, u] { Pipe(c, u); }).detach();
    }
  }

  void Pipe(int a, int b) {
    vitrage::testing::PumpBytes(a, b);
    std::lock_guard<std::mutex> l(mu_);
    open_.erase(a);
    open_.erase(b);
    close(a);
    close(b);
  }

  const std::vector<std::string> backends_;
  int listen_fd_ = -1;
  std::mutex mu_;
  std::string target_;  // under mu_
  std::set<int> open_;  // under mu_
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Health-checked TCP forwarder to the ACTIVE vitrage-graph (tests)"};
  std::string listen;
  std::vector<std::string> backends;
  int interval_ms = 20;
  app.add_option("--listen", listen, "IPV4:PORT to accept on")->required();
  app.add_option("--backend", backends, "IPV4:PORT of a vitrage-graph (repeat)")->required();
  app.add_option("--interval_ms", interval_ms, "health poll interval")->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);
  sockaddr_in a;
  for (const auto& b : backends) {
    if (!ParseAddress(b, &a)) {
      std::fprintf(stderr, "--backend %s: not IPV4:PORT\n", b.c_str());
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  Proxy proxy(backends);
  if (!proxy.Listen(listen)) return 1;
  proxy.Run(absl::Milliseconds(interval_ms));
}
