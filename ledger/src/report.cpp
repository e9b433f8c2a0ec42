// The page: aggregates per ledger, database, app and version, denials per user, break-glass per
// token, decisions per day; no script, no network, a Content-Security-Policy of default-src 'none'
// that lets in only its own stylesheet (by hash), and every value escaped.
#include "ddlgate/ledger/report.h"

#include <array>
#include <deque>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ddlgate/base/base64.h"
#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/file.h"
#include "ddlgate/base/json.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/keys.h"
#include "ddlgate/ledger/monitor_rows.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/statements.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::ledger {
namespace {

using nlohmann::json;

// Bounds that keep the page readable and its size independent of the ledger's.
constexpr std::size_t kRecentDenials = 50;
constexpr std::size_t kStatementsPerBreakGlass = 200;
constexpr std::size_t kUsersPerChange = 10;
constexpr std::size_t kSqlChars = 300;
constexpr std::size_t kCheckpointsShown = 20;  // the latest checkpoints of each ledger
constexpr std::size_t kRecentOutOfBand = 50;   // the latest out-of-band changes, in full
constexpr std::size_t kTamperFailuresShown = 20;
constexpr std::size_t kDriftLinesShown = 20;  // of the latest drift of each database

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string str(const json& j, const char* name) {
  auto it = j.find(name);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// A link only for http(s) URLs (a javascript: or data: URL in a manifest stays text).
std::string link(const std::string& url) {
  if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
    return "<a href=\"" + esc(url) + "\" rel=\"noreferrer\">" + esc(url) + "</a>";
  }
  return esc(url);
}

std::string cut(const std::string& sql) {
  if (sql.size() <= kSqlChars) return sql;
  std::size_t end = kSqlChars;
  while (end > 0 && (static_cast<unsigned char>(sql[end]) & 0xC0) == 0x80) --end;
  return sql.substr(0, end) + "…";
}

std::string signers_text(const json& bundle) {
  std::string out;
  auto s = bundle.find("signers");
  if (s == bundle.end() || !s->is_array()) return out;
  for (const auto& g : *s) {
    if (!g.is_object()) continue;
    std::string roles;
    if (auto r = g.find("roles"); r != g.end() && r->is_array()) {
      for (const auto& x : *r) {
        if (x.is_string()) roles += (roles.empty() ? "" : "+") + x.get<std::string>();
      }
    }
    std::string name = str(g, "name");
    out += (out.empty() ? "" : "; ") + (name.empty() ? str(g, "key_id") : name + " (" + str(g, "key_id") + ")") +
           (roles.empty() ? "" : " as " + roles);
  }
  return out;
}

struct Change {  // one app version applied to one database of one ledger
  std::uint64_t executed = 0, failed = 0, rolled_back = 0, no_outcome = 0;
  std::string first, last;
  std::set<std::string> users;
  std::string repository, commit, pull_request, ci_run, signers, manifest;
};

struct Denial {
  std::string time, ledger, database, user, sql, reason;
};

struct BreakGlass {
  std::string ledger, user, database, issuer, ticket, expires, reason, first;
  std::vector<std::array<std::string, 3>> statements;  // time, sql, outcome
  std::uint64_t total = 0;
};

struct OutOfBand {  // per environment, ledger and database: what went around ddlgate
  std::uint64_t changes = 0, catalog = 0, refusals = 0;  // guard rows, catalog differences, refused
  std::string first, last;  // of the changes (guard and catalog), as the ledger timed them
  std::string refusals_total, refusals_last;  // the guard's refusal count at the last look, and when
};

struct OutOfBandRow {  // one of the latest changes, in full
  std::string environment, ledger, database, time, kind, change_id, at, user, command_tag, object, sql;
};

struct Tampering {
  std::uint64_t tampered = 0, intact = 0;
  std::string first, last, state;
  std::vector<std::string> failures;  // of the latest tampered record
};

struct Drift {
  std::uint64_t drift = 0, clear = 0;
  std::string first, last, state, count, kinds, bundles;
  std::vector<std::string> lines;  // of the latest drift record, the first kDriftLinesShown
  std::uint64_t lines_total = 0;
};

struct KeyRow {  // a ledger key and the tree sizes it signs
  std::string id, sizes, introduced;
};

struct CheckpointRow {
  std::uint64_t size = 0;
  std::string time, signer, cosigners;
};

struct LedgerCheck {
  std::string dir, origin, result;
  std::string environment, environment_from;  // shown only in a report by environment
  bool environment_ok = true;
  std::uint64_t records = 0, checkpoints = 0, covered = 0;
  bool verified = false, ok = false;
  std::vector<KeyRow> keys;
  std::size_t checkpoint_notes = 0;       // in the checkpoints file
  std::vector<CheckpointRow> latest;      // the last kCheckpointsShown of them
  std::string witness;                    // the quorum's result, or what the cosignatures are
  bool witness_ok = true;
};

class Report {
 public:
  // by_environment: `ddlgate report`'s page, grouped by environment. Without it (an evidence
  // pack's report), the page is the one packs were written with, byte for byte.
  explicit Report(bool by_environment = false) : by_environment_(by_environment) {}

  // The environment of a ledger's rows, and of the manifests it accepted (by SHA-256).
  void set_environment(const std::string& ledger, std::string environment) { ledger_env_[ledger] = std::move(environment); }
  void set_manifest_environment(const std::string& sha, std::string environment) { manifest_env_[sha] = std::move(environment); }

  void add(const std::string& ledger, const StatementRow& row) {
    const json& d = row.decision.fields;
    if (row.decision.type == RecordType::session_statement) {
      // A break-glass session's statement that needed no decision (a read, a write, a SET).
      break_glass_statement(ledger, row, "(" + str(d, "class") + ", no decision)");
      return;
    }
    const std::string decision = str(d, "decision");
    const std::string database = str(d, "database");
    const std::string user = str(d, "user");
    const std::string& time = row.decision.time;
    ++decisions_[decision];
    auto& day = per_day_[time.substr(0, 10)];
    ++day[decision];
    const std::string outcome = row.outcome ? str(row.outcome->fields, "outcome") : std::string();
    if (decision == "denied" || decision == "would_deny") {
      ++denials_[{environment_of(ledger, nullptr), ledger, database, user}];
      recent_denials_.push_back({time, ledger, database, user, cut(str(d, "display_sql")), str(d, "reason")});
      if (recent_denials_.size() > kRecentDenials) recent_denials_.pop_front();
    }
    if (decision == "break_glass") break_glass_statement(ledger, row, outcome_text(row));
    auto a = d.find("approval");
    if (decision == "allowed" && a != d.end() && a->is_object()) {
      std::string version = str(*a, "version");
      auto& c = changes_[{environment_of(ledger, row.approval ? &*row.approval : nullptr), ledger, database,
                          str(*a, "bundle"), version}];
      if (c.first.empty()) c.first = time;
      c.last = time;
      if (c.users.size() < kUsersPerChange) c.users.insert(user);
      if (outcome == "executed") ++c.executed;
      else if (outcome == "failed") ++c.failed;
      else if (outcome == "rolled_back") ++c.rolled_back;
      else ++c.no_outcome;
      if (row.approval && c.manifest.empty()) {
        const json& b = row.approval->fields;
        c.manifest = str(b, "manifest_sha256");
        c.repository = str(b, "repository");
        c.commit = str(b, "commit");
        c.pull_request = str(b, "pull_request");
        c.ci_run = str(b, "ci_run");
        c.signers = signers_text(b);
      }
    }
  }

  void add_check(LedgerCheck c) { checks_.push_back(std::move(c)); }

  // The records hold the monitor's records (even if none is in the window): the page has its sections.
  void set_monitored() { monitored_ = true; }

  // A record of serve's monitor (monitor_rows.h): out_of_band, guard_tampered, schema_drift.
  void add_monitor(const std::string& ledger, const ParsedRecord& r) {
    monitored_ = true;
    const json& f = r.fields;
    const std::string kind = monitor_kind(r);
    const std::array<std::string, 3> key{environment_of(ledger, nullptr), ledger, str(f, "database")};
    const std::string& time = r.time;
    auto seen = [&](std::string& first, std::string& last) {
      if (first.empty()) first = time;
      last = time;
    };
    if (r.type == RecordType::out_of_band) {
      auto& o = out_of_band_[key];
      if (kind == "guard_refusal") {
        if (auto n = f.find("refusals"); n != f.end() && n->is_number_unsigned()) o.refusals += n->get<std::uint64_t>();
        if (auto n = f.find("refusals_total"); n != f.end() && n->is_number_unsigned()) {
          o.refusals_total = std::to_string(n->get<std::uint64_t>());
        }
        o.refusals_last = time;
        return;
      }
      if (kind == "catalog_baseline") return;  // nothing compared yet: not a change
      // A source this version does not know (kind "unknown") is counted in neither column, but
      // listed among the latest with its kind.
      if (kind == "out_of_band") ++o.changes;
      else if (kind == "catalog_change") ++o.catalog;
      seen(o.first, o.last);
      OutOfBandRow row{key[0], ledger, key[2], time, kind, "", "", "", "", "", ""};
      if (kind == "out_of_band") {
        if (auto n = f.find("change_id"); n != f.end() && n->is_number_unsigned()) {
          row.change_id = std::to_string(n->get<std::uint64_t>());
        }
        row.at = str(f, "at");
        row.user = str(f, "user");
        row.command_tag = str(f, "command_tag");
        if (row.command_tag.empty()) row.command_tag = str(f, "event");  // the guard's own: install, kill_switch
        row.object = str(f, "object_identity");
        row.sql = cut(str(f, "display_sql"));
      } else {
        row.command_tag = str(f, "change");
        row.object = str(f, "object");
        row.sql = cut(str(f, "reason"));
      }
      recent_out_of_band_.push_back(std::move(row));
      if (recent_out_of_band_.size() > kRecentOutOfBand) recent_out_of_band_.pop_front();
    } else if (r.type == RecordType::guard_tampered) {
      auto& t = tampering_[key];
      seen(t.first, t.last);
      t.state = str(f, "state");
      if (kind == "guard_tampered") {
        ++t.tampered;
        t.failures.clear();
        if (auto a = f.find("failures"); a != f.end() && a->is_array()) {
          for (const auto& x : *a) {
            if (x.is_string() && t.failures.size() < kTamperFailuresShown) t.failures.push_back(x.get<std::string>());
          }
        }
      } else if (kind == "guard_intact") {
        ++t.intact;
      }
    } else if (r.type == RecordType::schema_drift) {
      auto& d = drift_[key];
      seen(d.first, d.last);
      d.state = str(f, "state");
      if (kind == "drift") {
        ++d.drift;
        auto n = f.find("count");
        d.count = n != f.end() && n->is_number_unsigned() ? std::to_string(n->get<std::uint64_t>()) : "";
        d.kinds = drift_kinds(r);
        d.bundles = str(f, "bundles");
        d.lines.clear();
        d.lines_total = 0;
        if (auto a = f.find("differences"); a != f.end() && a->is_array()) {
          for (const auto& x : *a) {
            if (!x.is_string()) continue;
            ++d.lines_total;
            if (d.lines.size() < kDriftLinesShown) d.lines.push_back(cut(x.get<std::string>()));
          }
        }
      } else if (kind == "drift_clear") {
        ++d.clear;
      }
    }
  }

  std::string html(const std::string& from, const std::string& to) const {
    static const std::string kStyle =
        "body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top;font-size:.85em;"
        "overflow-wrap:anywhere}"
        "th{background:#eee}code{white-space:pre-wrap;word-break:break-all}.bad{color:#a00}.ok{color:#060}"
        "meter{width:12em}@media print{a{color:#000}section{break-inside:avoid-page}}";
    auto digest = base::sha256(kStyle);
    const std::string csp = "default-src 'none'; style-src 'sha256-" +
                            base::base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size())) +
                            "'; img-src 'none'; base-uri 'none'; form-action 'none'";
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      // The policy is this program's constant (no double quote in it): written as it is.
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"" << csp << "\">"
      << "<meta name=\"referrer\" content=\"no-referrer\"><title>ddlgate audit report</title><style>" << kStyle
      << "</style></head><body>\n<h1>ddlgate audit report</h1>\n<p id=\"period\">Period: "
      << esc(from.empty() ? "the beginning" : from) << " to " << esc(to.empty() ? "the end" : to) << "; "
      << checks_.size() << " ledger(s).</p>\n";

    h << "<section id=\"verification\"><h2>Ledger verification</h2><table><tr><th>ledger</th>"
      << (by_environment_ ? "<th>environment</th><th>environment known from</th>" : "")
      << "<th>origin</th><th>records</th><th>checkpoints</th><th>covered by a signature</th><th>result</th></tr>\n";
    for (const auto& c : checks_) {
      h << "<tr><td>" << esc(c.dir) << "</td>";
      if (by_environment_) {
        h << "<td class=\"environment\">" << esc(c.environment) << "</td><td class=\""
          << (c.environment_ok ? "ok" : "bad") << "\">" << esc(c.environment_from) << "</td>";
      }
      h << "<td>" << esc(c.origin) << "</td><td>" << c.records << "</td><td>"
        << c.checkpoints << "</td><td>" << c.covered << "</td><td class=\"" << (c.ok ? "ok" : "bad") << "\">"
        << esc(c.result) << "</td></tr>\n";
    }
    h << "</table>\n";
    for (const auto& c : checks_) {
      if (c.keys.empty() && c.latest.empty()) continue;
      h << "<article class=\"ledger-keys\"><h3>Keys and checkpoints of " << esc(c.dir) << "</h3>"
        << "<table class=\"keys\"><tr><th>key (fingerprint)</th><th>signs tree sizes</th><th>in force since</th></tr>\n";
      for (const auto& k : c.keys) {
        h << "<tr><td><code>" << esc(k.id) << "</code></td><td>" << esc(k.sizes) << "</td><td>" << esc(k.introduced)
          << "</td></tr>\n";
      }
      h << "</table><p>" << c.checkpoint_notes << " checkpoint(s) in the checkpoints file";
      if (c.checkpoint_notes > c.latest.size()) h << ", the last " << c.latest.size() << " shown";
      h << "; every batch is also sealed (docs/ledger.md, \"Batch seals\").</p>"
        << "<table class=\"checkpoints\"><tr><th>tree size</th><th>time</th><th>signed by</th><th>cosigned by</th></tr>\n";
      for (const auto& r : c.latest) {
        h << "<tr><td>" << r.size << "</td><td>" << esc(r.time) << "</td><td>" << esc(r.signer) << "</td><td>"
          << esc(r.cosigners) << "</td></tr>\n";
      }
      h << "</table><p class=\"witness " << (c.witness_ok ? "ok" : "bad") << "\">" << esc(c.witness) << "</p></article>\n";
    }
    h << "</section>\n";

    h << "<section id=\"summary\"><h2>Decisions</h2><table><tr><th>decision</th><th>statements</th></tr>\n";
    for (const auto& [decision, n] : decisions_) h << "<tr><td>" << esc(decision) << "</td><td>" << n << "</td></tr>\n";
    h << "</table></section>\n";

    // The changes: one table, or with environments one table per environment (the rows' own
    // order, environment first, is the same).
    const std::string change_head =
        "<table><tr><th>ledger</th>"
        "<th>database</th><th>app</th><th>version</th><th>first</th><th>last</th><th>executed</th><th>failed</th>"
        "<th>rolled back</th><th>no outcome</th><th>by</th><th>approved by</th><th>pull request</th><th>commit</th>"
        "<th>repository</th><th>CI run</th></tr>\n";
    if (by_environment_) {
      h << "<section id=\"changes\"><h2>Changes applied, by environment, database and app</h2>\n";
      std::map<std::string, std::uint64_t> per_env;
      for (const auto& [key, c] : changes_) ++per_env[key[0]];
      for (const auto& c : checks_) per_env.try_emplace(c.environment, 0);
      for (const auto& [env, count] : per_env) {
        h << "<article class=\"environment\" data-environment=\"" << esc(env) << "\"><h3>Environment " << esc(env)
          << "</h3><p>Ledgers: ";
        bool first = true;
        for (const auto& c : checks_) {
          if (c.environment != env) continue;
          h << (first ? "" : ", ") << esc(c.dir);
          first = false;
        }
        if (first) h << "none of its own (bundles of this environment were accepted by a ledger of another)";
        h << "; " << count << " change(s).</p>" << change_head;
        for (const auto& [key, c] : changes_) {
          if (key[0] == env) change_row(h, key, c);
        }
        h << "</table></article>\n";
      }
      h << "</section>\n";
    } else {
      h << "<section id=\"changes\"><h2>Changes applied, by ledger, database and app</h2>" << change_head;
      for (const auto& [key, c] : changes_) change_row(h, key, c);
      h << "</table></section>\n";
    }

    h << "<section id=\"denials\"><h2>Denials</h2><table><tr>" << (by_environment_ ? "<th>environment</th>" : "")
      << "<th>ledger</th><th>database</th><th>user</th><th>statements denied</th></tr>\n";
    for (const auto& [key, n] : denials_) {
      const auto& [environment, ledger, database, user] = key;
      h << "<tr>";
      if (by_environment_) h << "<td>" << esc(environment) << "</td>";
      h << "<td>" << esc(ledger) << "</td><td>" << esc(database) << "</td><td>" << esc(user) << "</td><td>" << n
        << "</td></tr>\n";
    }
    h << "</table><h3>The last " << recent_denials_.size() << " denials</h3><table><tr><th>time</th><th>ledger</th>"
         "<th>database</th><th>user</th><th>statement</th><th>reason</th></tr>\n";
    for (const auto& x : recent_denials_) {
      h << "<tr><td>" << esc(x.time) << "</td><td>" << esc(x.ledger) << "</td><td>" << esc(x.database) << "</td><td>"
        << esc(x.user) << "</td><td><code>" << esc(x.sql) << "</code></td><td>" << esc(x.reason) << "</td></tr>\n";
    }
    h << "</table></section>\n";

    h << "<section id=\"break-glass\"><h2>Break-glass sessions</h2>\n";
    for (const auto& [key, b] : break_glass_) {
      const auto& [ledger, session, token] = key;
      h << "<article class=\"break-glass\"><h3>token " << esc(token) << ", session " << esc(session) << "</h3><p>"
        << esc(b.user) << " on " << esc(b.database) << " (" << esc(ledger) << "), from " << esc(b.first)
        << "; issued by " << esc(b.issuer) << ", ticket " << esc(b.ticket) << ", expires " << esc(b.expires)
        << ", reason: " << esc(b.reason) << "; " << b.total << " statement(s)";
      if (b.total > b.statements.size()) h << ", the first " << b.statements.size() << " shown";
      h << ".</p><table><tr><th>time</th><th>statement</th><th>outcome</th></tr>\n";
      for (const auto& [time, sql, outcome] : b.statements) {
        h << "<tr><td>" << esc(time) << "</td><td><code>" << esc(sql) << "</code></td><td>" << esc(outcome)
          << "</td></tr>\n";
      }
      h << "</table></article>\n";
    }
    h << "</section>\n";

    std::uint64_t peak = 1;
    for (const auto& [day, counts] : per_day_) {
      std::uint64_t n = 0;
      for (const auto& [d, k] : counts) n += k;
      peak = std::max(peak, n);
    }
    h << "<section id=\"timeline\"><h2>Decisions per day (UTC)</h2><table><tr><th>day</th><th>decisions</th><th></th>"
         "<th>allowed</th><th>denied</th><th>would deny</th><th>break-glass</th></tr>\n";
    for (const auto& [day, day_counts] : per_day_) {
      std::uint64_t n = 0;
      for (const auto& [d, k] : day_counts) n += k;
      // A named reference: clang 14 cannot capture a structured binding.
      const auto& counts = day_counts;
      auto count = [&](const char* d) {
        auto it = counts.find(d);
        return it == counts.end() ? std::uint64_t{0} : it->second;
      };
      h << "<tr><td>" << esc(day) << "</td><td>" << n << "</td><td><meter min=\"0\" max=\"" << peak << "\" value=\""
        << n << "\"></meter></td><td>" << count("allowed") << "</td><td>" << count("denied") << "</td><td>"
        << count("would_deny") << "</td><td>" << count("break_glass") << "</td></tr>\n";
    }
    h << "</table></section>\n";
    // An evidence pack's page of records without any of the monitor's stays the one packs were
    // written with before these sections, byte for byte.
    if (by_environment_ || monitored_) {
      monitor_sections(h);
      h << "<p>Made by <code>ddlgate report</code> from the ledgers' records.</p>\n</body></html>\n";
    } else {
      h << "<p>Made by <code>ddlgate report</code> from the ledgers' records; out-of-band "
           "changes and drift are not recorded yet (issue 12).</p>\n</body></html>\n";
    }
    return h.str();
  }

 private:
  // A change's environment: its approving bundle's manifest's, else its ledger's (empty without
  // environments).
  std::string environment_of(const std::string& ledger, const ParsedRecord* accepted) const {
    if (!by_environment_) return {};
    if (accepted) {
      if (auto it = manifest_env_.find(str(accepted->fields, "manifest_sha256")); it != manifest_env_.end()) {
        return it->second;
      }
    }
    auto it = ledger_env_.find(ledger);
    return it == ledger_env_.end() ? std::string() : it->second;
  }

  static void change_row(std::ostringstream& h, const std::array<std::string, 5>& key, const Change& c) {
    const auto& [environment, ledger, database, app, version] = key;
    std::string users;
    for (const auto& u : c.users) users += (users.empty() ? "" : ", ") + u;
    h << "<tr><td>" << esc(ledger) << "</td><td>" << esc(database) << "</td><td>" << esc(app) << "</td><td>"
      << esc(version) << "</td><td>" << esc(c.first) << "</td><td>" << esc(c.last) << "</td><td>" << c.executed
      << "</td><td>" << c.failed << "</td><td>" << c.rolled_back << "</td><td>" << c.no_outcome << "</td><td>"
      << esc(users) << "</td><td>" << esc(c.signers) << "</td><td>" << link(c.pull_request) << "</td><td>"
      << esc(c.commit) << "</td><td>" << esc(c.repository) << "</td><td>" << link(c.ci_run) << "</td></tr>\n";
  }

  void break_glass_statement(const std::string& ledger, const StatementRow& row, std::string outcome) {
    const json& d = row.decision.fields;
    auto& b = break_glass_[{ledger, str(d, "session_id"), str(d, "token_id")}];
    if (b.total == 0) {
      const json& t = row.token ? row.token->fields : json::object();
      b = {ledger, str(d, "user"), str(d, "database"), str(t, "issuer"), str(t, "ticket"), str(t, "expires"),
           str(t, "reason"), row.decision.time, {}, 0};
    }
    ++b.total;
    if (b.statements.size() < kStatementsPerBreakGlass) {
      b.statements.push_back({row.decision.time, cut(str(d, "display_sql")), std::move(outcome)});
    }
  }

  static std::string outcome_text(const StatementRow& row) {
    if (!row.outcome) return "";
    const json& o = row.outcome->fields;
    std::string text = str(o, "outcome");
    if (!str(o, "command_tag").empty()) text += " (" + str(o, "command_tag") + ")";
    if (!str(o, "sqlstate").empty()) text += " (" + str(o, "sqlstate") + ")";
    return text;
  }

  // The out-of-band, guard tampering and drift sections.
  void monitor_sections(std::ostringstream& h) const {
    const std::string env_head = by_environment_ ? "<th>environment</th>" : "";
    auto key_cells = [&](const std::array<std::string, 3>& key) {
      return (by_environment_ ? "<td class=\"environment\">" + esc(key[0]) + "</td>" : std::string()) + "<td>" +
             esc(key[1]) + "</td><td class=\"database\">" + esc(key[2]) + "</td>";
    };
    auto row_open = [&](const std::array<std::string, 3>& key) {
      return "<tr data-environment=\"" + esc(key[0]) + "\" data-database=\"" + esc(key[2]) + "\">" + key_cells(key);
    };
    h << "<section id=\"out-of-band\"><h2>Out-of-band changes</h2>\n<p>Changes made in the database around "
         "ddlgate, as the guard in it (ddlgate.changes) and the catalog snapshots saw them, and the changes the guard "
         "refused; per environment, ledger and database.</p>\n";
    if (out_of_band_.empty()) {
      h << "<p class=\"none\">No out-of-band change recorded.</p>\n";
    } else {
      h << "<table class=\"out-of-band-summary\"><tr>" << env_head
        << "<th>ledger</th><th>database</th><th>changes (guard)</th><th>catalog changes</th><th>first seen</th>"
           "<th>last seen</th><th>refused by the guard</th><th>refusal count at the last look</th></tr>\n";
      for (const auto& [key, o] : out_of_band_) {
        h << row_open(key) << "<td class=\"changes\">" << o.changes << "</td><td class=\"catalog\">" << o.catalog
          << "</td><td>" << esc(o.first) << "</td><td>" << esc(o.last) << "</td><td class=\"refusals"
          << (o.refusals ? " bad" : "") << "\">" << o.refusals << "</td><td>" << esc(o.refusals_total)
          << (o.refusals_last.empty() ? "" : " (" + esc(o.refusals_last) + ")") << "</td></tr>\n";
      }
      h << "</table>\n";
      if (!recent_out_of_band_.empty()) {
        h << "<h3>The latest " << recent_out_of_band_.size() << " change(s)</h3><table class=\"out-of-band-latest\"><tr>"
          << env_head
          << "<th>ledger</th><th>database</th><th>recorded</th><th>kind</th><th>change id</th><th>at (server)</th>"
             "<th>user</th><th>command tag / change</th><th>object</th><th>statement / what changed</th></tr>\n";
        for (auto it = recent_out_of_band_.rbegin(); it != recent_out_of_band_.rend(); ++it) {
          const auto& r = *it;
          h << row_open({r.environment, r.ledger, r.database}) << "<td>" << esc(r.time) << "</td><td>" << esc(r.kind)
            << "</td><td>" << esc(r.change_id) << "</td><td>" << esc(r.at) << "</td><td>" << esc(r.user)
            << "</td><td class=\"tag\">" << esc(r.command_tag) << "</td><td class=\"object\">" << esc(r.object)
            << "</td><td><code>" << esc(r.sql) << "</code></td></tr>\n";
        }
        h << "</table>\n";
      }
    }
    h << "</section>\n";

    h << "<section id=\"guard-tampering\"><h2>Guard tampering</h2>\n";
    if (tampering_.empty()) {
      h << "<p class=\"none\">The guard was never found tampered with.</p>\n";
    } else {
      h << "<table><tr>" << env_head
        << "<th>ledger</th><th>database</th><th>found tampered</th><th>found intact again</th><th>first</th>"
           "<th>last</th><th>state at the last record</th><th>failed checks (the latest tampering)</th></tr>\n";
      for (const auto& [key, t] : tampering_) {
        std::string failures;
        for (const auto& f : t.failures) failures += (failures.empty() ? "" : "\n") + f;
        h << row_open(key) << "<td>" << t.tampered << "</td><td>" << t.intact << "</td><td>" << esc(t.first)
          << "</td><td>" << esc(t.last) << "</td><td class=\"state " << (t.state == "intact" ? "ok" : "bad") << "\">"
          << esc(t.state) << "</td><td><code>" << esc(failures) << "</code></td></tr>\n";
      }
      h << "</table>\n";
    }
    h << "</section>\n";

    h << "<section id=\"drift\"><h2>Drift</h2>\n<p>The scheduled drift checks' results: a database whose schema "
         "differs from what its approved bundles produce (drift), or matches them again (clear).</p>\n";
    if (drift_.empty()) {
      h << "<p class=\"none\">No drift recorded.</p>\n";
    } else {
      h << "<table><tr>" << env_head
        << "<th>ledger</th><th>database</th><th>drift found</th><th>clear again</th><th>first</th><th>last</th>"
           "<th>state at the last record</th><th>differences</th><th>kinds</th><th>bundles replayed</th>"
           "<th>the latest drift's differences</th></tr>\n";
      for (const auto& [key, d] : drift_) {
        std::string lines;
        for (const auto& l : d.lines) lines += (lines.empty() ? "" : "\n") + l;
        if (d.lines_total > d.lines.size()) {
          lines += "\n(" + std::to_string(d.lines_total - d.lines.size()) + " more in the record)";
        }
        h << row_open(key) << "<td>" << d.drift << "</td><td>" << d.clear << "</td><td>" << esc(d.first)
          << "</td><td>" << esc(d.last) << "</td><td class=\"state " << (d.state == "clear" ? "ok" : "bad") << "\">"
          << esc(d.state) << "</td><td>" << esc(d.count) << "</td><td class=\"kinds\">" << esc(d.kinds) << "</td><td>"
          << esc(d.bundles) << "</td><td><code class=\"differences\">" << esc(lines) << "</code></td></tr>\n";
      }
      h << "</table>\n";
    }
    h << "</section>\n";
  }

  bool monitored_ = false;
  std::map<std::array<std::string, 3>, OutOfBand> out_of_band_;
  std::deque<OutOfBandRow> recent_out_of_band_;
  std::map<std::array<std::string, 3>, Tampering> tampering_;
  std::map<std::array<std::string, 3>, Drift> drift_;
  std::map<std::string, std::uint64_t> decisions_;
  std::map<std::string, std::map<std::string, std::uint64_t>> per_day_;
  const bool by_environment_;
  std::map<std::string, std::string> ledger_env_, manifest_env_;
  std::map<std::array<std::string, 5>, Change> changes_;
  std::map<std::array<std::string, 4>, std::uint64_t> denials_;
  std::deque<Denial> recent_denials_;
  std::map<std::array<std::string, 3>, BreakGlass> break_glass_;
  std::vector<LedgerCheck> checks_;
};

}  // namespace

// The keys, the latest checkpoints (with the time of their checkpoint record, the key that signs
// them and the witnesses that cosigned them) and the witness quorum of the ledger in dir.
std::optional<Error> describe_signatures(const std::filesystem::path& dir, const ReportOptions& options, LedgerCheck& c) {
  std::vector<Checkpoint> notes;
  const auto cp_path = dir / kCheckpointsFileName;
  if (std::filesystem::exists(cp_path)) {
    std::string text;
    if (auto ec = posix_file_system()->read_file(cp_path, kMaxSegmentReadSize, &text)) {
      return Error{"cannot read checkpoints", cp_path.string(), -1, ec};
    }
    auto parsed = parse_checkpoints(text);
    if (!parsed) return Error{parsed.error().reason, cp_path.string(), parsed.error().offset};
    notes = std::move(*parsed);
  }
  std::string origin = c.origin;
  if (origin.empty() && !notes.empty()) origin = notes.back().origin;
  std::optional<PublicKey> pinned;
  if (options.key) pinned = options.key->public_key();
  auto chain = KeyChain::load(dir, origin, pinned, std::nullopt, *posix_file_system());
  if (!chain) {
    // verify_directory fails on the same keys file and says so in the row above.
    c.keys.push_back({"?", "", "the keys file: " + chain.error().to_string()});
    chain = KeyChain::single(pinned ? *pinned : PublicKey{});
  }
  // The keys: the pinned one (or, without --pubkey, the first rotation's old key), then each new key.
  const auto& links = chain->links();
  const bool chain_ok = c.keys.empty();
  for (std::size_t i = 0; chain_ok && i <= links.size(); ++i) {
    KeyRow k;
    const bool known = i > 0 || pinned || !links.empty();
    k.id = !known ? "(no --pubkey)" : base::key_id(i == 0 ? (pinned ? *pinned : links.front().old_key) : links[i - 1].new_key);
    const std::string from = i == 0 ? "1" : std::to_string(links[i - 1].seq + 2);
    k.sizes = i < links.size() ? from + " to " + std::to_string(links[i].seq + 1) : from + " on";
    k.introduced = i == 0 ? (pinned ? "the given key (--pubkey)" : "the ledger's first key")
                          : "record " + std::to_string(links[i - 1].seq) + " (key_rotated, by " +
                                str(links[i - 1].fields, "by") + ", sealed by the key before)";
    c.keys.push_back(std::move(k));
  }
  c.checkpoint_notes = notes.size();
  auto cosigned = read_cosignatures(dir / kCosignaturesFileName);
  if (!cosigned) return cosigned.error();
  const std::size_t first = notes.size() > kCheckpointsShown ? notes.size() - kCheckpointsShown : 0;
  // The times of the checkpoint records of the notes shown (written after their tree, so at or
  // after its size): read from there on, parsing only checkpoint records.
  std::map<std::uint64_t, std::string> times;
  if (first < notes.size()) {
    auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
      auto env = parse_envelope(r.payload);
      if (!env || env->type != RecordType::checkpoint) return std::nullopt;
      auto rec = parse_payload(r.payload);
      if (!rec) return std::nullopt;
      if (auto s = rec->fields.find("tree_size"); s != rec->fields.end() && s->is_number_unsigned()) {
        times.try_emplace(s->get<std::uint64_t>(), rec->time);
      }
      return std::nullopt;
    }, notes[first].size);
    if (scan.damage) return *scan.damage;
  }
  for (std::size_t i = first; i < notes.size(); ++i) {
    const auto& cp = notes[i];
    CheckpointRow row;
    row.size = cp.size;
    auto t = times.find(cp.size);
    row.time = t != times.end() ? t->second : "no checkpoint record (a shutdown checkpoint)";
    if (!options.key) {
      row.signer = "not verified (no --pubkey)";
    } else {
      const auto& key = chain->for_size(cp.size);
      row.signer = base::key_id(key.public_key()) + (verify_checkpoint(cp, key) ? "" : " (DOES NOT VERIFY)");
    }
    std::size_t notes_for = 0;
    for (const auto& n : *cosigned) notes_for += n.body == cp.body;
    if (options.witness_keys.empty()) {
      row.cosigners = notes_for ? std::to_string(notes_for) + " cosignature note(s), not checked (no --witness-key)" : "";
    } else {
      for (const auto& w : options.witness_keys) {
        if (count_cosigners(cp, *cosigned, {w}) > 0) row.cosigners += (row.cosigners.empty() ? "" : ", ") + w.name;
      }
    }
    c.latest.push_back(std::move(row));
  }
  if (options.witness_quorum > 0) {
    const std::size_t got = notes.empty() ? 0 : count_cosigners(notes.back(), *cosigned, options.witness_keys);
    c.witness_ok = got >= options.witness_quorum;
    c.witness = "Witness quorum: the latest checkpoint (tree size " +
                (notes.empty() ? std::string("none") : std::to_string(notes.back().size)) + ") has " +
                std::to_string(got) + " of the " + std::to_string(options.witness_quorum) +
                " required cosignature(s)" + (c.witness_ok ? "." : ": FAILED.");
  } else {
    c.witness = options.witness_keys.empty() ? "No witness keys given: cosignatures are listed, not checked."
                                             : "No witness quorum required.";
  }
  return std::nullopt;
}

// The environments of the manifests dir's ledger accepted (bundle_accepted records), each read
// from the bundle's directory (by name in registry_dir when given) and taken only when its
// SHA-256 is the one recorded; manifest_env gets each by SHA-256. `unread` counts the accepted
// manifests that could not be read, changed since or name no environment.
std::optional<Error> read_environments(const std::filesystem::path& dir, const std::filesystem::path& registry_dir,
                                       std::set<std::string>& names, std::size_t& unread,
                                       std::map<std::string, std::string>& manifest_env) {
  // The registry's own cap on a manifest (docs/bundles.md).
  constexpr std::uint64_t kMaxManifestBytes = 16ull * 1024 * 1024;
  std::map<std::string, std::optional<std::string>> seen;  // sha: environment (none: unreadable)
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    auto env = parse_envelope(r.payload);
    if (!env || env->type != RecordType::bundle_accepted) return std::nullopt;
    auto rec = parse_payload(r.payload);
    if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
    const std::string sha = str(rec->fields, "manifest_sha256");
    if (seen.count(sha)) return std::nullopt;
    std::filesystem::path src = str(rec->fields, "source");
    if (!registry_dir.empty()) src = registry_dir / src.filename();
    std::optional<std::string> name;
    auto bytes = base::read_capped(src / "manifest.json", kMaxManifestBytes);
    if (bytes && !sha.empty() && base::sha256_hex(*bytes) == sha) {
      auto m = base::parse_strict_json(*bytes);
      if (m && m->is_object()) {
        if (auto e = m->find("environment"); e != m->end() && e->is_string() && !e->get_ref<const std::string&>().empty()) {
          name = e->get<std::string>();
        }
      }
    }
    seen.emplace(sha, name);
    return std::nullopt;
  });
  if (scan.damage) return *scan.damage;
  for (const auto& [sha, name] : seen) {
    if (!name) {
      ++unread;
      continue;
    }
    names.insert(*name);
    manifest_env[sha] = *name;
  }
  return std::nullopt;
}

Result<bool> write_report(const ReportOptions& options, std::ostream& out) {
  if (!options.environments.empty() && options.environments.size() != options.ledgers.size()) {
    return Error{"give one --environment for each --ledger, or none"};
  }
  Report report(true);
  bool all_ok = true;
  for (std::size_t i = 0; i < options.ledgers.size(); ++i) {
    const auto& path = options.ledgers[i];
    const std::string dir = path.string();
    LedgerCheck c;
    c.dir = dir;
    {
      std::set<std::string> names;
      std::size_t unread = 0;
      std::map<std::string, std::string> manifest_env;
      if (auto e = read_environments(path, options.registry_dir, names, unread, manifest_env)) {
        return Error{e->reason, dir, e->offset};
      }
      for (auto& [sha, name] : manifest_env) report.set_manifest_environment(sha, name);
      std::string said;
      for (const auto& n : names) said += (said.empty() ? "" : ", ") + n;
      const std::string unread_text =
          unread ? "; " + std::to_string(unread) + " accepted manifest(s) not found, changed since or naming none" : "";
      if (!options.environments.empty()) {
        c.environment = options.environments[i];
        c.environment_from = "--environment";
        if (!names.empty() && (names.size() != 1 || *names.begin() != c.environment)) {
          c.environment_from += "; the manifests this ledger accepted say " + said;
          c.environment_ok = false;
        }
        c.environment_from += unread_text;
      } else if (!names.empty()) {
        c.environment = said;
        c.environment_from = "the " + std::to_string(manifest_env.size()) + " bundle manifest(s) this ledger accepted" +
                             unread_text;
        c.environment_ok = names.size() == 1;
      } else {
        c.environment = "unknown";
        c.environment_from = (unread ? "no accepted bundle manifest names one" : std::string("no bundle accepted")) +
                             unread_text + " (give --environment)";
        c.environment_ok = false;
      }
      report.set_environment(dir, c.environment);
    }
    if (options.key) {
      auto rep = verify_directory(path, *options.key);
      c.verified = true;
      c.ok = rep.ok();
      c.origin = rep.origin;
      c.records = rep.records;
      c.checkpoints = rep.checkpoints;
      c.covered = rep.covered;
      c.result = rep.ok() ? "verified with key " + base::key_id(options.key->public_key())
                          : "FAILED: " + rep.problem->to_string();
      all_ok = all_ok && rep.ok();
    } else {
      c.result = "not verified (no --pubkey)";
    }
    if (auto e = describe_signatures(path, options, c)) return Error{e->reason, dir, e->offset};
    if (!c.witness_ok) {
      c.ok = false;
      all_ok = false;
    }
    JoinOptions join;
    join.break_glass_statements = true;
    join.monitor = [&](const ParsedRecord& r) {
      if (options.filter.matches(r)) report.add_monitor(dir, r);
    };
    auto st = join_statements(path, options.filter, [&](const StatementRow& row) { report.add(dir, row); }, join);
    if (!st) return Error{st.error().reason, dir, st.error().offset};
    report.add_check(std::move(c));
  }
  out << report.html(options.from, options.to);
  if (!out) return Error{"writing the report failed"};
  return all_ok;
}

Status write_report_of_records(const ReportRecords& records, const ExportFilter& filter, const std::string& from,
                               const std::string& to, std::ostream& out) {
  Report report;
  LedgerCheck c;
  c.dir = records.name;
  c.origin = records.origin;
  c.records = records.records;
  c.checkpoints = records.checkpoints;
  c.covered = records.covered;
  c.result = records.verification;
  c.verified = c.ok = true;
  StatementJoin join(filter, [&](const StatementRow& row) { report.add(records.name, row); }, true);
  if (auto st = records.each([&](const ParsedRecord& r) {
        if (is_monitor_record(r.type)) {
          report.set_monitored();
          if (filter.matches(r)) report.add_monitor(records.name, r);
          return;
        }
        join.add(r);
      });
      !st) {
    return st;
  }
  join.finish();
  report.add_check(std::move(c));
  out << report.html(from, to);
  if (!out) return Error{"writing the report failed"};
  return Ok{};
}

}  // namespace ddlgate::ledger
