#include "ddlgate/testing/signed_bundle.h"

#include <gtest/gtest.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/process.h"

namespace ddlgate::testing {
namespace fs = std::filesystem;

void make_signed_bundle(const fs::path& dir, const fs::path& migrations, const std::string& app,
                        const std::vector<std::string>& extra_keys) {
  const std::string ddlgate = ddlgate_binary().string();
  auto ok = [](const std::vector<std::string>& argv) {
    auto r = run_command(argv);
    if (r.exit_code != 0) ADD_FAILURE() << argv[1] << ": " << r.stderr_text << r.stdout_text;
    return r.exit_code == 0;
  };
  std::vector<std::string> keys = {"registry", "alice", "ledger"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  for (const auto& k : keys) {
    if (!ok({ddlgate, "keygen", "--out", (dir / k).string()})) return;
  }
  write_file(dir / "trust.toml", "[roles.registry]\nthreshold = 1\nkeys = [\"" + (dir / "registry.pub").string() +
                                     "\"]\n[roles.approver]\nthreshold = 1\nkeys = [\"" + (dir / "alice.pub").string() +
                                     "\"]\n");
  fs::create_directories(dir / "registry");
  const fs::path staging = dir / ("staging-" + app);
  if (!ok({ddlgate, "bundle", "build", migrations.string(), "--tool", "dbmate", "--out", staging.string(), "--app", app,
           "--version", "1", "--environment", "production", "--any-database"}) ||
      !ok({ddlgate, "bundle", "sign", staging.string(), "--key", (dir / "registry.key").string(), "--role",
           "registry"}) ||
      !ok({ddlgate, "bundle", "sign", staging.string(), "--key", (dir / "alice.key").string(), "--role", "approver"})) {
    return;
  }
  fs::rename(staging, dir / "registry" / (app + "-v1"));
}

}  // namespace ddlgate::testing
