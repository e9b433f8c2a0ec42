#include "ddlgate/protocol/frame.h"

#include <gtest/gtest.h>

#include <random>

#include "ddlgate/protocol/codes.h"
#include "alloc_probe.h"
#include "test_bytes.h"

using namespace ddlgate::protocol;
using namespace ddlgate::protocol::test;
using Kind = ScanStep::Kind;


namespace {

constexpr std::uint32_t kCap = 1 << 20;

FrameScanner frontend_scanner(std::uint32_t cap = kCap) {
  FrameScanner s(cap);
  for (std::uint8_t t : {fe::kQuery, fe::kParse, fe::kPassword, fe::kTerminate}) s.inspect(t);
  return s;
}

ByteVec query(std::string_view sql) {
  ByteVec body;
  put_str(body, sql);
  return typed('Q', body);
}

ByteVec filler(std::size_t n, std::uint8_t seed = 1) {
  ByteVec b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 31);
  return b;
}

void expect_clean(const Scanned& s) {
  for (const auto& v : s.violations) ADD_FAILURE() << v;
  EXPECT_FALSE(s.error) << s.error_text;
}

}  // namespace

TEST(FrameScanner, RejectsLengthBelowFour) {
  for (std::uint32_t len = 0; len < 4; ++len) {
    for (bool inspected : {false, true}) {
      FrameScanner s(kCap);
      s.inspect('Q', inspected);
      ByteVec h{'Q'};
      put_u32(h, len);
      auto step = s.next(h);
      EXPECT_EQ(step.kind, Kind::error) << len;
      EXPECT_FALSE(step.error.empty());
    }
  }
}

TEST(FrameScanner, RejectsLengthAboveOneGiBMinusOne) {
  for (std::uint32_t len : {0x40000000u, 0x40000003u, 0x7fffffffu, 0xffffffffu}) {
    FrameScanner s(kCap);
    ByteVec h{'d'};
    put_u32(h, len);
    EXPECT_EQ(s.next(h).kind, Kind::error) << len;
  }
}

TEST(FrameScanner, StreamsUninspectedMessageOfMaximumLengthWithoutBuffering) {
  FrameScanner s(kCap);
  ByteVec h{'d'};
  put_u32(h, 0x3fffffff);  // 1 GiB - 1, and the length word counts itself
  auto part = filler(4096);
  ByteVec input = concat({h, part});
  reset_largest_alloc();
  auto step = s.next(input);
  ASSERT_EQ(step.kind, Kind::pass) << step.error;
  EXPECT_TRUE(step.starts_message);
  EXPECT_EQ(step.type, 'd');
  EXPECT_EQ(step.body_length, 0x3fffffffu - 4);
  EXPECT_EQ(step.consumed, input.size());
  EXPECT_EQ(step.bytes.data(), input.data());
  EXPECT_EQ(step.bytes.size(), input.size());
  for (int i = 0; i < 100; ++i) {
    auto more = s.next(part);
    ASSERT_EQ(more.kind, Kind::pass);
    EXPECT_FALSE(more.starts_message);
    EXPECT_EQ(more.consumed, part.size());
  }
  EXPECT_LT(largest_alloc(), std::size_t{1} << 16);
  EXPECT_TRUE(s.mid_message());
}

TEST(FrameScanner, RejectsInspectedMessageOverTheCapBeforeAllocating) {
  auto s = frontend_scanner(1000);
  for (std::uint32_t body : {1001u, 0x3fffffffu - 4, 500000000u}) {
    ByteVec h{'Q'};
    put_u32(h, body + 4);
    reset_largest_alloc();
    auto step = s.next(h);
    EXPECT_EQ(step.kind, Kind::error) << body;
    EXPECT_LT(largest_alloc(), std::size_t{4096}) << body;
  }
  // At the cap is fine, and it is collected across reads.
  auto ok = frontend_scanner(1000);
  ByteVec body(999, 'a');
  body.push_back(0);
  auto msg = typed('Q', body);
  auto r = scan_chunks(ok, msg, {3, 500});
  expect_clean(r);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, body);
}

TEST(FrameScanner, SplitHeaderOverTheCapIsRejected) {
  auto s = frontend_scanner(10);
  ByteVec h{'Q'};
  put_u32(h, 100);
  EXPECT_EQ(s.next(std::span(h).first(2)).kind, Kind::need_more);
  EXPECT_EQ(s.next(std::span(h).subspan(2)).kind, Kind::error);
}

TEST(FrameScanner, WholeMessageInOneReadIsZeroCopy) {
  auto s = frontend_scanner();
  auto q = query("SELECT 1");
  auto step = s.next(q);
  ASSERT_EQ(step.kind, Kind::message);
  EXPECT_TRUE(step.starts_message);
  EXPECT_EQ(step.type, 'Q');
  EXPECT_EQ(step.body_length, 9u);
  EXPECT_EQ(step.consumed, q.size());
  EXPECT_EQ(step.bytes.data(), q.data());
  EXPECT_EQ(step.body.data(), q.data() + 5);
  EXPECT_EQ(step.body.size(), 9u);
  EXPECT_FALSE(s.mid_message());
}

TEST(FrameScanner, ByteAtATime) {
  auto stream = concat({query("SELECT 1"), typed('S', {}), typed('d', filler(7)), typed('X', {})});
  auto s = frontend_scanner();
  auto r = scan_chunks(s, stream, std::vector<std::size_t>(stream.size(), 1));
  expect_clean(r);
  EXPECT_EQ(r.forwarded, stream);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].type, 'Q');
  EXPECT_EQ(r.messages[0].bytes, query("SELECT 1"));
  EXPECT_EQ(r.messages[1].type, 'X');
  EXPECT_TRUE(r.messages[1].body.empty());
  using P = std::pair<std::uint8_t, std::uint32_t>;
  EXPECT_EQ(r.starts, (std::vector<P>{{'Q', 9}, {'S', 0}, {'d', 7}, {'X', 0}}));
  EXPECT_FALSE(s.mid_message());
}

TEST(FrameScanner, ManyMessagesInOneRead) {
  auto stream = concat({query("BEGIN"), query("CREATE TABLE t (a int)"), typed('S', {}), typed('H', {}),
                        typed('B', filler(20)), typed('E', filler(5)), query("COMMIT"), typed('X', {})});
  auto s = frontend_scanner();
  auto r = scan_chunks(s, stream, {stream.size()});
  expect_clean(r);
  EXPECT_EQ(r.forwarded, stream);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1].body, bytes_of(std::string_view("CREATE TABLE t (a int)\0", 23)));
  EXPECT_EQ(r.starts.size(), 8u);
}

TEST(FrameScanner, ZeroLengthBodiesInspectedOrNot) {
  for (bool inspected : {false, true}) {
    FrameScanner s(kCap);
    for (std::uint8_t t : {'S', 'H', 'X'}) s.inspect(t, inspected);
    auto stream = concat({typed('S', {}), typed('H', {}), typed('X', {})});
    for (std::size_t first = 0; first <= stream.size(); ++first) {
      auto r = scan_chunks(s, stream, {first});
      expect_clean(r);
      EXPECT_EQ(r.forwarded, stream) << first;
      EXPECT_EQ(r.messages.size(), inspected ? 3u : 0u) << first;
      ASSERT_EQ(r.starts.size(), 3u);
      for (const auto& st : r.starts) EXPECT_EQ(st.second, 0u);
      EXPECT_FALSE(s.mid_message());
    }
  }
}

TEST(FrameScanner, HeaderSplitAtEveryOffset) {
  // Two messages; cut the input once at every offset, then at every pair of offsets.
  for (bool inspected : {false, true}) {
    auto stream = concat({typed('P', filler(11)), typed('D', filler(3, 9))});
    for (std::size_t a = 0; a <= stream.size(); ++a) {
      for (std::size_t b = a; b <= stream.size(); ++b) {
        FrameScanner s(kCap);
        s.inspect('P', inspected);
        s.inspect('D', inspected);
        auto r = scan_chunks(s, stream, {a, b - a});
        expect_clean(r);
        ASSERT_EQ(r.forwarded, stream) << a << "," << b;
        using P = std::pair<std::uint8_t, std::uint32_t>;
        ASSERT_EQ(r.starts, (std::vector<P>{{'P', 11}, {'D', 3}}));
        if (inspected) {
          ASSERT_EQ(r.messages.size(), 2u);
          EXPECT_EQ(r.messages[0].body, filler(11));
          EXPECT_EQ(r.messages[1].body, filler(3, 9));
        }
      }
    }
  }
}

TEST(FrameScanner, BodySplitAcrossManyReads) {
  ByteVec body = filler(100000);
  body.back() = 0;
  auto msg = typed('Q', body);
  std::vector<std::size_t> chunks(msg.size() / 97 + 1, 97);
  for (bool inspected : {false, true}) {
    FrameScanner s(kCap);
    s.inspect('Q', inspected);
    auto r = scan_chunks(s, msg, chunks);
    expect_clean(r);
    EXPECT_EQ(r.forwarded, msg);
    EXPECT_EQ(r.messages.size(), inspected ? 1u : 0u);
    if (inspected) {
      EXPECT_EQ(r.messages[0].body, body);
    }
  }
}

TEST(FrameScanner, ReassemblesEveryChunkingOfASmallStream) {
  // 15 bytes: 2^14 ways to cut them into reads.
  auto stream = concat({typed('Q', {}), typed('S', {}), typed('d', {})});
  ASSERT_EQ(stream.size(), 15u);
  const std::size_t cuts = stream.size() - 1;
  for (int mode = 0; mode < 3; ++mode) {
    for (std::uint32_t mask = 0; mask < (1u << cuts); ++mask) {
      std::vector<std::size_t> chunks;
      std::size_t last = 0;
      for (std::size_t i = 0; i < cuts; ++i) {
        if (mask & (1u << i)) {
          chunks.push_back(i + 1 - last);
          last = i + 1;
        }
      }
      FrameScanner s(64);
      if (mode >= 1) s.inspect('Q');
      if (mode == 2) {
        s.inspect('S');
        s.inspect('d');
      }
      auto r = scan_chunks(s, stream, chunks);
      if (!r.violations.empty() || r.error || r.forwarded != stream) {
        FAIL() << "mode " << mode << " mask " << mask << ": "
               << (r.violations.empty() ? r.error_text : r.violations[0]);
      }
      ASSERT_EQ(r.messages.size(), mode == 0 ? 0u : mode == 1 ? 1u : 3u);
      ASSERT_EQ(r.starts.size(), 3u);
    }
  }
}

TEST(FrameScanner, ReassemblesRandomChunkingsOfALongStream) {
  std::mt19937 rng(20261125);
  const std::uint8_t types[] = {'Q', 'P', 'B', 'E', 'S', 'H', 'd', 'D', 'p', 'X', 'C'};
  ByteVec stream;
  std::vector<std::pair<std::uint8_t, ByteVec>> sent;
  for (int i = 0; i < 300; ++i) {
    std::uint8_t t = types[rng() % std::size(types)];
    std::size_t len = rng() % 4 == 0 ? 0 : rng() % 3 == 0 ? rng() % 3000 : rng() % 40;
    ByteVec body = filler(len, static_cast<std::uint8_t>(i));
    put_bytes(stream, typed(t, body));
    sent.emplace_back(t, body);
  }
  for (int round = 0; round < 100; ++round) {
    std::vector<std::size_t> chunks;
    std::size_t max_chunk = round % 4 == 0 ? 3 : round % 4 == 1 ? 20 : round % 4 == 2 ? 700 : 9000;
    for (std::size_t total = 0; total < stream.size();) {
      std::size_t c = 1 + rng() % max_chunk;
      chunks.push_back(c);
      total += c;
    }
    FrameScanner s(2500);
    for (std::uint8_t t : {'Q', 'P', 'p', 'X', 'C'}) s.inspect(t);
    auto r = scan_chunks(s, stream, chunks);
    for (const auto& v : r.violations) FAIL() << "round " << round << ": " << v;
    std::size_t over_cap = 0;
    for (const auto& [t, b] : sent) {
      if (s.inspects(t) && b.size() > 2500) ++over_cap;
    }
    if (over_cap) {
      EXPECT_TRUE(r.error);
      continue;
    }
    ASSERT_FALSE(r.error) << r.error_text;
    ASSERT_EQ(r.forwarded, stream) << round;
    std::size_t m = 0;
    for (const auto& [t, b] : sent) {
      if (!s.inspects(t)) continue;
      ASSERT_LT(m, r.messages.size());
      EXPECT_EQ(r.messages[m].type, t);
      EXPECT_EQ(r.messages[m].body, b);
      ++m;
    }
    EXPECT_EQ(m, r.messages.size());
    ASSERT_EQ(r.starts.size(), sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(r.starts[i].first, sent[i].first);
      EXPECT_EQ(r.starts[i].second, sent[i].second.size());
    }
  }
}

TEST(FrameScanner, SpansOfOneInputStayValidAcrossItsSteps) {
  // input 1: [an inspected message collected across reads, head][first 2 bytes of a header]
  // input 2: [tail of the split header][its body][an inspected complete message][start of another inspected message]
  for (bool split_inspected : {false, true}) {
    auto s = frontend_scanner();
    s.inspect('d', split_inspected);
    auto first = query("SELECT 'first'");
    auto split = typed('d', filler(30));
    auto complete = query("SELECT 'complete'");
    auto started = query("SELECT 'started but not finished'");

    ByteVec in1 = concat({first, ByteVec(split.begin(), split.begin() + 2)});
    ByteVec in2 = concat({ByteVec(split.begin() + 2, split.end()), complete, ByteVec(started.begin(), started.begin() + 12)});
    ByteVec in3(started.begin() + 12, started.end());

    std::vector<std::pair<std::span<const std::uint8_t>, ByteVec>> held;
    auto run = [&](const ByteVec& in) {
      held.clear();
      ByteVec out;
      for (std::size_t pos = 0; pos < in.size();) {
        auto step = s.next(std::span(in).subspan(pos));
        EXPECT_NE(step.kind, Kind::error) << step.error;
        if (step.kind == Kind::error) return out;
        if (step.kind == Kind::pass || step.kind == Kind::message) {
          held.emplace_back(step.bytes, ByteVec(step.bytes.begin(), step.bytes.end()));
          if (step.kind == Kind::message) held.emplace_back(step.body, ByteVec(step.body.begin(), step.body.end()));
          put_bytes(out, step.bytes);
        }
        pos += step.consumed;
      }
      for (std::size_t i = 0; i < held.size(); ++i) {
        EXPECT_TRUE(std::equal(held[i].first.begin(), held[i].first.end(), held[i].second.begin(),
                               held[i].second.end()))
            << "span " << i << " changed";
      }
      return out;
    };
    ByteVec out = run(in1);
    EXPECT_EQ(out, first);
    out = run(in2);
    EXPECT_EQ(out, concat({split, complete}));
    EXPECT_GE(held.size(), 3u);
    EXPECT_TRUE(s.mid_message());
    out = run(in3);
    EXPECT_EQ(out, started);
    EXPECT_FALSE(s.mid_message());
  }
}

TEST(FrameScanner, CollectedMessageStaysValidWhileTheNextIsCollected) {
  // input 2 completes a collected message and starts collecting another one:
  // the first must not be overwritten by the second.
  auto s = frontend_scanner();
  auto a = query(std::string(300, 'a'));
  auto b = query(std::string(300, 'b'));
  ByteVec in1(a.begin(), a.begin() + 100);
  ByteVec in2 = concat({ByteVec(a.begin() + 100, a.end()), ByteVec(b.begin(), b.begin() + 200)});
  ByteVec in3(b.begin() + 200, b.end());
  EXPECT_EQ(s.next(in1).kind, Kind::need_more);
  auto done = s.next(in2);
  ASSERT_EQ(done.kind, Kind::message);
  ByteVec copy(done.bytes.begin(), done.bytes.end());
  EXPECT_EQ(copy, a);
  auto started = s.next(std::span(in2).subspan(done.consumed));
  EXPECT_EQ(started.kind, Kind::need_more);
  EXPECT_TRUE(std::equal(done.bytes.begin(), done.bytes.end(), a.begin(), a.end()));
  auto second = s.next(in3);
  ASSERT_EQ(second.kind, Kind::message);
  EXPECT_TRUE(std::equal(second.bytes.begin(), second.bytes.end(), b.begin(), b.end()));
}

TEST(FrameScanner, EmptyInputInEveryStateDoesNothing) {
  auto s = frontend_scanner();
  auto check = [&](const char* where) {
    auto step = s.next({});
    EXPECT_EQ(step.kind, Kind::need_more) << where;
    EXPECT_EQ(step.consumed, 0u) << where;
  };
  check("header");
  ByteVec h{'d', 0, 0};
  s.next(h);
  check("split header");
  ByteVec rest{0, 14};
  auto header = s.next(rest);
  EXPECT_EQ(header.kind, Kind::pass);
  EXPECT_EQ(header.consumed, 2u);
  EXPECT_EQ(ByteVec(header.bytes.begin(), header.bytes.end()), (ByteVec{'d', 0, 0, 0, 14}));
  check("skip");
  auto body = filler(10);
  EXPECT_EQ(s.next(std::span(body).first(3)).kind, Kind::pass);
  check("skip, later");
  EXPECT_EQ(s.next(std::span(body).subspan(3)).consumed, 7u);
  auto q = query("SELECT 1");
  s.next(std::span(q).first(7));
  check("collect");
  EXPECT_EQ(s.next(std::span(q).subspan(7)).kind, Kind::message);
  check("header again");
}

TEST(FrameScanner, InspectCanBeToggled) {
  FrameScanner s(100);
  EXPECT_FALSE(s.inspects('Q'));
  s.inspect('Q');
  EXPECT_TRUE(s.inspects('Q'));
  s.inspect('Q', false);
  EXPECT_FALSE(s.inspects('Q'));
  auto q = query("SELECT 1");
  EXPECT_EQ(s.next(q).kind, Kind::pass);
  s.set_max_inspected_body(4);
  s.inspect('Q');
  EXPECT_EQ(s.next(q).kind, Kind::error);
}

TEST(FrameScanner, TrimBetweenInputsKeepsWorking) {
  auto s = frontend_scanner(4 << 20);
  ByteVec big_body(1 << 20, 'x');
  big_body.back() = 0;
  auto big = typed('Q', big_body);
  auto small = query("SELECT 1");
  // A large collected message, then trim, then more messages (also a large one
  // that is mid-collection when trim is called).
  auto r = scan_chunks(s, big, {1000});
  expect_clean(r);
  ASSERT_EQ(r.messages.size(), 1u);
  s.trim();
  auto r2 = scan_chunks(s, concat({small, big}), {small.size() + 10});
  expect_clean(r2);
  ASSERT_EQ(r2.messages.size(), 2u);
  EXPECT_EQ(r2.messages[1].body, big_body);

  auto s2 = frontend_scanner(4 << 20);
  EXPECT_EQ(s2.next(std::span(big).first(5000)).kind, Kind::need_more);
  s2.trim();
  auto step = s2.next(std::span(big).subspan(5000));
  ASSERT_EQ(step.kind, Kind::message);
  EXPECT_TRUE(std::equal(step.bytes.begin(), step.bytes.end(), big.begin(), big.end()));
  s2.trim();
  auto again = s2.next(small);
  ASSERT_EQ(again.kind, Kind::message);
}

TEST(FrameScanner, MidMessage) {
  auto s = frontend_scanner();
  EXPECT_FALSE(s.mid_message());
  auto q = query("SELECT 1");
  s.next(std::span(q).first(1));
  EXPECT_TRUE(s.mid_message());
  s.next(std::span(q).subspan(1));
  EXPECT_FALSE(s.mid_message());
  auto d = typed('d', filler(10));
  s.next(std::span(d).first(8));
  EXPECT_TRUE(s.mid_message());
  s.next(std::span(d).subspan(8));
  EXPECT_FALSE(s.mid_message());
}

TEST(FrameScanner, GateHoldsACollectBeforeAllocatingAndAdmitCollects) {
  auto s = frontend_scanner();
  s.set_collect_gate(true);
  ByteVec body = filler(100000);
  body.back() = 0;
  auto msg = typed('Q', body);
  reset_largest_alloc();
  auto hold = s.next(std::span(msg).first(1000));
  ASSERT_EQ(hold.kind, Kind::hold);
  EXPECT_EQ(hold.type, 'Q');
  EXPECT_EQ(hold.body_length, body.size());
  EXPECT_FALSE(hold.starts_message);
  EXPECT_EQ(hold.consumed, 5u);  // the header only
  EXPECT_LT(largest_alloc(), std::size_t{4096});
  EXPECT_TRUE(s.collecting());
  // Until admit() or refuse(), nothing moves.
  EXPECT_EQ(s.next(std::span(msg).subspan(5)).consumed, 0u);
  s.admit();
  auto r = scan_chunks(s, ByteVec(msg.begin() + 5, msg.end()), {995, 50000});
  expect_clean(r);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, body);
  EXPECT_FALSE(s.collecting());
}

TEST(FrameScanner, GateRefusedMessageStreamsOnAsPassAndTheNextIsRead) {
  auto s = frontend_scanner();
  s.set_collect_gate(true);
  ByteVec body = filler(5000);
  body.back() = 0;
  auto stream = concat({typed('Q', body), query("SELECT 2")});
  auto hold = s.next(std::span(stream).first(2000));
  ASSERT_EQ(hold.kind, Kind::hold);
  s.refuse();
  std::size_t passed = 0;
  std::span<const std::uint8_t> rest(stream.data() + 5, stream.size() - 5);
  for (;;) {
    auto step = s.next(rest);
    rest = rest.subspan(step.consumed);
    if (step.kind == Kind::message) {
      EXPECT_TRUE(step.starts_message);
      EXPECT_EQ(step.type, 'Q');
      EXPECT_EQ(step.body_length, 9u);  // "SELECT 2\0", whole in the input: never held
      break;
    }
    ASSERT_EQ(step.kind, Kind::pass);
    EXPECT_FALSE(step.starts_message);
    passed += step.bytes.size();
  }
  EXPECT_EQ(passed, body.size());
  EXPECT_TRUE(rest.empty());
}

TEST(FrameScanner, GateHoldsAMessageOverTheCapWithItsErrorAndNeverAdmitsIt) {
  auto s = frontend_scanner(1000);
  s.set_collect_gate(true);
  ByteVec body = filler(5000);
  auto msg = typed('Q', body);
  reset_largest_alloc();
  auto hold = s.next(std::span(msg).first(100));
  ASSERT_EQ(hold.kind, Kind::hold);
  EXPECT_NE(hold.error.find("over the limit"), std::string::npos) << hold.error;
  EXPECT_EQ(hold.body_length, body.size());
  EXPECT_EQ(ByteVec(s.held_header().begin(), s.held_header().end()), ByteVec(msg.begin(), msg.begin() + 5));
  s.admit();  // ignored: the cap holds
  EXPECT_EQ(s.next(std::span(msg).subspan(5)).kind, Kind::hold);
  EXPECT_LT(largest_alloc(), std::size_t{4096});
  s.refuse();  // its body streams on
  auto r = scan_chunks(s, std::span(msg).subspan(5), {95, 3000});
  expect_clean(r);
  EXPECT_EQ(r.forwarded, body);
  EXPECT_TRUE(r.messages.empty());
}

TEST(FrameScanner, StreamedBodyComesAsStreamedStepsThenTheNextMessageAsUsual) {
  auto s = frontend_scanner(1000);
  s.set_collect_gate(true);
  ByteVec body = filler(5000);
  auto stream = concat({typed('Q', body), query("SELECT 2"), typed('d', filler(3000))});
  auto hold = s.next(std::span(stream).first(700));
  ASSERT_EQ(hold.kind, Kind::hold);
  s.stream();
  ByteVec seen;
  std::span<const std::uint8_t> rest(stream.data() + 5, stream.size() - 5);
  for (;;) {
    auto step = s.next(rest.first(std::min<std::size_t>(rest.size(), 333)));
    rest = rest.subspan(step.consumed);
    if (step.kind != Kind::streamed) {
      ASSERT_EQ(step.kind, Kind::message);
      EXPECT_EQ(step.body_length, 9u);
      break;
    }
    EXPECT_FALSE(step.starts_message);
    seen.insert(seen.end(), step.bytes.begin(), step.bytes.end());
  }
  EXPECT_EQ(seen, body);
  // An uninspected message after it is skipped as pass steps again, not streamed ones.
  auto d = s.next(rest.first(100));
  EXPECT_EQ(d.kind, Kind::pass);
  auto more = s.next(rest.subspan(d.consumed));
  EXPECT_EQ(more.kind, Kind::pass);
}

TEST(FrameScanner, GateDoesNotHoldAnEmptyBodyAfterASplitHeader) {
  auto s = frontend_scanner();
  s.set_collect_gate(true);
  auto msg = typed('Q', {});
  EXPECT_EQ(s.next(std::span(msg).first(2)).kind, Kind::need_more);
  auto step = s.next(std::span(msg).subspan(2));
  ASSERT_EQ(step.kind, Kind::message);
  EXPECT_EQ(step.body_length, 0u);
  EXPECT_EQ(step.consumed, 3u);
}
