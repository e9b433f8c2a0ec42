// `guard status`: what was found against what this binary installs.
#include "ddlgate/guard/status.h"

#include <algorithm>
#include <string>

#include "ddlgate/base/sha256.h"
#include "ddlgate/guard/definitions.h"

namespace ddlgate::guard {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : "; ") + item;
  return out;
}

}  // namespace

std::vector<Check> evaluate(const Observed& o) {
  std::vector<Check> checks;
  if (!o.schema_exists) {
    checks.push_back({false, "schema ddlgate", "not installed"});
    return checks;
  }
  checks.push_back({o.schema_owner == kOwnerRole, "schema ddlgate", "owner " + o.schema_owner});
  if (!o.version) {
    checks.push_back({false, "version", "ddlgate.guard_version has no row (or cannot be read)"});
  } else {
    bool ok = *o.version == kGuardVersion;
    std::string note;
    if (*o.version < kGuardVersion) note = " (this ddlgate installs " + std::to_string(kGuardVersion) + "; run guard install)";
    if (*o.version > kGuardVersion) note = " (newer than this ddlgate's " + std::to_string(kGuardVersion) + ")";
    checks.push_back({ok, "version", std::to_string(*o.version) + note});
    bool mode_ok = mode_from_string(o.mode).has_value();
    checks.push_back({mode_ok, "mode", o.mode});
  }
  for (const auto& def : triggers()) {
    auto it = std::find_if(o.triggers.begin(), o.triggers.end(), [&](const auto& t) { return t.name == def.name; });
    if (it == o.triggers.end()) {
      checks.push_back({false, "trigger " + def.name, "missing"});
      continue;
    }
    std::vector<std::string> wrong;
    if (it->event != def.event) wrong.push_back("fires on " + it->event + ", not " + def.event);
    if (it->enabled != 'A') wrong.push_back(std::string("evtenabled ") + it->enabled + ", not A (ENABLE ALWAYS)");
    if (it->function != "ddlgate." + def.function) wrong.push_back("runs " + it->function + ", not ddlgate." + def.function);
    if (!it->owner_is_superuser) wrong.push_back("owner " + it->owner + " is not a superuser");
    if (!o.trigger_owner.empty() && it->owner != o.trigger_owner)
      wrong.push_back("owner " + it->owner + ", installed by " + o.trigger_owner);
    checks.push_back({wrong.empty(), "trigger " + def.name,
                      wrong.empty() ? std::string("evtenabled A, owner ") + it->owner : join(wrong)});
  }
  for (const auto& t : o.triggers) {
    bool known = std::any_of(triggers().begin(), triggers().end(), [&](const auto& d) { return d.name == t.name; });
    if (!known) checks.push_back({false, "trigger " + t.name, "not installed by ddlgate"});
  }
  for (const auto& def : functions()) {
    auto it = std::find_if(o.functions.begin(), o.functions.end(), [&](const auto& f) {
      return f.name == def.name && f.identity_args == def.identity_args;
    });
    std::string what = "function ddlgate." + def.name + "(" + def.identity_args + ")";
    if (it == o.functions.end()) {
      checks.push_back({false, what, "missing"});
      continue;
    }
    std::vector<std::string> wrong;
    std::string expected = base::sha256_hex(def.body);
    if (it->body_sha256 != expected)
      wrong.push_back("body sha256:" + it->body_sha256 + ", installed sha256:" + expected);
    if (it->security_definer != def.security_definer)
      wrong.push_back(it->security_definer ? "SECURITY DEFINER, should be INVOKER" : "SECURITY INVOKER, should be DEFINER");
    if (it->config != def.config()) wrong.push_back("SET clause [" + join(it->config) + "], should be [" + join(def.config()) + "]");
    if (it->owner != kOwnerRole) wrong.push_back("owner " + it->owner);
    checks.push_back({wrong.empty(), what, wrong.empty() ? "body sha256:" + expected : join(wrong)});
  }
  for (const auto& f : o.functions) {
    bool known = std::any_of(functions().begin(), functions().end(), [&](const auto& d) {
      return d.name == f.name && d.identity_args == f.identity_args;
    });
    if (!known) checks.push_back({false, "function ddlgate." + f.name + "(" + f.identity_args + ")", "not installed by ddlgate"});
  }
  checks.push_back({o.owner_reads_stats, "role ddlgate_guard",
                    o.owner_reads_stats ? "member of pg_read_all_stats"
                                        : "not a member of pg_read_all_stats: it cannot read a backend's "
                                          "backend_start, so nothing can be confirmed"});
  checks.push_back({o.writable_by_others.empty(), "table privileges",
                    o.writable_by_others.empty() ? "only ddlgate_guard writes the guard's tables"
                                                 : join(o.writable_by_others)});
  return checks;
}

bool intact(const std::vector<Check>& checks) {
  return std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

}  // namespace ddlgate::guard
