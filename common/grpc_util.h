// Conversions between absl::Status and grpc::Status (same codes), and the
// server set-up every service shares: reflection + health service.
#ifndef VITRAGE_COMMON_GRPC_UTIL_H_
#define VITRAGE_COMMON_GRPC_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/tls.h"

namespace vitrage {

grpc::Status ToGrpcStatus(const absl::Status& s);
absl::Status FromGrpcStatus(const grpc::Status& s);

// A live address that answered a call with UNIMPLEMENTED serves some other
// service (the port of another of our servers, or another program): the
// error says "ADDR does not serve SERVICE (wrong port?)", prefixed with
// `what` (the key or flag that named ADDR) when given, and is a
// configuration error (IsConfigurationError): the binaries exit with code 2.
absl::Status WrongServiceError(absl::string_view address, absl::string_view service,
                               absl::string_view what = "");
bool IsWrongService(const grpc::Status& s);
bool IsConfigurationError(const absl::Status& s);

// Call before building any grpc::Server: registers the reflection plugin
// so `grpcurl list/describe` works. Idempotent.
void EnableServerReflection();

// Builds and starts a server on `address` ("HOST:PORT"; port 0 picks a
// free one) with `services`, the standard health service and reflection.
// `bound_port` receives the port actually bound. Returns nullptr and logs
// when the address cannot be bound. Mutual TLS and the per-method role
// check when ConfigureTls (common/tls.h) set certificates, plaintext
// otherwise.
std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          const std::vector<grpc::Service*>& services,
                                          int* bound_port, int max_message_bytes = 8 << 20);

// Creates a channel to "HOST:PORT": TLS with this process's certificate
// when ConfigureTls (common/tls.h) set one, plaintext otherwise. With TLS
// the server must present a certificate of role `server` (and of the CA,
// for the host dialled); any other server is refused at the handshake.
// Channels to one address share one TCP connection (gRPC's subchannel
// pool) unless `connection` names another: bulk transfers get their own,
// so that HTTP/2's connection-wide flow-control window, filled by a
// snapshot the peer writes slowly, never holds up small latency-bound
// calls (the journal's appends).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, ServerRole server,
                                           int max_message_bytes = 8 << 20,
                                           const std::string& connection = "");

}  // namespace vitrage

#endif  // VITRAGE_COMMON_GRPC_UTIL_H_
