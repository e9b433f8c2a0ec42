// Random and mutated inputs through every parser: nothing may crash (the
// sanitizer build catches memory errors), read outside its input or lose bytes.
#include <gtest/gtest.h>

#include <random>

#include "ddlgate/protocol/frame.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/protocol/startup.h"
#include "test_bytes.h"

using namespace ddlgate::protocol;
using namespace ddlgate::protocol::test;

namespace {

bool inside(std::string_view s, Bytes body) {
  auto* b = reinterpret_cast<const char*>(body.data());
  return s.empty() || (s.data() >= b && s.data() + s.size() <= b + body.size());
}
bool inside(Bytes s, Bytes body) {
  return s.empty() || (s.data() >= body.data() && s.data() + s.size() <= body.data() + body.size());
}

// Runs every decoder on `body`; returns the number of views that point outside it.
int run_decoders(Bytes body) {
  int bad = 0;
  auto check = [&](const auto& view) { bad += inside(view, body) ? 0 : 1; };
  if (auto q = parse_query(body)) check(*q);
  if (auto p = parse_parse(body)) {
    check(p->statement);
    check(p->query);
    if (p->param_types.size() * 4 > body.size()) ++bad;
  }
  if (auto b = parse_bind(body)) {
    check(b->portal);
    check(b->statement);
  }
  for (auto parse : {parse_describe, parse_close}) {
    if (auto t = parse(body)) {
      check(t->name);
      if (t->kind != 'S' && t->kind != 'P') ++bad;
    }
  }
  if (auto e = parse_execute(body)) check(e->portal);
  (void)parse_function_call(body);
  if (auto c = parse_copy_fail(body)) check(*c);
  if (auto s = parse_sasl_initial_response(body)) {
    check(s->mechanism);
    if (s->data) check(*s->data);
  }
  if (auto a = parse_authentication(body)) {
    check(a->payload);
    if (auto m = parse_sasl_mechanisms(a->payload)) {
      for (auto v : *m) check(v);
    }
  }
  if (auto m = parse_sasl_mechanisms(body)) {
    for (auto v : *m) check(v);
  }
  if (auto k = parse_backend_key_data(body)) {
    check(k->secret);
    if (k->secret.size() < 4 || k->secret.size() > 256) ++bad;
  }
  if (auto p = parse_parameter_status(body)) {
    check(p->first);
    check(p->second);
  }
  (void)parse_ready_for_query(body);
  if (auto c = parse_command_complete(body)) check(*c);
  if (auto n = parse_negotiate_protocol_version(body)) {
    for (auto v : n->unrecognized) check(v);
    if (n->unrecognized.size() > body.size()) ++bad;
  }
  if (auto f = parse_error_fields(body)) {
    for (const auto& [c, v] : f->fields) check(v);
    check(f->severity());
    check(f->sqlstate());
  }
  return bad;
}

void check_startup(Bytes data, std::uint32_t max) {
  auto r = decode_startup(data, max);
  ASSERT_LE(r.consumed, data.size());
  switch (r.status) {
    case StartupDecode::Status::complete:
      if (std::holds_alternative<DirectTls>(r.packet)) {
        ASSERT_EQ(data[0], 0x16);
      } else {
        ASSERT_GE(r.consumed, 8u);
        ASSERT_LE(r.consumed, max);
      }
      break;
    case StartupDecode::Status::need_more:
      ASSERT_EQ(r.consumed, 0u);
      if (r.needed) {
        ASSERT_GT(r.needed, data.size());
        ASSERT_LE(r.needed, max);
      } else {
        ASSERT_LT(data.size(), 4u);
      }
      break;
    case StartupDecode::Status::error:
      ASSERT_FALSE(r.error.empty());
      break;
  }
}

void check_scan(Bytes data, std::mt19937& rng, bool expect_whole) {
  FrameScanner s(64);
  for (std::uint8_t t : {'Q', 'P', 'E', 'p', 'R', 'K', 'v', 'S'}) s.inspect(t);
  std::vector<std::size_t> chunks;
  for (std::size_t total = 0; total < data.size();) {
    std::size_t c = 1 + rng() % (rng() % 2 ? 8 : 128);
    chunks.push_back(c);
    total += c;
  }
  auto r = scan_chunks(s, data, chunks);
  ASSERT_TRUE(r.violations.empty()) << r.violations[0];
  ASSERT_LE(r.forwarded.size(), data.size());
  ASSERT_TRUE(std::equal(r.forwarded.begin(), r.forwarded.end(), data.begin()));
  for (const auto& m : r.messages) {
    ASSERT_LE(m.body.size(), 64u);
    ASSERT_EQ(run_decoders(m.body), 0);
  }
  if (expect_whole) {
    ASSERT_FALSE(r.error) << r.error_text;
    ASSERT_EQ(r.forwarded.size(), data.size());
  }
}

std::vector<ByteVec> valid_bodies() {
  std::vector<ByteVec> v;
  ByteVec b;
  put_str(b, "SELECT 1");
  v.push_back(b);
  b.clear();
  put_str(b, "s");
  put_str(b, "SELECT $1");
  put_u16(b, 1);
  put_u32(b, 23);
  v.push_back(b);
  b = {'S'};
  put_str(b, "s");
  v.push_back(b);
  b.clear();
  put_str(b, "SCRAM-SHA-256");
  put_u32(b, 3);
  put_bytes(b, bytes_of("n,,"));
  v.push_back(b);
  b.clear();
  put_u32(b, 10);
  put_str(b, "SCRAM-SHA-256");
  b.push_back(0);
  v.push_back(b);
  b.clear();
  put_u32(b, 7);
  put_u32(b, 1);
  put_u32(b, 2);
  v.push_back(b);
  b.clear();
  put_u32(b, 2);
  put_u32(b, 1);
  put_str(b, "_pq_.x");
  v.push_back(b);
  b = {'S'};
  put_str(b, "ERROR");
  b.push_back('C');
  put_str(b, "42501");
  b.push_back(0);
  v.push_back(b);
  b.clear();
  put_str(b, "c");
  put_u32(b, 0);
  v.push_back(b);
  return v;
}

}  // namespace

TEST(RandomInputs, NoParserMisbehaves) {
  std::mt19937 rng(0xdd1);
  for (int i = 0; i < 200000; ++i) {
    std::size_t len = rng() % 301;
    ByteVec data(len);
    // Mostly small byte values in half of the strings, so that lengths and
    // counts are often plausible. One generator call per four bytes: this
    // runs unoptimised under the sanitizers.
    const std::uint32_t mask = rng() % 2 ? 0x0f0f0fffu : 0xffffffffu;
    for (std::size_t b = 0; b < len; b += 4) {
      std::uint32_t word = rng() & mask;
      for (std::size_t k = 0; k < 4 && b + k < len; ++k) data[b + k] = static_cast<std::uint8_t>(word >> (8 * k));
    }
    Bytes d(data);
    ASSERT_NO_FATAL_FAILURE(check_startup(d, kDefaultMaxStartupPacket));
    ASSERT_NO_FATAL_FAILURE(check_startup(d, 64));
    ASSERT_EQ(run_decoders(d), 0) << i;
    if (i % 16 == 0) {
      ASSERT_NO_FATAL_FAILURE(check_scan(d, rng, false));
    }
  }
}

TEST(RandomInputs, MutatedValidMessages) {
  std::mt19937 rng(20261125);
  auto bodies = valid_bodies();
  const std::uint8_t types[] = {'Q', 'P', 'D', 'p', 'R', 'K', 'v', 'E', 'S', 'd'};
  for (int i = 0; i < 15000; ++i) {
    ByteVec body = bodies[rng() % bodies.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      switch (rng() % 4) {
        case 0: body[rng() % body.size()] = static_cast<std::uint8_t>(rng()); break;
        case 1: body.resize(rng() % body.size()); break;
        case 2: body.insert(body.begin() + static_cast<std::ptrdiff_t>(rng() % (body.size() + 1)), static_cast<std::uint8_t>(rng() % 3)); break;
        case 3: body[rng() % body.size()] = 0; break;
      }
    }
    ASSERT_EQ(run_decoders(body), 0) << i;
    // A stream of well-formed frames around the mutated body must come through whole.
    ByteVec stream;
    int n = 1 + static_cast<int>(rng() % 5);
    for (int m = 0; m < n; ++m) put_bytes(stream, typed(types[rng() % std::size(types)], m == 0 ? body : bodies[rng() % bodies.size()]));
    ASSERT_NO_FATAL_FAILURE(check_scan(stream, rng, true));
    // And a startup packet with it as parameters.
    ByteVec payload;
    put_u16(payload, 3);
    put_u16(payload, static_cast<std::uint16_t>(rng() % 3));
    put_bytes(payload, body);
    auto packet = untyped(payload);
    ASSERT_NO_FATAL_FAILURE(check_startup(packet, kDefaultMaxStartupPacket));
  }
}
