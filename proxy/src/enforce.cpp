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
#include "break_glass.h"
#include "ddlgate/base/base64.h"
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

constexpr const char* kHowToReapply =
    "Replay protection (enforcement.spend_approvals_once) lets each approved statement apply once per database; "
    "to apply it again, approve it again in a new bundle version.";
constexpr const char* kHowToApprove =
    "Put the statement in a migration, get it reviewed and merged so that CI signs a bundle for this "
    "environment, or open a break-glass session.";

// Why a text that read_as_server could not read is refused.
std::string unreadable_text(protocol::ServerText why, std::string_view client_encoding) {
  if (why == protocol::ServerText::unsupported) {
    return "ddlgate cannot read " + std::string(client_encoding) +
           " text with non-ASCII bytes exactly as this database converts it (docs/threat-model.md)";
  }
  return "the statement is not valid " + std::string(client_encoding) + " text for this database";
}

// `pg_catalog.convert_from(pg_catalog.decode('<b64>', 'base64'), 'UTF8')`: a text
// value whose literal holds only base64 characters. Schema-qualified so that no
// search_path can substitute another function.
std::string text_expr(std::string_view s) {
  return "pg_catalog.convert_from(pg_catalog.decode('" + base::base64_encode(s) + "', 'base64'), 'UTF8')";
}

std::string denial_sql(const protocol::ErrorSpec& e) {
  std::string sql = "DO $ddlgate$BEGIN RAISE EXCEPTION USING ERRCODE = '" + e.sqlstate + "', MESSAGE = " +
                    text_expr(e.message);
  if (!e.detail.empty()) sql += ", DETAIL = " + text_expr(e.detail);
  if (!e.hint.empty()) sql += ", HINT = " + text_expr(e.hint);
  sql += "; END$ddlgate$";
  return sql;
}

// What a refusal shows of its statement (the client's DETAIL, the statement.denied webhook):
// the ledger's cut, so that a huge refused statement is not copied to the server (in the
// DO block), into every webhook queue and back to the client whole.
std::string refused_sql(std::string_view display_sql) {
  std::string_view kept = ledger::utf8_prefix(display_sql, ledger::kRefusalSqlBytes);
  if (kept.size() == display_sql.size()) return std::string(display_sql);
  return std::string(kept) + "\n-- (ddlgate: the first " + std::to_string(kept.size()) + " of " +
         std::to_string(display_sql.size()) + " bytes)";
}

}  // namespace

Session::Verdict Session::deny(const protocol::ErrorSpec& spec, bool extended, bool report) {
  Verdict v;
  v.kind = Verdict::Kind::replace;
  // One Query in place of the statement, in both protocols. In the extended
  // protocol the server answers it with ErrorResponse and ReadyForQuery, which is
  // what a failed Parse and the Sync that ends its batch produce; so ddlgate drops
  // the client's messages up to and including that Sync (as the server would skip
  // them). Work done earlier in the same implicit transaction is rolled back, as
  // when a Parse fails.
  protocol::append_query(v.bytes, denial_sql(spec));
  v.skip_to_sync = extended;
  denials_.push_back(spec);
  if (denials_.size() > 64) denials_.pop_front();
  if (report) report_denial(shared_.ops, worker_.counters, {id_, peer_, user_, database_, application_}, spec);
  return v;
}

Session::Verdict Session::deny_ledger_unavailable(std::string_view refused, bool extended) {
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

asio::awaitable<bool> Session::pace_refusal() {
  const auto& limits = config_->limits;
  if (phase_ == Phase::closed) co_return false;
  // Only a refusal that will be recorded is paced: without a ledger (58030) there is none.
  if (limits.denials_per_second == 0 || !ledger_working()) co_return true;
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

bool Session::would_deny_turn(std::vector<ledger::Record>& records) {
  const auto& limits = config_->limits;
  if (limits.denials_per_second == 0 || !ledger_working() || records.empty()) return true;
  // Monitor mode lets everything through, so a would_deny never waits and never closes the
  // session. It takes the user's token only when one is there now (a zero wait reserves
  // nothing otherwise, and never queues behind the user's paced refusals); beyond the pace its
  // records are not written but counted, and the next one written carries the count
  // (`suppressed`), so the ledger grows no faster than for refusals in enforce mode.
  const auto now = std::chrono::steady_clock::now();
  if (shared_.denial_pace.reserve(user_, limits.denials_per_second, limits.denial_burst,
                                  std::chrono::steady_clock::duration::zero(), now)) {
    ledger::set_suppressed(records.front(), would_deny_unrecorded_);
    would_deny_unrecorded_ = 0;
    return true;
  }
  if (would_deny_unrecorded_ == 0) {
    spdlog::warn("session {:x}: user {} is over limits.denials_per_second ({} per second after a burst of {}): "
                 "would_deny decisions of this session are counted, not recorded one by one, until one fits",
                 id_, user_, limits.denials_per_second, limits.denial_burst);
  }
  would_deny_unrecorded_ += records.size();
  last_unrecorded_ = std::move(records);
  return false;
}

void Session::record_pending_would_deny() {
  if (would_deny_unrecorded_ == 0 || last_unrecorded_.empty() || !ledger_working()) return;
  ledger::set_suppressed(last_unrecorded_.front(), would_deny_unrecorded_ - last_unrecorded_.size());
  would_deny_unrecorded_ = 0;
  // Nothing waits for these records: the session is over, and nothing was acknowledged on them.
  for (auto& record : last_unrecorded_) shared_.ledger->append(std::move(record), [](const ledger::AppendResult&) {});
  last_unrecorded_.clear();
}

std::shared_ptr<const sql::Analysis> Session::read_as_superuser(std::string_view text,
                                                                  bool standard_strings) const {
  // Every class controlled but transaction control (BEGIN, COMMIT: they change nothing
  // by themselves), and no cache (its entries hold the ordinary policy's decisions): a
  // superuser's session pays a parse per statement, as it pays a ledger decision.
  static const sql::Policy kSuperuser = [] {
    sql::Policy p;
    for (auto cls : sql::kAllStatementClasses) p.set_controlled(cls, cls != sql::StatementClass::transaction);
    return p;
  }();
  if (text.size() > kParseOnWorkerBytes) {
    // Not parsed on the worker thread, and not worth a thread of its own: refused.
    auto large = std::make_shared<sql::Analysis>();
    large->error = sql::ParseError{"a statement over " + std::to_string(kParseOnWorkerBytes) +
                                          " bytes in a superuser's session (enforcement.superusers)",
                                      0};
    return large;
  }
  return std::make_shared<const sql::Analysis>(sql::analyze(
      text, kSuperuser, sql::Detail::controlled_only, sql::ParseOptions{.standard_conforming_strings = standard_strings}));
}

void Session::read_as_server(std::string_view sql) {
  auto& readings = readings_;
  readings.clear();  // keeps its capacity: no allocation on the hot path
  deferred_.clear();
  // No conversion changes an ASCII text, whatever the pair of encodings.
  const bool non_ascii = protocol::has_non_ascii(sql);
  // One reading of the text under a standard_conforming_strings value and a client
  // encoding, converted as the server converts it from that encoding to its own.
  auto read = [&](bool standard_strings, std::string_view encoding) -> std::shared_ptr<const sql::Analysis> {
    auto& cache = standard_strings ? *worker_.cache : *worker_.cache_nonstandard_strings;
    std::string_view text = sql;
    if (non_ascii) {
      auto as_server = protocol::read_as_server(sql, encoding, server_encoding_, server_text_);
      if (as_server == protocol::ServerText::converted) {
        text = server_text_;
      } else if (as_server != protocol::ServerText::as_is) {
        auto refused = std::make_shared<sql::Analysis>();
        refused->error = sql::ParseError{unreadable_text(as_server, encoding), 0};
        return refused;
      }
    }
    if (superuser_) return read_as_superuser(text, standard_strings);
    // A large text is parsed elsewhere, so that one session's big (or crafted)
    // statement never stalls the other sessions of this worker thread.
    if (text.size() > kParseOnWorkerBytes && !cache.answers_without_parsing(text)) {
      deferred_.push_back({readings.size(), std::string(text), cache.options()});
      return nullptr;
    }
    return cache.get(text);
  };
  readings.push_back(read(lexing_.reported_standard_strings(), lexing_.reported_encoding()));
  // Both settings can change unseen: in the startup packet or the role's defaults
  // (reported before the first ReadyForQuery), by a message of a pipeline still in
  // flight, or (client_encoding when the client did not name it) by a configuration
  // reload. lexing_ says which values are possible now (protocol/lexing_state.h).
  // Only a backslash reads differently under either setting, and only a byte >= 0x80
  // under another encoding; a backslash may also come from one (SHIFT_JIS_2004's
  // 0x81 0x5F is U+005C to a UTF8 database). So an ASCII text without one reads alike
  // every way, and any other text is read every other way the server might read it.
  if (!non_ascii && sql.find('\\') == std::string_view::npos) return;
  const protocol::BoolSet standard = lexing_.possible_standard_strings();
  const protocol::EncodingSet encodings = lexing_.possible_encodings();
  if (!standard.wide() && !encodings.wide) return;
  if (standard.wide()) readings.push_back(read(!lexing_.reported_standard_strings(), encodings.reported));
  if (encodings.wide && non_ascii) {
    for (bool s : {true, false}) {
      if (!standard.contains(s)) continue;  // only the encoding may have changed
      // Every encoding that keeps ASCII bytes reads a text like UTF8.
      if (protocol::hides_ascii(encodings.reported)) readings.push_back(read(s, "UTF8"));
      for (std::string_view encoding : protocol::kAsciiHidingEncodings) {
        // Only the encodings this database lets a session switch to.
        if (encoding != encodings.reported && protocol::client_encoding_settable(encoding, server_encoding_)) {
          readings.push_back(read(s, encoding));
        }
      }
    }
  }
}

bool Session::needs_decision(const protocol::ScanStep& step) {
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
    readings_.clear();
    deferred_.clear();
    return true;
  }
  read_as_server(*sql);
  worker_.counters.sync_cache(worker_.cache->stats());
  if (!deferred_.empty()) return true;
  const auto& first = *readings_.front();
  return readings_.size() > 1 || !first.ok() || first.any_controlled() || config_->enforcement.record_all_statements ||
         executes_once_only(readings_) != nullptr;
}

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

asio::awaitable<bool> Session::analyze_elsewhere(std::vector<std::shared_ptr<const sql::Analysis>>& readings) {
  struct Job {
    std::vector<Deferred> work;
    sql::Policy policy;
    std::vector<std::shared_ptr<const sql::Analysis>> results;
  };
  auto job = std::make_shared<Job>();
  job->work = std::move(deferred_);
  deferred_.clear();
  job->policy = shared_.policy;
  const std::function<void()> work = [job] {
    for (const auto& d : job->work) {
      job->results.push_back(std::make_shared<const sql::Analysis>(
          sql::analyze(d.text, job->policy, sql::Detail::controlled_only, d.options)));
    }
  };
  Elsewhere r = co_await run_elsewhere(work);
  if (r == Elsewhere::closed) co_return false;
  for (std::size_t i = 0; i < job->work.size(); ++i) {
    if (r == Elsewhere::done) {
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

asio::awaitable<std::optional<Session::Verdict>> Session::full_reading(std::string_view sql, bool extended,
                                                                       sql::Analysis& out) {
  std::string converted;
  std::string_view text = sql;
  auto as_server = protocol::read_as_server(sql, lexing_.reported_encoding(), server_encoding_, converted);
  if (as_server == protocol::ServerText::converted) {
    text = converted;
  } else if (as_server != protocol::ServerText::as_is) {
    out.error = sql::ParseError{unreadable_text(as_server, lexing_.reported_encoding()), 0};
    co_return std::nullopt;
  }
  const sql::ParseOptions options{.standard_conforming_strings = lexing_.reported_standard_strings()};
  if (text.size() <= kParseOnWorkerBytes) {
    out = sql::analyze(text, worker_.cache->policy(), sql::Detail::all, options);
    co_return std::nullopt;
  }
  // A large text is parsed elsewhere, so that it cannot stall the worker's other sessions.
  auto parsed = std::make_shared<sql::Analysis>();
  auto parse_job = std::make_shared<ParseJob>(ParseJob{std::string(text), worker_.cache->policy(), options, parsed});
  const std::function<void()> parse = [parse_job] {
    *parse_job->out = sql::analyze(parse_job->text, parse_job->policy, sql::Detail::all, parse_job->options);
  };
  Elsewhere analysed = co_await run_elsewhere(parse);
  if (analysed == Elsewhere::closed || phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (analysed == Elsewhere::no_thread) {
    co_return deny(no_analysis_thread_error(), extended);
  }
  out = std::move(*parsed);
  co_return std::nullopt;
}

asio::awaitable<std::optional<Session::Verdict>> Session::record_statements(std::string_view sql, bool extended) {
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
  if (ledger_working()) recorded = co_await record_durably(std::move(records));
  if (phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (recorded) {
    // A Parse's statement: its later executions are recorded at their Executes.
    if (extended && all.statements.size() == 1) {
      const auto& st = all.statements[0];
      recorded_parse_ = std::make_shared<Recorded>(Recorded{st.hash, st.cls, st.display_sql, 0});
    }
    co_return std::nullopt;
  }
  spdlog::error("session {:x}: the ledger is unavailable; statement {} (enforcement.record_all_statements)", id_,
                mode_ == config::EnforcementMode::monitor ? "allowed (monitor mode)" : "refused");
  if (mode_ == config::EnforcementMode::monitor) co_return std::nullopt;
  co_return deny_ledger_unavailable("every statement is recorded (enforcement.record_all_statements)", extended);
}

asio::awaitable<Session::Verdict> Session::enforce(const protocol::ScanStep& step) {
  const bool extended = step.type == fe::kParse;
  allowed_effects_.clear();
  recorded_parse_.reset();
  std::string_view sql;
  bool named_parse = false;  // a Parse of a named statement, which SQL EXECUTE can run later
  if (extended) {
    auto p = protocol::parse_parse(step.body);
    if (!p) co_return Verdict{Verdict::Kind::close, {}, false};
    sql = p->query;
    named_parse = !p->statement.empty();
  } else {
    auto q = protocol::parse_query(step.body);
    if (!q) co_return Verdict{Verdict::Kind::close, {}, false};
    sql = *q;
  }

  // Break-glass (break_glass.cpp): SET/RESET ddlgate.break_glass, and sessions with an open
  // token. First, so that a token never reaches the statement cache or the server.
  if (auto v = co_await break_glass_statement(sql, extended, named_parse)) co_return std::move(*v);

  allowed_hashes_.clear();
  // needs_decision() has read the text (unless it left it to break-glass):
  // readings_ holds its readings, but for those of large texts, which are
  // analysed now on another thread.
  if (readings_.empty() && deferred_.empty()) read_as_server(sql);
  std::vector<std::shared_ptr<const sql::Analysis>> readings = std::move(readings_);
  readings_.clear();
  if (!deferred_.empty() && !co_await analyze_elsewhere(readings)) co_return Verdict{Verdict::Kind::close, {}, false};
  std::shared_ptr<const sql::Analysis> analysis = readings.front();
  allowed_effects_ = effect_steps(*analysis);
  // Full-statement logging; an open break-glass session has recorded everything already.
  if (config_->enforcement.record_all_statements && !break_glass_) {
    if (auto v = co_await record_statements(sql, extended)) co_return std::move(*v);
  }
  // An EXECUTE that may run a once-only statement again, in any reading: refused whole,
  // before anything of the message is decided (nothing is reserved or spent).
  if (const Prepared* once = executes_once_only(readings)) {
    co_return co_await deny_once_only(*once, extended, OnceOnlyRefusal::sql_execute);
  }
  if (readings.size() == 1 && analysis->ok() && !analysis->any_controlled()) co_return Verdict{};  // reads and writes: untouched
  // A named Parse of a controlled statement under the name of a once-only one. The server
  // refuses it (42P05) unless a Close or DEALLOCATE of the old one reached it first, and
  // ddlgate learns which only from the answer; were it to keep the wrong one, the other
  // would run unseen. Refused before its approval is reserved; an uncontrolled one goes on
  // and the once-only statement stays kept (remember_prepared()).
  if (named_parse && shared_.spent) {
    if (auto p = protocol::parse_parse(step.body)) {
      auto held = prepared_.find(server_name(p->statement));
      if (held != prepared_.end() && held->second.once) {
        co_return co_await deny_once_only(held->second, extended, OnceOnlyRefusal::name_in_use);
      }
    }
  }

  if (shared_.approvals) {
    std::uint64_t gen = shared_.approvals->generation();
    if (gen != worker_.approved_generation) {
      worker_.approved = shared_.approvals->current();
      worker_.approved_generation = gen;
    }
  }
  const bool monitor = mode_ == config::EnforcementMode::monitor;
  const auto& deployers = config_->enforcement.deployers;
  // Only the deploy job's roles may run approved changes, when that is configured.
  const bool may_deploy =
      deployers.empty() || std::find(deployers.begin(), deployers.end(), user_) != deployers.end();
  // Another reading the server may make decides if it holds an unapproved controlled statement.
  for (std::size_t i = 1; i < readings.size(); ++i) {
    const auto& other = readings[i];
    if (!other->ok()) continue;  // the server would refuse that reading itself
    bool approved = std::all_of(other->statements.begin(), other->statements.end(), [&](const sql::Statement& st) {
      return !st.controlled || (may_deploy && worker_.approved && worker_.approved->find(st.hash, database_));
    });
    if (!approved) {
      analysis = other;
      break;
    }
  }
  if (analysis->ok() && !analysis->any_controlled()) co_return Verdict{};

  if (session_id_.empty()) {
    char sid[48];
    std::snprintf(sid, sizeof sid, "%s-%llx", shared_.instance_id.c_str(), static_cast<unsigned long long>(id_));
    session_id_ = sid;
  }
  ledger::SessionInfo who{session_id_, user_, database_, peer_, application_};
  std::vector<ledger::Record> records;
  // The decisions for /metrics, counted once they are made (a paced refusal may close the session).
  std::vector<std::pair<sql::StatementClass, ledger::Decision>> counted;
  std::vector<std::string> reserved;  // approvals reserved for this message (replay protection)
  std::vector<std::string> statement_keys;  // the same, by statement position
  std::optional<protocol::ErrorSpec> denial;
  // What the log says of a denial: its message, unless that may quote client text.
  std::string log_denial;

  if (!analysis->ok()) {
    // Unparseable: never approvable (fail closed). PostgreSQL's parse error may
    // quote client text, so it goes to the client, not into the ledger detail.
    ledger::DecisionInfo d;
    d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
    d.session = who;
    d.statement_class = "unparseable";
    d.reason = "the statement does not parse";
    records.push_back(ledger::decision(d));
    counted.emplace_back(sql::StatementClass::unparseable, d.decision);
    denial = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                 "ddlgate: unparseable statement is not approved: " + analysis->error->message, "",
                                 kHowToApprove};
    // The parser's message quotes the text near the error ("syntax error at or
    // near ..."), which may be a password: the log gets the position only.
    log_denial = "unparseable statement is not approved (parse error at byte " +
                 std::to_string(analysis->error->position) + ")";
  } else {
    const sql::Statement* first_unapproved = nullptr;
    bool first_unapproved_spent = false;
    struct Controlled {
      std::size_t index;  // position in the message
      const sql::Statement* st;
      const bundle::Approval* approval;
      std::string spend_key;  // reserved approval (replay protection), or empty
      bool spent = false;     // approved, but every approval is spent in this database
    };
    std::vector<Controlled> controlled;
    statement_keys.resize(analysis->statements.size());
    for (std::size_t i = 0; i < analysis->statements.size(); ++i) {
      const auto& st = analysis->statements[i];
      if (!st.controlled) continue;
      Controlled c{i, &st, nullptr, {}, false};
      if (may_deploy && worker_.approved) {
        if (!shared_.spent) {
          c.approval = worker_.approved->find(st.hash, database_);
        } else {
          // Replay protection: the first approval of this statement not yet spent
          // here; bookkeeping statements are repeatable and never spent.
          bool any = false;
          c.approval = worker_.approved->find_if(st.hash, database_, [&](const bundle::Approval& a) {
            any = true;
            if (a.repeatable) return true;
            std::string key = SpentApprovals::key(database_, a);
            if (!shared_.spent->reserve(key)) return false;
            c.spend_key = std::move(key);
            return true;
          });
          c.spent = !c.approval && any;
        }
      }
      if (!c.approval && !first_unapproved) {
        first_unapproved = &st;
        first_unapproved_spent = c.spent;
      }
      controlled.push_back(std::move(c));
    }
    for (auto& c : controlled) {
      ledger::DecisionInfo d;
      d.session = who;
      d.statement_hash = c.st->hash;
      d.statement_class = std::string(sql::to_string(c.st->cls));
      d.display_sql = c.st->display_sql;
      if (!first_unapproved) {
        const bundle::Approval* a = c.approval;
        d.decision = ledger::Decision::allowed;
        d.approval = ledger::Approval{a->app, std::to_string(a->version), a->file, a->statement_index};
        if (!c.spend_key.empty()) {
          // A Parse's outcome is not followed (yet): its approval is spent at once.
          d.spend = extended ? "at_decision" : "on_commit";
          reserved.push_back(c.spend_key);
          statement_keys[c.index] = c.spend_key;
        }
      } else {
        if (!c.spend_key.empty()) shared_.spent->release(c.spend_key);
        d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
        d.reason = c.approval ? "another statement of the same message is not approved"
                   : c.spent  ? "its approval was already used in this database (enforcement.spend_approvals_once)"
                   : may_deploy ? "no signed bundle approves it for this database"
                                : "user " + user_ + " is not in enforcement.deployers";
      }
      records.push_back(ledger::decision(d));
      counted.emplace_back(c.st->cls, d.decision);
    }
    if (first_unapproved) {
      std::string cls(sql::to_string(first_unapproved->cls));
      std::string why = !may_deploy              ? " for user " + user_ + " (not a deployer)"
                        : first_unapproved_spent ? ": its approval was already used in database " + database_ +
                                                       " (each approval applies once)"
                                                 : "";
      denial = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                   "ddlgate: " + cls + " statement " + first_unapproved->hash + " is not approved" + why,
                                   refused_sql(first_unapproved->display_sql),
                                   first_unapproved_spent ? kHowToReapply : kHowToApprove};
    }
  }

  // The decision is durable before it is acted on; without a ledger nothing
  // controlled is allowed (fail closed), though monitor mode lets it through.
  bool recorded = false;
  // A refusal's record waits its turn (limits.denials_per_second); a would_deny beyond the
  // pace is counted instead, and the statement goes through at once.
  if (denial && !monitor && !co_await pace_refusal()) co_return Verdict{Verdict::Kind::close, {}, false};
  for (const auto& [cls, decision] : counted) worker_.counters.count_decision(cls, decision);
  if (denial && monitor && !would_deny_turn(records)) co_return Verdict{};
  if (ledger_working()) recorded = co_await record_durably(std::move(records));
  if (phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (!recorded) {
    for (const auto& key : reserved) shared_.spent->release(key);
    spdlog::error("session {:x}: the ledger is unavailable; controlled statement {}", id_,
                  monitor ? "allowed (monitor mode)" : "refused");
    if (monitor) co_return Verdict{};
    co_return deny_ledger_unavailable("controlled statements are refused", extended);
  }
  if (!denial) {
    if (extended) {
      for (const auto& key : reserved) shared_.spent->spend(key);
      // Remembered by statement name for the outcomes of its Executes.
      if (analysis->ok() && analysis->statements.size() == 1 && analysis->statements[0].controlled) {
        const auto& st = analysis->statements[0];
        allowed_hashes_.push_back(st.hash);
        allowed_parse_ = Prepared{st.hash, st.cls, st.display_sql, !reserved.empty(), false, {}, {}, {}};
      }
    } else if (analysis->ok()) {
      // Outcomes by position; a reserved approval is spent when its transaction commits.
      for (const auto& st : analysis->statements) allowed_hashes_.push_back(st.controlled ? st.hash : std::string());
      if (!reserved.empty()) allowed_keys_ = std::move(statement_keys);
    }
    log_allowed({id_, peer_, user_, database_, application_}, *analysis);
    co_return Verdict{};
  }
  spdlog::warn("session {:x}: {} user={} database={}: {}", id_, monitor ? "would deny" : "denied", user_, database_,
               log_denial.empty() ? denial->message : log_denial);
  if (monitor) co_return Verdict{};
  co_return deny(*denial, extended);
}

void Session::expect(Expected::Kind kind, std::unique_ptr<Tracked> tracked) {
  if (skipping_to_sync_) {
    // The server discards it unanswered; a Query's reserved approvals are free again.
    if (kind != Expected::Kind::sync) {
      if (tracked && shared_.spent) {
        for (const auto& key : tracked->spend_keys) {
          if (!key.empty()) shared_.spent->release(key);
        }
      }
      return;
    }
    skipping_to_sync_ = false;
  }
  Expected e;
  e.kind = kind;
  e.tracked = std::move(tracked);
  expected_.push_back(std::move(e));
}

void Session::expect_extended() {
  if (skipping_to_sync_) return;  // discarded by the server (see expect())
  if (!expected_.empty() && expected_.back().kind == Expected::Kind::extended &&
      expected_.back().count < std::numeric_limits<std::uint32_t>::max()) {
    ++expected_.back().count;
    return;
  }
  expect(Expected::Kind::extended);
}

void Session::expect_query(std::vector<std::string> hashes, std::vector<std::string> spend_keys,
                           std::vector<EffectStep> effects) {
  std::unique_ptr<Tracked> t;
  if (!hashes.empty() || !effects.empty()) {
    t = std::make_unique<Tracked>();
    t->hashes = std::move(hashes);
    t->spend_keys = std::move(spend_keys);
    // Every position with a session effect is a slot, tracked statement or not.
    if (t->hashes.size() < effects.size()) t->hashes.resize(effects.size());
    t->effects = std::move(effects);
    for (auto& step : t->effects) step.generation = generations_;
  }
  expect(Expected::Kind::query, std::move(t));
}

std::vector<Session::EffectStep> Session::effect_steps(const sql::Analysis& analysis) {
  std::vector<EffectStep> steps;
  if (!analysis.ok() || !analysis.any_session_effect()) return steps;
  steps.reserve(analysis.statements.size());
  for (const auto& st : analysis.statements) steps.push_back({st.session_effect, st.effect_name});
  return steps;
}

void Session::on_session_effect(const EffectStep& step, std::string_view tag) {
  using sql::SessionEffect;
  // The innermost savepoint of that name (PostgreSQL allows the same name twice).
  auto innermost = [&]() -> std::optional<std::size_t> {
    for (std::size_t i = savepoints_.size(); i-- > 0;) {
      if (savepoints_[i].name == step.name) return i;
    }
    return std::nullopt;
  };
  switch (step.effect) {
    case SessionEffect::define:
      if (tag == "SAVEPOINT") savepoints_.push_back({step.name, pending_outcomes_.size()});
      break;
    case SessionEffect::release:
      // It and every savepoint defined after it are gone; their statements stay pending.
      if (auto k = innermost(); k && tag == "RELEASE") savepoints_.resize(*k);
      break;
    case SessionEffect::rollback_to:
      // What ran after it is undone now; the savepoint itself stays. A name ddlgate
      // never saw defined leaves outcomes to the block's end.
      if (auto k = innermost(); k && tag == "ROLLBACK") {
        settle_pending_outcomes(false, savepoints_[*k].pending);
        savepoints_.resize(*k + 1);
      }
      break;
    case SessionEffect::chain:
      // COMMIT AND CHAIN answers COMMIT (settled by its tag) or, in a failed
      // block, ROLLBACK; ROLLBACK AND CHAIN answers ROLLBACK. A block stays open.
      if (tag == "ROLLBACK") end_transaction(false);
      break;
    case SessionEffect::deallocate:
    case SessionEffect::deallocate_all:
      if (tag == "DEALLOCATE" || tag == "DEALLOCATE ALL" || tag == "DISCARD ALL") deallocated(step);
      break;
    case SessionEffect::none:
      break;
  }
}

void Session::deallocated(const EffectStep& step) {
  if (step.effect == sql::SessionEffect::deallocate) {
    auto it = prepared_.find(server_name(step.name));
    if (it != prepared_.end() && it->second.generation <= step.generation) prepared_.erase(it);
    return;
  }
  std::erase_if(prepared_, [&](const auto& entry) { return entry.second.generation <= step.generation; });
}

void Session::release_reserved_approvals() {
  if (!shared_.spent) return;
  // Messages still unanswered may yet run and commit on the server after the
  // client is gone: their approvals count as spent (fail closed), and so do those
  // of an open transaction block if anything is in flight (it may be its COMMIT).
  // Without a ledger outcome, a restart counts them as spent too.
  const bool in_flight = !expected_.empty();
  for (const auto& e : expected_) {
    if (!e.tracked) continue;
    for (std::size_t i = e.tracked->next; i < e.tracked->spend_keys.size(); ++i) {
      if (!e.tracked->spend_keys[i].empty()) shared_.spent->spend(e.tracked->spend_keys[i]);
    }
  }
  for (const auto& p : pending_outcomes_) {
    if (p.spend_key.empty()) continue;
    if (in_flight) {
      shared_.spent->spend(p.spend_key);
    } else {
      // Nothing in flight and the block still open: the server rolls it back
      // when the connection ends.
      if (shared_.ledger) {
        shared_.ledger->append(ledger::outcome_rolled_back(session_id_, p.hash), [](const ledger::AppendResult&) {});
      }
      shared_.spent->release(p.spend_key);
    }
  }
  expected_.clear();
  pending_outcomes_.clear();
  savepoints_.clear();
}

void Session::settle_pending_outcomes(bool committed, std::size_t from) {
  if (from >= pending_outcomes_.size()) return;
  for (auto it = pending_outcomes_.begin() + static_cast<std::ptrdiff_t>(from); it != pending_outcomes_.end(); ++it) {
    const PendingOutcome& p = *it;
    if (shared_.ledger) {
      shared_.ledger->append(committed ? ledger::outcome_executed(session_id_, p.hash, p.tag)
                                       : ledger::outcome_rolled_back(session_id_, p.hash),
                             [](const ledger::AppendResult&) {});
    }
    if (!p.spend_key.empty() && shared_.spent) {
      if (committed) {
        shared_.spent->spend(p.spend_key);
      } else {
        shared_.spent->release(p.spend_key);
      }
    }
  }
  pending_outcomes_.erase(pending_outcomes_.begin() + static_cast<std::ptrdiff_t>(from), pending_outcomes_.end());
}

void Session::end_transaction(bool committed) {
  settle_pending_outcomes(committed);
  savepoints_.clear();
}

bool Session::on_outcome_message(const protocol::ScanStep& step) {
  using Kind = Expected::Kind;
  Expected* front = expected_.empty() ? nullptr : &expected_.front();
  // A completion of the extended-protocol message at the front of a run.
  auto complete_extended = [&] {
    if (--front->count == 0) expected_.pop_front();
  };
  // The next position of a tracked Query or Execute that has not failed.
  Tracked* slot = front && front->tracked && (front->kind == Kind::query || front->kind == Kind::execute) &&
                          front->tracked->next < front->tracked->hashes.size()
                      ? front->tracked.get()
                      : nullptr;
  // The server answered something ddlgate did not send it (as far as it knows):
  // outcomes after this point may be missing. Tests assert it never happens.
  auto out_of_step = [&](std::string_view what) {
    worker_.counters.outcomes_out_of_step.add();
    spdlog::warn("session {:x}: outcome tracking out of step with the server ({}); outcomes may be missing", id_,
                 what);
  };
  // The end of an Execute's answer (in a run or tracked) or of one statement of a Query's.
  auto end_statement_answer = [&](std::string_view unexpected) {
    if (front && front->kind == Kind::extended) {
      complete_extended();
    } else if (front && front->kind == Kind::execute) {
      expected_.pop_front();
    } else if (!front || front->kind != Kind::query) {
      out_of_step(unexpected);
    }
  };
  switch (step.type) {
    case be::kCloseComplete:
      if (front && front->kind == Kind::close) {
        if (front->tracked) closed(front->tracked->closing);
        expected_.pop_front();
        return false;
      }
      [[fallthrough]];
    case be::kParseComplete:
    case be::kBindComplete:
    case be::kNoData:
    case be::kRowDescription:
      // RowDescription ends a Describe; in a Query's answer it comes before the rows.
      if (front && front->kind == Kind::extended) {
        complete_extended();
      } else if (step.type != be::kRowDescription || !front) {
        out_of_step("a completion with no Parse, Bind, Describe or Close awaited");
      }
      return false;
    case be::kCommandComplete: {
      auto tag = protocol::parse_command_complete(step.body);
      if (!tag) return false;
      last_tag_ = std::string(*tag);
      if (slot) {
        std::size_t i = slot->next++;
        const std::string& hash = slot->hashes[i];
        std::string key = i < slot->spend_keys.size() ? std::move(slot->spend_keys[i]) : std::string();
        // Executed, but applied only once its transaction commits.
        if (!hash.empty()) pending_outcomes_.push_back({hash, last_tag_, std::move(key)});
        if (i < slot->effects.size()) on_session_effect(slot->effects[i], last_tag_);
      }
      end_statement_answer("a CommandComplete with no Execute or Query awaited");
      // A COMMIT (or PREPARE TRANSACTION) inside a message settles what came before
      // it, whatever happens later in the same message.
      if (last_tag_ == "COMMIT" || last_tag_ == "PREPARE TRANSACTION") end_transaction(true);
      return false;
    }
    case be::kEmptyQueryResponse:
    case be::kPortalSuspended:
      // A statement that ran nothing, or an Execute not run to its end.
      if (slot) ++slot->next;
      end_statement_answer("an EmptyQueryResponse or PortalSuspended with no Execute or Query awaited");
      return false;
    case be::kErrorResponse: {
      last_tag_.clear();
      failed_ = true;
      if (!front) return false;
      if (slot) {
        const std::string& hash = slot->hashes[slot->next];
        // This statement and the rest of the message did not run: their approvals are free again.
        for (std::size_t i = slot->next; i < slot->spend_keys.size(); ++i) {
          if (!slot->spend_keys[i].empty() && shared_.spent) shared_.spent->release(slot->spend_keys[i]);
          slot->spend_keys[i].clear();
        }
        if (!hash.empty() && shared_.ledger) {
          auto f = protocol::parse_error_fields(step.body);
          std::string state = f && !f->sqlstate().empty() ? std::string(f->sqlstate()) : "unknown";
          shared_.ledger->append(ledger::outcome_failed(session_id_, hash, state), [](const ledger::AppendResult&) {});
        }
        slot->next = slot->hashes.size();
      }
      // A Query, FunctionCall or Sync ends with its ReadyForQuery; an
      // extended-protocol message makes the server skip to the next Sync.
      if (front->kind == Kind::extended || front->kind == Kind::execute || front->kind == Kind::close) {
        skip_to_sync_entry();
      }
      return false;
    }
    case be::kReadyForQuery: {
      // Ends the first Query, FunctionCall, Sync or denial; anything before it was
      // answered already (a run whose completions were not all seen ends here too).
      bool swallow = false;
      bool ended = false;
      while (!expected_.empty()) {
        const Kind k = expected_.front().kind;
        expected_.pop_front();
        if (k == Kind::query || k == Kind::function_call || k == Kind::sync || k == Kind::denial) {
          swallow = k == Kind::denial;
          ended = true;
          break;
        }
        out_of_step("a ReadyForQuery before the answer to an extended-protocol message");
      }
      if (!ended) out_of_step("a ReadyForQuery with no Query, FunctionCall or Sync awaited");
      const bool failed = std::exchange(failed_, false);
      auto status = protocol::parse_ready_for_query(step.body);
      if (!status) return swallow;
      if (*status == 'I') {
        // The transaction ended. Outside a block, the message's implicit
        // transaction committed unless something in it failed; a block ended
        // with COMMIT, or with a rollback (ROLLBACK, or the COMMIT of a failed
        // block, which answers ROLLBACK).
        bool committed = !failed && (!block_open_ || last_tag_ == "COMMIT" || last_tag_ == "PREPARE TRANSACTION");
        end_transaction(committed);
        block_open_ = false;
        // The server drops every portal when a transaction ends. With nothing else in
        // flight no Bind can have come since, so ddlgate forgets them too (else it
        // waits for such a moment: a portal bound later must not go).
        if (!portals_.empty() && expected_.empty()) portals_.clear();
      } else {
        block_open_ = true;
      }
      return swallow;
    }
    default:
      return false;
  }
}

void Session::skip_to_sync_entry() {
  // The server discards every message up to the next Sync, Queries and
  // FunctionCalls included: those never run, and their approvals are free again.
  while (!expected_.empty() && expected_.front().kind != Expected::Kind::sync) {
    const Expected& e = expected_.front();
    if (e.tracked && shared_.spent) {
      for (std::size_t i = e.tracked->next; i < e.tracked->spend_keys.size(); ++i) {
        if (!e.tracked->spend_keys[i].empty()) shared_.spent->release(e.tracked->spend_keys[i]);
      }
    }
    expected_.pop_front();
  }
  // The client has not sent that Sync yet: what it sends until then is discarded too.
  if (expected_.empty()) skipping_to_sync_ = true;
}

std::string Session::server_name(std::string_view name) {
  return std::string(name.substr(0, std::min(name.size(), kNameBytes)));
}

void Session::on_bind_or_execute_bytes(std::span<const std::uint8_t> part) {
  std::size_t take = std::min<std::size_t>(part.size(), names_left_);
  names_left_ -= static_cast<std::uint32_t>(take);
  const std::size_t needed = names_type_ == fe::kBind ? 2 : 1;
  std::span<const std::uint8_t> rest = part.first(take);
  // Each name up to its NUL; only its first kNameBytes count, as for the server.
  while (!rest.empty() && names_seen_ < needed) {
    const auto* nul = static_cast<const std::uint8_t*>(std::memchr(rest.data(), 0, rest.size()));
    const std::size_t len = nul ? static_cast<std::size_t>(nul - rest.data()) : rest.size();
    std::string& name = names_[names_seen_];
    const std::size_t keep = std::min(len, kNameBytes - std::min(kNameBytes, name.size()));
    name.append(reinterpret_cast<const char*>(rest.data()), keep);
    if (!nul) break;
    ++names_seen_;
    rest = rest.subspan(len + 1);
  }
  if (names_seen_ == needed || names_left_ == 0) finish_names();
}

void Session::remember_prepared(const protocol::ScanStep& step) {
  auto parse = protocol::parse_parse(step.body);
  std::optional<Prepared> allowed = std::exchange(allowed_parse_, std::nullopt);
  std::vector<EffectStep> effect = std::exchange(allowed_effects_, {});
  std::shared_ptr<Recorded> recorded = std::exchange(recorded_parse_, nullptr);
  if (!parse) return;
  std::string name = server_name(parse->statement);
  // A named Parse over a once-only statement's name: the server refuses it (42P05) unless a
  // Close or DEALLOCATE of it went first, whose answer then forgets it (closed(),
  // deallocated()). So the once-only statement stays kept until the server says it is gone:
  // were it dropped here, a Bind of the name would run it again unchecked. (A controlled
  // one was refused in enforce(); this is an uncontrolled one.)
  if (!name.empty()) {
    auto held = prepared_.find(name);
    if (held != prepared_.end() && held->second.once) return;
  }
  Prepared p;
  if (allowed) {
    p = std::move(*allowed);
  } else if (effect.size() == 1 && effect[0].effect != sql::SessionEffect::none) {
    p.cls = sql::StatementClass::transaction;
    p.effect_step = std::move(effect[0]);
  }
  p.recorded = std::move(recorded);
  if (!allowed && p.effect_step.effect == sql::SessionEffect::none && !p.recorded) {
    prepared_.erase(name);
    return;
  }
  // Each Execute of a statement a break-glass token allowed is checked against the token,
  // and a later run of a recorded statement is recorded: from now on this session's
  // Executes are read whole (they are a few bytes).
  if (!p.break_glass_token.empty() || p.recorded) client_scanner_.inspect(fe::kExecute);
  // Closes are read whole too (a type and a name), so that a closed statement is forgotten.
  client_scanner_.inspect(fe::kClose);
  p.generation = ++generations_;
  prepared_[name] = std::move(p);
}

bool Session::expect_close(const protocol::ScanStep& step) {
  if (step.kind != protocol::ScanStep::Kind::message || step.body.size() < 2) return false;
  auto end = std::find(step.body.begin() + 1, step.body.end(), std::uint8_t{0});
  if (end == step.body.end()) return false;  // malformed: the server refuses it
  auto t = std::make_unique<Tracked>();
  Closing& c = t->closing;
  c.portal = step.body[0] == 'P';
  if (!c.portal && step.body[0] != 'S') return false;
  c.name = server_name(std::string_view(reinterpret_cast<const char*>(step.body.data()) + 1,
                                        static_cast<std::size_t>(end - step.body.begin() - 1)));
  if (c.portal) {
    auto it = portals_.find(c.name);
    if (it == portals_.end()) return false;
    c.generation = it->second.generation;
  } else {
    auto it = prepared_.find(c.name);
    if (it == prepared_.end()) return false;
    c.generation = it->second.generation;
  }
  expect(Expected::Kind::close, std::move(t));  // nothing when the server discards it (see expect())
  return true;
}

void Session::closed(const Closing& c) {
  if (c.portal) {
    auto it = portals_.find(c.name);
    if (it != portals_.end() && it->second.generation == c.generation) portals_.erase(it);
  } else {
    auto it = prepared_.find(c.name);
    if (it != prepared_.end() && it->second.generation == c.generation) prepared_.erase(it);
  }
}

const Session::Portal* Session::executed_portal(const protocol::ScanStep& step) const {
  if (portals_.empty() || step.type != fe::kExecute || step.kind != protocol::ScanStep::Kind::message) {
    return nullptr;
  }
  auto end = std::find(step.body.begin(), step.body.end(), std::uint8_t{0});
  if (end == step.body.end()) return nullptr;  // malformed: the server refuses it
  auto portal = portals_.find(server_name(std::string_view(reinterpret_cast<const char*>(step.body.data()),
                                                           static_cast<std::size_t>(end - step.body.begin()))));
  return portal == portals_.end() ? nullptr : &portal->second;
}

Session::ExecuteRefusal Session::refused_execute(const protocol::ScanStep& step) const {
  const Portal* portal = executed_portal(step);
  if (!portal) return ExecuteRefusal::none;
  // Every Execute of it, a continued run included: the token must still be open.
  if (const std::string& token = portal->break_glass_token; !token.empty()) {
    if (!break_glass_open(token)) return ExecuteRefusal::break_glass_ended;
  }
  if (portal->executed) return ExecuteRefusal::none;
  auto statement = prepared_.find(portal->statement);
  const bool replayed = statement != prepared_.end() && statement->second.once && statement->second.executed &&
                        statement->second.hash == portal->hash;
  return replayed ? ExecuteRefusal::replayed : ExecuteRefusal::none;
}

bool Session::execution_to_record(const protocol::ScanStep& step) const {
  const Portal* portal = executed_portal(step);
  // A continued run (after PortalSuspended) is the same execution; the first run is
  // the Parse's record.
  if (!portal || portal->executed || !portal->recorded || portal->recorded->executions == 0) return false;
  return config_->enforcement.record_all_statements || break_glass_;
}

asio::awaitable<Session::Verdict> Session::record_execution(const protocol::ScanStep& step) {
  const Recorded statement = *executed_portal(step)->recorded;
  std::vector<ledger::Record> records;
  records.push_back(ledger::session_statement(session_info(), break_glass_ ? break_glass_->claims.token_id : "",
                                              statement.hash, std::string(sql::to_string(statement.cls)),
                                              statement.display_sql, statement.executions + 1));
  bool recorded = false;
  if (ledger_working()) recorded = co_await record_durably(std::move(records));
  if (phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (recorded) co_return Verdict{};
  spdlog::error("session {:x}: the ledger is unavailable; an execution of a prepared statement {}", id_,
                mode_ == config::EnforcementMode::monitor ? "allowed (monitor mode)" : "refused");
  if (mode_ == config::EnforcementMode::monitor) co_return Verdict{};
  co_return deny_ledger_unavailable(break_glass_ ? "a break-glass session cannot run statements unrecorded"
                                                 : "every statement is recorded (enforcement.record_all_statements)",
                                    true);
}

asio::awaitable<Session::Verdict> Session::deny_execute(const protocol::ScanStep& step, ExecuteRefusal why) {
  const Portal& portal = *executed_portal(step);
  // The statement as it was bound (a later Parse may have replaced the name since).
  auto named = prepared_.find(portal.statement);
  Prepared statement = named != prepared_.end() && named->second.hash == portal.hash ? named->second : Prepared{};
  statement.hash = portal.hash;
  if (why == ExecuteRefusal::break_glass_ended) end_break_glass_if_expired();
  // Named, not temporaries of the co_await expression (see run_elsewhere in session.h).
  const bool replayed = why == ExecuteRefusal::replayed;
  std::string reason = replayed ? "its prepared statement was executed already; its approval was used "
                                  "(enforcement.spend_approvals_once)"
                                : "it was prepared under break-glass token " + portal.break_glass_token +
                                      ", which has ended";
  std::string message = replayed ? "its prepared statement was executed already in this session (each approval "
                                   "applies once)"
                                 : "it was prepared under a break-glass token that has ended (reset or expired)";
  std::string hint = replayed ? kHowToReapply
                              : "Prepare it again under a valid break-glass token, or apply it through a signed bundle.";
  const std::string_view what = replayed ? "a re-executed prepared statement" : "an Execute after its break-glass token ended";
  co_return co_await refuse_prepared(statement, true, reason, message, hint, what);
}

bool Session::function_call_refused(const protocol::ScanStep& step) const {
  if (step.body.size() < 4) return false;  // malformed: the server refuses it
  const std::uint32_t oid = (std::uint32_t{step.body[0]} << 24) | (std::uint32_t{step.body[1]} << 16) |
                            (std::uint32_t{step.body[2]} << 8) | std::uint32_t{step.body[3]};
  return superuser_ || sql::find_fast_path_function(oid) == nullptr;
}

asio::awaitable<Session::Verdict> Session::deny_function_call(const protocol::ScanStep& step) {
  const std::uint32_t oid = (std::uint32_t{step.body[0]} << 24) | (std::uint32_t{step.body[1]} << 16) |
                            (std::uint32_t{step.body[2]} << 8) | std::uint32_t{step.body[3]};
  // No text, so no canonical hash: the record names the OID (what the server runs).
  Prepared call;
  call.cls = sql::StatementClass::server_admin;
  call.display_sql = "-- FunctionCall message: function OID " + std::to_string(oid);
  std::string reason = superuser_ ? "a FunctionCall in a superuser's session (enforcement.superusers)"
                                  : "a FunctionCall of function OID " + std::to_string(oid) +
                                        ", which is not one of the large-object functions the fast path may call";
  std::string message = superuser_ ? "a FunctionCall message in a superuser's session"
                                   : "a FunctionCall message of function OID " + std::to_string(oid) +
                                         " (only the large-object functions may be called this way)";
  std::string hint = "Call the function in a SQL statement (SELECT f(...)), which ddlgate classifies.";
  const std::string_view what = "a FunctionCall";
  co_return co_await refuse_prepared(call, false, reason, message, hint, what);
}

asio::awaitable<Session::Verdict> Session::refuse_prepared(Prepared statement, bool extended, std::string reason,
                                                           std::string why, std::string hint, std::string_view what) {
  const bool monitor = mode_ == config::EnforcementMode::monitor;
  ledger::DecisionInfo d;
  d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
  d.session = session_info();
  d.statement_hash = statement.hash;
  d.statement_class = std::string(sql::to_string(statement.cls));
  d.display_sql = statement.display_sql;
  d.reason = std::move(reason);
  const protocol::ErrorSpec spec{"ERROR", kInsufficientPrivilege,
                                 "ddlgate: " + d.statement_class + " statement " +
                                     (statement.hash.empty() ? "" : statement.hash + " ") + "is not approved: " + why,
                                 refused_sql(statement.display_sql), std::move(hint)};
  std::vector<ledger::Record> records;
  records.push_back(ledger::decision(d));
  if (!monitor && !co_await pace_refusal()) co_return Verdict{Verdict::Kind::close, {}, false};
  worker_.counters.count_decision(statement.cls, d.decision);
  if (monitor && !would_deny_turn(records)) co_return Verdict{};
  bool recorded = false;
  if (ledger_working()) recorded = co_await record_durably(std::move(records));
  if (phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  // As in enforce(): without a ledger monitor mode lets it through, enforce mode refuses it with 58030.
  if (!recorded) {
    spdlog::error("session {:x}: the ledger is unavailable; {} {}", id_, what,
                  monitor ? "allowed (monitor mode)" : "refused");
    if (monitor) co_return Verdict{};
    co_return deny_ledger_unavailable("controlled statements are refused", extended);
  }
  spdlog::warn("session {:x}: {} user={} database={}: {}", id_, monitor ? "would deny" : "denied", user_, database_,
               spec.message);
  if (monitor) co_return Verdict{};
  co_return deny(spec, extended);
}

namespace {

// Whether a statement name reads the same to ddlgate and to the server: short and ASCII.
// A longer one may be cut elsewhere (the server cuts an identifier at a character boundary
// of the database encoding, libpg_query of UTF-8), and non-ASCII bytes may fold or convert
// differently (a single-byte database encoding downcases them; client_encoding converts).
bool plain_name(std::string_view name) {
  return name.size() < 60 && std::all_of(name.begin(), name.end(), [](char c) { return (c & 0x80) == 0; });
}

bool same_ascii_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

}  // namespace

const Session::Prepared* Session::executes_once_only(
    const std::vector<std::shared_ptr<const sql::Analysis>>& readings) const {
  if (prepared_.empty() || !shared_.spent) return nullptr;
  for (const auto& reading : readings) {
    if (!reading || !reading->ok()) continue;
    for (const auto& st : reading->statements) {
      for (const std::string& executed : st.executes) {
        // Only a statement prepared with Parse can be controlled (SQL PREPARE takes
        // SELECT, INSERT, UPDATE, DELETE, MERGE and VALUES only), and only a named one
        // is reachable (SQL has no name for the unnamed statement). Names are compared
        // as the server would (unquoted ones are folded already); a name that may read
        // differently (plain_name()) reaches every once-only statement, and case is
        // ignored: refusing an EXECUTE the server would not have matched costs nothing.
        for (const auto& [name, p] : prepared_) {
          if (!p.once || name.empty()) continue;
          if (!plain_name(name) || !plain_name(executed) || same_ascii_name(name, executed)) return &p;
        }
      }
    }
  }
  return nullptr;
}

asio::awaitable<Session::Verdict> Session::deny_once_only(const Prepared& held, bool extended, OnceOnlyRefusal why) {
  const Prepared statement = held;  // the map may change while the record is written
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
  std::string hint = kHowToReapply;
  const std::string_view what =
      execute ? "an EXECUTE of a once-only prepared statement" : "a Parse reusing a once-only statement's name";
  co_return co_await refuse_prepared(statement, extended, reason, message, hint, what);
}

void Session::finish_names() {
  // Names whose NUL never came belong to a malformed message the server refuses.
  if (names_type_ == fe::kBind) {
    if (names_seen_ == 2) {
      auto it = prepared_.find(names_[1]);
      if (it != prepared_.end()) {
        portals_[names_[0]] = Portal{names_[1],
                                     it->second.hash,
                                     false,
                                     it->second.effect_step,
                                     it->second.break_glass_token,
                                     it->second.recorded,
                                     ++generations_};
      } else {
        portals_.erase(names_[0]);
      }
    }
  } else if (names_type_ == fe::kExecute) {
    // The Execute's place among what the server is to answer (expected_).
    std::string hash;
    const EffectStep* effect = nullptr;
    if (names_seen_ == 1 && !portals_.empty()) {
      auto it = portals_.find(names_[0]);
      if (it != portals_.end()) {
        hash = it->second.hash;
        if (it->second.effect_step.effect != sql::SessionEffect::none) {
          it->second.effect_step.generation = generations_;
          effect = &it->second.effect_step;
        }
        if (!it->second.executed && it->second.recorded) ++it->second.recorded->executions;
        it->second.executed = true;
        auto statement = prepared_.find(it->second.statement);
        if (statement != prepared_.end() && statement->second.hash == hash) statement->second.executed = true;
      }
    }
    if (hash.empty() && !effect) {
      expect_extended();
    } else {
      auto t = std::make_unique<Tracked>();
      t->hashes.push_back(std::move(hash));
      if (effect) t->effects.push_back(*effect);
      expect(Expected::Kind::execute, std::move(t));
    }
  }
  names_type_ = 0;
  names_seen_ = 0;
  for (auto& n : names_) n.clear();
}

std::span<const std::uint8_t> Session::rewrite_denial(const protocol::ScanStep& step) {
  // The server raised the error ddlgate asked for, with a CONTEXT line from
  // PL/pgSQL; send the client exactly the fields ddlgate chose instead.
  auto f = protocol::parse_error_fields(step.body);
  if (!f) return step.bytes;
  for (auto it = denials_.begin(); it != denials_.end(); ++it) {
    if (f->sqlstate() == it->sqlstate && f->message() == it->message) {
      s2c_arena_.push_back(protocol::build_error_response(*it));
      denials_.erase(it);
      return s2c_arena_.back();
    }
  }
  return step.bytes;
}

}  // namespace ddlgate::proxy
