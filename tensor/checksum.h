// CRC-32 (the IEEE 802.3 / zlib polynomial, reflected, 0xEDB88320): the checksum ember stores for
// every tensor it writes (nn/safetensors.h) and for the data a checkpoint was trained on
// (training/), so one flipped bit in a weight file or a changed data set is an error instead
// of a silently different result. The same function as Python's zlib.crc32, so the converters
// in tools/ write the same checksums. CRC-32 catches every single-bit, double-bit and odd-count
// error and every burst of up to 32 bits; it is an integrity check, not a defence against
// deliberate tampering. Computed slice-by-8 (eight table lookups per 8 bytes: 1.9 GB/s on one
// core of the development machine, docs/safetensors.md). Tested in tests/test_safetensors.cpp
// (CheckSum*: the standard check value, incremental use, agreement with zlib.crc32).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ember {

// CRC-32 of `bytes` bytes at `data`, continuing from `crc` (the result of the previous part;
// 0 to start), so crc32(b, crc32(a)) == crc32(a followed by b). Two names, not overloads: a
// string literal would otherwise bind to the pointer form with `crc` taken as its length.
uint32_t crc32_bytes(const void* data, size_t bytes, uint32_t crc = 0);
inline uint32_t crc32(std::string_view text, uint32_t crc = 0) {
  return crc32_bytes(text.data(), text.size(), crc);
}

// As 8 lower-case hex digits (the form stored in files).
std::string crc32_hex(uint32_t crc);

}  // namespace ember
