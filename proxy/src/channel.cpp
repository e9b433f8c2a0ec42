// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include "channel.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace ddlgate::proxy {

asio::awaitable<std::size_t> Channel::read_some(asio::mutable_buffer buf, boost::system::error_code& ec) {
  if (tls_) co_return co_await tls_->async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
  co_return co_await plain_->async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Channel::write(asio::const_buffer buf, boost::system::error_code& ec) {
  if (tls_) {
    co_await asio::async_write(*tls_, buf, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(*plain_, buf, asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Channel::write(const std::vector<asio::const_buffer>& bufs, boost::system::error_code& ec) {
  if (tls_) {
    co_await asio::async_write(*tls_, bufs, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(*plain_, bufs, asio::redirect_error(asio::use_awaitable, ec));
  }
}

namespace {

// Drops the first n bytes of a gather list.
void consume(std::vector<asio::const_buffer>& bufs, std::size_t n) {
  std::size_t whole = 0;
  while (whole < bufs.size() && n >= bufs[whole].size()) n -= bufs[whole++].size();
  bufs.erase(bufs.begin(), bufs.begin() + static_cast<std::ptrdiff_t>(whole));
  if (n > 0 && !bufs.empty()) bufs.front() += n;
}

}  // namespace

bool Channel::write_now(std::vector<asio::const_buffer>& bufs, boost::system::error_code& ec) {
  if (tls_ || !plain_) return false;
  if (!non_blocking_) {
    plain_->non_blocking(true, ec);
    if (ec) return true;
    non_blocking_ = true;
  }
  while (!bufs.empty()) {
    // One buffer (the usual case) goes out with send(2); a gather list with sendmsg(2).
    std::size_t n = bufs.size() == 1 ? plain_->write_some(bufs.front(), ec) : plain_->write_some(bufs, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      return false;
    }
    if (ec) return true;
    consume(bufs, n);
  }
  return true;
}

void Channel::close() {
  boost::system::error_code ignored;
  Socket& s = socket();
  if (s.is_open()) {
    s.shutdown(Socket::shutdown_both, ignored);
    s.close(ignored);
  }
}

}  // namespace ddlgate::proxy
