#include "common/huge_page_heap.h"

#include <sys/prctl.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

// jemalloc's public API, declared weak so that this file links without
// jemalloc (the symbols are then null). Flag values from jemalloc.h.
extern "C" {
void* mallocx(size_t size, int flags) __attribute__((weak));
void dallocx(void* ptr, int flags) __attribute__((weak));
int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));
}

namespace vitrage {
namespace {
constexpr int kMallocxArena0 = (0 + 1) << 20;      // MALLOCX_ARENA(0)
constexpr int kMallocxTcacheNone = (-1 + 2) << 8;  // MALLOCX_TCACHE_NONE
}  // namespace

bool JemallocPresent() { return mallocx != nullptr && dallocx != nullptr && mallctl != nullptr; }

std::string HeapSummary() {
  if (!JemallocPresent()) return "heap: not jemalloc";
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  mallctl("epoch", &epoch, &len, &epoch, len);  // refreshes the stats
  auto mib = [](const char* name) {
    size_t v = 0, n = sizeof(v);
    return mallctl(name, &v, &n, nullptr, 0) == 0 ? v / double(1 << 20) : -1.0;
  };
  char buf[160];
  snprintf(buf, sizeof buf, "heap: %.0f MiB in use, %.0f MiB in pages of it, %.0f MiB resident",
           mib("stats.allocated"), mib("stats.active"), mib("stats.resident"));
  return buf;
}

HugePageHeap ReserveHugePageHeap(size_t bytes) {
  HugePageHeap heap;
  if (!JemallocPresent()) {
    heap.detail = "jemalloc is not this process's allocator; heap left as it is";
    return heap;
  }
  // Arena 0 explicitly: with the default oversize_threshold a request this
  // large would go to jemalloc's separate huge arena, whose extents small
  // allocations never use. No thread cache, so the free reaches the arena.
  void* p = mallocx(bytes, kMallocxArena0 | kMallocxTcacheNone);
  if (p == nullptr) {
    heap.detail = absl::StrCat("could not reserve ", bytes >> 20,
                               " MiB of address space for the heap; heap left as it is");
    return heap;
  }
  dallocx(p, kMallocxTcacheNone);
  // Purged, the freed region is "retained" address space, which requests
  // of any size may split (a "dirty" extent is reused only for requests of
  // at least 1/64 of its size, opt.lg_extent_max_active_fit). Nothing was
  // touched, so there is nothing to give back: this is cheap.
  if (int e = mallctl("arena.0.purge", nullptr, nullptr, nullptr, 0); e != 0) {
    heap.detail = absl::StrCat("mallctl arena.0.purge: ", std::strerror(e),
                               "; the reserved heap is used only for large requests");
    return heap;
  }
  heap.reserved = true;
  heap.begin = reinterpret_cast<uintptr_t>(p);
  heap.end = heap.begin + bytes;
  heap.detail = absl::StrCat("jemalloc arena 0 carves its extents from a ", bytes >> 20,
                             " MiB region reserved at 0x", absl::Hex(heap.begin),
                             " (huge pages as the kernel allows)");
  return heap;
}

bool StopNewHugePages() { return ::prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0; }

}  // namespace vitrage
