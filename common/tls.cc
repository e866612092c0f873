#include "common/tls.h"

#include <glog/logging.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vitrage {
namespace {

// Set once by ConfigureTls before any server or channel exists, read-only
// afterwards.
struct TlsState {
  std::string cert_pem, key_pem, ca_pem;
  std::vector<std::string> read_only_roles;
  bool anonymous_reads = false;
  double read_only_calls_per_second = 0;
};
const TlsState* g_tls = nullptr;

std::atomic<uint64_t> g_refused{0};
std::atomic<int64_t> g_last_refusal_log_ns{0};
std::atomic<uint64_t> g_refusals_not_logged{0};

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("[ssl] ", key, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("[ssl] ", key, " ", path, ": empty file"));
  }
  return ss.str();
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::vector<X509Ptr> ParseCerts(const std::string& pem) {
  std::vector<X509Ptr> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the read that ends the loop leaves "no start line"
  BIO_free(bio);
  return out;
}

std::vector<std::string> RoleUris(X509* cert) {
  std::vector<std::string> roles;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return roles;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    const ASN1_STRING* s = n->d.uniformResourceIdentifier;
    std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    if (absl::StartsWith(uri, kRoleUriPrefix)) {
      roles.push_back(uri.substr(std::strlen(kRoleUriPrefix)));
    }
  }
  GENERAL_NAMES_free(names);
  return roles;
}

std::string NotAfter(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, X509_get0_notAfter(cert));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

// Checks what gRPC would only report as a failed handshake later: the key
// matches the certificate, the certificate chains to the CA and is valid
// now, and it names a role. Returns the roles.
absl::StatusOr<std::vector<std::string>> CheckIdentity(const Config::Ssl& ssl, const TlsState& st) {
  std::vector<X509Ptr> chain = ParseCerts(st.cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[ssl] cert_file ", ssl.cert_file, ": no PEM certificate in it"));
  }
  std::vector<X509Ptr> cas = ParseCerts(st.ca_pem);
  if (cas.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[ssl] ca_file ", ssl.ca_file, ": no PEM certificate in it"));
  }
  BIO* kbio = BIO_new_mem_buf(st.key_pem.data(), static_cast<int>(st.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio, nullptr, nullptr, nullptr);
  BIO_free(kbio);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("[ssl] key_file ", ssl.key_file, ": no unencrypted PEM private key in it"));
  }
  bool match = X509_check_private_key(chain[0].get(), key) == 1;
  EVP_PKEY_free(key);
  if (!match) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "[ssl] key_file ", ssl.key_file, " is not the key of [ssl] cert_file ", ssl.cert_file));
  }
  X509_STORE* store = X509_STORE_new();
  for (auto& ca : cas) X509_STORE_add_cert(store, ca.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, chain[0].get(), untrusted);
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  ERR_clear_error();
  if (ok != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("[ssl] cert_file ", ssl.cert_file, " does not verify against [ssl] ca_file ",
                     ssl.ca_file, ": ", X509_verify_cert_error_string(err)));
  }
  std::vector<std::string> roles = RoleUris(chain[0].get());
  if (roles.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("[ssl] cert_file ", ssl.cert_file,
                                                   ": no subjectAltName URI ", kRoleUriPrefix,
                                                   "ROLE (see docs/security.md)"));
  }
  LOG(INFO) << "TLS: certificate " << ssl.cert_file << " roles " << absl::StrJoin(roles, ",")
            << ", expires " << NotAfter(chain[0].get()) << "; CA " << ssl.ca_file << " ("
            << cas.size() << " certificate" << (cas.size() == 1 ? "" : "s") << ")";
  return roles;
}

// Rate-limited: a client hammering a closed door must not flood the log.
void LogRefusal(const grpc::Status& st) {
  g_refused.fetch_add(1, std::memory_order_relaxed);
  int64_t now = absl::GetCurrentTimeNanos();
  int64_t last = g_last_refusal_log_ns.load(std::memory_order_relaxed);
  if (now - last < 1'000'000'000 || !g_last_refusal_log_ns.compare_exchange_strong(last, now)) {
    g_refusals_not_logged.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t skipped = g_refusals_not_logged.exchange(0);
  LOG(WARNING) << "refused call: " << st.error_message()
               << (skipped ? absl::StrCat(" (and ", skipped, " more in the last second)")
                           : std::string());
}

// Read-only calls per second per client certificate ([limits]
// read_only_calls_per_second; 0: no limit): a token bucket per certificate
// (clients without one share a bucket), holding one second's worth. Calls
// a peer makes in its own role (the graph's ReadLog) are not counted.
class ReadRateLimiter {
 public:
  explicit ReadRateLimiter(double rate) : rate_(rate) {}

  bool Allow(size_t key) {
    if (rate_ <= 0) return true;
    const double capacity = std::max(rate_, 1.0);
    int64_t now = absl::GetCurrentTimeNanos();
    std::lock_guard<std::mutex> lock(mu_);
    if (buckets_.size() > 10'000) buckets_.clear();  // bounded memory
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{capacity, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(capacity, b.tokens + static_cast<double>(now - b.last_ns) * 1e-9 * rate_);
      b.last_ns = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

 private:
  struct Bucket {
    double tokens;
    int64_t last_ns;
  };
  const double rate_;
  std::mutex mu_;
  std::unordered_map<size_t, Bucket> buckets_;
};

// Runs in the server's auth filter before the call reaches the service:
// the request is not read, so nothing a refused client sent is stored.
class RoleAuthorizer final : public grpc::AuthMetadataProcessor {
 public:
  RoleAuthorizer(std::vector<std::string> read_only_roles, double read_only_calls_per_second)
      : read_only_roles_(std::move(read_only_roles)),
        read_only_calls_per_second_(read_only_calls_per_second),
        limiter_(read_only_calls_per_second) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& md, grpc::AuthContext* auth, OutputMetadata*,
                       OutputMetadata*) override {
    std::string method;
    auto it = md.find(":path");
    if (it != md.end()) method.assign(it->second.data(), it->second.size());
    std::vector<grpc::string_ref> cert = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    bool has_cert = !cert.empty();
    std::set<std::string> roles = PeerRoles(*auth);
    grpc::Status st = Authorize(method, has_cert, roles, read_only_roles_);
    if (st.ok()) {
      MethodPolicy p = PolicyFor(method);
      size_t key =
          has_cert ? std::hash<std::string_view>()(std::string_view(cert[0].data(), cert[0].size()))
                   : 0;
      bool own_role = std::any_of(p.roles.begin(), p.roles.end(),
                                  [&](const std::string& r) { return roles.count(r) > 0; });
      if (p.read_only && !own_role && !limiter_.Allow(key)) {
        st = grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat(method, ": more than ", read_only_calls_per_second_,
                         " read-only calls per second from this client certificate; the limit is ",
                         read_only_calls_per_second_,
                         " ([limits] read_only_calls_per_second), retry later"));
      }
    }
    if (!st.ok()) LogRefusal(st);
    return st;
  }

 private:
  const std::vector<std::string> read_only_roles_;
  const double read_only_calls_per_second_;
  ReadRateLimiter limiter_;
};

}  // namespace

absl::Status ConfigureTls(const Config& config, absl::string_view process) {
  if (g_tls != nullptr) return absl::FailedPreconditionError("ConfigureTls called twice");
  const Config::Ssl& ssl = config.ssl;
  if (config.path.empty()) {
    LOG(WARNING) << process
                 << ": started without --config: PLAINTEXT gRPC, no authentication, "
                    "no role checks; for local development only";
    return absl::OkStatus();
  }
  int set = !ssl.cert_file.empty() + !ssl.key_file.empty() + !ssl.ca_file.empty();
  if (set == 0) {
    if (!ssl.allow_plaintext) {
      return absl::InvalidArgumentError(absl::StrCat(
          config.path,
          ": [ssl]: no cert_file, key_file and ca_file: set them for mutual TLS "
          "(docs/security.md), or set [ssl] allow_plaintext = true for local development"));
    }
    LOG(WARNING) << process
                 << ": PLAINTEXT gRPC, no authentication, no role checks ([ssl] "
                    "allow_plaintext = true); for local development only";
    return absl::OkStatus();
  }
  if (set != 3) {
    return absl::InvalidArgumentError(
        "[ssl]: cert_file, key_file and ca_file must be set together");
  }
  for (const std::string& r : ssl.read_only_roles) {
    if (r.empty()) return absl::InvalidArgumentError("[ssl] read_only_roles: empty role");
  }
  auto st = std::make_unique<TlsState>();
  auto cert = ReadPem(ssl.cert_file, "cert_file");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(ssl.key_file, "key_file");
  if (!key.ok()) return key.status();
  auto ca = ReadPem(ssl.ca_file, "ca_file");
  if (!ca.ok()) return ca.status();
  st->cert_pem = std::move(*cert);
  st->key_pem = std::move(*key);
  st->ca_pem = std::move(*ca);
  st->read_only_roles = ssl.read_only_roles;
  st->read_only_calls_per_second = config.limits.read_only_calls_per_second;
  for (const std::string& r : ssl.read_only_roles) {
    if (r == "anonymous") st->anonymous_reads = true;
  }
  auto roles = CheckIdentity(ssl, *st);
  if (!roles.ok()) return roles.status();
  if (ssl.allow_plaintext) {
    LOG(WARNING) << "[ssl] allow_plaintext is ignored: certificates are configured";
  }
  LOG(INFO) << process << ": mutual TLS on every gRPC server and client; read-only "
            << "methods open to roles: " << absl::StrJoin(ssl.read_only_roles, ",");
  g_tls = st.release();
  return absl::OkStatus();
}

bool TlsEnabled() { return g_tls != nullptr; }

std::shared_ptr<grpc::ServerCredentials> ServerCredentials() {
  if (g_tls == nullptr) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions opts(
      g_tls->anonymous_reads ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                             : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = g_tls->ca_pem;
  opts.pem_key_cert_pairs.push_back({g_tls->key_pem, g_tls->cert_pem});
  auto creds = grpc::SslServerCredentials(opts);
  creds->SetAuthMetadataProcessor(
      std::make_shared<RoleAuthorizer>(g_tls->read_only_roles, g_tls->read_only_calls_per_second));
  return creds;
}

absl::string_view RoleName(ServerRole role) {
  switch (role) {
    case ServerRole::kGraph:
      return "graph";
    case ServerRole::kPersistor:
      return "persistor";
    case ServerRole::kCollector:
      return "collector";
  }
  return "?";
}

grpc::Status CheckServerRole(absl::string_view address, const std::vector<std::string>& uri_sans,
                             ServerRole expected) {
  const std::string want = absl::StrCat(kRoleUriPrefix, RoleName(expected));
  std::vector<std::string> roles;
  for (const std::string& uri : uri_sans) {
    if (uri == want) return grpc::Status::OK;
    if (absl::StartsWith(uri, kRoleUriPrefix)) roles.push_back(uri);
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      absl::StrCat("server at ", address, " presented ",
                                   roles.empty() ? std::string("no spiffe://vitrage/ role")
                                                 : absl::StrJoin(roles, ", "),
                                   ", expected ", want));
}

namespace {

std::mutex g_server_refusals_mu;
// address -> the last refusal; bounded by the addresses a process dials.
std::map<std::string, std::string, std::less<>>* g_server_refusals = nullptr;
std::atomic<int64_t> g_last_server_refusal_log_ns{0};

// Keeps (message non-empty) or forgets the refusal of `address`.
void NoteServerRefusal(absl::string_view address, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_server_refusals_mu);
    if (g_server_refusals == nullptr) {
      g_server_refusals = new std::map<std::string, std::string, std::less<>>();
    }
    if (message.empty()) {
      auto it = g_server_refusals->find(address);
      if (it != g_server_refusals->end()) g_server_refusals->erase(it);
      return;
    }
    if (g_server_refusals->size() < 1000) (*g_server_refusals)[std::string(address)] = message;
  }
  // Channels reconnect every second or so: one line per second is enough.
  int64_t now = absl::GetCurrentTimeNanos();
  int64_t last = g_last_server_refusal_log_ns.load(std::memory_order_relaxed);
  if (now - last >= 1'000'000'000 &&
      g_last_server_refusal_log_ns.compare_exchange_strong(last, now)) {
    LOG(ERROR) << "TLS: refused server: " << message << " (docs/security.md)";
  }
}

// The client side of the role check: runs after gRPC verified the chain
// against the CA, in the handshake, before any call is sent. Also does the
// hostname check gRPC would do without a custom verifier.
class ServerRoleVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  ServerRoleVerifier(ServerRole expected, std::string address)
      : expected_(expected), address_(std::move(address)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    // gRPC's target name is the host without the port.
    const std::string address = !address_.empty() ? address_
                                                  : std::string(request->target_name().data(),
                                                                request->target_name().size());
    grpc::Status host;
    // Synchronous in gRPC core (it only compares names).
    if (!hostname_.Verify(
            request, [](grpc::Status) {}, &host)) {
      *sync_status = grpc::Status(grpc::StatusCode::INTERNAL, "hostname check went async");
      return true;
    }
    if (!host.ok()) {
      *sync_status = host;
      return true;
    }
    std::vector<std::string> uris;
    for (const grpc::string_ref& u : request->uri_names()) uris.emplace_back(u.data(), u.size());
    *sync_status = CheckServerRole(address, uris, expected_);
    NoteServerRefusal(address, sync_status->error_message());  // "" when OK: forget
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const ServerRole expected_;
  const std::string address_;
  grpc::experimental::HostNameCertificateVerifier hostname_;
};

}  // namespace

std::string LastServerRefusal(absl::string_view address) {
  std::lock_guard<std::mutex> lock(g_server_refusals_mu);
  if (g_server_refusals == nullptr) return std::string();
  auto it = g_server_refusals->find(address);
  return it == g_server_refusals->end() ? std::string() : it->second;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(ServerRole expected,
                                                             absl::string_view address) {
  if (g_tls == nullptr) return grpc::InsecureChannelCredentials();
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      g_tls->ca_pem,
      std::vector<grpc::experimental::IdentityKeyCertPair>{{g_tls->key_pem, g_tls->cert_pem}});
  grpc::experimental::TlsChannelCredentialsOptions opts;
  opts.set_certificate_provider(provider);
  opts.watch_root_certs();
  opts.watch_identity_key_cert_pairs();
  opts.set_verify_server_certs(true);  // the chain to [ssl] ca_file
  opts.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<ServerRoleVerifier>(
          expected, std::string(address)));
  return grpc::experimental::TlsCredentials(opts);
}

MethodPolicy PolicyFor(absl::string_view method) {
  static const auto* table = new std::map<std::string, MethodPolicy, std::less<>>{
      {"/vitrage.v1.Persistor/AcquireEpoch", {{"graph"}, false}},
      {"/vitrage.v1.Persistor/Append", {{"graph"}, false}},
      {"/vitrage.v1.Persistor/PutSnapshot", {{"graph"}, false}},
      {"/vitrage.v1.Persistor/GetLatestSnapshot", {{"graph"}, true}},
      {"/vitrage.v1.Persistor/ReadLog", {{"graph"}, true}},
      {"/vitrage.v1.Persistor/GetStatus", {{}, true}},
      {"/vitrage.v1.Graph/PushEvents", {{"collector"}, false}},
      {"/vitrage.v1.Graph/PushEventStream", {{"collector"}, false}},
      {"/vitrage.v1.Graph/TakeSnapshot", {{"admin"}, false}},
      // The OCF agent promotes with the graph's own certificate.
      {"/vitrage.v1.Graph/Promote", {{"admin", "graph"}, false}},
      {"/vitrage.v1.Graph/GetTopology", {{}, true}},
      {"/vitrage.v1.Graph/GetVertex", {{}, true}},
      {"/vitrage.v1.Graph/GetStatus", {{}, true}},
      {"/vitrage.v1.Graph/ListAlarms", {{}, true}},
      {"/vitrage.v1.Graph/GetRca", {{}, true}},
      {"/vitrage.v1.Collector/GetAll", {{"graph"}, false}},
      {"/vitrage.v1.Collector/GetStatus", {{}, true}},
      {"/grpc.health.v1.Health/Check", {{}, true}},
      {"/grpc.health.v1.Health/Watch", {{}, true}},
      {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", {{}, true}},
  };
  auto it = table->find(method);
  return it == table->end() ? MethodPolicy{} : it->second;
}

std::set<std::string> PeerRoles(const grpc::AuthContext& auth) {
  std::set<std::string> roles;
  for (const grpc::string_ref& uri : auth.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    absl::string_view u(uri.data(), uri.size());
    if (absl::ConsumePrefix(&u, kRoleUriPrefix) && !u.empty()) roles.emplace(u);
  }
  return roles;
}

grpc::Status Authorize(absl::string_view method, bool has_certificate,
                       const std::set<std::string>& peer_roles,
                       const std::vector<std::string>& read_only_roles) {
  MethodPolicy p = PolicyFor(method);
  std::vector<std::string> allowed = p.roles;
  if (p.read_only) allowed.insert(allowed.end(), read_only_roles.begin(), read_only_roles.end());
  for (const std::string& a : allowed) {
    if (a == "anonymous") return grpc::Status::OK;
    if (a == "*" && has_certificate) return grpc::Status::OK;
    if (peer_roles.count(a)) return grpc::Status::OK;
  }
  std::string who =
      has_certificate
          ? (peer_roles.empty() ? std::string("a certificate with no role")
                                : absl::StrCat("role(s) ", absl::StrJoin(peer_roles, ",")))
          : std::string("no client certificate");
  std::string msg = absl::StrCat(
      method.empty() ? std::string("(no method)") : std::string(method), ": refused for ", who,
      "; allowed: ", allowed.empty() ? std::string("nobody") : absl::StrJoin(allowed, ","),
      " (docs/security.md)");
  return grpc::Status(
      has_certificate ? grpc::StatusCode::PERMISSION_DENIED : grpc::StatusCode::UNAUTHENTICATED,
      msg);
}

uint64_t RefusedCalls() { return g_refused.load(std::memory_order_relaxed); }

}  // namespace vitrage
