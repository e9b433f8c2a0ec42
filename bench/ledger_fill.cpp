// Fills a ledger with N records of deploy traffic, for bench/report.sh: sessions of four approved
// statements with their outcomes (one rolled back, one failed) and a denial, one session in a
// hundred under break-glass, each session opened and closed. Usage: ledger_fill DIR KEY N
// [BUNDLE_DIR|-] [unsettled|monitor]: with BUNDLE_DIR, the bundle_accepted record names it and its
// manifest.json's SHA-256 (so `evidence export` finds the manifest); with `unsettled`, no
// session writes an outcome or closes (a proxy killed mid-deploy, again and again); with
// `monitor`, each session is followed by a direct change the guard recorded (an out_of_band
// record, about one record in twelve), every 10th by a guard refusal count, every 100th by a
// catalog change, every 500th by drift (or, the next time, its clearing) and every 1,000th by
// the guard found tampered with and whole again: serve's guard monitor at work.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "ddlgate/base/file.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/record.h"

namespace lg = ddlgate::ledger;

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6 || (argc == 6 && std::string(argv[5]) != "unsettled" && std::string(argv[5]) != "monitor")) {
    std::fprintf(stderr, "usage: ledger_fill DIR KEY N [BUNDLE_DIR|-] [unsettled|monitor]\n");
    return 2;
  }
  lg::LedgerConfig c;
  c.directory = argv[1];
  c.checkpoint_key_file = argv[2];
  const long n = std::atol(argv[3]);
  auto l = lg::Ledger::open(c);
  if (!l) {
    std::fprintf(stderr, "ledger_fill: %s\n", l.error().to_string().c_str());
    return 1;
  }
  std::vector<std::future<lg::AppendResult>> pending;
  long written = 0;
  auto put = [&](lg::Record r) {
    pending.push_back((*l)->append(std::move(r)));
    ++written;
    if (pending.size() >= 2000) {
      for (auto& f : pending) f.get();
      pending.clear();
    }
  };
  lg::BundleAcceptance a;
  a.bundle = "shop";
  a.version = "7";
  a.manifest_sha256 = std::string(64, 'a');
  a.source = "/var/lib/ddlgate/registry/shop-7";
  if (argc >= 5 && std::string(argv[4]) != "-") {
    auto manifest = ddlgate::base::read_capped(std::filesystem::path(argv[4]) / "manifest.json", 16 << 20);
    if (!manifest) {
      std::fprintf(stderr, "ledger_fill: %s\n", manifest.error().to_string().c_str());
      return 1;
    }
    a.manifest_sha256 = ddlgate::base::sha256_hex(*manifest);
    a.source = argv[4];
  }
  const bool unsettled = argc == 6 && std::string(argv[5]) == "unsettled";
  const bool monitor = argc == 6 && std::string(argv[5]) == "monitor";
  a.repository = "git@example.com:shop/db.git";
  a.commit = "4f2a9c1";
  a.pull_request = "https://example.com/shop/db/pull/12";
  a.ci_run = "https://ci.example.com/runs/99";
  put(lg::bundle_accepted(a));
  for (long s = 0; written < n; ++s) {
    const std::string id = "bench-" + std::to_string(s);
    const lg::SessionInfo who{id, s % 5 ? "deployer" : "app", "db" + std::to_string(s % 3), "10.0.0.7:5000", "migrate"};
    put(lg::session_opened(who));
    const bool break_glass = s % 100 == 99;
    for (int i = 0; i < 4; ++i) {
      const std::string hash = "sha256:" + std::to_string(s * 4 + i);
      const std::string sql = "ALTER TABLE t" + std::to_string(i) + " ADD COLUMN c" + std::to_string(s) + " int";
      lg::DecisionInfo d;
      d.session = who;
      d.statement_hash = hash;
      d.statement_class = "schema_change";
      d.display_sql = sql;
      if (break_glass) {
        d.decision = lg::Decision::break_glass;
        d.token_id = "tok-" + std::to_string(s);
      } else {
        d.decision = lg::Decision::allowed;
        d.approval = lg::Approval{"shop", "7", "001.sql", static_cast<std::uint64_t>(i + 1)};
      }
      put(lg::decision(d));
      if (unsettled) continue;
      if (i == 2) {
        put(lg::outcome_rolled_back(id, hash));
      } else if (i == 3 && s % 10 == 0) {
        put(lg::outcome_failed(id, hash, "42P07"));
      } else {
        put(lg::outcome_executed(id, hash, "ALTER TABLE"));
      }
    }
    lg::DecisionInfo denied;
    denied.session = who;
    denied.decision = lg::Decision::denied;
    denied.statement_hash = "sha256:drop";
    denied.statement_class = "schema_change";
    denied.display_sql = "DROP TABLE accounts";
    denied.reason = "no signed bundle approves it for this database";
    put(lg::decision(denied));
    if (!unsettled) put(lg::session_closed(id, "client terminated"));
    if (!monitor) continue;
    const std::string db = who.database;
    lg::OutOfBandChange g;
    g.database = db;
    g.source = "guard";
    g.change_id = static_cast<std::uint64_t>(s + 1);
    g.event = "ddl_command_end";
    g.user = g.session_user = "dba";
    g.backend_pid = 4000 + s % 1000;
    g.backend_start = g.at = "2026-12-07 08:00:00+00";
    g.command_tag = "CREATE TABLE";
    g.object_type = "table";
    g.object_identity = "public.direct_" + std::to_string(s);
    g.statement_sha256 = std::string(64, 'b');
    g.display_sql = "CREATE TABLE direct_" + std::to_string(s) + " (id int)";
    g.reason = "CREATE TABLE public.direct_" + std::to_string(s) + " by dba";
    put(lg::out_of_band(g));
    if (s % 10 == 9) {
      lg::OutOfBandChange r;
      r.database = db;
      r.source = "guard_refusal";
      r.refusals = 2;
      r.refusals_total = static_cast<std::uint64_t>(s / 10 + 1) * 2;
      r.reason = "the guard refused 2 change(s)";
      put(lg::out_of_band(r));
    }
    if (s % 100 == 50) {
      lg::OutOfBandChange c;
      c.database = db;
      c.source = "catalog";
      c.object = "role r" + std::to_string(s);
      c.change = "created";
      c.reason = "role r" + std::to_string(s) + " created";
      put(lg::out_of_band(c));
    }
    if (s % 500 == 250) {
      if (s % 1000 == 250) {
        put(lg::schema_drift(db, "drift", 2, {"table public.direct_" + std::to_string(s) + ": in production, not approved",
                                              "column public.t0.c1: type int in production, text approved"},
                             "shop v7"));
      } else {
        put(lg::schema_drift(db, "clear", 0, {}, "shop v7"));
      }
    }
    if (s % 1000 == 999) {
      put(lg::guard_tampered(db, "tampered", {"event trigger ddlgate_guard_sql_drop is disabled"}));
      put(lg::guard_tampered(db, "intact", {}));
    }
  }
  for (auto& f : pending) f.get();
  if (auto closed = (*l)->close(); !closed) {
    std::fprintf(stderr, "ledger_fill: %s\n", closed.error().to_string().c_str());
    return 1;
  }
  std::printf("%ld records\n", written);
  return 0;
}
