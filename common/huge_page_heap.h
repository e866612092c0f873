// Lets the kernel back a process's heap with 2 MiB pages from the first
// touch (jemalloc only).
//
// Why: a recovering vitrage-graph fills a fresh process with its graph, and
// on a virtual machine each 4 KiB page fault is expensive
// (docs/performance.md). jemalloc's
// `thp:always` asks for huge pages (MADV_HUGEPAGE) on the regions it maps,
// but it grows its address space in steps of 2, 2.5, 3, 3.5, 4 MiB... that
// land wherever mmap puts them, so most steps hold no whole 2 MiB-aligned
// window and are faulted in 4 KiB at a time: most of a small failover's
// page faults were such heap pages (docs/performance.md).
//
// ReserveHugePageHeap() makes jemalloc take one large region at once: it
// allocates `bytes` from arena 0 without touching them, frees them and
// purges the arena. The region stays mapped (jemalloc retains its address
// space) and MADV_HUGEPAGE, and later extents are carved from it in address
// order, so consecutive allocations share huge pages and each 2 MiB costs
// one fault. Nothing is touched here: the reservation is address space, not
// memory (with strict overcommit, vm.overcommit_memory=2, it is charged).
// Whether the kernel gives huge pages is still its call
// (/sys/kernel/mm/transparent_hugepage, prctl PR_SET_THP_DISABLE).
//
// Without jemalloc in the process (sanitizer builds) this does nothing and
// says so. Call it early in main(), before other threads start.
#ifndef VITRAGE_COMMON_HUGE_PAGE_HEAP_H_
#define VITRAGE_COMMON_HUGE_PAGE_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace vitrage {

struct HugePageHeap {
  bool reserved = false;
  std::string detail;   // what happened, in words for the log
  uintptr_t begin = 0;  // the region jemalloc now carves extents from
  uintptr_t end = 0;
};

// 256 MiB of address space: room for the largest graph the benchmarks
// recover (its peak: docs/performance.md; beyond it jemalloc grows as
// usual).
inline constexpr size_t kHugePageHeapBytes = size_t{256} << 20;

// Whether jemalloc is this process's allocator.
bool JemallocPresent();

HugePageHeap ReserveHugePageHeap(size_t bytes = kHugePageHeapBytes);

// jemalloc's view of the heap, for the log: bytes the program holds, the
// pages those lie in, and the memory resident for the heap (freed pages
// stay resident until jemalloc's decay returns them).
std::string HeapSummary();

// From here on the kernel gives this process 4 KiB pages only (prctl
// PR_SET_THP_DISABLE; the huge pages it has stay until written after a
// fork). For after a start-up that wanted huge pages: each new one is
// zeroed (and maybe compacted for) in the fault that first touches it, and
// after a fork the copy-on-write of a huge page splits it first. Returns
// false, with errno set, when the kernel refuses.
bool StopNewHugePages();

}  // namespace vitrage

#endif  // VITRAGE_COMMON_HUGE_PAGE_HEAP_H_
