// The guard's operations over libpq. Every statement of an install runs in one
// transaction; a failure rolls all of it back and names the statement that failed.
#include "ddlgate/guard/guard.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "ddlgate/base/sha256.h"
#include "pq.h"

namespace ddlgate::guard {
namespace {

// Any of the two transaction-wide advisory keys serialises installs and uninstalls of one database.
constexpr const char* kInstallLock = "SELECT pg_catalog.pg_advisory_xact_lock(7235805734512345001)";

base::Status rollback_with(PGconn* c, base::Error error) {
  Res r(PQexec(c, "ROLLBACK"));
  return error;
}

base::Status require_superuser(PGconn* c, const std::string& command) {
  auto r = exec(c, "SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user", "checking the role");
  if (!r) return r.error();
  if (PQntuples(r->get()) != 1 || value(r->get(), 0, 1) != "t") {
    return base::Error("guard " + command + " needs a superuser (event triggers must be owned by one); connected as " +
                       (PQntuples(r->get()) == 1 ? value(r->get(), 0, 0) : std::string("?")));
  }
  return base::Ok{};
}

// The installed version, 0 when there is none.
base::Result<int> installed_version(PGconn* c) {
  auto r = exec(c, "SELECT pg_catalog.to_regclass('ddlgate.guard_version') IS NOT NULL", "reading the installed version");
  if (!r) return r.error();
  if (value(r->get(), 0, 0) != "t") return 0;
  auto v = exec(c, "SELECT version FROM ddlgate.guard_version", "reading the installed version");
  if (!v) return v.error();
  if (PQntuples(v->get()) != 1) return 0;
  return std::atoi(value(v->get(), 0, 0).c_str());
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    if (ch == '\n') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

base::Result<InstallReport> install(const std::string& conninfo, std::optional<Mode> mode) {
  auto conn = connect(conninfo);
  if (!conn) return conn.error();
  PGconn* c = conn->get();
  if (auto st = require_superuser(c, "install"); !st) return st.error();
  if (auto r = exec(c, "BEGIN", "BEGIN"); !r) return r.error();
  if (auto r = exec(c, kInstallLock, "waiting for another install"); !r) return rollback_with(c, r.error()).error();
  auto from = installed_version(c);
  if (!from) return rollback_with(c, from.error()).error();
  if (*from > kGuardVersion) {
    return rollback_with(c, base::Error("the installed guard is version " + std::to_string(*from) +
                                        ", newer than this ddlgate's " + std::to_string(kGuardVersion) +
                                        "; refusing to downgrade"))
        .error();
  }
  const auto statements = install_statements(*from, mode);
  for (std::size_t i = 0; i < statements.size(); ++i) {
    auto r = exec(c, statements[i], "install statement " + std::to_string(i + 1) + " (" + statements[i].substr(0, 60) + "...)");
    if (!r) return rollback_with(c, r.error()).error();
  }
  auto m = exec(c, "SELECT mode FROM ddlgate.guard_version", "reading the mode");
  if (!m) return rollback_with(c, m.error()).error();
  InstallReport report{*from, kGuardVersion, value(m->get(), 0, 0)};
  if (auto r = exec(c, "COMMIT", "COMMIT"); !r) return r.error();
  return report;
}

base::Result<StatusReport> status(const std::string& conninfo) {
  auto conn = connect(conninfo);
  if (!conn) return conn.error();
  PGconn* c = conn->get();
  StatusReport report;
  Observed& o = report.observed;
  auto schema = exec(c,
                     "SELECT n.oid, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace AS n "
                     "WHERE n.nspname = 'ddlgate'",
                     "reading the schema");
  if (!schema) return schema.error();
  if (PQntuples(schema->get()) == 1) {
    o.schema_exists = true;
    o.schema_owner = value(schema->get(), 0, 1);
    std::string oid = value(schema->get(), 0, 0);
    auto v = exec(c, "SELECT pg_catalog.to_regclass('ddlgate.guard_version') IS NOT NULL", "reading the version");
    if (!v) return v.error();
    if (value(v->get(), 0, 0) == "t") {
      auto row = exec(c, "SELECT version, mode, trigger_owner FROM ddlgate.guard_version", "reading ddlgate.guard_version");
      if (!row) return row.error();
      if (PQntuples(row->get()) == 1) {
        o.version = std::atoi(value(row->get(), 0, 0).c_str());
        o.mode = value(row->get(), 0, 1);
        o.trigger_owner = value(row->get(), 0, 2);
      }
    }
    auto fns = query(c,
                     "SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid), p.prosrc, p.prosecdef, "
                     "pg_catalog.array_to_string(p.proconfig, E'\\n'), pg_catalog.pg_get_userbyid(p.proowner) "
                     "FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = $1::pg_catalog.oid ORDER BY 1, 2",
                     {oid}, "reading the guard's functions");
    if (!fns) return fns.error();
    for (int i = 0; i < PQntuples(fns->get()); ++i) {
      ObservedFunction f;
      f.name = value(fns->get(), i, 0);
      f.identity_args = value(fns->get(), i, 1);
      f.body_sha256 = base::sha256_hex(value(fns->get(), i, 2));
      f.security_definer = value(fns->get(), i, 3) == "t";
      f.config = split_lines(value(fns->get(), i, 4));
      f.owner = value(fns->get(), i, 5);
      o.functions.push_back(std::move(f));
    }
    auto acl = query(c,
                     "SELECT c.relname, a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
                     "pg_catalog.pg_get_userbyid(a.grantee) END FROM pg_catalog.pg_class AS c, "
                     "pg_catalog.aclexplode(c.relacl) AS a WHERE c.relnamespace = $1::pg_catalog.oid "
                     "AND a.grantee <> c.relowner AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE') "
                     "ORDER BY 1, 3, 2",
                     {oid}, "reading the guard's table privileges");
    if (!acl) return acl.error();
    auto stats = exec(c,
                      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'ddlgate_guard') AND "
                      "pg_catalog.pg_has_role('ddlgate_guard', 'pg_read_all_stats', 'MEMBER')",
                      "reading ddlgate_guard's memberships");
    if (!stats) return stats.error();
    o.owner_reads_stats = value(stats->get(), 0, 0) == "t";
    for (int i = 0; i < PQntuples(acl->get()); ++i) {
      o.writable_by_others.push_back(value(acl->get(), i, 0) + ": " + value(acl->get(), i, 1) + " to " + value(acl->get(), i, 2));
    }
  }
  auto trig = exec(c,
                   "SELECT e.evtname, e.evtevent, e.evtenabled, r.rolname, r.rolsuper, pn.nspname || '.' || p.proname "
                   "FROM pg_catalog.pg_event_trigger AS e JOIN pg_catalog.pg_roles AS r ON r.oid = e.evtowner "
                   "JOIN pg_catalog.pg_proc AS p ON p.oid = e.evtfoid "
                   "JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.pronamespace "
                   "WHERE e.evtname LIKE 'ddlgate%' OR pn.nspname = 'ddlgate' ORDER BY 1",
                   "reading the event triggers");
  if (!trig) return trig.error();
  for (int i = 0; i < PQntuples(trig->get()); ++i) {
    ObservedTrigger t;
    t.name = value(trig->get(), i, 0);
    t.event = value(trig->get(), i, 1);
    std::string en = value(trig->get(), i, 2);
    t.enabled = en.empty() ? '?' : en[0];
    t.owner = value(trig->get(), i, 3);
    t.owner_is_superuser = value(trig->get(), i, 4) == "t";
    t.function = value(trig->get(), i, 5);
    o.triggers.push_back(std::move(t));
  }
  report.checks = evaluate(o);
  report.intact = intact(report.checks);
  return report;
}

base::Result<UninstallReport> uninstall(const std::string& conninfo) {
  auto conn = connect(conninfo);
  if (!conn) return conn.error();
  PGconn* c = conn->get();
  if (auto st = require_superuser(c, "uninstall"); !st) return st.error();
  UninstallReport report;
  if (auto r = exec(c, "BEGIN", "BEGIN"); !r) return r.error();
  if (auto r = exec(c, kInstallLock, "waiting for another install"); !r) return rollback_with(c, r.error()).error();
  auto present = exec(c,
                      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'ddlgate') OR "
                      "EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname LIKE 'ddlgate_guard_%')",
                      "looking for the guard");
  if (!present) return rollback_with(c, present.error()).error();
  report.was_installed = value(present->get(), 0, 0) == "t";
  for (const auto& sql : uninstall_statements()) {
    auto r = exec(c, sql, "uninstall (" + sql + ")");
    if (!r) return rollback_with(c, r.error()).error();
  }
  if (auto r = exec(c, "COMMIT", "COMMIT"); !r) return r.error();
  // The roles belong to the cluster: dropped only when nothing in any database refers to
  // them (pg_shdepend), in a transaction of their own so that a refusal changes nothing.
  const std::string drop_roles =
      "DO $ddlgate$ BEGIN "
      "IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend AS d JOIN pg_catalog.pg_roles AS r ON r.oid = d.refobjid "
      "WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND r.rolname IN ('" +
      std::string(kOwnerRole) + "', '" + std::string(kControlRole) + "')) THEN "
      "DROP ROLE IF EXISTS " + std::string(kOwnerRole) + "; DROP ROLE IF EXISTS " + std::string(kControlRole) + "; "
      "END IF; "
      "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $ddlgate$";
  auto roles = exec(c, drop_roles, "dropping the guard's roles");
  if (!roles) return roles.error();
  auto left = exec(c, "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname IN ('" + std::string(kOwnerRole) + "', '" +
                          std::string(kControlRole) + "')",
                   "looking for the guard's roles");
  if (!left) return left.error();
  report.roles_dropped = value(left->get(), 0, 0) == "0";
  return report;
}

base::Status kill_switch(const std::string& conninfo, const std::string& reason) {
  auto conn = connect(conninfo);
  if (!conn) return conn.error();
  auto r = query(conn->get(), "SELECT ddlgate.kill_switch($1)", {reason}, "kill switch");
  if (!r) return r.error();
  return base::Ok{};
}

}  // namespace ddlgate::guard
