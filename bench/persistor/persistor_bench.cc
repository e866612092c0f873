// Persistor benchmark. Starts a private MariaDB (stock durability,
// innodb_flush_log_at_trx_commit=1) and the real vitrage-persistor binary,
// then measures over one gRPC Append stream:
//   * durable Append throughput, 200 B and 2 KB records, batch sizes 1, 16,
//     256, 4096 (pipelined: the client keeps batches in flight);
//   * ack latency (p50/p99/max) at a paced 10,000 records/s;
//   * writing and reading a 100 MB snapshot.
// Prints a table and appends one line per measurement to
// bench/results/persistor.tsv.
//
//   persistor_bench [--seconds N] [--snapshot_mb M] [--quick] [--galera]
//
// --galera: the database is a 3-node MariaDB Galera cluster on loopback
// (common/testing/galera_fixture.h), the persistor on node 0; "galera" is
// added to every result line, and cpu:db is node 0's mariadbd.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/testing/galera_fixture.h"
#include "common/testing/mariadb_fixture.h"
#include "common/testing/process.h"
#include "persistor_service/server/test_util.h"

namespace {

using vitrage::persistor::testing::MakeRecord;
namespace pt = vitrage::persistor::testing;

struct Result {
  std::string name;
  std::string params;
  double records_per_s = 0;
  double mb_per_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double mysqld_cpu = 0, persistor_cpu = 0;  // CPU seconds per wall second
};

std::string GitCommit() {
  std::string out = "/tmp/persistor_bench_git.txt";
  std::remove(out.c_str());
  auto rc = vitrage::testing::RunCommand(
      {"git", "-C", VITRAGE_BENCH_SOURCE_DIR, "rev-parse", "--short", "HEAD"}, out,
      absl::Seconds(10));
  std::string text = vitrage::testing::ReadFileOrEmpty(out);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return rc.ok() && *rc == 0 ? text : "unknown";
}

// CPU seconds (user + system) used so far by process `pid`.
double CpuSeconds(pid_t pid) {
  std::string stat = vitrage::testing::ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
  // After "pid (comm) ": state is f[0]; utime is field 14 -> f[11], stime f[12].
  double ut = 0, st = 0;
  if (f.size() < 13 || !absl::SimpleAtod(f[11], &ut) || !absl::SimpleAtod(f[12], &st)) return 0;
  return (ut + st) / sysconf(_SC_CLK_TCK);
}

pid_t g_mysqld = 0, g_persistor = 0;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

// One Append stream; `rate` records/s (0 = as fast as the window allows).
Result RunAppend(vitrage::v1::Persistor::Stub* stub, uint64_t epoch, uint64_t* next_seq,
                 size_t record_bytes, size_t batch, absl::Duration duration, double rate) {
  const size_t payload = record_bytes > 40 ? record_bytes - 40 : 1;
  // Template batch; only seqs change per send.
  vitrage::v1::AppendRequest tmpl;
  tmpl.set_epoch(epoch);
  for (size_t i = 0; i < batch; ++i) *tmpl.add_records() = MakeRecord(1 + i, epoch, payload);
  const size_t actual_record_bytes = tmpl.records(0).ByteSizeLong();
  // In flight: at most ~16 MiB and 64 batches.
  const size_t window =
      std::max<size_t>(1, std::min<size_t>(64, (16u << 20) / (batch * actual_record_bytes)));

  grpc::ClientContext ctx;
  auto stream = stub->Append(&ctx);
  std::mutex mu;
  std::deque<absl::Time> sent;
  std::vector<double> latencies_ms;
  std::atomic<uint64_t> acked_batches{0};
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    vitrage::v1::AppendResponse resp;
    while (stream->Read(&resp)) {
      absl::Time now = absl::Now();
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.push_back(absl::ToDoubleMilliseconds(now - sent.front()));
      sent.pop_front();
      ++acked_batches;
    }
    reader_done = true;
  });
  const absl::Time start = absl::Now();
  const double cpu_m0 = CpuSeconds(g_mysqld), cpu_p0 = CpuSeconds(g_persistor);
  const absl::Time end = start + duration;
  uint64_t sent_batches = 0;
  while (absl::Now() < end && !reader_done) {
    if (rate > 0) {
      absl::Time due = start + absl::Seconds(sent_batches * batch / rate);
      absl::Time now = absl::Now();
      if (due > now) absl::SleepFor(due - now);
    } else if (sent_batches - acked_batches >= window) {
      std::this_thread::yield();
      continue;
    }
    for (size_t i = 0; i < batch; ++i) {
      tmpl.mutable_records(i)->set_seq(*next_seq + i);
      tmpl.mutable_records(i)->set_source_seq(*next_seq + i);
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      sent.push_back(absl::Now());
    }
    if (!stream->Write(tmpl)) break;
    *next_seq += batch;
    ++sent_batches;
  }
  stream->WritesDone();
  reader.join();
  const absl::Time finish = absl::Now();
  grpc::Status s = stream->Finish();
  if (!s.ok()) {
    std::cerr << "Append failed: " << s.error_message() << "\n";
    std::exit(1);
  }
  Result r;
  r.name = rate > 0 ? "append_latency" : "append_throughput";
  r.params = absl::StrFormat("record_bytes=%d batch=%d%s", actual_record_bytes, batch,
                             rate > 0 ? absl::StrFormat(" rate=%.0f/s", rate) : "");
  const double secs = absl::ToDoubleSeconds(finish - start);
  r.records_per_s = acked_batches * batch / secs;
  r.mb_per_s = r.records_per_s * actual_record_bytes / 1e6;
  r.p50_ms = Percentile(latencies_ms, 0.50);
  r.p99_ms = Percentile(latencies_ms, 0.99);
  r.max_ms = Percentile(latencies_ms, 1.0);
  r.mysqld_cpu = (CpuSeconds(g_mysqld) - cpu_m0) / secs;
  r.persistor_cpu = (CpuSeconds(g_persistor) - cpu_p0) / secs;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 4;
  int snapshot_mb = 100;
  bool quick = false;
  bool targets_only = false;  // only the measurements the issue sets targets for
  std::string note;           // free text added to every result line
  std::string max_batch;      // [persistor] max_batch_bytes, e.g. "2M" ("": default)
  bool galera = false;        // a 3-node Galera cluster instead of one server
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc)
      (void)absl::SimpleAtod(argv[++i], &seconds);
    else if (a == "--snapshot_mb" && i + 1 < argc)
      (void)absl::SimpleAtoi(argv[++i], &snapshot_mb);
    else if (a == "--quick")
      quick = true;
    else if (a == "--targets")
      targets_only = true;
    else if (a == "--note" && i + 1 < argc)
      note = argv[++i];
    else if (a == "--max_batch_bytes" && i + 1 < argc)
      max_batch = argv[++i];
    else if (a == "--galera")
      galera = true;
    else {
      std::cerr << "usage: persistor_bench [--seconds N] [--snapshot_mb M] [--quick] [--targets] "
                   "[--note TEXT] [--max_batch_bytes SIZE] [--galera]\n";
      return 2;
    }
  }
  vitrage::testing::MariaDbFixture db;
  vitrage::testing::GaleraCluster cluster;
  std::string db_url;
  if (galera) {
    if (absl::Status s = cluster.Start(); !s.ok()) {
      std::cerr << "galera: " << s << "\n";
      return 1;
    }
    db_url = cluster.url(0);
    note = absl::StrCat("galera", note.empty() ? "" : " ", note);
  } else {
    if (absl::Status s = db.Start(); !s.ok()) {
      std::cerr << "mariadb: " << s << "\n";
      return 1;
    }
    db_url = db.url();
  }
  auto flush = galera ? cluster.Query(0, "SELECT @@innodb_flush_log_at_trx_commit", false)
                      : db.Query("SELECT @@innodb_flush_log_at_trx_commit", false);
  std::string flush_setting = flush.ok() ? std::string(absl::StripAsciiWhitespace(*flush)) : "?";
  auto dir = vitrage::testing::MakeTempDir("persistor-bench");
  const int port = vitrage::testing::PickFreePort();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::string bin = std::string(VITRAGE_BENCH_BINARY_DIR) + "/persistor_service/vitrage-persistor";
  std::vector<std::string> argv_p = {bin, "--listen", address, "--database_url", db_url};
  if (!max_batch.empty()) {
    const std::string conf = *dir + "/vitrage.conf";
    std::ofstream(conf) << "[persistor]\nmax_batch_bytes = " << max_batch
                        << "\n[ssl]\nallow_plaintext = true\n";
    argv_p.push_back("--config");
    argv_p.push_back(conf);
    note = absl::StrCat(note, note.empty() ? "" : " ", "max_batch_bytes=", max_batch);
  }
  auto proc = vitrage::testing::Process::Start(argv_p, *dir + "/persistor.log");
  if (!proc.ok()) {
    std::cerr << proc.status() << "\n";
    return 1;
  }
  g_mysqld = galera ? cluster.pid(0) : db.pid();
  g_persistor = proc->pid();
  std::unique_ptr<vitrage::v1::Persistor::Stub> stub;
  for (int i = 0;; ++i) {
    stub = vitrage::v1::Persistor::NewStub(
        vitrage::MakeChannel(address, vitrage::ServerRole::kPersistor));
    auto st = pt::GetStatus(stub.get());
    if (st.ok() && st->database_reachable()) break;
    if (i > 300) {
      std::cerr << "persistor did not start; see " << *dir << "/persistor.log\n";
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  auto epoch = pt::AcquireEpoch(stub.get(), "persistor_bench");
  if (!epoch.ok()) {
    std::cerr << epoch.status() << "\n";
    return 1;
  }
  uint64_t next_seq = epoch->durable_seq() + 1;
  std::vector<Result> results;
  const absl::Duration d = absl::Seconds(quick ? 1 : seconds);
  for (size_t bytes : {200, 2000}) {
    for (size_t batch : {1, 16, 256, 4096}) {
      if (targets_only && (bytes != 200 || batch < 256)) continue;
      results.push_back(RunAppend(stub.get(), epoch->epoch(), &next_seq, bytes, batch, d, 0));
      const Result& r = results.back();
      std::cerr << absl::StrFormat(
          "%-18s %-34s %10.0f rec/s %8.1f MB/s p99 %7.2f ms cpu mysqld %.2f persistor %.2f\n",
          r.name, r.params, r.records_per_s, r.mb_per_s, r.p99_ms, r.mysqld_cpu, r.persistor_cpu);
    }
  }
  for (size_t batch : {1, 10}) {
    if (targets_only && batch != 1) continue;
    results.push_back(RunAppend(stub.get(), epoch->epoch(), &next_seq, 200, batch,
                                quick ? absl::Seconds(1) : absl::Seconds(5), 10000));
    const Result& r = results.back();
    std::cerr << absl::StrFormat("%-18s %-34s %10.0f rec/s p50 %.2f p99 %.2f max %.2f ms\n", r.name,
                                 r.params, r.records_per_s, r.p50_ms, r.p99_ms, r.max_ms);
  }

  // ReadLog of the last 300,000 records appended above (what recovery does
  // after loading the snapshot), 1 MiB responses.
  if (!targets_only) {
    absl::Time t0 = absl::Now();
    int responses = 0;
    const uint64_t last = next_seq - 1;
    auto log = pt::ReadLog(stub.get(), last > 300000 ? last - 300000 : 0, 1 << 20, &responses);
    absl::Time t1 = absl::Now();
    if (!log.ok()) {
      std::cerr << "ReadLog: " << log.status() << "\n";
      return 1;
    }
    uint64_t bytes = 0;
    for (const auto& r : *log) bytes += r.ByteSizeLong();
    Result r{"readlog", absl::StrFormat("records=%d responses=%d", log->size(), responses)};
    const double secs = absl::ToDoubleSeconds(t1 - t0);
    r.records_per_s = log->size() / secs;
    r.mb_per_s = bytes / 1e6 / secs;
    r.max_ms = secs * 1000;
    results.push_back(r);
  }

  // Snapshot: 1 MiB chunks of incompressible bytes (as zstd output is).
  {
    const int chunks = quick ? 10 : snapshot_mb;
    pt::TestSnapshot snap = pt::MakeSnapshot(next_seq - 1, epoch->epoch(), chunks, 1 << 20);
    const double mb = chunks * 1.048576;
    absl::Time t0 = absl::Now();
    auto put = pt::PutSnapshot(stub.get(), snap);
    absl::Time t1 = absl::Now();
    if (!put.ok()) {
      std::cerr << "PutSnapshot: " << put.status() << "\n";
      return 1;
    }
    auto got = pt::GetLatestSnapshot(stub.get());
    absl::Time t2 = absl::Now();
    if (!got.ok() || got->chunks.size() != static_cast<size_t>(chunks)) {
      std::cerr << "GetLatestSnapshot: " << got.status() << "\n";
      return 1;
    }
    Result w{"snapshot_write", absl::StrFormat("mb=%.0f chunk=1MiB", mb)};
    w.mb_per_s = mb / absl::ToDoubleSeconds(t1 - t0);
    w.max_ms = absl::ToDoubleMilliseconds(t1 - t0);
    Result r{"snapshot_read", w.params};
    r.mb_per_s = mb / absl::ToDoubleSeconds(t2 - t1);
    r.max_ms = absl::ToDoubleMilliseconds(t2 - t1);
    results.push_back(w);
    results.push_back(r);
  }
  proc->Stop();

  // Table.
  std::string date = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  std::string commit = GitCommit();
  // Other work on the machine skews these numbers: record the load.
  std::string load = vitrage::testing::ReadFileOrEmpty("/proc/loadavg");
  load = load.substr(0, load.find(' '));
  std::printf(
      "\nvitrage-persistor benchmark  %s  commit %s  innodb_flush_log_at_trx_commit=%s"
      "  loadavg %s  (cpu: cores used by mysqld / vitrage-persistor)\n",
      date.c_str(), commit.c_str(), flush_setting.c_str(), load.c_str());
  std::printf("%-18s %-36s %10s %7s %8s %8s %10s %7s %7s\n", "measurement", "parameters",
              "records/s", "MB/s", "p50 ms", "p99 ms", "max/total", "cpu:db", "cpu:pers");
  for (const Result& r : results) {
    std::printf("%-18s %-36s %10.0f %7.1f %8.2f %8.2f %10.1f %7.2f %7.2f\n", r.name.c_str(),
                r.params.c_str(), r.records_per_s, r.mb_per_s, r.p50_ms, r.p99_ms, r.max_ms,
                r.mysqld_cpu, r.persistor_cpu);
  }
  std::string results_dir = std::string(VITRAGE_BENCH_SOURCE_DIR) + "/bench/results";
  mkdir(results_dir.c_str(), 0755);
  const std::string path = results_dir + "/persistor.tsv";
  bool header = vitrage::testing::ReadFileOrEmpty(path).empty();
  std::ofstream out(path, std::ios::app);
  if (header) {
    out << "date\tcommit\tmeasurement\tparameters\tflush_log_at_trx_commit\trecords_per_s"
           "\tmb_per_s\tp50_ms\tp99_ms\tmax_or_total_ms\tmysqld_cpu\tpersistor_cpu"
           "\tloadavg\n";
  }
  for (const Result& r : results) {
    out << absl::StrFormat("%s\t%s\t%s\t%s%s\t%s\t%.0f\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%s\n",
                           date, commit, r.name, r.params,
                           absl::StrCat(quick ? " quick" : (targets_only ? " targets" : ""),
                                        note.empty() ? "" : " " + note),
                           flush_setting, r.records_per_s, r.mb_per_s, r.p50_ms, r.p99_ms, r.max_ms,
                           r.mysqld_cpu, r.persistor_cpu, load);
  }
  std::printf("appended to %s\n", path.c_str());
  vitrage::testing::RemoveTree(*dir);
  return 0;
}
