#include "ddlgate/ledger/frame.h"

#include <algorithm>
#include <cstring>

#include "ddlgate/ledger/crc32c.h"

namespace ddlgate::ledger {
namespace {

void put_le(char* p, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

namespace {

void put_frame(std::string& out, const char* magic, std::uint64_t seq, std::string_view payload, bool batch_end) {
  char header[kFrameHeaderSize];
  std::memcpy(header, magic, 4);
  put_le(header + 4, seq, 8);
  put_le(header + 12, payload.size() | (batch_end ? kBatchEndFlag : 0u), 4);
  std::uint32_t crc = crc32c(0, header + 4, 12);
  crc = crc32c(crc, payload.data(), payload.size());
  put_le(header + 16, crc, 4);
  out.append(header, kFrameHeaderSize);
  out.append(payload);
}

bool magic_prefix(std::string_view data, const char* magic) {
  return std::memcmp(data.data(), magic, std::min<std::size_t>(4, data.size())) == 0;
}

}  // namespace

void append_frame(std::string& out, std::uint64_t seq, std::string_view payload, bool batch_end) {
  put_frame(out, kFrameMagic, seq, payload, batch_end);
}

void append_seal_frame(std::string& out, std::uint64_t tree_size, std::string_view note) {
  put_frame(out, kSealMagic, tree_size, note, true);
}

FrameStatus decode_frame(std::string_view data, FrameView& out) {
  if (data.size() < kFrameHeaderSize) {
    // Even a partial magic is reported as such, so that garbage is not mistaken for a torn frame.
    if (!magic_prefix(data, kFrameMagic) && !magic_prefix(data, kSealMagic)) return FrameStatus::bad_magic;
    return FrameStatus::truncated;
  }
  bool seal = std::memcmp(data.data(), kSealMagic, 4) == 0;
  if (!seal && std::memcmp(data.data(), kFrameMagic, 4) != 0) return FrameStatus::bad_magic;
  std::uint64_t seq = get_le(data.data() + 4, 8);
  auto word = static_cast<std::uint32_t>(get_le(data.data() + 12, 4));
  std::uint32_t length = word & ~kBatchEndFlag;
  if (length > kMaxPayloadSize) return FrameStatus::bad_length;
  if (data.size() - kFrameHeaderSize < length) return FrameStatus::truncated;
  auto stored = static_cast<std::uint32_t>(get_le(data.data() + 16, 4));
  std::uint32_t crc = crc32c(0, data.data() + 4, 12);
  crc = crc32c(crc, data.data() + kFrameHeaderSize, length);
  if (crc != stored) return FrameStatus::bad_checksum;
  out.seq = seq;
  out.payload = data.substr(kFrameHeaderSize, length);
  out.size = kFrameHeaderSize + length;
  out.batch_end = (word & kBatchEndFlag) != 0;
  out.seal = seal;
  return FrameStatus::ok;
}

const char* to_string(FrameStatus s) {
  switch (s) {
    case FrameStatus::ok: return "ok";
    case FrameStatus::truncated: return "truncated frame";
    case FrameStatus::bad_magic: return "bad frame magic";
    case FrameStatus::bad_length: return "frame length above the 16 MiB cap";
    case FrameStatus::bad_checksum: return "CRC32C mismatch";
  }
  return "unknown";
}

}  // namespace ddlgate::ledger
