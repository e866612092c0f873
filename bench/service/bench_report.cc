#include "bench/service/bench_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/process.h"

namespace vitrage::testing {
namespace {

// Output of a short command, trailing white space trimmed; "unknown" if it
// fails.
std::string Capture(const std::vector<std::string>& argv) {
  auto dir = MakeTempDir("bench-cmd");
  if (!dir.ok()) return "unknown";
  std::string out = *dir + "/out";
  auto rc = RunCommand(argv, out);
  std::string s = ReadFileOrEmpty(out);
  RemoveTree(*dir);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return rc.ok() && *rc == 0 ? s : "unknown";
}

}  // namespace

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

ProcStat ReadProcStat(int pid) {
  ProcStat st;
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  // The fields after the command (which may hold spaces) start after the
  // last ')'; f[0] is field 3 (state).
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 > stat.size()) return st;
  std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
  // minflt is field 10, utime 14, stime 15, cutime 16, cstime 17.
  if (f.size() < 15) return st;
  const double tick_ms = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  st.ok = true;
  st.minor_faults = std::atoll(f[7].c_str());
  st.cpu_ms = (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) * tick_ms;
  st.children_cpu_ms = (std::atof(f[13].c_str()) + std::atof(f[14].c_str())) * tick_ms;
  return st;
}

BenchReport::BenchReport(BenchReportLayout layout)
    : layout_(std::move(layout)), load_(LoadAverage()) {}

bool BenchReport::Finish() const {
  const std::string date = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  // VITRAGE_BENCH_COMMIT names the binaries' commit when they are not the
  // source tree's (an A/B run against another build's binaries).
  const char* named = std::getenv("VITRAGE_BENCH_COMMIT");
  const std::string commit =
      !layout_.with_commit ? ""
      : named != nullptr && *named != '\0'
          ? std::string(named)
          : Capture({"git", "-C", SourceDir(), "rev-parse", "--short", "HEAD"});

  int width = 44;
  for (const auto& r : rows_) width = std::max(width, static_cast<int>(r.metric.size()));
  std::printf("\n%-*s %12s ", width, "metric", layout_.value_column.c_str());
  if (layout_.with_upstream) std::printf("%-6s %-16s ", "unit", "upstream");
  std::printf("target\n");
  for (const auto& r : rows_) {
    std::printf("%-*s %12.1f ", width, r.metric.c_str(), r.ours);
    if (layout_.with_upstream) std::printf("%-6s %-16s ", r.unit.c_str(), r.upstream.c_str());
    std::printf("%-14s %s\n", r.target.c_str(), r.met ? "met" : "MISSED");
  }

  const std::string path = SourceDir() + "/bench/results/" + layout_.tsv;
  const bool header = ReadFileOrEmpty(path).empty();
  std::ofstream out(path, std::ios::app);
  if (header) {
    out << "date\t" << (layout_.with_commit ? "commit\t" : "") << "loadavg\tmetric\t"
        << layout_.value_column << "\t" << (layout_.with_upstream ? "unit\tupstream\t" : "")
        << "target\tmet\n";
  }
  for (const auto& r : rows_) {
    out << date << "\t";
    if (layout_.with_commit) out << commit << "\t";
    out << load_ << "\t" << r.metric << "\t" << r.ours << "\t";
    if (layout_.with_upstream) out << r.unit << "\t" << r.upstream << "\t";
    out << r.target << "\t" << (r.met ? "met" : "missed") << "\n";
  }
  out.flush();
  if (!out) {
    std::fprintf(stderr, "cannot append the results to %s\n", path.c_str());
    return false;
  }
  std::printf("\nresults appended to %s (load average at start %.2f)\n", path.c_str(), load_);
  return true;
}

}  // namespace vitrage::testing
