// The oslo.messaging RPC server of vitrage-graph: takes the calls
// vitrage-api makes on the bus and answers them with handlers.h.
//
// Wire (python3-oslo.messaging, _drivers/amqpdriver.py, impl_rabbit.py):
// a call is published to the topic exchange `control_exchange` ("vitrage")
// with routing key `[DEFAULT] rpc_topic` ("rpcapiv1"); we consume the
// queue of that name (non-durable, bound with that key), as upstream's
// server does. The body is an oslo envelope 2.0 (oslo_envelope.h) whose
// message holds "method", "args" (keyword arguments), "_msg_id",
// "_reply_q" and the caller's context as "_context_<key>" members. The
// answer goes to the default exchange with routing key _reply_q:
// {"result": R, "failure": null | F, "ending": true, "_msg_id", "_unique_id"}
// in an envelope, F being oslo's serialized exception (class, module,
// message, tb, args, kwargs). A message without _msg_id is a cast: no reply.
//
// Calls are taken only while the graph is ACTIVE: a standby or a
// recovering graph holds no consumer (the calls wait in the queue for the
// active graph, or time out in vitrage-api as with upstream's graph down).
// Each message is acked when received, before it is handled (as oslo's
// server does): a call is answered at most once.
//
// Bad input never crashes or stalls a worker: a body that is not an
// envelope, too big or too deep ([limits] max_event_bytes, max_json_depth),
// a missing or non-string method, args that are not a dict, wrong argument
// types, an unknown method: each gets a failure reply when the message
// names its reply queue, and is dropped (logged) otherwise.
#ifndef VITRAGE_GRAPH_SERVICE_RPC_API_RPC_SERVER_H_
#define VITRAGE_GRAPH_SERVICE_RPC_API_RPC_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "graph_service/amqp/connection.h"
#include "graph_service/evaluator/template.h"
#include "graph_service/graph/graph.h"
#include "nlohmann/json.hpp"

namespace vitrage::rpc_api {

// What the server needs from the graph process (the engine implements it
// in a few lines; tests with a plain graph).
class GraphAccess {
 public:
  using ReadFn = std::function<absl::StatusOr<nlohmann::json>(const graph::Graph&,
                                                              const evaluator::TemplateSet*)>;
  virtual ~GraphAccess() = default;
  // True while the graph is ACTIVE (serving calls).
  virtual bool Active() const = 0;
  // Runs `fn` under the graph's reader lock; UNAVAILABLE when not ACTIVE.
  virtual absl::StatusOr<nlohmann::json> Read(const ReadFn& fn) = 0;
};

struct RpcServerOptions {
  amqp::ConnectionOptions connection;
  std::string exchange = "vitrage";  // [DEFAULT] control_exchange
  std::string topic = "rpcapiv1";    // [DEFAULT] rpc_topic
  // [oslo_messaging_rabbit] amqp_durable_queues, amqp_auto_delete: how oslo
  // declares the topic exchange and queue (the broker refuses a mismatch).
  bool durable = false;
  bool auto_delete = false;
  // Consumers, each with its own connections (calls run in parallel under
  // the graph's reader lock).
  int workers = 2;
  Config::Limits limits;
  // How often an idle worker looks at the graph's role.
  absl::Duration poll = absl::Milliseconds(100);
};

// One request body -> the reply (queue and body), or nullopt for a cast or
// a message that names no reply queue. Pure apart from `access`.
struct Reply {
  std::string reply_q;
  std::string body;
  bool failed = false;
};
std::optional<Reply> HandleRequest(std::string_view body, GraphAccess* access,
                                   const Config::Limits& limits);

// The reply body (an oslo envelope) of call `msg_id`: `result`, or the
// serialized `failure` when non-null (then `result` is ignored).
std::string ReplyBody(const std::string& msg_id, const nlohmann::json& result,
                      const std::string* failure);

class RpcServer {
 public:
  // REQUIRES: `access` outlives the server.
  RpcServer(RpcServerOptions options, GraphAccess* access);
  ~RpcServer();  // Stop()s
  void Start();
  // Stops the workers (a call being handled is finished and answered).
  void Stop();

  uint64_t calls() const { return calls_.load(); }
  uint64_t failures() const { return failures_.load(); }
  // True while some worker holds a consumer on the queue.
  bool consuming() const { return consuming_.load() > 0; }

 private:
  void Worker(int index);

  const RpcServerOptions options_;
  GraphAccess* const access_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<int> consuming_{0};
  std::vector<std::thread> workers_;
};

}  // namespace vitrage::rpc_api

#endif  // VITRAGE_GRAPH_SERVICE_RPC_API_RPC_SERVER_H_
