// `ddlgate ledger verify|export|summary|tail|accept-rollback|rotate-key`: offline checks and views of a ledger directory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <pwd.h>
#include <unistd.h>

#include "commands.h"
#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/file.h"
#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/monitor_rows.h"
#include "ddlgate/ledger/statements.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::cli {
namespace {

namespace lg = ddlgate::ledger;

struct VerifyArgs {
  std::string path;
  std::string pubkey;
  std::string checkpoints;
  std::string copy;
  std::string origin;
  std::vector<std::string> witness_keys;  // vkeys
  std::size_t witness_quorum = 0;
  std::string cosignatures;               // default: <dir>/cosignatures
};

// With --witness-quorum N: the latest checkpoint must carry valid cosignatures of at least N
// distinct witness keys (docs/ledger.md, "Requiring a quorum"). Returns the failure, if any.
std::optional<std::string> check_witness_quorum(const VerifyArgs& a) {
  std::vector<lg::VerifierKey> keys;
  for (const auto& v : a.witness_keys) keys.push_back(*lg::parse_vkey(v));  // checked in run_verify
  auto r = lg::latest_cosigned(a.path, a.cosignatures, keys);
  if (!r) return r.error().to_string();
  if (r->cosigners < a.witness_quorum) {
    return "the checkpoint at tree size " + std::to_string(r->tree_size) + " has " + std::to_string(r->cosigners) +
           " valid witness cosignature(s) in " + r->file.string() + ", fewer than the quorum of " +
           std::to_string(a.witness_quorum);
  }
  std::printf("%s: witness quorum: the checkpoint at tree size %llu has %zu of %zu required cosignature(s)\n",
              a.path.c_str(), static_cast<unsigned long long>(r->tree_size), r->cosigners, a.witness_quorum);
  return std::nullopt;
}

int run_verify(const VerifyArgs& a) {
  // A key file that declares another use (ddlgate keygen --use) is not the checkpoint key.
  if (auto text = base::read_capped(a.pubkey, 16 * 1024, base::Links::follow)) {
    auto use = base::declared_key_use(*text);
    std::string why = !use ? use.error().reason
                      : (*use && **use != base::KeyUse::ledger)
                          ? "the key is for '" + std::string(base::to_string(**use)) + "' use, not a ledger key"
                          : std::string();
    if (!why.empty()) {
      std::fprintf(stderr, "ddlgate ledger verify: --pubkey: %s: %s\n", a.pubkey.c_str(), why.c_str());
      return kExitUsage;
    }
  }
  auto key = lg::NoteVerifier::load_pem(a.pubkey);
  if (!key) {
    std::fprintf(stderr, "ddlgate ledger verify: %s\n", key.error().to_string().c_str());
    return kExitUsage;
  }
  for (const auto& v : a.witness_keys) {
    auto k = lg::parse_vkey(v);
    if (!k || k->type != lg::kSigTypeCosignatureV1) {
      std::fprintf(stderr, "ddlgate ledger verify: --witness-key %s: %s\n", v.c_str(),
                   k ? "not a cosignature/v1 key (type 0x04)" : k.error().reason.c_str());
      return kExitUsage;
    }
  }
  if (a.witness_quorum > a.witness_keys.size()) {
    std::fprintf(stderr, "ddlgate ledger verify: --witness-quorum %zu needs at least as many --witness-key\n",
                 a.witness_quorum);
    return kExitUsage;
  }
  std::error_code ec;
  bool is_dir = std::filesystem::is_directory(a.path, ec);
  if (a.witness_quorum > 0 && !is_dir) {
    std::fprintf(stderr, "ddlgate ledger verify: --witness-quorum applies to a ledger directory\n");
    return kExitUsage;
  }
  if (!is_dir && !std::filesystem::is_regular_file(a.path, ec)) {
    std::fprintf(stderr, "ddlgate ledger verify: %s: no such ledger directory or export file\n", a.path.c_str());
    return kExitUsage;
  }
  lg::VerifyReport rep;
  if (is_dir) {
    lg::VerifyOptions o;
    o.extra_checkpoints = a.checkpoints;
    if (!a.copy.empty()) o.extra_checkpoints = std::filesystem::path(a.copy) / lg::kCheckpointsFileName;
    o.origin = a.origin;
    rep = lg::verify_directory(a.path, *key, o);
  } else {
    rep = lg::verify_export(a.path, *key, a.origin);
  }
  if (!rep.ok()) {
    std::fprintf(stderr, "%s: FAILED: %s\n", a.path.c_str(), rep.problem->to_string().c_str());
    std::fprintf(stderr, "%s: %llu record(s) read before the problem, %llu covered by a valid signature\n",
                 a.path.c_str(), static_cast<unsigned long long>(rep.records),
                 static_cast<unsigned long long>(rep.covered));
    return kExitCheckFailed;
  }
  if (rep.keys > 1) {
    std::printf("%s: followed %zu key(s): the pinned key and the key rotations it signed\n", a.path.c_str(), rep.keys);
  }
  std::printf("%s: ok: %llu record(s), %llu checkpoint(s), %llu record(s) covered by a signature, origin %s\n",
              a.path.c_str(), static_cast<unsigned long long>(rep.records),
              static_cast<unsigned long long>(rep.checkpoints), static_cast<unsigned long long>(rep.covered),
              rep.origin.empty() ? "(none yet)" : rep.origin.c_str());
  if (rep.records > rep.covered) {
    std::printf("%s: %llu record(s) %s not yet covered by a checkpoint\n", a.path.c_str(),
                static_cast<unsigned long long>(rep.records - rep.covered),
                is_dir ? "after the last checkpoint are" : "in the export are");
  }
  if (rep.in_flight > 0) {
    std::printf("%s: %llu frame(s) of an unfinished batch at the end (not yet durable, not counted)\n",
                a.path.c_str(), static_cast<unsigned long long>(rep.in_flight));
  }
  if (a.witness_quorum > 0) {
    if (auto problem = check_witness_quorum(a)) {
      std::fprintf(stderr, "%s: FAILED: %s\n", a.path.c_str(), problem->c_str());
      return kExitCheckFailed;
    }
  }
  return kExitOk;
}

struct ExportArgs {
  std::string dir;
  std::string format = "jsonl";
  std::string rows = "records";
  std::string out;
  std::string from, to, type, decision, user, database, session;
};

int run_export(const ExportArgs& a) {
  if (!std::filesystem::is_directory(a.dir)) {
    std::fprintf(stderr, "ddlgate ledger export: %s: not a ledger directory\n", a.dir.c_str());
    return kExitUsage;
  }
  lg::ExportFilter f;
  auto opt = [](const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); };
  // Record times carry microseconds; a bound given to the second covers that whole second.
  auto widen = [](std::string t, const char* frac) {
    if (!t.empty() && t.back() == 'Z' && t.find('.') == std::string::npos) t.insert(t.size() - 1, frac);
    return t;
  };
  f.from = opt(widen(a.from, ".000000"));
  f.to = opt(widen(a.to, ".999999"));
  f.decision = opt(a.decision);
  f.user = opt(a.user);
  f.database = opt(a.database);
  f.session = opt(a.session);
  if (!a.type.empty()) {
    f.type = lg::record_type_from_string(a.type);
    if (!f.type) {
      std::fprintf(stderr, "ddlgate ledger export: --type: unknown record type \"%s\"\n", a.type.c_str());
      return kExitUsage;
    }
  }
  if (a.rows == "statements" && f.type && *f.type != lg::RecordType::decision) {
    std::fprintf(stderr, "ddlgate ledger export: --rows statements has one row per decision; --type cannot be %s\n",
                 a.type.c_str());
    return kExitUsage;
  }
  if (a.rows == "monitor" && (!a.type.empty() || !a.decision.empty() || !a.session.empty())) {
    std::fprintf(stderr,
                 "ddlgate ledger export: --rows monitor has one row per out_of_band, guard_tampered or schema_drift "
                 "record; --type, --decision and --session do not apply\n");
    return kExitUsage;
  }
  auto format = a.format == "csv" ? lg::ExportFormat::csv : lg::ExportFormat::jsonl;
  auto write = [&](std::ostream& out) {
    if (a.rows == "monitor") return lg::export_monitor(a.dir, f, format, out);
    return a.rows == "statements" ? lg::export_statements(a.dir, f, format, out)
                                  : lg::export_ledger(a.dir, f, format, out);
  };
  lg::Status st = lg::Ok{};
  if (a.out.empty()) {
    st = write(std::cout);
    std::cout.flush();
  } else {
    std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
    if (!out) {
      std::fprintf(stderr, "ddlgate ledger export: %s: cannot create\n", a.out.c_str());
      return kExitUsage;
    }
    st = write(out);
  }
  if (!st) {
    std::fprintf(stderr, "%s: FAILED: %s\n", a.dir.c_str(), st.error().to_string().c_str());
    return kExitCheckFailed;
  }
  return kExitOk;
}

struct AcceptArgs {
  std::string ledger, key, copy, reason;
};

// The OS user running the command (and the one sudo says ran it, when it did).
std::string os_user() {
  std::string name;
  if (const passwd* pw = ::getpwuid(::getuid())) name = pw->pw_name;
  if (name.empty()) name = "uid " + std::to_string(::getuid());
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) name += " (sudo by " + std::string(sudo) + ")";
  return name;
}

int run_accept_rollback(const AcceptArgs& a) {
  if (!std::filesystem::is_directory(a.ledger)) {
    std::fprintf(stderr, "ddlgate ledger accept-rollback: %s: not a ledger directory\n", a.ledger.c_str());
    return kExitUsage;
  }
  if (!std::filesystem::is_regular_file(std::filesystem::path(a.copy) / lg::kCheckpointsFileName)) {
    std::fprintf(stderr, "ddlgate ledger accept-rollback: %s: no checkpoints file in the copy directory\n",
                 a.copy.c_str());
    return kExitUsage;
  }
  lg::LedgerConfig c;
  c.directory = a.ledger;
  c.checkpoint_key_file = a.key;
  c.checkpoint_copy_directory = a.copy;
  auto r = lg::accept_rollback(c, os_user(), a.reason);
  if (!r) {
    std::fprintf(stderr, "ddlgate ledger accept-rollback: %s\n", r.error().to_string().c_str());
    return kExitCheckFailed;
  }
  std::printf("%s: accepted (%s): %s\n", a.ledger.c_str(), r->kind.c_str(), r->detail.c_str());
  std::printf("%s: copy had tree size %llu root %s; ledger has %llu record(s) root %s\n", a.ledger.c_str(),
              static_cast<unsigned long long>(r->copy_size), r->copy_root.c_str(),
              static_cast<unsigned long long>(r->ledger_size), r->ledger_root.c_str());
  std::printf("%s: recorded as rollback_accepted by %s; the superseded copy is kept as %s\n", a.ledger.c_str(),
              r->by.c_str(), r->copy_file.c_str());
  return kExitOk;
}

struct RotateArgs {
  std::string ledger, key, new_key;
};

int run_rotate_key(const RotateArgs& a) {
  if (!std::filesystem::is_directory(a.ledger)) {
    std::fprintf(stderr, "ddlgate ledger rotate-key: %s: not a ledger directory\n", a.ledger.c_str());
    return kExitUsage;
  }
  lg::LedgerConfig c;
  c.directory = a.ledger;
  c.checkpoint_key_file = a.key;
  auto r = lg::rotate_key(c, a.new_key, os_user());
  if (!r) {
    std::fprintf(stderr, "ddlgate ledger rotate-key: %s\n", r.error().to_string().c_str());
    return kExitCheckFailed;
  }
  std::printf("%s: record %llu introduces the key of %s (signed by the old key, endorsed by the new one); set "
              "ledger.checkpoint_key_file to it before the next start\n",
              a.ledger.c_str(), static_cast<unsigned long long>(*r), a.new_key.c_str());
  return kExitOk;
}

std::string human(const lg::ParsedRecord& r) {
  std::string s = "#" + std::to_string(r.seq) + " " + r.time + " " + lg::to_string(r.type);
  for (const auto& [k, v] : r.fields.items()) {
    if (k == "note") continue;  // the signed note is long and multi-line; verify checks it
    s += " " + k + "=";
    // JSON quoting keeps control characters and quotes in SQL text from garbling the terminal.
    s += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return s;
}

int run_tail(const std::string& dir, bool follow, std::uint64_t lines) {
  if (!std::filesystem::is_directory(dir)) {
    std::fprintf(stderr, "ddlgate ledger tail: %s: not a ledger directory\n", dir.c_str());
    return kExitUsage;
  }
  std::uint64_t next = 0;
  std::vector<std::string> last;
  auto st = lg::read_records(dir, 0, [&](const lg::ParsedRecord& r) {
    last.push_back(human(r));
    if (last.size() > lines) last.erase(last.begin());
  }, &next);
  for (const auto& l : last) std::printf("%s\n", l.c_str());
  std::fflush(stdout);
  if (!st) {
    std::fprintf(stderr, "%s: FAILED: %s\n", dir.c_str(), st.error().to_string().c_str());
    return kExitCheckFailed;
  }
  while (follow) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::uint64_t from = next;
    st = lg::read_records(dir, from, [&](const lg::ParsedRecord& r) { std::printf("%s\n", human(r).c_str()); }, &next);
    std::fflush(stdout);
    if (!st) {
      std::fprintf(stderr, "%s: FAILED: %s\n", dir.c_str(), st.error().to_string().c_str());
      return kExitCheckFailed;
    }
  }
  return kExitOk;
}

// `ledger summary`: what monitor mode would have refused (and enforce mode refused), grouped
// by database, user and statement, for the rollout (docs/rollout.md).
struct SummaryArgs {
  std::string dir;
  std::string format = "text";
  std::string from, to;
};

struct SummaryRow {
  std::string database, user, hash, cls, display_sql;
  std::uint64_t would_deny = 0, denied = 0;
  std::string first_seen, last_seen;
};

std::string field_text(const nlohmann::json& fields, const char* name) {
  auto it = fields.find(name);
  return it != fields.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// JSON quoting: control characters and quotes in client-chosen text cannot garble a terminal.
std::string json_quoted(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int run_summary(const SummaryArgs& a) {
  if (!std::filesystem::is_directory(a.dir)) {
    std::fprintf(stderr, "ddlgate ledger summary: %s: not a ledger directory\n", a.dir.c_str());
    return kExitUsage;
  }
  lg::ExportFilter f;
  auto widen = [](std::string t, const char* frac) {
    if (!t.empty() && t.back() == 'Z' && t.find('.') == std::string::npos) t.insert(t.size() - 1, frac);
    return t;
  };
  if (!a.from.empty()) f.from = widen(a.from, ".000000");
  if (!a.to.empty()) f.to = widen(a.to, ".999999");
  f.type = lg::RecordType::decision;
  std::map<std::tuple<std::string, std::string, std::string>, SummaryRow> groups;
  std::uint64_t next = 0;
  auto st = lg::read_records(a.dir, 0, [&](const lg::ParsedRecord& r) {
    if (!f.matches(r)) return;
    const std::string decision = field_text(r.fields, "decision");
    const bool would_deny = decision == "would_deny";
    if (!would_deny && decision != "denied") return;
    std::string database = field_text(r.fields, "database"), user = field_text(r.fields, "user"),
                hash = field_text(r.fields, "statement_hash");
    auto [it, fresh] = groups.try_emplace({database, user, hash});
    SummaryRow& row = it->second;
    if (fresh) {
      row.database = std::move(database);
      row.user = std::move(user);
      row.hash = std::move(hash);
      row.cls = field_text(r.fields, "class");
      row.display_sql = field_text(r.fields, "display_sql");
      row.first_seen = r.time;
    }
    // Monitor mode writes one would_deny for a burst of the same refusal and counts the rest in it.
    std::uint64_t n = 1;
    if (auto s = r.fields.find("suppressed"); s != r.fields.end() && s->is_number_unsigned()) n += s->get<std::uint64_t>();
    (would_deny ? row.would_deny : row.denied) += n;
    row.last_seen = r.time;
  }, &next);
  if (!st) {
    std::fprintf(stderr, "%s: FAILED: %s\n", a.dir.c_str(), st.error().to_string().c_str());
    return kExitCheckFailed;
  }
  std::vector<SummaryRow> rows;
  rows.reserve(groups.size());
  for (auto& [k, row] : groups) rows.push_back(std::move(row));
  // Most frequent first; ties in (database, user, statement) order, so the output is stable.
  std::stable_sort(rows.begin(), rows.end(), [](const SummaryRow& x, const SummaryRow& y) {
    return x.would_deny + x.denied > y.would_deny + y.denied;
  });
  if (a.format == "csv") {
    auto cell = [](std::string_view v) {
      // As the exports' cells (RFC 4180, no formula injection): the client chose these texts.
      std::string c(v);
      if (!c.empty() && (c[0] == '=' || c[0] == '+' || c[0] == '-' || c[0] == '@' || c[0] == '\t' || c[0] == '\r'))
        c.insert(c.begin(), '\'');
      if (c.find_first_of(",\"\r\n") == std::string::npos) return c;
      std::string q = "\"";
      for (char ch : c) {
        if (ch == '"') q += '"';
        q += ch;
      }
      return q + "\"";
    };
    std::printf("database,user,statement_hash,class,would_deny,denied,first_seen,last_seen,display_sql\r\n");
    for (const auto& r : rows) {
      std::printf("%s,%s,%s,%s,%llu,%llu,%s,%s,%s\r\n", cell(r.database).c_str(), cell(r.user).c_str(),
                  cell(r.hash).c_str(), cell(r.cls).c_str(), static_cast<unsigned long long>(r.would_deny),
                  static_cast<unsigned long long>(r.denied), cell(r.first_seen).c_str(), cell(r.last_seen).c_str(),
                  cell(r.display_sql).c_str());
    }
    return kExitOk;
  }
  std::uint64_t total = 0;
  for (const auto& r : rows) total += r.would_deny + r.denied;
  std::printf("%llu refusal(s) (would_deny and denied) of %zu statement(s) by database and user\n",
              static_cast<unsigned long long>(total), rows.size());
  for (const auto& r : rows) {
    std::string sql(lg::utf8_prefix(r.display_sql, 60));
    if (sql.size() < r.display_sql.size()) sql += "...";
    std::printf("database=%s user=%s would_deny=%llu denied=%llu first=%s last=%s %s %s %s\n",
                json_quoted(r.database).c_str(), json_quoted(r.user).c_str(), static_cast<unsigned long long>(r.would_deny),
                static_cast<unsigned long long>(r.denied), r.first_seen.c_str(), r.last_seen.c_str(),
                r.cls.c_str(), r.hash.empty() ? "(no hash)" : r.hash.c_str(), json_quoted(sql).c_str());
  }
  return kExitOk;
}

}  // namespace

void add_ledger(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("ledger", "verify, export or show the tamper-evident ledger");
  cmd->require_subcommand(1);

  auto va = std::make_shared<VerifyArgs>();
  auto* verify = cmd->add_subcommand("verify", "check a ledger directory or an export against a public key");
  verify->add_option("path", va->path, "ledger directory or JSON-lines export")->required();
  verify->add_option("--pubkey", va->pubkey, "PEM Ed25519 public key of the checkpoint signer")->required();
  verify->add_option("--checkpoints", va->checkpoints, "a shipped copy of the checkpoints file to compare with");
  verify->add_option("--copy", va->copy,
                     "the checkpoint copy directory (ledger.checkpoint_copy_directory) to compare with")
      ->excludes("--checkpoints");
  verify->add_option("--origin", va->origin,
                     "the ledger's origin (its origin file): notes signed under any other origin fail");
  verify->add_option("--witness-key", va->witness_keys, "a witness's vkey (name+id+key, type 0x04); repeatable");
  verify->add_option("--witness-quorum", va->witness_quorum,
                     "fail unless the latest checkpoint has valid cosignatures of this many --witness-key");
  verify->add_option("--cosignatures", va->cosignatures, "the cosignatures file (default: DIR/cosignatures)");
  verify->callback([&runner, va] { runner = [va] { return run_verify(*va); }; });

  auto ea = std::make_shared<ExportArgs>();
  auto* exp = cmd->add_subcommand("export", "export records with checkpoints and inclusion proofs");
  exp->add_option("dir", ea->dir, "ledger directory")->required();
  exp->add_option("--format", ea->format, "jsonl or csv")->check(CLI::IsMember({"jsonl", "csv"}));
  exp->add_option("--rows", ea->rows,
                  "records (every record, with inclusion proofs) or statements (one row per controlled statement: "
                  "decision, approval, outcome, break-glass token) or monitor (one row per out-of-band change, "
                  "guard refusal count, guard tampering or clearing, drift result)")
      ->check(CLI::IsMember({"records", "statements", "monitor"}));
  exp->add_option("--out", ea->out, "output file (default: standard output)");
  exp->add_option("--from", ea->from, "first time, RFC 3339 UTC (inclusive)");
  exp->add_option("--to", ea->to, "last time, RFC 3339 UTC (inclusive)");
  exp->add_option("--type", ea->type, "record type, e.g. decision");
  exp->add_option("--decision", ea->decision, "allowed, denied, would_deny or break_glass");
  exp->add_option("--user", ea->user, "database user");
  exp->add_option("--database", ea->database, "database name");
  exp->add_option("--session", ea->session, "session id");
  exp->callback([&runner, ea] { runner = [ea] { return run_export(*ea); }; });

  auto aa = std::make_shared<AcceptArgs>();
  auto* acc = cmd->add_subcommand(
      "accept-rollback",
      "with ddlgate stopped: accept a ledger that its checkpoint copy says was rolled back or forked (recorded)");
  acc->add_option("--ledger", aa->ledger, "ledger directory (ledger.directory)")->required();
  acc->add_option("--key", aa->key, "the checkpoint signing key (ledger.checkpoint_key_file)")->required();
  acc->add_option("--copy", aa->copy, "the checkpoint copy directory (ledger.checkpoint_copy_directory)")->required();
  acc->add_option("--reason", aa->reason, "why the rollback is accepted (e.g. the incident ticket)")->required();
  acc->callback([&runner, aa] { runner = [aa] { return run_accept_rollback(*aa); }; });

  auto ra = std::make_shared<RotateArgs>();
  auto* rot = cmd->add_subcommand(
      "rotate-key", "with ddlgate stopped: hand the ledger over to a new checkpoint key (a record signed by the old)");
  rot->add_option("--ledger", ra->ledger, "ledger directory (ledger.directory)")->required();
  rot->add_option("--key", ra->key, "the key in force (ledger.checkpoint_key_file)")->required();
  rot->add_option("--new-key", ra->new_key, "the new PEM Ed25519 private key (ddlgate keygen)")->required();
  rot->callback([&runner, ra] { runner = [ra] { return run_rotate_key(*ra); }; });

  auto sa = std::make_shared<SummaryArgs>();
  auto* sum = cmd->add_subcommand(
      "summary", "group would_deny and denied decisions by database, user and statement, with counts and first/last seen");
  sum->add_option("dir", sa->dir, "ledger directory")->required();
  sum->add_option("--format", sa->format, "text or csv")->check(CLI::IsMember({"text", "csv"}));
  sum->add_option("--from", sa->from, "first time, RFC 3339 UTC (inclusive)");
  sum->add_option("--to", sa->to, "last time, RFC 3339 UTC (inclusive)");
  sum->callback([&runner, sa] { runner = [sa] { return run_summary(*sa); }; });

  auto dir = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  auto lines = std::make_shared<std::uint64_t>(20);
  auto* tail = cmd->add_subcommand("tail", "show the last records, human readable");
  tail->add_option("dir", *dir, "ledger directory")->required();
  tail->add_flag("--follow,-f", *follow, "keep showing new records");
  tail->add_option("--lines,-n", *lines, "how many records to show first (default 20)");
  tail->callback([&runner, dir, follow, lines] { runner = [dir, follow, lines] { return run_tail(*dir, *follow, *lines); }; });
}

}  // namespace ddlgate::cli
