// The results table of the service-level benchmarks (service_bench,
// standby_bench): collects one row per metric, prints the table at the end
// and appends the rows to bench/results/<tsv>, writing the header line
// first when the file is empty or missing.
//
// Each benchmark keeps the TSV layout its file already has (the files are
// appended to across commits), so the optional columns are chosen per
// report:
//
//   service.tsv  date commit loadavg metric ours unit upstream target met
//   standby.tsv  date loadavg metric ms target met
#ifndef VITRAGE_BENCH_SERVICE_BENCH_REPORT_H_
#define VITRAGE_BENCH_SERVICE_BENCH_REPORT_H_

#include <string>
#include <utility>
#include <vector>

namespace vitrage::testing {

struct BenchRow {
  std::string metric;
  double ours = 0;
  std::string unit;      // only written with BenchReportLayout::with_upstream
  std::string upstream;  // only written with BenchReportLayout::with_upstream
  std::string target;
  bool met = false;
};

struct BenchReportLayout {
  std::string tsv;                    // file name under bench/results/
  std::string value_column = "ours";  // header of the measured value
  bool with_commit = false;           // `git rev-parse --short HEAD` after the date
  bool with_upstream = false;         // unit and upstream columns
};

// Not thread-safe: rows are added from the benchmark's main thread.
class BenchReport {
 public:
  // Reads the load average now: the one that goes next to every row is the
  // load when the benchmark started, not when it ended.
  explicit BenchReport(BenchReportLayout layout);

  void Add(BenchRow row) { rows_.push_back(std::move(row)); }

  // Prints the table to stdout and appends the rows to the TSV file (date
  // and commit taken now). Returns false (after logging to stderr) when the
  // file cannot be written.
  bool Finish() const;

  double load_at_start() const { return load_; }

 private:
  BenchReportLayout layout_;
  double load_;
  std::vector<BenchRow> rows_;
};

// The 1-minute load average from /proc/loadavg (0 if unreadable).
double LoadAverage();

// What /proc/<pid>/stat says of a process's cost so far (all its threads).
struct ProcStat {
  bool ok = false;  // false: the process is gone or the file unreadable
  long long minor_faults = 0;
  double cpu_ms = 0;           // utime + stime
  double children_cpu_ms = 0;  // cutime + cstime (its reaped children)
};
ProcStat ReadProcStat(int pid);

}  // namespace vitrage::testing

#endif  // VITRAGE_BENCH_SERVICE_BENCH_REPORT_H_
