// Reads for the fast lane (plaintext sockets of established sessions) that wait
// for readiness before they read.
//
// Asio's reactor tries every read as soon as it starts; in a request-response
// protocol the socket is then nearly always empty, so each transaction cost two
// failed recv(2) calls (docs/operations.md, "Memory and CPU"). Here a
// worker keeps its fast-lane sockets in an epoll set of its own (edge-triggered,
// registered once per socket), waits for that set through the worker's
// io_context, and reads a socket only after the kernel said it has bytes, or
// when its last read filled the whole buffer (more may be waiting). A wake-up
// serves up to four epoll_wait batches of 64 ready sockets; the rest wait for
// the next turn of the io_context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

namespace ddlgate::proxy {

class ReadinessPoller {
 public:
  // Whoever reads: a session, for either of its sockets (tag tells which).
  class Reader {
   public:
    // The completion of a read: n > 0 bytes, or ec set (asio::error::eof when the
    // peer closed its side), as for a socket's async_read_some.
    virtual void on_read(int tag, const boost::system::error_code& ec, std::size_t n) = 0;
    virtual ~Reader() = default;
  };

  // Throws std::system_error when the epoll set cannot be created.
  explicit ReadinessPoller(boost::asio::io_context& ctx);
  // Releases the readers of waiting reads after the table is gone (a reader's
  // destructor may call forget()).
  ~ReadinessPoller();
  ReadinessPoller(const ReadinessPoller&) = delete;
  ReadinessPoller& operator=(const ReadinessPoller&) = delete;

  // Reads into buf once fd has bytes (or has ended), then calls
  // reader->on_read(tag, ec, n), never from inside this call. One read per
  // descriptor at a time; fd must be a connected stream socket that stays open
  // until forget(fd). The reader is kept alive while its read waits.
  void async_read(int fd, std::span<std::uint8_t> buf, std::shared_ptr<Reader> reader, int tag);

  // Before fd is closed: drops it from the set, and a read waiting on it without
  // calling it (its reader is released later, never from inside this call).
  void forget(int fd);

  // Reads waiting for bytes (for tests and metrics).
  std::size_t waiting() const { return waiting_reads_; }

 private:
  struct Entry {
    bool registered = false;
    bool readable = false;         // an edge came since a read last found the socket drained
    std::uint32_t generation = 0;  // tells events of an earlier registration of the same fd apart
    std::span<std::uint8_t> buf;
    std::shared_ptr<Reader> reader;  // set while a read waits
    int tag = 0;
  };
  // Attempts one recv(2): false when the socket had nothing (it is then drained).
  static bool try_read(int fd, Entry& e, boost::system::error_code& ec, std::size_t& n);
  void wait();
  void drain();

  boost::asio::io_context& ctx_;
  boost::asio::posix::stream_descriptor epoll_;
  std::vector<Entry> entries_;  // by descriptor number
  std::size_t waiting_reads_ = 0;
  bool waiting_ = false;  // an async_wait on epoll_ is in flight
};

}  // namespace ddlgate::proxy
