// Transport security of the whole process: mutual TLS on every gRPC server
// and client, and the role each RPC method needs (docs/security.md).
//
// Each main calls ConfigureTls() once, after loading vitrage.conf and before
// it builds any server or channel; StartServer() and MakeChannel()
// (common/grpc_util.h) then use the credentials set here. A process that
// never calls ConfigureTls() (unit tests, tools without a config file) uses
// plaintext, as before.
//
// Identity: a certificate signed by [ssl] ca_file whose URI SAN is
// `spiffe://vitrage/ROLE` has the role ROLE (one certificate may carry
// several such URIs). The subject CN is not used. Roles:
//
//   graph      calls the persistor (AcquireEpoch, Append, PutSnapshot, log
//              and snapshot reads) and the collector's GetAll
//   collector  calls the graph's PushEvents
//   persistor  serves only; needs a certificate for its server side
//   admin      vitrage-ctl: the read-only methods, Graph/TakeSnapshot and Graph/Promote
//              (Promote also from the graph role: the OCF agent's promote)
//   reader     the read-only methods
//
// Read-only methods (status, topology, vertex, ReadLog, GetLatestSnapshot,
// health, reflection) are open to the roles in [ssl] read_only_roles
// (default: all five roles above); "*" there admits any certificate of the CA and
// "anonymous" also TLS clients that present no certificate. Every other
// method is open to its one role only. A refused call ends with
// PERMISSION_DENIED (or UNAUTHENTICATED without a certificate) before the
// service sees the request.
#ifndef VITRAGE_COMMON_TLS_H_
#define VITRAGE_COMMON_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace vitrage {

// The prefix of a role URI in a certificate's subjectAltName.
inline constexpr char kRoleUriPrefix[] = "spiffe://vitrage/";

// Makes `config.ssl` the process's transport security: reads the PEM
// files, checks that the key belongs to the certificate, that the
// certificate chains to the CA and names at least one role, and logs the
// identity and expiry. With no files and [ssl] allow_plaintext, logs a
// warning and keeps plaintext; with neither, fails. A process started
// without a config file (config.path empty: development, test harnesses)
// keeps plaintext with a warning. `process` names the caller in messages
// ("vitrage-graph"). REQUIRES: called once, before any StartServer or
// MakeChannel. Errors name the [ssl] key and the file, never key material.
absl::Status ConfigureTls(const Config& config, absl::string_view process);

// True once ConfigureTls() set up certificates.
bool TlsEnabled();

// The role a client requires of the server it connects to: the server's
// certificate must carry spiffe://vitrage/<RoleName(role)>.
enum class ServerRole { kGraph, kPersistor, kCollector };
absl::string_view RoleName(ServerRole role);  // "graph", "persistor", "collector"

// The credentials StartServer / MakeChannel use: TLS with the role check
// when configured, insecure otherwise. A channel's credentials check the
// server's certificate three ways during the handshake: it chains to
// [ssl] ca_file, it names the host the client dialled (DNS or IP SAN), and
// it carries the role `expected`. A server failing the role check is
// refused (the calls fail UNAVAILABLE), and the refusal is logged
// (`TLS: refused server: server at ADDR presented spiffe://vitrage/reader,
// expected spiffe://vitrage/persistor`, at most one line per second) and
// kept for LastServerRefusal.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials();
// `address` ("HOST:PORT" as dialled) names the server in the refusal;
// without it, the host alone.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(ServerRole expected,
                                                             absl::string_view address = "");

// The last role-check refusal of a server dialled as `address` ("HOST:PORT"
// as given to MakeChannel), e.g. "server at 127.0.0.1:9701 presented
// spiffe://vitrage/reader, expected spiffe://vitrage/persistor"; empty when
// there was none or the server there has passed the check since. Callers
// add it to their own connection errors.
std::string LastServerRefusal(absl::string_view address);

// Checks one server certificate's URI SANs against `expected`: OK, or
// UNAUTHENTICATED with the message above. `address` names the server.
grpc::Status CheckServerRole(absl::string_view address, const std::vector<std::string>& uri_sans,
                             ServerRole expected);

// What a method requires, by its full name ("/vitrage.v1.Graph/PushEvents").
struct MethodPolicy {
  std::vector<std::string> roles;  // the roles that may call it
  bool read_only = false;          // also open to [ssl] read_only_roles
};
// Unknown methods get {{}, false}: nobody may call them.
MethodPolicy PolicyFor(absl::string_view method);

// The roles a peer's certificate carries (its spiffe://vitrage/ROLE URIs).
std::set<std::string> PeerRoles(const grpc::AuthContext& auth);

// Decides one call: OK, or PERMISSION_DENIED / UNAUTHENTICATED with a
// message that names the method, the peer's roles and the roles allowed.
grpc::Status Authorize(absl::string_view method, bool has_certificate,
                       const std::set<std::string>& peer_roles,
                       const std::vector<std::string>& read_only_roles);

// Calls refused by the role check since start (for tests and status).
uint64_t RefusedCalls();

}  // namespace vitrage

#endif  // VITRAGE_COMMON_TLS_H_
