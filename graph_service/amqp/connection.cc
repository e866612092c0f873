#include "graph_service/amqp/connection.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace vitrage::amqp {
namespace {

timeval Timeval(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return absl::ToTimeval(d);
}

amqp_bytes_t Bytes(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());
  return b;
}

// The first error OpenSSL met verifying the broker's certificate on this
// thread's handshake (0: none). rabbitmq-c completes the handshake and then
// only says "verification failed"; this says why.
thread_local int tls_verify_error = 0;

int RecordVerifyError(int preverify_ok, X509_STORE_CTX* ctx) {
  if (!preverify_ok && tls_verify_error == 0) tls_verify_error = X509_STORE_CTX_get_error(ctx);
  return preverify_ok;  // the outcome is rabbitmq-c's to decide
}

bool IsTlsError(int rc) {
  return rc == AMQP_STATUS_SSL_ERROR || rc == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED ||
         rc == AMQP_STATUS_SSL_PEER_VERIFY_FAILED || rc == AMQP_STATUS_SSL_CONNECTION_FAILED;
}

// Why a TLS handshake failed, in words an operator can act on: rabbitmq-c's
// status, OpenSSL's reason (e.g. "certificate verify failed"), and which
// [oslo_messaging_rabbit] key is the likely culprit.
std::string TlsFailure(int rc, const std::string& where, const std::string& host,
                       const TlsOptions& tls) {
  std::string openssl;
  // rabbitmq-c leaves OpenSSL's error queue (of this thread) as it was.
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) openssl = reason;  // the last one is the closest
  }
  if (tls_verify_error != 0) {
    openssl = X509_verify_cert_error_string(tls_verify_error);
    tls_verify_error = 0;
  }
  std::string out = absl::StrCat("TLS handshake with ", where, " failed: ", amqp_error_string2(rc),
                                 openssl.empty() ? "" : absl::StrCat(" (", openssl, ")"));
  if (rc == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED) {
    absl::StrAppend(&out,
                    "; the broker's certificate does not name the host of transport_url "
                    "([oslo_messaging_rabbit] ssl_enforce_hostname_verification)");
  } else if (!tls.ca_file.empty()) {
    absl::StrAppend(&out, "; is the broker's certificate signed by [oslo_messaging_rabbit] ",
                    "ssl_ca_file \"", tls.ca_file, "\"",
                    tls.verify_hostname ? absl::StrCat(" and does it name ", host,
                                                       " (ssl_enforce_hostname_verification)")
                                        : "",
                    "? is this port the broker's TLS listener?");
  } else {
    absl::StrAppend(&out, "; is this port the broker's TLS listener?");
  }
  return out;
}

std::string Str(amqp_bytes_t b) {
  return b.bytes == nullptr ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

// The text of a channel.close / connection.close the broker sent.
std::string CloseText(const amqp_method_t& m) {
  if (m.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* c = static_cast<amqp_channel_close_t*>(m.decoded);
    return absl::StrCat("channel closed by the broker: ", c->reply_code, " ", Str(c->reply_text));
  }
  if (m.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* c = static_cast<amqp_connection_close_t*>(m.decoded);
    return absl::StrCat("connection closed by the broker: ", c->reply_code, " ",
                        Str(c->reply_text));
  }
  return absl::StrCat("unexpected method 0x", absl::Hex(m.id));
}

absl::StatusCode CodeOfClose(const amqp_method_t& m) {
  uint16_t code = 0;
  if (m.id == AMQP_CHANNEL_CLOSE_METHOD) {
    code = static_cast<amqp_channel_close_t*>(m.decoded)->reply_code;
  } else if (m.id == AMQP_CONNECTION_CLOSE_METHOD) {
    code = static_cast<amqp_connection_close_t*>(m.decoded)->reply_code;
  }
  switch (code) {
    case AMQP_ACCESS_REFUSED:
      return absl::StatusCode::kPermissionDenied;
    case AMQP_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case AMQP_PRECONDITION_FAILED:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kUnavailable;
  }
}

}  // namespace

struct Connection::State {
  amqp_connection_state_t conn = nullptr;
  bool channel_open = false;
  ~State() {
    if (conn != nullptr) amqp_destroy_connection(conn);
  }
};

Connection::Connection(const ConnectionOptions& options, const BrokerHost& host)
    : options_(options), host_(host), state_(std::make_unique<State>()) {}

Connection::~Connection() {
  if (state_->conn == nullptr || broken()) return;
  if (state_->channel_open) amqp_channel_close(state_->conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(state_->conn, AMQP_REPLY_SUCCESS);
}

absl::Status Connection::Break(absl::Status why) {
  if (broken_why_.ok()) broken_why_ = why;
  return why;
}

absl::Status Connection::CheckUsable() const {
  if (broken()) {
    return absl::UnavailableError(
        absl::StrCat("connection to ", host_.Redacted(), " is broken: ", broken_why_.message()));
  }
  return absl::OkStatus();
}

absl::Status Connection::CheckReply(const char* what) {
  return CheckReply(what, amqp_get_rpc_reply(state_->conn));
}

absl::Status Connection::CheckReply(const char* what, const amqp_rpc_reply_t_& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return absl::OkStatus();
    case AMQP_RESPONSE_NONE:
      return Break(
          absl::UnavailableError(absl::StrCat(what, ": no reply from ", host_.Redacted())));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return Break(absl::UnavailableError(
          absl::StrCat(what, " at ", host_.Redacted(), ": ", amqp_error_string2(r.library_error))));
    case AMQP_RESPONSE_SERVER_EXCEPTION: {
      // Acknowledge the close so the broker frees the connection.
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_ok_t ok{};
        amqp_send_method(state_->conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      } else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_ok_t ok{};
        amqp_send_method(state_->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      }
      return Break(absl::Status(CodeOfClose(r.reply), absl::StrCat(what, " at ", host_.Redacted(),
                                                                   ": ", CloseText(r.reply))));
    }
  }
  return Break(absl::UnknownError(absl::StrCat(what, ": unknown reply type")));
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options,
                                                             const BrokerHost& host) {
  std::unique_ptr<Connection> c(new Connection(options, host));
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr) return absl::ResourceExhaustedError("amqp_new_connection failed");
  c->state_->conn = conn;
  amqp_socket_t* socket = nullptr;
  const std::string where = host.Redacted();
  if (options.tls.enabled) {
    socket = amqp_ssl_socket_new(conn);
    if (socket == nullptr) return absl::InternalError("amqp_ssl_socket_new failed");
    if (!options.tls.ca_file.empty()) {
      if (amqp_ssl_socket_set_cacert(socket, options.tls.ca_file.c_str()) != AMQP_STATUS_OK) {
        return absl::InvalidArgumentError(absl::StrCat("[oslo_messaging_rabbit] ssl_ca_file \"",
                                                       options.tls.ca_file, "\": cannot load it"));
      }
      amqp_ssl_socket_set_verify_peer(socket, 1);
      // The name is checked by OpenSSL during the chain's verification, not
      // by rabbitmq-c's own check, which knows DNS names only: a
      // transport_url host that is an IP address must match an IP
      // subjectAltName (as Python's ssl does for oslo).
      amqp_ssl_socket_set_verify_hostname(socket, 0);
      auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
      if (ctx != nullptr) SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), RecordVerifyError);
      if (options.tls.verify_hostname) {
        X509_VERIFY_PARAM* param = ctx == nullptr ? nullptr : SSL_CTX_get0_param(ctx);
        const bool ok =
            param != nullptr &&
            (X509_VERIFY_PARAM_set1_ip_asc(param, host.host.c_str()) == 1 ||
             X509_VERIFY_PARAM_set1_host(param, host.host.c_str(), host.host.size()) == 1);
        if (!ok) {
          return absl::InternalError(
              absl::StrCat("cannot set up the TLS name check for ", host.host));
        }
      }
    } else {
      amqp_ssl_socket_set_verify_peer(socket, 0);
      amqp_ssl_socket_set_verify_hostname(socket, 0);
    }
    if (!options.tls.cert_file.empty() || !options.tls.key_file.empty()) {
      if (amqp_ssl_socket_set_key(socket, options.tls.cert_file.c_str(),
                                  options.tls.key_file.c_str()) != AMQP_STATUS_OK) {
        return absl::InvalidArgumentError(
            absl::StrCat("[oslo_messaging_rabbit] ssl_cert_file \"", options.tls.cert_file,
                         "\" / ssl_key_file \"", options.tls.key_file, "\": cannot load them"));
      }
    }
  } else {
    socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr) return absl::InternalError("amqp_tcp_socket_new failed");
  }
  timeval tv = Timeval(options.timeout);
  amqp_set_handshake_timeout(conn, &tv);
  amqp_set_rpc_timeout(conn, &tv);
  if (options.tls.enabled) {
    ERR_clear_error();
    tls_verify_error = 0;
  }
  int rc = amqp_socket_open_noblock(socket, host.host.c_str(), host.port, &tv);
  if (rc != AMQP_STATUS_OK && options.tls.enabled && IsTlsError(rc)) {
    return absl::UnavailableError(TlsFailure(rc, where, host.host, options.tls));
  }
  if (rc != AMQP_STATUS_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", where, ": ", amqp_error_string2(rc)));
  }
  amqp_table_entry_t prop;
  prop.key = amqp_cstring_bytes("connection_name");
  prop.value.kind = AMQP_FIELD_KIND_UTF8;
  prop.value.value.bytes = Bytes(options.name);
  amqp_table_t props{1, &prop};
  amqp_rpc_reply_t r = amqp_login_with_properties(
      conn, options.url.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, options.heartbeat_seconds,
      &props, AMQP_SASL_METHOD_PLAIN, host.user.c_str(), host.password.c_str());
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_CONNECTION_CLOSED) {
      // RabbitMQ closes the socket on a bad user/password (0-9-1 has no
      // error reply before the connection is open).
      return absl::PermissionDeniedError(absl::StrCat(
          "login to ", where, " vhost \"", options.url.vhost,
          "\" refused (connection closed during login: wrong user or password, or no access "
          "to the vhost)"));
    }
    absl::Status s = c->CheckReply("login", r);
    return absl::Status(s.code(),
                        absl::StrCat(s.message(), " (vhost \"", options.url.vhost, "\")"));
  }
  amqp_channel_open(conn, 1);
  if (absl::Status s = c->CheckReply("channel.open"); !s.ok()) return s;
  c->state_->channel_open = true;
  return c;
}

absl::Status Connection::DeclareExchange(const std::string& name, const std::string& type,
                                         bool durable, bool auto_delete) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_exchange_declare(state_->conn, 1, Bytes(name), Bytes(type), 0, durable, auto_delete, 0,
                        amqp_empty_table);
  return CheckReply(absl::StrCat("exchange.declare \"", name, "\"").c_str());
}

absl::StatusOr<uint32_t> Connection::DeclareQueue(const std::string& name, bool durable,
                                                  bool auto_delete) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_queue_declare_ok_t* ok = amqp_queue_declare(state_->conn, 1, Bytes(name), 0, durable, 0,
                                                   auto_delete, amqp_empty_table);
  if (absl::Status s = CheckReply(absl::StrCat("queue.declare \"", name, "\"").c_str()); !s.ok()) {
    return s;
  }
  return ok == nullptr ? 0 : ok->message_count;
}

absl::Status Connection::BindQueue(const std::string& queue, const std::string& exchange,
                                   const std::string& routing_key) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_queue_bind(state_->conn, 1, Bytes(queue), Bytes(exchange), Bytes(routing_key),
                  amqp_empty_table);
  return CheckReply(absl::StrCat("queue.bind \"", queue, "\" to \"", exchange, "\"").c_str());
}

absl::Status Connection::Qos(uint16_t prefetch) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_basic_qos(state_->conn, 1, 0, prefetch, 0);
  return CheckReply("basic.qos");
}

absl::Status Connection::Consume(const std::string& queue) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_basic_consume(state_->conn, 1, Bytes(queue), amqp_empty_bytes, 0, /*no_ack=*/0, 0,
                     amqp_empty_table);
  return CheckReply(absl::StrCat("basic.consume \"", queue, "\"").c_str());
}

absl::StatusOr<std::optional<Delivery>> Connection::Next(absl::Duration timeout) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_connection_state_t conn = state_->conn;
  amqp_maybe_release_buffers(conn);
  amqp_envelope_t env;
  timeval tv = Timeval(timeout);
  amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) {
    Delivery d;
    d.tag = env.delivery_tag;
    d.redelivered = env.redelivered != 0;
    d.exchange = Str(env.exchange);
    d.routing_key = Str(env.routing_key);
    d.body = Str(env.message.body);
    const amqp_basic_properties_t& p = env.message.properties;
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) d.message_id = Str(p.message_id);
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const amqp_table_entry_t& e = p.headers.entries[i];
        if (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES) {
          d.headers.emplace_back(Str(e.key), Str(e.value.value.bytes));
        }
      }
    }
    amqp_destroy_envelope(&env);
    return std::optional<Delivery>(std::move(d));
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
    return std::optional<Delivery>();
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    // A frame other than a delivery: the broker closing the channel or the
    // connection, or cancelling the consumer (its queue was deleted).
    amqp_frame_t frame;
    if (int rc = amqp_simple_wait_frame(conn, &frame); rc != AMQP_STATUS_OK) {
      return Break(absl::UnavailableError(
          absl::StrCat("reading from ", host_.Redacted(), ": ", amqp_error_string2(rc))));
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) return std::optional<Delivery>();
    const amqp_method_t& m = frame.payload.method;
    switch (m.id) {
      case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return Break(absl::Status(CodeOfClose(m), CloseText(m)));
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return Break(absl::Status(CodeOfClose(m), CloseText(m)));
      }
      case AMQP_BASIC_CANCEL_METHOD:
        return Break(absl::UnavailableError(
            absl::StrCat("the broker ", host_.Redacted(),
                         " cancelled the consumer (queue deleted, or node down)")));
      default:
        return std::optional<Delivery>();
    }
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    return Break(absl::UnavailableError(absl::StrCat("reading from ", host_.Redacted(), ": ",
                                                     amqp_error_string2(r.library_error))));
  }
  return CheckReply("basic.consume");
}

absl::Status Connection::Ack(uint64_t tag, bool multiple) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (int rc = amqp_basic_ack(state_->conn, 1, tag, multiple ? 1 : 0); rc != AMQP_STATUS_OK) {
    return Break(absl::UnavailableError(
        absl::StrCat("basic.ack to ", host_.Redacted(), ": ", amqp_error_string2(rc))));
  }
  return absl::OkStatus();
}

absl::Status Connection::Reject(uint64_t tag, bool requeue) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  if (int rc = amqp_basic_reject(state_->conn, 1, tag, requeue ? 1 : 0); rc != AMQP_STATUS_OK) {
    return Break(absl::UnavailableError(
        absl::StrCat("basic.reject to ", host_.Redacted(), ": ", amqp_error_string2(rc))));
  }
  return absl::OkStatus();
}

absl::Status Connection::EnableConfirms() {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_confirm_select(state_->conn, 1);
  if (absl::Status s = CheckReply("confirm.select"); !s.ok()) return s;
  confirms_ = true;
  return absl::OkStatus();
}

absl::Status Connection::Publish(const std::string& exchange, const std::string& routing_key,
                                 const OutMessage& message) {
  if (absl::Status s = CheckUsable(); !s.ok()) return s;
  amqp_connection_state_t conn = state_->conn;
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = Bytes(message.content_type);
  props.delivery_mode = message.persistent ? 2 : 1;
  std::vector<amqp_table_entry_t> entries(message.headers.size());
  for (size_t i = 0; i < message.headers.size(); ++i) {
    entries[i].key = Bytes(message.headers[i].first);
    entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[i].value.value.bytes = Bytes(message.headers[i].second);
  }
  if (!entries.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers.num_entries = static_cast<int>(entries.size());
    props.headers.entries = entries.data();
  }
  int rc = amqp_basic_publish(conn, 1, Bytes(exchange), Bytes(routing_key), /*mandatory=*/1, 0,
                              &props, Bytes(message.body));
  if (rc != AMQP_STATUS_OK) {
    return Break(absl::UnavailableError(
        absl::StrCat("basic.publish to ", host_.Redacted(), ": ", amqp_error_string2(rc))));
  }
  if (!confirms_) return absl::OkStatus();
  const uint64_t tag = ++published_;
  bool returned = false;
  const absl::Time deadline = absl::Now() + options_.timeout;
  while (true) {
    amqp_frame_t frame;
    timeval tv = Timeval(deadline - absl::Now());
    rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) {
      return Break(absl::DeadlineExceededError(
          absl::StrCat("publish to ", host_.Redacted(), ": no confirm within ",
                       absl::FormatDuration(options_.timeout))));
    }
    if (rc != AMQP_STATUS_OK) {
      return Break(absl::UnavailableError(
          absl::StrCat("publish to ", host_.Redacted(), ": ", amqp_error_string2(rc))));
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    const amqp_method_t& m = frame.payload.method;
    if (m.id == AMQP_BASIC_RETURN_METHOD) {
      // The message follows (header and body frames): read it off the wire.
      amqp_message_t msg;
      amqp_rpc_reply_t r = amqp_read_message(conn, frame.channel, &msg, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        return Break(absl::UnavailableError("publish: reading a returned message failed"));
      }
      amqp_destroy_message(&msg);
      returned = true;
      continue;
    }
    if (m.id == AMQP_BASIC_ACK_METHOD) {
      auto* ack = static_cast<amqp_basic_ack_t*>(m.decoded);
      if (ack->delivery_tag < tag && !ack->multiple) continue;
      if (returned) {
        return absl::FailedPreconditionError(
            absl::StrCat("publish to exchange \"", exchange, "\" key \"", routing_key,
                         "\": unroutable (no queue bound), returned by the broker"));
      }
      return absl::OkStatus();
    }
    if (m.id == AMQP_BASIC_NACK_METHOD) {
      return absl::AbortedError(absl::StrCat("publish to exchange \"", exchange, "\" key \"",
                                             routing_key, "\": nacked by the broker"));
    }
    if (m.id == AMQP_CHANNEL_CLOSE_METHOD || m.id == AMQP_CONNECTION_CLOSE_METHOD) {
      if (m.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      } else {
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      }
      return Break(absl::Status(CodeOfClose(m), absl::StrCat("publish: ", CloseText(m))));
    }
  }
}

// ------------------------------------------------------------------ Link

Link::Link(ConnectionOptions options, std::string what,
           std::function<absl::Status(Connection&)> setup)
    : options_(std::move(options)), what_(std::move(what)), setup_(std::move(setup)) {}

Link::~Link() = default;

void Link::Broken(const absl::Status& why) {
  if (conn_ == nullptr) return;
  LOG(WARNING) << what_ << ": link to " << conn_->host().Redacted() << " down: " << why.message();
  conn_.reset();
  down_since_ = absl::Now();
  down_why_ = why;
}

absl::StatusOr<Connection*> Link::Get(const std::function<bool()>& stop) {
  if (conn_ != nullptr && !conn_->broken()) return conn_.get();
  if (conn_ != nullptr) Broken(conn_->broken_why());
  const absl::Time started = absl::Now();
  absl::Duration backoff = options_.backoff_min;
  absl::Duration waited;
  int attempts = 0;
  bool logged_waiting = false;
  while (true) {
    if (stop()) return absl::CancelledError(what_ + ": stopped while connecting");
    const BrokerHost& host = options_.url.hosts[next_host_ % options_.url.hosts.size()];
    ++attempts;
    absl::StatusOr<std::unique_ptr<Connection>> c = Connection::Open(options_, host);
    absl::Status s = c.ok() ? setup_(**c) : c.status();
    if (s.ok()) {
      conn_ = std::move(*c);
      ++connects_;
      if (down_since_ == absl::InfinitePast()) {
        LOG(INFO) << what_ << ": connected to " << host.Redacted() << " vhost \""
                  << options_.url.vhost << "\""
                  << (attempts > 1 ? absl::StrCat(" after ", attempts, " attempts in ",
                                                  absl::FormatDuration(absl::Now() - started), " (",
                                                  absl::FormatDuration(waited), " waited)")
                                   : std::string());
      } else {
        LOG(INFO) << what_ << ": link back to " << host.Redacted() << " after "
                  << absl::FormatDuration(absl::Now() - down_since_) << " down (" << attempts
                  << " attempts, " << absl::FormatDuration(waited) << " waited in backoff)";
      }
      down_since_ = absl::Now();
      return conn_.get();
    }
    if (on_attempt_failed_) on_attempt_failed_(s);
    // Try the next host at once; after a full round, back off.
    ++next_host_;
    if (!logged_waiting) {
      LOG(WARNING) << what_ << ": " << s.message()
                   << (options_.url.hosts.size() > 1 ? "; trying the other hosts" : "")
                   << "; retrying with backoff up to " << absl::FormatDuration(options_.backoff_max)
                   << " (logged once until connected)";
      logged_waiting = true;
    }
    if (next_host_ % options_.url.hosts.size() == 0) {
      const absl::Time until = absl::Now() + backoff;
      while (absl::Now() < until && !stop()) {
        absl::SleepFor(std::min(absl::Milliseconds(50), until - absl::Now()));
      }
      waited += backoff;
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
}

}  // namespace vitrage::amqp
