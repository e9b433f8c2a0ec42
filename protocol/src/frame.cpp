#include "ddlgate/protocol/frame.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "byte_io.h"
#include "ddlgate/protocol/codes.h"

namespace ddlgate::protocol {
namespace {

// A type byte for an error text: 'Q' when printable, else 0x00 (a raw control
// byte or NUL would end up in the proxy's log).
std::string describe_type(std::uint8_t type) {
  if (type >= 0x21 && type <= 0x7e) return std::string{'\'', static_cast<char>(type), '\''};
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", static_cast<unsigned>(type));
  return text;
}

}  // namespace

FrameScanner::FrameScanner(std::uint32_t max_inspected_body) : max_inspected_(max_inspected_body) {}

void FrameScanner::trim() {
  constexpr std::size_t kKeep = 64 * 1024;
  for (int i = 0; i < 2; ++i) {
    if (state_ == State::collect && i == collecting_) continue;
    if (collect_[i].capacity() > kKeep) std::vector<std::uint8_t>().swap(collect_[i]);
  }
}

ScanStep FrameScanner::continue_message(std::span<const std::uint8_t> input) {
  ScanStep step;
  if (state_ == State::held) {
    // The caller has not called admit() or refuse(): nothing moves.
    step.kind = ScanStep::Kind::hold;
    step.type = held_header_[0];
    step.body_length = held_body_;
    return step;
  }

  if (state_ == State::skip) {
    auto n = static_cast<std::uint32_t>(std::min<std::size_t>(skip_left_, input.size()));
    skip_left_ -= n;
    if (skip_left_ == 0) state_ = State::header;
    step.kind = n ? skip_kind_ : ScanStep::Kind::need_more;
    if (skip_left_ == 0) skip_kind_ = ScanStep::Kind::pass;
    step.consumed = n;
    step.bytes = input.first(n);
    return step;
  }

  // State::collect.
  auto& buf = collect_[collecting_];
  std::size_t n = std::min(collect_total_ - buf.size(), input.size());
  buf.insert(buf.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
  step.consumed = n;
  if (buf.size() < collect_total_) return step;  // need_more
  state_ = State::header;
  collecting_ ^= 1;
  step.kind = ScanStep::Kind::message;
  // A message step is always the whole message, from its first byte.
  step.starts_message = true;
  step.bytes = buf;
  step.body = std::span<const std::uint8_t>(buf).subspan(5);
  step.type = buf[0];
  step.body_length = static_cast<std::uint32_t>(collect_total_ - 5);
  return step;
}

ScanStep FrameScanner::next(std::span<const std::uint8_t> input) {
  // Inside a message (its body skipped, collected or held): one test on the common path.
  if (state_ != State::header) return continue_message(input);
  ScanStep step;
  std::size_t pos = 0;

  // State::header. Fast path: the whole header is in the input.
  const std::uint8_t* hdr;
  bool split_header = false;
  if (header_have_ == 0 && input.size() >= 5) {
    hdr = input.data();
    pos = 5;
  } else {
    std::size_t n = std::min<std::size_t>(5 - header_have_, input.size());
    // An empty span's data() may be null, and memcpy from null is undefined even for 0 bytes.
    if (n > 0) std::memcpy(header_.data() + header_have_, input.data(), n);
    header_have_ += n;
    pos = n;
    if (header_have_ < 5) {
      step.consumed = pos;
      return step;  // need_more
    }
    hdr = header_.data();
    split_header = true;
    header_have_ = 0;
  }

  const std::uint8_t type = hdr[0];
  const std::uint32_t length = detail::load_u32(hdr + 1);
  // "Don't believe nonsense": the length counts itself, so below 4 is invalid,
  // and PostgreSQL checks the length word itself against its limit
  // (pq_getmessage: len < 4 || len > PQ_LARGE_MESSAGE_LIMIT), so above 1 GiB - 1 is too.
  if (length < 4 || length > kMaxMessageLength) {
    step.kind = ScanStep::Kind::error;
    step.error = "invalid message length " + std::to_string(length) + " for message type " + describe_type(type);
    return step;
  }
  const std::uint32_t body_len = length - 4;
  step.type = type;
  step.body_length = body_len;
  step.starts_message = true;

  if (!inspected_[type]) {
    std::size_t avail = input.size() - pos;
    auto n = static_cast<std::uint32_t>(std::min<std::size_t>(body_len, avail));
    if (n < body_len) {
      state_ = State::skip;
      skip_left_ = body_len - n;
    }
    step.kind = ScanStep::Kind::pass;
    step.consumed = pos + n;
    if (split_header) {
      // The header came partly from an earlier read: hand back our copy of it
      // and let the body follow in the next step.
      step.consumed = pos;
      emitted_header_ = header_;
      step.bytes = std::span<const std::uint8_t>(emitted_header_.data(), 5);
      if (body_len > 0) {
        state_ = State::skip;
        skip_left_ = body_len;
      } else {
        state_ = State::header;
      }
      return step;
    }
    step.bytes = input.subspan(pos - 5, 5 + n);
    return step;
  }

  if (body_len > max_inspected_) [[unlikely]] {
    over_cap(step, hdr, pos);
    return step;
  }
  if (!split_header && input.size() - pos >= body_len) {
    // Zero-copy: the whole message is in this input.
    step.kind = ScanStep::Kind::message;
    step.consumed = pos + body_len;
    step.bytes = input.subspan(pos - 5, 5 + body_len);
    step.body = input.subspan(pos, body_len);
    return step;
  }
  if (gate_ && body_len > 0) {
    // The caller decides whether this allocation may happen (admit / refuse). (A header
    // split across inputs with no body is complete now: collected below, 5 bytes.)
    hold(step, hdr, pos, false);
    return step;
  }
  // Collect across reads. The cap was checked above, before this allocation.
  start_collect(hdr, body_len);
  ScanStep rest = next(input.subspan(pos));
  rest.consumed += pos;
  return rest;
}

void FrameScanner::over_cap(ScanStep& step, const std::uint8_t* hdr, std::size_t pos) {
  step.kind = ScanStep::Kind::error;
  step.error = "message of type " + describe_type(step.type) + " is " + std::to_string(step.body_length) +
               " bytes, over the limit of " + std::to_string(max_inspected_) + " for messages that must be inspected";
  // With a gate the caller may still stream it (refuse()); it must not admit() it.
  if (gate_) hold(step, hdr, pos, true);
}

void FrameScanner::hold(ScanStep& step, const std::uint8_t* hdr, std::size_t pos, bool over_cap) {
  std::memcpy(held_header_.data(), hdr, 5);
  held_body_ = step.body_length;
  held_over_cap_ = over_cap;
  state_ = State::held;
  step.kind = ScanStep::Kind::hold;
  step.starts_message = false;  // it starts when admitted (a message step) or refused
  step.consumed = pos;
}

void FrameScanner::start_collect(const std::uint8_t* hdr, std::uint32_t body_len) {
  auto& buf = collect_[collecting_];
  buf.clear();
  collect_total_ = std::size_t{5} + body_len;
  buf.reserve(collect_total_);
  buf.insert(buf.end(), hdr, hdr + 5);
  state_ = State::collect;
}

void FrameScanner::admit() {
  if (state_ != State::held || held_over_cap_) return;  // the cap holds: never collected
  start_collect(held_header_.data(), held_body_);
}

void FrameScanner::refuse() {
  if (state_ != State::held) return;
  skip_left_ = held_body_;
  state_ = held_body_ ? State::skip : State::header;
}

void FrameScanner::stream() {
  if (state_ != State::held) return;
  refuse();
  if (state_ == State::skip) skip_kind_ = ScanStep::Kind::streamed;
}

}  // namespace ddlgate::protocol
