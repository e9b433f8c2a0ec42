// A synchronous driver for engine::Engine, as the proxy's Session drives it but with no
// socket: client bytes in, what goes to the server out; server bytes in, what goes to the
// client out. Decisions use engine::decide over a single reading (the text read as libpg_query
// reads it), approvals from an in-memory list, and replay protection from an in-memory set.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/sha256.h"
#include "ddlgate/engine/decide.h"
#include "ddlgate/engine/engine.h"
#include "ddlgate/protocol/codes.h"
#include "ddlgate/protocol/frame.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::engine::testing {

using Bytes = std::vector<std::uint8_t>;

// The canonical hash of a one-statement text.
inline std::string hash_of(std::string_view sql) {
  auto a = sql::analyze(sql, sql::Policy{}, sql::Detail::all);
  return a.ok() && !a.statements.empty() ? a.statements[0].hash : std::string();
}

// Approvals and reservations in memory.
class Approvals final : public ApprovalSource, public Reservations {
 public:
  // Approves `sql` (its first statement) for `database` ("" for every database).
  // down: as a down part's statement (deployers only), with a key of its own.
  void approve(std::string_view sql, std::string database = "app", bool repeatable = false, bool down = false,
               std::optional<std::string> search_path = std::nullopt) {
    bundle::Approval a;
    a.search_path = std::move(search_path);
    a.hash = hash_of(sql);
    a.app = "demo";
    a.version = 1;
    a.file = repeatable ? "" : "001.sql";
    a.statement_index = repeatable ? 0 : ++statements_;
    a.repeatable = repeatable;
    a.down = down;
    if (!database.empty()) a.databases = std::make_shared<const std::vector<std::string>>(1, database);
    list_.push_back(std::make_unique<bundle::Approval>(std::move(a)));
  }
  const bundle::Approval* find_if(std::string_view hash, std::string_view database,
                                  const std::function<bool(const bundle::Approval&)>& f) const override {
    for (const auto& a : list_) {
      if (a->hash == hash && bundle::ApprovedSet::covers(*a, database) && f(*a)) return a.get();
    }
    return nullptr;
  }
  bool reserve(const std::string& key) override {
    if (spent.count(key) != 0) return false;
    return reserved.insert(key).second;
  }
  void release(const std::string& key) override { reserved.erase(key); }
  void spend(const std::string& key) {
    reserved.erase(key);
    spent.insert(key);
  }
  std::set<std::string> reserved;
  std::set<std::string> spent;

 private:
  std::vector<std::unique_ptr<bundle::Approval>> list_;
  std::size_t statements_ = 0;
};

struct Options {
  bool replay_protection = false;
  bool monitor = false;
  bool may_deploy = true;
  bool may_roll_back = false;
  std::string database = "app";
  // [guard] confirm: allowed messages are confirmed (Conversation::confirmations), or, with
  // guard_unavailable set, refused as the guard could not confirm them.
  bool guard = false;
  std::string guard_unavailable;
  std::uint32_t lock_timeout_for_blocking_ms = 0;  // enforcement.lock_timeout_for_blocking
};

class Conversation final : private Host {
 public:
  explicit Conversation(Options o = {})
      : options_(o), engine_(*this, o.replay_protection), client_scanner_(1 << 20), server_scanner_(1 << 20) {
    namespace fe = protocol::fe;
    namespace be = protocol::be;
    for (std::uint8_t t : {fe::kQuery, fe::kParse, fe::kFunctionCall}) client_scanner_.inspect(t);
    if (o.replay_protection) client_scanner_.inspect(fe::kExecute);
    for (std::uint8_t t : {be::kReadyForQuery, be::kErrorResponse, be::kCommandComplete, be::kParameterStatus,
                           be::kEmptyQueryResponse, be::kPortalSuspended}) {
      server_scanner_.inspect(t);
    }
  }

  // The engine holds a reference to its host: a conversation stays where it was made.
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  Engine& engine() { return engine_; }
  Approvals approvals;
  // The break-glass token open now (open_token() of the session), or empty.
  std::string open_token;

  // What the engine asked of its host.
  std::vector<Outcome> outcomes;
  std::vector<std::string> out_of_steps;
  std::vector<ledger::Record> records;   // decisions, in order
  std::vector<protocol::ErrorSpec> refusals;  // denials sent
  // The guard's confirmations asked for, in order; their numbers (1-based) once released.
  std::vector<Confirmation> confirmations;
  std::shared_ptr<std::vector<std::size_t>> released = std::make_shared<std::vector<std::size_t>>();

  // Client bytes in; what goes upstream out.
  Bytes client(const Bytes& in) {
    Bytes out;
    std::span<const std::uint8_t> input(in);
    while (!input.empty()) {
      protocol::ScanStep step = client_scanner_.next(input);
      input = input.subspan(step.consumed);
      if (step.kind == protocol::ScanStep::Kind::need_more) continue;
      if (step.kind != protocol::ScanStep::Kind::pass && step.kind != protocol::ScanStep::Kind::message) {
        throw std::runtime_error("client scan: " + step.error);
      }
      if (step.starts_message) drop_ = !engine_.begin_client_message(step.type);
      if (drop_) continue;  // every part of a dropped message
      on_client_step(step, out);
    }
    return out;
  }

  // Server bytes in; what goes to the client out.
  Bytes server(const Bytes& in) {
    Bytes out;
    std::span<const std::uint8_t> input(in);
    while (!input.empty()) {
      protocol::ScanStep step = server_scanner_.next(input);
      input = input.subspan(step.consumed);
      if (step.kind == protocol::ScanStep::Kind::need_more) continue;
      if (step.kind == protocol::ScanStep::Kind::error) throw std::runtime_error("server scan: " + step.error);
      bool swallow = Engine::reads_server(step) && engine_.on_server(step);
      std::span<const std::uint8_t> bytes = step.bytes;
      Bytes rewritten;
      if (step.kind == protocol::ScanStep::Kind::message) {
        if (step.type == protocol::be::kParameterStatus || step.type == protocol::be::kReadyForQuery) {
          engine_.lexing_on_server(step);
        }
        if (step.type == protocol::be::kErrorResponse) {
          if (auto r = engine_.rewrite_denial(step)) {
            rewritten = std::move(*r);
            bytes = rewritten;
          }
        }
      }
      if (!swallow) out.insert(out.end(), bytes.begin(), bytes.end());
    }
    return out;
  }

  void end() { engine_.end_session(); }

 private:
  void on_client_step(const protocol::ScanStep& step, Bytes& out) {
    namespace fe = protocol::fe;
    const bool whole = step.kind == protocol::ScanStep::Kind::message;
    auto send = [&](std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); };
    auto refuse = [&](const protocol::ErrorSpec& spec, bool extended) {
      refusals.push_back(spec);
      if (options_.monitor) {
        engine_.forward(step);
        send(step.bytes);
        return;
      }
      Bytes q;
      protocol::append_query(q, denial_query(spec));
      engine_.denial_sent(spec);
      engine_.replaced(step.type, extended);
      send(q);
    };
    if (whole && step.type == fe::kExecute) {
      if (ExecuteRefusal why = engine_.refused_execute(step, open_token); why != ExecuteRefusal::none) {
        refuse({"ERROR", "42501", why == ExecuteRefusal::replayed ? "replayed" : "break-glass ended", "", ""}, true);
        return;
      }
    }
    if (!whole || (step.type != fe::kQuery && step.type != fe::kParse)) {
      engine_.forward(step);
      send(step.bytes);
      return;
    }
    const bool extended = step.type == fe::kParse;
    std::string_view text;
    std::string_view name;
    if (extended) {
      auto p = protocol::parse_parse(step.body);
      if (!p) throw std::runtime_error("malformed Parse");
      text = p->query;
      name = p->statement;
    } else {
      auto q = protocol::parse_query(step.body);
      if (!q) throw std::runtime_error("malformed Query");
      text = *q;
    }
    std::vector<std::shared_ptr<const sql::Analysis>> readings{
        std::make_shared<const sql::Analysis>(sql::analyze(text, sql::Policy{}, sql::Detail::controlled_only))};
    const auto& first = *readings.front();
    if (const Prepared* once = engine_.executes_once_only(readings)) {
      refuse({"ERROR", "42501", "EXECUTE of once-only " + once->hash, "", ""}, extended);
      return;
    }
    if (first.ok() && !first.any_controlled() && !(options_.guard && first.any_uncontrolled_event())) {
      engine_.forward_undecided(step, &first);
      send(step.bytes);
      return;
    }
    if (extended && !name.empty()) {
      if (const Prepared* held = engine_.once_only_named(name)) {
        refuse({"ERROR", "42501", "name of once-only " + held->hash, "", ""}, extended);
        return;
      }
    }
    engine_.staged().clear();
    engine_.staged().effects = Engine::effect_steps(first);
    Facts facts;
    facts.who = {"s-1", "deployer", options_.database, "127.0.0.1", "test"};
    facts.monitor = options_.monitor;
    facts.may_deploy = options_.may_deploy;
    facts.may_roll_back = options_.may_roll_back;
    facts.extended = extended;
    facts.guard_confirms = options_.guard;
    if (options_.guard) facts.server_text_sha256 = base::sha256_hex(text);
    facts.guard_unavailable = options_.guard_unavailable;
    facts.lock_timeout_for_blocking_ms = options_.lock_timeout_for_blocking_ms;
    Decision d = decide(readings, approvals, facts, options_.replay_protection ? &approvals : nullptr);
    for (auto& r : d.records) records.push_back(std::move(r));
    if (d.denial) {
      refuse(*d.denial, extended);
      return;
    }
    for (const auto& key : stage_allowed(d, extended, engine_.staged())) approvals.spend(key);
    if (d.confirm) {
      confirmations.push_back(*d.confirm);
      engine_.staged().confirmation = std::make_shared<const ConfirmationHold>(
          [released = released, n = confirmations.size()] { released->push_back(n); });
    }
    engine_.allowed(step);
    engine_.forward(step);
    send(step.bytes);
  }

  // Host
  void spend_approval(const std::string& key) override { approvals.spend(key); }
  void release_approval(const std::string& key) override { approvals.release(key); }
  void record_outcome(const Outcome& o) override { outcomes.push_back(o); }
  void out_of_step(std::string_view what) override { out_of_steps.emplace_back(what); }
  void read_whole(std::uint8_t type) override { client_scanner_.inspect(type); }

  Options options_;
  bool drop_ = false;
  Engine engine_;
  protocol::FrameScanner client_scanner_;
  protocol::FrameScanner server_scanner_;
};

// Message builders.
inline Bytes query(std::string_view sql) {
  Bytes b;
  protocol::append_query(b, sql);
  return b;
}
inline Bytes parse(std::string_view name, std::string_view sql) {
  Bytes b;
  protocol::append_parse(b, name, sql);
  return b;
}
inline Bytes bind(std::string_view portal, std::string_view statement) {
  Bytes b;
  protocol::append_bind(b, portal, statement);
  return b;
}
inline Bytes execute(std::string_view portal, std::uint32_t rows = 0) {
  Bytes b;
  protocol::append_execute(b, portal, rows);
  return b;
}
inline Bytes describe(char kind, std::string_view name) {
  Bytes b;
  protocol::append_describe(b, kind, name);
  return b;
}
inline Bytes close(char kind, std::string_view name) {
  Bytes b;
  protocol::append_close(b, kind, name);
  return b;
}
inline Bytes sync() {
  Bytes b;
  protocol::append_sync(b);
  return b;
}
inline Bytes flush() {
  Bytes b;
  protocol::append_flush(b);
  return b;
}
inline Bytes function_call(std::uint32_t oid) {
  Bytes b;
  protocol::append_function_call(b, oid);
  return b;
}
inline Bytes complete(std::string_view tag) {
  Bytes b;
  protocol::append_command_complete(b, tag);
  return b;
}
inline Bytes ready(char status) {
  Bytes b;
  protocol::append_ready_for_query(b, status);
  return b;
}
inline Bytes error(std::string_view sqlstate, std::string_view message = "failed") {
  Bytes b;
  protocol::append_error_response(b, {"ERROR", std::string(sqlstate), std::string(message), "", ""});
  return b;
}
inline Bytes empty(std::uint8_t type) {
  Bytes b;
  protocol::append_message(b, type, {});
  return b;
}
inline Bytes parameter_status(std::string_view name, std::string_view value) {
  Bytes b;
  protocol::append_parameter_status(b, name, value);
  return b;
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const auto& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

// The message types of a byte stream, in order, as protocol::FrameScanner splits it.
inline std::string types(const Bytes& stream) {
  std::string t;
  protocol::FrameScanner scanner(0);  // inspects nothing: every message passes as it is
  std::span<const std::uint8_t> input(stream);
  while (!input.empty()) {
    protocol::ScanStep step = scanner.next(input);
    input = input.subspan(step.consumed);
    if (step.kind == protocol::ScanStep::Kind::error) throw std::runtime_error("types: " + step.error);
    if (step.starts_message) t.push_back(static_cast<char>(step.type));
  }
  return t;
}

}  // namespace ddlgate::engine::testing
