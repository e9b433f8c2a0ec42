#include "ddlgate/engine/decide.h"

#include <algorithm>

#include "ddlgate/base/base64.h"
#include "ddlgate/engine/sqlstate.h"
#include "ddlgate/lint/lint.h"

namespace ddlgate::engine {

std::string approval_key(std::string_view database, std::string_view app, std::string_view version,
                         std::string_view file, std::uint64_t statement, bool down) {
  // Unit separators: none of the parts can contain one (names, paths, digits).
  std::string k;
  k.reserve(database.size() + app.size() + version.size() + file.size() + 24);
  k.append(database).push_back('\x1f');
  k.append(app).push_back('\x1f');
  k.append(version).push_back('\x1f');
  k.append(file).push_back('\x1f');
  k.append(std::to_string(statement));
  if (down) k.append("\x1f" "down");
  return k;
}

std::string approval_key(std::string_view database, const bundle::Approval& a) {
  return approval_key(database, a.app, std::to_string(a.version), a.file, a.statement_index, a.down);
}

namespace {

// `pg_catalog.convert_from(pg_catalog.decode('<b64>', 'base64'), 'UTF8')`: a text value
// whose literal holds only base64 characters. Schema-qualified so that no search_path can
// substitute another function.
std::string text_expr(std::string_view s) {
  return "pg_catalog.convert_from(pg_catalog.decode('" + base::base64_encode(s) + "', 'base64'), 'UTF8')";
}

}  // namespace

std::string denial_query(const protocol::ErrorSpec& e) {
  std::string sql = "DO $ddlgate$BEGIN RAISE EXCEPTION USING ERRCODE = '" + e.sqlstate + "', MESSAGE = " +
                    text_expr(e.message);
  if (!e.detail.empty()) sql += ", DETAIL = " + text_expr(e.detail);
  if (!e.hint.empty()) sql += ", HINT = " + text_expr(e.hint);
  sql += "; END$ddlgate$";
  return sql;
}

std::string refused_sql(std::string_view display_sql) {
  // The client's DETAIL and the statement.denied webhook: a huge refused statement is not
  // copied to the server (in the DO block), into every webhook queue and back whole.
  std::string_view kept = ledger::utf8_prefix(display_sql, ledger::kRefusalSqlBytes);
  if (kept.size() == display_sql.size()) return std::string(display_sql);
  return std::string(kept) + "\n-- (ddlgate: the first " + std::to_string(kept.size()) + " of " +
         std::to_string(display_sql.size()) + " bytes)";
}

std::string statement_excerpt(std::string_view display_sql) {
  std::string line;
  line.reserve(std::min(display_sql.size(), kExcerptBytes + 8));
  bool space = false;
  for (char ch : display_sql) {
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\v' || ch == '\f') {
      space = !line.empty();
      continue;
    }
    if (space) line.push_back(' ');
    space = false;
    line.push_back(ch);
    if (line.size() > kExcerptBytes) break;  // enough to know it is cut
  }
  if (line.size() <= kExcerptBytes) return line;
  std::string_view kept = ledger::utf8_prefix(line, kExcerptBytes - 3);
  while (!kept.empty() && kept.back() == ' ') kept.remove_suffix(1);
  return std::string(kept) + "...";
}

std::string refusal_message(std::string_view cls, std::string_view display_sql, std::string_view hash,
                            std::string_view why) {
  std::string m = "ddlgate: ";
  m.append(cls).append(" statement ");
  if (!display_sql.empty()) m.append("\"").append(statement_excerpt(display_sql)).append("\" ");
  m.append("is not approved: ").append(why);
  if (!hash.empty()) m.append(" (").append(hash).append(")");
  return m;
}

bool blocks_existing_tables(const std::vector<const sql::Statement*>& statements) {
  if (statements.empty()) return false;
  // One input, so that a table created by an earlier statement of the message is not
  // "existing" for a later one (lint's rule); the display SQL is deparsed, one statement each.
  lint::SourceFile file;
  for (const sql::Statement* st : statements) {
    if (st->display_sql.empty()) return true;
    file.text += st->display_sql;
    file.text += ";\n";
  }
  const lint::Report report = lint::lint({file});
  if (report.statements.size() != statements.size()) return true;
  for (const auto& r : report.statements) {
    for (const auto& f : r.findings) {
      if (f.rule_id == "DG-L000") return true;  // lint could not read it
    }
    if (lint::blocks_reads(r.strongest) || lint::blocks_writes(r.strongest)) return true;
  }
  return false;
}

namespace {

// A statement's command tag, then the tags of what the server runs inside it with event
// triggers of its own (REFRESH MATERIALIZED VIEW CONCURRENTLY's temporary diff table).
void append_tags(const sql::Statement& st, std::vector<std::string>& tags) {
  tags.push_back(st.command_tag);
  tags.insert(tags.end(), st.nested_tags.begin(), st.nested_tags.end());
}

// What the guard is asked to confirm for an allowed message, or why it cannot be asked
// (the message is then refused: the guard would refuse it anyway, leaving half a migration).
struct ConfirmOrWhy {
  std::optional<Confirmation> confirmation;
  std::string why;
};
template <typename Controlled>
ConfirmOrWhy confirmation_for(const sql::Analysis& analysis, const std::vector<Controlled>& controlled,
                              const Facts& facts) {
  if (facts.server_text_sha256.empty()) {
    return {std::nullopt,
            "the server reads this text in another encoding (client_encoding is not the server's and the text is "
            "not ASCII), so ddlgate cannot name its bytes to the database's guard"};
  }
  Confirmation c;
  c.text_sha256 = facts.server_text_sha256;
  c.role = facts.who.user;
  bool qualified = true;
  for (const auto& k : controlled) {
    if (k.st->command_tag.empty()) return {std::nullopt, "ddlgate cannot name its command tag to the database's guard"};
    qualified = qualified && k.st->names_qualified;
  }
  // The tags in the message's order: the controlled statements', and those of the statements
  // the server fires event triggers for that need no approval (REFRESH MATERIALIZED VIEW).
  for (const auto& st : analysis.statements) {
    if (st.controlled || st.fires_event_triggers) append_tags(st, c.tags);
  }
  // Issue 28 item 3: the lock_timeout for a message that would hold up reads or writes.
  if (facts.lock_timeout_for_blocking_ms != 0) {
    std::vector<const sql::Statement*> statements;
    for (const auto& k : controlled) statements.push_back(k.st);
    if (blocks_existing_tables(statements)) c.lock_timeout_ms = facts.lock_timeout_for_blocking_ms;
  }
  if (!qualified) {
    for (const auto& k : controlled) {
      const bundle::Approval& a = *k.approval;
      if (!a.search_path) {
        return {std::nullopt, "not every name in it is schema-qualified, and its bundle (" + a.app + " version " +
                                  std::to_string(a.version) +
                                  ") does not record the search_path it was reviewed under (bundle format 2 does)"};
      }
      if (c.search_path && *c.search_path != *a.search_path) {
        return {std::nullopt, "its statements were reviewed under different search_paths (" + *c.search_path +
                                  "; " + *a.search_path + ")"};
      }
      c.search_path = a.search_path;
    }
  }
  return {std::move(c), {}};
}

// Why a statement no approval in force covers is refused: its bundle's file lacks its risk tiers'
// signatures (docs/bundles.md, "Risk tiers"), or `otherwise`. Only on the refusal path.
std::string unapproved_why(const ApprovalSource& approved, const sql::Statement& st, std::string_view database,
                           std::string otherwise) {
  const bundle::Approval* u = approved.find_unapproved(st.hash, database);
  if (u == nullptr) return otherwise;
  return "bundle " + u->app + " version " + std::to_string(u->version) + " lists it, but " + u->unapproved;
}

}  // namespace

std::optional<Confirmation> uncontrolled_confirmation(const sql::Analysis& analysis, const Facts& facts) {
  if (!facts.guard_confirms || !analysis.ok() || !analysis.any_uncontrolled_event() ||
      facts.server_text_sha256.empty()) {
    return std::nullopt;
  }
  Confirmation c;
  c.text_sha256 = facts.server_text_sha256;
  c.role = facts.who.user;
  for (const auto& st : analysis.statements) {
    if (st.fires_event_triggers) append_tags(st, c.tags);
  }
  return c;
}

Decision decide(const std::vector<std::shared_ptr<const sql::Analysis>>& readings, const ApprovalSource& approved,
                const Facts& facts, Reservations* reservations) {
  // A down approval counts only for a role that enforcement.deployers names.
  const auto usable = [&](const bundle::Approval& a) { return !a.down || facts.may_roll_back; };
  Decision out;
  const std::string& database = facts.who.database;
  const std::string& user = facts.who.user;
  // Another reading the server may make decides if it holds an unapproved controlled statement.
  out.analysis = readings.front();
  for (std::size_t i = 1; i < readings.size(); ++i) {
    const auto& other = readings[i];
    if (!other->ok()) continue;  // the server would refuse that reading itself
    bool all_approved = std::all_of(other->statements.begin(), other->statements.end(), [&](const sql::Statement& st) {
      return !st.controlled || (facts.may_deploy && approved.find_if(st.hash, database, usable));
    });
    if (!all_approved) {
      out.analysis = other;
      break;
    }
  }
  const sql::Analysis& analysis = *out.analysis;
  if (analysis.ok() && !analysis.any_controlled()) {
    out.confirm = uncontrolled_confirmation(analysis, facts);
    return out;
  }
  out.controlled = true;
  const auto refused = facts.monitor ? ledger::Decision::would_deny : ledger::Decision::denied;

  if (!analysis.ok()) {
    // Unparseable: never approvable (fail closed). PostgreSQL's parse error may quote
    // client text, so it goes to the client, not into the ledger detail.
    ledger::DecisionInfo d;
    d.decision = refused;
    d.session = facts.who;
    d.statement_class = "unparseable";
    d.reason = "the statement does not parse";
    out.records.push_back(ledger::decision(d));
    out.counted.emplace_back(sql::StatementClass::unparseable, d.decision);
    out.denial = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                     "ddlgate: unparseable statement is not approved: " + analysis.error->message, "",
                                     kHowToApprove};
    // The parser's message quotes the text near the error ("syntax error at or near
    // ..."), which may be a password: the log gets the position only.
    out.log_denial = "unparseable statement is not approved (parse error at byte " +
                     std::to_string(analysis.error->position) + ")";
    return out;
  }

  const sql::Statement* first_unapproved = nullptr;
  bool first_unapproved_spent = false;
  bool first_unapproved_down = false;
  struct Controlled {
    std::size_t index;  // position in the message
    const sql::Statement* st;
    const bundle::Approval* approval;
    std::string spend_key;  // reserved approval (replay protection), or empty
    bool spent = false;     // approved, but every approval is spent in this database
    bool down_only = false;  // approved only by down approvals, and the user may not roll back
  };
  std::vector<Controlled> controlled;
  out.statement_keys.resize(analysis.statements.size());
  for (std::size_t i = 0; i < analysis.statements.size(); ++i) {
    const auto& st = analysis.statements[i];
    if (!st.controlled) continue;
    Controlled c{i, &st, nullptr, {}, false, false};
    if (facts.may_deploy) {
      bool any = false, down = false;
      if (!reservations) {
        c.approval = approved.find_if(st.hash, database, [&](const bundle::Approval& a) {
          if (usable(a)) return true;
          down = true;
          return false;
        });
      } else {
        // Replay protection: the first approval of this statement not yet spent here;
        // bookkeeping statements are repeatable and never spent.
        c.approval = approved.find_if(st.hash, database, [&](const bundle::Approval& a) {
          if (!usable(a)) {
            down = true;
            return false;
          }
          any = true;
          if (a.repeatable) return true;
          std::string key = approval_key(database, a);
          if (!reservations->reserve(key)) return false;
          c.spend_key = std::move(key);
          return true;
        });
        c.spent = !c.approval && any;
      }
      c.down_only = !c.approval && !any && down;
    }
    if (!c.approval && !first_unapproved) {
      first_unapproved = &st;
      first_unapproved_spent = c.spent;
      first_unapproved_down = c.down_only;
    }
    controlled.push_back(std::move(c));
  }
  // An allowed message is confirmed to the database's guard first (issue 25): when it
  // cannot be, it is refused like an unapproved one, with the reason.
  std::string unconfirmable;
  bool guard_down = false;
  if (!first_unapproved && facts.guard_confirms && !controlled.empty()) {
    if (!facts.guard_unavailable.empty()) {
      unconfirmable = "the database's guard could not confirm it: " + facts.guard_unavailable;
      guard_down = true;
    } else {
      ConfirmOrWhy c = confirmation_for(analysis, controlled, facts);
      if (c.confirmation) out.confirm = std::move(c.confirmation);
      else unconfirmable = std::move(c.why);
    }
  }
  for (auto& c : controlled) {
    ledger::DecisionInfo d;
    d.session = facts.who;
    d.statement_hash = c.st->hash;
    d.statement_class = std::string(sql::to_string(c.st->cls));
    d.display_sql = c.st->display_sql;
    if (!first_unapproved && unconfirmable.empty()) {
      const bundle::Approval* a = c.approval;
      d.decision = ledger::Decision::allowed;
      d.approval = ledger::Approval{a->app, std::to_string(a->version), a->file, a->statement_index, a->down};
      if (!c.spend_key.empty()) {
        // A Parse's outcome is not followed (yet): its approval is spent at once.
        d.spend = facts.extended ? "at_decision" : "on_commit";
        out.reserved.push_back(c.spend_key);
        out.statement_keys[c.index] = c.spend_key;
      }
    } else {
      if (!c.spend_key.empty()) reservations->release(c.spend_key);
      d.decision = refused;
      d.reason = !unconfirmable.empty() ? unconfirmable
                 : c.approval        ? "another statement of the same message is not approved"
                 : c.spent         ? "its approval was already used in this database (enforcement.spend_approvals_once)"
                 : c.down_only     ? "it is approved only as a down (rollback) statement, and user " + user +
                                     " is not named in enforcement.deployers"
                 : !facts.may_deploy ? "user " + user + " is not in enforcement.deployers"
                 : unapproved_why(approved, *c.st, database, "no signed bundle approves it for this database");
    }
    out.records.push_back(ledger::decision(d));
    out.counted.emplace_back(c.st->cls, d.decision);
  }
  if (!unconfirmable.empty()) {
    out.statement_keys.clear();
    const sql::Statement& st = *controlled.front().st;
    out.denial = protocol::ErrorSpec{"ERROR", guard_down ? kGuardUnavailable : kInsufficientPrivilege,
                                     refusal_message(sql::to_string(st.cls), st.display_sql, st.hash, unconfirmable),
                                     refused_sql(st.display_sql), guard_down ? kHowToReachGuard : kHowToConfirm};
  }
  if (first_unapproved) {
    out.statement_keys.clear();
    std::string cls(sql::to_string(first_unapproved->cls));
    std::string why = !facts.may_deploy ? "user " + user + " is not a deployer (enforcement.deployers)"
                      : first_unapproved_spent
                          ? "its approval was already used in database " + database + " (each approval applies once)"
                      : first_unapproved_down
                          ? "it is approved only as a down (rollback) statement, which only a role named in "
                            "enforcement.deployers may run, and user " + user + " is not named there"
                          : unapproved_why(approved, *first_unapproved, database,
                                           "no signed bundle approves it for database " + database);
    out.denial = protocol::ErrorSpec{"ERROR", kInsufficientPrivilege,
                                     refusal_message(cls, first_unapproved->display_sql, first_unapproved->hash, why),
                                     refused_sql(first_unapproved->display_sql),
                                     first_unapproved_spent  ? kHowToReapply
                                     : first_unapproved_down ? kHowToRollBack
                                                             : kHowToApprove};
  }
  return out;
}

std::vector<std::string> stage_allowed(const Decision& decision, bool extended, Staged& staged) {
  staged.hashes.clear();
  staged.spend_keys.clear();
  const sql::Analysis& analysis = *decision.analysis;
  if (!analysis.ok()) return {};
  if (extended) {
    // Remembered by statement name for the outcomes of its Executes.
    if (analysis.statements.size() == 1 && analysis.statements[0].controlled) {
      const auto& st = analysis.statements[0];
      staged.hashes.push_back(st.hash);
      staged.parse = Prepared{st.hash, st.cls, st.display_sql, !decision.reserved.empty(), false, {}, {}, {}, 0, {}};
    }
    return decision.reserved;
  }
  // Outcomes by position; a reserved approval is spent when its transaction commits.
  for (const auto& st : analysis.statements) staged.hashes.push_back(st.controlled ? st.hash : std::string());
  if (!decision.reserved.empty()) staged.spend_keys = decision.statement_keys;
  return {};
}

BreakGlassReading read_under_token(const sql::Analysis& analysis,
                                   const std::vector<std::shared_ptr<const sql::Analysis>>& readings,
                                   const std::vector<std::string>& token_statements, std::string_view token_id,
                                   bool named_parse, bool executes_once_only, const ledger::SessionInfo& who) {
  BreakGlassReading out;
  auto in_list = [&](const sql::Statement& st) {
    return token_statements.empty() ||
           std::find(token_statements.begin(), token_statements.end(), st.hash) != token_statements.end();
  };
  // A token allows what runs while it is open. A controlled statement that could run after
  // it ends is outside every token's scope: SQL PREPARE or DECLARE CURSOR, and a named Parse
  // (SQL EXECUTE can run it later). An unnamed Parse is allowed; each of its Executes is
  // checked against the token (Engine::refused_execute()).
  for (const auto& st : analysis.statements) {
    if (st.controlled && (st.hash.empty() || !in_list(st) || st.deferred || named_parse)) out.in_scope = false;
  }
  // Another way the server may read the text (its settings may change unseen): a controlled
  // statement there would run unrecorded, so normal enforcement decides the message.
  for (std::size_t i = 1; i < readings.size(); ++i) {
    if (readings[i]->ok() && readings[i]->any_controlled()) out.in_scope = false;
  }
  // No token allows an EXECUTE that may run a once-only prepared statement again.
  if (executes_once_only) out.in_scope = false;
  for (const auto& st : analysis.statements) {
    std::string cls(sql::to_string(st.cls));
    if (!st.controlled) {
      out.records.push_back(ledger::session_statement(who, token_id, st.hash, cls, st.display_sql));
    } else if (out.in_scope) {
      ledger::DecisionInfo d;
      d.decision = ledger::Decision::break_glass;
      d.session = who;
      d.statement_hash = st.hash;
      d.statement_class = cls;
      d.display_sql = st.display_sql;
      d.token_id = std::string(token_id);
      out.records.push_back(ledger::decision(d));
    }
  }
  return out;
}

std::optional<Confirmation> break_glass_confirmation(const sql::Analysis& analysis, const std::string& text_sha256,
                                                     const std::string& user, std::string* why) {
  Confirmation c;
  c.text_sha256 = text_sha256;
  c.role = user;
  for (const auto& st : analysis.statements) {
    if (!st.controlled && !st.fires_event_triggers) continue;
    if (st.command_tag.empty()) {
      *why = "ddlgate cannot name its command tag to the database's guard";
      return std::nullopt;
    }
    append_tags(st, c.tags);
  }
  if (c.tags.empty()) return std::nullopt;
  if (text_sha256.empty()) {
    *why = "the server reads this text in another encoding, so ddlgate cannot name its bytes to the database's guard";
    return std::nullopt;
  }
  return c;
}

std::vector<ledger::Record> break_glass_unconfirmed(const sql::Analysis& analysis, std::string_view token_id,
                                                    const ledger::SessionInfo& who, const std::string& why) {
  std::vector<ledger::Record> out;
  for (const auto& st : analysis.statements) {
    if (!st.controlled) continue;
    ledger::DecisionInfo d;
    d.decision = ledger::Decision::denied;
    d.session = who;
    d.statement_hash = st.hash;
    d.statement_class = std::string(sql::to_string(st.cls));
    d.display_sql = st.display_sql;
    d.reason = "the database's guard could not confirm it: " + why;
    d.token_id = std::string(token_id);
    out.push_back(ledger::decision(d));
  }
  return out;
}

void stage_break_glass(const sql::Analysis& analysis, bool extended, std::string_view token_id, Staged& staged) {
  staged.hashes.clear();
  // A Parse's statement that needed no decision: its later executions are recorded at
  // their Executes while the token is open.
  if (extended && analysis.statements.size() == 1 && !analysis.statements[0].controlled) {
    const auto& st = analysis.statements[0];
    staged.recorded = std::make_shared<Recorded>(Recorded{st.hash, st.cls, st.display_sql, 0});
  }
  if (!extended) {
    for (const auto& st : analysis.statements) staged.hashes.push_back(st.controlled ? st.hash : std::string());
  }
  // An unnamed Parse holds one statement; a controlled one is remembered with its token, for
  // the outcomes of its Executes and to refuse them once the token has ended.
  if (extended && analysis.statements.size() == 1 && analysis.statements[0].controlled) {
    const auto& st = analysis.statements[0];
    staged.hashes.push_back(st.hash);
    staged.parse = Prepared{st.hash, st.cls, st.display_sql, false, false, {}, std::string(token_id), {}, 0, {}};
  }
  staged.effects = Engine::effect_steps(analysis);
}

}  // namespace ddlgate::engine
