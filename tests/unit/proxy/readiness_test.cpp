// The fast-lane poller (proxy/src/readiness.h) over real socket pairs.
#include "readiness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace ddlgate::proxy {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using namespace std::chrono_literals;

struct Pair {
  int near = -1;  // the end the poller reads
  int far = -1;   // the peer
  Pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    near = fds[0];
    far = fds[1];
  }
  ~Pair() {
    if (near >= 0) ::close(near);
    if (far >= 0) ::close(far);
  }
  void send(const std::string& s) const { ASSERT_EQ(::write(far, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
};

struct Recorder : ReadinessPoller::Reader {
  struct Read {
    int tag;
    error_code ec;
    std::string bytes;
  };
  std::vector<std::uint8_t> buf;
  std::vector<Read> reads;
  explicit Recorder(std::size_t size = 64) : buf(size) {}
  void on_read(int tag, const error_code& ec, std::size_t n) override {
    reads.push_back({tag, ec, std::string(reinterpret_cast<const char*>(buf.data()), n)});
  }
};

// Runs ready handlers, and waits up to `limit` for `done` (the poller's wait completes
// through the io_context, like every other operation of a worker).
template <class Done>
bool run_until(asio::io_context& ctx, Done done, std::chrono::milliseconds limit = 2000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    ctx.restart();
    ctx.run_for(10ms);
  }
  return done();
}

TEST(ReadinessPoller, ReadsOnlyOnceBytesArriveAndNeverFromInsideTheCall) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  Pair p;
  auto r = std::make_shared<Recorder>();
  poller.async_read(p.near, r->buf, r, 7);
  ctx.restart();
  ctx.run_for(20ms);
  EXPECT_TRUE(r->reads.empty()) << "completed with nothing to read";
  EXPECT_EQ(poller.waiting(), 1U);

  p.send("hello");
  ASSERT_TRUE(run_until(ctx, [&] { return !r->reads.empty(); }));
  ASSERT_EQ(r->reads.size(), 1U);
  EXPECT_EQ(r->reads[0].tag, 7);
  EXPECT_FALSE(r->reads[0].ec);
  EXPECT_EQ(r->reads[0].bytes, "hello");
  EXPECT_EQ(poller.waiting(), 0U);

  // Bytes already there: still completed later, through the io_context.
  p.send("again");
  poller.async_read(p.near, r->buf, r, 7);
  EXPECT_EQ(r->reads.size(), 1U) << "a read completed inside async_read";
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; }));
  EXPECT_EQ(r->reads[1].bytes, "again");
}

TEST(ReadinessPoller, ReportsEndOfStreamAndErrors) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  Pair p;
  auto r = std::make_shared<Recorder>();
  poller.async_read(p.near, r->buf, r, 0);
  ::close(p.far);
  p.far = -1;
  ASSERT_TRUE(run_until(ctx, [&] { return !r->reads.empty(); }));
  EXPECT_EQ(r->reads[0].ec, asio::error::eof);
  EXPECT_TRUE(r->reads[0].bytes.empty());

  // A descriptor that is not a socket at all is an error, not a hang.
  auto bad = std::make_shared<Recorder>();
  poller.async_read(-1, bad->buf, bad, 0);
  ASSERT_TRUE(run_until(ctx, [&] { return !bad->reads.empty(); }));
  EXPECT_TRUE(bad->reads[0].ec);
}

TEST(ReadinessPoller, AReadThatFillsTheBufferIsFollowedByAnotherWithoutWaitingForAnEdge) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  Pair p;
  auto r = std::make_shared<Recorder>(4);
  p.send("0123456789");
  std::string got;
  // Each completion starts the next read, as a session does.
  for (int i = 0; i < 3; ++i) {
    poller.async_read(p.near, r->buf, r, 0);
    ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == static_cast<std::size_t>(i + 1); })) << i;
    got += r->reads.back().bytes;
  }
  EXPECT_EQ(got, "0123456789");
  // Drained: the next read waits for bytes.
  poller.async_read(p.near, r->buf, r, 0);
  ctx.restart();
  ctx.run_for(20ms);
  EXPECT_EQ(r->reads.size(), 3U);
  p.send("x");
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 4; }));
  EXPECT_EQ(r->reads.back().bytes, "x");
}

TEST(ReadinessPoller, OneReadPerDescriptorAtATime) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  Pair p;
  auto first = std::make_shared<Recorder>();
  auto second = std::make_shared<Recorder>();
  poller.async_read(p.near, first->buf, first, 0);
  poller.async_read(p.near, second->buf, second, 0);
  ASSERT_TRUE(run_until(ctx, [&] { return !second->reads.empty(); }));
  EXPECT_EQ(second->reads[0].ec, asio::error::already_started);
  p.send("mine");
  ASSERT_TRUE(run_until(ctx, [&] { return !first->reads.empty(); }));
  EXPECT_EQ(first->reads[0].bytes, "mine");
}

TEST(ReadinessPoller, ForgetDropsAWaitingReadWithoutCallingItAndReleasesItsReader) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  Pair p;
  auto r = std::make_shared<Recorder>();
  std::weak_ptr<Recorder> watch = r;
  poller.async_read(p.near, r->buf, r, 0);
  r.reset();
  ASSERT_FALSE(watch.expired()) << "the waiting read keeps its reader alive";
  poller.forget(p.near);
  EXPECT_EQ(poller.waiting(), 0U);
  ASSERT_FALSE(watch.expired()) << "released inside forget(), where the reader may be the caller";
  p.send("late");
  // Released later, and never called (the bytes above would have completed it).
  ASSERT_TRUE(run_until(ctx, [&] { return watch.expired(); }));
}

TEST(ReadinessPoller, ADescriptorNumberReusedAfterForgetIsWatchedAgain) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  auto r = std::make_shared<Recorder>();
  int number = -1;
  {
    Pair old;
    number = old.near;
    poller.async_read(old.near, r->buf, r, 0);
    old.send("one");
    ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 1; }));
    poller.async_read(old.near, r->buf, r, 0);  // left waiting, as a session closed mid-read
    poller.forget(old.near);
  }
  // The lowest free numbers again: the new pair's near end gets the old number.
  Pair fresh;
  ASSERT_EQ(fresh.near, number) << "the kernel did not reuse the descriptor number; the test needs it";
  poller.async_read(fresh.near, r->buf, r, 0);
  fresh.send("two");
  ASSERT_TRUE(run_until(ctx, [&] { return r->reads.size() == 2; }));
  EXPECT_EQ(r->reads[1].bytes, "two");
}

// A reader whose destructor forgets its descriptor, as a session's does.
struct Forgetter : ReadinessPoller::Reader {
  ReadinessPoller& poller;
  int fd;
  bool& destroyed;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(16);
  Forgetter(ReadinessPoller& p, int f, bool& d) : poller(p), fd(f), destroyed(d) {}
  ~Forgetter() override {
    poller.forget(fd);
    destroyed = true;
  }
  void on_read(int, const error_code&, std::size_t) override {}
};

TEST(ReadinessPoller, DestroyingThePollerReleasesWaitingReadersThatForgetThemselves) {
  asio::io_context ctx;
  Pair p;
  bool destroyed = false;
  {
    ReadinessPoller poller(ctx);
    auto r = std::make_shared<Forgetter>(poller, p.near, destroyed);
    poller.async_read(p.near, r->buf, r, 0);
    r.reset();
    EXPECT_FALSE(destroyed);
  }
  EXPECT_TRUE(destroyed);
}

TEST(ReadinessPoller, ManyReadySocketsAreAllServedByOneWait) {
  asio::io_context ctx;
  ReadinessPoller poller(ctx);
  // More than one epoll_wait batch (64 events).
  constexpr int kPairs = 150;
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::shared_ptr<Recorder>> readers;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    readers.push_back(std::make_shared<Recorder>());
    poller.async_read(pairs.back()->near, readers.back()->buf, readers.back(), i);
  }
  EXPECT_EQ(poller.waiting(), static_cast<std::size_t>(kPairs));
  for (int i = 0; i < kPairs; ++i) pairs[static_cast<std::size_t>(i)]->send("m" + std::to_string(i));
  ASSERT_TRUE(run_until(ctx, [&] { return poller.waiting() == 0; }));
  for (int i = 0; i < kPairs; ++i) {
    const auto& reads = readers[static_cast<std::size_t>(i)]->reads;
    ASSERT_EQ(reads.size(), 1U) << i;
    EXPECT_EQ(reads[0].tag, i);
    EXPECT_EQ(reads[0].bytes, "m" + std::to_string(i));
  }
}

}  // namespace
}  // namespace ddlgate::proxy
