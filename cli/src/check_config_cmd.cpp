// `ddlgate check-config --config FILE`: lists every problem with its key.
#include <cstdio>
#include <string>

#include "commands.h"
#include "ddlgate/breakglass/breakglass.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/config/config.h"

namespace ddlgate::cli {

void add_check_config(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("check-config", "validate a configuration file and say what is wrong");
  auto path = std::make_shared<std::string>();
  cmd->add_option("--config,-c", *path, "the TOML configuration file")->required();
  cmd->callback([&runner, path] {
    runner = [path] {
      auto result = config::load_file(*path);
      if (result.ok() && result.config.bundles.enabled) {
        // The config module only holds key strings; whether they are keys is bundle's and breakglass's to say.
        std::vector<base::Problem> key_problems;
        bundle::TrustAnchors::from_config(result.config.bundles.trust, &key_problems);
        const char* prefix = result.config.bundles.trust_file.empty() ? "bundles.trust." : "bundles.trust_file: ";
        for (const auto& p : key_problems) result.problems.push_back({prefix + p.where, p.message});
      }
      if (result.ok() && result.config.break_glass.enabled) {
        std::vector<base::Problem> key_problems;
        breakglass::break_glass_keys(result.config.break_glass, &key_problems);
        for (const auto& p : key_problems) result.problems.push_back({"break_glass." + p.where, p.message});
      }
      if (!result.ok()) {
        for (const auto& p : result.problems) {
          if (p.where == *path) {
            std::fprintf(stderr, "%s: %s\n", path->c_str(), p.message.c_str());
          } else {
            std::fprintf(stderr, "%s: %s: %s\n", path->c_str(), p.where.c_str(), p.message.c_str());
          }
        }
        std::fprintf(stderr, "%s: %zu problem(s)\n", path->c_str(), result.problems.size());
        return kExitUsage;
      }
      std::printf("%s: ok\n", path->c_str());
      return kExitOk;
    };
  });
}

}  // namespace ddlgate::cli
