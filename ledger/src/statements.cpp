#include "ddlgate/ledger/statements.h"

#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "csv.h"
#include "ddlgate/ledger/monitor_rows.h"
#include "ddlgate/ledger/segments.h"

namespace ddlgate::ledger {
namespace {

using nlohmann::json;
using detail::csv_field;

std::string str(const json& fields, const char* name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::string num(const json& fields, const char* name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_number_unsigned()) ? std::to_string(it->get<std::uint64_t>()) : std::string();
}

// Decisions after which the session writes an outcome: those whose statement was sent on to the
// server (docs/ledger.md, "outcome"); a denied statement never reaches it.
bool expects_outcome(const ParsedRecord& d) {
  const std::string decision = str(d.fields, "decision");
  return decision != "denied" && !str(d.fields, "statement_hash").empty();
}

// One (session, statement hash): the decisions waiting for their outcome, oldest first, each as
// its sequence number and its slot (-1 for one the filter dropped, so that it still takes its
// outcome); how many of the oldest were given up on (past the outcome window), whose outcomes are
// dropped when they come; the last record that touched it; and the last row picked, which a
// repeated execution's outcome repeats.
struct Waiting {
  std::uint64_t seq = 0;
  std::int64_t slot = -1;
};
struct Pending {
  std::deque<Waiting> waiting;
  std::uint64_t expired = 0;
  std::uint64_t touched = 0;
  std::optional<StatementRow> last;
};

class Joiner {
 public:
  Joiner(const ExportFilter& filter, const std::function<void(const StatementRow&)>& sink, const JoinOptions& options)
      : filter_(filter), sink_(sink), break_glass_statements_(options.break_glass_statements),
        window_(options.outcome_window), peak_held_(options.peak_held) {}

  void add(ParsedRecord&& r) {
    const std::uint64_t seq = r.seq;
    now_ = seq;
    handle(std::move(r));
    advance(seq);
  }

  // A record the join does not read: the window still counts it.
  void advance(std::uint64_t seq) {
    now_ = seq;
    flush();
    if (window_ > 0 && now_ >= next_sweep_) {
      sweep();
      next_sweep_ = now_ + std::max<std::uint64_t>(window_ / 2, 1);
    }
    if (peak_held_) *peak_held_ = std::max(*peak_held_, slots_.size() + pendings_ + waiting_);
  }

  void finish() {
    for (auto& s : slots_) s.done = true;
    flush();
  }

 private:
  struct Slot {
    StatementRow row;
    bool done = false;
  };

  void handle(ParsedRecord&& r) {
    switch (r.type) {
      case RecordType::bundle_accepted: {
        auto key = std::make_pair(str(r.fields, "bundle"), str(r.fields, "version"));
        bundles_.insert_or_assign(std::move(key), std::move(r));
        break;
      }
      case RecordType::break_glass_opened: {
        std::string session = str(r.fields, "session_id");
        std::string token = str(r.fields, "token_id");
        tokens_[session].insert_or_assign(std::move(token), std::move(r));
        break;
      }
      case RecordType::session_closed: close_session(str(r.fields, "session_id")); break;
      case RecordType::config_reloaded:
        // A process started: the sessions of the one before it (which may have stopped without
        // closing them) are gone, and their statements will get no outcome.
        if (str(r.fields, "event") == "start") {
          while (!pending_.empty()) close_session(pending_.begin()->first);
          tokens_.clear();
        }
        break;
      case RecordType::decision: decision(std::move(r)); break;
      case RecordType::session_statement: session_statement(std::move(r)); break;
      case RecordType::outcome: outcome(std::move(r)); break;
      default: break;
    }
  }

  // The Pending of (session, hash), made when missing.
  Pending& pending(const std::string& session, const std::string& hash) {
    auto [it, fresh] = pending_[session].try_emplace(hash);
    if (fresh) ++pendings_;
    it->second.touched = now_;
    return it->second;
  }

  // Past the outcome window: the waiting decisions (whose rows flush let go already) become a
  // count, and a (session, hash) untouched for a window is forgotten with its last row.
  void sweep() {
    for (auto s = pending_.begin(); s != pending_.end();) {
      for (auto h = s->second.begin(); h != s->second.end();) {
        Pending& p = h->second;
        while (!p.waiting.empty() && p.waiting.front().seq + window_ <= now_) {
          p.waiting.pop_front();
          --waiting_;
          ++p.expired;
        }
        if (p.waiting.empty() && p.touched + window_ <= now_) {
          h = s->second.erase(h);
          --pendings_;
        } else {
          ++h;
        }
      }
      s = s->second.empty() ? pending_.erase(s) : std::next(s);
    }
  }

  void decision(ParsedRecord&& r) {
    const bool picked = filter_.matches(r);
    const bool waits = expects_outcome(r);
    if (!picked && !waits) return;
    std::string session = str(r.fields, "session_id");
    std::string hash = str(r.fields, "statement_hash");
    Pending* p = waits ? &pending(session, hash) : nullptr;
    if (!picked) {
      p->waiting.push_back({r.seq, -1});
      ++waiting_;
      return;
    }
    StatementRow row;
    if (auto a = r.fields.find("approval"); a != r.fields.end() && a->is_object()) {
      auto b = bundles_.find(std::make_pair(str(*a, "bundle"), str(*a, "version")));
      if (b != bundles_.end()) row.approval = b->second;
    }
    if (std::string token = str(r.fields, "token_id"); !token.empty()) {
      auto s = tokens_.find(session);
      if (s != tokens_.end()) {
        auto t = s->second.find(token);
        if (t != s->second.end()) row.token = t->second;
      }
    }
    row.decision = std::move(r);
    if (p) {
      p->last = row;
      p->waiting.push_back({row.decision.seq, first_ + static_cast<std::int64_t>(slots_.size())});
      ++waiting_;
    }
    slots_.push_back({std::move(row), p == nullptr});
    flush();
  }

  void session_statement(ParsedRecord&& r) {
    std::string token = str(r.fields, "token_id");
    if (!break_glass_statements_ || token.empty() || !filter_.matches(r)) return;
    StatementRow row;
    if (auto s = tokens_.find(str(r.fields, "session_id")); s != tokens_.end()) {
      if (auto t = s->second.find(token); t != s->second.end()) row.token = t->second;
    }
    row.decision = std::move(r);
    slots_.push_back({std::move(row), true});
    flush();
  }

  void outcome(ParsedRecord&& r) {
    auto s = pending_.find(str(r.fields, "session_id"));
    if (s == pending_.end()) return;  // no decision of this session expects one (or it was closed)
    auto h = s->second.find(str(r.fields, "statement_hash"));
    if (h == s->second.end()) return;
    Pending& p = h->second;
    p.touched = now_;
    if (p.expired > 0) {
      // The outcome of a decision given up on (its row went out with the outcome unknown).
      --p.expired;
      return;
    }
    if (!p.waiting.empty()) {
      std::int64_t at = p.waiting.front().slot;
      p.waiting.pop_front();
      --waiting_;
      if (at < first_) return;  // the decision the filter dropped takes it with it; or one past the window
      Slot& slot = slots_[static_cast<std::size_t>(at - first_)];
      slot.row.outcome = std::move(r);
      slot.done = true;
      flush();
      return;
    }
    if (!p.last) return;
    // The statement ran again (a prepared statement executed once more): its own row.
    StatementRow again = *p.last;
    again.outcome = std::move(r);
    slots_.push_back({std::move(again), true});
    flush();
  }

  void close_session(const std::string& session) {
    if (auto s = pending_.find(session); s != pending_.end()) {
      // Whatever still waits never ran to an outcome the session saw.
      for (auto& [hash, p] : s->second) {
        for (const auto& w : p.waiting) {
          if (w.slot >= first_) slots_[static_cast<std::size_t>(w.slot - first_)].done = true;
        }
        waiting_ -= p.waiting.size();
      }
      pendings_ -= s->second.size();
      pending_.erase(s);
    }
    tokens_.erase(session);
    flush();
  }

  // Rows go out in decision order, each once its outcome is known (or can no longer come, or has
  // not come within the window).
  void flush() {
    while (!slots_.empty()) {
      Slot& front = slots_.front();
      if (!front.done) {
        if (window_ == 0 || front.row.decision.seq + window_ > now_) break;
        front.row.outcome_unknown = true;
      }
      sink_(front.row);
      slots_.pop_front();
      ++first_;
    }
  }

  const ExportFilter& filter_;
  const std::function<void(const StatementRow&)>& sink_;
  const bool break_glass_statements_;
  const std::uint64_t window_;
  std::size_t* const peak_held_;
  std::uint64_t now_ = 0;         // the sequence number of the record being joined
  std::uint64_t next_sweep_ = 0;  // when sweep runs next
  std::size_t pendings_ = 0, waiting_ = 0;  // Pending entries and their waiting decisions, in all
  std::deque<Slot> slots_;
  std::int64_t first_ = 0;  // the absolute index of slots_.front()
  std::map<std::pair<std::string, std::string>, ParsedRecord> bundles_;
  std::unordered_map<std::string, std::map<std::string, ParsedRecord>> tokens_;
  std::unordered_map<std::string, std::map<std::string, Pending>> pending_;
};

bool wanted(RecordType t) {
  return t == RecordType::decision || t == RecordType::outcome || t == RecordType::bundle_accepted ||
         t == RecordType::break_glass_opened || t == RecordType::session_closed || t == RecordType::config_reloaded ||
         t == RecordType::session_statement;
}

json record_json(const ParsedRecord& r) {
  return json{{"seq", r.seq}, {"time", r.time}, {"type", to_string(r.type)}, {"fields", r.fields}};
}

const json& empty_object() {
  static const json kEmpty = json::object();
  return kEmpty;
}

void write_csv_row(const StatementRow& row, std::ostream& out) {
  const json& d = row.decision.fields;
  const json* approval = nullptr;
  if (auto a = d.find("approval"); a != d.end() && a->is_object()) approval = &*a;
  const json& ap = approval ? *approval : empty_object();
  const json& b = row.approval ? row.approval->fields : empty_object();
  const json& o = row.outcome ? row.outcome->fields : empty_object();
  const json& t = row.token ? row.token->fields : empty_object();
  std::string key_ids, roles, names;
  if (auto s = b.find("signers"); s != b.end() && s->is_array()) {
    bool first = true;
    for (const auto& g : *s) {
      if (!g.is_object()) continue;
      std::string r;
      if (auto rs = g.find("roles"); rs != g.end() && rs->is_array()) {
        for (const auto& x : *rs) {
          if (x.is_string()) r += (r.empty() ? "" : "+") + x.get<std::string>();
        }
      }
      key_ids += (first ? "" : ";") + str(g, "key_id");
      roles += (first ? "" : ";") + r;
      names += (first ? "" : ";") + str(g, "name");
      first = false;
    }
  }
  const std::string cells[] = {
      std::to_string(row.decision.seq), row.decision.time, str(d, "decision"), str(d, "user"), str(d, "database"),
      str(d, "client_address"), str(d, "application_name"), str(d, "session_id"), str(d, "statement_hash"),
      str(d, "class"), str(d, "display_sql"), str(d, "reason"),
      // approval
      str(ap, "bundle"), str(ap, "version"), str(ap, "file"), num(ap, "statement"), str(b, "manifest_sha256"),
      str(b, "repository"), str(b, "commit"), str(b, "pull_request"), str(b, "ci_run"), key_ids, roles, names,
      // outcome
      row.outcome_unknown ? std::string("unknown") : str(o, "outcome"), row.outcome ? std::to_string(row.outcome->seq) : std::string(),
      row.outcome ? row.outcome->time : std::string(), str(o, "sqlstate"), str(o, "command_tag"),
      // break-glass
      str(d, "token_id"), str(t, "issuer"), str(t, "ticket"), str(t, "expires"), str(t, "reason")};
  bool first = true;
  for (const auto& c : cells) {
    if (!first) out << ',';
    out << csv_field(c);
    first = false;
  }
  out << "\r\n";
}

}  // namespace

Status join_statements(const std::filesystem::path& dir, const ExportFilter& filter,
                       const std::function<void(const StatementRow&)>& sink, const JoinOptions& options) {
  if (filter.type && *filter.type != RecordType::decision) {
    return Error{"the statement export has one row per decision: --type can only be decision"};
  }
  Joiner joiner(filter, sink, options);
  const bool break_glass_statements = options.break_glass_statements;
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    // Only the types joined are parsed: the envelope (read without parsing the fields) says which.
    auto envelope = parse_envelope(r.payload);
    if (options.monitor && envelope && is_monitor_record(envelope->type)) {
      auto rec = parse_payload(r.payload);
      if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
      options.monitor(*rec);
      joiner.advance(r.seq);
      return std::nullopt;
    }
    if (envelope && (!wanted(envelope->type) ||
                     (envelope->type == RecordType::session_statement && !break_glass_statements))) {
      joiner.advance(r.seq);
      return std::nullopt;
    }
    auto rec = parse_payload(r.payload);
    if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
    joiner.add(std::move(*rec));
    return std::nullopt;
  });
  if (scan.damage) return *scan.damage;
  joiner.finish();
  return Ok{};
}

void join_statement_records(const std::vector<const ParsedRecord*>& records, const ExportFilter& filter,
                            const std::function<void(const StatementRow&)>& sink, bool break_glass_statements) {
  StatementJoin join(filter, sink, break_glass_statements);
  for (const ParsedRecord* r : records) join.add(*r);
  join.finish();
}

struct StatementJoin::Impl {
  Impl(ExportFilter f, std::function<void(const StatementRow&)> s, const JoinOptions& options)
      : filter(std::move(f)), sink(std::move(s)), joiner(filter, sink, options) {}
  // The joiner keeps references to these two.
  const ExportFilter filter;
  const std::function<void(const StatementRow&)> sink;
  Joiner joiner;
  bool break_glass_statements = false;
};

StatementJoin::StatementJoin(ExportFilter filter, std::function<void(const StatementRow&)> sink,
                             bool break_glass_statements) {
  JoinOptions options;
  options.break_glass_statements = break_glass_statements;
  options.outcome_window = 0;
  impl_ = std::make_unique<Impl>(std::move(filter), std::move(sink), options);
  impl_->break_glass_statements = break_glass_statements;
}

StatementJoin::~StatementJoin() = default;

void StatementJoin::add(const ParsedRecord& r) {
  if (!wanted(r.type) || (r.type == RecordType::session_statement && !impl_->break_glass_statements)) return;
  impl_->joiner.add(ParsedRecord(r));
}

void StatementJoin::finish() { impl_->joiner.finish(); }

Status export_statements(const std::filesystem::path& dir, const ExportFilter& filter, ExportFormat format,
                         std::ostream& out, const JoinOptions& options) {
  if (format == ExportFormat::csv) {
    out << "seq,time,decision,user,database,client_address,application_name,session_id,statement_hash,class,"
           "display_sql,reason,app,version,file,statement,manifest_sha256,repository,commit,pull_request,ci_run,"
           "signer_key_ids,signer_roles,signer_names,outcome,outcome_seq,outcome_time,sqlstate,command_tag,"
           "token_id,token_issuer,token_ticket,token_expires,token_reason\r\n";
  } else {
    out << json{{"kind", "statement_export"}, {"format", 1}}.dump() << '\n';
  }
  auto st = join_statements(dir, filter, [&](const StatementRow& row) {
    if (format == ExportFormat::csv) {
      write_csv_row(row, out);
      return;
    }
    json line{{"kind", "statement"},
              {"decision", record_json(row.decision)},
              {"bundle_accepted", row.approval ? record_json(*row.approval) : json(nullptr)},
              {"outcome", row.outcome ? record_json(*row.outcome) : row.outcome_unknown ? json("unknown") : json(nullptr)},
              {"break_glass_opened", row.token ? record_json(*row.token) : json(nullptr)}};
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }, options);
  if (!st) return st;
  if (!out) return Error{"writing the export failed"};
  return Ok{};
}

}  // namespace ddlgate::ledger
