// Message framing after startup: every message is a type byte, a 4-byte length
// that counts itself, and a body. The scanner never touches a socket: the
// caller feeds it the bytes it read and forwards what it is told to.
// https://www.postgresql.org/docs/15/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ddlgate::protocol {

// One step of scanning a byte stream into messages.
struct ScanStep {
  enum class Kind {
    pass,       // `bytes` belong to a message that is not inspected: forward them as they are
    message,    // an inspected message is complete: `bytes` is all of it, `body` its body
    need_more,  // the input was taken into an internal buffer; nothing to forward yet
    // The rare kinds last, so that a caller tells them from the rest in one comparison.
    error,      // the stream is malformed (`error` says why); the connection must end
    hold,       // (with a collect gate) an inspected message is about to be collected: `type`
                // and `body_length` say what; call admit(), refuse() or stream() before next()
    streamed,   // `bytes` are part of the body of a message the caller chose to stream()
  };
  Kind kind = Kind::need_more;
  std::size_t consumed = 0;             // bytes of the input this step used
  std::span<const std::uint8_t> bytes;  // pass / message: what to forward
  std::span<const std::uint8_t> body;   // message: the body (after type and length)
  bool starts_message = false;          // pass / message: this step began a new message
  std::uint8_t type = 0;                // the message's type when starts_message or message
  std::uint32_t body_length = 0;        // its body length (length field minus 4)
  std::string error;
};

// Splits one direction of a session into messages. Bodies of the message types
// marked for inspection are collected whole (zero-copy when they arrived in one
// read) up to a cap checked before any allocation; all other messages stream
// through without being buffered, up to PostgreSQL's own 1 GiB limit.
class FrameScanner {
 public:
  explicit FrameScanner(std::uint32_t max_inspected_body);

  // Marks a message type whose body must be available whole to the caller.
  void inspect(std::uint8_t type, bool on = true) { inspected_[type] = on; }
  bool inspects(std::uint8_t type) const { return inspected_[type]; }
  void set_max_inspected_body(std::uint32_t max) { max_inspected_ = max; }
  // With a gate, an inspected message that must be collected across inputs (an allocation
  // of its size) is first reported as a `hold` step, so that the caller can account for
  // the memory (a budget shared by sessions). A message whole in one input never is.
  // One over the cap is a hold step too, with `error` set: the caller may refuse() it (and
  // stream its body) or end the connection; admit() does nothing for it.
  void set_collect_gate(bool on) { gate_ = on; }
  // After a hold: collect the message (allocates its size) ...
  void admit();
  // ... or do not: its body streams on as pass steps (starts_message false), for the
  // caller to drop.
  void refuse();
  // ... or let its body go on unbuffered as `streamed` steps (starts_message false), for the
  // caller to read as they pass; the caller forwards the header (held_header()).
  void stream();
  // The header of the message a hold step reported (type byte and length).
  std::span<const std::uint8_t> held_header() const { return held_header_; }

  // Consumes input until one step can be reported; call again with the rest.
  // The spans of a step stay valid while the caller works through the rest of
  // the same input (so contiguous pass/message spans can be written at once);
  // they may be reused once a new input is fed.
  ScanStep next(std::span<const std::uint8_t> input);

  // Frees collect buffers grown past 64 KiB by one large message, so an idle
  // session does not keep them; call between inputs.
  void trim();

  // True when a message has begun but not ended (for clean-shutdown decisions).
  bool mid_message() const { return state_ != State::header || header_have_ != 0; }
  // True while a message is being collected (or waits for admit() / refuse()).
  bool collecting() const { return state_ == State::collect || state_ == State::held; }

 private:
  enum class State { header, skip, collect, held };
  void start_collect(const std::uint8_t* hdr, std::uint32_t body_len);
  // next() inside a message: skip, collect or held.
  ScanStep continue_message(std::span<const std::uint8_t> input);
  // The rare ends of next(), out of line so that its common path stays short.
  [[gnu::cold, gnu::noinline]] void over_cap(ScanStep& step, const std::uint8_t* hdr, std::size_t pos);
  [[gnu::noinline]] void hold(ScanStep& step, const std::uint8_t* hdr, std::size_t pos, bool over_cap);

  std::array<bool, 256> inspected_{};
  std::uint32_t max_inspected_;
  bool gate_ = false;
  std::array<std::uint8_t, 5> held_header_{};  // held: the header of the message waiting
  std::uint32_t held_body_ = 0;                // held: its body length
  bool held_over_cap_ = false;                 // held: over max_inspected_ (never admitted)
  State state_ = State::header;
  std::array<std::uint8_t, 5> header_{};          // a header split across inputs, so far
  std::array<std::uint8_t, 5> emitted_header_{};  // the split header handed to the caller
  std::size_t header_have_ = 0;
  std::uint32_t skip_left_ = 0;  // skip: body bytes still to pass
  ScanStep::Kind skip_kind_ = ScanStep::Kind::pass;  // skip: pass, or streamed after stream()
  // Two buffers in turn: a message completed at the start of an input stays
  // valid while the next one begins collecting at that input's end.
  std::array<std::vector<std::uint8_t>, 2> collect_;
  int collecting_ = 0;              // index of the buffer being filled
  std::size_t collect_total_ = 0;  // collect: full message size
};

}  // namespace ddlgate::protocol
