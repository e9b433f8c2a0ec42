// Fills a ledger with N records of deploy traffic, for bench/report.sh: sessions of four approved
// statements with their outcomes (one rolled back, one failed) and a denial, one session in a
// hundred under break-glass, each session opened and closed. Usage: ledger_fill DIR KEY N
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/record.h"

namespace lg = ddlgate::ledger;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: ledger_fill DIR KEY N\n");
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
    put(lg::session_closed(id, "client terminated"));
  }
  for (auto& f : pending) f.get();
  if (auto closed = (*l)->close(); !closed) {
    std::fprintf(stderr, "ledger_fill: %s\n", closed.error().to_string().c_str());
    return 1;
  }
  std::printf("%ld records\n", written);
  return 0;
}
