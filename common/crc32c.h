// CRC32C (Castagnoli), as used by the journal and snapshot formats.
// Hardware (SSE4.2 crc32 instruction) when the CPU has it, a table-driven
// fallback otherwise; both give identical results.
#ifndef VITRAGE_COMMON_CRC32C_H_
#define VITRAGE_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vitrage::crc32c {

// Returns the CRC32C of data[0, n) continuing from `init_crc` (the CRC of
// the bytes before it; 0 to start). Extend(Extend(0, a), b) == Value(a + b).
uint32_t Extend(uint32_t init_crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// The portable implementation, exposed so tests can compare both paths.
uint32_t ExtendPortable(uint32_t init_crc, const void* data, size_t n);

// True when Extend uses the SSE4.2 instruction on this machine.
bool HardwareAccelerated();

}  // namespace vitrage::crc32c

#endif  // VITRAGE_COMMON_CRC32C_H_
