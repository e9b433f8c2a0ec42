// A small writer and a strict reader for "stored" (uncompressed) ZIP archives, the container
// of an evidence pack (docs/evidence.md). Only the subset ddlgate writes is read back: method 0,
// no flags, no extra fields or comments, no ZIP64, no directories, entries laid out one after
// another in central-directory order (PKWARE APPNOTE.TXT 6.3, sections 4.3.7, 4.3.12, 4.3.16).
// No zip library is among the allowed dependencies, and this subset is small enough to check
// completely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/ledger/error.h"

namespace ddlgate::ledger {

// CRC-32 of ISO 3309 / ITU-T V.42 (the one ZIP and gzip use; not the ledger's CRC32C).
std::uint32_t crc32_iso(std::string_view data);
// The same, over data that comes in pieces: start from crc32_iso({}) (0) and pass each piece.
std::uint32_t crc32_iso_update(std::uint32_t crc, std::string_view data);

struct ZipEntry {
  std::string name;  // a relative path with '/' separators (see zip_name_problem)
  std::string data;
};

// Why name cannot be an entry name, or empty when it can: at most 255 bytes of printable
// ASCII, relative (no leading '/'), no '\\', no empty, "." or ".." component, no trailing '/'.
std::string zip_name_problem(std::string_view name);

// Writes an archive as its entries come: each entry's local header, then its data in pieces, and
// at the end the central directory (which the writer holds: 46 bytes and the name per entry). No
// data descriptor: once an entry ends, its CRC-32 and sizes are written into its local header in
// place, so the bytes are exactly write_zip's for the same entries, and read_zip (strict: no
// flags) reads them as it read the packs written before. Where the bytes go is the subclass's.
class ZipStreamWriter {
 public:
  virtual ~ZipStreamWriter() = default;
  // Starts the entry name (the one before must have ended). Fails on a bad or duplicate name.
  Status begin_entry(const std::string& name);
  // Appends to the entry begun. Fails past 4 GiB (no ZIP64).
  Status write(std::string_view data);
  Status end_entry();
  // begin_entry, write, end_entry.
  Status add(const std::string& name, std::string_view data);
  // Writes the central directory and the end record; nothing may be written after.
  Status finish();
  // Bytes written so far (the archive's size once finished).
  std::uint64_t size() const { return size_; }
  // Fails any write that would make the archive larger than max_bytes (below 4 GiB), or an
  // entry larger than max_entry_bytes, saying why the limit is there.
  void limit(std::uint64_t max_bytes, std::uint64_t max_entry_bytes, std::string why) {
    max_size_ = max_bytes;
    max_entry_size_ = max_entry_bytes;
    limit_why_ = std::move(why);
  }

 protected:
  // Appends bytes at the end of what was written.
  virtual Status put(std::string_view bytes) = 0;
  // Overwrites bytes written before at offset at (a local header's CRC and sizes).
  virtual Status patch(std::uint64_t at, std::string_view bytes) = 0;

 private:
  Status emit(std::string_view bytes);
  std::string central_;
  std::set<std::string, std::less<>> names_;
  std::size_t entries_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t max_size_ = 0xffffffffu - 1, max_entry_size_ = 0xffffffffu - 1;
  std::string limit_why_ = "no ZIP64";
  bool open_ = false, finished_ = false;
  std::uint64_t entry_offset_ = 0, entry_size_ = 0;
  std::uint32_t entry_crc_ = 0;
  std::string entry_name_;
};

// A ZipStreamWriter into memory.
class ZipStringWriter final : public ZipStreamWriter {
 public:
  // The archive (after finish).
  std::string take() { return std::move(out_); }

 protected:
  Status put(std::string_view bytes) override;
  Status patch(std::uint64_t at, std::string_view bytes) override;

 private:
  std::string out_;
};

// A ZipStreamWriter into a new file (created, or truncated), through a 64 KiB buffer: what it
// holds does not grow with the archive. commit flushes and fsyncs; the destructor closes the file
// (a caller that fails removes it).
class ZipFileWriter final : public ZipStreamWriter {
 public:
  static Result<std::unique_ptr<ZipFileWriter>> create(const std::filesystem::path& path);
  ~ZipFileWriter() override;
  ZipFileWriter(const ZipFileWriter&) = delete;
  ZipFileWriter& operator=(const ZipFileWriter&) = delete;
  // After finish: the buffer written out and the file synced to disk.
  Status commit();

 protected:
  Status put(std::string_view bytes) override;
  Status patch(std::uint64_t at, std::string_view bytes) override;

 private:
  ZipFileWriter(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  Status drain();
  int fd_;
  std::filesystem::path path_;
  std::string buffer_;
  std::uint64_t flushed_ = 0;  // file offset of buffer_'s first byte
};

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
