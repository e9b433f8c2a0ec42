// Which configuration keys a reload (SIGHUP) can change while ddlgate runs, and
// which need a restart. Sessions take a snapshot of the configuration when they
// start, so a live change applies to the sessions that start after it.
#include "ddlgate/config/config.h"

namespace ddlgate::config {

ReloadPlan plan_reload(const Config& running, const Config& reloaded) {
  ReloadPlan plan;
  plan.next = running;
  Config& next = plan.next;
  auto restart_if = [&](bool differs, const char* key) {
    if (differs) plan.needs_restart.emplace_back(key);
  };
  // Sockets, threads, TLS contexts, the ledger files and the bundle loader are
  // set up once at start.
  restart_if(running.listen != reloaded.listen, "listen");
  restart_if(!(running.upstream == reloaded.upstream), "upstream");
  restart_if(!(running.upstream_tls == reloaded.upstream_tls), "upstream.tls");
  restart_if(!(running.client_tls == reloaded.client_tls), "tls");
  restart_if(running.workers != reloaded.workers, "server.workers");
  restart_if(!(running.ledger == reloaded.ledger), "ledger");
  restart_if(!(running.bundles == reloaded.bundles), "bundles");
  restart_if(!(running.guard == reloaded.guard), "guard");
  restart_if(running.admin.enabled != reloaded.admin.enabled || !(running.admin.listen == reloaded.admin.listen),
             "admin.listen");
  restart_if(running.admin.upstream_check_timeout_ms != reloaded.admin.upstream_check_timeout_ms ||
                 running.admin.upstream_check_cache_ms != reloaded.admin.upstream_check_cache_ms,
             "admin.upstream_check_*");

  auto apply = [&](bool differs, const char* key, auto&& assign) {
    if (!differs) return;
    assign();
    plan.applied.emplace_back(key);
  };
  apply(running.log_level != reloaded.log_level, "log.level", [&] { next.log_level = reloaded.log_level; });
  apply(running.log_format != reloaded.log_format, "log.format", [&] { next.log_format = reloaded.log_format; });
  apply(running.instance != reloaded.instance, "server.instance", [&] { next.instance = reloaded.instance; });
  apply(!(running.limits == reloaded.limits), "limits", [&] { next.limits = reloaded.limits; });
  apply(!(running.timeouts == reloaded.timeouts), "timeouts", [&] { next.timeouts = reloaded.timeouts; });
  apply(running.webhooks != reloaded.webhooks, "webhooks", [&] { next.webhooks = reloaded.webhooks; });
  apply(running.admin.token_file != reloaded.admin.token_file || running.admin.token_env != reloaded.admin.token_env,
        "admin.token", [&] {
          next.admin.token_file = reloaded.admin.token_file;
          next.admin.token_env = reloaded.admin.token_env;
        });
  if (!(running.enforcement == reloaded.enforcement)) {
    // Modes, users and deployers change live; turning enforcement on or off
    // changes what every session inspects and needs a restart.
    bool was_on = running.enforcement.mode != EnforcementMode::off;
    bool is_on = reloaded.enforcement.mode != EnforcementMode::off;
    if (was_on != is_on) {
      plan.needs_restart.emplace_back("enforcement");
    } else {
      next.enforcement = reloaded.enforcement;
      plan.applied.emplace_back("enforcement");
    }
  }
  return plan;
}

}  // namespace ddlgate::config
