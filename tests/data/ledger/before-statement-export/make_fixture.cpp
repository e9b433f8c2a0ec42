// Writes tests/data/ledger/before-statement-export/ledger with main's record builders at be376f2
// (the record version before issue 27 item 5); see README.md there. Not built by CMake.
#include <cstdio>
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/record.h"
namespace lg = ddlgate::ledger;
int main(int argc, char** argv) {
  lg::LedgerConfig c;
  c.directory = argv[1];
  c.checkpoint_key_file = argv[2];
  c.origin = "fixture.example/ddlgate/00000000000000a5";
  auto l = lg::Ledger::open(c);
  if (!l) { std::fprintf(stderr, "%s\n", l.error().to_string().c_str()); return 1; }
  auto& L = **l;
  auto put = [&](lg::Record r) { auto x = L.append_durable(std::move(r)); if (!x) { std::fprintf(stderr, "append\n"); std::exit(1);} };
  lg::ConfigChange cc; cc.event = "start"; cc.path = "/etc/ddlgate/ddlgate.toml"; cc.sha256 = "sha256:00"; cc.mode = "enforce";
  put(lg::config_reloaded(cc));
  put(lg::bundle_accepted("shop", "3", "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "/var/lib/ddlgate/registry/shop-3"));
  lg::SessionInfo s1{"s-1", "deployer", "shop_prod", "10.0.0.5:40122", "migrate"};
  put(lg::session_opened(s1));
  lg::DecisionInfo d; d.decision = lg::Decision::allowed; d.session = s1;
  d.statement_hash = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
  d.statement_class = "ddl"; d.display_sql = "ALTER TABLE orders ADD COLUMN note text";
  d.approval = lg::Approval{"shop", "3", "003_note.sql", 1};
  put(lg::decision(d));
  put(lg::outcome_executed("s-1", d.statement_hash, "ALTER TABLE"));
  lg::DecisionInfo n; n.decision = lg::Decision::denied; n.session = s1;
  n.statement_hash = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
  n.statement_class = "ddl"; n.display_sql = "DROP TABLE orders"; n.reason = "no signed bundle approves this statement";
  put(lg::decision(n));
  lg::DecisionInfo r = d; r.statement_hash = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
  r.display_sql = "CREATE INDEX orders_note ON orders (note)"; r.approval = lg::Approval{"shop", "3", "003_note.sql", 2};
  put(lg::decision(r));
  put(lg::outcome_rolled_back("s-1", r.statement_hash));
  put(lg::session_closed("s-1", "client terminated"));
  lg::SessionInfo s2{"s-2", "dba", "shop_prod", "10.0.0.9:51000", "psql"};
  put(lg::session_opened(s2));
  lg::BreakGlassOpening o; o.session = s2; o.token_id = "tok-7"; o.token_sha256 = "sha256:77"; o.key_id = "ed25519:0011223344556677";
  o.issuer = "oncall-lead"; o.reason = "hotfix"; o.ticket = "INC-42"; o.not_before = "2026-12-01T00:00:00Z"; o.expires = "2026-12-01T01:00:00Z";
  o.single_use = true; o.source = "set";
  put(lg::break_glass_opened(o));
  lg::DecisionInfo b; b.decision = lg::Decision::break_glass; b.session = s2; b.token_id = "tok-7";
  b.statement_hash = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
  b.statement_class = "ddl"; b.display_sql = "DROP INDEX orders_note";
  put(lg::decision(b));
  put(lg::outcome_failed("s-2", b.statement_hash, "42704"));
  put(lg::session_statement(s2, "tok-7", "sha256:5555555555555555555555555555555555555555555555555555555555555555", "read", "SELECT 1"));
  put(lg::break_glass_closed("s-2", "tok-7", "session ended"));
  put(lg::session_closed("s-2", "client terminated"));
  auto st = L.close();
  if (!st) { std::fprintf(stderr, "close\n"); return 1; }
  return 0;
}
