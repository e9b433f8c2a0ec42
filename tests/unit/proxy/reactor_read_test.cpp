// Fast-lane reads (proxy/src/reactor_read.h) over real socket pairs, on a real
// io_context: what each read returns, and when it calls recv(2) at all.
#include "reactor_read.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace ddlgate::proxy {
namespace {

using boost::system::error_code;
using namespace std::chrono_literals;

// A reader that owns the socket it reads, as a session does.
struct Recorder : ReactorRead::Reader {
  struct Read {
    int tag;
    error_code ec;
    std::string bytes;
  };
  std::optional<Socket> socket;
  int far = -1;  // the peer's end
  ops::LocalCounter empty;
  ReactorRead read{empty};
  std::vector<std::uint8_t> buf;
  std::vector<Read> reads;

  explicit Recorder(asio::io_context& ctx, std::size_t size = 64) : buf(size) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    socket.emplace(ctx);
    socket->assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fds[0]);
    far = fds[1];
  }
  ~Recorder() override {
    if (far >= 0) ::close(far);
  }
  void send(const std::string& s) const { ASSERT_EQ(::write(far, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void close_far() {
    ::close(far);
    far = -1;
  }
  void start(const std::shared_ptr<Recorder>& self, int tag = 0) { read.start(*socket, buf, self, tag); }
  void on_read(int tag, const error_code& ec, std::size_t n) override {
    reads.push_back({tag, ec, std::string(reinterpret_cast<const char*>(buf.data()), n)});
  }
};

// Runs ready handlers, and waits up to `limit` for `done`.
template <class Done>
bool run_until(asio::io_context& ctx, Done done, std::chrono::milliseconds limit = 2000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    ctx.restart();
    ctx.run_for(10ms);
  }
  return done();
}

// Lets the reactor run (and take in any readiness events) for a while with no read
// waiting: a timer is the only work.
void spin_reactor(asio::io_context& ctx, std::chrono::milliseconds d) {
  asio::steady_timer t(ctx, d);
  bool fired = false;
  t.async_wait([&](const error_code&) { fired = true; });
  ASSERT_TRUE(run_until(ctx, [&] { return fired; }));
}

TEST(ReactorRead, CompletesWhenBytesArriveAndNeverFromInsideTheCall) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->send("now");
  r->start(r, 7);
  EXPECT_TRUE(r->reads.empty()) << "completed from inside start()";
  EXPECT_TRUE(r->read.busy());
  ASSERT_TRUE(run_until(ctx, [&] { return !r->reads.empty(); }));
  EXPECT_EQ(r->reads[0].tag, 7);
  EXPECT_FALSE(r->reads[0].ec);
  EXPECT_EQ(r->reads[0].bytes, "now");
  EXPECT_FALSE(r->read.busy());

  // Nothing there yet: the read's one attempt finds nothing, it waits, then completes.
  auto q = std::make_shared<Recorder>(ctx);
  q->start(q, 1);
  ctx.restart();
  ctx.run_for(20ms);
  EXPECT_TRUE(q->reads.empty()) << "completed with nothing to read";
  EXPECT_EQ(q->empty.value(), 1U);
  q->send("later");
  ASSERT_TRUE(run_until(ctx, [&] { return !q->reads.empty(); }));
  EXPECT_EQ(q->reads[0].bytes, "later");
  EXPECT_EQ(q->empty.value(), 1U);
}

TEST(ReactorRead, AfterAShortReadTheNextWaitsForTheKernelWithoutTryingTheSocket) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->send("message 0");
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
  // A request-response exchange: each read takes all there is (a short read), and
  // the next starts before the peer has sent more.
  for (int i = 1; i < 20; ++i) {
    const std::string message = "message " + std::to_string(i);
    r->start(r);
    ctx.restart();
    ctx.poll();
    ASSERT_EQ(r->reads.size(), static_cast<std::size_t>(i)) << "completed with nothing to read";
    r->send(message);
    ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == static_cast<std::size_t>(i) + 1; })) << i;
    EXPECT_EQ(r->reads.back().bytes, message);
  }
  // Plain Asio reads would each have tried the empty socket once (19 failed recv
  // calls); these waited for the kernel's edge instead.
  EXPECT_EQ(r->empty.value(), 0U);
}

TEST(ReactorRead, BytesThatCameWhileNoReadWaitedAreNotMissed) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->send("one");
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));  // short: the socket is drained
  // More bytes come, and the reactor takes in their edge while no read waits.
  r->send("two");
  spin_reactor(ctx, 30ms);
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; })) << "the edge was lost: the read hangs";
  EXPECT_EQ(r->reads[1].bytes, "two");
}

TEST(ReactorRead, AFullBufferIsReadAgainAtOnce) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx, 4);
  r->send("abcdefgh");
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
  EXPECT_EQ(r->reads[0].bytes, "abcd");
  // The buffer was filled: more may wait in the socket, and no new edge would say so.
  r->start(r);
  ctx.restart();
  ctx.poll();
  ASSERT_EQ(r->reads.size(), 2U) << "the rest of the bytes waited for an edge that does not come";
  EXPECT_EQ(r->reads[1].bytes, "efgh");
  // Full again: the next read tries at once, finds nothing, and waits.
  r->start(r);
  ctx.restart();
  ctx.poll();
  EXPECT_EQ(r->reads.size(), 2U);
  EXPECT_EQ(r->empty.value(), 1U);
  r->send("i");
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 3; }));
  EXPECT_EQ(r->reads[2].bytes, "i");
}

TEST(ReactorRead, EndOfStreamIsReportedWhetherTheReadWaitsOrNot) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->send("x");
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
  r->start(r);  // waits on a drained socket
  ctx.restart();
  ctx.poll();
  r->close_far();
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; }));
  EXPECT_EQ(r->reads[1].ec, asio::error::eof);
  // Again: the end of the stream stays.
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 3; }));
  EXPECT_EQ(r->reads[2].ec, asio::error::eof);
}

// The peer's last bytes and its FIN in one edge (a server answering a pipeline
// that ends with Terminate): the short read that takes the bytes would leave the
// next read waiting for an edge that never comes. Once the end is expected, it
// does not: the next read tries the socket and sees the end.
TEST(ReactorRead, TheEndThatCameWithTheLastBytesIsSeenOnceExpected) {
  asio::io_context ctx;
  for (bool expected : {false, true}) {
    auto r = std::make_shared<Recorder>(ctx);
    if (expected) r->read.expect_end();
    r->send("last answer");
    r->close_far();
    spin_reactor(ctx, 20ms);  // the reactor has taken the one edge in
    r->start(r);
    ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
    EXPECT_EQ(r->reads[0].bytes, "last answer");
    r->start(r);
    const bool ended = run_until(ctx, [&] { return r->reads.size() == 2; }, expected ? 2000ms : 200ms);
    // Without expect_end() the end is missed: the reason the session calls it.
    EXPECT_EQ(ended, expected);
    if (ended) {
      EXPECT_EQ(r->reads[1].ec, asio::error::eof);
    }
    r->socket->close();
    run_until(ctx, [&] { return !r->read.busy(); });
  }
}

TEST(ReactorRead, ClosingTheSocketAbortsAWaitingRead) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->start(r);
  ctx.restart();
  ctx.run_for(10ms);
  ASSERT_TRUE(r->reads.empty());
  r->socket->close();
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
  EXPECT_EQ(r->reads[0].ec, asio::error::operation_aborted);
  // A read of a closed socket fails, never from inside the call.
  r->start(r);
  EXPECT_EQ(r->reads.size(), 1U);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; }));
  EXPECT_EQ(r->reads[1].ec, asio::error::bad_descriptor);
}

TEST(ReactorRead, ASecondReadWhileOneWaitsIsRefused) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->start(r, 1);
  r->start(r, 2);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
  EXPECT_EQ(r->reads[0].tag, 2);
  EXPECT_EQ(r->reads[0].ec, asio::error::already_started);
  r->send("first");
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; }));
  EXPECT_EQ(r->reads[1].tag, 1);
  EXPECT_EQ(r->reads[1].bytes, "first");
}

TEST(ReactorRead, AnEmptyBufferIsRefusedRatherThanReadAsTheEndOfTheStream) {
  asio::io_context ctx;
  auto r = std::make_shared<Recorder>(ctx);
  r->send("kept");
  r->read.start(*r->socket, std::span<std::uint8_t>(), r, 3);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
  EXPECT_EQ(r->reads[0].ec, asio::error::invalid_argument);
  r->start(r);
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; }));
  EXPECT_EQ(r->reads[1].bytes, "kept");
}

TEST(ReactorRead, DestroyingTheContextReleasesAWaitingReaderWithoutCallingIt) {
  std::weak_ptr<Recorder> watch;
  bool called = false;
  {
    asio::io_context ctx;
    auto r = std::make_shared<Recorder>(ctx);
    watch = r;
    r->start(r);
    ctx.restart();
    ctx.run_for(10ms);
    ASSERT_TRUE(r->reads.empty());
    r.reset();
    ASSERT_FALSE(watch.expired()) << "the waiting read keeps its reader alive";
    called = !watch.lock()->reads.empty();
  }
  // The reader, and the socket it owns, went with the context's shutdown.
  EXPECT_TRUE(watch.expired());
  EXPECT_FALSE(called);
}

TEST(ReactorRead, ManySocketsWaitAtOnce) {
  asio::io_context ctx;
  constexpr int kPairs = 150;
  std::vector<std::shared_ptr<Recorder>> readers;
  for (int i = 0; i < kPairs; ++i) {
    readers.push_back(std::make_shared<Recorder>(ctx));
    readers.back()->start(readers.back(), i);
  }
  ctx.restart();
  ctx.run_for(10ms);
  for (int i = 0; i < kPairs; ++i) readers[static_cast<std::size_t>(i)]->send("m" + std::to_string(i));
  auto all_done = [&] {
    for (const auto& r : readers) {
      if (r->reads.empty()) return false;
    }
    return true;
  };
  ASSERT_TRUE(run_until(ctx, all_done));
  for (int i = 0; i < kPairs; ++i) {
    const auto& reads = readers[static_cast<std::size_t>(i)]->reads;
    ASSERT_EQ(reads.size(), 1U) << i;
    EXPECT_EQ(reads[0].tag, i);
    EXPECT_EQ(reads[0].bytes, "m" + std::to_string(i));
  }
}

}  // namespace
}  // namespace ddlgate::proxy
