#include "http_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

namespace ddlgate::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

base::Result<std::unique_ptr<asio::ssl::context>> tls_client_context(const std::string& ca_file) {
  auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  error_code ec;
  if (ca_file.empty()) tls->set_default_verify_paths(ec);
  else tls->load_verify_file(ca_file, ec);
  if (ec) return base::Error{ec.message()};
  tls->set_verify_mode(asio::ssl::verify_peer);
  return tls;
}

asio::awaitable<std::string> http_post(asio::io_context& ctx, const config::HttpUrl& url, asio::ssl::context* tls,
                                       const HttpPost& post, HttpAnswer* answer) {
  error_code ec;
  asio::ip::tcp::resolver resolver(ctx);
  auto results = co_await resolver.async_resolve(url.host, std::to_string(url.port), redirect_error(use_awaitable, ec));
  if (ec) co_return "cannot resolve " + url.host + ": " + ec.message();

  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host);
  req.set(http::field::user_agent, post.user_agent);
  req.set(http::field::content_type, post.content_type);
  for (const auto& [name, value] : post.headers) req.set(name, value);
  req.keep_alive(false);
  req.body() = post.body;
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(post.max_answer_bytes);
  const std::string where = url.host + ":" + std::to_string(url.port);
  if (!url.https) {
    beast::tcp_stream stream(ctx);
    stream.expires_after(post.timeout);  // the whole exchange: connect, write, read
    co_await stream.async_connect(results, redirect_error(use_awaitable, ec));
    if (ec) co_return "cannot connect to " + where + ": " + ec.message();
    co_await http::async_write(stream, req, redirect_error(use_awaitable, ec));
    if (!ec) co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  } else {
    if (tls == nullptr) co_return "no TLS context for " + where;
    beast::ssl_stream<beast::tcp_stream> stream(ctx, *tls);
    auto& tcp = beast::get_lowest_layer(stream);
    tcp.expires_after(post.timeout);
    co_await tcp.async_connect(results, redirect_error(use_awaitable, ec));
    if (ec) co_return "cannot connect to " + where + ": " + ec.message();
    // SNI (for a name: RFC 6066 forbids an address there), and the certificate's
    // name or address checked against the URL's host.
    error_code not_an_address;
    asio::ip::make_address(url.host, not_an_address);
    if (not_an_address) {
      SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(url.host.c_str()));
    }
    stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    co_await stream.async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, ec));
    if (ec) co_return "TLS handshake with " + url.host + " failed: " + ec.message();
    co_await http::async_write(stream, req, redirect_error(use_awaitable, ec));
    if (!ec) co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    error_code ignored;
    tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  }
  if (ec) co_return "HTTP exchange with " + url.host + " failed: " + ec.message();
  answer->status = parser.get().result_int();
  answer->body = parser.get().body();
  co_return std::string();
}

}  // namespace ddlgate::proxy
