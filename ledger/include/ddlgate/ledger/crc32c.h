// CRC32C (Castagnoli, polynomial 0x1EDC6F41), the checksum of RFC 3720 section 12.1,
// protecting every ledger frame against torn writes and bit rot. Debian 12 ships no C/C++
// CRC32C library, so it is implemented here: SSE4.2 when the CPU has it, a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ddlgate::ledger {

// Continues a CRC32C over data; start with crc = 0. crc32c(crc32c(0, a), b) == crc32c(0, a+b).
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t crc32c(std::string_view data) { return crc32c(0, data.data(), data.size()); }

// The table-driven path, exposed so tests can check both paths agree.
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size);

}  // namespace ddlgate::ledger
