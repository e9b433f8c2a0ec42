// A throwaway PostgreSQL 15 for integration tests: initdb into a fresh /tmp
// directory (as the `postgres` user when the tests run as root), 127.0.0.1 on a
// free port plus a Unix socket in that directory, stopped and removed at the end.
// Under ctest one such server serves a whole test binary and each test gets its
// own database (SharedPgServer below, docs/testing.md).
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

// Where a server started by another process is: what `ddlgate_test_pg start`
// writes to its state file and SharedPgServer reads.
struct PgServerFacts {
  std::uint16_t port = 0;
  std::filesystem::path dir;       // the server's directory: socket, server.log, data/
  std::filesystem::path data_dir;
};
// "port=N\ndir=...\ndata_dir=...\n"
std::string format_facts(const PgServerFacts& facts);
// Parses format_facts()'s text; throws std::runtime_error naming what is wrong.
PgServerFacts parse_facts(std::string_view text);

// The template every test database is made from (CREATE DATABASE ... TEMPLATE).
inline constexpr const char* kTestTemplateDatabase = "ddlgate_template";

class PgServer {
 public:
  // Starts the server, waiting until it accepts connections; throws
  // std::runtime_error (with the end of the server log) if it cannot.
  explicit PgServer(PgServerOptions options = {});
  // A server with default options that another process started and will stop:
  // this object never stops it nor removes its directory.
  static std::unique_ptr<PgServer> attach(const PgServerFacts& facts);
  ~PgServer();  // fast shutdown, directory removed (unless attached or detached); the log is printed if the test failed
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  std::string host() const { return "127.0.0.1"; }
  std::uint16_t port() const { return port_; }
  // The directory holding .s.PGSQL.<port> (libpq's host= for a socket).
  const std::filesystem::path& socket_dir() const { return dir_; }
  std::filesystem::path socket_path() const;  // the socket file itself
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const PgServerOptions& options() const { return options_; }
  // The password of the superuser "postgres" (options.password when user is "postgres").
  std::string superuser_password() const;

  // The database that conninfo(), socket_conninfo(), psql() and admin_sql() name
  // when given none: "postgres", or the current test's own database when the
  // server came from SharedPgServer::get().
  const std::string& database() const { return database_; }
  void set_database(std::string name) { database_ = std::move(name); }

  // "host=127.0.0.1 port=N user=U dbname=D" (no password: add it, or use PGPASSWORD);
  // an empty dbname is database().
  std::string conninfo(std::string_view user = "postgres", std::string_view dbname = {}) const;
  // The same through the Unix socket.
  std::string socket_conninfo(std::string_view user = "postgres", std::string_view dbname = {}) const;

  // TLS: the CA that signed the server certificate (for sslmode=verify-full, host localhost or 127.0.0.1).
  std::filesystem::path ca_file() const { return dir_ / "tls" / "ca.crt"; }
  std::filesystem::path server_cert_file() const { return dir_ / "tls" / "server.crt"; }
  std::filesystem::path server_key_file() const { return dir_ / "tls" / "server.key"; }

  // Everything the server has logged so far.
  std::string server_log() const;
  std::filesystem::path server_log_path() const { return dir_ / "server.log"; }

  // psql -X -A -t -v ON_ERROR_STOP=1 as the superuser over the socket, with -c sql
  // (an empty dbname is database()).
  CommandResult psql(std::string_view sql, std::string_view dbname = {}) const;
  // Like psql(), but throws std::runtime_error if it fails; returns its stdout.
  std::string admin_sql(std::string_view sql, std::string_view dbname = {}) const;

  // Creates a role unless it exists, with `attributes` ("LOGIN SUPERUSER").
  // Roles belong to the cluster, which the tests of a binary share and run on
  // at the same time: safe when two create the same role at once, and a role
  // that tests want with different attributes needs a name for each.
  void ensure_role(std::string_view name, std::string_view attributes = {}) const;

  // Fast shutdown now (the destructor does it otherwise); idempotent. An
  // attached server is left running: its owner stops it.
  void stop();
  bool running() const { return running_; }
  // Where this server is, for another process's attach().
  PgServerFacts facts() const { return {port_, dir_, data_dir_}; }
  // Leaves the server running and its directory on disk after this object is
  // gone (ddlgate_test_pg start); stop_server() ends it later.
  void detach();

 private:
  struct Attached {};
  PgServer(Attached, const PgServerFacts& facts);
  void init_cluster();
  void write_tls_files();
  void write_conf();
  void write_hba();
  bool try_start(std::string* why);
  void create_roles();

  PgServerOptions options_;
  std::unique_ptr<TempDir> own_dir_;  // null when attached or detached
  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
  std::string database_ = "postgres";
  std::uint16_t port_ = 0;
  bool running_ = false;
  bool owned_ = true;  // false when attached or detached: never stopped by this object
  std::unique_ptr<FailureLog> failure_log_;
};

// The directory with initdb, pg_ctl, postgres, psql and pgbench (never PATH's).
std::filesystem::path pg_bindir();

// Fast shutdown (immediate if that fails) of the server a facts file describes,
// then removes its directory and the file; false with `*why` if a server was
// there and would not stop. No file: nothing to do.
bool stop_server(const std::filesystem::path& facts_file, std::string* why);

// The environment variable naming the facts file of the server that ctest's
// fixture started for this test binary (tests/CMakeLists.txt).
inline constexpr const char* kSharedPgStateEnv = "DDLGATE_TEST_PG_STATE";

// One PostgreSQL for a whole test binary:
//   DDLGATE_SHARED_PG_SERVER();   // at namespace scope, once per binary
//   TEST(X, Y) { auto& pg = SharedPgServer::get(); ... }
// Under ctest (one process per test), a fixture test started the server before
// the binary's first test and stops it after its last (DDLGATE_TEST_PG_STATE
// names its facts file); get() attaches to it. Without that variable (the
// binary run directly), get() starts a server of its own on first use, stopped
// after the last test. Either way each test that calls get() gets a database of
// its own, made from kTestTemplateDatabase and dropped when the test ends, and
// the server's database() is that database while the test runs.
class SharedPgServer : public ::testing::Environment {
 public:
  SharedPgServer();
  void SetUp() override;
  void TearDown() override;
  // The shared server with the current test's database; throws if none was
  // registered, it cannot start, or the database cannot be made.
  static PgServer& get();
  // Drops the current test's database (the listener calls it when a test ends).
  void end_test();

 private:
  std::unique_ptr<PgServer> server_;
  std::string start_error_;
  std::string test_;  // the test whose database exists now ("" for none)
};

// Makes kTestTemplateDatabase on a fresh server (ddlgate_test_pg start, or SharedPgServer's own).
void create_test_template(const PgServer& server);

#define DDLGATE_SHARED_PG_SERVER(...)                                          \
  [[maybe_unused]] static ::testing::Environment* const ddlgate_shared_pg_env_ = \
      ::testing::AddGlobalTestEnvironment(new ::ddlgate::testing::SharedPgServer(__VA_ARGS__))

}  // namespace ddlgate::testing
