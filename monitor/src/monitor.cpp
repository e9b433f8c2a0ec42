#include "ddlgate/monitor/monitor.h"

#include <libpq-fe.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <thread>

#include "ddlgate/bundle/bundle.h"
#include "ddlgate/drift/drift.h"
#include "ddlgate/guard/guard.h"
#include "ddlgate/monitor/snapshot.h"

namespace ddlgate::monitor {

using Rows = std::vector<std::vector<std::optional<std::string>>>;
using Clock = std::chrono::system_clock;

namespace {

std::string quote_value(std::string_view v) {
  std::string out = "'";
  for (char ch : v) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "'";
}

std::string cell(const std::vector<std::optional<std::string>>& row, std::size_t i) {
  return i < row.size() && row[i] ? *row[i] : std::string();
}

std::uint64_t to_u64(const std::string& s) {
  std::uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return 0;
    v = v * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return v;
}

// Settings that would switch event triggers off. PostgreSQL 15 has none for ENABLE ALWAYS
// triggers (session_replication_role only skips ENABLE / ENABLE REPLICA ones); PostgreSQL 17's
// event_triggers = off does, so a setting of it is reported whatever the server's version.
constexpr const char* kSwitchOffSettings[] = {"event_triggers"};

// The catalog snapshot's queries (docs/guard.md): cluster-wide, readable by any login except
// pg_file_settings (a superuser, or GRANT SELECT ON pg_file_settings and EXECUTE ON
// pg_show_all_file_settings()).
constexpr const char* kRolesSql =
    "SELECT rolname::text, rolsuper::text, rolinherit::text, rolcreaterole::text, rolcreatedb::text, "
    "rolcanlogin::text, rolreplication::text, rolbypassrls::text, rolconnlimit::text, "
    "COALESCE(rolvaliduntil::text, '') FROM pg_catalog.pg_roles";
constexpr const char* kMembersSql =
    "SELECT r.rolname::text, m.rolname::text, am.admin_option::text, COALESCE(g.rolname::text, '') "
    "FROM pg_catalog.pg_auth_members AS am JOIN pg_catalog.pg_roles AS r ON r.oid = am.roleid "
    "JOIN pg_catalog.pg_roles AS m ON m.oid = am.member LEFT JOIN pg_catalog.pg_roles AS g ON g.oid = am.grantor";
constexpr const char* kRoleSettingsSql =
    "SELECT COALESCE(r.rolname::text, ''), COALESCE(d.datname::text, ''), c.entry "
    "FROM pg_catalog.pg_db_role_setting AS s LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = s.setrole "
    "LEFT JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase, "
    "pg_catalog.unnest(s.setconfig) AS c(entry)";
constexpr const char* kDatabasesSql =
    "SELECT d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text, pg_catalog.pg_encoding_to_char(d.encoding)::text, "
    "d.datcollate::text, d.datctype::text, d.datistemplate::text, d.datallowconn::text, d.datconnlimit::text, "
    "COALESCE(d.datacl::text, ''), COALESCE(t.spcname::text, '') FROM pg_catalog.pg_database AS d "
    "LEFT JOIN pg_catalog.pg_tablespace AS t ON t.oid = d.dattablespace";
constexpr const char* kTablespacesSql =
    "SELECT spcname::text, pg_catalog.pg_get_userbyid(spcowner)::text, pg_catalog.pg_tablespace_location(oid), "
    "COALESCE(spcacl::text, ''), COALESCE(pg_catalog.array_to_string(spcoptions, ','), '') FROM pg_catalog.pg_tablespace";
constexpr const char* kFileSettingsSql =
    "SELECT name, COALESCE(setting, ''), COALESCE(error, '') FROM pg_catalog.pg_file_settings "
    "WHERE sourcefile LIKE '%/postgresql.auto.conf' ORDER BY seqno";

// The guard's out-of-band changes after an id, in id order.
constexpr const char* kChangesSql =
    "SELECT id::text, event, database::text, COALESCE(role_name, ''), COALESCE(session_role::text, ''), "
    "COALESCE(backend_pid::text, '0'), COALESCE(backend_start::text, ''), at::text, COALESCE(command_tag, ''), "
    "COALESCE(object_type, ''), COALESCE(object_identity, ''), COALESCE(statement_sha256, ''), "
    "COALESCE(display_text, ''), COALESCE(detail, '') FROM ddlgate.changes WHERE id > $1::pg_catalog.int8 "
    "ORDER BY id LIMIT 1000";

}  // namespace

std::string control_conninfo(const config::Config& c, std::string_view database, std::string_view password) {
  std::string s;
  if (c.upstream.kind == config::Endpoint::Kind::unix_socket) {
    // libpq names a socket by its directory and the port in ".s.PGSQL.<port>".
    const std::string& path = c.upstream.path;
    const auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string file = slash == std::string::npos ? path : path.substr(slash + 1);
    s += "host=" + quote_value(dir);
    constexpr std::string_view kPrefix = ".s.PGSQL.";
    if (file.starts_with(kPrefix)) s += " port=" + quote_value(file.substr(kPrefix.size()));
  } else {
    s += "host=" + quote_value(c.upstream.host) + " port=" + std::to_string(c.upstream.port);
  }
  s += " dbname=" + quote_value(database) + " user=" + quote_value(c.guard.control_user);
  if (!password.empty()) s += " password=" + quote_value(password);
  switch (c.upstream_tls.mode) {
    case config::UpstreamTlsMode::disable: s += " sslmode=disable"; break;
    case config::UpstreamTlsMode::prefer: s += " sslmode=prefer"; break;
    case config::UpstreamTlsMode::require: s += " sslmode=require"; break;
    case config::UpstreamTlsMode::verify_full:
      s += " sslmode=verify-full";
      if (!c.upstream_tls.ca_file.empty()) s += " sslrootcert=" + quote_value(c.upstream_tls.ca_file);
      // libpq checks the certificate against host; a configured server_name other than the
      // upstream's host cannot be given to libpq 15 separately, so it is not applied here.
      break;
  }
  s += " connect_timeout=5 application_name='ddlgate monitor'";
  return s;
}

std::string with_database(const std::string& conninfo, std::string_view database) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  if (options == nullptr) return conninfo + " dbname=" + quote_value(database);  // open() then names the problem
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "dbname" || o->val == nullptr) continue;
    out += std::string(o->keyword) + "=" + quote_value(o->val) + " ";
  }
  PQconninfoFree(options);
  return out + "dbname=" + quote_value(database);
}

namespace {

void apply(ledger::HistoryReader& r, History* h) {
  r.wants = [](ledger::RecordType t, std::string_view) {
    return t == ledger::RecordType::out_of_band || t == ledger::RecordType::guard_tampered ||
           t == ledger::RecordType::schema_drift;
  };
  r.read = [h](const ledger::ParsedRecord& rec) {
    const auto& f = rec.fields;
    auto str = [&](const char* k) { return f.contains(k) && f[k].is_string() ? f[k].get<std::string>() : std::string(); };
    auto u64 = [&](const char* k) { return f.contains(k) && f[k].is_number_unsigned() ? f[k].get<std::uint64_t>() : 0; };
    auto lines = [&](const char* k) {
      std::vector<std::string> out;
      if (f.contains(k) && f[k].is_array()) {
        for (const auto& v : f[k]) if (v.is_string()) out.push_back(v.get<std::string>());
      }
      return out;
    };
    const std::string db = str("database");
    if (rec.type == ledger::RecordType::out_of_band) {
      if (str("source") == "guard") h->last_change_id[db] = std::max(h->last_change_id[db], u64("change_id"));
      if (str("source") == "guard_refusal") h->refusals_total[db] = u64("refusals_total");
    } else if (rec.type == ledger::RecordType::guard_tampered) {
      if (str("state") == "tampered") h->tampered[db] = lines("failures");
      else h->tampered.erase(db);
    } else if (rec.type == ledger::RecordType::schema_drift) {
      if (str("state") == "drift") h->drift[db] = lines("differences");
      else h->drift.erase(db);
    }
  };
}

}  // namespace

ledger::HistoryReader History::reader() {
  ledger::HistoryReader r;
  apply(r, this);
  return r;
}

struct Monitor::Impl {
  config::Config config;
  std::string password;
  Sink sink;
  History history;

  // One watched database (poll thread only, except `problem`, under mu).
  struct Database {
    std::string name;
    std::string conninfo;
    std::optional<drift::Connection> conn;
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds backoff{1000};
    std::uint64_t low = 0;                   // every change id up to it is recorded or given up
    std::set<std::uint64_t> seen;            // recorded ids above low
    std::map<std::uint64_t, std::uint64_t> gaps;  // missing id -> the snapshot xmax when first missed
    bool refusals_known = false;
    std::uint64_t refusals = 0;
    bool refusals_unreadable_said = false;
    std::optional<std::vector<std::string>> tampered;  // failures while tampered
  };
  std::vector<Database> dbs;

  // Catalog snapshots (poll thread only).
  std::optional<CatalogSnapshot> previous;
  Clock::time_point snapshot_before_previous{}, previous_at{};
  bool file_settings_unreadable_said = false;

  // Decisions that may explain catalog differences (observe(), any thread).
  struct Kept {
    Clock::time_point at;
    std::string sql;
  };
  std::mutex decisions_mu;
  std::deque<Kept> decisions;

  mutable std::mutex mu;  // problems
  std::map<std::string, std::string> connection_problems, tamper_problems, catalog_problems;

  std::jthread poller, drifter;
  // The scratch databases the drift schedule creates and drops: not out-of-band changes when
  // the scratch server is the watched one.
  std::mutex own_mu;
  std::set<std::string> own_databases;

  void log(int level, std::string line) {
    if (sink.log) sink.log(level, std::move(line));
  }

  void set_problem(std::map<std::string, std::string>& m, const std::string& db, std::string why) {
    std::lock_guard lk(mu);
    if (why.empty()) m.erase(db);
    else m[db] = std::move(why);
  }

  // --- the poll ---------------------------------------------------------------------------

  void run_polls(std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    const auto interval = std::chrono::milliseconds(config.guard.poll_interval_ms);
    while (!stop.stop_requested()) {
      const auto started = std::chrono::steady_clock::now();
      bool catalog_done = false;
      for (auto& db : dbs) {
        if (stop.stop_requested()) break;
        poll(db, catalog_done);
      }
      std::unique_lock lk(m);
      cv.wait_until(lk, stop, started + interval, [] { return false; });
    }
  }

  void lost(Database& db, const std::string& why) {
    db.conn.reset();
    db.retry_at = std::chrono::steady_clock::now() + db.backoff;
    set_problem(connection_problems, db.name,
                "guard monitor: database " + db.name + ": " + why + " (retrying in " +
                    std::to_string(db.backoff.count() / 1000.0).substr(0, 4) + " s)");
    log(2, "guard monitor: database " + db.name + ": " + why);
    db.backoff = std::min(db.backoff * 2, std::chrono::milliseconds(60000));
  }

  void poll(Database& db, bool& catalog_done) {
    if (!db.conn) {
      if (std::chrono::steady_clock::now() < db.retry_at) return;
      auto c = drift::Connection::open(db.conninfo, "control connection");
      if (!c) return lost(db, c.error().reason);
      if (auto st = c->exec("SET search_path = pg_catalog, pg_temp; SET TimeZone = 'UTC'; "
                            "SET statement_timeout = '30s'; SET client_encoding = 'UTF8'");
          !st) {
        return lost(db, "cannot set up the session: " + st.error().reason);
      }
      db.conn.emplace(std::move(*c));
      db.backoff = std::chrono::milliseconds(1000);
      set_problem(connection_problems, db.name, "");
      log(0, "guard monitor: watching database " + db.name);
    }
    CatalogSnapshot snapshot;
    auto read = read_catalog(*db.conn, snapshot);
    if (!read) return lost(db, read.error().reason);
    if (!watchdog(db, snapshot)) return;
    if (!collect_changes(db)) return;
    if (!catalog_done) {
      catalog_done = true;
      compare_catalog(db, std::move(snapshot));
    }
  }

  // The catalog snapshot; file settings left out (with a /readyz reason) when unreadable.
  base::Status read_catalog(drift::Connection& c, CatalogSnapshot& s) {
    if (auto st = c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) return st;
    auto done = [&](base::Status st) {
      (void)c.exec(st ? "COMMIT" : "ROLLBACK");
      return st;
    };
    auto roles = c.query(kRolesSql);
    if (!roles) return done(roles.error());
    static const char* const kRoleAttrs[] = {"superuser", "inherit", "createrole", "createdb", "login",
                                             "replication", "bypassrls", "connection_limit", "valid_until"};
    for (const auto& r : *roles) {
      s.add("role", {cell(r, 0)}, "", "");
      for (std::size_t i = 0; i < std::size(kRoleAttrs); ++i) s.add("role", {cell(r, 0)}, kRoleAttrs[i], cell(r, i + 1));
    }
    auto members = c.query(kMembersSql);
    if (!members) return done(members.error());
    for (const auto& r : *members) {
      s.add("membership", {cell(r, 0), cell(r, 1)}, "admin_option", cell(r, 2));
      s.add("membership", {cell(r, 0), cell(r, 1)}, "grantor", cell(r, 3));
    }
    auto settings = c.query(kRoleSettingsSql);
    if (!settings) return done(settings.error());
    for (const auto& r : *settings) {
      const std::string entry = cell(r, 2);
      const auto eq = entry.find('=');
      s.add("role_setting", {cell(r, 0), cell(r, 1)}, entry.substr(0, eq),
            eq == std::string::npos ? "" : entry.substr(eq + 1));
    }
    auto dbs_rows = c.query(kDatabasesSql);
    if (!dbs_rows) return done(dbs_rows.error());
    static const char* const kDbAttrs[] = {"owner", "encoding", "collate", "ctype", "is_template",
                                           "allow_connections", "connection_limit", "acl", "tablespace"};
    for (const auto& r : *dbs_rows) {
      for (std::size_t i = 0; i < std::size(kDbAttrs); ++i) s.add("database", {cell(r, 0)}, kDbAttrs[i], cell(r, i + 1));
    }
    auto spcs = c.query(kTablespacesSql);
    if (!spcs) return done(spcs.error());
    static const char* const kSpcAttrs[] = {"owner", "location", "acl", "options"};
    for (const auto& r : *spcs) {
      for (std::size_t i = 0; i < std::size(kSpcAttrs); ++i) s.add("tablespace", {cell(r, 0)}, kSpcAttrs[i], cell(r, i + 1));
    }
    if (auto st = c.exec("SAVEPOINT file_settings"); !st) return done(st);
    auto files = c.query(kFileSettingsSql);
    if (files) {
      for (const auto& r : *files) {
        s.add("system_setting", {cell(r, 0)}, "value", cell(r, 1));
        if (!cell(r, 2).empty()) s.add("system_setting", {cell(r, 0)}, "error", cell(r, 2));
      }
      set_problem(catalog_problems, "", "");
    } else {
      if (auto st = c.exec("ROLLBACK TO SAVEPOINT file_settings"); !st) return done(st);
      const std::string why = "guard monitor: cannot read pg_file_settings (ALTER SYSTEM is not watched): " +
                              files.error().reason +
                              "; GRANT SELECT ON pg_catalog.pg_file_settings and EXECUTE ON FUNCTION "
                              "pg_catalog.pg_show_all_file_settings() to " + config.guard.control_user;
      set_problem(catalog_problems, "", why);
      if (!file_settings_unreadable_said) log(2, why);
      file_settings_unreadable_said = true;
    }
    return done(base::Ok{});
  }

  // The watchdog: guard status plus settings that would switch the triggers off. False when the
  // connection was lost.
  bool watchdog(Database& db, const CatalogSnapshot& snapshot) {
    auto status = guard::status(db.conninfo);
    if (!status) {
      lost(db, "guard status: " + status.error().reason);
      return false;
    }
    std::vector<std::string> failures;
    for (const auto& ch : status->checks) {
      if (!ch.ok) failures.push_back(ch.what + ": " + ch.detail);
    }
    for (const auto& [key, obj] : snapshot.objects) {
      if (obj.kind != "role_setting" && obj.kind != "system_setting") continue;
      for (const char* name : kSwitchOffSettings) {
        if (obj.kind == "system_setting" && obj.names[0] == name) {
          failures.push_back("ALTER SYSTEM sets " + std::string(name) + " = " + obj.attributes.at("value") +
                             " (switches event triggers off)");
        } else if (obj.kind == "role_setting") {
          auto it = obj.attributes.find(name);
          if (it != obj.attributes.end() && (obj.names[1].empty() || obj.names[1] == db.name)) {
            failures.push_back(obj.display() + " sets " + name + " = " + it->second + " (switches event triggers off)");
          }
        }
      }
    }
    if (!failures.empty()) {
      std::string first = failures.front() + (failures.size() > 1 ? " (and " + std::to_string(failures.size() - 1) + " more)" : "");
      set_problem(tamper_problems, db.name, "guard: database " + db.name + ": not intact: " + first);
      if (db.tampered && *db.tampered == failures) return true;
      if (!sink.record(ledger::guard_tampered(db.name, "tampered", failures))) return true;  // tried again next poll
      db.tampered = failures;
      log(2, "guard: database " + db.name + ": the guard is not intact: " + first);
      nlohmann::json details{{"database", db.name}, {"state", "tampered"}, {"failures", failures}};
      sink.event("guard.tampered", "ddlgate: the guard of database " + db.name + " is not intact: " + first,
                 std::move(details));
    } else {
      set_problem(tamper_problems, db.name, "");
      if (db.tampered) {
        if (!sink.record(ledger::guard_tampered(db.name, "intact", {}))) return true;
        db.tampered.reset();
        log(0, "guard: database " + db.name + ": the guard is intact again");
        sink.event("guard.tampered", "ddlgate: the guard of database " + db.name + " is intact again",
                   {{"database", db.name}, {"state", "intact"}, {"failures", nlohmann::json::array()}});
      }
    }
    return true;
  }

  bool collect_changes(Database& db) {
    auto& c = *db.conn;
    // Is there a guard whose changes we may read? (Its absence is the watchdog's to report.)
    auto present = c.query("SELECT pg_catalog.has_table_privilege(pg_catalog.to_regclass('ddlgate.changes'), 'SELECT'), "
                           "CASE WHEN pg_catalog.to_regclass('ddlgate.refusals') IS NULL THEN false "
                           "ELSE pg_catalog.has_sequence_privilege('ddlgate.refusals', 'SELECT') END");
    if (!present) {
      lost(db, present.error().reason);
      return false;
    }
    if (present->empty() || cell((*present)[0], 0) != "t") return true;
    const bool refusals_readable = cell((*present)[0], 1) == "t";
    // One snapshot for the rows and the transaction horizon: a row whose id is missing may
    // still commit while a transaction older than that snapshot's xmax runs.
    if (auto st = c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) {
      lost(db, st.error().reason);
      return false;
    }
    auto horizon = c.query("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text, "
                           "pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text");
    auto rows = horizon ? c.query(kChangesSql, {std::to_string(db.low)}) : base::Result<Rows>(horizon.error());
    std::optional<std::string> refusals;
    if (rows && refusals_readable) {
      auto r = c.query("SELECT COALESCE((SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ddlgate.refusals), 0)::text");
      if (!r) rows = r.error();
      else if (!r->empty()) refusals = cell((*r)[0], 0);
    }
    (void)c.exec(rows ? "COMMIT" : "ROLLBACK");
    if (!rows) {
      lost(db, rows.error().reason);
      return false;
    }
    const std::uint64_t xmin = to_u64(cell((*horizon)[0], 0));
    const std::uint64_t xmax = to_u64(cell((*horizon)[0], 1));
    std::uint64_t expected = db.low + 1;
    for (const auto& r : *rows) {
      const std::uint64_t id = to_u64(cell(r, 0));
      for (; expected < id; ++expected) {
        if (!db.seen.contains(expected)) db.gaps.try_emplace(expected, xmax);
      }
      expected = std::max(expected, id + 1);
      if (db.seen.contains(id)) continue;
      if (!record_change(db, r)) return true;  // the ledger refused: tried again next poll
      db.seen.insert(id);
      db.gaps.erase(id);
    }
    // Advance the low-water mark over recorded ids and gaps no running transaction can fill.
    while (true) {
      const std::uint64_t next = db.low + 1;
      if (db.seen.erase(next)) {
        db.low = next;
      } else if (auto g = db.gaps.find(next); g != db.gaps.end() && (xmin >= g->second || db.gaps.size() > 10000)) {
        db.gaps.erase(g);
        db.low = next;
      } else {
        break;
      }
    }
    if (refusals) {
      const std::uint64_t now = to_u64(*refusals);
      if (!db.refusals_known) {
        db.refusals_known = true;
        auto it = history.refusals_total.find(db.name);
        db.refusals = it == history.refusals_total.end() ? 0 : it->second;
      }
      if (now != db.refusals) {
        ledger::OutOfBandChange ch;
        ch.database = db.name;
        ch.source = "guard_refusal";
        ch.refusals = now > db.refusals ? now - db.refusals : now;
        ch.refusals_total = now;
        ch.reason = "the guard refused " + std::to_string(ch.refusals) + " statement(s) (refusal sequence at " +
                    std::to_string(now) + "); the server log has each one";
        if (sink.record(ledger::out_of_band(ch))) {
          db.refusals = now;
          announce(ch);
        }
      }
    } else if (!refusals_readable && !db.refusals_unreadable_said) {
      db.refusals_unreadable_said = true;
      log(1, "guard monitor: database " + db.name + ": cannot read ddlgate.refusals (GRANT SELECT ON SEQUENCE "
             "ddlgate.refusals TO ddlgate_control); the guard's refusals are not collected");
    }
    return true;
  }

  bool record_change(Database& db, const std::vector<std::optional<std::string>>& r) {
    ledger::OutOfBandChange ch;
    ch.database = db.name;
    ch.source = "guard";
    ch.change_id = to_u64(cell(r, 0));
    ch.event = cell(r, 1);
    ch.user = cell(r, 3);
    ch.session_user = cell(r, 4);
    ch.backend_pid = static_cast<std::int64_t>(to_u64(cell(r, 5)));
    ch.backend_start = cell(r, 6);
    ch.at = cell(r, 7);
    ch.command_tag = cell(r, 8);
    ch.object_type = cell(r, 9);
    ch.object_identity = cell(r, 10);
    ch.statement_sha256 = cell(r, 11);
    ch.display_sql = cell(r, 12);
    ch.detail = cell(r, 13);
    ch.reason = ch.event + " " + (ch.command_tag.empty() ? std::string("(no tag)") : ch.command_tag) +
                (ch.object_identity.empty() ? "" : " " + ch.object_type + " " + ch.object_identity) + " by " +
                (ch.user.empty() ? std::string("?") : ch.user) + " (backend " + std::to_string(ch.backend_pid) + ")";
    if (!sink.record(ledger::out_of_band(ch))) return false;
    announce(ch);
    return true;
  }

  void announce(const ledger::OutOfBandChange& ch) {
    if (sink.count) sink.count(ch.database, ch.source);
    nlohmann::json details{{"database", ch.database}, {"source", ch.source}, {"reason", ch.reason}};
    if (ch.source == "guard") {
      details["change_id"] = ch.change_id;
      details["command_tag"] = ch.command_tag;
      details["object_type"] = ch.object_type;
      details["object_identity"] = ch.object_identity;
      details["user"] = ch.user;
      details["statement_sha256"] = ch.statement_sha256;
    } else if (ch.source == "catalog") {
      details["object"] = ch.object;
      details["change"] = ch.change;
      details["attribute"] = ch.attribute;
    }
    log(1, "out-of-band change in database " + ch.database + " (" + ch.source + "): " + ch.reason);
    sink.event("change.out_of_band", "ddlgate: out-of-band change in database " + ch.database + ": " + ch.reason,
               std::move(details));
  }

  void compare_catalog(Database& db, CatalogSnapshot snapshot) {
    const auto now = Clock::now();
    if (!previous) {
      ledger::OutOfBandChange ch;
      ch.database = db.name;
      ch.source = "catalog";
      ch.baseline = true;
      ch.objects = snapshot.objects.size();
      ch.reason = "catalog baseline: " + std::to_string(ch.objects) +
                  " roles, memberships, role settings, databases, tablespaces and ALTER SYSTEM settings; "
                  "later differences are compared with it";
      if (!sink.record(ledger::out_of_band(ch))) return;
      previous = std::move(snapshot);
      snapshot_before_previous = previous_at = now;
      return;
    }
    std::vector<Kept> kept;
    {
      std::lock_guard lk(decisions_mu);
      // A decision is recorded before its statement runs, so one made during the previous
      // snapshot's interval may show only now: keep those since the snapshot before it.
      while (!decisions.empty() && decisions.front().at < snapshot_before_previous) decisions.pop_front();
      kept.assign(decisions.begin(), decisions.end());
    }
    std::set<std::string> own;
    {
      std::lock_guard lk(own_mu);
      own = own_databases;
    }
    for (const auto& d : diff(*previous, snapshot)) {
      if ((d.kind == "database" && own.contains(d.names[0])) ||
          (d.kind == "role_setting" && d.names.size() > 1 && own.contains(d.names[1]))) {
        continue;
      }
      const auto by = std::find_if(kept.begin(), kept.end(), [&](const Kept& k) { return explains(k.sql, d); });
      if (by != kept.end()) {
        log(0, "catalog change explained by an approved statement: " + d.to_string());
        continue;
      }
      ledger::OutOfBandChange ch;
      ch.database = db.name;
      ch.source = "catalog";
      ch.object = d.object;
      ch.change = d.change;
      ch.attribute = d.attribute;
      ch.before = d.before;
      ch.after = d.after;
      ch.reason = d.to_string();
      // Not recorded: the snapshot is not taken over, so the difference is found again next poll.
      if (!sink.record(ledger::out_of_band(ch))) return;
      announce(ch);
    }
    previous = std::move(snapshot);
    snapshot_before_previous = previous_at;
    previous_at = now;
  }

  // --- drift ------------------------------------------------------------------------------

  void run_drift_schedule(std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    const auto interval = std::chrono::milliseconds(config.guard.drift_interval_ms);
    while (!stop.stop_requested()) {
      const auto started = std::chrono::steady_clock::now();
      for (const auto& db : dbs) {
        if (stop.stop_requested()) break;
        drift_once(db.name, db.conninfo);
      }
      std::unique_lock lk(m);
      cv.wait_until(lk, stop, started + interval, [] { return false; });
    }
  }

  struct DriftFound {
    std::vector<std::string> lines;
    std::string bundles;
  };

  base::Result<DriftFound> check_drift(const std::string& database, const std::string& conninfo) {
    const config::Bundles& b = config.bundles;
    if (!b.enabled) return base::Error("no [bundles] section: no approved schema to compare with");
    std::vector<base::Problem> key_problems;
    const auto trust = bundle::TrustAnchors::from_config(b.trust, &key_problems);
    if (!key_problems.empty()) return base::Error("trust policy: " + key_problems.front().to_string());
    const auto options = bundle::VerifyOptions::from_config(b, std::chrono::floor<std::chrono::seconds>(base::Clock::now()));
    auto selection = drift::select_bundles(b.registry_dir, trust, options, database);
    if (!selection) return selection.error();
    auto prod = drift::Connection::open(conninfo, "production");
    if (!prod) return prod.error();
    // A database of its own on the scratch server for each run, dropped after it: the replay
    // needs an empty one, and the next run another.
    auto maint = drift::Connection::open(config.guard.drift_scratch_url, "scratch");
    if (!maint) return maint.error();
    std::random_device rd;
    char name[40];
    std::snprintf(name, sizeof name, "ddlgate_drift_%08x%08x", rd(), rd());
    {
      std::lock_guard lk(own_mu);
      own_databases.insert(name);
    }
    if (auto st = maint->exec(std::string("CREATE DATABASE ") + name + " TEMPLATE template0"); !st) {
      return base::Error("scratch: cannot create a database for the replay: " + st.error().reason);
    }
    base::Result<DriftFound> out = base::Error("not run");
    {
      auto scratch = drift::Connection::open(with_database(config.guard.drift_scratch_url, name), "scratch");
      if (!scratch) {
        out = scratch.error();
      } else {
        auto ran = drift::replay(*scratch, selection->replay);
        const std::string migrator = config.guard.drift_migrator.empty() ? config.guard.control_user
                                                                         : config.guard.drift_migrator;
        auto scratch_user = scratch->query("SELECT current_user::text");
        if (!ran) {
          out = ran.error();
        } else if (!scratch_user || scratch_user->empty()) {
          out = base::Error("scratch: cannot read its user");
        } else {
          auto live = drift::describe(*prod, migrator);
          auto approved = drift::describe(*scratch, cell((*scratch_user)[0], 0));
          if (!live) {
            out = live.error();
          } else if (!approved) {
            out = approved.error();
          } else {
            DriftFound found;
            for (const auto& d : drift::compare(*live, *approved)) found.lines.push_back(d.to_string());
            for (const auto& sel : selection->replay) {
              found.bundles += (found.bundles.empty() ? "" : ", ") + sel.manifest.app + " v" +
                               std::to_string(sel.manifest.version);
            }
            out = std::move(found);
          }
        }
      }
    }
    if (auto st = maint->exec(std::string("DROP DATABASE IF EXISTS ") + name + " WITH (FORCE)"); !st) {
      log(1, "drift: cannot drop the scratch database " + std::string(name) + ": " + st.error().reason);
    }
    return out;
  }

  void drift_once(const std::string& database, const std::string& conninfo) {
    auto found = check_drift(database, conninfo);
    if (!found) {
      log(2, "drift: database " + database + ": the check did not run: " + found.error().reason);
      return;
    }
    auto it = history.drift.find(database);
    const bool was = it != history.drift.end();
    if (found->lines.empty()) {
      if (!was) return;
      if (!sink.record(ledger::schema_drift(database, "clear", 0, {}, found->bundles))) return;
      history.drift.erase(database);
      log(0, "drift: database " + database + " matches the approved schema again");
      sink.event("schema.drift", "ddlgate: database " + database + " matches the approved schema again",
                 {{"database", database}, {"state", "clear"}, {"count", 0}});
      return;
    }
    std::vector<std::string> kept(found->lines.begin(), found->lines.begin() + std::min<std::ptrdiff_t>(1000, found->lines.size()));
    if (was && it->second == kept) return;  // the same drift as last recorded
    if (!sink.record(ledger::schema_drift(database, "drift", found->lines.size(), found->lines, found->bundles))) return;
    history.drift[database] = kept;
    log(1, "drift: database " + database + ": " + std::to_string(found->lines.size()) +
               " difference(s) from the approved schema, first: " + found->lines.front());
    nlohmann::json first = nlohmann::json::array();
    for (std::size_t i = 0; i < found->lines.size() && i < 20; ++i) first.push_back(found->lines[i]);
    sink.event("schema.drift",
               "ddlgate: database " + database + " differs from the approved schema in " +
                   std::to_string(found->lines.size()) + " place(s)",
               {{"database", database}, {"state", "drift"}, {"count", found->lines.size()}, {"differences", first}});
  }
};

Monitor::Monitor(config::Config config, std::string password, Sink sink, History history)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->password = std::move(password);
  impl_->sink = std::move(sink);
  impl_->history = std::move(history);
  for (const auto& name : impl_->config.guard.databases) {
    Impl::Database db;
    db.name = name;
    db.conninfo = control_conninfo(impl_->config, name, impl_->password);
    auto last = impl_->history.last_change_id.find(name);
    db.low = last == impl_->history.last_change_id.end() ? 0 : last->second;
    auto t = impl_->history.tampered.find(name);
    if (t != impl_->history.tampered.end()) db.tampered = t->second;
    impl_->dbs.push_back(std::move(db));
  }
}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  if (impl_->dbs.empty()) return;
  impl_->poller = std::jthread([this](std::stop_token st) { impl_->run_polls(st); });
  if (impl_->config.guard.drift_interval_ms > 0) {
    impl_->drifter = std::jthread([this](std::stop_token st) { impl_->run_drift_schedule(st); });
  }
}

void Monitor::stop() {
  for (auto* t : {&impl_->poller, &impl_->drifter}) {
    if (t->joinable()) {
      t->request_stop();
      t->join();
    }
  }
}

void Monitor::observe(const ledger::Record& record) {
  if (record.type != ledger::RecordType::decision) return;
  const auto& f = record.fields;
  auto d = f.find("decision");
  if (d == f.end() || !d->is_string()) return;
  if (*d != "allowed" && *d != "break_glass") return;
  auto sql = f.find("display_sql");
  if (sql == f.end() || !sql->is_string()) return;
  std::lock_guard lk(impl_->decisions_mu);
  impl_->decisions.push_back({Clock::now(), sql->get<std::string>()});
  if (impl_->decisions.size() > 100000) impl_->decisions.pop_front();  // bounded: the oldest explain nothing more
}

std::vector<std::string> Monitor::problems() const {
  std::lock_guard lk(impl_->mu);
  std::vector<std::string> out;
  for (const auto* m : {&impl_->connection_problems, &impl_->tamper_problems, &impl_->catalog_problems}) {
    for (const auto& [k, v] : *m) out.push_back(v);
  }
  return out;
}

}  // namespace ddlgate::monitor
