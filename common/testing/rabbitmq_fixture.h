// A private RabbitMQ broker for tests, benchmarks and the local stack.
//
// Start() runs Debian's rabbitmq-server (3.10) out of a fresh temp dir:
// mnesia, logs, pid file, feature-flags file, enabled-plugins file (none)
// and the Erlang cookie all live there, never in /var/lib/rabbitmq. It
// listens on 127.0.0.1 only, on three free ports: AMQP, Erlang distribution
// and a private epmd (so that two brokers side by side, or a broker of
// another worktree, never share an epmd). The broker runs as the user that
// starts it (root included) and is the child we started (the start script
// execs the Erlang VM), so Kill9() is a kill -9 of the broker itself and a
// crashed test takes it down (PR_SET_PDEATHSIG). epmd outlives the broker
// by design: Stop() and the destructor end it by its pid.
//
// Durability is stock: a persistent message on a durable queue that the
// broker confirmed survives Kill9() + Start().
//
// With Options::tls the broker also listens with TLS (AMQPS) on a fourth
// free port of 127.0.0.1, with a throwaway CA and a server certificate
// (CN localhost, subjectAltName DNS:localhost and IP:127.0.0.1) that the
// first Start() makes with `openssl` in DIR/tls (MakeTestCa); the plain
// listener stays for publishers and rabbitmqctl.
#ifndef VITRAGE_COMMON_TESTING_RABBITMQ_FIXTURE_H_
#define VITRAGE_COMMON_TESTING_RABBITMQ_FIXTURE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/process.h"

namespace vitrage::testing {

class RabbitMqFixture {
 public:
  struct Options {
    // Directory to use; empty: a fresh temp dir, removed by the destructor.
    std::string dir;
    // How long Start() waits for the AMQP listener (first boot of a node
    // creates its schema: ~5 s idle, 30+ s on a loaded 2-core machine).
    absl::Duration start_timeout = absl::Seconds(180);
    // Also listen with TLS (tls_port(), ca_file()).
    bool tls = false;
  };

  RabbitMqFixture() : RabbitMqFixture(Options{}) {}
  explicit RabbitMqFixture(Options options);
  // Stops the broker (if running) and its epmd; removes an own temp dir.
  ~RabbitMqFixture();
  RabbitMqFixture(const RabbitMqFixture&) = delete;
  RabbitMqFixture& operator=(const RabbitMqFixture&) = delete;

  // Starts the broker (same ports and data on a restart) and waits until
  // its AMQP listener answers the protocol header. The first start picks
  // the ports.
  absl::Status Start();
  // SIGTERM + wait (clean shutdown). Data and epmd stay.
  absl::Status Stop();
  // SIGKILL of the broker: a crash. Data and epmd stay; Start() recovers.
  void Kill9();
  // SIGSTOP / SIGCONT: a broker that hangs with its sockets open.
  void Pause();
  void Resume();

  bool running() { return server_.running(); }
  pid_t pid() const { return server_.pid(); }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string log_path() const;
  // rabbit://guest:guest@127.0.0.1:PORT/ (the guest user may log in from
  // loopback only, which is all this broker listens on).
  std::string url() const;

  // With Options::tls: the TLS listener's port, the CA that signed the
  // broker's certificate (PEM), and rabbit://guest:guest@127.0.0.1:TLS_PORT/
  // (oslo takes TLS from [oslo_messaging_rabbit] ssl, not from the URL).
  int tls_port() const { return tls_port_; }
  std::string ca_file() const { return dir_ + "/tls/ca.pem"; }
  std::string tls_url() const;

  // Makes a throwaway CA in `dir` (created if needed): DIR/ca.pem and
  // DIR/ca.key, subject CN=`name`, valid two days, with `openssl`. Returns
  // the certificate's path. Also what a test takes as "the wrong CA".
  static absl::StatusOr<std::string> MakeTestCa(const std::string& dir, const std::string& name);
  // A key and a certificate for `cn` (plus subjectAltName `san`, e.g.
  // "DNS:localhost,IP:127.0.0.1") signed by the CA MakeTestCa made in
  // `ca_dir`: DIR/PREFIX.pem and DIR/PREFIX.key.
  static absl::Status MakeTestCert(const std::string& ca_dir, const std::string& prefix,
                                   const std::string& cn, const std::string& san);

  // Runs rabbitmqctl against this node; its stdout (stderr in the error).
  absl::StatusOr<std::string> Ctl(const std::vector<std::string>& args) const;
  // Messages ready + unacked in `queue` (rabbitmqctl list_queues); NOT_FOUND
  // when there is no such queue.
  absl::StatusOr<int64_t> QueueDepth(const std::string& queue) const;

 private:
  std::vector<std::string> Env() const;
  absl::Status WaitForListener(absl::Time deadline);
  void StopEpmd();

  Options options_;
  bool own_dir_ = false;
  std::string dir_;
  std::string node_;
  int port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  int tls_port_ = 0;
  Process server_;
};

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_RABBITMQ_FIXTURE_H_
