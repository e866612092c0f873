#include "common/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

namespace vitrage::metrics {
namespace {

std::mutex& Mu() {
  static auto* mu = new std::mutex;
  return *mu;
}

std::vector<std::function<void()>>& Refreshers() {
  static auto* r = new std::vector<std::function<void()>>;
  return *r;
}

// Runs the refreshers, then lets the registry answer.
class RefreshingRegistry : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard<std::mutex> l(Mu());
      fns = Refreshers();
    }
    for (auto& f : fns) f();
    return Registry().Collect();
  }
};

std::shared_ptr<prometheus::Registry>& RegistryPtr() {
  static auto* r =
      new std::shared_ptr<prometheus::Registry>(std::make_shared<prometheus::Registry>());
  return *r;
}

}  // namespace

prometheus::Registry& Registry() { return *RegistryPtr(); }

prometheus::Counter& Counter(const std::string& name, const std::string& help,
                             const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> l(Mu());
  return prometheus::BuildCounter().Name(name).Help(help).Register(Registry()).Add(labels);
}

prometheus::Gauge& Gauge(const std::string& name, const std::string& help,
                         const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> l(Mu());
  return prometheus::BuildGauge().Name(name).Help(help).Register(Registry()).Add(labels);
}

prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets,
                                 const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> l(Mu());
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(help)
      .Register(Registry())
      .Add(labels, prometheus::Histogram::BucketBoundaries(buckets));
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
}

void AddRefresher(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(Mu());
  Refreshers().push_back(std::move(fn));
}

absl::StatusOr<int> StartExposer(const std::string& address) {
  static std::unique_ptr<prometheus::Exposer> exposer;
  static auto* collectable =
      new std::shared_ptr<RefreshingRegistry>(std::make_shared<RefreshingRegistry>());
  if (exposer) return absl::FailedPreconditionError("metrics endpoint already started");
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer->RegisterCollectable(*collectable);
  auto ports = exposer->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<int>(ports[0]);
}

}  // namespace vitrage::metrics
