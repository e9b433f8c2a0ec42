#include "ddlgate/testing/pg_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#ifndef DDLGATE_PG_BINDIR
#define DDLGATE_PG_BINDIR "/usr/lib/postgresql/15/bin"
#endif

namespace ddlgate::testing {
namespace {

constexpr const char* kDefaultSuperuserPassword = "postgres-test-password";

const char* method_name(PgAuth a) {
  switch (a) {
    case PgAuth::trust: return "trust";
    case PgAuth::md5: return "md5";
    case PgAuth::scram_sha_256: return "scram-sha-256";
  }
  return "reject";
}

std::string quote_literal(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string quote_ident(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string describe(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd + " exited " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") + "\nstdout: " +
         r.stdout_text + "\nstderr: " + r.stderr_text;
}

// Drops the current test's database when the test ends (after its TearDown).
class TestDatabaseListener : public ::testing::EmptyTestEventListener {
 public:
  explicit TestDatabaseListener(SharedPgServer* owner) : owner_(owner) {}
  void OnTestEnd(const ::testing::TestInfo&) override { owner_->end_test(); }

 private:
  SharedPgServer* owner_;
};

// "t<pid>_<suite>_<name>" in lower case, [a-z0-9_] only, at most 63 bytes
// (NAMEDATALEN - 1): unique among the tests that share a server at one time,
// and a bare identifier in SQL, TOML keys and URLs.
std::string test_database_name(const ::testing::TestInfo& test) {
  std::string name = "t" + std::to_string(getpid()) + "_";
  for (char c : std::string(test.test_suite_name()) + "_" + test.name()) {
    auto u = static_cast<unsigned char>(c);
    name += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
  }
  return name.substr(0, 63);
}

SharedPgServer*& shared_instance() {
  static SharedPgServer* instance = nullptr;
  return instance;
}

CommandResult run_checked(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(120)) {
  auto r = run_command(argv, {}, timeout);
  if (r.exit_code != 0) throw std::runtime_error(describe(argv, r));
  return r;
}

}  // namespace

std::filesystem::path pg_bindir() { return DDLGATE_PG_BINDIR; }

PgConn pg_connect(const std::string& conninfo) { return PgConn(PQconnectdb(conninfo.c_str())); }

std::string sqlstate_of(PGconn* conn, const std::string& sql) {
  PgResult r(PQexec(conn, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return "OK";
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return code ? code : "?";
}

std::optional<std::string> pg_query_value(PGconn* conn, const std::string& sql, std::string* error) {
  PgResult res(PQexec(conn, sql.c_str()));
  auto status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    if (error != nullptr) *error = PQerrorMessage(conn);
    return std::nullopt;
  }
  if (PQntuples(res.get()) < 1 || PQnfields(res.get()) < 1) return std::string();
  return std::string(PQgetvalue(res.get(), 0, 0));
}

std::string format_facts(const PgServerFacts& facts) {
  return "port=" + std::to_string(facts.port) + "\ndir=" + facts.dir.string() + "\ndata_dir=" + facts.data_dir.string() +
         "\n";
}

PgServerFacts parse_facts(std::string_view text) {
  // Written by ddlgate_test_pg; still checked like any file read back.
  if (text.size() > 4096) throw std::runtime_error("PostgreSQL facts file is larger than 4096 bytes");
  PgServerFacts facts;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) throw std::runtime_error("PostgreSQL facts file: last line has no newline");
    auto line = text.substr(pos, end - pos);
    pos = end + 1;
    auto eq = line.find('=');
    if (eq == std::string_view::npos) throw std::runtime_error("PostgreSQL facts file: line without '='");
    auto key = line.substr(0, eq);
    auto value = std::string(line.substr(eq + 1));
    if (key == "port") {
      if (value.empty() || value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(value) == 0 || std::stoul(value) > 65535) {
        throw std::runtime_error("PostgreSQL facts file: bad port '" + value + "'");
      }
      facts.port = static_cast<std::uint16_t>(std::stoul(value));
    } else if (key == "dir") {
      facts.dir = value;
    } else if (key == "data_dir") {
      facts.data_dir = value;
    } else {
      throw std::runtime_error("PostgreSQL facts file: unknown key '" + std::string(key) + "'");
    }
  }
  if (facts.port == 0 || !facts.dir.is_absolute() || !facts.data_dir.is_absolute()) {
    throw std::runtime_error("PostgreSQL facts file: port, dir and data_dir (absolute) are required");
  }
  return facts;
}

PgServer::PgServer(PgServerOptions options) : options_(std::move(options)) {
  if (options_.tls_only) options_.tls = true;
  own_dir_ = std::make_unique<TempDir>("ddlgate-pg");
  dir_ = own_dir_->path();
  data_dir_ = dir_ / "data";
  failure_log_ = std::make_unique<FailureLog>("PostgreSQL server log", server_log_path());
  init_cluster();
  std::string why;
  // The port is free when picked but another process may take it before the
  // postmaster binds it: try a few.
  for (int attempt = 0; attempt < 5 && !running_; ++attempt) {
    port_ = pick_free_port();
    if (!try_start(&why) && why.find("could not") == std::string::npos) break;
  }
  if (!running_) {
    throw std::runtime_error("PostgreSQL did not start in " + dir_.string() + ": " + why +
                             "\n--- server log ---\n" + tail_of_file(server_log_path()));
  }
  try {
    create_roles();
  } catch (...) {
    stop();
    throw;
  }
}

PgServer::PgServer(Attached, const PgServerFacts& facts)
    : dir_(facts.dir), data_dir_(facts.data_dir), port_(facts.port), running_(true), owned_(false) {
  failure_log_ = std::make_unique<FailureLog>("PostgreSQL server log", server_log_path());
}

std::unique_ptr<PgServer> PgServer::attach(const PgServerFacts& facts) {
  return std::unique_ptr<PgServer>(new PgServer(Attached{}, facts));
}

PgServer::~PgServer() {
  failure_log_.reset();  // prints the log if the current test failed, while the file still exists
  stop();
}

void PgServer::detach() {
  owned_ = false;
  if (own_dir_) own_dir_->keep();
  failure_log_.reset();
}

std::string PgServer::superuser_password() const {
  if (options_.user == "postgres" && !options_.password.empty()) return options_.password;
  return kDefaultSuperuserPassword;
}

void PgServer::init_cluster() {
  write_file(dir_ / "pwfile", superuser_password() + "\n");
  if (options_.tls) write_tls_files();
  chmod(dir_.c_str(), 0700);
  chown_to_server_user(dir_);
  run_checked(as_server_user({(pg_bindir() / "initdb").string(), "-D", data_dir_.string(), "-U", "postgres",
                              "--pwfile", (dir_ / "pwfile").string(), "--auth=trust", "-E", "UTF8",
                              "--locale=C", "--no-sync"}));
  write_conf();
  write_hba();
}

void PgServer::write_tls_files() {
  auto tls = dir_ / "tls";
  std::filesystem::create_directories(tls);
  auto p = [&](const char* name) { return (tls / name).string(); };
  write_file(tls / "server.ext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
             "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  run_checked({"openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "7", "-subj", "/CN=ddlgate test CA"});
  run_checked({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost"});
  run_checked({"openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
               "-CAcreateserial", "-out", p("server.crt"), "-days", "7", "-extfile", p("server.ext")});
  // PostgreSQL refuses a key file that others can read.
  chmod(p("server.key").c_str(), 0600);
}

void PgServer::write_conf() {
  bool md5 = options_.auth == PgAuth::md5 || options_.local_auth == PgAuth::md5;
  std::string conf = "\n# ddlgate test fixture\n";
  conf += "listen_addresses = '127.0.0.1'\n";
  conf += "unix_socket_directories = " + quote_literal(dir_.string()) + "\n";
  conf += "max_connections = " + std::to_string(options_.max_connections) + "\n";
  conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
  conf += "log_line_prefix = '%m [%p] %q%u@%d '\nlog_connections = on\n";
  conf += std::string("password_encryption = ") + (md5 ? "md5" : "'scram-sha-256'") + "\n";
  if (options_.tls) {
    conf += "ssl = on\n";
    conf += "ssl_cert_file = " + quote_literal(server_cert_file().string()) + "\n";
    conf += "ssl_key_file = " + quote_literal(server_key_file().string()) + "\n";
    conf += "ssl_ca_file = " + quote_literal(ca_file().string()) + "\n";
  }
  for (const auto& line : options_.extra_conf) conf += line + "\n";
  write_file(data_dir_ / "postgresql.conf", read_file(data_dir_ / "postgresql.conf") + conf);
}

void PgServer::write_hba() {
  std::string host = options_.tls_only ? "hostssl" : "host   ";
  std::string hba = "# ddlgate test fixture\n";
  hba += std::string("local   all all              ") + method_name(options_.local_auth) + "\n";
  hba += host + " all all 127.0.0.1/32 " + method_name(options_.auth) + "\n";
  hba += host + " all all ::1/128      " + method_name(options_.auth) + "\n";
  write_file(data_dir_ / "pg_hba.conf", hba);
}

bool PgServer::try_start(std::string* why) {
  std::vector<std::string> argv = as_server_user({(pg_bindir() / "pg_ctl").string(), "-D", data_dir_.string(), "-l",
                                                  server_log_path().string(), "-w", "-t", "60", "-o",
                                                  "-p " + std::to_string(port_), "start"});
  auto r = run_command(argv, {}, std::chrono::seconds(90));
  if (r.exit_code == 0) {
    running_ = true;
    return true;
  }
  *why = describe(argv, r) + "\n" + tail_of_file(server_log_path(), 2048);
  return false;
}

void PgServer::create_roles() {
  // With md5, the bootstrap password was stored as SCRAM; store it again as md5.
  if (options_.auth == PgAuth::md5 || options_.local_auth == PgAuth::md5) {
    admin_sql("ALTER ROLE postgres PASSWORD " + quote_literal(superuser_password()));
  }
  if (options_.user != "postgres") {
    std::string sql = "CREATE ROLE " + quote_ident(options_.user) + " LOGIN";
    if (options_.user_is_superuser) sql += " SUPERUSER";
    if (!options_.password.empty()) sql += " PASSWORD " + quote_literal(options_.password);
    admin_sql(sql);
  }
}

void PgServer::ensure_role(std::string_view name, std::string_view attributes) const {
  // Two sessions that both find the role missing: one of them gets
  // duplicate_object or a unique violation on pg_authid, and that is fine.
  admin_sql("DO $$BEGIN CREATE ROLE " + quote_ident(name) + " " + std::string(attributes) +
                "; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$",
            "postgres");
}

std::filesystem::path PgServer::socket_path() const {
  return dir_ / (".s.PGSQL." + std::to_string(port_));
}

std::string PgServer::conninfo(std::string_view user, std::string_view dbname) const {
  if (dbname.empty()) dbname = database_;
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + std::string(user) +
         " dbname=" + std::string(dbname) + " connect_timeout=10";
}

std::string PgServer::socket_conninfo(std::string_view user, std::string_view dbname) const {
  if (dbname.empty()) dbname = database_;
  return "host=" + dir_.string() + " port=" + std::to_string(port_) + " user=" + std::string(user) +
         " dbname=" + std::string(dbname) + " connect_timeout=10";
}

std::string PgServer::server_log() const { return read_file(server_log_path()); }

CommandResult PgServer::psql(std::string_view sql, std::string_view dbname) const {
  return run_command({(pg_bindir() / "psql").string(), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                      socket_conninfo("postgres", dbname), "-c", std::string(sql)},
                     {}, std::chrono::seconds(60), {"PGPASSWORD=" + superuser_password()});
}

std::string PgServer::admin_sql(std::string_view sql, std::string_view dbname) const {
  auto r = psql(sql, dbname);
  if (r.exit_code != 0) {
    throw std::runtime_error("psql failed (" + std::to_string(r.exit_code) + ") on: " + std::string(sql) + "\n" +
                             r.stderr_text);
  }
  return r.stdout_text;
}

void PgServer::stop() {
  if (!running_ || !owned_) return;
  running_ = false;
  auto r = run_command(as_server_user({(pg_bindir() / "pg_ctl").string(), "-D", data_dir_.string(), "-m", "fast",
                                       "-w", "-t", "60", "stop"}),
                       {}, std::chrono::seconds(90));
  if (r.exit_code != 0) {
    // Last resort so that no postmaster outlives the test.
    run_command(as_server_user({(pg_bindir() / "pg_ctl").string(), "-D", data_dir_.string(), "-m", "immediate",
                                "-w", "stop"}),
                {}, std::chrono::seconds(30));
  }
}

bool stop_server(const std::filesystem::path& facts_file, std::string* why) {
  std::error_code ec;
  if (!std::filesystem::exists(facts_file, ec)) return true;
  PgServerFacts facts;
  try {
    facts = parse_facts(read_file(facts_file));
  } catch (const std::exception& e) {
    *why = facts_file.string() + ": " + e.what();
    return false;
  }
  // Only ever a directory that a PgServer made (TempDir "ddlgate-pg"): the file
  // decides what is removed recursively.
  if (facts.dir.parent_path() != "/tmp" || !facts.dir.filename().string().starts_with("ddlgate-pg-") ||
      facts.data_dir != facts.dir / "data") {
    *why = facts_file.string() + " names " + facts.dir.string() + ", which is not a test server's directory";
    return false;
  }
  const auto pg_ctl = (pg_bindir() / "pg_ctl").string();
  if (std::filesystem::exists(facts.data_dir / "postmaster.pid", ec)) {
    auto r = run_command(as_server_user({pg_ctl, "-D", facts.data_dir.string(), "-m", "fast", "-w", "-t", "60", "stop"}),
                         {}, std::chrono::seconds(90));
    if (r.exit_code != 0) {
      r = run_command(as_server_user({pg_ctl, "-D", facts.data_dir.string(), "-m", "immediate", "-w", "stop"}), {},
                      std::chrono::seconds(30));
    }
    if (r.exit_code != 0 && std::filesystem::exists(facts.data_dir / "postmaster.pid", ec)) {
      *why = "the PostgreSQL in " + facts.data_dir.string() + " did not stop: " + r.stderr_text;
      return false;
    }
  }
  std::filesystem::remove_all(facts.dir, ec);
  std::filesystem::remove(facts_file, ec);
  return true;
}

void create_test_template(const PgServer& server) {
  server.admin_sql(std::string("CREATE DATABASE ") + kTestTemplateDatabase + " TEMPLATE template1 IS_TEMPLATE true",
                   "postgres");
}

SharedPgServer::SharedPgServer() {
  if (shared_instance() == nullptr) shared_instance() = this;
}

void SharedPgServer::SetUp() {
  ::testing::UnitTest::GetInstance()->listeners().Append(new TestDatabaseListener(this));
}

void SharedPgServer::TearDown() {
  end_test();
  server_.reset();
}

void SharedPgServer::end_test() {
  if (test_.empty() || !server_) return;
  const std::string db = server_->database();
  test_.clear();
  server_->set_database("postgres");
  // FORCE: a session the test left open (a proxy's upstream) must not keep it.
  auto r = server_->psql("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)", "postgres");
  if (r.exit_code != 0) std::cerr << "warning: could not drop the test database " << db << ": " << r.stderr_text;
}

PgServer& SharedPgServer::get() {
  auto* inst = shared_instance();
  if (inst == nullptr) throw std::runtime_error("no shared PostgreSQL: add DDLGATE_SHARED_PG_SERVER() to the test binary");
  // Started (or attached to) on first use, so that tests which never ask for it
  // do not pay for an initdb.
  if (!inst->server_) {
    if (!inst->start_error_.empty()) throw std::runtime_error(inst->start_error_);
    const char* state = std::getenv(kSharedPgStateEnv);
    try {
      if (state != nullptr && *state != '\0') {
        // ctest's fixture started it: a missing file means the fixture failed; never fall back.
        std::error_code ec;
        if (!std::filesystem::exists(state, ec)) {
          throw std::runtime_error(std::string(kSharedPgStateEnv) + " names " + state +
                                   ", which does not exist (did the fixture test that starts the server fail?)");
        }
        inst->server_ = PgServer::attach(parse_facts(read_file(state)));
      } else {
        auto own = std::make_unique<PgServer>();
        create_test_template(*own);
        inst->server_ = std::move(own);
      }
    } catch (const std::exception& e) {
      inst->start_error_ = std::string("the shared PostgreSQL is not available: ") + e.what();
      throw std::runtime_error(inst->start_error_);
    }
  }
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  if (test == nullptr) return *inst->server_;  // outside a test: database "postgres"
  const std::string full = std::string(test->test_suite_name()) + "." + test->name();
  if (inst->test_ != full) {
    inst->end_test();
    const std::string db = test_database_name(*test);
    // A database left by an interrupted run of the same process id goes first.
    inst->server_->admin_sql("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)", "postgres");
    inst->server_->admin_sql("CREATE DATABASE " + db + " TEMPLATE " + kTestTemplateDatabase, "postgres");
    inst->server_->set_database(db);
    inst->test_ = full;
  }
  return *inst->server_;
}

}  // namespace ddlgate::testing
