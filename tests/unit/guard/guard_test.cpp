// The guard's definitions and the judgement of what status reads, without a server
// (tests/integration/guard_test.cpp runs them on PostgreSQL).
#include <algorithm>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "ddlgate/base/sha256.h"
#include "ddlgate/guard/definitions.h"
#include "ddlgate/guard/status.h"

namespace ddlgate::guard {
namespace {

bool is_trigger_function(const FunctionDef& f) { return f.returns == "pg_catalog.event_trigger"; }

TEST(GuardDefinitions, SchemaStepsRunFromOneToTheInstalledVersionWithoutGaps) {
  ASSERT_FALSE(schema_steps().empty());
  for (std::size_t i = 0; i < schema_steps().size(); ++i) EXPECT_EQ(schema_steps()[i].version, static_cast<int>(i) + 1);
  EXPECT_EQ(schema_steps().back().version, kGuardVersion);
}

TEST(GuardDefinitions, AnUpgradeRunsOnlyTheStepsAfterTheInstalledVersion) {
  auto fresh = install_statements(0, Mode::detect);
  auto again = install_statements(kGuardVersion, std::nullopt);
  auto has_step = [](const std::vector<std::string>& s) {
    for (const auto& x : s)
      if (x.find("CREATE TABLE ddlgate.changes") != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has_step(fresh));
  EXPECT_FALSE(has_step(again));
  EXPECT_EQ(fresh.size(), again.size() + schema_steps().size());
  // From version 1 (issue 28 item 3): only step 2, which drops the signatures it changes.
  auto from_one = install_statements(1, std::nullopt);
  EXPECT_FALSE(has_step(from_one));
  EXPECT_EQ(from_one.size(), again.size() + 1);
  const bool drops_old_confirm = std::any_of(from_one.begin(), from_one.end(), [](const std::string& x) {
    return x.find("DROP FUNCTION IF EXISTS ddlgate.confirm(") != std::string::npos &&
           x.find("ADD COLUMN lock_timeout_ms") != std::string::npos;
  });
  EXPECT_TRUE(drops_old_confirm);
}

// Issue 28 item 3: the lock_timeout travels with a confirmation and is set by the session's
// own trigger function, transaction-local and only when none is set.
TEST(GuardDefinitions, TheStartTriggerSetsAConfirmedLockTimeoutOnlyWhenNoneIsSet) {
  const FunctionDef* start = nullptr;
  const FunctionDef* confirm = nullptr;
  for (const auto& f : functions()) {
    if (f.name == "on_ddl_command_start") start = &f;
    if (f.name == "confirm") confirm = &f;
  }
  ASSERT_NE(start, nullptr);
  ASSERT_NE(confirm, nullptr);
  EXPECT_NE(start->body.find("pg_catalog.set_config('lock_timeout', pg_catalog.format('%sms', v_ms), true)"),
            std::string::npos);
  EXPECT_NE(start->body.find("pg_catalog.texteq(pg_catalog.current_setting('lock_timeout'), '0')"), std::string::npos);
  EXPECT_NE(confirm->identity_args.find("p_lock_timeout_ms integer"), std::string::npos);
  EXPECT_NE(confirm->arguments.find("DEFAULT NULL"), std::string::npos) << "the seven-argument call still works";
}

TEST(GuardDefinitions, EachEventHasATriggerCreatedEnableAlways) {
  std::vector<std::string> events;
  for (const auto& t : triggers()) events.push_back(t.event);
  EXPECT_EQ(events, (std::vector<std::string>{"ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite"}));
  auto s = install_statements(0, Mode::enforce);
  for (const auto& t : triggers()) {
    EXPECT_NE(std::find(s.begin(), s.end(), "ALTER EVENT TRIGGER " + t.name + " ENABLE ALWAYS"), s.end()) << t.name;
  }
}

TEST(GuardDefinitions, TriggerFunctionsAreInvokerWithoutSetAndQualifyEveryName) {
  int seen = 0;
  // A call of an unqualified function: a word followed by "(" with no "schema." before it.
  const std::regex unqualified_call(R"((^|[^.\w])([A-Za-z_]\w*)\s*\()");
  for (const auto& f : functions()) {
    if (!is_trigger_function(f)) continue;
    ++seen;
    EXPECT_FALSE(f.security_definer) << f.name;
    EXPECT_TRUE(f.config().empty()) << f.name;
    EXPECT_NE(f.create_sql().find("SECURITY INVOKER"), std::string::npos) << f.name;
    EXPECT_EQ(f.create_sql().find(" SET "), std::string::npos) << f.name;
    for (std::sregex_iterator it(f.body.begin(), f.body.end(), unqualified_call), end; it != end; ++it) {
      ADD_FAILURE() << f.name << ": unqualified call " << (*it)[2];
    }
    // No bare operator: a session's search_path could put its own operator first.
    EXPECT_EQ(f.body.find_first_of("=<>+-*/|&~!"), std::string::npos) << f.name;
    EXPECT_NE(f.body.find("CURRENT_USER"), std::string::npos) << f.name;
    EXPECT_NE(f.body.find("pg_catalog.current_setting('search_path')"), std::string::npos) << f.name;
  }
  EXPECT_EQ(seen, 4);
}

TEST(GuardDefinitions, DefinerFunctionsPinTheirSearchPath) {
  for (const auto& f : functions()) {
    if (!f.security_definer) continue;
    EXPECT_NE(f.create_sql().find("SECURITY DEFINER SET search_path = pg_catalog, pg_temp"), std::string::npos) << f.name;
    EXPECT_EQ(f.config(), std::vector<std::string>{"search_path=pg_catalog, pg_temp"}) << f.name;
  }
}

TEST(GuardDefinitions, TheBodyIsStoredByteForByteBetweenItsDollarQuotes) {
  for (const auto& f : functions()) {
    EXPECT_EQ(f.body.find("$ddlgate_guard$"), std::string::npos) << f.name;
    EXPECT_NE(f.create_sql().find("$ddlgate_guard$" + f.body + "$ddlgate_guard$"), std::string::npos) << f.name;
  }
}

TEST(GuardDefinitions, OnlyTheControlRoleMayConfirmOrPullTheKillSwitch) {
  for (const auto& f : functions()) {
    if (f.name == "confirm" || f.name == "register_control" || f.name == "release" || f.name == "kill_switch") {
      EXPECT_EQ(f.execute_to, std::vector<std::string>{std::string(kControlRole)}) << f.name;
    }
    if (f.name == "note" || f.name == "is_confirmed") {
      EXPECT_TRUE(f.execute_to.empty()) << f.name;
    }
  }
  auto s = install_statements(0, Mode::detect);
  EXPECT_NE(std::find(s.begin(), s.end(), "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ddlgate FROM PUBLIC, ddlgate_control"),
            s.end());
}

TEST(GuardDefinitions, ModeNames) {
  EXPECT_EQ(mode_from_string("enforce"), Mode::enforce);
  EXPECT_EQ(mode_from_string("detect"), Mode::detect);
  EXPECT_FALSE(mode_from_string("Enforce"));
  EXPECT_FALSE(mode_from_string(""));
  EXPECT_EQ(to_string(Mode::enforce), "enforce");
}

// What status would read from a database where install just ran.
Observed as_installed() {
  Observed o;
  o.schema_exists = true;
  o.schema_owner = std::string(kOwnerRole);
  o.version = kGuardVersion;
  o.mode = "enforce";
  o.trigger_owner = "postgres";
  o.owner_reads_stats = true;
  for (const auto& t : triggers()) o.triggers.push_back({t.name, t.event, 'A', "postgres", true, "ddlgate." + t.function});
  for (const auto& f : functions()) {
    o.functions.push_back({f.name, f.identity_args, base::sha256_hex(f.body), f.security_definer, f.config(),
                           std::string(kOwnerRole)});
  }
  return o;
}

const Check* find_check(const std::vector<Check>& checks, const std::string& what) {
  for (const auto& c : checks)
    if (c.what == what) return &c;
  return nullptr;
}

TEST(GuardStatus, AFreshInstallIsIntact) {
  auto checks = evaluate(as_installed());
  EXPECT_TRUE(intact(checks));
  for (const auto& c : checks) EXPECT_TRUE(c.ok) << c.what << ": " << c.detail;
}

TEST(GuardStatus, NoSchemaIsNotInstalled) {
  auto checks = evaluate(Observed{});
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_FALSE(intact(checks));
  EXPECT_EQ(checks[0].detail, "not installed");
}

TEST(GuardStatus, ADisabledOrReplicaOnlyTriggerFails) {
  for (char state : {'D', 'O', 'R'}) {
    auto o = as_installed();
    o.triggers[2].enabled = state;
    auto checks = evaluate(o);
    EXPECT_FALSE(intact(checks));
    const Check* c = find_check(checks, "trigger " + o.triggers[2].name);
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->ok);
    EXPECT_NE(c->detail.find(std::string("evtenabled ") + state), std::string::npos) << c->detail;
  }
}

TEST(GuardStatus, AMissingTriggerOrAnotherOwnerFails) {
  auto o = as_installed();
  o.triggers.erase(o.triggers.begin());
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.triggers[1].owner = "mallory";
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.triggers[1].owner_is_superuser = false;
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.triggers[0].function = "public.on_ddl_command_start";
  EXPECT_FALSE(intact(evaluate(o)));
}

TEST(GuardStatus, AnAlteredFunctionBodyOrSetClauseFails) {
  auto o = as_installed();
  o.functions[5].body_sha256 = base::sha256_hex("BEGIN RETURN true; END");
  auto checks = evaluate(o);
  EXPECT_FALSE(intact(checks));
  const auto& f = functions()[5];
  const Check* c = find_check(checks, "function ddlgate." + f.name + "(" + f.identity_args + ")");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->detail.find("body sha256:"), std::string::npos);

  o = as_installed();
  for (auto& fn : o.functions)
    if (fn.security_definer) fn.config.clear();
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.functions[0].owner = "postgres";
  EXPECT_FALSE(intact(evaluate(o)));
}

TEST(GuardStatus, AnExtraFunctionOrTriggerOrAWriteGrantFails) {
  auto o = as_installed();
  o.functions.push_back({"backdoor", "", base::sha256_hex("x"), true, {}, "ddlgate_guard"});
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.triggers.push_back({"ddlgate_extra", "ddl_command_start", 'A', "postgres", true, "ddlgate.on_ddl_command_start"});
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.writable_by_others.push_back("changes: DELETE to app");
  EXPECT_FALSE(intact(evaluate(o)));
  o = as_installed();
  o.owner_reads_stats = false;
  EXPECT_FALSE(intact(evaluate(o)));
}

TEST(GuardStatus, AnOlderOrNewerVersionFails) {
  auto o = as_installed();
  o.version = kGuardVersion - 1;
  auto checks = evaluate(o);
  EXPECT_FALSE(intact(checks));
  EXPECT_NE(find_check(checks, "version")->detail.find("run guard install"), std::string::npos);
  o.version = kGuardVersion + 1;
  checks = evaluate(o);
  EXPECT_FALSE(intact(checks));
  EXPECT_NE(find_check(checks, "version")->detail.find("newer than this ddlgate's"), std::string::npos);
}

}  // namespace
}  // namespace ddlgate::guard
