// SHA-256 (FIPS 180-4), self-contained: no locks, no allocation, no global
// state. The snapshot digest is computed in the forked encoder child
// (graph_service/service/forked_encode.h), a copy of one thread of a
// multi-threaded process: OpenSSL's EVP layer may take locks there (provider
// and algorithm fetch caches, its allocator hooks) that another thread held
// at the fork, and a child that waits for one hangs. Parent and child use
// this one implementation, so both always agree on a digest.
//
// Portable C++, and the x86 SHA extensions where the CPU has them (both
// compute the same function; sha256_test checks them against each other
// and OpenSSL). The snapshot digest of a million vertices hashes ~0.7 GB.
#ifndef VITRAGE_COMMON_SHA256_H_
#define VITRAGE_COMMON_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vitrage {

class Sha256 {
 public:
  static constexpr size_t kDigestBytes = 32;
  using Digest = std::array<uint8_t, kDigestBytes>;

  Sha256();

  void Update(const void* data, size_t n);
  void Update(std::string_view data) { Update(data.data(), data.size()); }

  // The digest of everything passed to Update. The object must be Reset
  // before it is used again.
  Digest Finish();
  // Finish() as 64 lowercase hex digits.
  std::string HexDigest();

  void Reset();

  // True when the x86 SHA extensions are used (the CPU has them).
  static bool HardwareAccelerated();
  // Tests: use the portable code even where the CPU has the extensions
  // (false), or the extensions again where it has them (true).
  static void UseHardwareForTest(bool use);

  // One-shot helpers.
  static Digest Of(std::string_view data);
  static std::string HexOf(std::string_view data);

 private:
  void Compress(const uint8_t* block);  // portable
  void CompressBlocks(const uint8_t* data, size_t blocks);

  uint32_t h_[8];
  uint8_t block_[64];
  size_t block_len_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace vitrage

#endif  // VITRAGE_COMMON_SHA256_H_
