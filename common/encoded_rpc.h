// Calls of our own gRPC methods with the wire-compatible request types of
// vitrage/wire/encoded.proto (a request whose repeated elements are already
// serialized). The generated stubs are typed with the vitrage.v1 messages;
// these open the same method path with another (protobuf) request type, the
// way the generated code itself does, so the bytes on the wire are the
// same as with the typed stub and the server cannot tell the difference.
#ifndef VITRAGE_COMMON_ENCODED_RPC_H_
#define VITRAGE_COMMON_ENCODED_RPC_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <memory>
#include <string>

namespace vitrage {

// "/<package>.<Service>/<Method>", e.g. MethodPath(v1::Graph::service_full_name(),
// "PushEventStream").
inline std::string MethodPath(const char* service_full_name, const char* method) {
  return std::string("/") + service_full_name + "/" + method;
}

// A bidirectional stream on `path` that writes Request and reads Response.
// `path` must outlive the stream.
template <typename Request, typename Response>
std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> OpenBidiStream(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& path,
    grpc::ClientContext* context) {
  return std::unique_ptr<grpc::ClientReaderWriter<Request, Response>>(
      grpc::internal::ClientReaderWriterFactory<Request, Response>::Create(
          channel.get(),
          grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING),
          context));
}

// A unary call of `path` with a Request of our choosing.
template <typename Request, typename Response>
grpc::Status UnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& path,
                       grpc::ClientContext* context, const Request& request, Response* response) {
  return grpc::internal::BlockingUnaryCall<Request, Response>(
      channel.get(), grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
      context, request, response);
}

}  // namespace vitrage

#endif  // VITRAGE_COMMON_ENCODED_RPC_H_
