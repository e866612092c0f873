// Snapshots by fork(), as Redis's BGSAVE: the child process holds a
// copy-on-write image of the whole address space as it was at the fork, so
// it can encode the graph at leisure while the parent keeps taking events.
//
// Why not a shadow copy: a shadow graph kept current by re-applying every
// journal record doubles the graph's memory, costs a full copy at start-up
// (in every failover) and a copy of every record on the intake path.
// fork() costs only the page-table copy, paid while the graph's
// lock is held: that is the whole processing stall. Pages the parent writes
// during the encode are copied then, one by one.
//
// Rules for the child (it is a copy of ONE thread of a multi-threaded
// process; every other thread, and whatever lock it held, is frozen):
// the encode function must not take locks other threads may hold, start
// threads, log, or touch gRPC. Memory allocation is safe (jemalloc and
// glibc malloc have fork handlers). The child closes every inherited file
// descriptor except its output (so it never holds the parent's listening
// socket), dies with its parent (PR_SET_PDEATHSIG), runs at lower priority,
// and leaves with _exit().
//
// What the child's path (Engine::ForkSnapshotEncoder's lambda ->
// EncodeSnapshotToMemory, SnapshotSectionsLocked) calls, audited for locks:
//   * SHA-256 of the digest: common/sha256.h, no locks. It used OpenSSL's
//     EVP, whose algorithm fetch and provider caches take rwlocks that a
//     gRPC thread doing a TLS handshake may hold at the fork
//     (graph/digest_test checks the path makes no OpenSSL call).
//   * zstd (one single-threaded ZSTD_CCtx), crc32c, protobuf serialization
//     of heap messages (no arenas, no descriptor lookups), absl::StrCat /
//     Status: no locks. EncodeOptions::parallel is off: no worker thread.
//   * EncodeOptions::helper_process: the child forks one helper process
//     (a copy of the single-threaded child, so nothing is frozen in it)
//     that encodes the later elements under the same rules, dies with the
//     child (PR_SET_PDEATHSIG) and is reaped by it; its chunks come back
//     through a memfd. That is how the encode uses the second core.
//   * Property names: graph::KeyName() reads the key table without its
//     lock; the encoder never interns (InternKey would lock).
//   * mu_ of the Engine: held by the forking thread, so the child's copy is
//     held by the child itself; SnapshotSectionsLocked needs it held.
//   * glog: nothing logs in the child (LOG takes glog's mutex); failures go
//     back to the parent as an 'E' frame. CHECK failures on this path would
//     log, and there are none left (the OpenSSL digest had two).
//   * Function-local statics (crc32c's CPU probe): initialized by the parent
//     before the fork (Start calls crc32c once), so the child never waits
//     on a guard another thread held.
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_FORKED_ENCODE_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_FORKED_ENCODE_H_

#include <sys/types.h>

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph_service/snapshot/snapshot.h"

namespace vitrage::service {

class ForkedEncode {
 public:
  using EncodeFn = std::function<absl::StatusOr<snapshot::EncodedSnapshot>()>;

  // Forks; the child runs `encode` and writes its result to an anonymous
  // in-memory file. The caller holds whatever lock makes the state
  // consistent, and releases it as soon as Start() returns. The child runs
  // at nice 19, and with `idle` as SCHED_IDLE too (the active's snapshots:
  // any thread that wakes up preempts it at once, so intake is not
  // delayed; but on a machine whose cores are all busy it gets almost
  // nothing, so a standby, which has no intake to protect and must store
  // its snapshot before the active takes its own, uses nice 19 only).
  static absl::StatusOr<ForkedEncode> Start(const EncodeFn& encode, bool idle = true);

  ForkedEncode(ForkedEncode&& o) noexcept;
  ForkedEncode& operator=(ForkedEncode&&) = delete;
  ForkedEncode(const ForkedEncode&) = delete;
  ~ForkedEncode();  // kills and reaps a child still running

  // Waits for the child and reads what it encoded. Polls `cancelled` every
  // few ms; when it says true, or `timeout` passes, kills the child and
  // returns CANCELLED / DEADLINE_EXCEEDED. A child that failed or died
  // gives INTERNAL with its message or its signal.
  absl::StatusOr<snapshot::EncodedSnapshot> Wait(absl::Duration timeout,
                                                 const std::function<bool()>& cancelled);

  pid_t pid() const { return pid_; }

 private:
  ForkedEncode(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  absl::StatusOr<snapshot::EncodedSnapshot> ReadOutput();

  pid_t pid_ = -1;  // -1 once reaped
  int fd_ = -1;
};

}  // namespace vitrage::service

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_FORKED_ENCODE_H_
