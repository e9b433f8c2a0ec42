// A throwaway PostgreSQL 15 for integration tests: initdb into a fresh /tmp
// directory (as the `postgres` user when the tests run as root), 127.0.0.1 on a
// free port plus a Unix socket in that directory, stopped and removed at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/testing/failure_log.h"
#include "ddlgate/testing/process.h"

namespace ddlgate::testing {

// pg_hba.conf method names.
enum class PgAuth { trust, md5, scram_sha_256 };

struct PgServerOptions {
  PgAuth auth = PgAuth::trust;        // for TCP connections (host lines in pg_hba.conf)
  PgAuth local_auth = PgAuth::trust;  // for Unix-socket connections (local lines)
  // With md5 / scram: a login role (created unless it is "postgres") and its password.
  // The superuser "postgres" always has superuser_password().
  std::string user = "postgres";
  std::string password;
  bool user_is_superuser = false;     // for a role other than "postgres"
  bool tls = false;                   // ssl=on with a certificate signed by a fresh test CA
  bool tls_only = false;              // hostssl instead of host in pg_hba.conf (implies tls)
  int max_connections = 600;
  std::vector<std::string> extra_conf;  // appended to postgresql.conf, e.g. "log_statement = 'all'"
};

// RAII for libpq connections.
struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// Connects with PQconnectdb; check PQstatus(conn.get()) (never null).
PgConn pg_connect(const std::string& conninfo);
// Runs one query; the first column of the first row, or nullopt with `*error` set on failure.
std::optional<std::string> pg_query_value(PGconn* conn, const std::string& sql, std::string* error = nullptr);
// Runs one query: "OK" when it succeeds, else its SQLSTATE ("?" without one).
std::string sqlstate_of(PGconn* conn, const std::string& sql);

class PgServer {
 public:
  // Starts the server, waiting until it accepts connections; throws
  // std::runtime_error (with the end of the server log) if it cannot.
  explicit PgServer(PgServerOptions options = {});
  ~PgServer();  // fast shutdown, directory removed; the log is printed if the test failed
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  std::string host() const { return "127.0.0.1"; }
  std::uint16_t port() const { return port_; }
  // The directory holding .s.PGSQL.<port> (libpq's host= for a socket).
  const std::filesystem::path& socket_dir() const { return dir_.path(); }
  std::filesystem::path socket_path() const;  // the socket file itself
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const PgServerOptions& options() const { return options_; }
  // The password of the superuser "postgres" (options.password when user is "postgres").
  std::string superuser_password() const;

  // "host=127.0.0.1 port=N user=U dbname=D" (no password: add it, or use PGPASSWORD).
  std::string conninfo(std::string_view user = "postgres", std::string_view dbname = "postgres") const;
  // The same through the Unix socket.
  std::string socket_conninfo(std::string_view user = "postgres", std::string_view dbname = "postgres") const;

  // TLS: the CA that signed the server certificate (for sslmode=verify-full, host localhost or 127.0.0.1).
  std::filesystem::path ca_file() const { return dir_.path() / "tls" / "ca.crt"; }
  std::filesystem::path server_cert_file() const { return dir_.path() / "tls" / "server.crt"; }
  std::filesystem::path server_key_file() const { return dir_.path() / "tls" / "server.key"; }

  // Everything the server has logged so far.
  std::string server_log() const;
  std::filesystem::path server_log_path() const { return dir_.path() / "server.log"; }

  // psql -X -A -t -v ON_ERROR_STOP=1 as the superuser over the socket, with -c sql.
  CommandResult psql(std::string_view sql, std::string_view dbname = "postgres") const;
  // Like psql(), but throws std::runtime_error if it fails; returns its stdout.
  std::string admin_sql(std::string_view sql, std::string_view dbname = "postgres") const;

  // Fast shutdown now (the destructor does it otherwise); idempotent.
  void stop();
  bool running() const { return running_; }

 private:
  void init_cluster();
  void write_tls_files();
  void write_conf();
  void write_hba();
  bool try_start(std::string* why);
  void create_roles();

  PgServerOptions options_;
  TempDir dir_{"ddlgate-pg"};
  std::filesystem::path data_dir_;
  std::uint16_t port_ = 0;
  bool running_ = false;
  std::unique_ptr<FailureLog> failure_log_;
};

// The directory with initdb, pg_ctl, postgres, psql and pgbench (never PATH's).
std::filesystem::path pg_bindir();

// One PostgreSQL for a whole test binary:
//   DDLGATE_SHARED_PG_SERVER(PgServerOptions{...});   // at namespace scope, once per binary
//   TEST(X, Y) { auto& pg = SharedPgServer::get(); ... }
// The server starts on the first get() and stops after the last test. Note:
// gtest_discover_tests runs each test in its own process, so under ctest
// "shared" means per test; running the binary directly shares one server.
class SharedPgServer : public ::testing::Environment {
 public:
  explicit SharedPgServer(PgServerOptions options = {});
  void SetUp() override;
  void TearDown() override;
  // The shared server, started on first use; throws if none was registered or it cannot start.
  static PgServer& get();

 private:
  PgServerOptions options_;
  std::unique_ptr<PgServer> server_;
  std::string start_error_;
};

#define DDLGATE_SHARED_PG_SERVER(...)                                          \
  [[maybe_unused]] static ::testing::Environment* const ddlgate_shared_pg_env_ = \
      ::testing::AddGlobalTestEnvironment(new ::ddlgate::testing::SharedPgServer(__VA_ARGS__))

}  // namespace ddlgate::testing
