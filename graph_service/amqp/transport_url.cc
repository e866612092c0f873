#include "graph_service/amqp/transport_url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vitrage::amqp {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; false on a malformed escape.
bool Unquote(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

std::string BrokerHost::Redacted() const {
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(user, "@", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

std::string TransportUrl::Redacted() const {
  std::string out = "rabbit://";
  for (size_t i = 0; i < hosts.size(); ++i) {
    const BrokerHost& h = hosts[i];
    const bool v6 = h.host.find(':') != std::string::npos;
    absl::StrAppend(&out, i ? "," : "", h.user, ":***@", v6 ? "[" : "", h.host, v6 ? "]" : "", ":",
                    h.port);
  }
  absl::StrAppend(&out, "/", vhost == "/" ? "" : vhost);
  return out;
}

absl::StatusOr<TransportUrl> ParseTransportUrl(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "transport_url: no scheme (expected rabbit://USER:PASS@HOST:PORT/VHOST)");
  }
  const absl::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "rabbit" && scheme != "amqp" && scheme != "kombu+rabbit") {
    return absl::InvalidArgumentError(absl::StrCat("transport_url: scheme \"", scheme,
                                                   "\" is not supported (only rabbit:// is)"));
  }
  absl::string_view rest = url.substr(scheme_end + 3);
  absl::string_view netloc = rest.substr(0, rest.find_first_of("/?#"));
  absl::string_view path = rest.substr(netloc.size());
  path = path.substr(0, path.find_first_of("?#"));

  TransportUrl out;
  if (absl::StartsWith(path, "/") && path.size() > 1) {
    if (!Unquote(path.substr(1), &out.vhost)) {
      return absl::InvalidArgumentError("transport_url: bad %-escape in the virtual host");
    }
  }
  int index = 0;
  for (absl::string_view part : absl::StrSplit(netloc, ',')) {
    ++index;
    if (part.empty()) continue;
    BrokerHost h;
    absl::string_view hostport = part;
    const size_t at = part.rfind('@');
    if (at != absl::string_view::npos) {
      absl::string_view cred = part.substr(0, at);
      hostport = part.substr(at + 1);
      const size_t colon = cred.find(':');
      if (!Unquote(cred.substr(0, colon), &h.user)) {
        return absl::InvalidArgumentError(
            absl::StrCat("transport_url: host ", index, ": bad %-escape in the user name"));
      }
      if (colon != absl::string_view::npos && !Unquote(cred.substr(colon + 1), &h.password)) {
        return absl::InvalidArgumentError(
            absl::StrCat("transport_url: host ", index, ": bad %-escape in the password"));
      }
    }
    absl::string_view port_text;
    if (absl::StartsWith(hostport, "[")) {
      const size_t close = hostport.find(']');
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("transport_url: host ", index, ": IPv6 address without ']'"));
      }
      h.host = std::string(hostport.substr(1, close - 1));
      absl::string_view after = hostport.substr(close + 1);
      if (!after.empty()) {
        if (after[0] != ':') {
          return absl::InvalidArgumentError(absl::StrCat("transport_url: host ", index,
                                                         ": unexpected \"", after, "\" after ']'"));
        }
        port_text = after.substr(1);
      }
    } else {
      const size_t colon = hostport.rfind(':');
      h.host = std::string(hostport.substr(0, colon));
      if (colon != absl::string_view::npos) port_text = hostport.substr(colon + 1);
    }
    if (h.host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("transport_url: host ", index, " is empty"));
    }
    if (!port_text.empty()) {
      int port = 0;
      if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("transport_url: host ", index, " (", h.host,
                                                       "): port \"", port_text,
                                                       "\" is not a number in 1..65535"));
      }
      h.port = port;
    }
    out.hosts.push_back(std::move(h));
  }
  if (out.hosts.empty()) {
    return absl::InvalidArgumentError("transport_url: no host (expected rabbit://USER:PASS@HOST)");
  }
  return out;
}

}  // namespace vitrage::amqp
