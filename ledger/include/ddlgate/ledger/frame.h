// The on-disk frame around one record payload (docs/ledger.md, "Frame layout"):
//   magic "DGLR" | sequence u64 LE | flags+length u32 LE | CRC32C u32 LE | payload
// Bit 31 of the length word marks the last frame of a group-commit batch; recovery uses it
// to tell a torn tail (after the last durable batch) from damage inside a durable batch.
// The CRC covers the sequence, the length word and the payload, so a frame moved,
// renumbered or cut is detected without trusting any other frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ddlgate::ledger {

inline constexpr char kFrameMagic[4] = {'D', 'G', 'L', 'R'};
// A batch seal: the same frame layout, sequence field = tree size after the batch, payload = a
// signed checkpoint note of that tree; always the batch end; not a record (no leaf, no seq).
inline constexpr char kSealMagic[4] = {'D', 'G', 'L', 'S'};
inline constexpr std::size_t kFrameHeaderSize = 20;
// No record is larger; a length above this is damage, never an allocation.
inline constexpr std::uint32_t kMaxPayloadSize = 16u * 1024 * 1024;
inline constexpr std::uint32_t kBatchEndFlag = 0x80000000u;

// Appends the frame for payload (which must be at most kMaxPayloadSize) to out.
void append_frame(std::string& out, std::uint64_t seq, std::string_view payload, bool batch_end);
// Appends a batch seal (docs/ledger.md, "Batch seals"): the signed note for tree_size, batch end set.
void append_seal_frame(std::string& out, std::uint64_t tree_size, std::string_view note);

enum class FrameStatus {
  ok,
  truncated,     // fewer bytes than the header or the announced length
  bad_magic,     // the first four bytes are neither "DGLR" nor "DGLS"
  bad_length,    // the length is above kMaxPayloadSize
  bad_checksum,  // the CRC32C does not match
};

// One decoded frame; payload points into the input buffer.
struct FrameView {
  std::uint64_t seq = 0;
  std::string_view payload;
  std::size_t size = 0;  // header + payload
  bool batch_end = false;
  bool seal = false;  // a batch seal ("DGLS"): seq is the tree size, payload a signed note
};

// Decodes the frame at the start of data. Checks the length against the cap before using it.
FrameStatus decode_frame(std::string_view data, FrameView& out);

// Words for a FrameStatus, for error messages.
const char* to_string(FrameStatus s);

}  // namespace ddlgate::ledger
