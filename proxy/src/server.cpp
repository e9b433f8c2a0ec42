// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include "ddlgate/proxy/server.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "approvals.h"
#include "break_glass.h"
#include "session.h"
#include "shared_state.h"

namespace ddlgate::proxy {

using boost::system::error_code;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

class ServerImpl {
 public:
  explicit ServerImpl(config::Config config) {
    shared_.config = std::move(config);
    std::random_device rd;
    char id[17];
    std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
    shared_.instance_id = id;
    shared_.tls = make_tls_contexts(shared_.config);
    unsigned n = shared_.config.workers;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
    // 16 MiB of cached analyses per worker thread.
    for (auto& w : workers_) w->cache = std::make_unique<policy::StatementCache>(shared_.policy, 16u << 20);
    if (shared_.config.ledger.enabled) open_ledger();
    if (shared_.config.break_glass.enabled) {
      break_glass_ = std::make_unique<BreakGlassRegistry>(shared_.config, ledger_.get());
      shared_.break_glass = break_glass_.get();
    }
    if (shared_.config.bundles.enabled) {
      approvals_ = std::make_unique<Approvals>(shared_.config.bundles, ledger_.get());
      shared_.approvals = approvals_.get();
    }
  }

  ~ServerImpl() {
    if (ledger_) ledger_->close();
  }

  std::vector<std::string> bind() {
    std::vector<std::string> bound;
    for (const auto& ep : shared_.config.listen) {
      if (ep.kind == config::Endpoint::Kind::unix_socket) {
        bound.push_back(bind_unix(ep.path));
        continue;
      }
      asio::ip::tcp::resolver resolver(main_);
      error_code ec;
      auto results = resolver.resolve(ep.host, std::to_string(ep.port), asio::ip::tcp::resolver::passive, ec);
      if (ec) throw std::runtime_error("cannot resolve listen address " + ep.to_string() + ": " + ec.message());
      for (const auto& r : results) bound.push_back(bind_tcp(r.endpoint(), ep));
    }
    // Approvals are in place before the first connection is accepted (and before
    // the ready file says ddlgate is listening).
    if (approvals_) approvals_->start();
    return bound;
  }

  void run() {
    raise_fd_limit();
    asio::signal_set signals(main_, SIGTERM, SIGINT, SIGHUP);
    std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        if (approvals_) {
          spdlog::info("SIGHUP: reloading bundles (the proxy's own settings need a restart to change)");
          approvals_->request_reload("SIGHUP");
        } else {
          spdlog::info("SIGHUP: no [bundles] configured; the proxy's settings need a restart to change");
        }
        signals.async_wait(on_signal);
        return;
      }
      spdlog::info("{} received: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      begin_shutdown();
    };
    signals.async_wait(on_signal);

    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& w : workers_) {
      guards.push_back(asio::make_work_guard(w->ctx));
      w->thread = std::thread([&ctx = w->ctx] { ctx.run(); });
    }
    for (auto& acc : acceptors_) {
      asio::co_spawn(main_, accept_loop(*acc), asio::detached);
    }
    const char* mode = shared_.config.enforcement.mode == config::EnforcementMode::enforce   ? "enforce"
                       : shared_.config.enforcement.mode == config::EnforcementMode::monitor ? "monitor"
                                                                                              : "off (transparent proxy)";
    spdlog::info("ddlgate serving with {} worker thread(s), upstream {}, enforcement {}", workers_.size(),
                 shared_.config.upstream.to_string(), mode);
    main_.run();

    // Drained or timed out: let the workers finish what is in flight and stop.
    guards.clear();
    for (auto& w : workers_) w->ctx.stop();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    if (approvals_) approvals_->stop();
    if (ledger_) {
      // The shutdown checkpoint covers every record written.
      if (auto st = ledger_->close(); !st.ok()) spdlog::error("ledger close: {}", st.error().reason);
    }
    for (const auto& path : unix_paths_) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
    spdlog::info("ddlgate stopped");
  }

  void stop() {
    asio::post(main_, [this] { begin_shutdown(); });
  }

 private:
  std::string bind_tcp(const asio::ip::tcp::endpoint& tcp_ep, const config::Endpoint& configured) {
    auto acc = std::make_unique<Acceptor>(main_);
    asio::generic::stream_protocol::endpoint ep(tcp_ep);
    error_code ec;
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + configured.to_string() + ": " + ec.message());
    asio::ip::tcp::endpoint local;
    local.resize(acc->local_endpoint().size());
    std::memcpy(local.data(), acc->local_endpoint().data(), acc->local_endpoint().size());
    acceptors_.push_back(std::move(acc));
    std::string host = local.address().to_string();
    return local.address().is_v6() ? "[" + host + "]:" + std::to_string(local.port())
                                   : host + ":" + std::to_string(local.port());
  }

  std::string bind_unix(const std::string& path) {
    // A socket file left by a previous run that died is removed; anything else at that path is not touched.
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw std::runtime_error("cannot listen on " + path + ": exists and is not a socket");
      ::unlink(path.c_str());
    }
    auto acc = std::make_unique<Acceptor>(main_);
    asio::generic::stream_protocol::endpoint ep{asio::local::stream_protocol::endpoint(path)};
    error_code ec;
    acc->open(ep.protocol(), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + path + ": " + ec.message());
    // Like PostgreSQL's default unix_socket_permissions: authentication decides, not the file mode.
    ::chmod(path.c_str(), 0777);
    unix_paths_.push_back(path);
    acceptors_.push_back(std::move(acc));
    return path;
  }

  void open_ledger() {
    const auto& l = shared_.config.ledger;
    ledger::LedgerConfig lc;
    lc.directory = l.directory;
    lc.checkpoint_key_file = l.checkpoint_key_file;
    lc.origin = l.origin;
    lc.checkpoint_every_records = l.checkpoint_every_records;
    lc.checkpoint_interval = std::chrono::milliseconds(l.checkpoint_interval_ms);
    lc.checkpoint_copy_directory = l.checkpoint_copy_directory;
    auto opened = ledger::Ledger::open(lc);
    if (!opened.ok()) {
      const auto& e = opened.error();
      // Damage other than a bounded torn tail stops the start, naming where.
      throw std::runtime_error("ledger " + l.directory + ": " + e.reason + (e.file.empty() ? "" : " in " + e.file) +
                               (e.offset >= 0 ? " at offset " + std::to_string(e.offset) : ""));
    }
    ledger_ = std::move(opened.value());
    for (const auto& cut : ledger_->recovery_actions()) {
      spdlog::warn("ledger recovery: cut {} byte(s) of {} at offset {}: {}", cut.bytes, cut.file, cut.offset, cut.reason);
    }
    shared_.ledger = ledger_.get();
  }

  static void raise_fd_limit() {
    // Each session holds two descriptors; the default soft limit of 1024 would
    // cap ddlgate near 500 sessions.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  }

  static std::string describe_peer(Socket& s) {
    error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    if (ep.protocol().family() == AF_UNIX) return "unix";
    asio::ip::tcp::endpoint tcp;
    tcp.resize(ep.size());
    std::memcpy(tcp.data(), ep.data(), ep.size());
    return tcp.address().to_string() + ":" + std::to_string(tcp.port());
  }

  asio::awaitable<void> accept_loop(Acceptor& acc) {
    std::size_t next = 0;
    while (!shared_.draining.load()) {
      Worker& w = *workers_[next++ % workers_.size()];
      error_code ec;
      Socket sock = co_await acc.async_accept(w.ctx, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || shared_.draining.load()) co_return;
        spdlog::error("accept failed: {}", ec.message());
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
          // Out of descriptors: pause instead of spinning on the error.
          asio::steady_timer pause(main_, std::chrono::milliseconds(100));
          co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        continue;
      }
      std::string peer = describe_peer(sock);
      asio::post(w.ctx, [this, &w, sock = std::move(sock), peer = std::move(peer)]() mutable {
        auto session = std::make_shared<Session>(shared_, w, std::move(sock), std::move(peer));
        asio::co_spawn(w.ctx, [session]() { return session->run(); }, asio::detached);
      });
    }
  }

  void begin_shutdown() {
    if (shared_.draining.exchange(true)) return;
    for (auto& acc : acceptors_) {
      error_code ignored;
      acc->close(ignored);
    }
    drain_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(shared_.config.timeouts.shutdown_ms);
    asio::co_spawn(main_, drain(), asio::detached);
  }

  asio::awaitable<void> drain() {
    asio::steady_timer tick(main_);
    error_code ec;
    bool aborted = false;
    while (true) {
      std::size_t live = shared_.live.load();
      if (live == 0) break;
      if (std::chrono::steady_clock::now() >= drain_deadline_) {
        if (aborted) break;
        spdlog::warn("shutdown deadline reached: closing {} session(s)", live);
        for (auto& w : workers_) {
          asio::post(w->ctx, [&w] {
            // abort() may end a session and erase it from the set: copy first.
            std::vector<Session*> all(w->sessions.begin(), w->sessions.end());
            for (Session* s : all) s->abort();
          });
        }
        aborted = true;
        drain_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      }
      tick.expires_after(std::chrono::milliseconds(50));
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    main_.stop();
  }

  SharedState shared_;
  asio::io_context main_{1};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::string> unix_paths_;
  std::unique_ptr<ledger::Ledger> ledger_;  // outlives approvals_, which records into it
  std::unique_ptr<Approvals> approvals_;
  std::unique_ptr<BreakGlassRegistry> break_glass_;
  std::chrono::steady_clock::time_point drain_deadline_;
};

Server::Server(config::Config config) : impl_(std::make_unique<ServerImpl>(std::move(config))) {}
Server::~Server() = default;
std::vector<std::string> Server::bind() { return impl_->bind(); }
void Server::run() { impl_->run(); }
void Server::stop() { impl_->stop(); }

}  // namespace ddlgate::proxy
