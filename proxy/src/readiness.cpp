#include "readiness.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <system_error>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace ddlgate::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

int create_epoll() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  return fd;
}

constexpr std::uint64_t event_key(int fd, std::uint32_t generation) {
  return static_cast<std::uint32_t>(fd) | (std::uint64_t{generation} << 32);
}

}  // namespace

ReadinessPoller::ReadinessPoller(asio::io_context& ctx) : ctx_(ctx), epoll_(ctx, create_epoll()) {}

ReadinessPoller::~ReadinessPoller() {
  std::vector<std::shared_ptr<Reader>> readers;
  for (Entry& e : entries_) {
    if (e.reader) readers.push_back(std::move(e.reader));
  }
  entries_.clear();
  waiting_reads_ = 0;
}

bool ReadinessPoller::try_read(int fd, Entry& e, error_code& ec, std::size_t& n) {
  for (;;) {
    const ssize_t r = ::recv(fd, e.buf.data(), e.buf.size(), MSG_DONTWAIT);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      // A short read drained the socket: bytes that come later raise a new edge.
      e.readable = n == e.buf.size();
      return true;
    }
    if (r == 0) {
      ec = asio::error::eof;
      n = 0;
      e.readable = false;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      e.readable = false;
      return false;
    }
    ec = error_code(errno, boost::system::system_category());
    n = 0;
    return true;
  }
}

void ReadinessPoller::async_read(int fd, std::span<std::uint8_t> buf, std::shared_ptr<Reader> reader, int tag) {
  auto complete_soon = [&](const error_code& ec, std::size_t n) {
    asio::post(ctx_, [reader = std::move(reader), tag, ec, n] { reader->on_read(tag, ec, n); });
  };
  if (fd < 0 || buf.empty()) {
    complete_soon(asio::error::bad_descriptor, 0);
    return;
  }
  const auto index = static_cast<std::size_t>(fd);
  if (index >= entries_.size()) entries_.resize(index + 1);
  Entry& e = entries_[index];
  if (e.reader) {
    // One read at a time: a second is a bug in the caller, answered, not queued.
    complete_soon(asio::error::already_started, 0);
    return;
  }
  e.buf = buf;
  if (!e.registered) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = event_key(fd, e.generation);
    if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      complete_soon(error_code(errno, boost::system::system_category()), 0);
      return;
    }
    e.registered = true;
    e.readable = true;  // bytes may have come before the registration
  }
  if (e.readable) {
    error_code ec;
    std::size_t n = 0;
    if (try_read(fd, e, ec, n)) {
      complete_soon(ec, n);
      return;
    }
  }
  e.reader = std::move(reader);
  e.tag = tag;
  ++waiting_reads_;
  wait();
}

void ReadinessPoller::forget(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= entries_.size()) return;
  Entry& e = entries_[static_cast<std::size_t>(fd)];
  if (e.registered) {
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
    e.registered = false;
    ++e.generation;  // events already fetched for it are skipped
  }
  e.readable = false;
  e.buf = {};
  if (e.reader) {
    --waiting_reads_;
    // The caller may be the reader itself, alive through this very reference.
    asio::post(ctx_, [reader = std::move(e.reader)] {});
  }
}

void ReadinessPoller::wait() {
  if (waiting_) return;
  waiting_ = true;
  epoll_.async_wait(asio::posix::descriptor_base::wait_read, [this](const error_code& ec) {
    waiting_ = false;
    if (ec == asio::error::operation_aborted) return;  // the worker is stopping
    if (ec) {
      // Not expected for an epoll descriptor; fail the waiting reads (their sessions
      // close) rather than leave them hanging.
      spdlog::error("fast-lane readiness wait failed: {}", ec.message());
      for (std::size_t fd = 0; fd < entries_.size(); ++fd) {
        Entry& e = entries_[fd];
        if (!e.reader) continue;
        --waiting_reads_;
        asio::post(ctx_, [reader = std::move(e.reader), tag = e.tag, ec] { reader->on_read(tag, ec, 0); });
      }
      return;
    }
    drain();
    if (waiting_reads_ > 0) wait();
  });
}

void ReadinessPoller::drain() {
  std::array<epoll_event, 64> events;
  // At most four batches per wake-up: sockets still ready then wait for the next turn
  // of the io_context, after its other handlers (timers, coroutines, other workers' posts).
  for (int batch = 0; batch < 4; ++batch) {
    const int count = ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    if (count < 0) {
      if (errno == EINTR) return;  // the re-armed wait comes back at once
      spdlog::error("fast-lane epoll_wait failed: {}", std::error_code(errno, std::generic_category()).message());
      return;
    }
    for (int i = 0; i < count; ++i) {
      const auto fd = static_cast<std::uint32_t>(events[static_cast<std::size_t>(i)].data.u64);
      const auto generation = static_cast<std::uint32_t>(events[static_cast<std::size_t>(i)].data.u64 >> 32);
      if (fd >= entries_.size()) continue;
      Entry& e = entries_[fd];
      if (!e.registered || e.generation != generation) continue;  // forgotten meanwhile
      e.readable = true;
      if (!e.reader) continue;  // nobody reads it now: the next read tries at once
      error_code ec;
      std::size_t n = 0;
      if (!try_read(static_cast<int>(fd), e, ec, n)) continue;
      std::shared_ptr<Reader> reader = std::move(e.reader);
      const int tag = e.tag;
      --waiting_reads_;
      // May start reads (entries_ may grow: e is not used after this) or forget descriptors.
      reader->on_read(tag, ec, n);
    }
    if (static_cast<std::size_t>(count) < events.size()) return;
  }
}

}  // namespace ddlgate::proxy
