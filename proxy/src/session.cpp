// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include "session.h"
#include "sqlstate.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "ddlgate/ledger/record.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/protocol/codes.h"
#include "ddlgate/protocol/lexing_state.h"
#include "ddlgate/protocol/encoding.h"
#include "ddlgate/protocol/options.h"
#include "ddlgate/sql/server_admin.h"

namespace ddlgate::proxy {
namespace {

using boost::system::error_code;
using asio::redirect_error;
using asio::use_awaitable;
namespace fe = protocol::fe;
namespace be = protocol::be;

// PostgreSQL's own read size (PQ_RECV_BUFFER_SIZE is 8192); 16 KiB halves the
// system calls for bulk results while keeping an idle session small.
constexpr std::size_t kRelayBuffer = 16 * 1024;

// SQLSTATEs ddlgate sends itself (https://www.postgresql.org/docs/15/errcodes-appendix.html).

void set_nodelay(Socket& s) {
  if (s.local_endpoint().protocol().family() == AF_UNIX) return;
  int one = 1;
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Appends a span to a gather list, merging it with the previous one when contiguous.
void add_span(std::vector<asio::const_buffer>& out, std::span<const std::uint8_t> s) {
  if (s.empty()) return;
  if (!out.empty()) {
    auto& last = out.back();
    if (static_cast<const std::uint8_t*>(last.data()) + last.size() == s.data()) {
      last = asio::const_buffer(last.data(), last.size() + s.size());
      return;
    }
  }
  out.emplace_back(s.data(), s.size());
}

bool is_true_replication(const std::string& v) {
  // libpq's replication parameter: "true"/"on"/"yes"/"1" for physical, "database" for logical.
  std::string lower(v);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return !(lower == "false" || lower == "off" || lower == "no" || lower == "0");
}

}  // namespace

Session::Session(SharedState& shared, Worker& worker, Socket client, std::string peer)
    : engine_(*this, shared.spent != nullptr),
      shared_(shared),
      worker_(worker),
      config_(shared.live_config.load()),
      client_(std::move(client)),
      peer_(std::move(peer)),
      id_(shared.next_session_id.fetch_add(1)),
      client_scanner_(config_->limits.max_inspected_message),
      server_scanner_(config_->limits.max_inspected_message),
      inspection_wait_(worker.ctx),
      ledger_wait_(worker.ctx),
      ready_wait_(worker.ctx),
      analysis_wait_(worker.ctx),
      watchdog_timer_(worker.ctx),
      started_(std::chrono::steady_clock::now()),
      last_activity_(started_) {
  worker_.sessions.insert(this);
  shared_.live.fetch_add(1);
  // Client messages ddlgate reads whole: statements (for the policy) and the
  // SASL exchange (to explain channel binding instead of failing obscurely).
  client_scanner_.inspect(fe::kQuery);
  client_scanner_.inspect(fe::kParse);
  client_scanner_.inspect(fe::kPassword);
  // A message collected across reads takes its size from limits.inspection_budget first.
  client_scanner_.set_collect_gate(true);
  // Server messages that tell the session's state. All are small; DataRow and
  // CopyData, the bulk of the traffic, stream through uninspected.
  for (std::uint8_t t : {be::kAuthentication, be::kBackendKeyData, be::kReadyForQuery, be::kErrorResponse}) {
    server_scanner_.inspect(t);
  }
  // With enforcement, command tags tell the outcome of allowed statements, and
  // standard_conforming_strings says how the server reads backslashes.
  if (config_->enforcement.mode != config::EnforcementMode::off) {
    for (std::uint8_t t : {be::kCommandComplete, be::kParameterStatus, be::kEmptyQueryResponse, be::kPortalSuspended}) {
      server_scanner_.inspect(t);
    }
    // Replay protection refuses an Execute that would run a once-only prepared
    // statement again, so Executes (a portal name and a row count) are read whole.
    if (shared_.spent) client_scanner_.inspect(fe::kExecute);
    // A FunctionCall names its function by OID: read whole (up to limits.max_inspected_message)
    // so that only the functions sql::fast_path_functions() lists go on.
    client_scanner_.inspect(fe::kFunctionCall);
  }
}

Session::~Session() {
  worker_.sessions.erase(this);
  shared_.live.fetch_sub(1);
  if (admitted_) shared_.admitted.fetch_sub(1);
}

void Session::close() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  engine_.end_session();
  enforcement_.end_break_glass("session ended");  // break_glass.cpp
  enforcement_.record_pending_would_deny();       // enforce.cpp
  boost::system::error_code ignored;
  watchdog_timer_.cancel();
  ready_wait_.cancel();
  inspection_wait_.cancel();
  budget_.release_all();
  ledger_wait_.cancel();  // a paced refusal stops waiting (a ledger wait re-arms until its record is durable)
  client_.close();
  if (server_) server_->close();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  if (!user_.empty()) {
    spdlog::info("session {:x} closed: peer={} user={} database={} application={} duration_ms={} bytes_in={} bytes_out={}",
                 id_, peer_, user_, database_, application_, ms.count(), bytes_from_client_, bytes_from_server_);
  }
}

void Session::abort() {
  spdlog::info("session {:x}: closed by shutdown deadline", id_);
  close();
}

asio::awaitable<void> Session::fail(const std::string& sqlstate, const std::string& message,
                                    const std::string& detail, const std::string& hint) {
  spdlog::warn("session {:x} from {}: {} ({})", id_, peer_, message, sqlstate);
  if (phase_ != Phase::closed && !client_writing_ && !server_scanner_.mid_message()) {
    auto bytes = protocol::build_error_response({"FATAL", sqlstate, message, detail, hint});
    client_writing_ = true;
    error_code ec;
    co_await client_.write(asio::buffer(bytes), ec);
    client_writing_ = false;
  }
  close();
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  set_nodelay(client_.socket());
  asio::co_spawn(worker_.ctx, [self]() { return self->watchdog(); }, asio::detached);

  protocol::StartupMessage startup;
  if (!co_await read_startup(startup)) co_return;

  if (shared_.draining.load()) {
    co_await fail(kAdminShutdown, "the database system is shutting down");
    co_return;
  }
  if (shared_.admitted.fetch_add(1) >= config_->limits.max_connections) {
    shared_.admitted.fetch_sub(1);
    co_await fail(kTooManyConnections, "sorry, too many clients already",
                  "ddlgate accepts at most " + std::to_string(config_->limits.max_connections) +
                      " connections (limits.max_connections)");
    co_return;
  }
  admitted_ = true;

  std::string error;
  if (!co_await connect_upstream(error)) {
    worker_.counters.upstream_errors.add();
    co_await fail(kConnectionFailure, error);
    co_return;
  }
  phase_ = Phase::authenticating;
  worker_.counters.sessions_opened.add();
  spdlog::info("session {:x} opened: peer={} user={} database={} application={} tls={}", id_, peer_, user_,
               database_, application_, client_.is_tls());

  error_code ec;
  co_await server_->write(asio::buffer(startup_bytes_), ec);
  if (ec) {
    co_await fail(kConnectionFailure, "lost the upstream server " + shared_.config.upstream.to_string() +
                                          " while sending the startup packet: " + ec.message());
    co_return;
  }
  startup_bytes_.clear();
  startup_bytes_.shrink_to_fit();

  c2s_buf_.resize(kRelayBuffer);
  s2c_buf_.resize(kRelayBuffer);
  spawn_server_relay(false);
  co_await relay_client_to_server(ClientResume{});
}

asio::awaitable<bool> Session::read_startup(protocol::StartupMessage& startup) {
  const auto& cfg = *config_;
  std::vector<std::uint8_t> buf;
  std::size_t have = 0;
  bool tls_done = false;
  while (true) {
    auto decoded = protocol::decode_startup(std::span<const std::uint8_t>(buf.data(), have),
                                            cfg.limits.max_startup_packet);
    using Status = protocol::StartupDecode::Status;
    if (decoded.status == Status::error) {
      co_await fail(kProtocolViolation, decoded.error);
      co_return false;
    }
    if (decoded.status == Status::need_more) {
      // Grow only to what the (already capped) length field asks for.
      std::size_t want = std::max<std::size_t>(decoded.needed, have + 8);
      want = std::min<std::size_t>(std::max<std::size_t>(want, 512), cfg.limits.max_startup_packet);
      if (buf.size() < want) buf.resize(want);
      error_code ec;
      std::size_t n = co_await client_.read_some(asio::buffer(buf.data() + have, buf.size() - have), ec);
      if (ec) {
        // A client that connects and goes away (a port probe, a health check) is not an error worth a warning.
        spdlog::debug("session {:x} from {}: closed during startup: {}", id_, peer_, ec.message());
        close();
        co_return false;
      }
      have += n;
      last_activity_ = std::chrono::steady_clock::now();
      continue;
    }

    // A complete packet.
    std::size_t rest = have - decoded.consumed;
    auto take_rest = [&] {
      std::memmove(buf.data(), buf.data() + decoded.consumed, rest);
      have = rest;
    };

    if (std::holds_alternative<protocol::SslRequest>(decoded.packet) ||
        std::holds_alternative<protocol::DirectTls>(decoded.packet)) {
      bool direct = std::holds_alternative<protocol::DirectTls>(decoded.packet);
      if (tls_done) {
        co_await fail(kProtocolViolation, "unexpected SSL request inside an encrypted connection");
        co_return false;
      }
      if (!direct && rest != 0) {
        // Bytes after SSLRequest would be read as if they had come over TLS
        // (the flaw fixed as CVE-2021-23214 in PostgreSQL).
        co_await fail(kProtocolViolation, "received unencrypted data after SSL request");
        co_return false;
      }
      if (!shared_.tls.client) {
        if (direct) {
          // A TLS ClientHello cannot be answered with a PostgreSQL message.
          spdlog::warn("session {:x} from {}: direct TLS connection refused: tls.mode is disable", id_, peer_);
          close();
          co_return false;
        }
        error_code ec;
        const std::uint8_t no = 'N';
        co_await client_.write(asio::buffer(&no, 1), ec);
        if (ec) {
          close();
          co_return false;
        }
        have = 0;
        continue;
      }
      if (!direct) {
        error_code ec;
        const std::uint8_t yes = 'S';
        co_await client_.write(asio::buffer(&yes, 1), ec);
        if (ec) {
          close();
          co_return false;
        }
      }
      client_.upgrade(*shared_.tls.client);
      error_code ec;
      if (direct) {
        co_await client_.tls()->async_handshake(asio::ssl::stream_base::server, asio::buffer(buf.data(), have),
                                                redirect_error(use_awaitable, ec));
      } else {
        co_await client_.tls()->async_handshake(asio::ssl::stream_base::server, redirect_error(use_awaitable, ec));
      }
      if (ec) {
        spdlog::warn("session {:x} from {}: TLS handshake failed: {}", id_, peer_, ec.message());
        close();
        co_return false;
      }
      if (direct && selected_alpn(client_.tls()->native_handle()) != "postgresql") {
        // Direct TLS must negotiate ALPN "postgresql" (PostgreSQL 17 protocol flow).
        co_await fail(kProtocolViolation, "direct TLS connection without ALPN \"postgresql\"");
        co_return false;
      }
      tls_done = true;
      have = 0;
      continue;
    }
    if (std::holds_alternative<protocol::GssEncRequest>(decoded.packet)) {
      // ddlgate does not do GSSAPI encryption; 'N' lets libpq go on (pitfalls: never leave it unanswered).
      if (rest != 0) {
        co_await fail(kProtocolViolation, "received unencrypted data after GSSAPI encryption request");
        co_return false;
      }
      error_code ec;
      const std::uint8_t no = 'N';
      co_await client_.write(asio::buffer(&no, 1), ec);
      if (ec) {
        close();
        co_return false;
      }
      have = 0;
      continue;
    }
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&decoded.packet)) {
      co_await handle_cancel(*cancel);
      co_return false;
    }

    startup = std::get<protocol::StartupMessage>(std::move(decoded.packet));
    startup_bytes_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(decoded.consumed));
    take_rest();
    leftover_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(have));
    break;
  }

  if (const auto* u = startup.find("user")) user_ = *u;
  if (const auto* d = startup.find("database")) database_ = *d;
  if (database_.empty()) database_ = user_;
  if (const auto* a = startup.find("application_name")) application_ = *a;

  if (cfg.client_tls.mode == config::ClientTlsMode::require && !client_.is_tls()) {
    co_await fail(kInvalidAuthorization, "ddlgate requires TLS: connection from " + peer_ + " is not encrypted",
                  "", "Connect with sslmode=require (or verify-full).");
    co_return false;
  }
  if (user_.empty()) {
    co_await fail(kInvalidAuthorization, "no PostgreSQL user name specified in startup packet");
    co_return false;
  }
  const auto& enf = cfg.enforcement;
  mode_ = enf.mode_for(user_, database_);
  if (mode_ == config::EnforcementMode::off) {
    // A transparent session (no [enforcement]; decided per session, from its user and
    // database, so an override to off would count too): nothing reads statements, so they stream through like data messages,
    // up to PostgreSQL's own 1 GiB - 1 and never held or capped (docs/operations.md).
    // Metrics count messages as they start; a break-glass token still leaves the
    // startup packet (below), and a statement's text means nothing to an off session.
    for (std::uint8_t t : {fe::kQuery, fe::kParse, fe::kFunctionCall, fe::kExecute}) client_scanner_.inspect(t, false);
  }
  if (mode_ != config::EnforcementMode::off && !enf.users.empty() &&
      std::find(enf.users.begin(), enf.users.end(), user_) == enf.users.end()) {
    // Unknown users: refused in enforce mode, noted in monitor mode.
    if (mode_ == config::EnforcementMode::enforce) {
      co_await fail(kInvalidAuthorization, "ddlgate: user \"" + user_ + "\" is not known to ddlgate", "",
                    "Add the user to enforcement.users.");
      co_return false;
    }
    spdlog::warn("session {:x}: user {} is not in enforcement.users (monitor mode: allowed)", id_, user_);
  }
  if (const auto* r = startup.find("replication"); r && is_true_replication(*r)) {
    co_await fail(kFeatureNotSupported, "ddlgate does not proxy replication connections",
                  "A replication session can run commands that ddlgate would not decide.",
                  "Connect replication clients (pg_basebackup, subscribers) to the server directly.");
    co_return false;
  }
  // Break-glass (break_glass.cpp): the token leaves the startup packet here, whatever follows.
  if (!co_await enforcement_.break_glass_startup(startup)) co_return false;
  if (mode_ != config::EnforcementMode::off && !co_await pin_lexing_settings(startup)) co_return false;
  if (mode_ != config::EnforcementMode::off && !co_await check_startup_settings(startup)) co_return false;
  co_return true;
}

// Enforcing sessions: a dangerous setting (sql::dangerous_settings()) in the startup
// packet is refused with FATAL 42501 unless enforcement.allowed_startup_settings
// names it (monitor mode: logged). False when the session was closed.
asio::awaitable<bool> Session::check_startup_settings(const protocol::StartupMessage& startup) {
  // A setting in the startup packet is applied before any statement, unseen by the
  // decisions: those that only a superuser may set, that load code
  // (session_preload_libraries) or that switch off triggers (session_replication_role)
  // are refused unless the configuration allows them by name.
  const auto& allowed = config_->enforcement.allowed_startup_settings;
  for (const auto& setting : sql::dangerous_settings()) {
    if (std::find(allowed.begin(), allowed.end(), setting.name) != allowed.end()) continue;
    bool found = false;
    for (const auto& [key, value] : startup.parameters) {
      if ((key == "options" && protocol::extract_setting(value, setting.name).found()) ||
          protocol::same_parameter_name(key, setting.name, false)) {
        found = true;
      }
    }
    if (!found) continue;
    const std::string name(setting.name);
    if (mode_ == config::EnforcementMode::monitor) {
      spdlog::warn("session {:x} from {}: startup setting {} would be refused (monitor mode: allowed)", id_, peer_,
                   name);
      continue;
    }
    co_await fail(kInsufficientPrivilege, "ddlgate: the startup setting \"" + name + "\" is not allowed",
                  std::string(setting.why), "Allow it by name in enforcement.allowed_startup_settings, or SET it in "
                                            "a statement that an approved bundle lists.");
    co_return false;
  }
  co_return true;
}

// Enforcing sessions: the settings that change how the server splits a text
// (standard_conforming_strings, backslash_quote) go upstream in the startup packet,
// the client's values or else PostgreSQL's defaults, so that a configuration reload
// cannot change them under the session (a client's setting outranks the file's).
// client_encoding is pinned when the client names it. False when the packet would
// be too large (the session is closed).
asio::awaitable<bool> Session::pin_lexing_settings(protocol::StartupMessage& startup) {
  // Whether the client sets `name` itself: a parameter of the packet, or -c / -- in options.
  auto client_sets = [&](std::string_view name) {
    for (const auto& [key, value] : startup.parameters) {
      if (key == "options" && protocol::extract_setting(value, name).found()) return true;
      if (protocol::same_parameter_name(key, name, false)) return true;
    }
    return false;
  };
  // PostgreSQL 15's defaults (guc.c); a server whose postgresql.conf sets another
  // value serves these sessions with PostgreSQL's default instead (docs/enforcement.md).
  static constexpr std::pair<std::string_view, std::string_view> kPinned[] = {
      {"standard_conforming_strings", "on"},
      {"backslash_quote", "safe_encoding"},
  };
  bool changed = false;
  for (const auto& [name, value] : kPinned) {
    if (client_sets(name)) continue;
    startup.parameters.emplace_back(std::string(name), std::string(value));
    changed = true;
  }
  // Every setting the packet carries comes from the client (PGC_S_CLIENT): a reload
  // cannot change it. standard_conforming_strings is always there now.
  // backslash_quote: the options' -c value, then the packet's parameter (postinit.c,
  // process_startup_options, applies them in that order).
  std::uint8_t backslash_quote = 0;
  for (const auto& [key, value] : startup.parameters) {
    if (key != "options") continue;
    if (auto found = protocol::extract_setting(value, "backslash_quote"); found.found()) {
      backslash_quote = protocol::parse_backslash_quote(found.values.back());
    }
  }
  for (const auto& [key, value] : startup.parameters) {
    if (protocol::same_parameter_name(key, "backslash_quote", false)) {
      backslash_quote = protocol::parse_backslash_quote(value);
    }
  }
  engine_.lexing() = protocol::LexingState({.standard_strings_pinned = true,
                                   .client_encoding_pinned = client_sets("client_encoding"),
                                   .backslash_quote = backslash_quote});
  if (!changed) co_return true;
  auto bytes = protocol::encode_startup(startup);
  // PostgreSQL refuses a startup packet over MAX_STARTUP_PACKET_LENGTH (10000 bytes).
  constexpr std::size_t kServerStartupLimit = 10000;
  if (bytes.size() > kServerStartupLimit) {
    co_await fail(kProtocolViolation, "startup packet too large",
                  "With the settings ddlgate pins (standard_conforming_strings, backslash_quote) the packet would be " +
                      std::to_string(bytes.size()) + " bytes; PostgreSQL accepts at most 10000.");
    co_return false;
  }
  startup_bytes_ = std::move(bytes);
  co_return true;
}

asio::awaitable<bool> Session::handle_cancel(const protocol::CancelRequest& cancel) {
  // The client holds the server's own BackendKeyData (passed through untouched),
  // so the request goes to the upstream as it is, on a new connection, exactly
  // as PostgreSQL expects; neither side answers it.
  std::string error;
  if (!co_await connect_upstream(error)) {
    spdlog::warn("session {:x}: cancel request for backend {} not delivered: {}", id_, cancel.process_id, error);
    close();
    co_return false;
  }
  auto bytes = protocol::encode_cancel(cancel);
  error_code ec;
  co_await server_->write(asio::buffer(bytes), ec);
  if (!ec) {
    // Wait for the server to close, so the cancel is processed before our client
    // sees its connection end (libpq waits for that close as well).
    std::uint8_t sink[64];
    co_await server_->read_some(asio::buffer(sink), ec);
  }
  spdlog::debug("session {:x}: cancel request for backend {} forwarded", id_, cancel.process_id);
  close();
  co_return true;
}

asio::awaitable<bool> Session::connect_upstream(std::string& error) {
  const auto& cfg = *config_;
  const std::string where = cfg.upstream.to_string();
  auto exec = co_await asio::this_coro::executor;
  // Shared with the timeout handler, which may run after this coroutine has moved on.
  struct Attempt {
    explicit Attempt(const asio::any_io_executor& e) : sock(e) {}
    Socket sock;
    bool timed_out = false;
  };
  auto attempt = std::make_shared<Attempt>(exec);
  Socket& sock = attempt->sock;
  error_code ec;

  asio::steady_timer timer(exec);
  timer.expires_after(std::chrono::milliseconds(cfg.timeouts.connect_ms));
  timer.async_wait([attempt](const error_code& e) {
    if (!e) {
      attempt->timed_out = true;
      error_code ignored;
      attempt->sock.close(ignored);
    }
  });

  if (cfg.upstream.kind == config::Endpoint::Kind::unix_socket) {
    asio::local::stream_protocol::endpoint ep(cfg.upstream.path);
    co_await sock.async_connect(asio::generic::stream_protocol::endpoint(ep), redirect_error(use_awaitable, ec));
  } else {
    asio::ip::tcp::resolver resolver(exec);
    auto results = co_await resolver.async_resolve(cfg.upstream.host, std::to_string(cfg.upstream.port),
                                                   redirect_error(use_awaitable, ec));
    if (!ec) {
      ec = asio::error::host_not_found;
      for (const auto& r : results) {
        if (attempt->timed_out) break;
        error_code ignored;
        sock.close(ignored);
        ec = {};
        co_await sock.async_connect(asio::generic::stream_protocol::endpoint(r.endpoint()),
                                    redirect_error(use_awaitable, ec));
        if (!ec) break;
      }
    }
  }
  timer.cancel();
  if (attempt->timed_out) {
    error = "could not connect to the upstream server " + where + ": timed out after " +
            std::to_string(cfg.timeouts.connect_ms) + " ms";
    co_return false;
  }
  if (ec) {
    error = "could not connect to the upstream server " + where + ": " + ec.message();
    co_return false;
  }
  set_nodelay(sock);
  server_ = std::make_unique<Channel>(std::move(sock));

  if (shared_.tls.upstream) {
    auto req = protocol::encode_ssl_request();
    co_await server_->write(asio::buffer(req), ec);
    std::uint8_t answer = 0;
    if (!ec) co_await asio::async_read(server_->socket(), asio::buffer(&answer, 1), redirect_error(use_awaitable, ec));
    if (ec) {
      error = "upstream server " + where + " closed the connection during TLS negotiation: " + ec.message();
      co_return false;
    }
    if (answer == 'S') {
      server_->upgrade(*shared_.tls.upstream);
      SSL* ssl = server_->tls()->native_handle();
      const std::string& name =
          cfg.upstream_tls.server_name.empty() ? cfg.upstream.host : cfg.upstream_tls.server_name;
      // SNI, as libpq sends it (sslsni=1). SSL_set_tlsext_host_name is a macro with a C cast.
      if (!name.empty()) SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
      if (cfg.upstream_tls.mode == config::UpstreamTlsMode::verify_full) {
        server_->tls()->set_verify_callback(asio::ssl::host_name_verification(name));
      }
      co_await server_->tls()->async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, ec));
      if (ec) {
        error = "TLS handshake with the upstream server " + where + " failed: " + ec.message();
        co_return false;
      }
      upstream_cert_der_ = peer_certificate_der(ssl);
    } else if (answer == 'N') {
      if (cfg.upstream_tls.mode != config::UpstreamTlsMode::prefer) {
        error = "the upstream server " + where + " does not support TLS, and upstream.tls.mode requires it";
        co_return false;
      }
    } else {
      error = "the upstream server " + where + " answered the TLS request with an unexpected byte";
      co_return false;
    }
  }
  co_return true;
}

asio::awaitable<bool> Session::on_client_message(const protocol::ScanStep& step) {
  if (step.type == fe::kPassword && phase_ == Phase::authenticating && sasl_started_) {
    sasl_started_ = false;
    auto sasl = protocol::parse_sasl_initial_response(step.body);
    if (sasl && sasl->mechanism == "SCRAM-SHA-256-PLUS" && client_.is_tls() && server_->is_tls() &&
        upstream_cert_der_ != shared_.tls.client_cert_der) {
      // SCRAM-SHA-256-PLUS binds the exchange to the certificate the client saw
      // (RFC 5929 tls-server-end-point). The client saw ddlgate's, the server
      // will check against its own: they differ, so the server would refuse with
      // an obscure error. Say what is going on instead.
      co_await fail(kInvalidAuthorization,
                    "SCRAM channel binding cannot pass through ddlgate with a certificate that differs from the "
                    "upstream server's",
                    "The client chose SCRAM-SHA-256-PLUS over TLS to ddlgate, and ddlgate reaches the upstream over "
                    "TLS with a different certificate.",
                    "Connect with channel_binding=disable, or give ddlgate the upstream server's own certificate "
                    "and key (tls.cert_file, tls.key_file), or reach the upstream over a Unix socket or plaintext "
                    "loopback.");
      co_return false;
    }
  }
  co_return true;
}

std::span<const std::uint8_t> Session::on_server_message(const protocol::ScanStep& step) {
  switch (step.type) {
    case be::kAuthentication: {
      auto auth = protocol::parse_authentication(step.body);
      if (!auth) break;
      if (auth->code == protocol::AuthCode::sasl) {
        sasl_started_ = true;
        auto mechs = protocol::parse_sasl_mechanisms(auth->payload);
        if (!mechs) break;
        server_offered_plus_ =
            std::find(mechs->begin(), mechs->end(), std::string_view("SCRAM-SHA-256-PLUS")) != mechs->end();
        if (server_offered_plus_ && !client_.is_tls()) {
          // The upstream leg is TLS, so the server offers channel binding; the
          // client's leg is not, and libpq refuses an offer of -PLUS over a
          // plaintext connection. Offer the client only what it can use: it then
          // sends gs2 flag 'n', which the server accepts.
          std::vector<std::uint8_t> body = {0, 0, 0, static_cast<std::uint8_t>(protocol::AuthCode::sasl)};
          for (auto m : *mechs) {
            if (m == "SCRAM-SHA-256-PLUS") continue;
            body.insert(body.end(), m.begin(), m.end());
            body.push_back(0);
          }
          body.push_back(0);
          rewritten_.clear();
          protocol::append_message(rewritten_, be::kAuthentication, body);
          return rewritten_;
        }
      }
      break;
    }
    case be::kParameterStatus:
      if (auto p = protocol::parse_parameter_status(step.body)) {
        engine_.lexing_on_server(step);
        if (p->first == "server_encoding") enforcement_.reader_.set_server_encoding(p->second);
        // Reported at startup and after SET ROLE / SET SESSION AUTHORIZATION. Once on, the
        // session stays decided as a superuser's to its end (a RESET ROLE can turn it
        // back on in a pipeline before the server says so).
        if (p->first == "is_superuser" && p->second == "on" && !enforcement_.reader_.superuser()) {
          const auto& listed = config_->enforcement.superusers;
          if (std::find(listed.begin(), listed.end(), user_) == listed.end()) enforcement_.reader_.set_superuser();
          if (enforcement_.reader_.superuser() && enforcing()) {
            spdlog::warn("session {:x}: user {} is a superuser: every statement is decided as controlled "
                         "(enforcement.superusers does not list it)",
                         id_, user_);
          }
        }
      }
      break;
    case be::kBackendKeyData:
      if (auto key = protocol::parse_backend_key_data(step.body)) backend_pid_ = key->process_id;
      break;
    case be::kReadyForQuery:
      if (auto status = protocol::parse_ready_for_query(step.body)) {
        tx_status_ = *status;
        // Narrows the lexing settings when it answers everything sent (at the end of
        // startup too: statements pipelined behind the startup packet are held until now).
        engine_.lexing_on_server(step);
        if (phase_ == Phase::authenticating) {
          phase_ = Phase::ready;
          watchdog_timer_.cancel();  // from the startup deadline to the idle one
          ready_wait_.cancel();
          spdlog::debug("session {:x}: ready, backend pid {}", id_, backend_pid_);
        }
      }
      break;
    case be::kErrorResponse:
      if (phase_ == Phase::authenticating) {
        // Authentication failures are worth a line; the server decides, we relay.
        if (auto f = protocol::parse_error_fields(step.body)) {
          spdlog::info("session {:x}: upstream refused the session: {} ({})", id_, f->message(),
                       f->sqlstate().empty() ? "no SQLSTATE" : f->sqlstate());
        }
      }
      break;
    default:
      break;
  }
  return step.bytes;
}

// The relay (session.h explains its two forms). ------------------------------------------

bool Session::client_fast_lane() const {
  return phase_ == Phase::ready && enforcement_.startup_tokens_.empty() && !client_.is_tls() && server_ && !server_->is_tls();
}

bool Session::server_fast_lane() const {
  return phase_ == Phase::ready && !client_.is_tls() && server_ && !server_->is_tls();
}

// A hold step whose bytes were not free at once: waits up to limits.inspection_wait_ms,
// then admits the message, or refuses it (53200, counted): nullopt when admitted or
// dropped silently, else what to send instead (a close: the session has ended).
asio::awaitable<std::optional<Session::Verdict>> Session::wait_for_inspection(const protocol::ScanStep& step) {
  auto self = shared_from_this();
  const auto& limits = config_->limits;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.inspection_wait_ms);
  last_activity_ = std::max(last_activity_, deadline);  // held by ddlgate, not idle (timeouts.idle_ms)
  bool waited = false;
  while (phase_ != Phase::closed) {
    if (budget_.reserve(step.body_length, limits.inspection_budget)) {
      if (waited) worker_.counters.inspection_admitted_after_wait.add();
      client_scanner_.admit();
      co_return std::nullopt;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    // Sessions on other worker threads free the budget, with no wake-up across threads:
    // a short poll, on a path that only a full budget takes.
    waited = true;
    inspection_wait_.expires_at(std::min(deadline, now + std::chrono::milliseconds(10)));
    boost::system::error_code ec;
    co_await inspection_wait_.async_wait(redirect_error(use_awaitable, ec));
  }
  if (phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  worker_.counters.inspection_refusals.add();
  // The message is not read: it starts now for the session's bookkeeping, and its body is
  // dropped as it streams on.
  client_scanner_.refuse();
  protocol::ScanStep start;
  start.kind = protocol::ScanStep::Kind::pass;
  start.starts_message = true;
  start.type = step.type;
  start.body_length = step.body_length;
  begin_client_message(start);
  const bool already_dropped = drop_current_;
  drop_current_ = true;
  const std::string message = "ddlgate: out of memory for inspecting a message of " +
                              std::to_string(std::uint64_t{step.body_length} + 5) + " bytes";
  const std::string detail =
      "Messages that ddlgate reads whole are held under limits.inspection_budget (" +
      std::to_string(limits.inspection_budget) + " bytes, shared by all sessions), which stayed full for " +
      std::to_string(limits.inspection_wait_ms) + " ms (limits.inspection_wait_ms). Nothing of this message ran.";
  const std::string hint = "Retry when fewer large statements are in flight, or raise limits.inspection_budget.";
  spdlog::warn("session {:x}: {} (limits.inspection_budget {} bytes full for {} ms)", id_, message,
               limits.inspection_budget, limits.inspection_wait_ms);
  // Already dropped: the server skips to the batch's Sync, and the batch has its error.
  if (already_dropped) co_return std::nullopt;
  // A statement (or FunctionCall, Execute) of an established enforcing session is refused the
  // way a denial is, so that the session stays usable: the server raises the error, rolls back,
  // and for the extended protocol skips to Sync. Anything else cannot be skipped: FATAL.
  const bool extended = step.type == fe::kParse || step.type == fe::kExecute;
  const bool skippable = extended || step.type == fe::kQuery || step.type == fe::kFunctionCall;
  if (skippable && enforcing() && phase_ == Phase::ready && enforcement_.startup_tokens_.empty()) {
    co_return enforcement_.deny({"ERROR", kOutOfMemory, message, detail, hint}, extended, false);
  }
  co_await fail(kOutOfMemory, message, detail, hint);
  co_return Verdict{Verdict::Kind::close, {}, false};
}

// scan_client_input's rare steps: a hold (stream, collect under the budget, or the cap's
// error) and a streamed body's part (kind streamed). True: stop at `step` (changed to an error for the
// cap or a cut-off stream; a hold that waits for the budget).
bool Session::large_message_step(protocol::ScanStep& step) {
  if (step.kind == protocol::ScanStep::Kind::hold) {
    if (may_stream(step)) {
      start_stream(step);
      return false;
    }
    if (!step.error.empty()) {  // over limits.max_inspected_message: FATAL 54000
      step.kind = protocol::ScanStep::Kind::error;
      return true;
    }
    // A message to collect across reads: its bytes come from the shared budget, or it waits
    // (one up to InspectionBudget::kAlwaysAdmitted is always read).
    if (!budget_.reserve(step.body_length, config_->limits.inspection_budget)) {
      if (step.body_length > InspectionBudget::kAlwaysAdmitted) return true;
      budget_.force(step.body_length);
    }
    client_scanner_.admit();
    return false;
  }
  // kind streamed: the body of a streamed Query.
  if (stream_.failed()) {
    // The rest of one that was cut off: read and dropped, so that the client, still
    // sending it, reads the FATAL that follows (the server gets none of it).
    if (!stream_.drop(step.bytes.size())) return false;
    step.kind = protocol::ScanStep::Kind::error;
    return true;
  }
  if (stream_.feed(step.bytes)) {
    add_span(c2s_out_, step.bytes);
    return false;
  }
  // Nothing of this part goes on: the server holds an unfinished message.
  step.kind = protocol::ScanStep::Kind::error;
  return true;
}

bool Session::may_stream(const protocol::ScanStep& hold) const {
  if (hold.type != fe::kQuery || !enforcing() || phase_ != Phase::ready || !enforcement_.startup_tokens_.empty() || engine_.skipping() ||
      enforcement_.break_glass_ || enforcement_.reader_.superuser() || config_->enforcement.record_all_statements ||
      !worker_.cache->plain_dml_uncontrolled()) {
    return false;
  }
  // The text (the body less its NUL) must be one the server reads the way the byte scan
  // does under every reading the session allows: a client encoding that hides ASCII in
  // multibyte characters (read_as_server) reads non-ASCII bytes otherwise, and one that is
  // not pinned and settled may be such an encoding; then a non-ASCII byte ends the stream.
  const std::size_t text = hold.body_length - 1;
  // What is streamed: a text over limits.max_inspected_message, which would otherwise be
  // refused with FATAL 54000; and in enforce mode one over what the parser takes
  // (sql::kMaxAnalyzedBytes), which would otherwise be refused unless plain DML, when
  // every byte reads alike. Anything smaller is held whole and decided as before, so a
  // text the byte scan cannot settle (a literal with ';' or "into" in it) still goes on.
  if (hold.body_length > config_->limits.max_inspected_message) return true;
  const protocol::EncodingSet encodings = engine_.lexing().possible_encodings();
  const bool ascii_readings = !encodings.wide && !protocol::hides_ascii(encodings.reported);
  return mode_ == config::EnforcementMode::enforce && ascii_readings && text > sql::kMaxAnalyzedBytes;
}

void Session::start_stream(const protocol::ScanStep& hold) {
  const protocol::EncodingSet encodings = engine_.lexing().possible_encodings();
  client_scanner_.stream();  // the body goes on as `streamed` steps, never held
  stream_.start(hold.body_length, !encodings.wide && !protocol::hides_ascii(encodings.reported));
  const auto header = client_scanner_.held_header();
  c2s_arena_.emplace_back(header.begin(), header.end());
  protocol::ScanStep start;
  start.kind = protocol::ScanStep::Kind::pass;
  start.starts_message = true;
  start.type = hold.type;
  start.body_length = hold.body_length;
  start.bytes = c2s_arena_.back();
  begin_client_message(start);
  engine_.stream_started();  // one plain statement: nothing tracked, no session effect
  forward_client_step(start);
  worker_.counters.statements_streamed.add();
  spdlog::debug("session {:x}: streaming a Query of {} bytes while it is scanned", id_, hold.body_length + 5);
}

// The text turned out not to be plain DML with part of it at the server: the refusal is
// recorded, the rest of the message read and dropped, then FATAL and the session closed,
// so that the server gets the message cut off before its end and runs none of it.
asio::awaitable<void> Session::record_cut_stream() {
  auto self = shared_from_this();
  worker_.counters.streams_cut.add();
  const std::uint64_t size = std::uint64_t{stream_.size()} + 5;
  const bool monitor = mode_ == config::EnforcementMode::monitor;
  ledger::DecisionInfo d;
  d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
  d.session = enforcement_.session_info();
  d.statement_class = "unparseable";
  d.reason = "a statement of " + std::to_string(size) +
             " bytes, streamed as plain DML, turned out not to be one after " + std::to_string(stream_.cut_at()) +
             " bytes; it was cut off before its end and did not run";
  worker_.counters.count_decision(sql::StatementClass::unparseable, d.decision);
  std::vector<ledger::Record> records;
  records.push_back(ledger::decision(d));
  bool recorded = false;
  if (enforcement_.ledger_working()) recorded = co_await record_durably(std::move(records));
  if (!recorded) spdlog::error("session {:x}: the ledger is unavailable; a cut-off streamed statement is not recorded", id_);
}

asio::awaitable<void> Session::cut_stream() {
  // The server has the message's start and waits for the rest; closing the connection
  // before its end makes PostgreSQL drop it unexecuted (it reads a message whole before it
  // acts, and a backend whose client goes away mid-message exits, rolling back).
  const std::uint64_t size = std::uint64_t{stream_.size()} + 5;
  const std::string message = "ddlgate: a statement of " + std::to_string(size) +
                              " bytes is not approved: it is not one plain INSERT, UPDATE, DELETE or SELECT";
  const std::string detail = "ddlgate streams a statement this large while it reads it, and this one turned out "
                             "not to be plain DML after " + std::to_string(stream_.cut_at()) +
                             " bytes. It was cut off before its end: none of it ran.";
  const std::string hint = "Send large data as a parameter (Bind) or with COPY, or split the statement.";
  co_await fail(kInsufficientPrivilege, message, detail, hint);
}

void Session::begin_client_message(const protocol::ScanStep& step) {
  worker_.counters.messages_client_to_server.add();
  // A denied Parse or Execute: the messages after it are dropped up to the Sync
  // that ends its batch, which goes on (the server may be skipping to it already).
  drop_current_ = !engine_.begin_client_message(step.type);
}

void Session::forward_undecided(const protocol::ScanStep& step) {
  // Reads and writes go on untouched. enforcement_.needs_decision() has just read the text.
  engine_.forward_undecided(step, enforcement_.reader_.readings().empty() ? nullptr : enforcement_.reader_.readings().front().get());
  add_span(c2s_out_, step.bytes);
}

void Session::forward_client_step(const protocol::ScanStep& step) {
  if (enforcing()) engine_.forward(step);
  if (step.starts_message && step.type == fe::kTerminate && !terminate_seen_) {
    // The server closes after it: its last answers and its FIN may come in one
    // edge, and the session must see that end (reactor_read.h, expect_end()).
    terminate_seen_ = true;
    server_read_.expect_end();
    client_read_.expect_end();
  }
  add_span(c2s_out_, step.bytes);
}

std::optional<Session::ClientStop> Session::scan_client_input(std::span<const std::uint8_t>& input) {
  while (!input.empty()) {
    protocol::ScanStep step = client_scanner_.next(input);
    input = input.subspan(step.consumed);
    // Stops before any state changes for the step, so the coroutine handles it whole.
    // The rare kinds, in one test: an error, a message about to be collected (hold), the
    // body of a streamed one (out of line).
    static_assert(protocol::ScanStep::Kind::error < protocol::ScanStep::Kind::hold &&
                  protocol::ScanStep::Kind::hold < protocol::ScanStep::Kind::streamed);
    if (step.kind >= protocol::ScanStep::Kind::error) [[unlikely]] {
      if (step.kind == protocol::ScanStep::Kind::error || large_message_step(step)) return ClientStop{std::move(step)};
      continue;
    }
    if (step.starts_message && !protocol::is_frontend_type(step.type)) return ClientStop{std::move(step)};
    const bool statement = step.type == fe::kQuery || step.type == fe::kParse;
    if (step.kind == protocol::ScanStep::Kind::message && !engine_.skipping()) {
      if (step.type == fe::kPassword && phase_ == Phase::authenticating && sasl_started_) return ClientStop{std::move(step)};
      if (enforcing() && statement) {
        // Pipelined behind the startup packet: waits for authentication.
        if (phase_ != Phase::ready || !enforcement_.startup_tokens_.empty()) return ClientStop{std::move(step)};
        if (enforcement_.needs_decision(step)) return ClientStop{std::move(step), true};
      }
      // A FunctionCall of a function that is not known to be harmless is refused first.
      if (step.type == fe::kFunctionCall && enforcing() && enforcement_.function_call_refused(step)) {
        return ClientStop{std::move(step)};
      }
      // An Execute of a portal ddlgate keeps may be refused or recorded first.
      if (engine_.keeps_portals() && step.type == fe::kExecute && enforcing() &&
          (engine_.refused_execute(step, enforcement_.open_token()) != engine::ExecuteRefusal::none ||
           engine_.execution_to_record(step, enforcement_.record_all_now()))) {
        return ClientStop{std::move(step)};
      }
    }
    if (step.starts_message) begin_client_message(step);
    if (drop_current_) continue;
    if (step.kind == protocol::ScanStep::Kind::message && enforcing() && statement) {
      forward_undecided(step);
    } else {
      forward_client_step(step);
    }
  }
  return std::nullopt;
}

void Session::count_client_bytes(std::size_t n) {
  bytes_from_client_ += n;
  worker_.counters.bytes_client_to_server.add(n);
  last_activity_ = std::chrono::steady_clock::now();
}

void Session::count_server_bytes(std::size_t n) {
  bytes_from_server_ += n;
  worker_.counters.bytes_server_to_client.add(n);
  last_activity_ = std::chrono::steady_clock::now();
}

void Session::read_client() {
  worker_.counters.fast_lane_reads.add();
  client_read_.start(client_.socket(), c2s_buf_, shared_from_this(), kClientSide);
}

void Session::on_read(int side, const error_code& ec, std::size_t n) {
  if (side == kClientSide) {
    on_client_read(ec, n);
  } else {
    on_server_read(ec, n);
  }
}

void Session::on_client_read(const error_code& read_ec, std::size_t n) {
  if (read_ec || phase_ == Phase::closed) {
    close();
    return;
  }
  count_client_bytes(n);
  std::span<const std::uint8_t> input(c2s_buf_.data(), n);
  c2s_out_.clear();
  if (auto stop = scan_client_input(input)) {
    spawn_client_relay(ClientResume{true, std::move(stop->step), input, stop->needs_decision});
    return;
  }
  error_code ec;
  if (!c2s_out_.empty() && !server_->write_now(c2s_out_, ec)) {
    // The server's socket is full: the coroutine waits for it.
    ClientResume r;
    r.active = true;
    spawn_client_relay(std::move(r));
    return;
  }
  if (ec) {
    close();
    return;
  }
  c2s_arena_.clear();
  budget_.release(client_scanner_.collecting());
  client_scanner_.trim();
  if (client_fast_lane()) {
    read_client();
  } else {
    spawn_client_relay(ClientResume{});
  }
}

void Session::spawn_client_relay(ClientResume resume) {
  asio::co_spawn(
      worker_.ctx, [self = shared_from_this(), r = std::move(resume)]() mutable {
        return self->relay_client_to_server(std::move(r));
      },
      asio::detached);
}

void Session::spawn_server_relay(bool resume_write) {
  asio::co_spawn(
      worker_.ctx, [self = shared_from_this(), resume_write]() { return self->relay_server_to_client(resume_write); },
      asio::detached);
}

// The relay. Each direction runs in one of two forms, never both at once:
//  - a coroutine (relay_client_to_server, relay_server_to_client) for whatever
//    may wait: startup and authentication, TLS, enforcement decisions, a write
//    the socket did not take at once, errors;
//  - plain completion handlers (read_client, read_server) once the session is
//    established over plaintext sockets (reads through reactor_read.h, which
//    skips Asio's try-at-once read when the socket was just drained): a read's bytes are scanned and
//    forwarded synchronously and the next read is started, with no coroutine
//    frame or awaitable machinery per read (a third of the CPU per pgbench
//    transaction). At the first step that must wait, the handler hands the
//    step and the rest of its input to a new coroutine, which goes back to
//    handlers when the wait is over.
// Both forms scan with the same synchronous functions (scan_client_input,
// scan_server_input), so they cannot drift apart.
asio::awaitable<void> Session::relay_client_to_server(ClientResume resume) {
  auto self = shared_from_this();
  auto& out = c2s_out_;
  std::span<const std::uint8_t> input;
  std::optional<protocol::ScanStep> pending;
  bool known_needs = false;
  bool have_input = resume.active;
  bool from_leftover = false;
  if (resume.active) {
    input = resume.input;
    pending = std::move(resume.step);
    known_needs = resume.needs_decision;
  } else if (!leftover_.empty()) {
    input = leftover_;
    have_input = true;
    from_leftover = true;
    out.clear();
  }
  while (phase_ != Phase::closed) {
    error_code ec;
    if (!have_input) {
      if (client_fast_lane()) {
        read_client();
        co_return;
      }
      std::size_t n = co_await client_.read_some(asio::buffer(c2s_buf_), ec);
      if (ec || phase_ == Phase::closed) break;
      input = std::span<const std::uint8_t>(c2s_buf_.data(), n);
      count_client_bytes(n);
      out.clear();
    }
    have_input = false;
    for (;;) {
      if (!pending) {
        auto stop = scan_client_input(input);
        if (!stop) break;
        pending = std::move(stop->step);
        known_needs = stop->needs_decision;
      }
      // A step that may wait.
      protocol::ScanStep step = std::move(*pending);
      pending.reset();
      const bool needs_known = std::exchange(known_needs, false);
      // What enforcement_.enforce() or enforcement_.deny_execute() decided to send instead of the message.
      auto replace = [&](Verdict& v) {
        c2s_arena_.push_back(std::move(v.bytes));
        add_span(out, c2s_arena_.back());
        engine_.replaced(step.type, v.skip_to_sync);
      };
      if (step.kind == protocol::ScanStep::Kind::error && stream_.failed()) {
        // Nothing of this read goes on, nor anything after it: the server waits for the
        // rest of a message that never comes.
        out.clear();
        if (stream_.take_cut_record()) {
          co_await record_cut_stream();
          if (phase_ == Phase::closed) co_return;
        }
        if (!stream_.done()) continue;  // drop the rest of it first
        co_await cut_stream();
        co_return;
      }
      if (step.kind == protocol::ScanStep::Kind::error) {
        co_await fail(step.error.find("over the limit") != std::string::npos ? kProgramLimitExceeded
                                                                               : kProtocolViolation,
                      step.error);
        co_return;
      }
      if (step.kind == protocol::ScanStep::Kind::hold) {
        std::optional<Verdict> v = co_await wait_for_inspection(step);
        if (phase_ == Phase::closed || (v && v->kind == Verdict::Kind::close)) co_return;
        if (v) replace(*v);
        continue;
      }
      if (step.starts_message && !protocol::is_frontend_type(step.type)) {
        co_await fail(kProtocolViolation, "invalid frontend message type " + std::to_string(step.type));
        co_return;
      }
      if (step.starts_message) begin_client_message(step);
      if (drop_current_) continue;
      const engine::ExecuteRefusal refusal = step.kind == protocol::ScanStep::Kind::message && enforcing()
                                                 ? engine_.refused_execute(step, enforcement_.open_token())
                                                 : engine::ExecuteRefusal::none;
      if (refusal != engine::ExecuteRefusal::none) {
        Verdict v = co_await enforcement_.deny_execute(step, refusal);
        if (v.kind == Verdict::Kind::close || phase_ == Phase::closed) co_return;
        if (v.kind == Verdict::Kind::replace) {
          replace(v);
          continue;
        }
      }
      if (step.kind == protocol::ScanStep::Kind::message && step.type == fe::kFunctionCall && enforcing() &&
          enforcement_.function_call_refused(step)) {
        Verdict v = co_await enforcement_.deny_function_call(step);
        if (v.kind == Verdict::Kind::close || phase_ == Phase::closed) co_return;
        if (v.kind == Verdict::Kind::replace) {
          replace(v);
          continue;
        }
      }
      // A later run of a recorded prepared statement: recorded before it goes on.
      if (step.kind == protocol::ScanStep::Kind::message && enforcing() &&
          engine_.execution_to_record(step, enforcement_.record_all_now())) {
        Verdict v = co_await enforcement_.record_execution(step);
        if (v.kind == Verdict::Kind::close || phase_ == Phase::closed) co_return;
        if (v.kind == Verdict::Kind::replace) {
          replace(v);
          continue;
        }
      }
      if (step.kind == protocol::ScanStep::Kind::message) {
        if (!co_await on_client_message(step)) co_return;
        // Decided from the first byte after the startup packet: a client may
        // pipeline statements behind it, and the server runs them once
        // authentication succeeds (trust, certificate).
        if (enforcing() && (step.type == fe::kQuery || step.type == fe::kParse)) {
          bool held = false;
          if (phase_ != Phase::ready || !enforcement_.startup_tokens_.empty()) {
            // Pipelined behind the startup packet: decided once the server has
            // authenticated the client, so that nobody unauthenticated can make
            // ddlgate parse (or the ledger record) anything. What came before
            // (the authentication exchange) goes on first.
            held = true;
            if (!out.empty()) {
              co_await server_->write(out, ec);
              if (ec) {
                close();
                co_return;
              }
              out.clear();
              c2s_arena_.clear();
            }
            // Until the server has authenticated the client and a break-glass token
            // of the startup packet has been checked.
            while (phase_ == Phase::authenticating || (phase_ == Phase::ready && !enforcement_.startup_tokens_.empty())) {
              ready_wait_.expires_at(std::chrono::steady_clock::time_point::max());
              co_await ready_wait_.async_wait(redirect_error(use_awaitable, ec));
            }
            ec = {};
            if (phase_ != Phase::ready) co_return;
          }
          if (!((needs_known && !held) || enforcement_.needs_decision(step))) {
            forward_undecided(step);
            continue;
          }
          Verdict v = co_await enforcement_.enforce(step);
          if (v.kind == Verdict::Kind::close || phase_ == Phase::closed) {
            if (v.kind == Verdict::Kind::close && phase_ != Phase::closed) {
              co_await fail(kProtocolViolation, "malformed Query or Parse message");
            }
            co_return;
          }
          if (v.kind == Verdict::Kind::replace) {
            replace(v);
            continue;
          }
          engine_.allowed(step);
        }
      }
      forward_client_step(step);
    }
    if (!out.empty()) {
      if (!server_->write_now(out, ec)) co_await server_->write(out, ec);
      if (ec) break;
    }
    c2s_arena_.clear();
    budget_.release(client_scanner_.collecting());
    client_scanner_.trim();
    if (from_leftover) {
      std::vector<std::uint8_t>().swap(leftover_);
      from_leftover = false;
    }
  }
  if (!leftover_.empty()) std::vector<std::uint8_t>().swap(leftover_);
  close();
}

Session::ServerScan Session::scan_server_input(std::span<const std::uint8_t>& input,
                                               std::span<const std::uint8_t>& held) {
  while (!input.empty()) {
    protocol::ScanStep step = server_scanner_.next(input);
    input = input.subspan(step.consumed);
    if (step.kind == protocol::ScanStep::Kind::error) {
      spdlog::error("session {:x}: malformed data from the upstream server: {}", id_, step.error);
      return ServerScan::error;
    }
    std::span<const std::uint8_t> bytes = step.bytes;
    if (step.starts_message) worker_.counters.messages_server_to_client.add();
    // Outcomes: what ends an Expected entry. Completions of Parse, Bind, Describe
    // and Close are not inspected (their type is enough); the rest are, whole.
    bool swallow = false;
    if (enforcing() && phase_ == Phase::ready && engine::Engine::reads_server(step)) swallow = engine_.on_server(step);
    if (step.kind == protocol::ScanStep::Kind::message) {
      const bool was_ready = phase_ == Phase::ready;
      bytes = on_server_message(step);
      if (swallow) bytes = {};
      if (step.type == be::kErrorResponse) {
        if (auto rewritten = engine_.rewrite_denial(step)) {
          s2c_arena_.push_back(std::move(*rewritten));
          bytes = s2c_arena_.back();
        }
      }
      if (!was_ready && phase_ == Phase::ready && !enforcement_.startup_tokens_.empty()) {
        held = bytes;
        return ServerScan::check_token;
      }
    }
    add_span(s2c_out_, bytes);
  }
  return ServerScan::done;
}

void Session::read_server() {
  worker_.counters.fast_lane_reads.add();
  server_read_.start(server_->socket(), s2c_buf_, shared_from_this(), kServerSide);
}

void Session::on_server_read(const error_code& read_ec, std::size_t n) {
  if (read_ec || phase_ == Phase::closed) {
    close();
    return;
  }
  count_server_bytes(n);
  std::span<const std::uint8_t> input(s2c_buf_.data(), n);
  std::span<const std::uint8_t> held;
  s2c_out_.clear();
  // check_token cannot come: the session was ready before this read.
  if (scan_server_input(input, held) != ServerScan::done) {
    close();
    return;
  }
  error_code ec;
  if (!s2c_out_.empty() && !client_.write_now(s2c_out_, ec)) {
    // The client's socket is full: the coroutine waits for it. No other write to
    // the client may start meanwhile (fail() checks client_writing_).
    client_writing_ = true;
    spawn_server_relay(true);
    return;
  }
  if (ec) {
    close();
    return;
  }
  s2c_arena_.clear();
  server_scanner_.trim();
  if (server_fast_lane()) {
    read_server();
  } else {
    spawn_server_relay(false);
  }
}

asio::awaitable<void> Session::relay_server_to_client(bool resume_write) {
  auto self = shared_from_this();
  auto& out = s2c_out_;
  bool have_output = resume_write;
  while (phase_ != Phase::closed) {
    error_code ec;
    if (!have_output) {
      if (server_fast_lane()) {
        read_server();
        co_return;
      }
      std::size_t n = co_await server_->read_some(asio::buffer(s2c_buf_), ec);
      if (ec || phase_ == Phase::closed) break;
      count_server_bytes(n);
      std::span<const std::uint8_t> input(s2c_buf_.data(), n);
      out.clear();
      bool stop = false;
      for (;;) {
        std::span<const std::uint8_t> held;
        ServerScan r = scan_server_input(input, held);
        if (r == ServerScan::done) break;
        if (r == ServerScan::error) {
          stop = true;
          break;
        }
        // The server has authenticated the client: now the break-glass token of
        // the startup packet is checked (break_glass.cpp). What came before the
        // ReadyForQuery goes first; a refusal replaces the ReadyForQuery with FATAL.
        if (!out.empty() && !client_.write_now(out, ec)) {
          client_writing_ = true;
          co_await client_.write(out, ec);
          client_writing_ = false;
        }
        out.clear();
        if (ec || !co_await enforcement_.check_startup_token()) {
          stop = true;
          break;
        }
        add_span(out, held);
      }
      if (stop) break;
    }
    have_output = false;
    if (!out.empty() && !client_.write_now(out, ec)) {
      client_writing_ = true;
      co_await client_.write(out, ec);
    }
    client_writing_ = false;
    if (ec) break;
    s2c_arena_.clear();
    server_scanner_.trim();
  }
  close();
}

asio::awaitable<void> Session::watchdog() {
  auto self = shared_from_this();
  const auto& t = config_->timeouts;
  // One timer per session serves both limits: startup and authentication must
  // finish in time (PostgreSQL's authentication_timeout), and an established
  // session may not stay silent longer than idle_ms. Reads only touch
  // last_activity_; the timer re-arms itself from it.
  while (phase_ != Phase::closed) {
    auto now = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point deadline;
    if (phase_ != Phase::ready) {
      deadline = started_ + std::chrono::milliseconds(t.startup_ms);
      if (now >= deadline) {
        spdlog::warn("session {:x} from {}: startup not finished within {} ms; closing", id_, peer_, t.startup_ms);
        close();
        co_return;
      }
    } else if (t.idle_ms == 0) {
      co_return;
    } else {
      deadline = last_activity_ + std::chrono::milliseconds(t.idle_ms);
      if (now >= deadline) {
        co_await fail(kIdleSessionTimeout, "terminating connection due to idle-session timeout",
                      "No traffic for " + std::to_string(t.idle_ms) + " ms (timeouts.idle_ms).");
        co_return;
      }
    }
    watchdog_timer_.expires_at(deadline);
    error_code ec;
    // Cancelled when the session becomes ready (re-evaluate) or closes (loop ends).
    co_await watchdog_timer_.async_wait(redirect_error(use_awaitable, ec));
  }
}

}  // namespace ddlgate::proxy
