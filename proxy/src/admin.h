// The admin HTTP listener (docs/operations.md, "Admin listener"): /metrics,
// /healthz and /readyz, served by Boost.Beast on a thread and io_context of
// their own, so that a slow scraper never stalls a proxy worker.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "shared_state.h"

namespace ddlgate::proxy {

// Reads the bearer token of [admin] (token_file or token_env); nullopt when none
// is configured; throws std::runtime_error (without the token) when unreadable.
std::optional<std::string> read_admin_token(const config::Admin& admin);

// The text of one scrape of /metrics.
std::string render_metrics(const SharedState& shared, const std::vector<Worker*>& workers);

class AdminServer {
 public:
  AdminServer(SharedState& shared, std::vector<Worker*> workers, const config::Admin& settings);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds the listener; returns "host:port"; throws std::runtime_error naming the address.
  std::string bind();
  void start();
  void stop();

  // Replaces the bearer token (nullopt: none); safe from any thread.
  void set_token(std::optional<std::string> token);

 private:
  struct Response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<Response> readiness();
  boost::asio::awaitable<std::string> probe_upstream();
  bool authorized(std::string_view authorization) const;

  SharedState& shared_;
  std::vector<Worker*> workers_;
  config::Admin settings_;
  boost::asio::io_context ctx_{1};
  boost::asio::ip::tcp::acceptor acceptor_{ctx_};
  std::thread thread_;
  std::size_t connections_ = 0;  // admin thread only
  mutable std::mutex token_mu_;
  std::shared_ptr<const std::string> token_;  // null: no token required
  // The upstream probe's last result, reused for upstream_check_cache_ms (admin thread only).
  std::chrono::steady_clock::time_point upstream_checked_{};
  std::string upstream_error_;
  bool upstream_checked_once_ = false;
};

}  // namespace ddlgate::proxy
