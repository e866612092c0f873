// oslo.messaging's transport_url for RabbitMQ, as an operator writes it in
// `[DEFAULT] transport_url`:
//
//   rabbit://USER:PASS@HOST:PORT,USER2:PASS2@HOST2:PORT2/VHOST
//
// Several hosts are failover candidates, tried in order. As in oslo
// (transport.py, TransportURL.parse): user and password are
// percent-decoded, a host without credentials gets guest/guest, a missing
// port is 5672, IPv6 hosts are in brackets, an empty path is the vhost "/".
// Query parameters are accepted and ignored (oslo reads driver options from
// them; ours are in [oslo_messaging_rabbit]).
#ifndef VITRAGE_GRAPH_SERVICE_AMQP_TRANSPORT_URL_H_
#define VITRAGE_GRAPH_SERVICE_AMQP_TRANSPORT_URL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vitrage::amqp {

struct BrokerHost {
  std::string host;
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";

  // "USER@HOST:PORT": what logs and errors show of a host.
  std::string Redacted() const;
};

struct TransportUrl {
  std::vector<BrokerHost> hosts;  // at least one
  std::string vhost = "/";

  // The URL with every password replaced by "***": the only form that may
  // be logged or shown in status and error messages.
  std::string Redacted() const;
};

// Parses `url`. Errors name what is wrong and never contain a password.
absl::StatusOr<TransportUrl> ParseTransportUrl(absl::string_view url);

}  // namespace vitrage::amqp

#endif  // VITRAGE_GRAPH_SERVICE_AMQP_TRANSPORT_URL_H_
