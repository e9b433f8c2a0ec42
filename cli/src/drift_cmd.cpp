// `ddlgate drift --url PROD --scratch-url SCRATCH --bundles DIR [--baseline FILE] [--config FILE]`
// (issue 25 item 5, docs/drift.md): the live schema against what the approved bundles produce
// in an empty scratch database. Exit 0 no drift, 1 drift, 2 usage, connection or verification
// error (one line on stderr). Connection strings are shown with their password redacted.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/config/config.h"
#include "ddlgate/config/trust.h"
#include "ddlgate/drift/drift.h"

namespace ddlgate::cli {
namespace {

struct DriftArgs {
  std::string url, scratch_url, bundles, baseline, config, trust, environment, migrator;
};

int fail(const std::string& what) {
  std::fprintf(stderr, "ddlgate drift: %s\n", what.c_str());
  return kExitUsage;
}

// The part of a result a caller needs from a query returning one text value.
std::string current_user(drift::Connection& conn) {
  auto rows = conn.query("SELECT current_user::text");
  return rows && !rows->empty() && (*rows)[0][0] ? *(*rows)[0][0] : std::string();
}

// Which database of which server a connection reached: postmaster start time and database.
std::string identity(drift::Connection& conn) {
  auto rows = conn.query("SELECT pg_postmaster_start_time()::text || ' ' || current_database()");
  return rows && !rows->empty() && (*rows)[0][0] ? *(*rows)[0][0] : std::string();
}

int run_drift(const DriftArgs& a) {
  if (a.config.empty() == a.trust.empty()) {
    return fail("give the trust policy with exactly one of --config FILE (serve's [bundles]) or --trust FILE");
  }
  const base::TimePoint now = std::chrono::floor<std::chrono::seconds>(base::Clock::now());
  bundle::TrustAnchors trust;
  bundle::VerifyOptions options;
  std::string registry = a.bundles;
  std::vector<base::Problem> key_problems;
  if (!a.config.empty()) {
    config::LoadResult loaded = config::load_file(a.config);
    // drift neither listens nor proxies: as with `explain`, those keys may be absent.
    std::erase_if(loaded.problems, [](const config::Problem& p) { return p.where == "listen" || p.where == "upstream"; });
    if (!loaded.ok()) {
      const auto& p = loaded.problems.front();
      return fail(a.config + ": " + p.where + ": " + p.message);
    }
    const config::Bundles& b = loaded.config.bundles;
    if (!b.enabled) return fail(a.config + ": no [bundles] section: no trust policy to verify bundles with");
    trust = bundle::TrustAnchors::from_config(b.trust, &key_problems);
    options = bundle::VerifyOptions::from_config(b, now);
    if (!a.environment.empty()) return fail("--environment: the configuration's bundles.environment applies");
    if (registry.empty()) registry = b.registry_dir;
  } else {
    config::TrustLoadResult tr = config::load_trust_file(a.trust);
    if (!tr.ok()) return fail(a.trust + ": " + tr.problems.front().where + ": " + tr.problems.front().message);
    trust = bundle::TrustAnchors::from_config(tr.policy, &key_problems);
    if (a.environment.empty()) return fail("--environment: required with --trust (the bundles' environment)");
    options.environment = a.environment;
    options.now = now;
  }
  if (!key_problems.empty()) return fail("trust policy: " + key_problems.front().to_string());
  if (registry.empty()) return fail("--bundles: required (the configuration names no bundles.registry_dir)");

  auto prod = drift::Connection::open(a.url, "production");
  if (!prod) return fail(prod.error().reason);
  auto scratch = drift::Connection::open(a.scratch_url, "scratch");
  if (!scratch) return fail(scratch.error().reason);
  const std::string database = prod->database();
  // The replay must never run in production, however its connection string is spelled (a host
  // name and an address, TCP and a socket): the same server started at the same microsecond,
  // and the same database, is the same database.
  const std::string prod_identity = identity(*prod);
  if (prod_identity.empty() || prod_identity == identity(*scratch)) {
    return fail(prod_identity.empty() ? "production: cannot read the server's start time and database name"
                                      : "--scratch-url names the production database itself (database '" + database +
                                            "' of the same server): the replay would run there");
  }
  // Refuse a scratch database that already holds something: replaying into it would mix
  // what the bundles make with what was there, and a clean comparison would prove nothing.
  auto object = drift::first_object(*scratch);
  if (!object) return fail(object.error().reason);
  if (*object) {
    return fail("scratch database '" + scratch->database() + "' is not empty (" + **object +
                "): drift replays the approved migrations into an empty database (CREATE DATABASE ... TEMPLATE template0)");
  }

  auto selection = drift::select_bundles(registry, trust, options, database);
  if (!selection) return fail(selection.error().reason);
  if (!a.baseline.empty()) {
    if (auto st = drift::apply_baseline(a.scratch_url, a.baseline); !st) return fail(st.error().reason);
  }
  auto ran = drift::replay(*scratch, selection->replay);
  if (!ran) return fail(ran.error().reason);

  const std::string prod_migrator = a.migrator.empty() ? current_user(*prod) : a.migrator;
  const std::string scratch_migrator = current_user(*scratch);
  auto live = drift::describe(*prod, prod_migrator);
  if (!live) return fail(live.error().reason);
  auto approved = drift::describe(*scratch, scratch_migrator);
  if (!approved) return fail(approved.error().reason);

  const std::vector<drift::Difference> diffs = drift::compare(*live, *approved);
  for (const auto& d : diffs) std::printf("%s\n", d.to_string().c_str());
  for (const auto& s : selection->skipped) std::printf("skipped %s\n", s.c_str());
  std::string bundles;
  for (const auto& b : selection->replay) {
    bundles += (bundles.empty() ? "" : ", ") + b.manifest.app + " v" + std::to_string(b.manifest.version);
  }
  if (bundles.empty()) bundles = "none";
  if (diffs.empty()) {
    std::printf("no drift: database '%s' matches the approved schema (bundles %s; %zu statements replayed)\n",
                database.c_str(), bundles.c_str(), *ran);
    return kExitOk;
  }
  std::printf("drift: %zu differences in database '%s' from the approved schema (bundles %s; %zu statements replayed)\n",
              diffs.size(), database.c_str(), bundles.c_str(), *ran);
  return kExitCheckFailed;
}

}  // namespace

void add_drift(CLI::App& app, Runner& runner) {
  auto a = std::make_shared<DriftArgs>();
  auto* cmd = app.add_subcommand("drift", "compare a live schema with what the approved bundles produce in a scratch database");
  cmd->add_option("--url", a->url, "the production database (libpq connection string or URI)")->required();
  cmd->add_option("--scratch-url", a->scratch_url, "an empty scratch database the bundles are replayed into")->required();
  cmd->add_option("--bundles", a->bundles, "the registry directory of bundles (default: the configuration's)");
  cmd->add_option("--baseline", a->baseline, "a schema applied before the bundles (pg_dump --schema-only --no-owner)");
  cmd->add_option("--config,-c", a->config, "serve's configuration: its [bundles] trust policy and environment");
  cmd->add_option("--trust", a->trust, "a trust policy TOML file (instead of --config)");
  cmd->add_option("--environment", a->environment, "the bundles' environment (with --trust)");
  cmd->add_option("--migrator", a->migrator,
                  "the production role that runs migrations (default: the --url connection's user)");
  cmd->callback([&runner, a] { runner = [a] { return run_drift(*a); }; });
}

}  // namespace ddlgate::cli
