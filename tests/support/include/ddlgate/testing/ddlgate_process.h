// The ddlgate binary under test as a child process: started with --ready-file,
// ready once every listener is bound, its stderr and stdout kept in a log file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/testing/failure_log.h"
#include "ddlgate/testing/process.h"

namespace ddlgate::testing {

class PgServer;

// The ddlgate binary this build produced (CMake passes $<TARGET_FILE:ddlgate>);
// the environment variable DDLGATE_BINARY overrides it.
std::filesystem::path ddlgate_binary();

class DdlgateProcess {
 public:
  // Runs `binary args... --ready-file <tmp>/ready` and waits up to ready_timeout
  // for the ready file. Throws std::runtime_error (with the log) if the process
  // exits first or the file does not appear in time. The deadline only ends a
  // failing start: a sanitizer build starts in about a second when idle, and a
  // machine busy with other tests' servers can stretch that many times over.
  explicit DdlgateProcess(std::vector<std::string> args,
                          std::chrono::milliseconds ready_timeout = std::chrono::seconds(30),
                          std::filesystem::path binary = ddlgate_binary());
  // `ddlgate serve --listen 127.0.0.1:0 --upstream 127.0.0.1:<pg port> extra...`
  static std::unique_ptr<DdlgateProcess> serve(const PgServer& upstream, std::vector<std::string> extra_args = {});
  ~DdlgateProcess();  // SIGKILL if still running; the log is printed if the test failed
  DdlgateProcess(const DdlgateProcess&) = delete;
  DdlgateProcess& operator=(const DdlgateProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The bound endpoints from the ready file, in order: "127.0.0.1:43567" or a socket path.
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  // The port of the first TCP endpoint (0 if there is none).
  std::uint16_t port() const;
  // "host=127.0.0.1 port=<port()> user=U dbname=D"; an empty dbname is database().
  std::string conninfo(std::string_view user = "postgres", std::string_view dbname = {}) const;
  // The upstream server's database() when started by serve() (the current
  // test's own database under SharedPgServer), else "postgres".
  const std::string& database() const { return database_; }
  // A scratch directory owned by this process object (configs, sockets), removed at the end.
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Everything ddlgate wrote to stderr (and stdout) so far.
  std::string stderr_log() const;
  std::filesystem::path log_path() const { return dir_.path() / "ddlgate.log"; }

  // True while the process has not exited (reaps it if it has).
  bool running();
  // Sends `signal` (SIGTERM by default), waits up to `timeout`; returns the exit
  // code (128 + signal if killed by one), or -1 after a SIGKILL on timeout.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(40), int signal = 15);

 private:
  TempDir dir_{"ddlgate-proc"};
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::vector<std::string> endpoints_;
  std::string database_ = "postgres";
  std::unique_ptr<FailureLog> failure_log_;
};

}  // namespace ddlgate::testing
