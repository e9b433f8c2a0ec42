// Reads for the fast lane (plaintext sockets of established sessions) that tell
// Asio's reactor when they drained their socket.
//
// Asio (1.18, in Boost 1.74) tries every read as soon as it starts. In a
// request-response protocol the socket is then nearly always still empty: one
// failed recv(2) per hop, two per transaction (docs/operations.md, "Memory and
// CPU"). Asio's reactor can already skip that attempt: an operation that reports
// itself "done and exhausted" clears the socket's try-at-once flag, and the
// kernel's next readiness edge for the socket sets it again. Asio's own receive
// reports that only at end of stream. A ReactorRead reports it after a short read
// too (fewer bytes than its buffer), which on a stream socket means that the socket
// had nothing more at that instant; bytes that come later raise a new edge (every
// socket is registered edge-triggered, once, when it opens). So the next read waits
// in the reactor's queue for the socket without a system call, and is performed
// when the edge comes, or at once if an edge came in between. No extra epoll set,
// no re-arm.
//
// This reaches into Asio's detail namespace (epoll_reactor, reactor_op), which is
// not a public API. It is compiled only for the Boost release it was written and
// tested against (1.74, Debian 12's) with the epoll reactor; anywhere else start()
// is a plain async_read_some, which is correct and one recv per hop slower.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <boost/system/error_code.hpp>

#include "channel.h"
#include "ddlgate/ops/counters.h"

namespace ddlgate::proxy {

class ReactorRead {
 public:
  // Whoever reads: a session, for either of its sockets (tag tells which).
  class Reader {
   public:
    // The completion of a read: n > 0 bytes, or ec set (asio::error::eof when the
    // peer closed its side, operation_aborted when the socket was closed), as for
    // a socket's async_read_some.
    virtual void on_read(int tag, const boost::system::error_code& ec, std::size_t n) = 0;
    virtual ~Reader() = default;
  };

  // empty_attempts counts the recv(2) calls that found the socket empty (metrics).
  explicit ReactorRead(ops::LocalCounter& empty_attempts);
  ~ReactorRead();
  ReactorRead(const ReactorRead&) = delete;
  ReactorRead& operator=(const ReactorRead&) = delete;

  // Reads at least one byte of socket into buf, then calls reader->on_read(tag,
  // ec, n) from the socket's io_context, never from inside this call. One read at
  // a time per ReactorRead, and none through the socket's own async_read_some
  // meanwhile. The read keeps the reader alive while it waits; this object must
  // outlive the read (it does when the reader owns it). Every socket a ReactorRead
  // reads belongs to one io_context. An empty buf completes with invalid_argument.
  void start(Socket& socket, std::span<std::uint8_t> buf, std::shared_ptr<Reader> reader, int tag);

  // Whether a read is waiting or its completion has not run yet.
  bool busy() const;

  // The peer is about to close (the session forwarded a Terminate): from now on a
  // short read is not reported exhausted, so the read after it tries at once and
  // sees the end of the stream. A peer's last bytes and its FIN that arrive
  // together raise one edge, and none follows: without this, a read that waits
  // for the next edge would wait for ever with the peer gone.
  void expect_end();

 private:
  struct Op;
  [[maybe_unused]] ops::LocalCounter& empty_attempts_;  // unused by the plain-read form
  bool expect_end_ = false;
  std::unique_ptr<Op> op_;  // made at the first start()
};

}  // namespace ddlgate::proxy
