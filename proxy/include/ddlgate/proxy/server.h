// The proxy server: listeners, worker threads (one io_context each), sessions,
// signal handling and graceful shutdown.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ddlgate/config/config.h"

namespace ddlgate::proxy {

class ServerImpl;

class Server {
 public:
  // Reads the configuration again (SIGHUP): the file with the command line's overrides.
  using Reloader = std::function<config::LoadResult()>;

  // Builds TLS contexts; throws std::runtime_error on a start-up problem (bad certificate, ...).
  // Without a reloader, SIGHUP reloads the bundles only. With a ledger, the configuration
  // in force (file, its SHA-256, the enforcement modes) is recorded at start and after each
  // reload that changed the file.
  explicit Server(config::Config config, Reloader reloader = {}, config::ConfigFile file = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener; throws std::runtime_error naming the address on failure.
  // Returns the bound endpoints ("127.0.0.1:43567" or a socket path), one per listener.
  std::vector<std::string> bind();

  // Serves until SIGTERM/SIGINT or stop(), then drains sessions (up to
  // timeouts.shutdown_ms) and returns.
  void run();

  // Begins a graceful shutdown; safe from any thread.
  void stop();

 private:
  std::unique_ptr<ServerImpl> impl_;
};

}  // namespace ddlgate::proxy
