// `ddlgate bundle record`: runs a migration tool through a monitor-mode ddlgate in front of a
// scratch database and writes what it sent as a recorded bundle source (docs/bundles.md,
// "Recording what a tool sends"). The proxy is ddlgate's own (proxy::Server): monitor mode
// classifies every statement and puts each controlled one in the ledger as `would_deny`. This
// file reads that ledger back; nothing of the proxy is duplicated. With --down it records the
// tool's rollback of its last migration too, as recorded.sql's down part (attribute_down).
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "ddlgate/base/base64.h"
#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/file.h"
#include "ddlgate/bundle/recorded.h"
#include "ddlgate/config/config.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/proxy/logging.h"
#include "ddlgate/proxy/server.h"
#include "ddlgate/sql/analyze.h"

extern char** environ;

namespace ddlgate::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCmd = "ddlgate bundle record";
// What sql::analyze puts in a display SQL where it removed a secret.
constexpr std::string_view kRedacted = "********";

struct RecordArgs {
  std::string upstream;
  std::string listen = "127.0.0.1:0";
  std::string out;
  std::string database = "postgres";
  std::string user;
  bool once = false;  // no second run: nothing is repeatable
  std::string down;   // the tool's rollback of its last migration, run with /bin/sh -c
  std::vector<std::string> command;
};

// The scratch database's search_path recorder: a ddl_command_start event trigger (the wire does
// not carry search_path), which also notes the transaction each statement ran in (the ledger
// records a message's other statements before its controlled ones, so their order there is
// not the order they ran in). SECURITY DEFINER so that a tool's non-superuser role can write its row;
// no SET search_path on the function, which would replace the very setting it reads, so every
// name in it is qualified.
constexpr const char* kInstallTrigger = R"(
DROP EVENT TRIGGER IF EXISTS ddlgate_record_search_path;
DROP SCHEMA IF EXISTS ddlgate_record CASCADE;
CREATE SCHEMA ddlgate_record;
CREATE TABLE ddlgate_record.seen (n bigserial PRIMARY KEY, query text NOT NULL, search_path text NOT NULL,
                                  xid bigint NOT NULL);
GRANT USAGE ON SCHEMA ddlgate_record TO PUBLIC;
CREATE FUNCTION ddlgate_record.seen() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
  INSERT INTO ddlgate_record.seen (query, search_path, xid)
  VALUES (pg_catalog.current_query(), pg_catalog.current_setting('search_path'), pg_catalog.txid_current());
END
$f$;
CREATE EVENT TRIGGER ddlgate_record_search_path ON ddl_command_start EXECUTE FUNCTION ddlgate_record.seen();
)";
constexpr const char* kRemoveTrigger =
    "DROP EVENT TRIGGER IF EXISTS ddlgate_record_search_path; DROP SCHEMA IF EXISTS ddlgate_record CASCADE;";

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};

std::string conninfo_value(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// One row of ddlgate_record.seen: the text the trigger saw run, analysed once.
struct Seen {
  std::string query;                // current_query(): the text as the client sent it
  struct At {
    std::string hash;
    std::size_t offset = 0, length = 0;
  };
  std::vector<At> statements;       // of the query
  std::string search_path;
  std::string xid;  // the transaction it ran in
  bool used = false;
};

class ScratchDatabase {
 public:
  base::Status connect(const config::Endpoint& upstream, const std::string& database, const std::string& user) {
    std::string ci = "host=" + conninfo_value(upstream.host) + " port=" + std::to_string(upstream.port) +
                     " dbname=" + conninfo_value(database) + " user=" + conninfo_value(user) +
                     " application_name='ddlgate bundle record'";
    conn_.reset(PQconnectdb(ci.c_str()));
    PQsetNoticeProcessor(conn_.get(), [](void*, const char*) {}, nullptr);  // DROP ... IF EXISTS notices
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      return base::Error{"cannot connect to the scratch database " + database + " at " + upstream.host + ":" +
                         std::to_string(upstream.port) + ": " + one_line(PQerrorMessage(conn_.get()))};
    }
    return base::Ok{};
  }
  base::Status exec(const char* sql, const std::string& what) {
    std::unique_ptr<PGresult, PgResultCloser> r(PQexec(conn_.get(), sql));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return base::Error{what + ": " + one_line(PQresultErrorMessage(r.get()))};
    }
    return base::Ok{};
  }
  base::Result<std::vector<Seen>> seen() {
    std::unique_ptr<PGresult, PgResultCloser> r(
        PQexec(conn_.get(), "SELECT query, search_path, xid FROM ddlgate_record.seen ORDER BY n"));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
      return base::Error{"cannot read ddlgate_record.seen: " + one_line(PQresultErrorMessage(r.get()))};
    }
    std::vector<Seen> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      Seen s;
      s.query = PQgetvalue(r.get(), i, 0);
      sql::Analysis a = sql::analyze(s.query, sql::Policy{}, sql::Detail::hashes);
      for (const auto& st : a.statements) s.statements.push_back({st.hash, st.offset, st.length});
      s.search_path = PQgetvalue(r.get(), i, 1);
      s.xid = PQgetvalue(r.get(), i, 2);
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  static std::string one_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (char& c : s) {
      if (c == '\n') c = ' ';
    }
    return s;
  }
  std::unique_ptr<PGconn, PgConnCloser> conn_;
};

bool write_text(const fs::path& path, std::string_view bytes, int mode = 0644) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f.flush()) return false;
  }
  std::error_code ec;
  fs::permissions(path, static_cast<fs::perms>(mode), ec);
  return !ec;
}

// Runs the command with the proxy's address in its environment; its exit code (128 + signal).
base::Result<int> run_command(const std::vector<std::string>& command, const std::vector<std::string>& extra_env) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    bool replaced = false;
    for (const auto& x : extra_env) {
      if (v.substr(0, v.find('=') + 1) == std::string_view(x).substr(0, x.find('=') + 1)) replaced = true;
    }
    if (!replaced) env.emplace_back(v);
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv, envp;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (int rc = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()); rc != 0) {
    return base::Error{"cannot run " + command[0] + ": " + std::strerror(rc)};
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return base::Error{std::string("waitpid: ") + std::strerror(errno)};
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// What the ledger says one run sent: each controlled statement with its session and
// transaction, and the statements that cannot be recorded.
struct Capture {
  std::vector<bundle::RecordedStatement> statements;
  std::vector<std::string> refused;  // one message each
};

Capture capture(const std::vector<ledger::ParsedRecord>& records, std::vector<Seen>& seen) {
  Capture out;
  struct SessionState {
    std::size_t number = 0;  // in order of each session's first controlled statement
    std::size_t transactions = 0;
    std::string last_xid;
  };
  std::map<std::string, SessionState> sessions;
  std::size_t numbered = 0;
  for (const auto& r : records) {
    const auto& f = r.fields;
    if (r.type != ledger::RecordType::decision) continue;
    const std::string decision = f.value("decision", "");
    const std::size_t n = out.statements.size() + out.refused.size() + 1;
    const std::string sql = f.value("display_sql", "");
    if (decision != "would_deny") {
      out.refused.push_back("statement " + std::to_string(n) + ": decided '" + decision +
                            "', not would_deny: record needs a scratch proxy of its own");
      continue;
    }
    if (f.value("suppressed", 0) != 0) {
      out.refused.push_back("statement " + std::to_string(n) + ": refusals were paced and " +
                            std::to_string(f.value("suppressed", 0)) + " statements before it went unrecorded");
    }
    const std::string hash = f.value("statement_hash", "");
    const std::string excerpt_text = sql.substr(0, 120);
    // The event trigger's row for it: search_path, transaction and the text as sent.
    Seen* row = nullptr;
    const Seen::At* at = nullptr;
    for (auto& candidate : seen) {
      if (candidate.used) continue;
      for (const auto& x : candidate.statements) {
        if (x.hash == hash) {
          at = &x;
          break;
        }
      }
      if (at != nullptr) {
        row = &candidate;
        row->used = true;
        break;
      }
    }
    // The display SQL when it is the statement (it hashes as the statement sent); else the
    // text as the client sent it, from the trigger: the deparser does not give back every
    // statement faithfully (a quoted mixed-case constraint name loses its quotes), and the
    // ledger keeps only 4 KiB of a refused statement's display SQL.
    std::string text;
    std::optional<sql::StatementClass> cls;
    const bool cut = f.contains("display_sql_bytes") && f["display_sql_bytes"].get<std::size_t>() != sql.size();
    if (!cut && !sql.empty()) {
      sql::Analysis a = sql::analyze(sql, sql::Policy{}, sql::Detail::hashes);
      if (a.ok() && a.statements.size() == 1 && a.statements[0].hash == hash) {
        text = sql;
        cls = a.statements[0].cls;
      }
    }
    // A secret was redacted from the display SQL (ddlgate writes "********" for the passwords
    // of roles, user mappings' and servers' option values, subscriptions' connection strings),
    // so it is not the statement: the statement is refused, and the text as sent never read.
    if (!cls && sql.find(kRedacted) != std::string::npos) {
      out.refused.push_back("statement " + std::to_string(n) + ": " + excerpt_text +
                            ": holds a password or an option value that is a secret; such a statement is "
                            "never recorded: create the role or mapping outside the tool (docs/bundles.md)");
      continue;
    }
    if (!cls && row != nullptr) {
      std::string raw = row->query.substr(at->offset, at->length);
      sql::Analysis a = sql::analyze(raw, sql::Policy{}, sql::Detail::all);
      const bool secret = a.ok() && a.statements.size() == 1 &&
                          a.statements[0].display_sql.find(kRedacted) != std::string::npos &&
                          raw.find(kRedacted) == std::string::npos;
      if (secret) {
        out.refused.push_back("statement " + std::to_string(n) +
                              ": holds a password or an option value that is a secret; never recorded");
        continue;
      }
      if (a.ok() && a.statements.size() == 1 && a.statements[0].hash == hash) {
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r')) {
          raw.pop_back();
        }
        text = std::move(raw);
        cls = a.statements[0].cls;
      }
    }
    if (!cls) {
      out.refused.push_back("statement " + std::to_string(n) + ": " +
                            (sql.empty() ? std::string("does not parse; an unparseable statement is never recorded")
                                         : "neither its display SQL nor a text the event trigger saw hashes as the "
                                           "statement the tool sent: " + excerpt_text));
      continue;
    }
    auto& s = sessions[f.value("session_id", "")];
    if (s.number == 0) s.number = ++numbered;
    bundle::RecordedStatement st;
    st.database = f.value("database", "");
    st.role = f.value("user", "");
    st.session = s.number;
    st.cls = *cls;
    st.hash = hash;
    st.sql = std::move(text);
    if (row != nullptr) {
      st.search_path = row->search_path;
      // Statements of one transaction (block, or one simple Query's implicit one) share a number.
      if (row->xid != s.last_xid) {
        s.last_xid = row->xid;
        ++s.transactions;
      }
      st.transaction = s.transactions;
    }
    out.statements.push_back(std::move(st));
  }
  return out;
}

std::string excerpt(const std::string& sql) {
  std::string s = sql.size() > 100 ? sql.substr(0, 100) + "..." : sql;
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

// Compares a new recording with the one already in the output directory; the differences,
// one line each (empty: the same statements).
// Appends to out, one line each, how list b (this run) differs from list a (the earlier run).
void compare_lists(const std::vector<bundle::RecordedStatement>& a, const std::vector<bundle::RecordedStatement>& b,
                   const std::string& list, std::vector<std::string>& out) {
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string at = list + " " + std::to_string(i + 1);
    if (i >= a.size()) {
      out.push_back(at + ": only in this run: " + excerpt(b[i].sql));
    } else if (i >= b.size()) {
      out.push_back(at + ": only in the earlier run: " + excerpt(a[i].sql));
    } else if (a[i].hash != b[i].hash) {
      out.push_back(at + ": earlier run: " + excerpt(a[i].sql) + " | this run: " + excerpt(b[i].sql));
    } else if (a[i].database != b[i].database || a[i].role != b[i].role || a[i].session != b[i].session ||
               a[i].transaction != b[i].transaction || a[i].search_path != b[i].search_path) {
      out.push_back(at + ": the same statement in another database, role, session, transaction or search_path: " +
                    excerpt(b[i].sql));
    }
  }
}

std::vector<std::string> differences(const bundle::Recording& before, const bundle::Recording& now) {
  std::vector<std::string> out;
  auto compare = [&](const std::vector<bundle::RecordedStatement>& a, const std::vector<bundle::RecordedStatement>& b,
                     const char* list) { compare_lists(a, b, list, out); };
  compare(before.statements, now.statements, "statement");
  compare(before.repeatable, now.repeatable, "repeatable statement");
  compare(before.down, now.down, "down statement");
  if (before.down_undoes_first != now.down_undoes_first || before.down_undoes_last != now.down_undoes_last) {
    out.push_back("the rollback undoes statements " + std::to_string(now.down_undoes_first) + " to " +
                  std::to_string(now.down_undoes_last) + ", the earlier recording's " +
                  std::to_string(before.down_undoes_first) + " to " + std::to_string(before.down_undoes_last));
  }
  return out;
}

// Which migration a recorded rollback undoes. The rollback (run 3) is followed by the up command
// (run 4), which applies again exactly what the rollback took away: the last migration. Its
// statements, the tool's per-run bookkeeping left out (a statement hashed as one of
// `repeatable`, approved as repeatable already), must be the last statements of the first
// run's, in order; the rollback then undoes those, and its own statements (bookkeeping left
// out too) become recorded.sql's down part. Anything else cannot be attributed and is refused.
base::Status attribute_down(bundle::Recording& r, const std::vector<bundle::RecordedStatement>& down_run,
                            const std::vector<bundle::RecordedStatement>& reapplied) {
  std::set<std::string> per_run;
  for (const auto& s : r.repeatable) per_run.insert(s.hash);
  auto own = [&](const std::vector<bundle::RecordedStatement>& list) {
    std::vector<std::size_t> at;  // 0-based positions of the statements that are not bookkeeping
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!per_run.count(list[i].hash)) at.push_back(i);
    }
    return at;
  };
  const auto down = own(down_run), again = own(reapplied), first = own(r.statements);
  if (down.empty()) {
    return base::Error{"the rollback command sent no controlled statement but the tool's per-run bookkeeping: "
                       "there is no down part to record (did it roll anything back?)"};
  }
  if (again.empty()) {
    return base::Error{"after the rollback, the up command applied nothing again: which migration the rollback "
                       "undid cannot be told, so its statements cannot be attributed; nothing written"};
  }
  if (again.size() > first.size()) {
    return base::Error{"after the rollback, the up command applied " + std::to_string(again.size()) +
                       " statements, more than the recording's first run (" + std::to_string(first.size()) +
                       "): the rollback undid more than the recorded migrations; nothing written"};
  }
  const std::size_t offset = first.size() - again.size();
  for (std::size_t i = 0; i < again.size(); ++i) {
    const auto& want = r.statements[first[offset + i]];
    const auto& got = reapplied[again[i]];
    if (want.hash != got.hash) {
      return base::Error{"after the rollback, the up command applied statements that are not the last ones of the "
                         "recording (statement " + std::to_string(i + 1) + " applied again: " + excerpt(got.sql) +
                         " | recorded statement " + std::to_string(first[offset + i] + 1) + ": " + excerpt(want.sql) +
                         "): the rollback cannot be attributed to the last migration; nothing written"};
    }
  }
  r.down.clear();
  for (std::size_t i : down) r.down.push_back(down_run[i]);
  r.down_undoes_first = first[offset] + 1;
  r.down_undoes_last = first.back() + 1;
  return base::Ok{};
}

base::Result<std::vector<ledger::ParsedRecord>> read_ledger(const fs::path& dir, std::uint64_t from,
                                                            std::uint64_t* next) {
  std::vector<ledger::ParsedRecord> out;
  auto st = ledger::read_records(dir, from, [&](const ledger::ParsedRecord& r) { out.push_back(r); }, next);
  if (!st) return st.error();
  return out;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kCmd, message.c_str());
  return kExitCheckFailed;
}

int run_record(const RecordArgs& a) {
  if (a.command.empty()) {
    std::fprintf(stderr, "%s: no command: give it after --, e.g. -- npx knex migrate:latest\n", kCmd);
    return kExitUsage;
  }
  if (!a.down.empty() && a.once) {
    std::fprintf(stderr, "%s: --down runs the up command again after each rollback, which --once says it cannot\n", kCmd);
    return kExitUsage;
  }
  auto upstream = config::parse_host_port(a.upstream);
  if (!upstream) {
    std::fprintf(stderr, "%s: --upstream: %s\n", kCmd, upstream.error().reason.c_str());
    return kExitUsage;
  }
  const fs::path out(a.out);
  std::optional<bundle::Recording> earlier;
  std::string earlier_bytes;
  std::error_code ec;
  if (fs::exists(out, ec)) {
    // A second recording into the same directory checks the first one: byte-identical, or
    // the statements that differ are reported as non-deterministic and nothing is written.
    auto bytes = base::read_capped(out / bundle::kRecordingIndex, bundle::kMaxRecordingIndexBytes);
    if (!bytes) {
      std::fprintf(stderr, "%s: --out %s exists and holds no earlier recording (%s)\n", kCmd, out.c_str(),
                   bytes.error().reason.c_str());
      return kExitUsage;
    }
    auto parsed = bundle::parse_recording_index(*bytes);
    if (!parsed) {
      std::fprintf(stderr, "%s: %s: %s\n", kCmd, (out / bundle::kRecordingIndex).c_str(), parsed.error().reason.c_str());
      return kExitUsage;
    }
    earlier = std::move(*parsed);
    earlier_bytes = std::move(*bytes);
  }
  const std::string user = !a.user.empty() ? a.user : (std::getenv("PGUSER") ? std::getenv("PGUSER") : "postgres");

  // The recording proxy's own files: a ledger, its checkpoint key, an empty registry.
  std::string tmpl = (fs::temp_directory_path() / "ddlgate-record-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return fail("cannot make a temporary directory: " + std::string(std::strerror(errno)));
  const fs::path tmp(tmpl);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{tmp};
  auto key = base::SigningKey::generate();
  if (!key) return fail("OpenSSL could not generate an Ed25519 key");
  fs::create_directories(tmp / "registry", ec);
  const auto& pk = key->public_key();
  const std::string pub = base::base64_encode(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size()));
  // Monitor mode: every controlled statement is allowed and recorded as would_deny; no pacing
  // of refusals, so that none goes unrecorded. The command's user is listed among the superusers
  // so that a superuser's reads stay reads (the scratch database is not production).
  auto quoted = [](const std::string& v) {
    std::string o = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o + "\"";
  };
  const std::string toml =
      "[log]\nlevel = \"error\"\n[listen]\naddresses = [" + quoted(a.listen) + "]\n[upstream]\naddress = " +
      quoted(a.upstream) + "\n[limits]\ndenials_per_second = 0\n[enforcement]\nmode = \"monitor\"\n"
      "superusers = [" + quoted(user) + "]\n[ledger]\ndirectory = " +
      quoted((tmp / "ledger").string()) + "\ncheckpoint_key_file = " + quoted((tmp / "ledger.key").string()) +
      "\n[bundles]\nregistry_dir = " + quoted((tmp / "registry").string()) +
      "\nenvironment = \"record\"\ntrust_file = " + quoted((tmp / "trust.toml").string()) + "\n";
  if (!write_text(tmp / "ledger.key", key->private_pem(), 0600) ||
      !write_text(tmp / "trust.toml", "[roles.registry]\nthreshold = 1\nkeys = [\"" + pub + "\"]\n") ||
      !write_text(tmp / "ddlgate.toml", toml)) {
    return fail("cannot write to " + tmp.string());
  }
  config::LoadResult loaded = config::load_file(tmp / "ddlgate.toml");
  if (!loaded.problems.empty()) {
    std::string why;
    for (const auto& p : loaded.problems) why += (why.empty() ? "" : "; ") + p.where + ": " + p.message;
    std::fprintf(stderr, "%s: %s\n", kCmd, why.c_str());
    return kExitUsage;
  }

  ScratchDatabase scratch;
  if (auto st = scratch.connect(*upstream, a.database, user); !st) return fail(st.error().reason);
  if (auto st = scratch.exec(kInstallTrigger, "cannot install the search_path event trigger (it needs a superuser)");
      !st) {
    return fail(st.error().reason);
  }
  struct TriggerRemover {
    ScratchDatabase* db;
    ~TriggerRemover() {
      if (auto st = db->exec(kRemoveTrigger, "cannot remove the event trigger ddlgate_record_search_path"); !st) {
        std::fprintf(stderr, "%s: %s\n", kCmd, st.error().reason.c_str());
      }
    }
  } remover{&scratch};

  proxy::configure_logging(loaded.config.log_format, loaded.config.log_level);
  // The runs, in order: up, up again (its per-run bookkeeping), and with --down: rollback, up
  // (applies the last migration again), rollback, up (the second pair checks the first, and
  // leaves the scratch database at the head, where it was).
  const std::vector<std::string> down_command = {"/bin/sh", "-c", a.down};
  struct Run {
    const std::vector<std::string>* command;
    const char* name;
    std::vector<ledger::ParsedRecord> records;
  };
  std::vector<Run> runs = {{&a.command, "the command", {}}};
  if (!a.once) runs.push_back({&a.command, "the command's second run", {}});
  if (!a.down.empty()) {
    runs.push_back({&down_command, "the rollback command (--down)", {}});
    runs.push_back({&a.command, "the command after the rollback", {}});
    runs.push_back({&down_command, "the rollback command's second run", {}});
    runs.push_back({&a.command, "the command after the second rollback", {}});
  }
  std::vector<Seen> seen;
  try {
    proxy::Server server(loaded.config, {}, loaded.file);
    auto endpoints = server.bind();
    std::thread serving([&server] { server.run(); });
    struct Stopper {
      proxy::Server& s;
      std::thread& t;
      ~Stopper() {
        s.stop();
        if (t.joinable()) t.join();
      }
    } stopper{server, serving};
    auto at = config::parse_host_port(endpoints.at(0));
    if (!at) return fail("the recording proxy's address " + endpoints.at(0) + ": " + at.error().reason);
    const std::string port = std::to_string(at->port);
    const std::vector<std::string> env = {
        "PGHOST=" + at->host, "PGPORT=" + port, "PGDATABASE=" + a.database, "PGUSER=" + user, "PGSSLMODE=disable",
        "DATABASE_URL=postgres://" + user + "@" + at->host + ":" + port + "/" + a.database + "?sslmode=disable"};
    // The command runs twice: the first run migrates the scratch database; what the second run
    // still sends is what the tool sends on every run (its bookkeeping), approved as repeatable.
    std::uint64_t next = 0;
    for (std::size_t run = 0; run < runs.size(); ++run) {
      auto rc = run_command(*runs[run].command, env);
      if (!rc) return fail(rc.error().reason);
      if (*rc != 0) {
        return fail(std::string(runs[run].name) + " exited with " + std::to_string(*rc) + "; nothing recorded" +
                    (run == 1 ? " (a command that cannot run twice: --once, and nothing is repeatable)" : "") +
                    (run >= 2 ? " (the scratch database may now be below its head: make it again before "
                                "recording again)" : ""));
      }
      auto records = read_ledger(tmp / "ledger", next, &next);
      if (!records) return fail("cannot read the recording ledger: " + records.error().reason);
      runs[run].records = std::move(*records);
    }
  } catch (const std::exception& e) {
    return fail(std::string("the recording proxy: ") + e.what());
  }
  auto rows = scratch.seen();
  if (!rows) return fail(rows.error().reason);
  seen = std::move(*rows);

  // In the order the runs happened: each takes the trigger's rows in turn.
  std::vector<Capture> captured;
  bool refused = false;
  for (const auto& run : runs) {
    captured.push_back(capture(run.records, seen));
    for (const auto& r : captured.back().refused) {
      std::fprintf(stderr, "%s: refused (%s): %s\n", kCmd, run.name, r.c_str());
      refused = true;
    }
  }
  if (refused) return fail("nothing written to " + out.string());
  bundle::Recording recording{std::move(captured[0].statements),
                              a.once ? std::vector<bundle::RecordedStatement>{} : std::move(captured[1].statements),
                              {}, 0, 0};
  if (recording.statements.empty()) return fail("the command sent no controlled statement; nothing to record");
  if (!a.down.empty()) {
    // The two rollbacks, and the two runs that applied the last migration again, must agree.
    std::vector<std::string> diff;
    compare_lists(captured[2].statements, captured[4].statements, "rollback statement", diff);
    compare_lists(captured[3].statements, captured[5].statements, "statement applied again after the rollback", diff);
    if (!diff.empty()) {
      for (const auto& d : diff) std::fprintf(stderr, "%s: non-deterministic (second rollback): %s\n", kCmd, d.c_str());
      return fail("the rollback differs between its two runs (" + std::to_string(diff.size()) +
                  " statements); nothing written to " + out.string());
    }
    if (auto st = attribute_down(recording, captured[2].statements, captured[3].statements); !st) {
      return fail(st.error().reason);
    }
  }
  const std::string index = bundle::recording_index_json(recording);

  if (earlier) {
    auto diff = differences(*earlier, recording);
    if (!diff.empty() || index != earlier_bytes) {
      for (const auto& d : diff) std::fprintf(stderr, "%s: non-deterministic: %s\n", kCmd, d.c_str());
      return fail("this run differs from the recording in " + out.string() + " (" + std::to_string(diff.size()) +
                  " statements); nothing written: make the migrations give the same statements every run");
    }
    std::printf("%s: identical to the earlier recording (%zu statements, %zu repeatable, %zu down)\n", out.c_str(),
                recording.statements.size(), recording.repeatable.size(), recording.down.size());
    return kExitOk;
  }
  if (!fs::create_directories(out, ec)) return fail("cannot create " + out.string() + ": " + ec.message());
  bool ok = write_text(out / bundle::kRecordedFile,
                       bundle::recorded_sql_text(recording.statements, "What the tool sent on its first run"));
  if (!recording.repeatable.empty()) {
    ok = ok && write_text(out / bundle::kRepeatableFile,
                          bundle::recorded_sql_text(recording.repeatable,
                                                    "What the tool sent again on a second run (approved as repeatable)"));
  }
  if (!recording.down.empty()) {
    ok = ok && write_text(out / bundle::kDownFile,
                          bundle::recorded_sql_text(
                              recording.down, "What the tool's rollback (--down) sent: the down part of recorded.sql.\n"
                                              "-- It undoes the last migration: statements " +
                                              std::to_string(recording.down_undoes_first) + " to " +
                                              std::to_string(recording.down_undoes_last) +
                                              " of recorded.sql, which the command applied again after the rollback"));
  }
  ok = ok && write_text(out / bundle::kRecordingIndex, index);
  if (!ok) return fail("cannot write to " + out.string());
  // What was written must read back as `bundle build --tool recorded` will read it.
  std::vector<bundle::Problem> problems;
  bundle::recorded_files(out, problems);
  if (!problems.empty()) {
    for (const auto& p : problems) std::fprintf(stderr, "%s: %s: %s\n", kCmd, out.c_str(), p.to_string().c_str());
    fs::remove_all(out, ec);
    return fail("the recorded source does not read back as recorded; nothing written");
  }
  std::printf("%s: %zu statements recorded, %zu of them repeatable", out.c_str(), recording.statements.size(),
              recording.repeatable.size());
  if (!recording.down.empty()) {
    std::printf("; the rollback: %zu down statements, undoing statements %zu to %zu", recording.down.size(),
                recording.down_undoes_first, recording.down_undoes_last);
  }
  std::printf("\n");
  return kExitOk;
}

}  // namespace

void add_bundle_record(CLI::App& bundle, Runner& runner) {
  auto* cmd = bundle.add_subcommand(
      "record", "run a migration tool through a recording proxy in front of a scratch database");
  auto a = std::make_shared<RecordArgs>();
  cmd->add_option("--upstream", a->upstream, "the scratch database's server, HOST:PORT")->required();
  cmd->add_option("--listen", a->listen, "where the recording proxy listens (default 127.0.0.1:0: a free port)");
  cmd->add_option("--out", a->out, "the recorded source directory to write (or to check a new run against)")
      ->required();
  cmd->add_option("--database", a->database, "the scratch database the command migrates (default postgres)");
  cmd->add_option("--user", a->user, "the role the command connects as (default $PGUSER, else postgres)");
  cmd->add_flag("--once", a->once, "run the command once: nothing it sends is approved as repeatable");
  cmd->add_option("--down", a->down,
                  "the tool's rollback of its last migration, a shell command (/bin/sh -c): recorded as "
                  "recorded.sql's down part (down.sql)");
  cmd->add_option("command", a->command, "the command to run, after --")->required();
  cmd->callback([&runner, a] { runner = [a] { return run_record(*a); }; });
}

}  // namespace ddlgate::cli
