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
#include <cstdio>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "approvals.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/policy/analyze.h"
#include "session.h"

namespace ddlgate::proxy {
namespace {

namespace fe = protocol::fe;
namespace be = protocol::be;

constexpr const char* kInsufficientPrivilege = "42501";
constexpr const char* kLedgerUnavailable = "58030";  // io_error
constexpr const char* kHowToApprove =
    "Put the statement in a migration, get it reviewed and merged so that CI signs a bundle for this "
    "environment, or open a break-glass session.";

std::string base64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// `pg_catalog.convert_from(pg_catalog.decode('<b64>', 'base64'), 'UTF8')`: a text
// value whose literal holds only base64 characters. Schema-qualified so that no
// search_path can substitute another function.
std::string text_expr(std::string_view s) {
  return "pg_catalog.convert_from(pg_catalog.decode('" + base64(s) + "', 'base64'), 'UTF8')";
}

std::string denial_sql(const protocol::ErrorSpec& e) {
  std::string sql = "DO $ddlgate$BEGIN RAISE EXCEPTION USING ERRCODE = '" + e.sqlstate + "', MESSAGE = " +
                    text_expr(e.message);
  if (!e.detail.empty()) sql += ", DETAIL = " + text_expr(e.detail);
  if (!e.hint.empty()) sql += ", HINT = " + text_expr(e.hint);
  sql += "; END$ddlgate$";
  return sql;
}

}  // namespace

Session::Verdict Session::deny(const protocol::ErrorSpec& spec, bool extended) {
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
  return v;
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

asio::awaitable<Session::Verdict> Session::enforce(const protocol::ScanStep& step) {
  const bool extended = step.type == fe::kParse;
  std::string_view sql;
  if (extended) {
    auto p = protocol::parse_parse(step.body);
    if (!p) co_return Verdict{Verdict::Kind::close, {}, false};
    sql = p->query;
  } else {
    auto q = protocol::parse_query(step.body);
    if (!q) co_return Verdict{Verdict::Kind::close, {}, false};
    sql = *q;
  }

  // Break-glass (break_glass.cpp): SET/RESET ddlgate.break_glass, and sessions with an open
  // token. First, so that a token never reaches the statement cache or the server.
  if (auto v = co_await break_glass_statement(sql, extended)) co_return std::move(*v);

  allowed_hashes_.clear();
  std::shared_ptr<const policy::Analysis> analysis = worker_.cache->get(sql);
  if (analysis->ok() && !analysis->any_controlled()) co_return Verdict{};  // reads and writes: untouched

  if (shared_.approvals) {
    std::uint64_t gen = shared_.approvals->generation();
    if (gen != worker_.approved_generation) {
      worker_.approved = shared_.approvals->current();
      worker_.approved_generation = gen;
    }
  }
  const bool monitor = mode_ == config::EnforcementMode::monitor;
  const auto& deployers = shared_.config.enforcement.deployers;
  // Only the deploy job's roles may run approved changes, when that is configured.
  const bool may_deploy =
      deployers.empty() || std::find(deployers.begin(), deployers.end(), user_) != deployers.end();

  if (session_id_.empty()) {
    char sid[48];
    std::snprintf(sid, sizeof sid, "%s-%llx", shared_.instance_id.c_str(), static_cast<unsigned long long>(id_));
    session_id_ = sid;
  }
  ledger::SessionInfo who{session_id_, user_, database_, peer_, application_};
  std::vector<ledger::Record> records;
  std::optional<protocol::ErrorSpec> denial;

  if (!analysis->ok()) {
    // Unparseable: never approvable (fail closed). PostgreSQL's parse error may
    // quote client text, so it goes to the client, not into the ledger detail.
    ledger::DecisionInfo d;
    d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
    d.session = who;
    d.statement_class = "unparseable";
    d.reason = "the statement does not parse";
    records.push_back(ledger::decision(d));
    denial = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                 "ddlgate: unparseable statement is not approved: " + analysis->error->message, "",
                                 kHowToApprove};
  } else {
    const policy::Statement* first_unapproved = nullptr;
    std::vector<std::pair<const policy::Statement*, const policy::Approval*>> controlled;
    for (const auto& st : analysis->statements) {
      if (!st.controlled) continue;
      const policy::Approval* a =
          may_deploy && worker_.approved ? worker_.approved->find(st.hash, database_) : nullptr;
      if (!a && !first_unapproved) first_unapproved = &st;
      controlled.emplace_back(&st, a);
    }
    for (const auto& [st, a] : controlled) {
      ledger::DecisionInfo d;
      d.session = who;
      d.statement_hash = st->hash;
      d.statement_class = std::string(policy::to_string(st->cls));
      d.display_sql = st->display_sql;
      if (!first_unapproved) {
        d.decision = ledger::Decision::allowed;
        d.approval = ledger::Approval{a->app, std::to_string(a->version), a->file, a->statement_index};
      } else {
        d.decision = monitor ? ledger::Decision::would_deny : ledger::Decision::denied;
        d.reason = a ? "another statement of the same message is not approved"
                     : (may_deploy ? "no signed bundle approves it for this database"
                                   : "user " + user_ + " is not in enforcement.deployers");
      }
      records.push_back(ledger::decision(d));
    }
    if (first_unapproved) {
      std::string cls(policy::to_string(first_unapproved->cls));
      denial = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                   "ddlgate: " + cls + " statement " + first_unapproved->hash + " is not approved" +
                                       (may_deploy ? "" : " for user " + user_ + " (not a deployer)"),
                                   first_unapproved->display_sql, kHowToApprove};
    }
  }

  // The decision is durable before it is acted on; without a ledger nothing
  // controlled is allowed (fail closed), though monitor mode lets it through.
  bool recorded = false;
  if (shared_.ledger && !shared_.ledger->failure()) recorded = co_await record_durably(std::move(records));
  if (phase_ == Phase::closed) co_return Verdict{Verdict::Kind::close, {}, false};
  if (!recorded) {
    spdlog::error("session {:x}: the ledger is unavailable; controlled statement {}", id_,
                  monitor ? "allowed (monitor mode)" : "refused");
    if (monitor) co_return Verdict{};
    co_return deny({"ERROR", kLedgerUnavailable, "ddlgate: the decision ledger is unavailable; controlled statements are refused",
                    "", "An operator must restore the ledger (disk space, permissions) and restart ddlgate."},
                   extended);
  }
  if (!denial) {
    if (!extended && analysis->ok()) {
      for (const auto& st : analysis->statements) allowed_hashes_.push_back(st.controlled ? st.hash : std::string());
    }
    co_return Verdict{};
  }
  spdlog::warn("session {:x}: {} user={} database={}: {}", id_, monitor ? "would deny" : "denied", user_, database_,
               denial->message);
  if (monitor) co_return Verdict{};
  co_return deny(*denial, extended);
}

void Session::track_cycle(std::vector<std::string> hashes) {
  Cycle c;
  c.hashes = std::move(hashes);
  cycles_.push_back(std::move(c));
}

void Session::on_outcome_message(const protocol::ScanStep& step) {
  auto record = [&](ledger::Record r) {
    if (shared_.ledger) shared_.ledger->append(std::move(r), [](const ledger::AppendResult&) {});
  };
  Cycle* cycle = cycles_.empty() ? nullptr : &cycles_.front();
  if (step.type == be::kCommandComplete) {
    auto tag = protocol::parse_command_complete(step.body);
    if (!tag) return;
    last_tag_ = std::string(*tag);
    if (cycle && !cycle->failed && cycle->next < cycle->hashes.size()) {
      const std::string& hash = cycle->hashes[cycle->next++];
      // Executed, but applied only once its transaction commits: decided at ReadyForQuery.
      if (!hash.empty()) pending_outcomes_.emplace_back(hash, last_tag_);
    }
  } else if (step.type == be::kErrorResponse) {
    last_tag_.clear();
    if (cycle && !cycle->failed && cycle->next < cycle->hashes.size()) {
      const std::string& hash = cycle->hashes[cycle->next];
      cycle->failed = true;
      if (!hash.empty()) {
        auto f = protocol::parse_error_fields(step.body);
        std::string state = f && !f->sqlstate().empty() ? std::string(f->sqlstate()) : "unknown";
        record(ledger::outcome_failed(session_id_, hash, state));
      }
    }
  } else if (step.type == be::kReadyForQuery) {
    auto status = protocol::parse_ready_for_query(step.body);
    if (!cycles_.empty()) cycles_.pop_front();
    if (!status) return;
    if (*status == 'I') {
      // The transaction ended: autocommit, COMMIT, or a rollback (ROLLBACK, or a
      // COMMIT of a failed block, which answers ROLLBACK).
      bool committed = !block_open_ || last_tag_ == "COMMIT" || last_tag_ == "PREPARE TRANSACTION";
      for (const auto& [hash, tag] : pending_outcomes_) {
        record(committed ? ledger::outcome_executed(session_id_, hash, tag)
                         : ledger::outcome_rolled_back(session_id_, hash));
      }
      pending_outcomes_.clear();
      block_open_ = false;
    } else {
      block_open_ = true;
    }
  }
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
