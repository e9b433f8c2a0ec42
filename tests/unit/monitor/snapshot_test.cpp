// The catalog snapshot's comparison and the matching of differences with approved statements
// (docs/guard.md, "What serve watches"): rows in, differences out, no server.
#include <gtest/gtest.h>

#include "ddlgate/monitor/monitor.h"
#include "ddlgate/monitor/snapshot.h"

namespace ddlgate::monitor {
namespace {

CatalogSnapshot base() {
  CatalogSnapshot s;
  s.add("role", {"app"}, "superuser", "f");
  s.add("role", {"app"}, "login", "t");
  s.add("role", {"admins"}, "login", "f");
  s.add("membership", {"admins", "app"}, "admin_option", "f");
  s.add("database", {"shop"}, "owner", "app");
  s.add("system_setting", {"work_mem"}, "value", "4MB");
  return s;
}

std::vector<std::string> lines(const std::vector<CatalogDifference>& d) {
  std::vector<std::string> out;
  for (const auto& x : d) out.push_back(x.to_string());
  return out;
}

TEST(CatalogDiff, SameSnapshotHasNoDifference) { EXPECT_TRUE(diff(base(), base()).empty()); }

TEST(CatalogDiff, EachKindOfChangeIsOneLineNamingTheObject) {
  CatalogSnapshot after = base();
  after.add("role", {"app"}, "superuser", "t");                        // changed attribute
  after.add("role", {"intruder"}, "login", "t");                       // created
  after.objects.erase("membership app in admins");                     // dropped
  after.add("role_setting", {"app", "shop"}, "search_path", "evil");   // created
  after.add("role_setting", {"", "shop"}, "work_mem", "1GB");          // for every role in shop
  after.add("system_setting", {"work_mem"}, "value", "64MB");          // changed
  after.add("system_setting", {"fsync"}, "value", "off");              // created
  EXPECT_EQ(lines(diff(base(), after)),
            (std::vector<std::string>{"membership app in admins dropped", "role app: superuser f -> t",
                                      "role intruder created", "role_setting (all roles) in shop created",
                                      "role_setting app in shop created", "system_setting fsync created",
                                      "system_setting work_mem: value 4MB -> 64MB"}));
}

TEST(CatalogDiff, AnAttributeThatAppearsOrGoesIsAChange) {
  CatalogSnapshot after = base();
  after.add("role_setting", {"app", ""}, "statement_timeout", "0");
  CatalogSnapshot later = after;
  later.objects["role_setting app"].attributes["lock_timeout"] = "1s";
  later.objects["role_setting app"].attributes.erase("statement_timeout");
  EXPECT_EQ(lines(diff(after, later)), (std::vector<std::string>{"role_setting app: lock_timeout (none) -> 1s",
                                                                 "role_setting app: statement_timeout 0 -> (none)"}));
}

CatalogDifference one(const CatalogSnapshot& before, const CatalogSnapshot& after) {
  auto d = diff(before, after);
  EXPECT_EQ(d.size(), 1u);
  return d.empty() ? CatalogDifference{} : d.front();
}

TEST(CatalogExplains, TheStatementKindAndEveryNameMustMatch) {
  CatalogSnapshot after = base();
  after.add("role", {"app"}, "superuser", "t");
  auto d = one(base(), after);
  EXPECT_TRUE(explains("ALTER ROLE app SUPERUSER", d));
  EXPECT_TRUE(explains("alter user \"app\" with superuser", d));
  EXPECT_FALSE(explains("ALTER ROLE other SUPERUSER", d));              // another role
  EXPECT_FALSE(explains("GRANT SELECT ON app TO reader", d));           // a grant does not change attributes
  EXPECT_FALSE(explains("CREATE TABLE app (id int)", d));               // not a role statement
  EXPECT_FALSE(explains("ALTER ROLE x PASSWORD 'app'", d));             // a string is not a name
  EXPECT_FALSE(explains("ALTER ROLE \"App\" SUPERUSER", d));            // quoted names keep their case
}

TEST(CatalogExplains, MembershipNeedsBothNamesUnlessTheRoleIsDropped) {
  CatalogSnapshot after = base();
  after.add("membership", {"admins", "intruder"}, "admin_option", "f");
  auto created = one(base(), after);
  EXPECT_TRUE(explains("GRANT admins TO intruder", created));
  EXPECT_FALSE(explains("GRANT admins TO app", created));
  EXPECT_FALSE(explains("ALTER ROLE intruder LOGIN", created));  // admins is not named
  CatalogSnapshot dropped = base();
  dropped.objects.erase("membership app in admins");
  dropped.objects.erase("role app");
  auto d = diff(base(), dropped);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(explains("DROP ROLE app", d[0]));  // the membership goes with the role
  EXPECT_TRUE(explains("DROP ROLE app", d[1]));
  EXPECT_FALSE(explains("DROP ROLE other", d[0]));
}

TEST(CatalogExplains, SystemSettingsOnlyByAlterSystem) {
  CatalogSnapshot after = base();
  after.add("system_setting", {"work_mem"}, "value", "64MB");
  auto d = one(base(), after);
  EXPECT_TRUE(explains("ALTER SYSTEM SET work_mem = '64MB'", d));
  EXPECT_TRUE(explains("ALTER SYSTEM RESET ALL", d));
  EXPECT_FALSE(explains("ALTER SYSTEM SET fsync = off", d));
  EXPECT_FALSE(explains("SET work_mem = '64MB'", d));
  EXPECT_FALSE(explains("ALTER DATABASE shop SET work_mem = '64MB'", d));
}

TEST(CatalogExplains, DatabasesByDatabaseStatementsAndGrantsOnThem) {
  CatalogSnapshot after = base();
  after.add("database", {"shop"}, "owner", "admins");
  auto d = one(base(), after);
  EXPECT_TRUE(explains("ALTER DATABASE shop OWNER TO admins", d));
  EXPECT_FALSE(explains("REASSIGN OWNED BY app TO admins", d));  // names the roles, not shop
  EXPECT_FALSE(explains("ALTER TABLE shop OWNER TO admins", d));
  CatalogSnapshot created = base();
  created.add("database", {"new_db"}, "owner", "app");
  EXPECT_TRUE(explains("CREATE DATABASE new_db", one(base(), created)));
  EXPECT_FALSE(explains("CREATE DATABASE new_db2", one(base(), created)));
}

TEST(CatalogWords, CommentsStringsAndNumbersAreNotNames) {
  EXPECT_EQ(words("ALTER ROLE \"we\"\"ird\" CONNECTION LIMIT 5 -- app\nVALID UNTIL 'app'"),
            (std::vector<std::string>{"alter", "role", "we\"ird", "connection", "limit", "valid", "until"}));
}

TEST(ControlConninfo, MapsTheUpstreamAndItsTls) {
  config::Config c;
  c.upstream.kind = config::Endpoint::Kind::unix_socket;
  c.upstream.path = "/run/pg/.s.PGSQL.5433";
  c.guard.control_user = "ddlgate_ctl";
  c.upstream_tls.mode = config::UpstreamTlsMode::verify_full;
  c.upstream_tls.ca_file = "/etc/ca.pem";
  EXPECT_EQ(control_conninfo(c, "shop", "s'cret"),
            "host='/run/pg' port='5433' dbname='shop' user='ddlgate_ctl' password='s\\'cret' sslmode=verify-full "
            "sslrootcert='/etc/ca.pem' connect_timeout=5 application_name='ddlgate monitor'");
  EXPECT_EQ(with_database("postgresql://u@h:5/old?sslmode=disable", "ddlgate_drift_1"),
            "user='u' host='h' port='5' sslmode='disable' dbname='ddlgate_drift_1'");
}

}  // namespace
}  // namespace ddlgate::monitor
