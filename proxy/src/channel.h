// One side of a session: a stream socket (TCP or Unix, through Asio's generic
// stream protocol) that may be upgraded to TLS in place.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>

namespace ddlgate::proxy {

namespace asio = boost::asio;
using Socket = asio::generic::stream_protocol::socket;
using TlsStream = asio::ssl::stream<Socket>;

class Channel {
 public:
  explicit Channel(Socket socket) : plain_(std::move(socket)) {}

  bool is_tls() const { return tls_ != nullptr; }
  TlsStream* tls() { return tls_.get(); }
  Socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  // Wraps the socket in TLS; the handshake is the caller's.
  void upgrade(asio::ssl::context& ctx) {
    tls_ = std::make_unique<TlsStream>(std::move(*plain_), ctx);
    plain_.reset();
  }

  // Reads what is available (at least one byte); ec is set on EOF or error.
  asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, boost::system::error_code& ec);
  // Writes every byte of the buffers.
  asio::awaitable<void> write(asio::const_buffer buf, boost::system::error_code& ec);
  asio::awaitable<void> write(const std::vector<asio::const_buffer>& bufs, boost::system::error_code& ec);
  // Writes at once, without waiting, as much of bufs as the socket takes and
  // drops it from bufs; true when all went (or ec is set). Plaintext sockets
  // only (false for TLS, bufs untouched). For a small message it nearly always
  // writes everything, with no asynchronous operation, no completion through
  // the scheduler and no coroutine frame; the caller then co_awaits write() for
  // what is left.
  bool write_now(std::vector<asio::const_buffer>& bufs, boost::system::error_code& ec);

  // Closes the socket at once (pending operations end with operation_aborted).
  void close();

 private:
  std::optional<Socket> plain_;
  bool non_blocking_ = false;  // plain_ is in non-blocking mode for write_now()
  std::unique_ptr<TlsStream> tls_;
};

}  // namespace ddlgate::proxy
