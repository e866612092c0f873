// The AMQP 0-9-1 side of the bus, and the only code that includes
// rabbitmq-c (librabbitmq, Debian's librabbitmq-dev). Two pieces:
//
//   Connection: one connection to one broker with one channel: declare
//     exchanges and queues, bind, basic.qos, consume with manual ack or
//     reject, publish (with publisher confirms when enabled). Any error
//     leaves it broken: every later call answers UNAVAILABLE at once, and
//     the owner drops it and opens a new one (delivery tags of a broken
//     connection mean nothing; its unacked messages are redelivered by the
//     broker, flagged `redelivered`).
//   Link: the connection an owner keeps: Get() connects (the transport
//     URL's hosts in turn, with capped exponential backoff) and runs the
//     owner's setup (declare, bind, qos, consume) on every new connection;
//     Broken(why) drops it. It logs one line when the link goes down (why)
//     and one when it is back (after how long, how many attempts), and the
//     password never appears in either.
//
// REQUIRES: a Connection and a Link are used by one thread at a time
// (rabbitmq-c is not thread-safe per connection). A Connection that
// publishes with confirms must not also consume (Publish reads the frames
// in between and would swallow a delivery): use two.
//
// Heartbeats (heartbeat_seconds, oslo's heartbeat_timeout_threshold) are
// sent and checked by rabbitmq-c while a call waits on the socket; a peer
// silent for two intervals breaks the connection. An owner that does not
// call Next() or Publish() for longer than the interval gets disconnected
// by the broker (and the owner's next call says so).
#ifndef VITRAGE_GRAPH_SERVICE_AMQP_CONNECTION_H_
#define VITRAGE_GRAPH_SERVICE_AMQP_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_service/amqp/transport_url.h"

// rabbitmq-c's reply type, kept out of this header.
struct amqp_rpc_reply_t_;

namespace vitrage::amqp {

// TLS to the broker, from [oslo_messaging_rabbit] (the same keys as oslo).
struct TlsOptions {
  bool enabled = false;  // ssl
  // ssl_ca_file: verify the broker's certificate chain against it. Empty:
  // no verification (as oslo: encryption without authentication).
  std::string ca_file;
  // ssl_cert_file + ssl_key_file: a client certificate, when the broker
  // asks for one.
  std::string cert_file;
  std::string key_file;
  // ssl_enforce_hostname_verification: also check the broker's name (only
  // with ca_file).
  bool verify_hostname = false;
};

struct ConnectionOptions {
  TransportUrl url;
  TlsOptions tls;
  // 0: no heartbeat.
  int heartbeat_seconds = 60;
  // TCP connect, TLS and AMQP handshake, and each synchronous method
  // (declare, bind, qos, consume, publish confirm) get this long.
  absl::Duration timeout = absl::Seconds(10);
  // Shown by the broker (rabbitmqctl list_connections client_properties).
  std::string name = "vitrage-graph";
  // Link: backoff between attempts, doubling from min to max.
  absl::Duration backoff_min = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
};

struct Delivery {
  uint64_t tag = 0;  // for Ack/Reject on the same Connection only
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string message_id;  // the AMQP property (oslo puts its id in the body)
  // Headers with string values (others are left out).
  std::vector<std::pair<std::string, std::string>> headers;
};

struct OutMessage {
  std::string body;
  bool persistent = true;  // delivery_mode 2
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

class Connection {
 public:
  // Connects to `host` of options.url (TLS when options.tls.enabled), logs
  // in to options.url.vhost and opens channel 1. UNAVAILABLE when the
  // broker cannot be reached; PERMISSION_DENIED when it refuses the login.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options,
                                                          const BrokerHost& host);
  // Closes the channel and connection politely when not broken.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const BrokerHost& host() const { return host_; }
  bool broken() const { return !broken_why_.ok(); }
  const absl::Status& broken_why() const { return broken_why_; }

  // exchange.declare (type "topic", "direct", "fanout"). The broker refuses
  // a redeclaration with other properties (PRECONDITION_FAILED, naming
  // them), which breaks the connection.
  absl::Status DeclareExchange(const std::string& name, const std::string& type, bool durable,
                               bool auto_delete);
  // queue.declare; returns the number of messages ready in the queue.
  absl::StatusOr<uint32_t> DeclareQueue(const std::string& name, bool durable, bool auto_delete);
  absl::Status BindQueue(const std::string& queue, const std::string& exchange,
                         const std::string& routing_key);
  // basic.qos: at most `prefetch` unacked deliveries per consumer (0: no
  // limit).
  absl::Status Qos(uint16_t prefetch);
  // basic.consume with manual acks.
  absl::Status Consume(const std::string& queue);
  // The next delivery, or nullopt after `timeout` with none.
  absl::StatusOr<std::optional<Delivery>> Next(absl::Duration timeout);
  absl::Status Ack(uint64_t tag, bool multiple);
  // basic.reject; requeue=false drops it (or dead-letters it, when the
  // queue has a dead-letter exchange).
  absl::Status Reject(uint64_t tag, bool requeue);

  // confirm.select: from now on Publish waits for the broker's ack.
  absl::Status EnableConfirms();
  // basic.publish, mandatory. With confirms: returns once the broker took
  // responsibility for it (for a persistent message on a durable queue:
  // written to disk); FAILED_PRECONDITION when no queue is bound for it
  // (returned unroutable), ABORTED when the broker nacks it.
  absl::Status Publish(const std::string& exchange, const std::string& routing_key,
                       const OutMessage& message);

 private:
  struct State;
  Connection(const ConnectionOptions& options, const BrokerHost& host);
  // Checks the reply of the last synchronous method; breaks the
  // connection (and returns why) when it failed.
  absl::Status CheckReply(const char* what);
  absl::Status CheckReply(const char* what, const ::amqp_rpc_reply_t_& reply);
  absl::Status Break(absl::Status why);
  absl::Status CheckUsable() const;

  const ConnectionOptions options_;
  const BrokerHost host_;
  std::unique_ptr<State> state_;
  absl::Status broken_why_;
  bool confirms_ = false;
  uint64_t published_ = 0;
};

class Link {
 public:
  // `setup` runs on each new connection before Get() returns it (declare,
  // bind, qos, consume); its error breaks that connection and counts as a
  // failed attempt. `what` names the link in its log lines ("bus").
  Link(ConnectionOptions options, std::string what, std::function<absl::Status(Connection&)> setup);
  ~Link();

  // A connected, set-up Connection. Tries the hosts in turn, then waits
  // (backoff) and tries again, until one works or `stop()` is true
  // (CANCELLED). The pointer is valid until Broken() or the Link's end.
  absl::StatusOr<Connection*> Get(const std::function<bool()>& stop);
  // The current connection failed (or its owner gives it up): drop it. The
  // next Get() reconnects. Logs the "link down" line.
  void Broken(const absl::Status& why);
  // Called by Get() with why each connection attempt failed (the log says
  // it once; an owner's status may want each). Set before the first Get().
  void set_on_attempt_failed(std::function<void(const absl::Status&)> fn) {
    on_attempt_failed_ = std::move(fn);
  }
  // Connections made so far (1 after the first Get()).
  int connects() const { return connects_; }
  bool connected() const { return conn_ != nullptr; }

 private:
  const ConnectionOptions options_;
  const std::string what_;
  const std::function<absl::Status(Connection&)> setup_;
  std::function<void(const absl::Status&)> on_attempt_failed_;
  std::unique_ptr<Connection> conn_;
  size_t next_host_ = 0;
  int connects_ = 0;
  // Since when the link has been down (InfinitePast: never up yet).
  absl::Time down_since_ = absl::InfinitePast();
  absl::Status down_why_;
};

}  // namespace vitrage::amqp

#endif  // VITRAGE_GRAPH_SERVICE_AMQP_CONNECTION_H_
