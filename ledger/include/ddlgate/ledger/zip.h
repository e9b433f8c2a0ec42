// A small writer and a strict reader for "stored" (uncompressed) ZIP archives, the container
// of an evidence pack (docs/evidence.md). Only the subset ddlgate writes is read back: method 0,
// no flags, no extra fields or comments, no ZIP64, no directories, entries laid out one after
// another in central-directory order (PKWARE APPNOTE.TXT 6.3, sections 4.3.7, 4.3.12, 4.3.16).
// No zip library is among the allowed dependencies, and this subset is small enough to check
// completely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/ledger/error.h"

namespace ddlgate::ledger {

// CRC-32 of ISO 3309 / ITU-T V.42 (the one ZIP and gzip use; not the ledger's CRC32C).
std::uint32_t crc32_iso(std::string_view data);

struct ZipEntry {
  std::string name;  // a relative path with '/' separators (see zip_name_problem)
  std::string data;
};

// Why name cannot be an entry name, or empty when it can: at most 255 bytes of printable
// ASCII, relative (no leading '/'), no '\\', no empty, "." or ".." component, no trailing '/'.
std::string zip_name_problem(std::string_view name);

// The archive holding entries in order (a fixed timestamp, 1980-01-01 00:00, so the bytes
// depend only on the entries). Fails on a bad or duplicate name, or sizes beyond 32-bit ZIP.
Result<std::string> write_zip(const std::vector<ZipEntry>& entries);

struct ZipLimits {
  std::size_t max_entries = 10000;
  std::uint64_t max_entry_size = 512ull * 1024 * 1024;
};

// One entry of a read archive: data points into the archive's bytes.
struct ZipEntryView {
  std::string name;
  std::string_view data;
};

// Reads an archive written by write_zip (or any archive inside the same subset): every offset
// and size is checked against the bytes before use, every CRC-32 is checked, names are checked
// with zip_name_problem and must be unique. The error names the entry or offset at fault.
Result<std::vector<ZipEntryView>> read_zip(std::string_view bytes, const ZipLimits& limits = {});

}  // namespace ddlgate::ledger
