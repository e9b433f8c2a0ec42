// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include "ddlgate/proxy/server.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

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

#include "admin.h"
#include "approvals.h"
#include "break_glass.h"
#include "ddlgate/ledger/merkle.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/monitor/monitor.h"
#include "ddlgate/proxy/logging.h"
#include "events.h"
#include "guard_confirm.h"
#include "spent_approvals.h"
#include "session.h"
#include "shared_state.h"
#include "witness_client.h"

namespace ddlgate::proxy {

using boost::system::error_code;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

namespace {

// server.instance, or the host name: names this ddlgate in webhook payloads.
std::string instance_name(const config::Config& c) {
  if (!c.instance.empty()) return c.instance;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "ddlgate";
  return host;
}

void log_webhook_problems(const std::vector<std::string>& problems) {
  for (const auto& p : problems) spdlog::error("webhook left out: {}", p);
}

}  // namespace

class ServerImpl {
 public:
  ServerImpl(config::Config config, Server::Reloader reloader, config::ConfigFile file)
      : reloader_(std::move(reloader)), config_sha256_(file_sha256(file)) {
    shared_.config = std::move(config);
    shared_.live_config.store(std::make_shared<const config::Config>(shared_.config));
    // Webhooks first: the ledger's recovery and the first bundle load are events.
    log_webhook_problems(shared_.ops.webhooks.configure(shared_.config.webhooks, instance_name(shared_.config)));
    shared_.ops.webhooks.start();
    std::random_device rd;
    char id[17];
    std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
    shared_.instance_id = id;
    shared_.tls = make_tls_contexts(shared_.config);
    unsigned n = shared_.config.workers;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
    // 16 MiB of cached analyses per worker thread.
    for (auto& w : workers_) {
      w->cache = std::make_unique<sql::StatementCache>(shared_.policy, 16u << 20);
      w->cache_nonstandard_strings = std::make_unique<sql::StatementCache>(
          shared_.policy, 2u << 20, sql::ParseOptions{.standard_conforming_strings = false});
    }
    History history;
    const bool watch_guard = shared_.config.guard.enabled && !shared_.config.guard.databases.empty();
    if (shared_.config.ledger.enabled) {
      open_ledger(history, watch_guard);
      // Before any session: what enforcement this start runs with. A ledger held failed at open
      // (rolled back or forked against its checkpoint copy) records nothing: ddlgate starts all
      // the same, refusing controlled statements with 58030 until an operator accepts the rollback.
      if (auto held = ledger_->failure()) {
        report_ledger_failed(shared_.ops, *held);
      } else {
        record_config("start", file.path, shared_.config, {}, {});
      }
      if (!shared_.config.ledger.witnesses.empty()) {
        witnesses_ = std::make_unique<WitnessClient>(ledger_->directory(), shared_.config.ledger.witnesses,
                                                     std::chrono::milliseconds(shared_.config.ledger.witness_retry_ms));
        shared_.witnesses = witnesses_.get();
      }
    }
    if (watch_guard) start_monitor(std::move(history.monitor));
    if (shared_.config.break_glass.enabled) {
      break_glass_ = std::make_unique<BreakGlassRegistry>(shared_.config, std::move(history.break_glass_spent));
      shared_.break_glass = break_glass_.get();
    }
    if (shared_.config.bundles.enabled) {
      approvals_ = std::make_unique<Approvals>(shared_.config.bundles, ledger_.get(), &shared_.ops);
      if (ledger_) approvals_->remember_history(history.bundles_accepted, history.bundles_revoked);
      shared_.approvals = approvals_.get();
    }
    if (shared_.config.guard.enabled && shared_.config.guard.confirm) {
      shared_.guard = std::make_shared<GuardConfirmer>(shared_.config);
    }
    if (shared_.config.admin.enabled) {
      std::vector<Worker*> workers;
      for (auto& w : workers_) workers.push_back(w.get());
      admin_ = std::make_unique<AdminServer>(shared_, std::move(workers), shared_.config.admin);
      admin_->set_token(read_admin_token(shared_.config.admin));
    }
  }

  ~ServerImpl() {
    monitor_ready_.store(nullptr);
    if (monitor_) monitor_->stop();
    if (ledger_) ledger_->close();
  }

  std::vector<std::string> bind() {
    // The signals are caught from here on, before the ready file says ddlgate is up:
    // a SIGHUP sent as soon as it is (a reload right after a start) would otherwise
    // meet the default action and kill the process. Signals that arrive before run()
    // waits for them are queued by the signal_set.
    catch_signals();
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
    if (admin_) {
      std::string admin = admin_->bind();
      spdlog::info("admin listener on http://{} (/metrics, /healthz, /readyz)", admin);
      bound.push_back("http://" + admin);
    }
    // Approvals are in place before the first connection is accepted (and before
    // the ready file says ddlgate is listening).
    if (approvals_) approvals_->start();
    return bound;
  }

  void catch_signals() {
    if (!signals_) signals_.emplace(main_, SIGTERM, SIGINT, SIGHUP);
  }

  void run() {
    raise_fd_limit();
    catch_signals();
    asio::signal_set& signals = *signals_;
    std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload_config();
        if (approvals_) {
          spdlog::info("SIGHUP: reloading bundles");
          approvals_->request_reload("SIGHUP");
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
    if (admin_) admin_->start();
    if (witnesses_) witnesses_->start();
    if (monitor_) monitor_->start();
    if (ledger_ && shared_.config.ledger.low_space_percent > 0) {
      space_watcher_ = std::jthread([this](std::stop_token stop) { watch_ledger_space(stop); });
    }
    const char* mode = shared_.config.enforcement.mode == config::EnforcementMode::enforce   ? "enforce"
                       : shared_.config.enforcement.mode == config::EnforcementMode::monitor ? "monitor"
                                                                                              : "off (transparent proxy)";
    spdlog::info("ddlgate serving with {} worker thread(s), upstream {}, enforcement {}", workers_.size(),
                 shared_.config.upstream.to_string(), mode);
    main_.run();

    // Drained or timed out: let the workers finish what is in flight and stop.
    // Large statements still being analysed on threads of their own post back
    // to a worker: wait for them (an analysis is bounded by the 8 MiB input cap).
    for (int i = 0; shared_.large_analyses_running.load() > 0 && i < 6000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    guards.clear();
    // The control connections answer (or fail) what they hold, posting to the workers: before
    // the workers stop. Sessions' confirmations end with the connections.
    if (shared_.guard) shared_.guard->stop();
    for (auto& w : workers_) w->ctx.stop();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    if (space_watcher_.joinable()) {
      space_watcher_.request_stop();
      space_watcher_.join();
    }
    if (admin_) admin_->stop();
    if (monitor_) monitor_->stop();  // before the ledger it records into closes
    if (approvals_) approvals_->stop();
    if (witnesses_) witnesses_->stop();
    if (ledger_) {
      // The shutdown checkpoint covers every record written.
      if (auto st = ledger_->close(); !st.ok()) spdlog::error("ledger close: {}", st.error().reason);
    }
    // ... and goes to the witnesses too, so that the ledger at rest is cosigned up to its end.
    if (witnesses_) witnesses_->final_pass();
    for (const auto& path : unix_paths_) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
    shared_.ops.webhooks.stop();
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

  // What earlier processes left in the ledger that this one must remember, read in the
  // one scan that opening the ledger makes (ledger::HistoryReader).
  struct History {
    std::unordered_set<std::string> break_glass_spent;
    std::vector<bundle::AcceptedBefore> bundles_accepted;
    std::vector<bundle::RevokedBefore> bundles_revoked;
    SpentApprovals::Loader spent_approvals;
    monitor::History monitor;  // what the guard monitor recorded before
  };

  // The guard monitor (docs/guard.md, "What serve watches"): on threads of its own, recording
  // into the ledger and reporting through the webhooks, /metrics and /readyz.
  void start_monitor(monitor::History history) {
    const auto& g = shared_.config.guard;
    std::string password;
    if (!g.control_password_file.empty() || !g.control_password_env.empty()) {
      config::SecretRead secret = config::read_secret("guard", "control_password_file", g.control_password_file,
                                                      "control_password_env", g.control_password_env);
      if (secret.problem) throw std::runtime_error(secret.problem->where + ": " + secret.problem->message);
      password = std::move(secret.value);
    }
    monitor::Sink sink;
    sink.record = [this](ledger::Record r) {
      if (!ledger_) return true;  // no [ledger]: reported, not recorded
      auto done = ledger_->append_durable(std::move(r));
      if (!done.ok()) spdlog::error("guard monitor: cannot record: {}", done.error().reason);
      return done.ok();
    };
    sink.event = [ops = &shared_.ops](std::string_view name, std::string text, nlohmann::json details) {
      report_guard_event(*ops, name, std::move(text), std::move(details));
    };
    sink.count = [ops = &shared_.ops](std::string_view database, std::string_view source) {
      ops->counters.out_of_band.add(database, source);
    };
    sink.log = [](int level, std::string line) {
      if (level >= 2) spdlog::error("{}", line);
      else if (level == 1) spdlog::warn("{}", line);
      else spdlog::info("{}", line);
    };
    monitor_ = std::make_unique<monitor::Monitor>(shared_.config, std::move(password), std::move(sink), std::move(history));
    shared_.monitor = monitor_.get();
    monitor_ready_.store(monitor_.get(), std::memory_order_release);
  }

  void open_ledger(History& history, bool watch_guard) {
    const auto& l = shared_.config.ledger;
    const auto& c = shared_.config;
    const bool replay_protection =
        c.enforcement.mode != config::EnforcementMode::off && c.enforcement.spend_approvals_once;
    ledger::LedgerConfig lc;
    lc.directory = l.directory;
    lc.checkpoint_key_file = l.checkpoint_key_file;
    lc.origin = l.origin;
    lc.checkpoint_every_records = l.checkpoint_every_records;
    lc.checkpoint_interval = std::chrono::milliseconds(l.checkpoint_interval_ms);
    lc.checkpoint_copy_directory = l.checkpoint_copy_directory;
    // Fail closed is silent for clients that only read and write: tell the operators.
    lc.on_failure = [ops = &shared_.ops](const ledger::Error& e) { report_ledger_failed(*ops, e); };
    if (c.break_glass.enabled) lc.history_readers.push_back(BreakGlassRegistry::history_reader(history.break_glass_spent));
    if (c.bundles.enabled) lc.history_readers.push_back(Approvals::history_reader(history.bundles_accepted, history.bundles_revoked));
    if (replay_protection) {
      auto* loader = &history.spent_approvals;
      lc.history_readers.push_back(
          {[loader](ledger::RecordType t, std::string_view payload) { return loader->wants(t, payload); },
           [loader](const ledger::ParsedRecord& r) { loader->read(r); }});
    }
    if (watch_guard) {
      lc.history_readers.push_back(history.monitor.reader());
      // Approved statements may explain the catalog changes the monitor finds.
      lc.on_append = [this](const ledger::Record& r) {
        if (auto* m = monitor_ready_.load(std::memory_order_acquire)) m->observe(r);
      };
    }
    auto started = std::chrono::steady_clock::now();
    auto opened = ledger::Ledger::open(lc);
    if (!opened.ok()) {
      const auto& e = opened.error();
      // Damage other than a bounded torn tail stops the start, naming where.
      throw std::runtime_error("ledger " + l.directory + ": " + e.reason + (e.file.empty() ? "" : " in " + e.file) +
                               (e.offset >= 0 ? " at offset " + std::to_string(e.offset) : ""));
    }
    ledger_ = std::move(opened.value());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    spdlog::info("ledger {} (origin {}): {} record(s) checked and read in {} ms", l.directory, ledger_->origin(),
                 ledger_->durable_size(), ms.count());
    for (const auto& cut : ledger_->recovery_actions()) {
      spdlog::warn("ledger recovery: cut {} byte(s) of {} at offset {}: {}; the cut bytes are kept in {}", cut.bytes,
                   cut.file, cut.offset, cut.reason, cut.quarantine);
    }
    report_ledger_recovered(shared_.ops, ledger_->recovery_actions());
    shared_.ledger = ledger_.get();
    if (replay_protection) {
      spent_ = std::make_unique<SpentApprovals>();
      std::size_t spent = history.spent_approvals.finish(*spent_);
      spdlog::info("replay protection: {} approval(s) already spent, read from the ledger", spent);
      shared_.spent = spent_.get();
    }
  }

  // "sha256:<hex>" of a configuration file's bytes; empty without a file.
  static std::string file_sha256(const config::ConfigFile& file) {
    if (file.path.empty()) return {};
    return "sha256:" + ledger::to_hex(ledger::sha256(file.text));
  }

  // Appends a config_reloaded record and waits until it is durable; throws when it cannot be.
  void record_config(std::string event, std::string path, const config::Config& c, std::vector<std::string> applied,
                     std::vector<std::string> needs_restart, std::optional<std::string> sha256 = std::nullopt) {
    ledger::ConfigChange change;
    change.event = std::move(event);
    change.path = std::move(path);
    change.sha256 = sha256 ? std::move(*sha256) : config_sha256_;
    change.applied = std::move(applied);
    change.needs_restart = std::move(needs_restart);
    change.mode = std::string(config::to_string(c.enforcement.mode));
    for (const auto& [name, mode] : c.enforcement.database_modes) {
      change.database_modes.emplace_back(name, std::string(config::to_string(mode)));
    }
    for (const auto& [name, mode] : c.enforcement.user_modes) {
      change.user_modes.emplace_back(name, std::string(config::to_string(mode)));
    }
    change.spend_approvals_once = c.enforcement.spend_approvals_once;
    change.record_all_statements = c.enforcement.record_all_statements;
    auto r = ledger_->append_durable(ledger::config_reloaded(change));
    if (!r.ok()) throw std::runtime_error("cannot record the configuration in the ledger: " + r.error().reason);
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
    drain_deadline_ =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(shared_.live_config.load()->timeouts.shutdown_ms);
    asio::co_spawn(main_, drain(), asio::detached);
  }

  // SIGHUP: the configuration file read again; what can change live is
  // published as a new snapshot, what needs a restart is said in the log.
  void reload_config() {
    if (!reloader_) {
      spdlog::info("SIGHUP: no configuration file (--config) to reload");
      return;
    }
    config::LoadResult loaded = reloader_();
    if (!loaded.ok()) {
      for (const auto& p : loaded.problems) spdlog::error("SIGHUP: {}: {}", p.where, p.message);
      spdlog::error("SIGHUP: the configuration has problems; the running configuration stays in force");
      shared_.ops.counters.config_reload_failures.add();
      return;
    }
    auto running = shared_.live_config.load();
    config::ReloadPlan plan = config::plan_reload(*running, loaded.config);
    for (const auto& key : plan.needs_restart) {
      spdlog::warn("SIGHUP: {} changed; it needs a restart to take effect (the running value stays in force)", key);
    }
    config::Config& next = plan.next;
    auto applied = [&](std::string_view key) {
      return std::find(plan.applied.begin(), plan.applied.end(), key) != plan.applied.end();
    };
    std::optional<std::string> admin_token;
    if (applied("admin.token") && admin_) {
      try {
        admin_token = read_admin_token(next.admin);
      } catch (const std::exception& e) {
        spdlog::error("SIGHUP: {}; the previous admin token stays in force", e.what());
        next.admin.token_file = running->admin.token_file;
        next.admin.token_env = running->admin.token_env;
        std::erase(plan.applied, "admin.token");
      }
    }
    // Recorded before it takes effect: a reload the ledger cannot record is not applied.
    std::string sha256 = file_sha256(loaded.file);
    if (shared_.ledger && sha256 != config_sha256_) {
      try {
        record_config("sighup", loaded.file.path, next, plan.applied, plan.needs_restart, sha256);
        config_sha256_ = sha256;
      } catch (const std::exception& e) {
        spdlog::error("SIGHUP: {}; the running configuration stays in force", e.what());
        shared_.ops.counters.config_reload_failures.add();
        return;
      }
    }
    if (applied("admin.token") && admin_) admin_->set_token(std::move(admin_token));
    if (applied("log.level") || applied("log.format")) configure_logging(next.log_format, next.log_level);
    if (applied("webhooks") || applied("server.instance")) {
      log_webhook_problems(shared_.ops.webhooks.configure(next.webhooks, instance_name(next)));
    }
    shared_.live_config.store(std::make_shared<const config::Config>(std::move(next)));
    shared_.ops.counters.config_reloads.add();
    if (plan.applied.empty()) {
      spdlog::info("SIGHUP: configuration reloaded; nothing that applies live changed");
    }
    for (const auto& key : plan.applied) {
      spdlog::info("SIGHUP: {} changed; applied (sessions that start from now on use it)", key);
    }
  }

  // A full disk fails the ledger, and with it every controlled statement: warn before.
  // ledger.low_space (and a log line) once when the free space falls below the
  // threshold, again only after it has been above it. On a thread of its own, so that
  // a file system that hangs in statvfs (NFS) stalls nothing else.
  void watch_ledger_space(std::stop_token stop) {
    constexpr auto kInterval = std::chrono::seconds(2);
    const std::uint32_t percent = shared_.config.ledger.low_space_percent;
    const std::string dir = ledger_->directory().string();
    std::mutex mu;
    std::condition_variable_any cv;
    bool low = false;
    while (!stop.stop_requested()) {
      auto space = ledger_->filesystem_space();
      if (space && space->size_bytes > 0) {
        const std::uint64_t free = space->free_bytes;  // by name: FileSystemSpace's order is not a contract
        const std::uint64_t size = space->size_bytes;
        const bool now_low = free < size / 100 * percent;
        if (now_low && !low) report_ledger_low_space(shared_.ops, dir, free, size, percent);
        if (!now_low && low) spdlog::info("the ledger's file system ({}) has {} of {} bytes free again", dir, free, size);
        low = now_low;
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, kInterval, [] { return false; });
    }
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
  std::optional<asio::signal_set> signals_;  // SIGTERM, SIGINT, SIGHUP, from bind() on
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::string> unix_paths_;
  std::unique_ptr<ledger::Ledger> ledger_;  // outlives approvals_, which records into it
  std::unique_ptr<WitnessClient> witnesses_;  // reads the ledger's directory; stopped before it closes
  std::unique_ptr<SpentApprovals> spent_;   // with enforcement.spend_approvals_once
  std::unique_ptr<Approvals> approvals_;
  std::unique_ptr<BreakGlassRegistry> break_glass_;
  // The guard monitor: after the ledger (destroyed before it); the ledger's on_append reads
  // monitor_ready_, set once the monitor exists.
  std::unique_ptr<monitor::Monitor> monitor_;
  std::atomic<monitor::Monitor*> monitor_ready_{nullptr};
  std::unique_ptr<AdminServer> admin_;  // reads the workers, the ledger and the approvals: destroyed first
  std::jthread space_watcher_;          // reads the ledger's directory: stopped and joined before it goes
  std::chrono::steady_clock::time_point drain_deadline_;
  Server::Reloader reloader_;
  std::string config_sha256_;  // of the configuration file in force ("" without one)
};

Server::Server(config::Config config, Reloader reloader, config::ConfigFile file)
    : impl_(std::make_unique<ServerImpl>(std::move(config), std::move(reloader), std::move(file))) {}
Server::~Server() = default;
std::vector<std::string> Server::bind() { return impl_->bind(); }
void Server::run() { impl_->run(); }
void Server::stop() { impl_->stop(); }

}  // namespace ddlgate::proxy
