// The transparent proxy against a real PostgreSQL 15 with real clients: psql,
// pgbench and libpq (pipeline mode, COPY, cancel, notices, notifications).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/raw_wire.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;

DDLGATE_SHARED_PG_SERVER();

std::string bin(const char* name) { return (pg_bindir() / name).string(); }

PgConn connect_ok(const std::string& conninfo) {
  auto c = pg_connect(conninfo);
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  return c;
}

std::string exec_ok(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(c);
  if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0) return PQgetvalue(r.get(), 0, 0);
  return PQcmdStatus(r.get());
}

// ---- tests ----

TEST(Proxy, PsqlQueriesAndErrorsPassThrough) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto ok = run_command({bin("psql"), "-X", "-A", "-t", "-d", proxy->conninfo(), "-c", "select 40 + 2"});
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_EQ(ok.stdout_text, "42\n");
  auto err = run_command({bin("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy->conninfo(), "-c", "select 1/0"});
  EXPECT_NE(err.exit_code, 0);
  EXPECT_NE(err.stderr_text.find("division by zero"), std::string::npos) << err.stderr_text;
}

TEST(Proxy, PgbenchRunsInSimpleAndPreparedModes) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto init = run_command({bin("pgbench"), "-i", "-s", "1", "-q", proxy->conninfo()}, {}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.stderr_text;
  for (const char* mode : {"simple", "extended", "prepared"}) {
    auto r = run_command({bin("pgbench"), "-M", mode, "-c", "4", "-j", "2", "-t", "200", proxy->conninfo()}, {}, 120s);
    EXPECT_EQ(r.exit_code, 0) << mode << ": " << r.stderr_text;
    EXPECT_NE(r.stdout_text.find("number of transactions actually processed: 800/800"), std::string::npos)
        << r.stdout_text;
  }
}

TEST(Proxy, LibpqPipelineModeWithAnErrorInTheMiddle) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
  const char* p1[] = {"1"};
  ASSERT_EQ(PQsendQueryParams(c.get(), "select $1::int + 1", 1, nullptr, p1, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "select 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "select 3", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "select 4", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);

  std::vector<ExecStatusType> seen;
  std::vector<std::string> values;
  int syncs = 0;
  while (syncs < 2) {
    PGresult* r = PQgetResult(c.get());
    if (!r) continue;  // end of one query's results
    seen.push_back(PQresultStatus(r));
    if (PQresultStatus(r) == PGRES_TUPLES_OK) values.emplace_back(PQgetvalue(r, 0, 0));
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) ++syncs;
    PQclear(r);
  }
  std::vector<ExecStatusType> expected = {PGRES_TUPLES_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED,
                                          PGRES_PIPELINE_SYNC, PGRES_TUPLES_OK, PGRES_PIPELINE_SYNC};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(values, (std::vector<std::string>{"2", "4"}));
  EXPECT_EQ(PQexitPipelineMode(c.get()), 1);
}

TEST(Proxy, CopyInAndOutOfALargeTable) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  exec_ok(c.get(), "create table copy_big (id int, payload text)");
  PgResult start(PQexec(c.get(), "copy copy_big from stdin"));
  ASSERT_EQ(PQresultStatus(start.get()), PGRES_COPY_IN) << PQerrorMessage(c.get());
  constexpr int kRows = 200000;
  std::string chunk;
  for (int i = 0; i < kRows; ++i) {
    chunk += std::to_string(i) + "\trow-" + std::to_string(i) + "-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
    if (chunk.size() > 60000 || i == kRows - 1) {
      ASSERT_EQ(PQputCopyData(c.get(), chunk.data(), static_cast<int>(chunk.size())), 1);
      chunk.clear();
    }
  }
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  PgResult done(PQgetResult(c.get()));
  ASSERT_EQ(PQresultStatus(done.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  EXPECT_STREQ(PQcmdTuples(done.get()), "200000");
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);

  PgResult out(PQexec(c.get(), "copy (select * from copy_big order by id) to stdout"));
  ASSERT_EQ(PQresultStatus(out.get()), PGRES_COPY_OUT);
  long rows = 0;
  std::size_t bytes = 0;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c.get(), &buf, 0)) > 0) {
    ++rows;
    bytes += static_cast<std::size_t>(n);
    PQfreemem(buf);
  }
  EXPECT_EQ(n, -1);
  EXPECT_EQ(rows, kRows);
  EXPECT_GT(bytes, std::size_t{10'000'000});
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);
  EXPECT_EQ(exec_ok(c.get(), "select count(*) from copy_big"), "200000");
}

TEST(Proxy, HundredMegabyteByteaRoundTrip) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  exec_ok(c.get(), "create table blobs (id int, b bytea)");
  std::string blob(100 * 1024 * 1024, '\0');
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i + 8 <= blob.size(); i += 8) {
    std::uint64_t v = rng();
    std::memcpy(blob.data() + i, &v, 8);
  }
  const char* values[] = {blob.data()};
  int lengths[] = {static_cast<int>(blob.size())};
  int formats[] = {1};
  PgResult ins(PQexecParams(c.get(), "insert into blobs values (1, $1)", 1, nullptr, values, lengths, formats, 1));
  ASSERT_EQ(PQresultStatus(ins.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  PgResult sel(PQexecParams(c.get(), "select b from blobs where id = 1", 0, nullptr, nullptr, nullptr, nullptr, 1));
  ASSERT_EQ(PQresultStatus(sel.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  ASSERT_EQ(PQgetlength(sel.get(), 0, 0), static_cast<int>(blob.size()));
  EXPECT_EQ(std::memcmp(PQgetvalue(sel.get(), 0, 0), blob.data(), blob.size()), 0);
}

// The peak resident set of a process so far (VmHWM), in bytes; 0 if unreadable.
std::size_t peak_rss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:   12345 kB"
  }
  return 0;
}

// Without [enforcement] nothing reads statements: a ~200 MB Query (what psycopg2 sends
// for a 100 MB bytea) streams through, above limits.max_inspected_message (64 MiB), with
// ddlgate's memory far below the message's size.
TEST(Proxy, TwoHundredMegabyteQueryStreamsThroughWithoutEnforcement) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  exec_ok(c.get(), "drop table if exists big_query; create table big_query (id int, b bytea)");
  constexpr std::size_t kBytes = 100u * 1024 * 1024;
  const std::size_t before = peak_rss(proxy->pid());
  ASSERT_GT(before, 0u);
  std::string sql = "insert into big_query values (1, '\\x";
  sql.reserve(sql.size() + 2 * kBytes + 8);
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < kBytes; ++i) {
    const auto byte = static_cast<unsigned>((i * 2654435761u) >> 13) & 0xffu;
    sql += kHex[byte >> 4];
    sql += kHex[byte & 0xf];
  }
  sql += "')";
  ASSERT_GT(sql.size(), std::size_t{200'000'000});
  {
    PgResult ins(PQexec(c.get(), sql.c_str()));  // not exec_ok: a failure would print the 200 MB text
    ASSERT_EQ(PQresultStatus(ins.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  }
  sql.clear();
  sql.shrink_to_fit();
  EXPECT_EQ(exec_ok(c.get(), "select length(b) from big_query where id = 1"), std::to_string(kBytes));
  const std::string last = exec_ok(c.get(), "select get_byte(b, " + std::to_string(kBytes - 1) + ") from big_query");
  EXPECT_EQ(last, std::to_string(static_cast<unsigned>(((kBytes - 1) * 2654435761u) >> 13) & 0xffu));
  const std::size_t peak = peak_rss(proxy->pid());
  std::printf("ddlgate peak RSS: %zu KiB before, %zu KiB after a %zu-byte Query\n", before / 1024, peak / 1024,
              2 * kBytes + 36);
  // Streaming: a buffered message alone would be 200 MB.
  EXPECT_LT(peak, before + 32u * 1024 * 1024);
  exec_ok(c.get(), "drop table big_query");
}

void collect_notice(void* arg, const PGresult* r) {
  static_cast<std::vector<std::string>*>(arg)->emplace_back(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
}

TEST(Proxy, NoticesFromRaiseReachTheClient) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), collect_notice, &notices);
  exec_ok(c.get(),
          "create or replace function shout() returns int language plpgsql as $$ begin raise notice 'first %', 1; "
          "raise warning 'second'; return 7; end $$");
  EXPECT_EQ(exec_ok(c.get(), "select shout()"), "7");
  EXPECT_EQ(notices, (std::vector<std::string>{"first 1", "second"}));
}

TEST(Proxy, ListenNotifyAcrossTwoSessions) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto listener = connect_ok(proxy->conninfo());
  auto notifier = connect_ok(proxy->conninfo());
  exec_ok(listener.get(), "listen deploys");
  exec_ok(notifier.get(), "notify deploys, 'v42'");
  PGnotify* n = nullptr;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{PQsocket(listener.get()), POLLIN, 0};
    ::poll(&p, 1, 100);
    PQconsumeInput(listener.get());
    n = PQnotifies(listener.get());
  }
  ASSERT_NE(n, nullptr);
  EXPECT_STREQ(n->relname, "deploys");
  EXPECT_STREQ(n->extra, "v42");
  PQfreemem(n);
}

TEST(Proxy, PQcancelStopsAPgSleep) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(PQsendQuery(c.get(), "select pg_sleep(30)"), 1);
  std::this_thread::sleep_for(300ms);
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  ASSERT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  PgResult r(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SQLSTATE), "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  while (PGresult* x = PQgetResult(c.get())) PQclear(x);
  // The session is still usable, and a late cancel does not hit the next query.
  EXPECT_EQ(exec_ok(c.get(), "select 5"), "5");
}

TEST(Proxy, StartupParametersAreForwarded) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo() + " application_name=deployer options='-c search_path=audit,public -c work_mem=3MB'");
  EXPECT_EQ(exec_ok(c.get(), "show search_path"), "audit,public");
  EXPECT_EQ(exec_ok(c.get(), "show work_mem"), "3MB");
  EXPECT_EQ(exec_ok(c.get(), "select application_name from pg_stat_activity where pid = pg_backend_pid()"), "deployer");
}

TEST(Proxy, FiveHundredConcurrentSessions) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  std::vector<PgConn> conns;
  for (int i = 0; i < 500; ++i) {
    conns.push_back(pg_connect(proxy->conninfo()));
    ASSERT_EQ(PQstatus(conns.back().get()), CONNECTION_OK) << i << ": " << PQerrorMessage(conns.back().get());
  }
  for (auto& c : conns) ASSERT_EQ(PQsendQuery(c.get(), "select pg_backend_pid()"), 1);
  std::set<std::string> pids;
  for (auto& c : conns) {
    PgResult r(PQgetResult(c.get()));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK);
    pids.insert(PQgetvalue(r.get(), 0, 0));
    while (PGresult* x = PQgetResult(c.get())) PQclear(x);
  }
  EXPECT_EQ(pids.size(), 500u);  // one upstream backend per client, no pooling
}

TEST(Proxy, MaxConnectionsAnswers53300) {
  auto& pg = SharedPgServer::get();
  auto proxy_dir = TempDir("ddlgate-cfg");
  write_file(proxy_dir.path() / "ddlgate.toml", "[limits]\nmax_connections = 2\n");
  auto proxy = DdlgateProcess::serve(pg, {"--config", (proxy_dir.path() / "ddlgate.toml").string()});
  auto a = connect_ok(proxy->conninfo());
  auto b = connect_ok(proxy->conninfo());
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", pg.database()}}));
  std::string reply = read_until_close(fd);
  ::close(fd);
  EXPECT_EQ(error_field(reply, 'C'), "53300");
  EXPECT_EQ(error_field(reply, 'V'), "FATAL");
  EXPECT_EQ(error_field(reply, 'M'), "sorry, too many clients already");
  a.reset();
  // Once a slot is free, a new session is admitted (ddlgate frees it when it reads
  // the Terminate; a loaded machine may take a while to get there).
  PgConn c;
  for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
    c = pg_connect(proxy->conninfo());
    if (PQstatus(c.get()) == CONNECTION_OK) break;
    EXPECT_NE(std::string(PQerrorMessage(c.get())).find("too many clients"), std::string::npos) << PQerrorMessage(c.get());
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << "no session admitted after one ended: " << PQerrorMessage(c.get());
}

TEST(Proxy, UnreachableUpstreamGetsAFatal08006NamingIt) {
  std::uint16_t dead = pick_free_port();
  DdlgateProcess proxy({"serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:" + std::to_string(dead)});
  int fd = tcp_connect(proxy.port());
  ASSERT_GE(fd, 0);
  send_all(fd, startup_packet(0, {{"user", "postgres"}}));
  std::string reply = read_until_close(fd);
  ::close(fd);
  EXPECT_EQ(error_field(reply, 'C'), "08006");
  EXPECT_NE(error_field(reply, 'M').find("127.0.0.1:" + std::to_string(dead)), std::string::npos);
  auto c = pg_connect(proxy.conninfo());
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("could not connect to the upstream server"), std::string::npos);
}

TEST(Proxy, MalformedStartupGets08P01AndAClosedConnection) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  for (const auto& bytes : std::vector<std::vector<std::uint8_t>>{
           {0, 0, 0, 3, 0, 0, 0, 0},                   // length below 8
           {0, 0x7f, 0xff, 0xff, 0, 3, 0, 0},          // length far over the cap
           {0, 0, 0, 12, 0, 2, 0, 0, 'u', 0, 'x', 0},  // protocol 2.0
           {0, 0, 0, 11, 0, 3, 0, 0, 'u', 0, 'x'},     // no terminator
       }) {
    int fd = tcp_connect(proxy->port());
    ASSERT_GE(fd, 0);
    send_all(fd, bytes);
    std::string reply = read_until_close(fd);
    ::close(fd);
    EXPECT_EQ(error_field(reply, 'C'), "08P01") << error_field(reply, 'M');
  }
  EXPECT_TRUE(proxy->running());
}

TEST(Proxy, InvalidMessageAfterStartupGets08P01) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", pg.database()}}));
  // Trust authentication: wait for ReadyForQuery, then send a message type that does not exist.
  std::string got;
  while (got.find("Z\0\0\0\5I", 0) == std::string::npos) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
    if (got.size() > 5 && got.find(std::string("Z\0\0\0\5I", 6)) != std::string::npos) break;
  }
  send_all(fd, {'!', 0, 0, 0, 4});
  std::string reply = read_until_close(fd);
  ::close(fd);
  EXPECT_EQ(error_field(reply, 'C'), "08P01");
  EXPECT_NE(error_field(reply, 'M').find("invalid frontend message type"), std::string::npos);
}

TEST(Proxy, GssEncRequestIsAnsweredN) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  // libpq with gssencmode=prefer sends GSSENCRequest first when it has credentials;
  // the raw request proves the answer without a Kerberos setup.
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  send_all(fd, {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30});
  char answer = 0;
  ASSERT_EQ(::recv(fd, &answer, 1, 0), 1);
  EXPECT_EQ(answer, 'N');
  ::close(fd);
}

// CVE-2021-23214: bytes that arrive with an encryption request, before its answer, would be
// read as if they had come over the encrypted channel. They get 08P01 instead of an answer.
TEST(Proxy, BytesSentAlongWithAnEncryptionRequestGet08P01) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  const auto startup = startup_packet(0, {{"user", "postgres"}, {"database", pg.database()}});
  const std::vector<std::vector<std::uint8_t>> requests = {
      {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f},  // SSLRequest
      {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30},  // GSSENCRequest
  };
  for (auto bytes : requests) {
    bytes.insert(bytes.end(), startup.begin(), startup.end());
    std::string reply = exchange(proxy->port(), bytes);
    ASSERT_FALSE(reply.empty());
    EXPECT_EQ(reply[0], 'E') << "answered '" << reply[0] << "' instead of refusing";
    EXPECT_EQ(error_field(reply, 'C'), "08P01");
    EXPECT_NE(error_field(reply, 'M').find("unencrypted data after"), std::string::npos) << error_field(reply, 'M');
  }
  EXPECT_TRUE(proxy->running());
}

TEST(Proxy, NewerProtocolMinorGetsTheServersNegotiateProtocolVersion) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  // A "grease" minor version and an unknown protocol option, as newer libpq sends.
  send_all(fd, startup_packet(0x9999, {{"user", "postgres"}, {"database", pg.database()}, {"_pq_.grease", "1"}}));
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(buf[0], 'v');  // NegotiateProtocolVersion from PostgreSQL, passed through
}

TEST(Proxy, ReplicationConnectionsAreRefusedClearly) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = pg_connect(proxy->conninfo() + " replication=database");
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("does not proxy replication connections"), std::string::npos)
      << PQerrorMessage(c.get());
}

TEST(Proxy, IdleSessionsAreClosedAfterTheTimeout) {
  auto& pg = SharedPgServer::get();
  TempDir dir("ddlgate-cfg");
  write_file(dir.path() / "ddlgate.toml", "[timeouts]\nidle_ms = 300\n");
  auto proxy = DdlgateProcess::serve(pg, {"--config", (dir.path() / "ddlgate.toml").string()});
  auto c = connect_ok(proxy->conninfo());
  EXPECT_EQ(exec_ok(c.get(), "select 1"), "1");
  std::this_thread::sleep_for(900ms);
  PgResult r(PQexec(c.get(), "select 2"));
  EXPECT_NE(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("idle-session timeout"), std::string::npos)
      << PQerrorMessage(c.get());
}

TEST(Proxy, UnixSocketOnBothSides) {
  auto& pg = SharedPgServer::get();
  TempDir dir("ddlgate-sock");
  auto sock = (dir.path() / ".s.PGSQL.7777").string();
  DdlgateProcess proxy({"serve", "--listen", sock, "--upstream-socket", pg.socket_path().string()});
  ASSERT_EQ(proxy.endpoints(), std::vector<std::string>{sock});
  auto c = connect_ok("host=" + dir.path().string() + " port=7777 user=postgres dbname=" + pg.database());
  EXPECT_EQ(exec_ok(c.get(), "select coalesce(inet_server_addr()::text, 'unix')"), "unix");
}

TEST(Proxy, SigtermDrainsRunningSessionsAndRefusesNewOnes) {
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto c = connect_ok(proxy->conninfo());
  ASSERT_EQ(PQsendQuery(c.get(), "select pg_sleep(1.5), 'finished'"), 1);
  std::this_thread::sleep_for(200ms);
  ::kill(proxy->pid(), SIGTERM);
  std::this_thread::sleep_for(300ms);
  // No new sessions while draining.
  auto late = pg_connect(proxy->conninfo());
  EXPECT_EQ(PQstatus(late.get()), CONNECTION_BAD);
  // The running statement completes.
  PgResult r(PQgetResult(c.get()));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  EXPECT_STREQ(PQgetvalue(r.get(), 0, 1), "finished");
  while (PGresult* x = PQgetResult(c.get())) PQclear(x);
  c.reset();  // the client leaves; ddlgate exits
  EXPECT_EQ(proxy->terminate(10s, 0), 0);
}

TEST(Proxy, SigtermClosesSessionsThatOutstayTheDeadline) {
  auto& pg = SharedPgServer::get();
  TempDir dir("ddlgate-cfg");
  write_file(dir.path() / "ddlgate.toml", "[timeouts]\nshutdown_ms = 300\n");
  auto proxy = DdlgateProcess::serve(pg, {"--config", (dir.path() / "ddlgate.toml").string()});
  auto c = connect_ok(proxy->conninfo());
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(proxy->terminate(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  PgResult r(PQexec(c.get(), "select 1"));
  EXPECT_NE(PQresultStatus(r.get()), PGRES_TUPLES_OK);
}

}  // namespace
}  // namespace ddlgate::testing
