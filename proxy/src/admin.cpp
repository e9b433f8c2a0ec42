#include "admin.h"

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "approvals.h"
#include "ddlgate/monitor/monitor.h"
#include "ddlgate/ops/prometheus.h"
#include "ddlgate/ops/webhook.h"
#include "witness_client.h"

namespace ddlgate::proxy {

namespace asio = boost::asio;

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using asio::redirect_error;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// A request is a request line and a few headers: anything larger is refused by the parser.
constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxConnections = 64;
constexpr auto kIdleTimeout = std::chrono::seconds(10);

// Classes and results shown even while zero, so that rate() has a series from the start.
constexpr sql::StatementClass kAlwaysShownClasses[] = {
    sql::StatementClass::schema_change, sql::StatementClass::privilege,   sql::StatementClass::code,
    sql::StatementClass::destructive,   sql::StatementClass::server_file_access, sql::StatementClass::server_admin,
    sql::StatementClass::unparseable,   sql::StatementClass::unknown,
};
constexpr ledger::Decision kDecisions[] = {ledger::Decision::allowed, ledger::Decision::denied,
                                           ledger::Decision::would_deny, ledger::Decision::break_glass};

template <std::size_t N>
std::vector<double> bounds_as(const std::array<std::uint64_t, N>& b, double scale) {
  std::vector<double> out;
  for (auto v : b) out.push_back(static_cast<double>(v) * scale);
  return out;
}

template <std::size_t N>
void put_histogram(ops::PrometheusText& m, std::string_view name, const ledger::FixedHistogram<N>& h,
                   const std::array<std::uint64_t, N>& bounds, double scale) {
  std::vector<std::uint64_t> counts;
  for (const auto& b : h.buckets) counts.push_back(b.load(std::memory_order_relaxed));
  auto sb = bounds_as(bounds, scale);
  m.histogram(name, {}, sb, counts, static_cast<double>(h.sum.load(std::memory_order_relaxed)) * scale);
}

// The answer to a request the parser refused, or none when the connection just ends.
std::optional<http::status> refusal_status(const error_code& ec) {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    return http::status::bad_request;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> read_admin_token(const config::Admin& admin) {
  if (admin.token_env.empty() && admin.token_file.empty()) return std::nullopt;
  config::SecretRead token = config::read_secret("admin", "token_file", admin.token_file, "token_env", admin.token_env);
  if (token.problem) throw std::runtime_error(token.problem->where + ": " + token.problem->message);
  return std::move(token.value);
}

std::string render_metrics(const SharedState& shared, const std::vector<Worker*>& workers) {
  ops::PrometheusText m;
  auto sum = [&](auto member) {
    std::uint64_t total = 0;
    for (const Worker* w : workers) total += (w->counters.*member).value();
    return total;
  };

  m.family("ddlgate_sessions_opened_total", "counter", "Client sessions that reached the upstream server.");
  m.sample("ddlgate_sessions_opened_total", {}, sum(&WorkerCounters::sessions_opened));
  m.family("ddlgate_sessions_current", "gauge", "Client connections open now (including those still starting).");
  m.sample("ddlgate_sessions_current", {}, static_cast<std::uint64_t>(shared.live.load()));

  m.family("ddlgate_bytes_total", "counter", "Bytes relayed, by direction.");
  m.sample("ddlgate_bytes_total", {{"direction", "client_to_server"}}, sum(&WorkerCounters::bytes_client_to_server));
  m.sample("ddlgate_bytes_total", {{"direction", "server_to_client"}}, sum(&WorkerCounters::bytes_server_to_client));
  m.family("ddlgate_messages_total", "counter", "Protocol messages relayed, by direction.");
  m.sample("ddlgate_messages_total", {{"direction", "client_to_server"}},
           sum(&WorkerCounters::messages_client_to_server));
  m.sample("ddlgate_messages_total", {{"direction", "server_to_client"}},
           sum(&WorkerCounters::messages_server_to_client));

  m.family("ddlgate_fast_lane_reads_total", "counter", "Reads started for established plaintext sessions.");
  m.sample("ddlgate_fast_lane_reads_total", {}, sum(&WorkerCounters::fast_lane_reads));
  m.family("ddlgate_fast_lane_empty_reads_total", "counter",
           "recv calls of those reads that found the socket empty (the read then waits for the next readiness "
           "edge).");
  m.sample("ddlgate_fast_lane_empty_reads_total", {}, sum(&WorkerCounters::fast_lane_empty_reads));

  m.family("ddlgate_decisions_total", "counter",
           "Decisions on controlled statements, as recorded in the ledger, by statement class and result.");
  for (std::size_t c = 0; c < sql::kStatementClassCount; ++c) {
    auto cls = sql::kAllStatementClasses[c];
    bool always = std::find(std::begin(kAlwaysShownClasses), std::end(kAlwaysShownClasses), cls) !=
                  std::end(kAlwaysShownClasses);
    for (auto d : kDecisions) {
      std::uint64_t v = 0;
      for (const Worker* w : workers) v += w->counters.decisions[c][static_cast<std::size_t>(d)].value();
      if (v == 0 && !always) continue;
      m.sample("ddlgate_decisions_total", {{"class", sql::to_string(cls)}, {"result", ledger::to_string(d)}}, v);
    }
  }
  m.family("ddlgate_denials_total", "counter", "Statements refused in enforce mode, by reason.");
  for (auto [reason, name] : {std::pair{DenialReason::not_approved, "not_approved"},
                              std::pair{DenialReason::ledger_unavailable, "ledger_unavailable"}}) {
    std::uint64_t v = 0;
    for (const Worker* w : workers) v += w->counters.denials[static_cast<std::size_t>(reason)].value();
    m.sample("ddlgate_denials_total", {{"reason", name}}, v);
  }
  m.family("ddlgate_refusals_paced_total", "counter",
           "Refusals held back by limits.denials_per_second: recorded after a wait, or the session closed instead.");
  m.sample("ddlgate_refusals_paced_total", {{"result", "waited"}}, sum(&WorkerCounters::refusals_paced));
  m.sample("ddlgate_refusals_paced_total", {{"result", "session_closed"}}, sum(&WorkerCounters::refusals_over_pace));
  m.family("ddlgate_inspection_budget_waits_total", "counter",
           "Messages to inspect that waited for limits.inspection_budget: admitted after the wait, or refused "
           "(53200).");
  m.sample("ddlgate_inspection_budget_waits_total", {{"result", "admitted"}},
           sum(&WorkerCounters::inspection_admitted_after_wait));
  m.sample("ddlgate_inspection_budget_waits_total", {{"result", "refused"}}, sum(&WorkerCounters::inspection_refusals));
  m.family("ddlgate_statements_streamed_total", "counter",
           "Large Query texts streamed while scanned as plain DML; cut: cut off unexecuted when they were not.");
  m.sample("ddlgate_statements_streamed_total", {{"result", "started"}}, sum(&WorkerCounters::statements_streamed));
  m.sample("ddlgate_statements_streamed_total", {{"result", "cut"}}, sum(&WorkerCounters::streams_cut));
  m.family("ddlgate_inspection_budget_bytes", "gauge",
           "Bytes of inspected messages held whole by all sessions now, against limits.inspection_budget.");
  m.sample("ddlgate_inspection_budget_bytes", {}, shared.inspection_held.load(std::memory_order_relaxed));

  const auto& pc = shared.ops.counters;
  m.family("ddlgate_breakglass_sessions_total", "counter", "Break-glass sessions opened.");
  m.sample("ddlgate_breakglass_sessions_total", {}, pc.breakglass_opened.value());
  m.family("ddlgate_breakglass_sessions_closed_total", "counter", "Break-glass sessions closed or expired.");
  m.sample("ddlgate_breakglass_sessions_closed_total", {}, pc.breakglass_closed.value());

  m.family("ddlgate_out_of_band_total", "counter",
           "Changes made around ddlgate, recorded as out_of_band: by database and source (guard, guard_refusal, "
           "catalog).");
  for (const auto& [labels, v] : pc.out_of_band.values()) {
    m.sample("ddlgate_out_of_band_total", {{"database", labels.first}, {"source", labels.second}}, v);
  }

  m.family("ddlgate_bundles_total", "counter", "Signed bundles judged by the loader, by result.");
  m.sample("ddlgate_bundles_total", {{"result", "accepted"}}, pc.bundles_accepted.value());
  m.sample("ddlgate_bundles_total", {{"result", "rejected"}}, pc.bundles_rejected.value());
  m.family("ddlgate_bundle_version", "gauge", "The bundle version in force per application (value 1).");
  if (shared.approvals) {
    auto snapshot = shared.approvals->current();
    for (const auto& [app, state] : snapshot->apps()) {
      if (state.version == 0) continue;
      m.sample("ddlgate_bundle_version", {{"app", app}, {"version", std::to_string(state.version)}},
               std::uint64_t{1});
    }
    m.family("ddlgate_approved_statements", "gauge", "Approved statements in force.");
    m.sample("ddlgate_approved_statements", {}, static_cast<std::uint64_t>(snapshot->size()));
  }

  if (shared.ledger) {
    const auto& ls = shared.ledger->stats();
    m.family("ddlgate_ledger_healthy", "gauge", "1 while the ledger accepts records, 0 once it has failed.");
    m.sample("ddlgate_ledger_healthy", {}, std::uint64_t{shared.ledger->failure() ? 0u : 1u});
    m.family("ddlgate_ledger_records_total", "counter", "Ledger records made durable (appended and fdatasync'ed).");
    m.sample("ddlgate_ledger_records_total", {}, ls.records_durable.load(std::memory_order_relaxed));
    m.family("ddlgate_ledger_append_failures_total", "counter", "Ledger appends answered with an error.");
    m.sample("ddlgate_ledger_append_failures_total", {}, ls.records_failed.load(std::memory_order_relaxed));
    m.family("ddlgate_ledger_checkpoints_total", "counter", "Signed ledger checkpoints written.");
    m.sample("ddlgate_ledger_checkpoints_total", {}, ls.checkpoints.load(std::memory_order_relaxed));
    m.family("ddlgate_ledger_bytes", "gauge", "Bytes of durable records in the ledger's segment files.");
    m.sample("ddlgate_ledger_bytes", {}, ls.segment_bytes.load(std::memory_order_relaxed));
    // Read at each scrape: what is left before a full disk fails the ledger (and every
    // controlled statement with it) is what an operator needs to alert on.
    if (auto space = shared.ledger->filesystem_space()) {
      m.family("ddlgate_ledger_filesystem_free_bytes", "gauge",
               "Bytes available to ddlgate on the ledger directory's file system.");
      m.sample("ddlgate_ledger_filesystem_free_bytes", {}, space->free_bytes);
      m.family("ddlgate_ledger_filesystem_size_bytes", "gauge", "Size of the ledger directory's file system.");
      m.sample("ddlgate_ledger_filesystem_size_bytes", {}, space->size_bytes);
    }
    m.family("ddlgate_ledger_batch_records", "histogram", "Records per group commit (one fdatasync each).");
    put_histogram(m, "ddlgate_ledger_batch_records", ls.batch_records, ledger::LedgerStats::kBatchBounds, 1.0);
    m.family("ddlgate_ledger_fsync_seconds", "histogram", "Latency of the ledger's fdatasync per group commit.");
    put_histogram(m, "ddlgate_ledger_fsync_seconds", ls.fsync_us, ledger::LedgerStats::kFsyncBoundsUs, 1e-6);
  }

  m.family("ddlgate_statement_cache_hits_total", "counter", "Statement analyses found in a worker's cache.");
  m.sample("ddlgate_statement_cache_hits_total", {}, sum(&WorkerCounters::cache_hits));
  m.family("ddlgate_statement_cache_misses_total", "counter", "Statements parsed and classified (cache misses).");
  m.sample("ddlgate_statement_cache_misses_total", {}, sum(&WorkerCounters::cache_misses));
  m.family("ddlgate_upstream_connect_errors_total", "counter", "Failed connections to the upstream server.");
  m.sample("ddlgate_upstream_connect_errors_total", {}, sum(&WorkerCounters::upstream_errors));
  m.family("ddlgate_outcomes_out_of_step_total", "counter",
           "Server answers a session's outcome tracking did not await (outcomes may be missing).");
  m.sample("ddlgate_outcomes_out_of_step_total", {}, sum(&WorkerCounters::outcomes_out_of_step));

  const auto& ws = shared.ops.webhooks.stats();
  m.family("ddlgate_webhook_deliveries_total", "counter",
           "Webhook events by outcome: delivered (2xx), failed (gave up after max_attempts), dropped (queue full).");
  m.sample("ddlgate_webhook_deliveries_total", {{"result", "delivered"}}, ws.delivered.value());
  m.sample("ddlgate_webhook_deliveries_total", {{"result", "failed"}}, ws.failed.value());
  m.sample("ddlgate_webhook_deliveries_total", {{"result", "dropped"}}, ws.dropped.value());
  m.family("ddlgate_webhook_failed_attempts_total", "counter", "Webhook attempts that failed (retried or not).");
  m.sample("ddlgate_webhook_failed_attempts_total", {}, ws.failed_attempts.value());
  m.family("ddlgate_webhook_queue_length", "gauge", "Webhook events waiting for delivery.");
  m.sample("ddlgate_webhook_queue_length", {}, static_cast<std::uint64_t>(shared.ops.webhooks.queued()));

  if (shared.witnesses) {
    const auto& wst = shared.witnesses->stats();
    m.family("ddlgate_witness_cosignatures_total", "counter", "Checkpoints a witness cosigned (one per witness and checkpoint).");
    m.sample("ddlgate_witness_cosignatures_total", {}, wst.cosigned.value());
    m.family("ddlgate_witness_failures_total", "counter",
             "Checkpoint pushes that failed, by kind: unreachable (no answer, timeout, bad answer) or refused (fork, rollback, unknown log).");
    m.sample("ddlgate_witness_failures_total", {{"kind", "unreachable"}}, wst.unreachable.value());
    m.sample("ddlgate_witness_failures_total", {{"kind", "refused"}}, wst.refused.value());
  }

  m.family("ddlgate_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
  m.sample("ddlgate_config_reloads_total", {{"result", "ok"}}, pc.config_reloads.value());
  m.sample("ddlgate_config_reloads_total", {{"result", "failed"}}, pc.config_reload_failures.value());
  return m.text();
}

AdminServer::AdminServer(SharedState& shared, std::vector<Worker*> workers, const config::Admin& settings)
    : shared_(shared), workers_(std::move(workers)), settings_(settings) {}

AdminServer::~AdminServer() { stop(); }

std::string AdminServer::bind() {
  tcp::resolver resolver(ctx_);
  error_code ec;
  const auto& ep = settings_.listen;
  auto results = resolver.resolve(ep.host, std::to_string(ep.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot resolve admin.listen " + ep.to_string() + ": " + ec.message());
  }
  auto endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on admin.listen " + ep.to_string() + ": " + ec.message());
  auto local = acceptor_.local_endpoint();
  std::string host = local.address().to_string();
  return local.address().is_v6() ? "[" + host + "]:" + std::to_string(local.port())
                                 : host + ":" + std::to_string(local.port());
}

void AdminServer::start() {
  asio::co_spawn(ctx_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { ctx_.run(); });
}

void AdminServer::stop() {
  ctx_.stop();
  if (thread_.joinable()) thread_.join();
}

void AdminServer::set_token(std::optional<std::string> token) {
  std::lock_guard lock(token_mu_);
  token_ = token ? std::make_shared<const std::string>(std::move(*token)) : nullptr;
}

bool AdminServer::authorized(std::string_view authorization) const {
  std::shared_ptr<const std::string> token;
  {
    std::lock_guard lock(token_mu_);
    token = token_;
  }
  if (!token) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() < kBearer.size()) return false;
  // The scheme is case-insensitive (RFC 7235 section 2.1); the token is compared in constant time.
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != std::tolower(static_cast<unsigned char>(kBearer[i]))) {
      return false;
    }
  }
  return ops::constant_time_equal(authorization.substr(kBearer.size()), *token);
}

asio::awaitable<void> AdminServer::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("admin listener: accept failed: {}", ec.message());
      asio::steady_timer pause(ctx_, std::chrono::milliseconds(100));
      co_await pause.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    if (connections_ >= kMaxConnections) {
      socket.close(ec);  // scrapers and probes need few connections; refuse a flood
      continue;
    }
    asio::co_spawn(ctx_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::serve(tcp::socket socket) {
  ++connections_;
  struct Release {
    std::size_t& n;
    ~Release() { --n; }
  } release{connections_};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(kMaxHeaderBytes);
  for (;;) {
    stream.expires_after(kIdleTimeout);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(0);
    error_code ec;
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    if (ec) {
      // A request too large or malformed gets its status, then the connection is closed;
      // end of stream and the idle timeout close it at once.
      if (auto status = refusal_status(ec)) {
        http::response<http::string_body> res{*status, 11};
        res.set(http::field::server, "ddlgate");
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.keep_alive(false);
        res.body() = std::string(http::obsolete_reason(*status)) + "\n";
        res.prepare_payload();
        co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
      }
      break;
    }
    const auto& req = parser.get();

    Response r;
    std::string_view path(req.target().data(), req.target().size());
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    bool probe = path == "/healthz" || path == "/readyz";
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      r = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    } else if (!probe && !authorized(std::string_view(req[http::field::authorization].data(),
                                                       req[http::field::authorization].size()))) {
      r = {401, "text/plain; charset=utf-8", "a bearer token is required\n"};
    } else if (path == "/metrics") {
      r = {200, ops::kPrometheusContentType, render_metrics(shared_, workers_)};
    } else if (path == "/healthz") {
      r = {200, "text/plain; charset=utf-8", "ok\n"};
    } else if (path == "/readyz") {
      r = co_await readiness();
    } else {
      r = {404, "text/plain; charset=utf-8", "not found: /metrics, /healthz, /readyz\n"};
    }

    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::server, "ddlgate");
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    if (r.status == 401) res.set(http::field::www_authenticate, "Bearer");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(r.body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays that of GET
    bool keep = res.keep_alive();
    co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
    if (ec || !keep) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<AdminServer::Response> AdminServer::readiness() {
  std::string reasons;
  if (shared_.draining.load()) reasons += "shutdown: ddlgate is draining sessions\n";
  if (shared_.ledger) {
    if (auto failure = shared_.ledger->failure()) {
      reasons += "ledger: failed: " + failure->reason + (failure->code ? " (" + failure->code.message() + ")" : "") +
                 (shared_.ledger->copy_mismatch() ? "; controlled statements are refused until the rollback is accepted\n"
                                                  : "; controlled statements are refused until a restart\n");
    }
  }
  if (shared_.monitor) {
    for (const auto& why : shared_.monitor->problems()) reasons += why + "\n";
  }
  if (shared_.approvals && shared_.approvals->generation() == 0) {
    reasons += "approvals: the bundles have not been loaded yet\n";
  }
  auto now = std::chrono::steady_clock::now();
  if (!upstream_checked_once_ ||
      now - upstream_checked_ >= std::chrono::milliseconds(settings_.upstream_check_cache_ms)) {
    upstream_error_ = co_await probe_upstream();
    upstream_checked_ = std::chrono::steady_clock::now();
    upstream_checked_once_ = true;
  }
  if (!upstream_error_.empty()) reasons += "upstream: " + upstream_error_ + "\n";
  if (reasons.empty()) co_return Response{200, "text/plain; charset=utf-8", "ready\n"};
  co_return Response{503, "text/plain; charset=utf-8", reasons};
}

asio::awaitable<std::string> AdminServer::probe_upstream() {
  const auto& up = shared_.config.upstream;
  const auto timeout = std::chrono::milliseconds(settings_.upstream_check_timeout_ms);
  error_code ec;
  if (up.kind == config::Endpoint::Kind::unix_socket) {
    // Shared with the timeout handler, which may run after this coroutine has moved on.
    struct Attempt {
      explicit Attempt(asio::io_context& ctx) : sock(ctx) {}
      asio::local::stream_protocol::socket sock;
      bool timed_out = false;
    };
    auto attempt = std::make_shared<Attempt>(ctx_);
    asio::steady_timer timer(ctx_, timeout);
    timer.async_wait([attempt](const error_code& e) {
      if (!e) {
        attempt->timed_out = true;
        error_code ignored;
        attempt->sock.close(ignored);
      }
    });
    co_await attempt->sock.async_connect(asio::local::stream_protocol::endpoint(up.path),
                                         redirect_error(use_awaitable, ec));
    timer.cancel();
    if (attempt->timed_out) co_return "cannot connect to " + up.path + ": timed out";
    if (ec) co_return "cannot connect to " + up.path + ": " + ec.message();
    co_return std::string();
  }
  tcp::resolver resolver(ctx_);
  auto results = co_await resolver.async_resolve(up.host, std::to_string(up.port), redirect_error(use_awaitable, ec));
  if (ec) co_return "cannot resolve " + up.to_string() + ": " + ec.message();
  beast::tcp_stream stream(ctx_);
  stream.expires_after(timeout);
  co_await stream.async_connect(results, redirect_error(use_awaitable, ec));
  if (ec == beast::error::timeout) co_return "cannot connect to " + up.to_string() + ": timed out";
  if (ec) co_return "cannot connect to " + up.to_string() + ": " + ec.message();
  co_return std::string();
}

}  // namespace ddlgate::proxy
