// Prometheus metrics shared by the three services (prometheus-cpp).
//
// Each service registers its metrics in the process-wide registry and, when
// "[<service>] metrics_address" is set in vitrage.conf (or --metrics), serves
// them on http://HOST:PORT/metrics. Values that are cheaper to read than to
// keep current (sequence numbers, buffer use, ages) are set by refreshers
// that run at every scrape.
#ifndef VITRAGE_COMMON_METRICS_H_
#define VITRAGE_COMMON_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace vitrage::metrics {

prometheus::Registry& Registry();

prometheus::Counter& Counter(const std::string& name, const std::string& help,
                             const std::map<std::string, std::string>& labels = {});
prometheus::Gauge& Gauge(const std::string& name, const std::string& help,
                         const std::map<std::string, std::string>& labels = {});
// Buckets in the metric's unit (seconds for *_seconds).
prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets,
                                 const std::map<std::string, std::string>& labels = {});

// Latency buckets from 0.5 ms to 10 s, in seconds.
std::vector<double> LatencyBuckets();

// Runs `fn` before every scrape (it sets gauges).
void AddRefresher(std::function<void()> fn);

// Serves /metrics on `address` ("HOST:PORT"; port 0 picks one). Returns the
// bound port. Call at most once per process.
absl::StatusOr<int> StartExposer(const std::string& address);

}  // namespace vitrage::metrics

#endif  // VITRAGE_COMMON_METRICS_H_
