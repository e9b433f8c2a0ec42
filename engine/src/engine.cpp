#include "ddlgate/engine/engine.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ddlgate/protocol/codes.h"

namespace ddlgate::engine {

namespace fe = protocol::fe;
namespace be = protocol::be;

std::string Engine::server_name(std::string_view name) {
  return std::string(name.substr(0, std::min(name.size(), kNameBytes)));
}

std::vector<EffectStep> Engine::effect_steps(const sql::Analysis& analysis) {
  std::vector<EffectStep> steps;
  if (!analysis.ok() || !analysis.any_session_effect()) return steps;
  steps.reserve(analysis.statements.size());
  for (const auto& st : analysis.statements) steps.push_back({st.session_effect, st.effect_name, 0});
  return steps;
}

// Client side ------------------------------------------------------------------------------

void Engine::forward(const protocol::ScanStep& step) {
  // Which statement each Execute runs, for its outcome (names read as they pass).
  if (step.starts_message) {
    if (names_type_ != 0) finish_names();
    if (step.type == fe::kBind || step.type == fe::kExecute) {
      names_type_ = step.type;
      names_left_ = step.body_length;
      if (step.bytes.size() > 5) {
        on_bind_or_execute_bytes(step.bytes.subspan(5));
      } else if (names_left_ == 0) {
        finish_names();
      }
    }
  } else if (names_type_ != 0) {
    on_bind_or_execute_bytes(step.bytes);
  }
  // What the server is to answer, in order (an Execute joins at finish_names(), a Query
  // where it was decided).
  if (!step.starts_message) return;
  switch (step.type) {
    case fe::kClose:
      if (!expect_close(step)) expect_extended();
      break;
    case fe::kParse:
    case fe::kBind:
    case fe::kDescribe:
      expect_extended();
      break;
    case fe::kSync:
      expect(Expected::Kind::sync);
      break;
    case fe::kFunctionCall:
      expect(Expected::Kind::function_call);
      break;
    default:
      break;
  }
}

void Engine::forward_undecided(const protocol::ScanStep& step, const sql::Analysis* analysis) {
  // Reads and writes go on untouched: no outcome to record, but savepoints bound what a
  // ROLLBACK TO undoes, and DEALLOCATE drops prepared statements.
  std::vector<EffectStep> effects = analysis ? effect_steps(*analysis) : std::vector<EffectStep>{};
  if (step.type == fe::kQuery) expect_query({}, {}, std::move(effects));
  if (step.type == fe::kParse) {
    expect_extended();
    if (!prepared_.empty() || !effects.empty()) {
      staged_.effects = std::move(effects);
      remember_prepared(step);
    }
  }
}

void Engine::allowed(const protocol::ScanStep& step) {
  if (step.type == fe::kQuery) {
    expect_query(std::move(staged_.hashes), std::move(staged_.spend_keys), std::move(staged_.effects),
                 std::move(staged_.confirmation));
  }
  if (step.type == fe::kParse) {
    // An uncontrolled statement the guard was told of (REFRESH MATERIALIZED VIEW) is kept
    // by its name too, untracked, for as long as its confirmation lasts.
    if (!staged_.parse && staged_.confirmation) staged_.parse.emplace();
    if (staged_.parse) staged_.parse->confirmation = std::move(staged_.confirmation);
    remember_prepared(step);
  }
  staged_.clear();
}

void Engine::replaced(std::uint8_t original_type, bool skip_to_sync) {
  staged_.clear();
  skipping_ = skip_to_sync;
  // In the extended protocol the injected Query's error rolls back what the batch did so
  // far, and its ReadyForQuery is not passed on: the batch's own Sync gets the one the
  // client waits for.
  expect(skip_to_sync ? Expected::Kind::denial : Expected::Kind::query);
  // begin_client_message() fed the model the message's own type; a Query or FunctionCall
  // was a sync point already (counting another would keep the settings wide for good), and
  // a Parse or Execute followed by a Query leaves the model as the Query alone would.
  if (original_type != fe::kQuery && original_type != fe::kFunctionCall) lexing_.on_client(fe::kQuery);
}

void Engine::denial_sent(protocol::ErrorSpec spec) {
  denials_.push_back(std::move(spec));
  if (denials_.size() > 64) denials_.pop_front();
}

void Engine::expect(Expected::Kind kind, std::unique_ptr<Tracked> tracked) {
  if (skipping_to_sync_) {
    // The server discards it unanswered; a Query's reserved approvals are free again.
    if (kind != Expected::Kind::sync) {
      if (tracked) release_keys(*tracked);
      return;
    }
    skipping_to_sync_ = false;
  }
  Expected e;
  e.kind = kind;
  e.tracked = std::move(tracked);
  expected_.push_back(std::move(e));
}

void Engine::expect_extended() {
  if (skipping_to_sync_) return;  // discarded by the server (see expect())
  if (!expected_.empty() && expected_.back().kind == Expected::Kind::extended &&
      expected_.back().count < std::numeric_limits<std::uint32_t>::max()) {
    ++expected_.back().count;
    return;
  }
  expect(Expected::Kind::extended);
}

void Engine::expect_query(std::vector<std::string> hashes, std::vector<std::string> spend_keys,
                          std::vector<EffectStep> effects, std::shared_ptr<const ConfirmationHold> confirmation) {
  std::unique_ptr<Tracked> t;
  if (!hashes.empty() || !effects.empty() || confirmation) {
    t = std::make_unique<Tracked>();
    t->confirmation = std::move(confirmation);
    t->hashes = std::move(hashes);
    t->spend_keys = std::move(spend_keys);
    // Every position with a session effect is a slot, tracked statement or not.
    if (t->hashes.size() < effects.size()) t->hashes.resize(effects.size());
    t->effects = std::move(effects);
    for (auto& step : t->effects) step.generation = generations_;
  }
  expect(Expected::Kind::query, std::move(t));
}

bool Engine::expect_close(const protocol::ScanStep& step) {
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

void Engine::closed(const Closing& c) {
  if (c.portal) {
    auto it = portals_.find(c.name);
    if (it != portals_.end() && it->second.generation == c.generation) portals_.erase(it);
  } else {
    auto it = prepared_.find(c.name);
    if (it != prepared_.end() && it->second.generation == c.generation) prepared_.erase(it);
  }
}

void Engine::remember_prepared(const protocol::ScanStep& step) {
  auto parse = protocol::parse_parse(step.body);
  std::optional<Prepared> allowed = std::exchange(staged_.parse, std::nullopt);
  std::vector<EffectStep> effect = std::exchange(staged_.effects, {});
  std::shared_ptr<Recorded> recorded = std::exchange(staged_.recorded, nullptr);
  if (!parse) return;
  std::string name = server_name(parse->statement);
  // A named Parse over a once-only statement's name: the server refuses it (42P05) unless
  // a Close or DEALLOCATE of it went first, whose answer then forgets it (closed(),
  // deallocated()). So the once-only statement stays kept until the server says it is
  // gone: were it dropped here, a Bind of the name would run it again unchecked. (A
  // controlled one was refused by the decision; this is an uncontrolled one.)
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
  if (!p.break_glass_token.empty() || p.recorded) host_.read_whole(fe::kExecute);
  // Closes are read whole too (a type and a name), so that a closed statement is forgotten.
  host_.read_whole(fe::kClose);
  p.generation = ++generations_;
  prepared_[name] = std::move(p);
}

void Engine::on_bind_or_execute_bytes(std::span<const std::uint8_t> part) {
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

void Engine::finish_names() {
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
    // The Execute's place among what the server is to answer.
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

// Questions --------------------------------------------------------------------------------

const Portal* Engine::executed_portal(const protocol::ScanStep& step) const {
  if (portals_.empty() || step.type != fe::kExecute || step.kind != protocol::ScanStep::Kind::message) {
    return nullptr;
  }
  auto end = std::find(step.body.begin(), step.body.end(), std::uint8_t{0});
  if (end == step.body.end()) return nullptr;  // malformed: the server refuses it
  auto portal = portals_.find(server_name(std::string_view(reinterpret_cast<const char*>(step.body.data()),
                                                           static_cast<std::size_t>(end - step.body.begin()))));
  return portal == portals_.end() ? nullptr : &portal->second;
}

ExecuteRefusal Engine::refused_execute(const protocol::ScanStep& step, std::string_view open_token) const {
  const Portal* portal = executed_portal(step);
  if (!portal) return ExecuteRefusal::none;
  // Every Execute of it, a continued run included: the token must still be open.
  if (!portal->break_glass_token.empty() && portal->break_glass_token != open_token) {
    return ExecuteRefusal::break_glass_ended;
  }
  if (portal->executed) return ExecuteRefusal::none;
  auto statement = prepared_.find(portal->statement);
  const bool replayed = statement != prepared_.end() && statement->second.once && statement->second.executed &&
                        statement->second.hash == portal->hash;
  return replayed ? ExecuteRefusal::replayed : ExecuteRefusal::none;
}

bool Engine::execution_to_record(const protocol::ScanStep& step, bool record_all) const {
  const Portal* portal = executed_portal(step);
  // A continued run (after PortalSuspended) is the same execution; the first run is the
  // Parse's record.
  if (!portal || portal->executed || !portal->recorded || portal->recorded->executions == 0) return false;
  return record_all;
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

const Prepared* Engine::executes_once_only(const std::vector<std::shared_ptr<const sql::Analysis>>& readings) const {
  if (prepared_.empty() || !replay_protection_) return nullptr;
  for (const auto& reading : readings) {
    if (!reading || !reading->ok()) continue;
    for (const auto& st : reading->statements) {
      for (const std::string& executed : st.executes) {
        // Only a statement prepared with Parse can be controlled (SQL PREPARE takes
        // SELECT, INSERT, UPDATE, DELETE, MERGE and VALUES only), and only a named one is
        // reachable (SQL has no name for the unnamed statement). Names are compared as the
        // server would (unquoted ones are folded already); a name that may read differently
        // (plain_name()) reaches every once-only statement, and case is ignored: refusing
        // an EXECUTE the server would not have matched costs nothing.
        for (const auto& [name, p] : prepared_) {
          if (!p.once || name.empty()) continue;
          if (!plain_name(name) || !plain_name(executed) || same_ascii_name(name, executed)) return &p;
        }
      }
    }
  }
  return nullptr;
}

const Prepared* Engine::once_only_named(std::string_view statement_name) const {
  if (!replay_protection_) return nullptr;
  auto held = prepared_.find(server_name(statement_name));
  return held != prepared_.end() && held->second.once ? &held->second : nullptr;
}

// Server side ------------------------------------------------------------------------------

bool Engine::on_server(const protocol::ScanStep& step) {
  return on_outcome_message(step);
}

std::optional<std::vector<std::uint8_t>> Engine::rewrite_denial(const protocol::ScanStep& step) {
  if (denials_.empty()) return std::nullopt;
  // The server raised the error ddlgate asked for, with a CONTEXT line from PL/pgSQL;
  // the client gets exactly the fields ddlgate chose instead.
  auto f = protocol::parse_error_fields(step.body);
  if (!f) return std::nullopt;
  for (auto it = denials_.begin(); it != denials_.end(); ++it) {
    if (f->sqlstate() == it->sqlstate && f->message() == it->message) {
      auto bytes = protocol::build_error_response(*it);
      denials_.erase(it);
      return bytes;
    }
  }
  return std::nullopt;
}

void Engine::release_keys(const Tracked& t) {
  for (std::size_t i = t.next; i < t.spend_keys.size(); ++i) {
    if (!t.spend_keys[i].empty()) host_.release_approval(t.spend_keys[i]);
  }
}

void Engine::on_session_effect(const EffectStep& step, std::string_view tag) {
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
      // What ran after it is undone now; the savepoint itself stays. A name never seen
      // defined leaves outcomes to the block's end.
      if (auto k = innermost(); k && tag == "ROLLBACK") {
        settle_pending_outcomes(false, savepoints_[*k].pending);
        savepoints_.resize(*k + 1);
      }
      break;
    case SessionEffect::chain:
      // COMMIT AND CHAIN answers COMMIT (settled by its tag) or, in a failed block,
      // ROLLBACK; ROLLBACK AND CHAIN answers ROLLBACK. A block stays open.
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

void Engine::deallocated(const EffectStep& step) {
  if (step.effect == sql::SessionEffect::deallocate) {
    auto it = prepared_.find(server_name(step.name));
    if (it != prepared_.end() && it->second.generation <= step.generation) prepared_.erase(it);
    return;
  }
  std::erase_if(prepared_, [&](const auto& entry) { return entry.second.generation <= step.generation; });
}

void Engine::end_session() {
  // Messages still unanswered may yet run and commit on the server after the client is
  // gone: their approvals count as spent (fail closed), and so do those of an open
  // transaction block if anything is in flight (it may be its COMMIT). Without a ledger
  // outcome, a restart counts them as spent too.
  const bool in_flight = !expected_.empty();
  for (const auto& e : expected_) {
    if (!e.tracked) continue;
    for (std::size_t i = e.tracked->next; i < e.tracked->spend_keys.size(); ++i) {
      if (!e.tracked->spend_keys[i].empty()) host_.spend_approval(e.tracked->spend_keys[i]);
    }
  }
  for (const auto& p : pending_outcomes_) {
    if (p.spend_key.empty()) continue;
    if (in_flight) {
      host_.spend_approval(p.spend_key);
    } else {
      // Nothing in flight and the block still open: the server rolls it back when the
      // connection ends.
      host_.record_outcome({Outcome::Kind::rolled_back, p.hash, {}});
      host_.release_approval(p.spend_key);
    }
  }
  expected_.clear();
  pending_outcomes_.clear();
  savepoints_.clear();
  // The backend is gone with the session: the guard's confirmations of its prepared
  // statements end now, not when the engine is destroyed.
  for (auto& [name, p] : prepared_) p.confirmation.reset();
  staged_.confirmation.reset();
}

void Engine::settle_pending_outcomes(bool committed, std::size_t from) {
  if (from >= pending_outcomes_.size()) return;
  for (auto it = pending_outcomes_.begin() + static_cast<std::ptrdiff_t>(from); it != pending_outcomes_.end(); ++it) {
    const PendingOutcome& p = *it;
    host_.record_outcome(committed ? Outcome{Outcome::Kind::executed, p.hash, p.tag}
                                   : Outcome{Outcome::Kind::rolled_back, p.hash, {}});
    if (!p.spend_key.empty()) {
      if (committed) {
        host_.spend_approval(p.spend_key);
      } else {
        host_.release_approval(p.spend_key);
      }
    }
  }
  pending_outcomes_.erase(pending_outcomes_.begin() + static_cast<std::ptrdiff_t>(from), pending_outcomes_.end());
}

void Engine::end_transaction(bool committed) {
  settle_pending_outcomes(committed);
  savepoints_.clear();
}

bool Engine::on_outcome_message(const protocol::ScanStep& step) {
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
  // The end of an Execute's answer (in a run or tracked) or of one statement of a Query's.
  auto end_statement_answer = [&](std::string_view unexpected) {
    if (front && front->kind == Kind::extended) {
      complete_extended();
    } else if (front && front->kind == Kind::execute) {
      expected_.pop_front();
    } else if (!front || front->kind != Kind::query) {
      host_.out_of_step(unexpected);
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
        host_.out_of_step("a completion with no Parse, Bind, Describe or Close awaited");
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
      // A COMMIT (or PREPARE TRANSACTION) inside a message settles what came before it,
      // whatever happens later in the same message.
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
        release_keys(*slot);
        for (std::size_t i = slot->next; i < slot->spend_keys.size(); ++i) slot->spend_keys[i].clear();
        if (!hash.empty()) {
          auto f = protocol::parse_error_fields(step.body);
          std::string state = f && !f->sqlstate().empty() ? std::string(f->sqlstate()) : "unknown";
          host_.record_outcome({Outcome::Kind::failed, hash, std::move(state)});
        }
        slot->next = slot->hashes.size();
      }
      // A Query, FunctionCall or Sync ends with its ReadyForQuery; an extended-protocol
      // message makes the server skip to the next Sync.
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
        host_.out_of_step("a ReadyForQuery before the answer to an extended-protocol message");
      }
      if (!ended) host_.out_of_step("a ReadyForQuery with no Query, FunctionCall or Sync awaited");
      const bool failed = std::exchange(failed_, false);
      auto status = protocol::parse_ready_for_query(step.body);
      if (!status) return swallow;
      if (*status == 'I') {
        // The transaction ended. Outside a block, the message's implicit transaction
        // committed unless something in it failed; a block ended with COMMIT, or with a
        // rollback (ROLLBACK, or the COMMIT of a failed block, which answers ROLLBACK).
        bool committed = !failed && (!block_open_ || last_tag_ == "COMMIT" || last_tag_ == "PREPARE TRANSACTION");
        end_transaction(committed);
        block_open_ = false;
        // The server drops every portal when a transaction ends. With nothing else in
        // flight no Bind can have come since, so the engine forgets them too (else it
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

void Engine::skip_to_sync_entry() {
  // The server discards every message up to the next Sync, Queries and FunctionCalls
  // included: those never run, and their approvals are free again.
  while (!expected_.empty() && expected_.front().kind != Expected::Kind::sync) {
    const Expected& e = expected_.front();
    if (e.tracked) release_keys(*e.tracked);
    expected_.pop_front();
  }
  // The client has not sent that Sync yet: what it sends until then is discarded too.
  if (expected_.empty()) skipping_to_sync_ = true;
}

}  // namespace ddlgate::engine
