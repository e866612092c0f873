#include "common/grpc_util.h"

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

// Linking the generated health descriptor makes reflection able to describe
// grpc.health.v1.Health (gRPC 1.51's built-in health service is not in the
// generated pool otherwise).
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/tls.h"
#include "grpc/health/v1/health.pb.h"

namespace vitrage {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

namespace {
constexpr char kConfigurationErrorUrl[] = "type.vitrage/configuration-error";
}  // namespace

absl::Status WrongServiceError(absl::string_view address, absl::string_view service,
                               absl::string_view what) {
  absl::Status s = absl::InvalidArgumentError(absl::StrCat(
      what, what.empty() ? "" : ": ", address, " does not serve ", service, " (wrong port?)"));
  s.SetPayload(kConfigurationErrorUrl, absl::Cord("1"));
  return s;
}

bool IsWrongService(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNIMPLEMENTED;
}

bool IsConfigurationError(const absl::Status& s) {
  return s.GetPayload(kConfigurationErrorUrl).has_value();
}

void EnableServerReflection() {
  static bool done = [] {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::EnableDefaultHealthCheckService(true);
    // Force the health descriptor into the generated pool.
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
    return true;
  }();
  (void)done;
}

std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          const std::vector<grpc::Service*>& services,
                                          int* bound_port, int max_message_bytes) {
  EnableServerReflection();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, ServerCredentials(), bound_port);
  // gRPC sets SO_REUSEPORT by default: a second instance would silently
  // share the port with a running one. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Accept the clients' keepalive pings (see MakeChannel).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // One client connection cannot hold more than this many calls at once
  // (more wait in the client); docs/security.md.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 128);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  for (auto* s : services) builder.RegisterService(s);
  auto server = builder.BuildAndStart();
  if (server == nullptr || (bound_port != nullptr && *bound_port == 0)) {
    LOG(ERROR) << "cannot listen on " << address << " (address in use or not local?)";
    return nullptr;
  }
  return server;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, ServerRole server,
                                           int max_message_bytes, const std::string& connection) {
  grpc::ChannelArguments args;
  // Part of the subchannel's key: another value, another connection.
  if (!connection.empty()) args.SetString("vitrage.connection", connection);
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  // Reconnect quickly after a failover.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A peer that is stopped (SIGSTOP) or cut off keeps its TCP connection:
  // keepalive pings find it within seconds so streams fail over.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return grpc::CreateCustomChannel(address, ChannelCredentials(server, address), args);
}

}  // namespace vitrage
