// LD_PRELOAD shim for TSan runs against Debian's abseil (see
// deploy/sanitizers.sh thread).
//
// Debian builds libabsl_synchronization without TSan annotations, so TSan
// sees neither absl::Mutex's lock nor its unlock and reports every access
// to absl::Mutex-guarded state from two threads as a race. This shim
// interposes the out-of-line absl::Mutex entry points, forwards to the real
// ones (dlsym RTLD_NEXT) and tells TSan about the happens-before edges:
//   writer unlock / Await release        -> __tsan_release(mu)
//   writer lock / Await return            -> __tsan_acquire(mu), (mu+1)
//   reader lock                           -> __tsan_acquire(mu)
//   reader unlock                         -> __tsan_release(mu+1)
// Readers publish into a second sync address that only writers acquire, so
// two readers are not ordered with each other (a write under a reader lock
// is still reported).
//
// Conditions passed to Await/LockWhen are wrapped to acquire before they
// run. Known limit: absl may evaluate a waiter's Condition in whichever
// thread unlocks; that thread's reads there are covered by a second release
// after the real unlock, which closes the window in practice but not in
// theory.
//
// Built without -fsanitize (so it can be preloaded into every child,
// mysqld and python included): the __tsan_* hooks are weak and skipped in
// processes without TSan.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"

extern "C" void __tsan_acquire(void* addr) __attribute__((weak));
extern "C" void __tsan_release(void* addr) __attribute__((weak));

namespace {

void* Next(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    // abseil loaded later with RTLD_LOCAL (e.g. python's grpc module, run
    // by the tests): not in the global scope RTLD_NEXT searches.
    void* h = dlopen("libabsl_synchronization.so.20220623", RTLD_LAZY);
    if (h != nullptr) f = dlsym(h, name);
  }
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex_shim: %s not found\n", name);
    std::abort();
  }
  return f;
}

char* Addr(absl::Mutex* mu) { return reinterpret_cast<char*>(mu); }

void Acquire(absl::Mutex* mu) {
  if (__tsan_acquire) __tsan_acquire(Addr(mu));
}
void AcquireWriter(absl::Mutex* mu) {
  if (__tsan_acquire) {
    __tsan_acquire(Addr(mu));
    __tsan_acquire(Addr(mu) + 1);
  }
}
void Release(absl::Mutex* mu) {
  if (__tsan_release) __tsan_release(Addr(mu));
}
void ReleaseReader(absl::Mutex* mu) {
  if (__tsan_release) __tsan_release(Addr(mu) + 1);
}

// A waiter's Condition runs inside the real Await/LockWhen with the mutex
// held, before the call returns: acquire first, so its reads are ordered
// after the last holder's writes.
struct Acquiring {
  const absl::Condition* cond;
  absl::Mutex* mu;
  static bool Eval(void* arg) {
    auto* a = static_cast<Acquiring*>(arg);
    AcquireWriter(a->mu);
    // Through dlsym like everything else: this shim also lands in processes
    // whose abseil is not in the global scope.
    static auto eval = reinterpret_cast<bool (*)(const absl::Condition*)>(
        Next("_ZNK4absl7debian39Condition4EvalEv"));
    bool r = eval(a->cond);
    // When false, absl parks the waiter and gives the mutex up inside the
    // library: publish the reads made here for the next holder.
    Release(a->mu);
    return r;
  }
};

// A Condition calling Acquiring::Eval(a), built in `storage`.
const absl::Condition& Wrap(Acquiring* a, void* storage) {
  static auto ctor = reinterpret_cast<void (*)(void*, bool (*)(void*), void*)>(
      Next("_ZN4absl7debian39ConditionC1EPFbPvES2_"));
  ctor(storage, &Acquiring::Eval, a);
  return *static_cast<const absl::Condition*>(storage);
}

#define REAL(type, mangled) static auto real = reinterpret_cast<type>(Next(mangled))

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  AcquireWriter(this);
}

void Mutex::Unlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Release(this);
  real(this);
  Release(this);
}

bool Mutex::TryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  bool ok = real(this);
  if (ok) AcquireWriter(this);
  return ok;
}

void Mutex::ReaderLock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}

void Mutex::ReaderUnlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  ReleaseReader(this);
  real(this);
}

bool Mutex::ReaderTryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  bool ok = real(this);
  if (ok) Acquire(this);
  return ok;
}

void Mutex::LockWhen(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  real(this, wrapped);
  AcquireWriter(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
       "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  bool r = real(this, wrapped, timeout);
  AcquireWriter(this);
  return r;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, absl::Time),
       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  bool r = real(this, wrapped, deadline);
  AcquireWriter(this);
  return r;
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&),
       "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  real(this, wrapped);
  Acquire(this);
}

void Mutex::Await(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  real(this, wrapped);
  AcquireWriter(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
       "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  bool r = real(this, wrapped, timeout);
  AcquireWriter(this);
  return r;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, absl::Time),
       "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  Acquiring a{&cond, this};
  alignas(Condition) char storage[sizeof(Condition)];
  const Condition& wrapped = Wrap(&a, storage);
  bool r = real(this, wrapped, deadline);
  AcquireWriter(this);
  return r;
}

ABSL_NAMESPACE_END
}  // namespace absl
