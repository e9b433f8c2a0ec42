// Operations end to end (issue 8): the admin listener scraped with curl while
// real psql/libpq traffic and denials go through an enforcing ddlgate; signed
// webhooks received by a local HTTP server, including one that comes up only
// after a few failed attempts; /readyz turning 503 when the ledger's disk fills
// up or the upstream goes away; and a SIGHUP that changes the enforcement mode.
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <poll.h>
#include <signal.h>
#include <sys/statvfs.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "ddlgate/ops/webhook.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/raw_wire.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

DDLGATE_SHARED_PG_SERVER();

constexpr const char* kSecret = "webhook-test-secret";
constexpr const char* kToken = "admin-test-token";

// One webhook POST as the receiver saw it.
struct Delivery {
  std::string event;
  std::string timestamp;
  std::string signature;
  std::string body;
};

// A local webhook receiver: Beast on its own thread, answering 200 to every POST;
// over TLS when given a certificate and key.
class Receiver {
 public:
  explicit Receiver(std::uint16_t port = 0, const fs::path& cert = {}, const fs::path& key = {}) : acceptor_(ctx_) {
    if (!cert.empty()) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert.string());
      tls_->use_private_key_file(key.string(), asio::ssl::context::pem);
    }
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ctx_, accept(), asio::detached);
    thread_ = std::thread([this] { ctx_.run(); });
  }
  ~Receiver() {
    ctx_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }

  // Waits until a delivery of `event` arrived; nullopt after the timeout.
  std::optional<Delivery> wait_for(const std::string& event, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    std::optional<Delivery> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& d : got_) {
        if (d.event == event) found = d;
      }
      return found.has_value();
    });
    return found;
  }
  // Deliveries of `event` so far.
  std::size_t count(const std::string& event) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& d : got_) n += d.event == event ? 1 : 0;
    return n;
  }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      boost::system::error_code ec;
      auto sock = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      if (tls_) {
        asio::co_spawn(ctx_, serve_tls(std::move(sock)), asio::detached);
      } else {
        asio::co_spawn(ctx_, serve(beast::tcp_stream(std::move(sock))), asio::detached);
      }
    }
  }
  asio::awaitable<void> serve_tls(asio::ip::tcp::socket sock) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *tls_);
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      std::lock_guard lock(mu_);
      ++handshake_failures_;
      co_return;
    }
    co_await serve(std::move(stream));
  }
  template <typename Stream>
  asio::awaitable<void> serve(Stream stream) {
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    co_await http::async_read(stream, buf, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    {
      std::lock_guard lock(mu_);
      got_.push_back({std::string(req["X-Ddlgate-Event"]), std::string(req["X-Ddlgate-Timestamp"]),
                      std::string(req["X-Ddlgate-Signature"]), req.body()});
    }
    cv_.notify_all();
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "ok";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::io_context ctx_{1};
  std::unique_ptr<asio::ssl::context> tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Delivery> got_;

 public:
  int handshake_failures() {
    std::lock_guard lock(mu_);
    return handshake_failures_;
  }

 private:
  int handshake_failures_ = 0;
};

// Checks the signature as a receiver would (docs/operations.md): HMAC-SHA256 of "<timestamp>.<body>".
void expect_signed(const Delivery& d) {
  EXPECT_FALSE(d.timestamp.empty());
  auto age = std::chrono::system_clock::now().time_since_epoch() - std::chrono::seconds(std::stoll(d.timestamp));
  EXPECT_LT(std::chrono::abs(age), 300s) << "timestamp " << d.timestamp;
  EXPECT_EQ(d.signature, "sha256=" + ops::hmac_sha256_hex(kSecret, d.timestamp + "." + d.body));
  EXPECT_NE(d.signature, "sha256=" + ops::hmac_sha256_hex("another secret", d.timestamp + "." + d.body));
  auto j = nlohmann::json::parse(d.body);
  EXPECT_TRUE(j["text"].is_string());
  EXPECT_EQ(j["event"], d.event);
  EXPECT_EQ(j["instance"], "ops-test");
  EXPECT_TRUE(j["details"].is_object());
  EXPECT_EQ(d.body.find(kSecret), std::string::npos);
}

struct HttpResult {
  int status = 0;
  std::string body;
};

// GET with curl (a real HTTP client), optionally with a bearer token.
HttpResult http_get(const std::string& url, const std::string& token = "") {
  std::vector<std::string> argv = {"curl", "-s", "-S", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"};
  if (!token.empty()) {
    argv.push_back("-H");
    argv.push_back("Authorization: Bearer " + token);
  }
  argv.push_back(url);
  auto r = run_command(argv, {}, 20s);
  HttpResult out;
  auto nl = r.stdout_text.rfind('\n');
  if (nl == std::string::npos) return out;
  out.status = std::atoi(r.stdout_text.c_str() + nl + 1);
  out.body = r.stdout_text.substr(0, nl);
  return out;
}

// The value of one sample line ("name{labels}") in a scrape; -1 when absent.
double metric(const std::string& scrape, const std::string& series) {
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Bytes in a ledger directory's segment files, as the file system reports them.
double segment_file_bytes(const fs::path& ledger_dir) {
  double total = 0;
  for (const auto& e : fs::directory_iterator(ledger_dir)) {
    if (e.path().filename().string().rfind("segment-", 0) == 0) total += static_cast<double>(e.file_size());
  }
  return total;
}

class Ops : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("drop table if exists users, sneaky cascade");
    pg.ensure_role("reporting");
    make_signed_bundle(dir_.path(), std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate");
    write_file(dir_.path() / "secret", std::string(kSecret) + "\n");
    write_file(dir_.path() / "token", std::string(kToken) + "\n");
    ledger_dir_ = dir_.path() / "ledger";
  }

  // An enforcing configuration with the admin listener and one webhook.
  std::string config_text(const std::string& mode, std::uint16_t hook_port, const std::string& extra = "") {
    std::string text = "[server]\ninstance = \"ops-test\"\n" + extra;
    text += "[admin]\nlisten = \"127.0.0.1:0\"\nupstream_check_cache_ms = 0\n";
    if (with_token_) text += "token_file = \"" + (dir_.path() / "token").string() + "\"\n";
    text += "[enforcement]\nmode = \"" + mode + "\"\nsuperusers = [\"postgres\"]\n";
    text += "[ledger]\ndirectory = \"" + ledger_dir_.string() + "\"\ncheckpoint_key_file = \"" +
            (dir_.path() / "ledger.key").string() + "\"\n";
    text += "[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
            "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() + "\"\n";
    if (hook_port != 0) {
      text += "[[webhooks]]\nurl = \"http://127.0.0.1:" + std::to_string(hook_port) + "/hooks/ddlgate\"\nsecret_file = \"" +
              (dir_.path() / "secret").string() + "\"\ninitial_backoff_ms = 100\nmax_backoff_ms = 400\nmax_attempts = 100\ntimeout_ms = 2000\n";
    }
    return text;
  }

  std::unique_ptr<DdlgateProcess> start(const std::string& text, PgServer* pg = nullptr) {
    write_file(config_path(), text);
    auto p = DdlgateProcess::serve(pg ? *pg : SharedPgServer::get(), {"--config", config_path().string()});
    for (const auto& e : p->endpoints()) {
      if (e.rfind("http://", 0) == 0) admin_ = e;
    }
    EXPECT_FALSE(admin_.empty()) << "no admin endpoint in the ready file";
    return p;
  }

  fs::path config_path() const { return dir_.path() / "ddlgate.toml"; }
  std::string scrape() {
    auto r = http_get(admin_ + "/metrics", with_token_ ? kToken : "");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }

  // Polls `cond` every 100 ms for up to `timeout`.
  static bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 15s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (cond()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return cond();
  }

  TempDir dir_{"ddlgate-ops"};
  fs::path ledger_dir_;
  std::string admin_;
  bool with_token_ = false;
};

TEST_F(Ops, MetricsMoveWithTrafficAndADenialIsCountedAndSignedToTheWebhook) {
  Receiver hook;
  auto proxy = start(config_text("enforce", hook.port(), "[log]\nformat = \"json\"\n"));
  auto before = scrape();
  EXPECT_NE(before.find("# TYPE ddlgate_bytes_total counter"), std::string::npos) << before;
  EXPECT_EQ(metric(before, "ddlgate_breakglass_sessions_total"), 0) << "present even while zero";
  EXPECT_EQ(metric(before, "ddlgate_bundle_version{app=\"shop\",version=\"1\"}"), 1) << before;
  EXPECT_EQ(metric(before, "ddlgate_bundles_total{result=\"accepted\"}"), 1);
  EXPECT_EQ(metric(before, "ddlgate_ledger_healthy"), 1);

  auto psql = run_command({(pg_bindir() / "psql").string(), "-X", "-At", "-d", proxy->conninfo(), "-c",
                           "select 40 + 2"});
  ASSERT_EQ(psql.stdout_text, "42\n") << psql.stderr_text;
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  EXPECT_EQ(sqlstate_of(c.get(), "drop table if exists users"), "42501");
  EXPECT_EQ(sqlstate_of(c.get(), "drop table if exists users"), "42501");  // the second one is a cache hit
  c.reset();

  std::string after;
  ASSERT_TRUE(eventually([&] {
    after = scrape();
    return metric(after, "ddlgate_sessions_current") == 0;
  })) << after;
  EXPECT_GE(metric(after, "ddlgate_sessions_opened_total"), 2);
  EXPECT_GT(metric(after, "ddlgate_bytes_total{direction=\"client_to_server\"}"),
            metric(before, "ddlgate_bytes_total{direction=\"client_to_server\"}"));
  EXPECT_GT(metric(after, "ddlgate_bytes_total{direction=\"server_to_client\"}"), 0);
  EXPECT_GE(metric(after, "ddlgate_messages_total{direction=\"client_to_server\"}"), 3);
  EXPECT_EQ(metric(after, "ddlgate_decisions_total{class=\"schema_change\",result=\"denied\"}"), 2) << after;
  EXPECT_EQ(metric(after, "ddlgate_denials_total{reason=\"not_approved\"}"), 2);
  EXPECT_EQ(metric(after, "ddlgate_denials_total{reason=\"ledger_unavailable\"}"), 0);
  EXPECT_GE(metric(after, "ddlgate_statement_cache_hits_total"), 1);
  EXPECT_GE(metric(after, "ddlgate_statement_cache_misses_total"), 1);
  EXPECT_GT(metric(after, "ddlgate_ledger_records_total"), metric(before, "ddlgate_ledger_records_total"));
  EXPECT_GT(metric(after, "ddlgate_ledger_fsync_seconds_count"), 0);
  EXPECT_EQ(metric(after, "ddlgate_ledger_fsync_seconds_count"),
            metric(after, "ddlgate_ledger_fsync_seconds_bucket{le=\"+Inf\"}"));
  EXPECT_GT(metric(after, "ddlgate_ledger_batch_records_count"), 0);
  EXPECT_EQ(metric(after, "ddlgate_upstream_connect_errors_total"), 0);
  EXPECT_EQ(metric(after, "ddlgate_outcomes_out_of_step_total"), 0) << "present, and zero";
  // The ledger's size is what its segment files hold; its file system's, what statvfs says.
  ASSERT_TRUE(eventually([&] {
    after = scrape();
    return metric(after, "ddlgate_ledger_bytes") == segment_file_bytes(ledger_dir_);
  })) << after;
  EXPECT_GT(metric(after, "ddlgate_ledger_bytes"), 0);
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(ledger_dir_.c_str(), &vfs), 0);
  EXPECT_EQ(metric(after, "ddlgate_ledger_filesystem_size_bytes"),
            static_cast<double>(vfs.f_blocks) * static_cast<double>(vfs.f_frsize));
  EXPECT_GT(metric(after, "ddlgate_ledger_filesystem_free_bytes"), 0);
  EXPECT_LE(metric(after, "ddlgate_ledger_filesystem_free_bytes"), metric(after, "ddlgate_ledger_filesystem_size_bytes"));
  EXPECT_EQ(http_get(admin_ + "/healthz").status, 200);
  auto ready = http_get(admin_ + "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(http_get(admin_ + "/nothing").status, 404);

  auto denied = hook.wait_for("statement.denied");
  ASSERT_TRUE(denied) << proxy->stderr_log();
  expect_signed(*denied);
  auto j = nlohmann::json::parse(denied->body);
  EXPECT_EQ(j["details"]["statement"], "DROP TABLE IF EXISTS users");
  EXPECT_EQ(j["details"]["user"], "postgres");
  EXPECT_EQ(j["details"]["sqlstate"], "42501");
  auto accepted = hook.wait_for("bundle.accepted");
  ASSERT_TRUE(accepted);
  expect_signed(*accepted);
  EXPECT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_webhook_deliveries_total{result=\"delivered\"}") >= 2; }));

  // Logs: JSON lines, a session's close with its fields; the secret never appears.
  std::string log = proxy->stderr_log();
  EXPECT_EQ(log.find(kSecret), std::string::npos);
  bool closed_line = false;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    auto l = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(l.is_discarded()) << "not a JSON line: " << line;
    if (l["msg"].get<std::string>().find(" closed: ") != std::string::npos && l.contains("bytes_in")) {
      closed_line = true;
      EXPECT_EQ(l["user"], "postgres");
      EXPECT_EQ(l["database"], proxy->database());
      EXPECT_TRUE(l["bytes_in"].is_number());
      EXPECT_TRUE(l.contains("peer") && l.contains("duration_ms"));
    }
  }
  EXPECT_TRUE(closed_line) << log;
  EXPECT_EQ(proxy->terminate(), 0);
}

// limits.denials_per_second: refusals beyond the burst wait their turn, and the
// scrape counts each that waited (ddlgate_refusals_paced_total).
TEST_F(Ops, RefusalsThatWaitForThePerUserPaceAreCounted) {
  auto proxy = start(config_text("enforce", 0, "[limits]\ndenials_per_second = 2\ndenial_burst = 1\n"));
  auto before = scrape();
  EXPECT_EQ(metric(before, "ddlgate_refusals_paced_total{result=\"waited\"}"), 0) << before;
  EXPECT_EQ(metric(before, "ddlgate_refusals_paced_total{result=\"session_closed\"}"), 0);
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  // One at once (the burst), then one each half second.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sqlstate_of(c.get(), "drop table if exists users"), "42501") << i;
  auto after = scrape();
  EXPECT_EQ(metric(after, "ddlgate_refusals_paced_total{result=\"waited\"}"), 2) << after;
  EXPECT_EQ(metric(after, "ddlgate_refusals_paced_total{result=\"session_closed\"}"), 0);
  EXPECT_EQ(metric(after, "ddlgate_denials_total{reason=\"not_approved\"}"), 3);
  c.reset();
  proxy->terminate(20s);
}

TEST_F(Ops, FastLaneReadsWaitForTheKernelInsteadOfTryingAnEmptySocket) {
  auto proxy = start(config_text("enforce", 0, "workers = 1\n"));
  const std::string reads = "ddlgate_fast_lane_reads_total";
  const std::string empty = "ddlgate_fast_lane_empty_reads_total";
  auto query = [](PGconn* c, int i) {
    PgResult r(PQexec(c, ("select " + std::to_string(i)).c_str()));
    return PQresultStatus(r.get()) == PGRES_TUPLES_OK && std::string(PQgetvalue(r.get(), 0, 0)) == std::to_string(i);
  };
  auto one = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(one.get()), CONNECTION_OK) << PQerrorMessage(one.get());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(query(one.get(), i)) << PQerrorMessage(one.get());
  auto alone = scrape();
  // One read for each query and one for its answer, at least. A read that tried
  // the socket as soon as it started would find it empty nearly every time (the
  // answer is not there yet): one failed recv per read.
  EXPECT_GE(metric(alone, reads), 100) << alone;
  EXPECT_GE(metric(alone, empty), 0) << alone;
  EXPECT_LE(metric(alone, empty) * 4, metric(alone, reads)) << alone;

  // Two sessions on the worker, interleaved; closing one leaves the other working.
  auto two = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(two.get()), CONNECTION_OK) << PQerrorMessage(two.get());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(query(one.get(), i)) << PQerrorMessage(one.get());
    ASSERT_TRUE(query(two.get(), 100 + i)) << PQerrorMessage(two.get());
  }
  two.reset();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(query(one.get(), 200 + i)) << PQerrorMessage(one.get());
  auto together = scrape();
  EXPECT_GE(metric(together, reads), metric(alone, reads) + 200) << together;
  EXPECT_LE(metric(together, empty) * 4, metric(together, reads)) << together;
  one.reset();
  proxy->terminate(20s);
}

TEST_F(Ops, TheBearerTokenGuardsMetricsButNotTheProbes) {
  with_token_ = true;
  auto proxy = start(config_text("enforce", 0));
  EXPECT_EQ(http_get(admin_ + "/metrics").status, 401);
  EXPECT_EQ(http_get(admin_ + "/metrics", "wrong-token").status, 401);
  auto ok = http_get(admin_ + "/metrics", kToken);
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("ddlgate_sessions_opened_total"), std::string::npos);
  EXPECT_EQ(http_get(admin_ + "/healthz").status, 200);
  EXPECT_EQ(http_get(admin_ + "/readyz").status, 200);
  EXPECT_EQ(proxy->stderr_log().find(kToken), std::string::npos);
  EXPECT_EQ(proxy->terminate(), 0);
}

// True once the peer has closed fd (EOF or reset) within `timeout`; what it sent is discarded.
bool closed_within(int fd, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
}

// One raw request on its own connection; what came back before the server closed it.
std::string raw_request(std::uint16_t port, const std::string& request) {
  return exchange(port, std::vector<std::uint8_t>(request.begin(), request.end()), 15s);
}

// The admin listener bounds what one client can hold: GET and HEAD only, no body, 8 KiB of
// headers, 10 s to send a request, 64 connections. Each bound, then a scrape that still works.
TEST_F(Ops, TheAdminListenerBoundsMethodsRequestsConnectionsAndIdleClients) {
  auto proxy = start(config_text("enforce", 0));
  const auto port = static_cast<std::uint16_t>(std::stoi(admin_.substr(admin_.rfind(':') + 1)));
  auto status_line = [](const std::string& reply) { return reply.substr(0, reply.find('\r')); };
  EXPECT_EQ(status_line(raw_request(port, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")),
            "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(status_line(raw_request(port, "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(status_line(raw_request(port, "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n")),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(raw_request(port, "NOT HTTP AT ALL\r\n\r\n")), "HTTP/1.1 400 Bad Request");

  // 64 connections that send nothing, and one that sends its request a byte a second.
  auto opened = std::chrono::steady_clock::now();
  std::vector<int> held;
  for (int i = 0; i < 63; ++i) {
    held.push_back(tcp_connect(port));
    ASSERT_GE(held.back(), 0);
  }
  int slow = tcp_connect(port);
  ASSERT_GE(slow, 0);
  std::this_thread::sleep_for(500ms);
  // The 65th is closed at once, with nothing said.
  int extra = tcp_connect(port);
  ASSERT_GE(extra, 0);
  EXPECT_TRUE(closed_within(extra, 2s)) << "a connection over the limit of 64 was kept";
  ::close(extra);
  // One connection freed: a scrape gets through.
  ::close(held.back());
  held.pop_back();
  EXPECT_TRUE(eventually([&] { return http_get(admin_ + "/healthz").status == 200; }, 5s));
  // The slow request is not given 10 s per byte: it has 10 s in all, as the silent ones have.
  const std::string partial = "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Slow: ";
  send_all(slow, std::vector<std::uint8_t>(partial.begin(), partial.end()));
  bool slow_closed = false;
  while (!slow_closed && std::chrono::steady_clock::now() - opened < 14s) {
    send_all(slow, {'a'});
    slow_closed = closed_within(slow, 1s);
  }
  EXPECT_TRUE(slow_closed) << "a request trickling in a byte a second was never cut off";
  ::close(slow);
  for (int fd : held) {
    EXPECT_TRUE(closed_within(fd, std::chrono::duration_cast<std::chrono::milliseconds>(opened + 14s - std::chrono::steady_clock::now())))
        << "an idle connection was kept past the 10 s timeout";
    ::close(fd);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - opened, 9s) << "idle connections were closed before their 10 s";
  EXPECT_NE(scrape().find("ddlgate_sessions_current"), std::string::npos);
  EXPECT_EQ(proxy->terminate(), 0);
}

TEST_F(Ops, AWebhookReceiverThatComesUpLateStillGetsTheEventAfterRetries) {
  std::uint16_t port = pick_free_port();
  auto proxy = start(config_text("enforce", port));
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  EXPECT_EQ(sqlstate_of(c.get(), "create table sneaky (x int)"), "42501");
  // Nobody listens yet: attempts fail and are counted.
  ASSERT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_webhook_failed_attempts_total") >= 3; }))
      << scrape() << proxy->stderr_log();
  Receiver hook(port);
  auto denied = hook.wait_for("statement.denied");
  ASSERT_TRUE(denied) << proxy->stderr_log();
  expect_signed(*denied);
  EXPECT_NE(proxy->stderr_log().find("retrying in"), std::string::npos);
  EXPECT_EQ(proxy->stderr_log().find(kSecret), std::string::npos);
  // A webhook URL's path can be a credential (Slack's is): logs name scheme, host and port only.
  EXPECT_NE(proxy->stderr_log().find("webhook http://127.0.0.1:" + std::to_string(port) + "/..."), std::string::npos);
  EXPECT_EQ(proxy->stderr_log().find("/hooks/ddlgate"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_webhook_deliveries_total{result=\"delivered\"}") >= 1; }));
  c.reset();
  EXPECT_EQ(proxy->terminate(), 0);
}

TEST_F(Ops, HttpsWebhooksVerifyTheReceiversCertificate) {
  // A self-signed certificate for 127.0.0.1: trusted through ca_file, not by the system store.
  auto cert = dir_.path() / "hook.crt";
  auto key = dir_.path() / "hook.key";
  run_ok({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.string(), "-out",
          cert.string()});
  Receiver hook(0, cert, key);
  std::string url = "https://127.0.0.1:" + std::to_string(hook.port()) + "/tls";
  std::string hooks = "[[webhooks]]\nurl = \"" + url + "\"\nsecret_file = \"" + (dir_.path() / "secret").string() +
                      "\"\nca_file = \"" + cert.string() + "\"\nevents = [\"bundle.accepted\"]\n" +
                      "[[webhooks]]\nurl = \"" + url + "\"\nsecret_file = \"" + (dir_.path() / "secret").string() +
                      "\"\nevents = [\"bundle.accepted\"]\nmax_attempts = 2\ninitial_backoff_ms = 50\n";
  auto proxy = start(config_text("enforce", 0) + hooks);
  auto accepted = hook.wait_for("bundle.accepted");
  ASSERT_TRUE(accepted) << proxy->stderr_log();
  expect_signed(*accepted);
  // The webhook without ca_file cannot verify the self-signed certificate: given up after 2 attempts.
  ASSERT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_webhook_deliveries_total{result=\"failed\"}") == 1; }))
      << proxy->stderr_log();
  auto m = scrape();
  EXPECT_EQ(metric(m, "ddlgate_webhook_deliveries_total{result=\"delivered\"}"), 1);
  EXPECT_EQ(metric(m, "ddlgate_webhook_failed_attempts_total"), 2);
  EXPECT_TRUE(eventually([&] { return hook.handshake_failures() == 2; })) << hook.handshake_failures();
  EXPECT_NE(proxy->stderr_log().find("TLS handshake with 127.0.0.1 failed"), std::string::npos) << proxy->stderr_log();
  EXPECT_EQ(proxy->terminate(), 0);
}

TEST_F(Ops, ReadyzTurnsUnreadyWhenTheLedgerDiskIsFull) {
  SmallDisk disk(dir_.path() / "small", "2m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)";
  ledger_dir_ = dir_.path() / "small" / "ledger";
  Receiver hook;
  auto proxy = start(config_text("enforce", hook.port()));
  auto ready = http_get(admin_ + "/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  auto m = scrape();
  EXPECT_EQ(metric(m, "ddlgate_ledger_filesystem_size_bytes"), 2.0 * 1024 * 1024) << m;
  EXPECT_GT(metric(m, "ddlgate_ledger_filesystem_free_bytes"), 1024 * 1024) << m;

  EXPECT_EQ(hook.count("ledger.low_space"), 0u) << "an empty disk is not low on space";

  disk.fill();
  // Warned before anything fails: the watcher sees the full file system within seconds.
  auto low = hook.wait_for("ledger.low_space");
  ASSERT_TRUE(low) << proxy->stderr_log();
  expect_signed(*low);
  auto details = nlohmann::json::parse(low->body)["details"];
  EXPECT_EQ(details["directory"], ledger_dir_.string());
  EXPECT_EQ(details["size_bytes"], 2u * 1024 * 1024);
  EXPECT_LT(details["free_bytes"].get<std::uint64_t>(), 2u * 1024 * 1024 / 10);
  EXPECT_EQ(details["threshold_percent"], 10);
  EXPECT_NE(proxy->stderr_log().find("the ledger's file system (" + ledger_dir_.string()), std::string::npos)
      << proxy->stderr_log();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  // Each denial is a ledger record; the last partly written page may still take a few.
  std::string state;
  for (int i = 0; i < 200 && state != "58030"; ++i) state = sqlstate_of(c.get(), "drop table if exists users");
  EXPECT_EQ(state, "58030") << "the ledger never failed";
  ready = http_get(admin_ + "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("ledger: failed"), std::string::npos) << ready.body;
  m = scrape();
  EXPECT_EQ(metric(m, "ddlgate_ledger_healthy"), 0);
  EXPECT_LT(metric(m, "ddlgate_ledger_filesystem_free_bytes"), 64 * 1024) << "the metric an operator alerts on";
  // Durable records only: the file may also hold part of the batch whose write failed.
  EXPECT_GT(metric(m, "ddlgate_ledger_bytes"), 0);
  EXPECT_LE(metric(m, "ddlgate_ledger_bytes"), segment_file_bytes(ledger_dir_));
  EXPECT_GE(metric(m, "ddlgate_denials_total{reason=\"ledger_unavailable\"}"), 1);
  EXPECT_GE(metric(m, "ddlgate_ledger_append_failures_total"), 1);
  auto failed = hook.wait_for("ledger.failed");
  ASSERT_TRUE(failed) << proxy->stderr_log();
  expect_signed(*failed);
  // Reads still flow; the process is alive.
  EXPECT_EQ(pg_query_value(c.get(), "select 7").value_or("?"), "7");
  EXPECT_EQ(http_get(admin_ + "/healthz").status, 200);
  c.reset();
  EXPECT_EQ(hook.count("ledger.low_space"), 1u) << "said once while the disk stays full";
  EXPECT_EQ(proxy->terminate(), 0);
}

TEST_F(Ops, ReadyzTurnsUnreadyWhenTheUpstreamIsDown) {
  PgServer own;
  auto proxy = start(config_text("enforce", 0), &own);
  auto ready = http_get(admin_ + "/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  own.stop();
  ready = http_get(admin_ + "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("upstream: cannot connect to 127.0.0.1:"), std::string::npos) << ready.body;
  auto c = pg_connect(proxy->conninfo());
  EXPECT_NE(PQstatus(c.get()), CONNECTION_OK);
  EXPECT_GE(metric(scrape(), "ddlgate_upstream_connect_errors_total"), 1);
  EXPECT_EQ(http_get(admin_ + "/healthz").status, 200);
  EXPECT_EQ(proxy->terminate(), 0);
}

// `sha256:<hex>` of a file, by sha256sum(1): the value a config_reloaded record must carry.
std::string sha256_of_file(const fs::path& path) {
  auto r = run_command({"sha256sum", path.string()});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  return "sha256:" + r.stdout_text.substr(0, 64);
}

// The config_reloaded records of a stopped ddlgate's ledger, from `ddlgate ledger export`.
std::vector<nlohmann::json> config_records(const fs::path& ledger_dir, const fs::path& out) {
  run_ok({ddlgate_binary().string(), "ledger", "export", ledger_dir.string(), "--format", "jsonl", "--out", out.string()});
  std::vector<nlohmann::json> records;
  std::ifstream f(out);
  for (std::string line; std::getline(f, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") != "record") continue;
    auto record = nlohmann::json::parse(j["payload"].get<std::string>());
    if (record["type"] == "config_reloaded") records.push_back(record["fields"]);
  }
  return records;
}

TEST_F(Ops, SighupAppliesANewModeAndSaysWhatNeedsARestart) {
  auto proxy = start(config_text("enforce", 0));
  const std::string enforcing_sha256 = sha256_of_file(config_path());
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), "create table sneaky (x int)"), "42501");
  }
  // monitor mode, and a worker count that only a restart can change.
  write_file(config_path(), config_text("monitor", 0, "workers = 3\n"));
  ASSERT_EQ(::kill(proxy->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return proxy->stderr_log().find("enforcement changed; applied") != std::string::npos; }))
      << proxy->stderr_log();
  std::string log = proxy->stderr_log();
  EXPECT_NE(log.find("server.workers changed; it needs a restart"), std::string::npos) << log;
  EXPECT_EQ(metric(scrape(), "ddlgate_config_reloads_total{result=\"ok\"}"), 1);
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), "create table sneaky (x int)"), "OK");  // monitor: allowed, recorded as would_deny
  }
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from pg_class where relname = 'sneaky'"), "1\n");
  EXPECT_GE(metric(scrape(), "ddlgate_decisions_total{class=\"schema_change\",result=\"would_deny\"}"), 1);
  const std::string monitoring_sha256 = sha256_of_file(config_path());

  // The same file again (a SIGHUP for the bundles): nothing new to record.
  ASSERT_EQ(::kill(proxy->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_config_reloads_total{result=\"ok\"}") == 2; }));

  // A broken file is refused whole: the running configuration stays.
  write_file(config_path(), "[enforcement\nmode = ");
  ASSERT_EQ(::kill(proxy->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_config_reloads_total{result=\"failed\"}") == 1; }));
  EXPECT_TRUE(proxy->running());
  EXPECT_EQ(proxy->terminate(), 0);

  // The ledger says which enforcement was in force, and from when: the start, then the
  // reload to monitor mode. Neither the unchanged file nor the broken one is a record.
  auto records = config_records(ledger_dir_, dir_.path() / "export.jsonl");
  ASSERT_EQ(records.size(), 2u) << nlohmann::json(records).dump();
  EXPECT_EQ(records[0]["event"], "start");
  EXPECT_EQ(records[0]["path"], config_path().string());
  EXPECT_EQ(records[0]["sha256"], enforcing_sha256);
  EXPECT_EQ(records[0]["enforcement"]["mode"], "enforce");
  EXPECT_EQ(records[1]["event"], "sighup");
  EXPECT_EQ(records[1]["sha256"], monitoring_sha256);
  EXPECT_EQ(records[1]["enforcement"]["mode"], "monitor");
  EXPECT_EQ(records[1]["applied"], nlohmann::json::array({"enforcement"}));
  EXPECT_EQ(records[1]["needs_restart"], nlohmann::json::array({"server.workers"}));
  run_ok({ddlgate_binary().string(), "ledger", "verify", ledger_dir_.string(), "--pubkey", (dir_.path() / "ledger.pub").string()});
}

}  // namespace
}  // namespace ddlgate::testing

namespace ddlgate::testing {
namespace {

// limits.inspection_budget: two large statements at once where the budget holds one. The
// first holds it (its client sends half and pauses); the second waits limits.inspection_wait_ms
// and is refused with 53200 (simple and extended protocol), its session still usable; the
// first then completes; a statement of up to 64 KiB is read meanwhile. The refusals are in the
// metrics.
TEST_F(Ops, InspectionBudgetRefusesTheSecondOfTwoLargeStatementsWith53200) {
  auto proxy = start(config_text("enforce", 0,
                                 "[limits]\nmax_inspected_message = 1048576\ninspection_budget = 1048576\n"
                                 "inspection_wait_ms = 300\n"));
  const std::string big = "select length('" + std::string(1000 * 1024, 'x') + "')";
  // The first: a raw client that sends the header and half of the body, then waits.
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}}));
  ASSERT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
  const auto query = frontend_message('Q', big + '\0');
  const std::size_t half = query.size() / 2;
  send_all(fd, std::vector<std::uint8_t>(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(half)));
  EXPECT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_inspection_budget_bytes") > 0; }, 5s));

  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(sqlstate_of(c.get(), big), "53200");
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 300ms);
  {
    // The extended protocol: the Parse is refused and the batch skipped to its Sync.
    PgResult r(PQexecParams(c.get(), big.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
    const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    EXPECT_STREQ(code ? code : "", "53200") << PQerrorMessage(c.get());
  }
  {
    // A statement of up to 64 KiB is read even while the budget is full (it would not fit).
    PgResult r(PQexec(c.get(), ("select length('" + std::string(40000, 'y') + "')").c_str()));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "40000");
  }
  {
    PgResult r(PQexec(c.get(), "select 40 + 2"));  // the session goes on
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "42");
  }

  // The first completes.
  send_all(fd, std::vector<std::uint8_t>(query.begin() + static_cast<std::ptrdiff_t>(half), query.end()));
  const std::string answer = read_until_message(fd, 'Z');
  EXPECT_EQ(message_types(answer), "TDCZ") << error_field(answer, 'M');
  EXPECT_NE(answer.find("1024000"), std::string::npos);
  send_all(fd, frontend_message('X', ""));
  ::close(fd);

  auto after = scrape();
  EXPECT_EQ(metric(after, "ddlgate_inspection_budget_waits_total{result=\"refused\"}"), 2) << after;
  EXPECT_EQ(metric(after, "ddlgate_denials_total{reason=\"not_approved\"}"), 0) << "not a policy denial";
  // Now, with the budget free again, the same statement runs.
  {
    PgResult r(PQexec(c.get(), big.c_str()));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "1024000");
  }
  c.reset();
  EXPECT_TRUE(eventually([&] { return metric(scrape(), "ddlgate_inspection_budget_bytes") == 0; }, 5s));
  proxy->terminate(20s);
}

}  // namespace
}  // namespace ddlgate::testing
