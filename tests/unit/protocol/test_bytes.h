// Helpers shared by the protocol tests: hand-built packets (independent of the
// module's own encoders) and a driver that feeds a FrameScanner in chunks.
#pragma once

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ddlgate/protocol/frame.h"

namespace ddlgate::protocol::test {

using ByteVec = std::vector<std::uint8_t>;

inline ByteVec bytes_of(std::string_view s) { return ByteVec(s.begin(), s.end()); }

inline void put_u32(ByteVec& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
inline void put_u16(ByteVec& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put_str(ByteVec& out, std::string_view s) {  // with its NUL
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
}
inline void put_bytes(ByteVec& out, std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }

// An untyped startup packet: length word, then `payload`.
inline ByteVec untyped(const ByteVec& payload) {
  ByteVec out;
  put_u32(out, static_cast<std::uint32_t>(payload.size() + 4));
  put_bytes(out, payload);
  return out;
}

inline ByteVec startup_packet(std::uint16_t major, std::uint16_t minor,
                              const std::vector<std::pair<std::string, std::string>>& params) {
  ByteVec p;
  put_u16(p, major);
  put_u16(p, minor);
  for (const auto& [k, v] : params) {
    put_str(p, k);
    put_str(p, v);
  }
  p.push_back(0);
  return untyped(p);
}

inline ByteVec cancel_packet(std::uint32_t pid, std::size_t key_len) {
  ByteVec p;
  put_u32(p, 80877102);
  put_u32(p, pid);
  for (std::size_t i = 0; i < key_len; ++i) p.push_back(static_cast<std::uint8_t>(i * 7 + 1));
  return untyped(p);
}

// A typed message: type byte, length word counting itself, body.
inline ByteVec typed(std::uint8_t type, const ByteVec& body) {
  ByteVec out{type};
  put_u32(out, static_cast<std::uint32_t>(body.size() + 4));
  put_bytes(out, body);
  return out;
}

inline ByteVec concat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) put_bytes(out, p);
  return out;
}

struct SeenMessage {
  std::uint8_t type = 0;
  ByteVec bytes;
  ByteVec body;
};

// What a scanner reported over a whole stream.
struct Scanned {
  ByteVec forwarded;  // the concatenation of all pass/message bytes
  std::vector<SeenMessage> messages;
  std::vector<std::pair<std::uint8_t, std::uint32_t>> starts;  // type and body length of each new message
  bool error = false;
  std::string error_text;
  std::vector<std::string> violations;  // broken invariants, with where
};

// Feeds `stream` to `scanner` in chunks of the given sizes (the rest, if any,
// as one last chunk) and checks the step invariants on the way: consumed never
// exceeds the input, every call on non-empty input makes progress, need_more
// takes all of the input, and every span of an input still holds the same bytes
// after the last step of that input.
inline Scanned scan_chunks(FrameScanner& scanner, std::span<const std::uint8_t> stream,
                           const std::vector<std::size_t>& chunks) {
  Scanned out;
  std::size_t at = 0;
  auto feed = [&](std::span<const std::uint8_t> input) {
    std::vector<std::pair<std::span<const std::uint8_t>, ByteVec>> held;
    std::size_t pos = 0;
    while (pos < input.size()) {
      auto rest = input.subspan(pos);
      ScanStep step = scanner.next(rest);
      if (step.consumed > rest.size()) {
        out.violations.push_back("consumed more than the input at offset " + std::to_string(at + pos));
        return false;
      }
      if (step.kind == ScanStep::Kind::error) {
        out.error = true;
        out.error_text = step.error;
        return false;
      }
      if (step.consumed == 0) {
        out.violations.push_back("no progress at offset " + std::to_string(at + pos));
        return false;
      }
      if (step.kind == ScanStep::Kind::need_more && step.consumed != rest.size()) {
        out.violations.push_back("need_more left input unconsumed at offset " + std::to_string(at + pos));
        return false;
      }
      if (step.starts_message) out.starts.emplace_back(step.type, step.body_length);
      if (step.kind == ScanStep::Kind::pass || step.kind == ScanStep::Kind::message) {
        out.forwarded.insert(out.forwarded.end(), step.bytes.begin(), step.bytes.end());
        held.emplace_back(step.bytes, ByteVec(step.bytes.begin(), step.bytes.end()));
      }
      if (step.kind == ScanStep::Kind::message) {
        if (step.bytes.size() != step.body.size() + 5 || step.body_length != step.body.size() ||
            step.bytes.empty() || step.bytes[0] != step.type ||
            (!step.body.empty() && step.body.data() != step.bytes.data() + 5)) {
          out.violations.push_back("inconsistent message step at offset " + std::to_string(at + pos));
        }
        out.messages.push_back(SeenMessage{step.type, ByteVec(step.bytes.begin(), step.bytes.end()),
                                           ByteVec(step.body.begin(), step.body.end())});
      }
      pos += step.consumed;
    }
    // An empty call must not change anything or report progress.
    ScanStep idle = scanner.next({});
    if (idle.kind != ScanStep::Kind::need_more || idle.consumed != 0) {
      out.violations.push_back("a call with no input did something at offset " + std::to_string(at + pos));
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
      if (!std::equal(held[i].first.begin(), held[i].first.end(), held[i].second.begin(), held[i].second.end())) {
        out.violations.push_back("span " + std::to_string(i) + " of the input ending at offset " +
                                 std::to_string(at + pos) + " changed before the next input");
      }
    }
    return true;
  };
  for (std::size_t size : chunks) {
    if (at >= stream.size()) break;
    std::size_t n = std::min(size, stream.size() - at);
    if (!feed(stream.subspan(at, n))) return out;
    at += n;
  }
  if (at < stream.size()) feed(stream.subspan(at));
  return out;
}

}  // namespace ddlgate::protocol::test
