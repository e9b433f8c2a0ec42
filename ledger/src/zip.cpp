#include "ddlgate/ledger/zip.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <set>
#include <system_error>

namespace ddlgate::ledger {
namespace {

// PKWARE APPNOTE.TXT 4.3.7 (local file header), 4.3.12 (central directory file header),
// 4.3.16 (end of central directory record).
constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::size_t kLocalSize = 30;
constexpr std::size_t kCentralSize = 46;
constexpr std::size_t kEndSize = 22;
constexpr std::uint16_t kVersionNeeded = 10;      // 1.0: stored entries
constexpr std::uint16_t kVersionMadeBy = 0x031e;  // Unix, 3.0 (so the mode below is read)
constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01
constexpr std::uint32_t kFileMode = 0100644u << 16;        // regular file, rw-r--r--

const std::array<std::uint32_t, 256>& crc_table() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}
void put32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint16_t get16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) | static_cast<unsigned char>(b[at + 1]) << 8);
}
std::uint32_t get32(std::string_view b, std::size_t at) {
  return static_cast<std::uint32_t>(get16(b, at)) | static_cast<std::uint32_t>(get16(b, at + 2)) << 16;
}

}  // namespace

std::uint32_t crc32_iso_update(std::uint32_t crc, std::string_view data) {
  const auto& t = crc_table();
  std::uint32_t c = crc ^ 0xffffffffu;
  for (unsigned char b : data) c = t[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::uint32_t crc32_iso(std::string_view data) { return crc32_iso_update(0, data); }

std::string zip_name_problem(std::string_view name) {
  if (name.empty()) return "empty entry name";
  if (name.size() > 255) return "entry name longer than 255 bytes";
  for (char c : name) {
    if (c < 0x21 || c > 0x7e) return "entry name with a byte that is not printable ASCII";
    if (c == '\\') return "entry name with a backslash";
  }
  if (name.front() == '/') return "absolute entry name";
  if (name.back() == '/') return "directory entry";
  std::size_t start = 0;
  while (start <= name.size()) {
    auto end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto part = name.substr(start, end - start);
    if (part.empty()) return "entry name with an empty component";
    if (part == "." || part == "..") return "entry name with a \".\" or \"..\" component";
    start = end + 1;
  }
  return {};
}

Status ZipStreamWriter::emit(std::string_view bytes) {
  if (bytes.size() > max_size_ || size_ > max_size_ - bytes.size()) {
    return Error{"archive larger than " + std::to_string(max_size_) + " bytes (" + limit_why_ + ")"};
  }
  if (auto st = put(bytes); !st) return st;
  size_ += bytes.size();
  return Ok{};
}

Status ZipStreamWriter::begin_entry(const std::string& name) {
  if (finished_) return Error{"internal: ZIP entry after the end"};
  if (open_) return Error{"internal: ZIP entry " + name + " begun before " + entry_name_ + " ended"};
  if (auto p = zip_name_problem(name); !p.empty()) return Error{p + ": " + name};
  if (entries_ >= 0xffff) return Error{"too many entries for a ZIP archive without ZIP64"};
  if (!names_.insert(name).second) return Error{"duplicate entry name: " + name};
  if (size_ + kLocalSize + name.size() >= 0xffffffffu) return Error{"archive larger than 4 GiB (no ZIP64): " + name};
  entry_offset_ = size_;
  entry_size_ = 0;
  entry_crc_ = 0;
  entry_name_ = name;
  open_ = true;
  std::string h;
  put32(h, kLocalSig);
  put16(h, kVersionNeeded);
  put16(h, 0);  // flags
  put16(h, 0);  // method: stored
  put16(h, 0);  // time 00:00:00
  put16(h, kDosDate);
  put32(h, 0);  // CRC-32 and the two sizes: written in place by end_entry
  put32(h, 0);
  put32(h, 0);
  put16(h, static_cast<std::uint16_t>(name.size()));
  put16(h, 0);  // extra field length
  h += name;
  return emit(h);
}

Status ZipStreamWriter::write(std::string_view data) {
  if (!open_) return Error{"internal: ZIP data outside an entry"};
  if (data.size() >= 0xffffffffu - entry_size_ || size_ + data.size() >= 0xffffffffu || entry_size_ > max_entry_size_) {
    return Error{"archive larger than 4 GiB (no ZIP64): " + entry_name_};
  }
  if (data.size() > max_entry_size_ - entry_size_) {
    return Error{"entry " + entry_name_ + " larger than " + std::to_string(max_entry_size_) + " bytes (" + limit_why_ + ")"};
  }
  entry_crc_ = crc32_iso_update(entry_crc_, data);
  entry_size_ += data.size();
  return emit(data);
}

Status ZipStreamWriter::end_entry() {
  if (!open_) return Error{"internal: ZIP entry ended twice"};
  open_ = false;
  const auto size = static_cast<std::uint32_t>(entry_size_);
  std::string fixed;
  put32(fixed, entry_crc_);
  put32(fixed, size);
  put32(fixed, size);
  if (auto st = patch(entry_offset_ + 14, fixed); !st) return st;
  put32(central_, kCentralSig);
  put16(central_, kVersionMadeBy);
  put16(central_, kVersionNeeded);
  put16(central_, 0);
  put16(central_, 0);
  put16(central_, 0);
  put16(central_, kDosDate);
  central_ += fixed;
  put16(central_, static_cast<std::uint16_t>(entry_name_.size()));
  put16(central_, 0);  // extra
  put16(central_, 0);  // comment
  put16(central_, 0);  // disk number start
  put16(central_, 0);  // internal attributes
  put32(central_, kFileMode);
  put32(central_, static_cast<std::uint32_t>(entry_offset_));
  central_ += entry_name_;
  ++entries_;
  return Ok{};
}

Status ZipStreamWriter::add(const std::string& name, std::string_view data) {
  if (auto st = begin_entry(name); !st) return st;
  if (auto st = write(data); !st) return st;
  return end_entry();
}

Status ZipStreamWriter::finish() {
  if (open_) return Error{"internal: ZIP archive ended inside entry " + entry_name_};
  if (finished_) return Error{"internal: ZIP archive ended twice"};
  finished_ = true;
  if (size_ + central_.size() + kEndSize >= 0xffffffffu) return Error{"archive larger than 4 GiB (no ZIP64)"};
  const auto cd_offset = static_cast<std::uint32_t>(size_);
  const auto cd_size = static_cast<std::uint32_t>(central_.size());
  std::string tail = std::move(central_);
  central_.clear();
  put32(tail, kEndSig);
  put16(tail, 0);
  put16(tail, 0);
  put16(tail, static_cast<std::uint16_t>(entries_));
  put16(tail, static_cast<std::uint16_t>(entries_));
  put32(tail, cd_size);
  put32(tail, cd_offset);
  put16(tail, 0);  // comment length
  return emit(tail);
}

Status ZipStringWriter::put(std::string_view bytes) {
  out_ += bytes;
  return Ok{};
}

Status ZipStringWriter::patch(std::uint64_t at, std::string_view bytes) {
  if (at > out_.size() || out_.size() - at < bytes.size()) return Error{"internal: ZIP patch past the end"};
  out_.replace(at, bytes.size(), bytes);
  return Ok{};
}

namespace {
constexpr std::size_t kFileBuffer = 64 * 1024;

std::error_code last_error() { return {errno, std::generic_category()}; }

// All of bytes at offset at (pwrite may write less than asked).
std::optional<std::error_code> pwrite_all(int fd, std::string_view bytes, std::uint64_t at) {
  while (!bytes.empty()) {
    ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? last_error() : std::make_error_code(std::errc::io_error);
    bytes.remove_prefix(static_cast<std::size_t>(n));
    at += static_cast<std::uint64_t>(n);
  }
  return std::nullopt;
}
}  // namespace

Result<std::unique_ptr<ZipFileWriter>> ZipFileWriter::create(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"cannot create", path.string(), -1, last_error()};
  auto w = std::unique_ptr<ZipFileWriter>(new ZipFileWriter(fd, path));
  w->buffer_.reserve(kFileBuffer);
  return w;
}

ZipFileWriter::~ZipFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status ZipFileWriter::drain() {
  if (auto ec = pwrite_all(fd_, buffer_, flushed_)) return Error{"cannot write", path_.string(), -1, *ec};
  flushed_ += buffer_.size();
  buffer_.clear();
  return Ok{};
}

Status ZipFileWriter::put(std::string_view bytes) {
  if (buffer_.size() + bytes.size() > kFileBuffer) {
    if (auto st = drain(); !st) return st;
    // A large piece goes out directly rather than through the buffer.
    if (bytes.size() >= kFileBuffer) {
      if (auto ec = pwrite_all(fd_, bytes, flushed_)) return Error{"cannot write", path_.string(), -1, *ec};
      flushed_ += bytes.size();
      return Ok{};
    }
  }
  buffer_ += bytes;
  return Ok{};
}

Status ZipFileWriter::patch(std::uint64_t at, std::string_view bytes) {
  // The part still in the buffer is changed there, the rest in the file.
  std::uint64_t end = at + bytes.size();
  if (end > flushed_ + buffer_.size()) return Error{"internal: ZIP patch past the end", path_.string()};
  if (at < flushed_) {
    const auto n = static_cast<std::size_t>(std::min(end, flushed_) - at);
    if (auto ec = pwrite_all(fd_, bytes.substr(0, n), at)) return Error{"cannot write", path_.string(), -1, *ec};
    bytes.remove_prefix(n);
    at += n;
  }
  if (!bytes.empty()) buffer_.replace(static_cast<std::size_t>(at - flushed_), bytes.size(), bytes);
  return Ok{};
}

Status ZipFileWriter::commit() {
  if (auto st = drain(); !st) return st;
  if (::fsync(fd_) != 0) return Error{"cannot sync", path_.string(), -1, last_error()};
  if (::close(fd_) != 0) {
    fd_ = -1;
    return Error{"cannot close", path_.string(), -1, last_error()};
  }
  fd_ = -1;
  return Ok{};
}

Result<std::string> write_zip(const std::vector<ZipEntry>& entries) {
  ZipStringWriter w;
  for (const auto& e : entries) {
    if (auto st = w.add(e.name, e.data); !st) return st.error();
  }
  if (auto st = w.finish(); !st) return st.error();
  return w.take();
}

Result<std::vector<ZipEntryView>> read_zip(std::string_view b, const ZipLimits& limits) {
  auto fail = [](std::string why, std::size_t at) { return Error{std::move(why), {}, static_cast<std::int64_t>(at)}; };
  // The end record is the last 22 bytes: an archive comment (or anything after the record) is
  // refused rather than searched through.
  if (b.size() < kEndSize) return fail("not a ZIP archive: shorter than its end record", 0);
  const std::size_t end_at = b.size() - kEndSize;
  if (get32(b, end_at) != kEndSig) return fail("no ZIP end record at the end (or an archive comment)", end_at);
  if (get16(b, end_at + 4) != 0 || get16(b, end_at + 6) != 0) return fail("multi-disk ZIP archive", end_at);
  const std::size_t count = get16(b, end_at + 8);
  if (get16(b, end_at + 10) != count) return fail("ZIP end record: entry counts disagree", end_at);
  if (get16(b, end_at + 20) != 0) return fail("ZIP archive comment", end_at);
  if (count > limits.max_entries) {
    return fail(std::to_string(count) + " entries, more than the limit of " + std::to_string(limits.max_entries), end_at);
  }
  const std::uint64_t cd_size = get32(b, end_at + 12), cd_offset = get32(b, end_at + 16);
  if (cd_offset + cd_size != end_at) return fail("ZIP central directory does not end at the end record", end_at);
  if (cd_size < count * kCentralSize) return fail("ZIP central directory too short for its entries", end_at);

  std::vector<ZipEntryView> out;
  out.reserve(count);  // count is capped above
  std::set<std::string, std::less<>> names;
  std::size_t at = cd_offset;
  std::uint64_t next_local = 0;  // entries must follow one another from offset 0
  for (std::size_t i = 0; i < count; ++i) {
    if (end_at - at < kCentralSize) return fail("ZIP central directory entry " + std::to_string(i) + " cut short", at);
    if (get32(b, at) != kCentralSig) return fail("bad ZIP central directory signature", at);
    const std::uint16_t flags = get16(b, at + 8), method = get16(b, at + 10);
    const std::uint32_t crc = get32(b, at + 16), csize = get32(b, at + 20), usize = get32(b, at + 24);
    const std::size_t name_len = get16(b, at + 28), extra_len = get16(b, at + 30), comment_len = get16(b, at + 32);
    const std::uint32_t disk = get16(b, at + 34), local = get32(b, at + 42);
    if (end_at - at - kCentralSize < name_len) return fail("ZIP entry name runs past the central directory", at);
    std::string name(b.substr(at + kCentralSize, name_len));
    if (auto p = zip_name_problem(name); !p.empty()) return fail(p + ": \"" + name + "\"", at);
    if (method != 0) return fail(name + ": compressed entry (only stored entries are read)", at);
    if (flags != 0) return fail(name + ": ZIP flags set (encryption, data descriptor or other)", at);
    if (extra_len != 0 || comment_len != 0) return fail(name + ": ZIP extra field or entry comment", at);
    if (disk != 0) return fail(name + ": multi-disk ZIP entry", at);
    if (csize != usize) return fail(name + ": stored entry whose sizes disagree", at);
    if (usize > limits.max_entry_size) {
      return fail(name + ": " + std::to_string(usize) + " bytes, more than the limit of " +
                      std::to_string(limits.max_entry_size),
                  at);
    }
    if (local != next_local) return fail(name + ": entry not where the previous one ends (overlap or gap)", at);
    if (!names.insert(name).second) return fail("duplicate entry name: " + name, at);
    // The local header must repeat what the central directory says, and the data must end
    // before the central directory starts.
    if (cd_offset < kLocalSize || local > cd_offset - kLocalSize) return fail(name + ": local header past the data", at);
    if (get32(b, local) != kLocalSig) return fail(name + ": bad local header signature", local);
    if (get16(b, local + 6) != 0 || get16(b, local + 8) != 0 || get32(b, local + 14) != crc ||
        get32(b, local + 18) != csize || get32(b, local + 22) != usize || get16(b, local + 26) != name_len ||
        get16(b, local + 28) != 0) {
      return fail(name + ": local header disagrees with the central directory", local);
    }
    const std::uint64_t data_at = std::uint64_t{local} + kLocalSize + name_len;
    if (data_at > cd_offset || cd_offset - data_at < usize) return fail(name + ": data runs past its space", local);
    if (b.substr(local + kLocalSize, name_len) != name) return fail(name + ": local header names another entry", local);
    auto data = b.substr(data_at, usize);
    if (crc32_iso(data) != crc) return fail(name + ": CRC-32 mismatch", local);
    out.push_back({std::move(name), data});
    next_local = data_at + usize;
    at += kCentralSize + name_len;
  }
  if (at != end_at) return fail("bytes after the last central directory entry", at);
  if (next_local != cd_offset) return fail("bytes between the last entry and the central directory", next_local);
  return out;
}

}  // namespace ddlgate::ledger
