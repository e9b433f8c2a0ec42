// Enforcement: every Query and Parse is classified; a controlled statement
// goes to the server only when a signed bundle approves its canonical hash,
// and the decision is durable in the ledger before anything is sent.
//
// A denial is raised by the server itself: ddlgate replaces the statement with
// a DO block that raises the denial's error. PostgreSQL then does what it does
// for any failing statement: aborts the transaction block (a later COMMIT rolls
// back), skips extended-protocol messages until Sync, and sends exactly one
// ReadyForQuery with the true status, in order with everything in flight.
// The error's text travels base64-encoded, so no client text can end the
// literal. ddlgate then rewrites that error to the exact fields it chose.
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "approvals.h"
#include "ddlgate/engine/decide.h"
#include "break_glass.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/break_glass_sql.h"
#include "ddlgate/sql/server_admin.h"
#include "ddlgate/protocol/encoding.h"
#include "session.h"
#include "sqlstate.h"
#include "spent_approvals.h"

namespace ddlgate::proxy {
namespace {

namespace fe = protocol::fe;
namespace be = protocol::be;


}  // namespace

bool Enforcement::ledger_working() const { return s_.shared_.ledger && !s_.shared_.ledger->failure(); }

bool Enforcement::record_all_now() const {
  return s_.config_->enforcement.record_all_statements || break_glass_ != nullptr;
}

Enforcement::Verdict Enforcement::deny(const protocol::ErrorSpec& spec, bool extended, bool report) {
  Verdict v;
  v.kind = Verdict::Kind::replace;
  // One Query in place of the statement, in both protocols. In the extended
  // protocol the server answers it with ErrorResponse and ReadyForQuery, which is
  // what a failed Parse and the Sync that ends its batch produce; so ddlgate drops
  // the client's messages up to and including that Sync (as the server would skip
  // them). Work done earlier in the same implicit transaction is rolled back, as
  // when a Parse fails.
  protocol::append_query(v.bytes, engine::denial_query(spec));
  v.skip_to_sync = extended;
  s_.engine_.denial_sent(spec);
  if (report) report_denial(s_.shared_.ops, s_.worker_.counters, {s_.id_, s_.peer_, s_.user_, s_.database_, s_.application_}, spec);
  return v;
}

Enforcement::Verdict Enforcement::deny_ledger_unavailable(std::string_view refused, bool extended) {
  return deny({"ERROR", kLedgerUnavailable, "ddlgate: the decision ledger is unavailable; " + std::string(refused), "",
               "An operator must restore the ledger (disk space, permissions) and restart ddlgate."},
              extended);
}

asio::awaitable<bool> Session::record_durably(std::vector<ledger::Record> records) {
  struct Wait {
    bool done = false;
    bool ok = false;
  };
  auto wait = std::make_shared<Wait>();
  auto self = shared_from_this();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i + 1 < records.size()) {
      shared_.ledger->append(std::move(records[i]), [](const ledger::AppendResult&) {});
      continue;
    }
    // Records become durable in order: the last one durable means all are.
    shared_.ledger->append(std::move(records[i]), [self, wait](const ledger::AppendResult& r) {
      bool ok = r.ok();
      asio::post(self->worker_.ctx, [self, wait, ok] {
        wait->done = true;
        wait->ok = ok;
        self->ledger_wait_.cancel();
      });
    });
  }
  while (!wait->done) {
    ledger_wait_.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ec;
    co_await ledger_wait_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return wait->ok;
}

// Waits for this user's turn to have a refusal recorded (limits.denials_per_second; not
// paced without a working ledger, which records nothing);
// false when the session was closed instead (53400) or meanwhile.
asio::awaitable<bool> Session::pace_refusal() {
  const auto& limits = config_->limits;
  if (phase_ == Phase::closed) co_return false;
  // Only a refusal that will be recorded is paced: without a ledger (58030) there is none.
  if (limits.denials_per_second == 0 || !enforcement_.ledger_working()) co_return true;
  // A client that sends refused statements in a loop would otherwise grow the
  // ledger as fast as the disk syncs. Each refusal is still recorded, only later.
  // It waits at most as long as the burst takes to refill (at least 1 s): a session
  // whose turn is further off (many sessions of the user refused at once) is closed.
  const auto longest = std::max<std::chrono::milliseconds>(
      std::chrono::seconds(1), std::chrono::milliseconds(1000ull * limits.denial_burst / limits.denials_per_second));
  auto now = std::chrono::steady_clock::now();
  auto turn = shared_.denial_pace.reserve(user_, limits.denials_per_second, limits.denial_burst, longest, now);
  if (!turn) {
    worker_.counters.refusals_over_pace.add();
    co_await fail(kConfigurationLimitExceeded,
                  "ddlgate: too many refused statements from user \"" + user_ + "\"; closing the session",
                  "Refusals are recorded at " + std::to_string(limits.denials_per_second) +
                      " per second per user after a burst of " + std::to_string(limits.denial_burst) +
                      " (limits.denials_per_second, limits.denial_burst); this one would have waited over " +
                      std::to_string(longest.count()) + " ms. What was refused did not run.",
                  "Stop sending statements that ddlgate refuses, or raise the limit.");
    co_return false;
  }
  if (turn->at <= now) co_return true;
  worker_.counters.refusals_paced.add();
  if (turn->first_wait) {
    spdlog::warn("user {} is over limits.denials_per_second ({} per second after a burst of {}): its refusals now wait "
                 "their turn to be recorded",
                 user_, limits.denials_per_second, limits.denial_burst);
  }
  // The session is not idle while ddlgate holds it (timeouts.idle_ms).
  last_activity_ = std::max(last_activity_, turn->at);
  while (phase_ != Phase::closed && std::chrono::steady_clock::now() < turn->at) {
    ledger_wait_.expires_at(turn->at);
    boost::system::error_code ec;
    co_await ledger_wait_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return phase_ != Phase::closed;
}

bool Enforcement::would_deny_turn(std::vector<ledger::Record>& records) {
  const auto& limits = s_.config_->limits;
  if (limits.denials_per_second == 0 || !ledger_working() || records.empty()) return true;
  // Monitor mode lets everything through, so a would_deny never waits and never closes the
  // session. It takes the user's token only when one is there now (a zero wait reserves
  // nothing otherwise, and never queues behind the user's paced refusals); beyond the pace its
  // records are not written but counted, and the next one written carries the count
  // (`suppressed`), so the ledger grows no faster than for refusals in enforce mode.
  const auto now = std::chrono::steady_clock::now();
  if (s_.shared_.denial_pace.reserve(s_.user_, limits.denials_per_second, limits.denial_burst,
                                  std::chrono::steady_clock::duration::zero(), now)) {
    ledger::set_suppressed(records.front(), would_deny_unrecorded_);
    would_deny_unrecorded_ = 0;
    return true;
  }
  if (would_deny_unrecorded_ == 0) {
    spdlog::warn("session {:x}: user {} is over limits.denials_per_second ({} per second after a burst of {}): "
                 "would_deny decisions of this session are counted, not recorded one by one, until one fits",
                 s_.id_, s_.user_, limits.denials_per_second, limits.denial_burst);
  }
  would_deny_unrecorded_ += records.size();
  last_unrecorded_ = std::move(records);
  return false;
}

void Enforcement::record_pending_would_deny() {
  if (would_deny_unrecorded_ == 0 || last_unrecorded_.empty() || !ledger_working()) return;
  ledger::set_suppressed(last_unrecorded_.front(), would_deny_unrecorded_ - last_unrecorded_.size());
  would_deny_unrecorded_ = 0;
  // Nothing waits for these records: the session is over, and nothing was acknowledged on them.
  for (auto& record : last_unrecorded_) s_.shared_.ledger->append(std::move(record), [](const ledger::AppendResult&) {});
  last_unrecorded_.clear();
}

void Enforcement::read_as_server(std::string_view sql) {
#ifdef DDLGATE_TEST_HOOKS
  // A forced misreading (tests only, never built into a shipped binary): ddlgate reads
  // the text only up to this marker, while the server runs all of it. The guard's
  // confirmation still names the whole text's bytes, so it is the guard that must refuse
  // what ddlgate did not read (issue 25).
  if (const char* marker = std::getenv("DDLGATE_TEST_MISREAD_FROM"); marker && *marker) {
    if (auto at = sql.find(marker); at != std::string_view::npos) sql = sql.substr(0, at);
  }
#endif
  reader_.read(sql, s_.engine_.lexing(), {*s_.worker_.cache, *s_.worker_.cache_nonstandard_strings});
  s_.worker_.counters.sync_cache(s_.worker_.cache->stats());
}

bool Enforcement::needs_decision(const protocol::ScanStep& step) {
  std::optional<std::string_view> sql;
  if (step.type == fe::kParse) {
    if (auto p = protocol::parse_parse(step.body)) sql = p->query;
  } else {
    sql = protocol::parse_query(step.body);
  }
  if (!sql) return true;  // malformed: enforce() closes the session
  // Break-glass first (break_glass.cpp): while a token is open every statement is
  // recorded, and a text that may carry a token never reaches the statement cache.
  if (break_glass_ || sql::mentions_break_glass(*sql)) {
    reader_.clear();
    return true;
  }
  read_as_server(*sql);
  if (!reader_.deferred().empty()) return true;
  const auto& readings = reader_.readings();
  const auto& first = *readings.front();
  return readings.size() > 1 || !first.ok() || first.any_controlled() || s_.config_->enforcement.record_all_statements ||
         s_.engine_.executes_once_only(readings) != nullptr || (s_.shared_.guard && first.any_uncontrolled_event());
}

// Runs a copy of work on a thread of its own (at most as many at once as there
// are workers) and waits for it without blocking the worker. work must own what
// it touches: it may outlive the wait when the session closes meanwhile.
// Callers pass a named function object: GCC 12 may destroy a class-type
// temporary of a co_await expression twice.
asio::awaitable<Session::Elsewhere> Session::run_elsewhere(const std::function<void()>& work) {
  struct Flag {
    bool done = false;
  };
  auto flag = std::make_shared<Flag>();
  // The server waits for this count to drop before it stops the workers, so the
  // thread's post always reaches a running worker.
  shared_.large_analyses_running.fetch_add(1);
  try {
    std::thread([self = shared_from_this(), flag, work]() mutable {
      SharedState& shared = self->shared_;
      shared.large_analyses.acquire();
      work();
      shared.large_analyses.release();
      asio::io_context& ctx = self->worker_.ctx;
      // The session's last reference never ends on this thread: it moves to the worker.
      asio::post(ctx, [self = std::move(self), flag] {
        flag->done = true;
        self->analysis_wait_.cancel();
      });
      shared.large_analyses_running.fetch_sub(1);
    }).detach();
  } catch (const std::system_error&) {
    shared_.large_analyses_running.fetch_sub(1);
    co_return Elsewhere::no_thread;
  }
  while (!flag->done && phase_ != Phase::closed) {
    analysis_wait_.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ec;
    co_await analysis_wait_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return flag->done ? Elsewhere::done : Elsewhere::closed;
}

asio::awaitable<bool> Enforcement::analyze_elsewhere(std::vector<std::shared_ptr<const sql::Analysis>>& readings) {
  struct Job {
    std::vector<engine::ServerReader::Deferred> work;
    sql::Policy policy;
    std::vector<std::shared_ptr<const sql::Analysis>> results;
  };
  auto job = std::make_shared<Job>();
  job->work = std::move(reader_.deferred());
  reader_.deferred().clear();
  job->policy = s_.shared_.policy;
  const std::function<void()> work = [job] {
    for (const auto& d : job->work) {
      job->results.push_back(std::make_shared<const sql::Analysis>(
          sql::analyze(d.text, job->policy, sql::Detail::controlled_only, d.options)));
    }
  };
  Session::Elsewhere r = co_await s_.run_elsewhere(work);
  if (r == Session::Elsewhere::closed) co_return false;
  for (std::size_t i = 0; i < job->work.size(); ++i) {
    if (r == Session::Elsewhere::done) {
      readings[job->work[i].index] = job->results[i];
      continue;
    }
    // No thread to be had: refuse the statement rather than parse it here.
    auto refused = std::make_shared<sql::Analysis>();
    refused->error = sql::ParseError{kNoAnalysisThread, 0};
    readings[job->work[i].index] = std::move(refused);
  }
  co_return true;
}

namespace {

// A full analysis of a large text, run on a thread of its own (full_reading).
struct ParseJob {
  std::string text;
  sql::Policy policy;
  sql::ParseOptions options;
  std::shared_ptr<sql::Analysis> out;
};

}  // namespace

asio::awaitable<std::optional<Enforcement::Verdict>> Enforcement::full_reading(std::string_view sql, bool extended,
                                                                       sql::Analysis& out) {
  std::string converted;
  auto reported = reader_.reported_text(sql, s_.engine_.lexing(), &converted);
  if (!reported) {
    out.error = sql::ParseError{reported.error().reason, 0};
    co_return std::nullopt;
  }
  const std::string_view text = *reported;
  const sql::ParseOptions options{.standard_conforming_strings = s_.engine_.lexing().reported_standard_strings()};
  if (text.size() <= engine::ServerReader::kParseOnWorkerBytes) {
    out = sql::analyze(text, s_.worker_.cache->policy(), sql::Detail::all, options);
    co_return std::nullopt;
  }
  // A large text is parsed elsewhere, so that it cannot stall the worker's other sessions.
  auto parsed = std::make_shared<sql::Analysis>();
  auto parse_job = std::make_shared<ParseJob>(ParseJob{std::string(text), s_.worker_.cache->policy(), options, parsed});
  const std::function<void()> parse = [parse_job] {
    *parse_job->out = sql::analyze(parse_job->text, parse_job->policy, sql::Detail::all, parse_job->options);
  };
  Session::Elsewhere analysed = co_await s_.run_elsewhere(parse);
  if (analysed == Session::Elsewhere::closed || s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (analysed == Session::Elsewhere::no_thread) {
    co_return deny(no_analysis_thread_error(), extended);
  }
  out = std::move(*parsed);
  co_return std::nullopt;
}

asio::awaitable<std::optional<Enforcement::Verdict>> Enforcement::record_statements(std::string_view sql, bool extended) {
  sql::Analysis all;
  if (auto v = co_await full_reading(sql, extended, all)) co_return v;
  if (!all.ok()) co_return std::nullopt;  // unparseable: the decision refuses and records it
  const ledger::SessionInfo who = session_info();
  std::vector<ledger::Record> records;
  for (const auto& st : all.statements) {
    // Controlled statements are recorded as decisions.
    if (!st.controlled) {
      records.push_back(ledger::session_statement(who, "", st.hash, std::string(sql::to_string(st.cls)),
                                                  st.display_sql));
    }
  }
  if (records.empty()) co_return std::nullopt;
  bool recorded = false;
  if (ledger_working()) recorded = co_await s_.record_durably(std::move(records));
  if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (recorded) {
    // A Parse's statement: its later executions are recorded at their Executes.
    if (extended && all.statements.size() == 1) {
      const auto& st = all.statements[0];
      s_.engine_.staged().recorded = std::make_shared<engine::Recorded>(engine::Recorded{st.hash, st.cls, st.display_sql, 0});
    }
    co_return std::nullopt;
  }
  spdlog::error("session {:x}: the ledger is unavailable; statement {} (enforcement.record_all_statements)", s_.id_,
                s_.mode_ == config::EnforcementMode::monitor ? "allowed (monitor mode)" : "refused");
  if (s_.mode_ == config::EnforcementMode::monitor) co_return std::nullopt;
  co_return deny_ledger_unavailable("every statement is recorded (enforcement.record_all_statements)", extended);
}
asio::awaitable<Enforcement::Verdict> Enforcement::enforce(const protocol::ScanStep& step) {
  const bool extended = step.type == fe::kParse;
  s_.engine_.staged().clear();
  std::string_view sql;
  std::string_view statement_name;  // a Parse's (named: SQL EXECUTE can run it later)
  if (extended) {
    auto p = protocol::parse_parse(step.body);
    if (!p) co_return Verdict{Verdict::Kind::close, {}, false};
    sql = p->query;
    statement_name = p->statement;
  } else {
    auto q = protocol::parse_query(step.body);
    if (!q) co_return Verdict{Verdict::Kind::close, {}, false};
    sql = *q;
  }
  const bool named_parse = !statement_name.empty();

  // Break-glass (break_glass.cpp): SET/RESET ddlgate.break_glass, and sessions with an open
  // token. First, so that a token never reaches the statement cache or the server.
  if (auto v = co_await break_glass_statement(sql, extended, named_parse)) co_return std::move(*v);

  s_.engine_.staged().clear();
  // needs_decision() has read the text (unless it left it to break-glass): readings_ holds
  // its readings, but for those of large texts, which are analysed now on another thread.
  if (reader_.readings().empty() && reader_.deferred().empty()) read_as_server(sql);
  std::vector<engine::Reading> readings = std::move(reader_.readings());
  reader_.readings().clear();
  if (!reader_.deferred().empty() && !co_await analyze_elsewhere(readings)) co_return Verdict{Verdict::Kind::close, {}, false};
  s_.engine_.staged().effects = engine::Engine::effect_steps(*readings.front());
  // Full-statement logging; an open break-glass session has recorded everything already.
  if (s_.config_->enforcement.record_all_statements && !break_glass_) {
    if (auto v = co_await record_statements(sql, extended)) co_return std::move(*v);
  }
  // An EXECUTE that may run a once-only statement again, in any reading: refused whole,
  // before anything of the message is decided (nothing is reserved or spent).
  if (const engine::Prepared* once = s_.engine_.executes_once_only(readings)) {
    co_return co_await deny_once_only(*once, extended, OnceOnlyRefusal::sql_execute);
  }
  if (readings.size() == 1 && readings.front()->ok() && !readings.front()->any_controlled() &&
      !(s_.shared_.guard && readings.front()->any_uncontrolled_event())) {
    co_return Verdict{};  // reads and writes: untouched
  }
  // A named Parse of a controlled statement under the name of a once-only one. The server
  // refuses it (42P05) unless a Close or DEALLOCATE of the old one reached it first, and
  // ddlgate learns which only from the answer; were it to keep the wrong one, the other
  // would run unseen. Refused before its approval is reserved; an uncontrolled one goes on
  // and the once-only statement stays kept (engine: remember_prepared()).
  if (named_parse) {
    if (const engine::Prepared* held = s_.engine_.once_only_named(statement_name)) {
      co_return co_await deny_once_only(*held, extended, OnceOnlyRefusal::name_in_use);
    }
  }

  if (s_.shared_.approvals) {
    std::uint64_t gen = s_.shared_.approvals->generation();
    if (gen != s_.worker_.approved_generation) {
      s_.worker_.approved = s_.shared_.approvals->current();
      s_.worker_.approved_generation = gen;
    }
  }
  const bool monitor = s_.mode_ == config::EnforcementMode::monitor;
  const auto& deployers = s_.config_->enforcement.deployers;
  engine::Facts facts;
  facts.monitor = monitor;
  // Only the deploy job's roles may run approved changes, when that is configured.
  facts.may_deploy = deployers.empty() || std::find(deployers.begin(), deployers.end(), s_.user_) != deployers.end();
  facts.may_roll_back = !deployers.empty() && facts.may_deploy;  // down approvals: named deployers only
  facts.extended = extended;
  facts.who = session_info();
  facts.guard_confirms = s_.shared_.guard != nullptr;
  if (facts.guard_confirms) facts.server_text_sha256 = server_text_sha256(sql);
  facts.lock_timeout_for_blocking_ms = s_.config_->enforcement.lock_timeout_for_blocking_ms;
  const engine::ApprovedSetSource approved(s_.worker_.approved.get());
  engine::Decision decision = engine::decide(readings, approved, facts, s_.shared_.spent);
  if (!decision.controlled) {
    // Nothing to approve, but the server fires event triggers for it (REFRESH MATERIALIZED
    // VIEW): the guard is told, so that an enforcing guard lets it run. Nothing is refused
    // here when it cannot be: ddlgate does not control it, and the guard decides alone.
    if (decision.confirm) {
      GuardAnswer answer = co_await confirm_with_guard(*decision.confirm);
      if (answer.closed || s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
      if (answer.hold) {
        s_.engine_.staged().confirmation = std::move(answer.hold);
      } else {
        spdlog::warn("session {:x}: database {}: the guard could not confirm a statement it fires event triggers "
                     "for (it decides alone): {}",
                     s_.id_, s_.database_, answer.why);
      }
    }
    co_return Verdict{};
  }
  // The database's guard confirms an allowed message before it goes on (issue 25); when
  // it cannot, the message is decided again as refused, with the reason.
  std::shared_ptr<const engine::ConfirmationHold> confirmation;
  if (decision.confirm) {
    GuardAnswer answer = co_await confirm_with_guard(*decision.confirm);
    if (answer.closed || s_.phase_ == Session::Phase::closed) {
      for (const auto& key : decision.reserved) s_.shared_.spent->release(key);
      co_return Verdict{Verdict::Kind::close, {}, false};
    }
    if (answer.hold) {
      confirmation = std::move(answer.hold);
    } else {
      spdlog::error("session {:x}: database {}: the guard could not confirm an allowed statement: {}", s_.id_,
                    s_.database_, answer.why);
      for (const auto& key : decision.reserved) s_.shared_.spent->release(key);
      facts.guard_unavailable = answer.why;
      decision = engine::decide(readings, approved, facts, s_.shared_.spent);
    }
  }

  // The decision is durable before it is acted on; without a ledger nothing
  // controlled is allowed (fail closed), though monitor mode lets it through.
  bool recorded = false;
  const std::optional<protocol::ErrorSpec>& denial = decision.denial;
  // A refusal's record waits its turn (limits.denials_per_second); a would_deny beyond the
  // pace is counted instead, and the statement goes through at once.
  if (denial && !monitor && !co_await s_.pace_refusal()) co_return Verdict{Verdict::Kind::close, {}, false};
  for (const auto& [cls, d] : decision.counted) s_.worker_.counters.count_decision(cls, d);
  if (denial && monitor && !would_deny_turn(decision.records)) co_return Verdict{};
  if (ledger_working()) recorded = co_await s_.record_durably(std::move(decision.records));
  if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (!recorded) {
    for (const auto& key : decision.reserved) s_.shared_.spent->release(key);
    spdlog::error("session {:x}: the ledger is unavailable; controlled statement {}", s_.id_,
                  monitor ? "allowed (monitor mode)" : "refused");
    if (monitor) co_return Verdict{};
    co_return deny_ledger_unavailable("controlled statements are refused", extended);
  }
  if (!denial) {
    // A Parse's outcome is not followed (yet): its approvals are spent at once.
    for (const auto& key : engine::stage_allowed(decision, extended, s_.engine_.staged())) s_.shared_.spent->spend(key);
    s_.engine_.staged().confirmation = std::move(confirmation);
    log_allowed({s_.id_, s_.peer_, s_.user_, s_.database_, s_.application_}, *decision.analysis);
    co_return Verdict{};
  }
  spdlog::warn("session {:x}: {} user={} database={}: {}", s_.id_, monitor ? "would deny" : "denied", s_.user_, s_.database_,
               decision.log_denial.empty() ? denial->message : decision.log_denial);
  if (monitor) co_return Verdict{};
  co_return deny(*denial, extended);
}

// engine::Host ------------------------------------------------------------------------------

void Session::spend_approval(const std::string& key) {
  if (shared_.spent) shared_.spent->spend(key);
}

void Session::release_approval(const std::string& key) {
  if (shared_.spent) shared_.spent->release(key);
}

void Session::record_outcome(const engine::Outcome& o) {
  if (!shared_.ledger) return;
  using Kind = engine::Outcome::Kind;
  shared_.ledger->append(o.kind == Kind::executed      ? ledger::outcome_executed(enforcement_.session_id_, o.hash, o.detail)
                         : o.kind == Kind::rolled_back ? ledger::outcome_rolled_back(enforcement_.session_id_, o.hash)
                                                       : ledger::outcome_failed(enforcement_.session_id_, o.hash, o.detail),
                         [](const ledger::AppendResult&) {});
}

void Session::out_of_step(std::string_view what) {
  worker_.counters.outcomes_out_of_step.add();
  spdlog::warn("session {:x}: outcome tracking out of step with the server ({}); outcomes may be missing", id_, what);
}

void Session::read_whole(std::uint8_t type) { client_scanner_.inspect(type); }

asio::awaitable<Enforcement::Verdict> Enforcement::record_execution(const protocol::ScanStep& step) {
  const engine::Recorded statement = *s_.engine_.executed_portal(step)->recorded;
  std::vector<ledger::Record> records;
  records.push_back(ledger::session_statement(session_info(), break_glass_ ? break_glass_->claims.token_id : "",
                                              statement.hash, std::string(sql::to_string(statement.cls)),
                                              statement.display_sql, statement.executions + 1));
  bool recorded = false;
  if (ledger_working()) recorded = co_await s_.record_durably(std::move(records));
  if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (recorded) co_return Verdict{};
  spdlog::error("session {:x}: the ledger is unavailable; an execution of a prepared statement {}", s_.id_,
                s_.mode_ == config::EnforcementMode::monitor ? "allowed (monitor mode)" : "refused");
  if (s_.mode_ == config::EnforcementMode::monitor) co_return Verdict{};
  co_return deny_ledger_unavailable(break_glass_ ? "a break-glass session cannot run statements unrecorded"
                                                 : "every statement is recorded (enforcement.record_all_statements)",
                                    true);
}

asio::awaitable<Enforcement::Verdict> Enforcement::deny_execute(const protocol::ScanStep& step, engine::ExecuteRefusal why) {
  const engine::Portal& portal = *s_.engine_.executed_portal(step);
  // The statement as it was bound (a later Parse may have replaced the name since).
  const engine::Prepared* named = s_.engine_.prepared(portal.statement);
  engine::Prepared statement = named && named->hash == portal.hash ? *named : engine::Prepared{};
  statement.hash = portal.hash;
  if (why == engine::ExecuteRefusal::break_glass_ended) end_break_glass_if_expired();
  // Named, not temporaries of the co_await expression (see run_elsewhere in session.h).
  const bool replayed = why == engine::ExecuteRefusal::replayed;
  std::string reason = replayed ? "its prepared statement was executed already; its approval was used "
                                  "(enforcement.spend_approvals_once)"
                                : "it was prepared under break-glass token " + portal.break_glass_token +
                                      ", which has ended";
  std::string message = replayed ? "its prepared statement was executed already in this session (each approval "
                                   "applies once)"
                                 : "it was prepared under a break-glass token that has ended (reset or expired)";
  std::string hint = replayed ? engine::kHowToReapply
                              : "Prepare it again under a valid break-glass token, or apply it through a signed bundle.";
  const std::string_view what = replayed ? "a re-executed prepared statement" : "an Execute after its break-glass token ended";
  co_return co_await refuse_prepared(statement, true, reason, message, hint, what);
}

bool Enforcement::function_call_refused(const protocol::ScanStep& step) const {
  if (step.body.size() < 4) return false;  // malformed: the server refuses it
  const std::uint32_t oid = (std::uint32_t{step.body[0]} << 24) | (std::uint32_t{step.body[1]} << 16) |
                            (std::uint32_t{step.body[2]} << 8) | std::uint32_t{step.body[3]};
  return reader_.superuser() || sql::find_fast_path_function(oid) == nullptr;
}

asio::awaitable<Enforcement::Verdict> Enforcement::deny_function_call(const protocol::ScanStep& step) {
  const std::uint32_t oid = (std::uint32_t{step.body[0]} << 24) | (std::uint32_t{step.body[1]} << 16) |
                            (std::uint32_t{step.body[2]} << 8) | std::uint32_t{step.body[3]};
  // No text, so no canonical hash: the record names the OID (what the server runs).
  engine::Prepared call;
  call.cls = sql::StatementClass::server_admin;
  call.display_sql = "-- FunctionCall message: function OID " + std::to_string(oid);
  std::string reason = reader_.superuser() ? "a FunctionCall in a superuser's session (enforcement.superusers)"
                                  : "a FunctionCall of function OID " + std::to_string(oid) +
                                        ", which is not one of the large-object functions the fast path may call";
  std::string message = reader_.superuser() ? "a FunctionCall message in a superuser's session"
                                   : "a FunctionCall message of function OID " + std::to_string(oid) +
                                         " (only the large-object functions may be called this way)";
  std::string hint = "Call the function in a SQL statement (SELECT f(...)), which ddlgate classifies.";
  const std::string_view what = "a FunctionCall";
  co_return co_await refuse_prepared(call, false, reason, message, hint, what);
}

asio::awaitable<Enforcement::Verdict> Enforcement::refuse_prepared(engine::Prepared statement, bool extended, std::string reason,
                                                           std::string why, std::string hint, std::string_view what) {
  const bool monitor = s_.mode_ == config::EnforcementMode::monitor;
  ledger::DecisionInfo d;
  d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
  d.session = session_info();
  d.statement_hash = statement.hash;
  d.statement_class = std::string(sql::to_string(statement.cls));
  d.display_sql = statement.display_sql;
  d.reason = std::move(reason);
  const protocol::ErrorSpec spec{"ERROR", kInsufficientPrivilege,
                                 engine::refusal_message(d.statement_class, statement.display_sql, statement.hash, why),
                                 engine::refused_sql(statement.display_sql), std::move(hint)};
  std::vector<ledger::Record> records;
  records.push_back(ledger::decision(d));
  if (!monitor && !co_await s_.pace_refusal()) co_return Verdict{Verdict::Kind::close, {}, false};
  s_.worker_.counters.count_decision(statement.cls, d.decision);
  if (monitor && !would_deny_turn(records)) co_return Verdict{};
  bool recorded = false;
  if (ledger_working()) recorded = co_await s_.record_durably(std::move(records));
  if (s_.phase_ == Session::Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  // As in enforce(): without a ledger monitor mode lets it through, enforce mode refuses it with 58030.
  if (!recorded) {
    spdlog::error("session {:x}: the ledger is unavailable; {} {}", s_.id_, what,
                  monitor ? "allowed (monitor mode)" : "refused");
    if (monitor) co_return Verdict{};
    co_return deny_ledger_unavailable("controlled statements are refused", extended);
  }
  spdlog::warn("session {:x}: {} user={} database={}: {}", s_.id_, monitor ? "would deny" : "denied", s_.user_, s_.database_,
               spec.message);
  if (monitor) co_return Verdict{};
  co_return deny(spec, extended);
}

asio::awaitable<Enforcement::Verdict> Enforcement::deny_once_only(const engine::Prepared& held, bool extended, OnceOnlyRefusal why) {
  const engine::Prepared statement = held;  // the map may change while the record is written
  // Named, not temporaries of the co_await expression (see run_elsewhere in session.h).
  const bool execute = why == OnceOnlyRefusal::sql_execute;
  std::string reason = execute ? "SQL EXECUTE of its prepared statement, which runs once, by its own Execute "
                                 "(enforcement.spend_approvals_once)"
                               : "a Parse gives the name of its prepared statement, which runs once, to another "
                                 "statement before the server has said it is closed (enforcement.spend_approvals_once)";
  std::string message = execute ? "SQL EXECUTE may run its prepared statement, which runs once, by its own Execute "
                                  "(each approval applies once)"
                                : "a Parse reuses the name of its prepared statement, which runs once; close it and "
                                  "wait for CloseComplete first (each approval applies once)";
  std::string hint = engine::kHowToReapply;
  const std::string_view what =
      execute ? "an EXECUTE of a once-only prepared statement" : "a Parse reusing a once-only statement's name";
  co_return co_await refuse_prepared(statement, extended, reason, message, hint, what);
}

}  // namespace ddlgate::proxy
