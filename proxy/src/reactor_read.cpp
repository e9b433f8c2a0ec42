#include "reactor_read.h"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/version.hpp>

// The reactor operation where it was written for; -DDDLGATE_REACTOR_READ=0 forces
// the plain read (to compile that form here).
#ifndef DDLGATE_REACTOR_READ
#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IOCP)
#define DDLGATE_REACTOR_READ 1
#else
#define DDLGATE_REACTOR_READ 0
#endif
#endif
#if DDLGATE_REACTOR_READ
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#endif

namespace ddlgate::proxy {

using boost::system::error_code;

namespace {

// A read that fails before it starts: completed through the io_context, never from
// inside start().
void fail_soon(Socket& socket, std::shared_ptr<ReactorRead::Reader> reader, int tag, const error_code& ec) {
  asio::post(socket.get_executor(), [reader = std::move(reader), tag, ec] { reader->on_read(tag, ec, 0); });
}

}  // namespace

#if DDLGATE_REACTOR_READ

namespace {

namespace detail = asio::detail;

// The socket's registration with the reactor. basic_socket keeps its service
// implementation protected; a derived class may name it to form a member pointer.
struct SocketAccess : Socket {
  static detail::reactor::per_descriptor_data& reactor_data(Socket& socket) {
    auto member = &SocketAccess::impl_;
    return (socket.*member).get_implementation().reactor_data_;
  }
};

}  // namespace

struct ReactorRead::Op : detail::reactor_op {
  int fd = -1;
  std::span<std::uint8_t> buf;
  std::shared_ptr<Reader> reader;  // set from start() until the completion runs
  int tag = 0;
  bool until_end = false;  // expect_end(): never report exhausted
  ops::LocalCounter* empty_attempts = nullptr;
  detail::reactor* reactor = nullptr;  // the sockets' io_context's, found at the first start()

  Op() : detail::reactor_op(error_code(), &Op::do_perform, &Op::do_complete) {}

  // In the reactor: one recv. "Exhausted" after a short read: the socket has
  // nothing more for now, and the kernel's next edge says when it has. Not so for
  // the end of the stream: a FIN that came with the last bytes raised no edge of its
  // own, so once the peer is expected to close (until_end) every read tries first.
  static status do_perform(detail::reactor_op* base) {
    Op* o = static_cast<Op*>(base);
    for (;;) {
      const ssize_t r = ::recv(o->fd, o->buf.data(), o->buf.size(), MSG_DONTWAIT);
      if (r > 0) {
        o->bytes_transferred_ = static_cast<std::size_t>(r);
        return o->bytes_transferred_ < o->buf.size() && !o->until_end ? done_and_exhausted : done;
      }
      if (r == 0) {
        // Not "exhausted": no edge comes after the end, and a later read must see it too.
        o->ec_ = asio::error::eof;
        return done;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        o->empty_attempts->add();
        return not_done;
      }
      o->ec_ = error_code(errno, boost::system::system_category());
      return done;
    }
  }

  // From the scheduler (owner set), or when the io_context is destroyed with the
  // read still queued (owner null: nothing is called). The reader may own this
  // object: nothing here touches it after the reader is released.
  static void do_complete(void* owner, detail::operation* base, const error_code& /*result*/,
                          std::size_t /*bytes*/) {
    Op* o = static_cast<Op*>(base);
    std::shared_ptr<Reader> reader = std::move(o->reader);
    if (owner) reader->on_read(o->tag, o->ec_, o->bytes_transferred_);
  }
};

ReactorRead::ReactorRead(ops::LocalCounter& empty_attempts) : empty_attempts_(empty_attempts) {}
ReactorRead::~ReactorRead() = default;

void ReactorRead::start(Socket& socket, std::span<std::uint8_t> buf, std::shared_ptr<Reader> reader, int tag) {
  if (!op_) {
    op_ = std::make_unique<Op>();
    op_->empty_attempts = &empty_attempts_;
    // A lookup under the service registry's lock: once, not per read.
    op_->reactor = &asio::use_service<detail::reactor>(asio::query(socket.get_executor(), asio::execution::context));
  }
  Op& o = *op_;
  if (o.reader) {
    // One read at a time: a second is a bug in the caller, answered, not queued.
    fail_soon(socket, std::move(reader), tag, asio::error::already_started);
    return;
  }
  if (buf.empty()) {
    // recv(2) would return 0, which reads as the end of the stream.
    fail_soon(socket, std::move(reader), tag, asio::error::invalid_argument);
    return;
  }
  o.fd = socket.is_open() ? socket.native_handle() : -1;
  o.buf = buf;
  o.reader = std::move(reader);
  o.tag = tag;
  o.until_end = expect_end_;
  o.ec_ = error_code();
  o.bytes_transferred_ = 0;
  // Tried at once unless the last operation on the socket left it exhausted and no
  // edge has come since; a socket that is not open completes with bad_descriptor.
  o.reactor->start_op(detail::reactor::read_op, o.fd, SocketAccess::reactor_data(socket), &o,
                      /*is_continuation=*/true, /*allow_speculative=*/true);
}

bool ReactorRead::busy() const { return op_ && op_->reader; }

void ReactorRead::expect_end() {
  expect_end_ = true;
  if (op_) op_->until_end = true;  // also a read already waiting
}

#else  // A plain read through Asio's public interface.

struct ReactorRead::Op {
  bool busy = false;
};

ReactorRead::ReactorRead(ops::LocalCounter& empty_attempts) : empty_attempts_(empty_attempts) {}
ReactorRead::~ReactorRead() = default;

// Asio tries each read at once and does not say when that found nothing: not counted.
void ReactorRead::start(Socket& socket, std::span<std::uint8_t> buf, std::shared_ptr<Reader> reader, int tag) {
  if (buf.empty()) {
    fail_soon(socket, std::move(reader), tag, asio::error::invalid_argument);
    return;
  }
  if (!op_) op_ = std::make_unique<Op>();
  op_->busy = true;
  socket.async_read_some(asio::buffer(buf.data(), buf.size()),
                         [op = op_.get(), reader = std::move(reader), tag](const error_code& ec, std::size_t n) {
                           op->busy = false;
                           reader->on_read(tag, ec, n);
                         });
}

bool ReactorRead::busy() const { return op_ && op_->busy; }

// Asio's own read tries every read first: it always sees the end of the stream.
void ReactorRead::expect_end() { expect_end_ = true; }

#endif

}  // namespace ddlgate::proxy
