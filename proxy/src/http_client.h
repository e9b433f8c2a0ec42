// One HTTP/1.1 POST to a configured URL, over TCP or TLS: what webhooks and the
// witness client send. The whole exchange (connect, TLS handshake, write, read)
// has one deadline; the answer's body is capped.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "ddlgate/base/result.h"
#include "ddlgate/config/config.h"

namespace ddlgate::proxy {

// A TLS 1.2+ client context that verifies the peer with ca_file, or the system's
// trust anchors when it is empty. The error is OpenSSL's reason.
base::Result<std::unique_ptr<boost::asio::ssl::context>> tls_client_context(const std::string& ca_file);

struct HttpPost {
  std::string user_agent;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // more header fields
  std::string body;
  std::chrono::milliseconds timeout{5000};
  std::size_t max_answer_bytes = 64 * 1024;
};

struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

// POSTs to url (https: tls must be given; SNI and the certificate's name or address
// are checked against the URL's host). Empty when the exchange completed (whatever
// the status), else why it did not, in words for a log line.
boost::asio::awaitable<std::string> http_post(boost::asio::io_context& ctx, const config::HttpUrl& url,
                                              boost::asio::ssl::context* tls, const HttpPost& post,
                                              HttpAnswer* answer);

}  // namespace ddlgate::proxy
