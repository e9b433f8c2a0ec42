// libFuzzer target: FrameScanner fed in chunks, then every decoder on each
// complete inspected body. Input layout: byte 0 picks the inspected cap and
// which types are inspected, and whether a collect gate is on (each hold then
// admitted, refused or streamed by the hold's body length), bytes 1..8 are chunk
// sizes (used in turn), the rest is the stream. Traps when the forwarded bytes are not exactly the
// stream, a span changes before the next input, or progress stops.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "ddlgate/protocol/frame.h"
#include "ddlgate/protocol/messages.h"

using namespace ddlgate::protocol;

namespace {

void within(std::string_view s, Bytes body) {
  auto* b = reinterpret_cast<const char*>(body.data());
  if (!s.empty() && (s.data() < b || s.data() + s.size() > b + body.size())) __builtin_trap();
}
void within(Bytes s, Bytes body) {
  if (!s.empty() && (s.data() < body.data() || s.data() + s.size() > body.data() + body.size())) __builtin_trap();
}

void decode_all(Bytes body) {
  if (auto q = parse_query(body)) within(*q, body);
  if (auto p = parse_parse(body)) {
    within(p->statement, body);
    within(p->query, body);
  }
  if (auto b = parse_bind(body)) within(b->statement, body);
  if (auto d = parse_describe(body)) within(d->name, body);
  if (auto c = parse_close(body)) within(c->name, body);
  if (auto e = parse_execute(body)) within(e->portal, body);
  (void)parse_function_call(body);
  if (auto f = parse_copy_fail(body)) within(*f, body);
  if (auto s = parse_sasl_initial_response(body)) {
    within(s->mechanism, body);
    if (s->data) within(*s->data, body);
  }
  if (auto a = parse_authentication(body)) {
    within(a->payload, body);
    if (auto m = parse_sasl_mechanisms(a->payload)) {
      for (auto v : *m) within(v, body);
    }
  }
  if (auto k = parse_backend_key_data(body)) {
    within(k->secret, body);
    if (k->secret.size() < 4 || k->secret.size() > kMaxCancelKey) __builtin_trap();
  }
  if (auto p = parse_parameter_status(body)) within(p->second, body);
  (void)parse_ready_for_query(body);
  if (auto c = parse_command_complete(body)) within(*c, body);
  if (auto n = parse_negotiate_protocol_version(body)) {
    for (auto v : n->unrecognized) within(v, body);
  }
  if (auto e = parse_error_fields(body)) {
    for (const auto& [c, v] : e->fields) within(v, body);
    within(e->severity(), body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 9) return 0;
  const std::uint8_t config = data[0];
  const std::uint32_t caps[] = {0, 16, 300, 1 << 16};
  FrameScanner scanner(caps[config & 3]);
  // Frontend or backend types of interest, and sometimes every type.
  const std::string_view fe_types = "QPpBDCEFfX";
  const std::string_view be_types = "RKEvNSZCt";
  for (char t : (config & 4) ? be_types : fe_types) scanner.inspect(static_cast<std::uint8_t>(t));
  if (config & 8) {
    for (int t = 0; t < 256; t += 3) scanner.inspect(static_cast<std::uint8_t>(t));
  }
  scanner.set_collect_gate((config & 32) != 0);
  const std::uint8_t* sizes = data + 1;
  std::span<const std::uint8_t> stream(data + 9, size - 9);

  std::vector<std::uint8_t> forwarded;
  std::vector<std::pair<std::span<const std::uint8_t>, std::vector<std::uint8_t>>> held;
  std::size_t at = 0;
  bool errored = false;
  for (std::size_t i = 0; at < stream.size() && !errored; ++i) {
    std::size_t chunk = std::min<std::size_t>(stream.size() - at, std::size_t{sizes[i % 8]} + 1);
    auto input = stream.subspan(at, chunk);
    at += chunk;
    held.clear();
    for (std::size_t pos = 0; pos < input.size();) {
      auto rest = input.subspan(pos);
      ScanStep step = scanner.next(rest);
      if (step.consumed > rest.size()) __builtin_trap();
      if (step.kind == ScanStep::Kind::error) {
        if (step.error.empty()) __builtin_trap();
        errored = true;
        break;
      }
      if (step.kind == ScanStep::Kind::hold) {
        // What a session does: admit (not over the cap), refuse or stream. Refused and
        // streamed bodies follow without their header, which the caller holds.
        if (step.consumed == 0 || step.starts_message || !scanner.inspects(step.type)) __builtin_trap();
        const int choice = static_cast<int>(step.body_length % 3);
        if (choice == 0 && step.error.empty()) {
          scanner.admit();
        } else {
          auto h = scanner.held_header();
          if (h.size() != 5 || h[0] != step.type) __builtin_trap();
          forwarded.insert(forwarded.end(), h.begin(), h.end());
          if (choice == 2) {
            scanner.stream();
          } else {
            scanner.refuse();
          }
        }
        pos += step.consumed;
        continue;
      }
      if (step.kind == ScanStep::Kind::streamed && step.starts_message) __builtin_trap();
      if (step.consumed == 0) __builtin_trap();
      if (step.kind == ScanStep::Kind::need_more && step.consumed != rest.size()) __builtin_trap();
      if (step.kind == ScanStep::Kind::pass || step.kind == ScanStep::Kind::message ||
          step.kind == ScanStep::Kind::streamed) {
        forwarded.insert(forwarded.end(), step.bytes.begin(), step.bytes.end());
        held.emplace_back(step.bytes, std::vector<std::uint8_t>(step.bytes.begin(), step.bytes.end()));
      }
      if (step.kind == ScanStep::Kind::message) {
        if (!step.starts_message || step.bytes.size() != step.body.size() + 5 ||
            step.body.size() != step.body_length || step.bytes[0] != step.type || !scanner.inspects(step.type)) {
          __builtin_trap();
        }
        decode_all(step.body);
      }
      pos += step.consumed;
    }
    for (const auto& [span, copy] : held) {
      if (!std::equal(span.begin(), span.end(), copy.begin(), copy.end())) __builtin_trap();
    }
    if (config & 16) scanner.trim();
  }
  // What was forwarded is the stream, in order; once the scanner is between
  // messages without an error, it is all of the stream.
  if (forwarded.size() > stream.size() || !std::equal(forwarded.begin(), forwarded.end(), stream.begin())) {
    __builtin_trap();
  }
  if (!errored && !scanner.mid_message() && forwarded.size() != stream.size()) __builtin_trap();
  decode_all(stream);
  return 0;
}
