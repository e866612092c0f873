#include "graph_service/rpc_api/rpc_server.h"

#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "graph_service/notifications/oslo_envelope.h"
#include "graph_service/rpc_api/handlers.h"

namespace vitrage::rpc_api {
namespace {

using json = nlohmann::json;

std::string UniqueId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t a = rng(), b = rng();
  return absl::StrCat(absl::Hex(a, absl::kZeroPad16), absl::Hex(b, absl::kZeroPad16));
}

// oslo's serialize_remote_exception for our status.
std::string Failure(const absl::Status& s, absl::string_view method) {
  std::string cls = "VitrageError", module = "vitrage.common.exception";
  json args = json::array({std::string(s.message())});
  if (absl::IsUnimplemented(s)) {
    // The client re-raises it as oslo_messaging.rpc.dispatcher.NoSuchMethod.
    cls = "NoSuchMethod";
    module = "oslo_messaging.rpc.dispatcher";
    args = json::array({std::string(method)});
  }
  json f = {{"class", cls},        {"module", module}, {"message", std::string(s.message())},
            {"tb", json::array()}, {"args", args},     {"kwargs", json::object()}};
  return f.dump(-1, ' ', true, json::error_handler_t::replace);
}

// True when `s` is written as is inside a JSON string (printable ASCII
// without '"' and '\\'): a compress_obj result (base64) is.
bool PlainJsonText(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

std::string ReplyBody(const std::string& msg_id, const json& result, const std::string* failure) {
  auto body = [&](const json& r) {
    json msg = {{"result", r},
                {"failure", failure ? json(*failure) : json(nullptr)},
                {"ending", true},
                {"_msg_id", msg_id},
                {"_unique_id", UniqueId()}};
    return notifications::WrapOsloEnvelope(msg);
  };
  if (!result.is_string() || result.get_ref<const std::string&>().size() < 4096 ||
      !PlainJsonText(result.get_ref<const std::string&>())) {
    return body(result);
  }
  // A large plain string (a compressed answer of megabytes): the envelope
  // of the same message with "result": "" ("result" sorts last, so its
  // empty value ends the message: ...\"result\":\"\"}"), with the string
  // put between those quotes. The same bytes as body(result), without
  // escaping the string twice.
  const std::string& text = result.get_ref<const std::string&>();
  std::string empty = body(json(""));
  constexpr char kEnd[] = "\\\"\\\"}";  // \"\"}
  size_t at = empty.rfind(kEnd);
  if (at == std::string::npos) return body(result);  // not reached: a safe fallback
  at += 2;                                           // after the opening \"
  std::string out;
  out.reserve(empty.size() + text.size());
  out.append(empty, 0, at);
  out.append(text);
  out.append(empty, at, std::string::npos);
  return out;
}

namespace {

// For a body ParseOsloEnvelope refused: the reply address only (top-level
// strings of the message), so the caller hears why instead of timing out.
// Nothing nested is kept, so depth costs nothing.
std::optional<json> AddressOnly(std::string_view body) {
  auto top_only = [](int depth, json::parse_event_t, json&) { return depth <= 1; };
  json env = json::parse(body, top_only, false);
  if (!env.is_object()) return std::nullopt;
  auto it = env.find("oslo.message");
  json msg = env;
  if (it != env.end() && it->is_string()) {
    msg = json::parse(it->get_ref<const std::string&>(), top_only, false);
  }
  if (!msg.is_object()) return std::nullopt;
  return msg;
}

}  // namespace

std::optional<Reply> HandleRequest(std::string_view body, GraphAccess* access,
                                   const Config::Limits& limits) {
  auto parsed = notifications::ParseOsloEnvelope(body, limits);
  json msg;
  absl::Status refused;
  if (parsed.ok()) {
    msg = std::move(*parsed);
  } else {
    refused = absl::InvalidArgumentError(
        absl::StrCat("vitrage-graph refused the request: ", parsed.status().message()));
    auto addr = body.size() <= (uint64_t{64} << 20) ? AddressOnly(body) : std::nullopt;
    if (!addr) {
      LOG(WARNING) << "rpc: dropped a message with no reply address: " << refused.message();
      return std::nullopt;
    }
    msg = std::move(*addr);
  }
  auto str = [&](const char* k) -> std::string {
    auto it = msg.find(k);
    return it != msg.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string msg_id = str("_msg_id"), reply_q = str("_reply_q");
  const std::string method = str("method");
  absl::StatusOr<json> result = absl::UnknownError("not handled");
  if (!refused.ok()) {
    result = refused;
  } else {
    auto m = msg.find("method");
    if (m == msg.end() || !m->is_string()) {
      result = absl::InvalidArgumentError("the request has no method name (a string)");
    } else {
      json args = msg.value("args", json::object());
      json ctx = json::object();
      for (auto it = msg.begin(); it != msg.end(); ++it) {
        if (absl::StartsWith(it.key(), "_context_")) ctx[it.key().substr(9)] = it.value();
      }
      if (!args.is_object()) {
        result = absl::InvalidArgumentError("args must be a dict of keyword arguments");
      } else if (MethodReadsGraph(method)) {
        // Under the graph's lock only what needs the graph; a large reply
        // is compressed and encoded after, so intake is not held up.
        absl::StatusOr<Answer> answer = absl::UnknownError("not read");
        absl::StatusOr<json> read =
            access->Read([&](const graph::Graph& g, const evaluator::TemplateSet* t) {
              answer = Read(method, args, ctx, &g, t);
              return json(nullptr);
            });
        if (!read.ok()) {
          result = read.status();
        } else if (!answer.ok()) {
          result = answer.status();
        } else {
          result = Finish(std::move(*answer));
        }
      } else {
        result = Call(method, args, ctx, nullptr, nullptr);
      }
    }
  }
  if (msg_id.empty() || reply_q.empty()) {
    if (!result.ok()) LOG(WARNING) << "rpc: cast " << method << " failed: " << result.status();
    return std::nullopt;
  }
  Reply r;
  r.reply_q = reply_q;
  if (result.ok()) {
    r.body = ReplyBody(msg_id, *result, nullptr);
  } else {
    VLOG(1) << "rpc: " << method << ": " << result.status();
    std::string f = Failure(result.status(), method);
    r.body = ReplyBody(msg_id, nullptr, &f);
    r.failed = true;
  }
  return r;
}

RpcServer::RpcServer(RpcServerOptions options, GraphAccess* access)
    : options_(std::move(options)), access_(access) {}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::Start() {
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this, i] { Worker(i); });
  }
}

void RpcServer::Stop() {
  stop_ = true;
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void RpcServer::Worker(int index) {
  const std::string name = absl::StrCat("rpc ", options_.topic, " #", index);
  amqp::Link consume(options_.connection, name, [this](amqp::Connection& c) -> absl::Status {
    if (absl::Status s =
            c.DeclareExchange(options_.exchange, "topic", options_.durable, options_.auto_delete);
        !s.ok()) {
      return s;
    }
    if (auto q = c.DeclareQueue(options_.topic, options_.durable, options_.auto_delete); !q.ok())
      return q.status();
    if (absl::Status s = c.BindQueue(options_.topic, options_.exchange, options_.topic); !s.ok()) {
      return s;
    }
    if (absl::Status s = c.Qos(1); !s.ok()) return s;
    return c.Consume(options_.topic);
  });
  amqp::ConnectionOptions reply_options = options_.connection;
  reply_options.heartbeat_seconds = 0;  // idle between calls; a failed publish reconnects
  amqp::Link replies(reply_options, name + " replies",
                     [](amqp::Connection& c) { return c.EnableConfirms(); });
  bool holding = false;
  auto set_holding = [&](bool h) {
    if (h != holding) consuming_ += h ? 1 : -1;
    holding = h;
  };
  auto stop_or_inactive = [&] { return stop_.load() || !access_->Active(); };
  while (!stop_) {
    if (!access_->Active()) {
      if (consume.connected()) {
        consume.Broken(absl::UnavailableError("the graph is not ACTIVE: not taking calls"));
      }
      set_holding(false);
      absl::SleepFor(options_.poll);
      continue;
    }
    auto conn = consume.Get(stop_or_inactive);
    if (!conn.ok()) {
      set_holding(false);
      continue;
    }
    set_holding(true);
    auto d = (*conn)->Next(options_.poll);
    if (!d.ok()) {
      consume.Broken(d.status());
      set_holding(false);
      continue;
    }
    if (!d->has_value()) continue;
    if (absl::Status s = (*conn)->Ack((*d)->tag, false); !s.ok()) {
      consume.Broken(s);
      set_holding(false);
      continue;  // not acked: the broker redelivers it
    }
    std::optional<Reply> reply = HandleRequest((*d)->body, access_, options_.limits);
    ++calls_;
    if (!reply) continue;
    if (reply->failed) ++failures_;
    amqp::OutMessage out;
    out.body = std::move(reply->body);
    out.persistent = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto r = replies.Get([this] { return stop_.load(); });
      if (!r.ok()) break;
      absl::Status s = (*r)->Publish("", reply->reply_q, out);
      if (s.ok()) break;
      if (absl::IsFailedPrecondition(s)) {
        LOG(WARNING) << "rpc: reply queue " << reply->reply_q << " is gone (caller timed out?)";
        break;
      }
      replies.Broken(s);
    }
  }
  set_holding(false);
}

}  // namespace vitrage::rpc_api
