// Break-glass sessions (docs/breakglass.md, "In the proxy").
//
// The token is a bearer secret. It is taken out of the traffic before anything else sees
// it: out of the startup packet's `options` (or a `ddlgate.break_glass` parameter) before
// the packet goes upstream, and a `SET ddlgate.break_glass = '...'` Query is replaced
// before the statement cache, the ledger or the server sees its text. Logs, alerts and
// ledger records name a token by its jti and the SHA-256 of its text, never by the text.
//
// A successful SET is replaced by `SET ddlgate.break_glass TO DEFAULT`, which carries no
// secret: the server then answers with its own CommandComplete "SET" and ReadyForQuery, in
// order with whatever is in flight and with the true transaction status (the same reason
// denials are raised by the server, see enforce.cpp). A refused SET is a denial like any
// other (42501, the session goes on).
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include "break_glass.h"

#include "events.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "ddlgate/engine/decide.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/break_glass_sql.h"
#include "ddlgate/protocol/encoding.h"
#include "ddlgate/protocol/options.h"
#include "ddlgate/engine/sqlstate.h"
#include "session.h"
#include "sqlstate.h"

namespace ddlgate::proxy {
namespace {


// Large texts are scanned and analysed on a thread of their own (Session::run_elsewhere).
struct ScanJob {
  std::string text;
  bool look_for_reset_all;
  sql::BreakGlassSql found;
};
constexpr const char* kRefusedHint =
    "The session goes on under normal enforcement. Check the token with `ddlgate breakglass inspect`, or ask "
    "for a new one (docs/breakglass.md).";

}  // namespace

BreakGlassRegistry::BreakGlassRegistry(const config::Config& config, std::unordered_set<std::string> spent)
    : spent_(std::move(spent)) {
  std::vector<base::Problem> problems;
  keys_ = breakglass::break_glass_keys(config.break_glass, &problems);
  if (!problems.empty()) {
    throw std::runtime_error("break_glass." + problems.front().where + ": " + problems.front().message);
  }
  spdlog::info("break-glass: {} trusted key(s), environment {}, {} single-use token(s) already spent", keys_.size(),
               config.break_glass.environment, spent_.size());
}

ledger::HistoryReader BreakGlassRegistry::history_reader(std::unordered_set<std::string>& into) {
  ledger::HistoryReader reader;
  reader.wants = [](ledger::RecordType type, std::string_view) { return type == ledger::RecordType::break_glass_opened; };
  reader.read = [&into](const ledger::ParsedRecord& r) {
    if (r.fields.value("single_use", false)) into.insert(r.fields.value("token_id", std::string()));
  };
  return reader;
}

bool BreakGlassRegistry::spend(const std::string& token_id) {
  std::lock_guard lock(mu_);
  return spent_.insert(token_id).second;
}

std::size_t BreakGlassRegistry::spent_count() const {
  std::lock_guard lock(mu_);
  return spent_.size();
}

void notify_break_glass(const BreakGlassEvent& e) {
  // The log line; the counters and webhooks of opened and closed sessions are
  // report_breakglass_opened/closed (events.h), called next to this.
  if (e.open != nullptr) {
    const auto& c = e.open->claims;
    spdlog::warn("break-glass {}: session {} user={} database={} peer={} token_id={} key={} issuer={} reason=\"{}\" "
                 "ticket={} expires={} single_use={}{}{}",
                 e.event, e.session_id, e.user, e.database, e.peer, c.token_id, e.open->key_id, c.issuer, c.reason,
                 c.ticket, base::format_time(c.expires), c.single_use, e.detail.empty() ? "" : ": ", e.detail);
  } else {
    spdlog::warn("break-glass {}: session {} user={} database={} peer={}: {}", e.event, e.session_id, e.user,
                 e.database, e.peer, e.detail);
  }
}

ledger::SessionInfo Enforcement::session_info() {
  if (session_id_.empty()) {
    // The process's instance id and the session number.
    char sid[48];
    std::snprintf(sid, sizeof sid, "%s-%llx", s_.shared_.instance_id.c_str(), static_cast<unsigned long long>(s_.id_));
    session_id_ = sid;
  }
  return ledger::SessionInfo{session_id_, s_.user_, s_.database_, s_.peer_, s_.application_};
}

asio::awaitable<bool> Enforcement::break_glass_startup(protocol::StartupMessage& startup) {
  // Every form PostgreSQL would apply: -c / --name in options, or the parameter itself.
  std::vector<std::string> tokens;
  bool changed = false;
  auto& params = startup.parameters;
  for (auto it = params.begin(); it != params.end();) {
    if (it->first == "options") {
      auto ex = protocol::extract_setting(it->second, sql::kBreakGlassSetting);
      if (ex.found()) {
        changed = true;
        for (auto& v : ex.values) tokens.push_back(std::move(v));
        if (ex.rewritten.empty()) {
          it = params.erase(it);  // nothing else was in options: the key goes too
          continue;
        }
        it->second = std::move(ex.rewritten);
      }
    } else if (protocol::same_parameter_name(it->first, sql::kBreakGlassSetting, false)) {
      changed = true;
      tokens.push_back(std::move(it->second));
      it = params.erase(it);
      continue;
    }
    ++it;
  }
  if (!changed) co_return true;
  s_.startup_bytes_ = protocol::encode_startup(startup);  // what goes upstream: without the token
  // Checked once the server has authenticated the client, so that nobody who
  // cannot log in spends a single-use token or writes to the ledger.
  startup_tokens_ = std::move(tokens);
  co_return true;
}

asio::awaitable<bool> Enforcement::check_startup_token() {
  // startup_tokens_ stays set until the check is over: it holds back statements
  // pipelined behind the startup packet (relay_client_to_server).
  std::vector<std::string> tokens = startup_tokens_;
  std::optional<protocol::ErrorSpec> refusal;
  if (tokens.size() > 1) {
    std::string detail = "ddlgate.break_glass was given " + std::to_string(tokens.size()) + " times";
    co_await refuse_break_glass(tokens.front(), "malformed", detail, "startup");
    refusal = protocol::ErrorSpec{"FATAL", kInvalidAuthorization, "ddlgate: break-glass token refused (malformed): " + detail,
                                  "", kRefusedHint};
  } else {
    refusal = co_await open_break_glass(std::move(tokens.front()), "startup");
  }
  startup_tokens_.clear();
  s_.ready_wait_.cancel();  // statements pipelined behind the startup packet may now be decided
  if (s_.phase_ == Session::Phase::closed) co_return false;
  if (!refusal) co_return true;
  if (refusal->sqlstate == kInsufficientPrivilege) refusal->sqlstate = kInvalidAuthorization;
  co_await s_.fail(refusal->sqlstate, refusal->message, refusal->detail,
                "Connect without the token, or check it with `ddlgate breakglass inspect` (docs/breakglass.md).");
  co_return false;
}

asio::awaitable<void> Enforcement::refuse_break_glass(std::string_view token, std::string_view check,
                                                  const std::string& detail, std::string_view source) {
  ledger::BreakGlassRefusal r;
  r.session = session_info();
  r.token_sha256 = breakglass::break_glass_token_digest(token);
  r.check = std::string(check);
  r.detail = detail;
  r.source = std::string(source);
  notify_break_glass({"refused", session_id_, s_.user_, s_.database_, s_.peer_, nullptr,
                      std::string(check) + ": " + detail + " (token " + r.token_sha256 + ")"});
  if (!co_await s_.pace_refusal()) co_return;  // closed (53400): the caller sees s_.phase_
  if (ledger_working()) {
    std::vector<ledger::Record> records;
    records.push_back(ledger::break_glass_refused(r));
    co_await s_.record_durably(std::move(records));
  }
}

asio::awaitable<std::optional<protocol::ErrorSpec>> Enforcement::open_break_glass(std::string token,
                                                                               std::string_view source) {
  const auto& cfg = s_.shared_.config.break_glass;
  const bool startup = source == "startup";
  auto refused = [&](std::string_view check, const std::string& detail, const char* sqlstate = nullptr) {
    return protocol::ErrorSpec{startup ? "FATAL" : "ERROR",
                               sqlstate ? sqlstate : (startup ? kInvalidAuthorization : kInsufficientPrivilege),
                               "ddlgate: break-glass token refused (" + std::string(check) + "): " + detail, "",
                               kRefusedHint};
  };
  static const std::vector<base::PublicKey> kNoKeys;
  const auto& keys = s_.shared_.break_glass ? s_.shared_.break_glass->keys() : kNoKeys;
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  breakglass::BreakGlassResult res =
      breakglass::verify_break_glass(token, keys, {s_.user_, s_.database_, cfg.environment}, now,
                                 std::chrono::seconds(cfg.max_lifetime_s), std::chrono::seconds(cfg.clock_skew_s));
  if (!res.ok()) {
    std::string check(breakglass::to_string(*res.error));
    co_await refuse_break_glass(token, check, res.detail, source);
    co_return refused(check, res.detail);
  }
  const breakglass::BreakGlassClaims& c = *res.claims;
  if (break_glass_) {
    std::string detail = "this session already has break-glass token " + break_glass_->claims.token_id +
                         " open; RESET ddlgate.break_glass first";
    co_await refuse_break_glass(token, "already_open", detail, source);
    co_return refused("already_open", detail);
  }
  if (!ledger_working()) {
    std::string detail = "the decision ledger is unavailable, and a break-glass session is recorded in full";
    notify_break_glass({"refused", session_info().session_id, s_.user_, s_.database_, s_.peer_, nullptr, detail});
    co_return refused("ledger_unavailable", detail, kLedgerUnavailable);
  }
  if (c.single_use && !s_.shared_.break_glass->spend(c.token_id)) {
    std::string detail = "single-use token " + c.token_id + " was already used";
    co_await refuse_break_glass(token, "already_used", detail, source);
    co_return refused("already_used", detail);
  }
  auto open = std::make_shared<BreakGlassOpen>();
  open->claims = c;
  open->key_id = base::key_id(res.signer);
  open->token_sha256 = breakglass::break_glass_token_digest(token);
  open->deadline = std::chrono::system_clock::time_point(c.expires) + std::chrono::seconds(cfg.clock_skew_s);
  ledger::BreakGlassOpening o;
  o.session = session_info();
  o.token_id = c.token_id;
  o.token_sha256 = open->token_sha256;
  o.key_id = open->key_id;
  o.issuer = c.issuer;
  o.reason = c.reason;
  o.ticket = c.ticket;
  o.not_before = base::format_time(c.not_before);
  o.expires = base::format_time(c.expires);
  o.single_use = c.single_use;
  o.statements = c.statements;
  o.source = std::string(source);
  std::vector<ledger::Record> records;
  records.push_back(ledger::break_glass_opened(o));
  // Durable before the session may use it: a single-use token is spent from here on, also
  // after a restart (BreakGlassRegistry reads these records back).
  if (!co_await s_.record_durably(std::move(records))) {
    std::string detail = "the opening could not be recorded in the ledger";
    notify_break_glass({"refused", session_id_, s_.user_, s_.database_, s_.peer_, open.get(), detail});
    co_return refused("ledger_unavailable", detail, kLedgerUnavailable);
  }
  break_glass_ = std::move(open);
  if (s_.phase_ == Session::Phase::closed) {
    end_break_glass("session ended");  // the client went away while the opening was recorded
    co_return std::nullopt;
  }
  notify_break_glass({"opened", session_id_, s_.user_, s_.database_, s_.peer_, break_glass_.get(),
                      c.statements.empty() ? "" : "limited to " + std::to_string(c.statements.size()) + " statement(s)"});
  report_breakglass_opened(s_.shared_.ops, {s_.id_, s_.peer_, s_.user_, s_.database_, s_.application_}, c);
  arm_break_glass_expiry();
  co_return std::nullopt;
}

void Enforcement::arm_break_glass_expiry() {
  if (!break_glass_) return;
  if (!break_glass_timer_) break_glass_timer_ = std::make_unique<asio::system_timer>(s_.worker_.ctx);
  break_glass_timer_->expires_at(break_glass_->deadline);
  // Without this, an idle session's token would stay open (for the ledger, the webhooks
  // and /metrics) until its next statement. The handler holds no reference to the
  // session, and only ends the token it was armed for.
  std::weak_ptr<Session> weak = s_.weak_from_this();
  std::weak_ptr<BreakGlassOpen> armed = break_glass_;
  break_glass_timer_->async_wait([weak, armed](const boost::system::error_code& ec) {
    if (ec) return;
    auto self = weak.lock();
    // A completion already queued when end_break_glass() cancelled the timer still comes.
    if (!self || self->phase_ == Session::Phase::closed || !self->enforcement_.break_glass_ || self->enforcement_.break_glass_ != armed.lock()) return;
    if (std::chrono::system_clock::now() < self->enforcement_.break_glass_->deadline) {
      self->enforcement_.arm_break_glass_expiry();  // woken early (the system clock was set back)
      return;
    }
    self->enforcement_.end_break_glass("expired");
  });
}

void Enforcement::end_break_glass(std::string_view reason) {
  if (!break_glass_) return;
  auto open = std::move(break_glass_);
  break_glass_.reset();
  if (break_glass_timer_) break_glass_timer_->cancel();
  if (reason == "session ended" && std::chrono::system_clock::now() >= open->deadline) reason = "expired";
  if (s_.shared_.ledger) {
    s_.shared_.ledger->append(ledger::break_glass_closed(session_info().session_id, open->claims.token_id, reason),
                           [](const ledger::AppendResult&) {});
  }
  notify_break_glass({"closed", session_id_, s_.user_, s_.database_, s_.peer_, open.get(), reason});
  report_breakglass_closed(s_.shared_.ops, {s_.id_, s_.peer_, s_.user_, s_.database_, s_.application_}, open->claims, reason);
}

std::string_view Enforcement::open_token() const {
  if (!break_glass_ || std::chrono::system_clock::now() >= break_glass_->deadline) return {};
  return break_glass_->claims.token_id;
}

void Enforcement::end_break_glass_if_expired() {
  if (break_glass_ && std::chrono::system_clock::now() >= break_glass_->deadline) end_break_glass("expired");
}

asio::awaitable<std::optional<Enforcement::Verdict>> Enforcement::break_glass_statement(std::string_view sql, bool extended,
                                                                               bool named_parse) {
  // A large text is parsed elsewhere, so that it cannot stall the worker's other sessions.
  const bool large = sql.size() > engine::ServerReader::kParseOnWorkerBytes;
  sql::BreakGlassSql found;
  if (!large) {
    found = sql::scan_break_glass_sql(sql, break_glass_ != nullptr);
  } else if (sql::mentions_break_glass(sql) || break_glass_) {
    auto scan_job = std::make_shared<ScanJob>(ScanJob{std::string(sql), break_glass_ != nullptr, {}});
    const std::function<void()> scan = [scan_job] {
      scan_job->found = sql::scan_break_glass_sql(scan_job->text, scan_job->look_for_reset_all);
    };
    Session::Elsewhere scanned = co_await s_.run_elsewhere(scan);
    if (scanned == Session::Elsewhere::closed || s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
    // Fail closed: the text may hold a token, which must not reach the server.
    if (scanned == Session::Elsewhere::no_thread) co_return deny(no_analysis_thread_error(), extended);
    found = std::move(scan_job->found);
  }
  using Kind = sql::BreakGlassSql::Kind;

  if (found.kind == Kind::set || found.kind == Kind::bad_set) {
    // The text holds a token (or what a client meant as one): it goes nowhere but here.
    std::string token = std::move(found.token);
    std::optional<protocol::ErrorSpec> refusal;
    std::string check, detail;  // a refusal before verification
    if (extended) {
      check = "extended_protocol";
      detail = "SET ddlgate.break_glass is refused in the extended protocol (Parse): the token would be kept in a "
               "prepared statement; send it as a simple Query";
    } else if (found.statements != 1) {
      check = "not_alone";
      detail = "SET ddlgate.break_glass must be the only statement of its Query";
    } else if (found.kind == Kind::bad_set) {
      check = "bad_set";
      detail = found.detail;
    } else if (s_.engine_.awaiting_answers()) {
      // Earlier commands are still unanswered: the transaction status the SET would run in
      // is not known yet, and the answer must come in order. Refuse rather than guess.
      check = "pipelined";
      detail = "SET ddlgate.break_glass was sent before the results of earlier commands arrived; send it on its own";
    } else if (s_.tx_status_ == 'E') {
      // PostgreSQL refuses any SET in a failed transaction block (25P02); let it say so.
      Verdict v;
      v.kind = Verdict::Kind::replace;
      protocol::append_query(v.bytes, "SET ddlgate.break_glass TO DEFAULT");
      co_return v;
    }
    if (!check.empty()) {
      co_await refuse_break_glass(token, check, detail, "set");
      refusal = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                    "ddlgate: break-glass token refused (" + check + "): " + detail, "", kRefusedHint};
    } else {
      refusal = co_await open_break_glass(std::move(token), "set");
    }
    if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
    if (refusal) co_return deny(*refusal, extended);
    Verdict v;
    v.kind = Verdict::Kind::replace;
    protocol::append_query(v.bytes, "SET ddlgate.break_glass TO DEFAULT");
    co_return v;
  }
  if (found.kind == Kind::reset && break_glass_) {
    end_break_glass(found.detail);  // the statement itself carries no secret and goes on as usual
  }
  if (!break_glass_) co_return std::nullopt;
  if (std::chrono::system_clock::now() >= break_glass_->deadline) {
    end_break_glass("expired");
    co_return std::nullopt;
  }
  // The token this statement is decided under. It may end while the statement waits for a
  // parse thread (its expiry timer, arm_break_glass_expiry()): the statement then goes to
  // normal enforcement. Once its records are written it was decided under the token.
  const std::shared_ptr<BreakGlassOpen> open = break_glass_;

  // An open session: every statement is recorded; controlled ones within the token's scope
  // are allowed as break_glass decisions. The text is read the way the server will read it
  // (enforce.cpp, read_as_server): under the session's standard_conforming_strings and
  // client encoding, and every other way while those may change unseen. Otherwise a
  // backslash quote could hide a statement from the token's list and from the record.
  read_as_server(sql);
  std::vector<engine::Reading> readings = std::move(reader_.readings());
  reader_.readings().clear();
  if (!reader_.deferred().empty() && !co_await analyze_elsewhere(readings)) co_return Verdict{Verdict::Kind::close, {}, false};
  if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (!readings.front()->ok()) co_return std::nullopt;  // unparseable: enforce() refuses and records it
  // The record's detail (a hash and display SQL for every statement) of the server's reading.
  sql::Analysis analysis;
  if (auto v = co_await full_reading(sql, extended, analysis)) co_return v;
  if (!analysis.ok()) co_return std::nullopt;  // unparseable: never approvable, enforce() refuses and records it
  if (break_glass_ != open) co_return std::nullopt;  // the token ended meanwhile
  const auto& claims = open->claims;
  engine::BreakGlassReading reading =
      engine::read_under_token(analysis, readings, claims.statements, claims.token_id, named_parse,
                               s_.engine_.executes_once_only(readings) != nullptr, session_info());
  const bool all_in_scope = reading.in_scope;
  std::vector<ledger::Record> records = std::move(reading.records);
  // The database's guard confirms a break-glass message too (issue 25), before anything of
  // it is recorded as run; when it cannot, the message is refused (58000) and recorded so.
  std::shared_ptr<const engine::ConfirmationHold> confirmation;
  if (all_in_scope && s_.shared_.guard) {
    std::string why;
    auto c = engine::break_glass_confirmation(analysis, server_text_sha256(sql), s_.user_, &why);
    if (c) {
      GuardAnswer answer = co_await confirm_with_guard(*c);
      if (answer.closed || s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
      confirmation = std::move(answer.hold);
      why = std::move(answer.why);
    }
    if (!confirmation && !why.empty() && !analysis.any_controlled()) {
      // Only statements ddlgate does not control (REFRESH MATERIALIZED VIEW): the guard decides alone.
      spdlog::warn("session {:x}: database {}: the guard could not confirm a statement it fires event triggers for "
                   "(it decides alone): {}",
                   s_.id_, s_.database_, why);
    } else if (!confirmation && !why.empty()) {
      spdlog::error("session {:x}: database {}: the guard could not confirm a break-glass statement: {}", s_.id_,
                    s_.database_, why);
      std::vector<ledger::Record> refused = engine::break_glass_unconfirmed(analysis, claims.token_id, session_info(), why);
      if (ledger_working()) co_await s_.record_durably(std::move(refused));
      if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
      co_return deny(protocol::ErrorSpec{"ERROR", engine::kGuardUnavailable,
                                         "ddlgate: break-glass statement not run: the database's guard could not confirm it: " + why,
                                         "", engine::kHowToReachGuard},
                     extended);
    }
  }
  bool recorded = records.empty();
  if (!records.empty() && ledger_working()) {
    recorded = co_await s_.record_durably(std::move(records));
  }
  if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (!recorded) {
    spdlog::error("session {:x}: the ledger is unavailable; break-glass statement refused", s_.id_);
    if (s_.mode_ == config::EnforcementMode::monitor) co_return Verdict{};
    co_return deny_ledger_unavailable("a break-glass session cannot run statements unrecorded", extended);
  }
  // A statement outside the token's list: the whole message is decided by normal enforcement
  // (bundles, or a denial), which records its controlled statements itself.
  if (!all_in_scope) co_return std::nullopt;
  for (const auto& st : analysis.statements) {
    if (st.controlled) {
      spdlog::info("session {:x}: break-glass {} statement {} allowed (token {})", s_.id_, sql::to_string(st.cls),
                   st.hash, claims.token_id);
    }
  }
  engine::stage_break_glass(analysis, extended, claims.token_id, s_.engine_.staged());
  s_.engine_.staged().confirmation = std::move(confirmation);
  co_return Verdict{};
}

}  // namespace ddlgate::proxy
