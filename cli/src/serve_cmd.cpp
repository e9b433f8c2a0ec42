// `ddlgate serve`: the proxy. A config file, command-line overrides, or both.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "commands.h"
#include "ddlgate/config/config.h"
#include "ddlgate/proxy/logging.h"
#include "ddlgate/proxy/server.h"

namespace ddlgate::cli {
namespace {

struct ServeOptions {
  std::string config_path;
  std::vector<std::string> listen;
  std::string upstream;
  std::string upstream_socket;
  std::string ready_file;
  std::string log_level;
};

// Writes the bound endpoints to a temporary name and renames it, so a reader
// never sees a half-written file.
bool write_ready_file(const std::string& path, const std::vector<std::string>& endpoints) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    for (const auto& e : endpoints) f << e << "\n";
    if (!f) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

// The configuration file with the command line's overrides applied; used at
// start and again on SIGHUP.
config::LoadResult load_with_overrides(const ServeOptions& o) {
  config::LoadResult loaded;
  if (!o.config_path.empty()) {
    loaded = config::load_file(o.config_path);
    // Listen and upstream may come from the command line: judge those keys after the overrides.
    std::erase_if(loaded.problems, [&](const config::Problem& p) {
      return (p.where == "listen" && !o.listen.empty()) ||
             (p.where == "upstream" && (!o.upstream.empty() || !o.upstream_socket.empty()));
    });
  }
  config::Config cfg = loaded.config;
  std::vector<config::Problem> problems = loaded.problems;
  if (!o.listen.empty()) {
    cfg.listen.clear();
    for (const auto& l : o.listen) {
      if (!l.empty() && l.front() == '/') {
        cfg.listen.push_back(config::Endpoint{config::Endpoint::Kind::unix_socket, "", 0, l});
      } else if (auto ep = config::parse_host_port(l)) {
        cfg.listen.push_back(*ep);
      } else {
        problems.push_back({"--listen", ep.error().reason});
      }
    }
  }
  if (!o.upstream.empty()) {
    if (auto ep = config::parse_host_port(o.upstream)) cfg.upstream = *ep;
    else problems.push_back({"--upstream", ep.error().reason});
  }
  if (!o.upstream_socket.empty()) {
    cfg.upstream = config::Endpoint{config::Endpoint::Kind::unix_socket, "", 0, o.upstream_socket};
  }
  if (!o.log_level.empty()) cfg.log_level = o.log_level;
  if (problems.empty()) problems = config::validate(cfg);
  return config::LoadResult{std::move(cfg), std::move(problems), std::move(loaded.file)};
}

int run_serve(const ServeOptions& o) {
  config::LoadResult loaded = load_with_overrides(o);
  const config::Config& cfg = loaded.config;
  const auto& problems = loaded.problems;
  if (!problems.empty()) {
    const std::string where = o.config_path.empty() ? "ddlgate serve" : o.config_path;
    for (const auto& p : problems) std::fprintf(stderr, "%s: %s: %s\n", where.c_str(), p.where.c_str(), p.message.c_str());
    return kExitUsage;
  }

  proxy::configure_logging(cfg.log_format, cfg.log_level);

  try {
    proxy::Server::Reloader reloader;
    if (!o.config_path.empty()) reloader = [o] { return load_with_overrides(o); };
    proxy::Server server(cfg, std::move(reloader), loaded.file);
    auto endpoints = server.bind();
    for (const auto& e : endpoints) {
      if (!e.starts_with("http://")) spdlog::info("listening on {}", e);  // the admin listener logs itself
    }
    if (!o.ready_file.empty() && !write_ready_file(o.ready_file, endpoints)) {
      spdlog::error("cannot write the ready file {}", o.ready_file);
      return kExitUsage;
    }
    server.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace

void add_serve(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("serve", "run the proxy");
  auto o = std::make_shared<ServeOptions>();
  cmd->add_option("--config,-c", o->config_path, "the TOML configuration file");
  cmd->add_option("--listen", o->listen, "HOST:PORT or a Unix socket path to listen on (repeatable; overrides the file)");
  cmd->add_option("--upstream", o->upstream, "the PostgreSQL server's HOST:PORT (overrides the file)");
  cmd->add_option("--upstream-socket", o->upstream_socket, "the PostgreSQL server's Unix socket path");
  cmd->add_option("--ready-file", o->ready_file, "write the bound addresses here, one per line, once listening");
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, critical or off");
  cmd->callback([&runner, o] { runner = [o] { return run_serve(*o); }; });
}

}  // namespace ddlgate::cli
