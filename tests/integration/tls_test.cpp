// TLS on both legs and what it means for authentication passing through:
// which SCRAM channel-binding combinations work, and a clear error where they
// cannot (see docs/operations.md, "TLS and SCRAM channel binding").
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/raw_wire.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPassword = "correct-horse-battery";

// A self-signed certificate for ddlgate, unrelated to the server's.
struct OwnCert {
  TempDir dir{"ddlgate-cert"};
  std::string cert = (dir.path() / "ddlgate.crt").string();
  std::string key = (dir.path() / "ddlgate.key").string();
  OwnCert() {
    auto r = run_command({"openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                          "-subj", "/CN=ddlgate", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    if (r.exit_code != 0) throw std::runtime_error("openssl: " + r.stderr_text);
  }
};

std::unique_ptr<DdlgateProcess> serve_with(const PgServer& pg, TempDir& dir, const std::string& toml) {
  auto path = dir.path() / "ddlgate.toml";
  write_file(path, toml);
  return DdlgateProcess::serve(pg, {"--config", path.string()});
}

std::string scram_conninfo(const DdlgateProcess& proxy, const std::string& extra) {
  return proxy.conninfo("alice") + " password=" + kPassword + " " + extra;
}

PgServerOptions scram_server(bool tls) {
  PgServerOptions o;
  o.auth = PgAuth::scram_sha_256;
  o.user = "alice";
  o.password = kPassword;
  o.tls = tls;
  return o;
}

std::string query_value(PGconn* c, const char* sql) {
  std::string err;
  auto v = pg_query_value(c, sql, &err);
  return v ? *v : "ERROR: " + err;
}

TEST(Tls, ClientLegTlsWithPlaintextUpstreamAndScram) {
  PgServer pg(scram_server(false));
  OwnCert own;
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[tls]\nmode = \"allow\"\ncert_file = \"" + own.cert + "\"\nkey_file = \"" + own.key + "\"\n");
  // The server offers no SCRAM-SHA-256-PLUS without TLS; libpq over TLS then
  // sends gs2 flag 'y', which a server without TLS accepts.
  auto c = pg_connect(scram_conninfo(*proxy, "sslmode=require"));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(PQsslInUse(c.get()), 1);
  EXPECT_EQ(query_value(c.get(), "select current_user"), "alice");
  // A wrong password is the server's refusal, relayed.
  auto bad = pg_connect(proxy->conninfo("alice") + " password=wrong sslmode=require");
  EXPECT_EQ(PQstatus(bad.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(bad.get())).find("password authentication failed"), std::string::npos);
  // Plaintext clients are still accepted in "allow" mode.
  auto plain = pg_connect(scram_conninfo(*proxy, "sslmode=disable"));
  EXPECT_EQ(PQstatus(plain.get()), CONNECTION_OK) << PQerrorMessage(plain.get());
}

TEST(Tls, RequireModeRefusesPlaintextClients) {
  PgServer pg;
  OwnCert own;
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[tls]\nmode = \"require\"\ncert_file = \"" + own.cert + "\"\nkey_file = \"" + own.key + "\"\n");
  auto plain = pg_connect(proxy->conninfo() + " sslmode=disable");
  EXPECT_EQ(PQstatus(plain.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(plain.get())).find("ddlgate requires TLS"), std::string::npos)
      << PQerrorMessage(plain.get());
  auto verified = pg_connect(proxy->conninfo() + " sslmode=verify-full sslrootcert=" + own.cert + " host=localhost");
  EXPECT_EQ(PQstatus(verified.get()), CONNECTION_OK) << PQerrorMessage(verified.get());
}

TEST(Tls, ChannelBindingWorksWhenDdlgatePresentsTheUpstreamsCertificate) {
  PgServer pg(scram_server(true));
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir,
                          "[tls]\nmode = \"allow\"\ncert_file = \"" + pg.server_cert_file().string() +
                              "\"\nkey_file = \"" + pg.server_key_file().string() +
                              "\"\n[upstream.tls]\nmode = \"verify-full\"\nca_file = \"" + pg.ca_file().string() +
                              "\"\nserver_name = \"localhost\"\n");
  auto c = pg_connect(scram_conninfo(*proxy, "sslmode=verify-full sslrootcert=" + pg.ca_file().string() +
                                                 " host=localhost channel_binding=require"));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  // The upstream leg is encrypted too.
  EXPECT_EQ(query_value(c.get(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()"), "t");
}

TEST(Tls, ChannelBindingThroughADifferentCertificateGetsAClearError) {
  PgServer pg(scram_server(true));
  OwnCert own;
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir,
                          "[tls]\nmode = \"allow\"\ncert_file = \"" + own.cert + "\"\nkey_file = \"" + own.key +
                              "\"\n[upstream.tls]\nmode = \"require\"\n");
  // libpq's default channel_binding=prefer picks SCRAM-SHA-256-PLUS when offered.
  auto c = pg_connect(scram_conninfo(*proxy, "sslmode=require"));
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("SCRAM channel binding cannot pass through ddlgate"),
            std::string::npos)
      << PQerrorMessage(c.get());
  // Without channel binding the same path works.
  auto d = pg_connect(scram_conninfo(*proxy, "sslmode=require channel_binding=disable"));
  ASSERT_EQ(PQstatus(d.get()), CONNECTION_OK) << PQerrorMessage(d.get());
  EXPECT_EQ(query_value(d.get(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()"), "t");
}

TEST(Tls, PlaintextClientWithTlsUpstreamAndScram) {
  PgServer pg(scram_server(true));
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[upstream.tls]\nmode = \"require\"\n");
  auto c = pg_connect(scram_conninfo(*proxy, "sslmode=disable"));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(query_value(c.get(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()"), "t");
}

TEST(Tls, UpstreamVerifyFullRefusesAnUntrustedServer) {
  PgServer pg({.tls = true});
  OwnCert other;  // a CA that did not sign the server's certificate
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[upstream.tls]\nmode = \"verify-full\"\nca_file = \"" + other.cert + "\"\n");
  auto c = pg_connect(proxy->conninfo());
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("TLS handshake with the upstream server"), std::string::npos)
      << PQerrorMessage(c.get());
}

// CVE-2021-23222, the other way round: a hostile or spoofed upstream answers the SSLRequest
// with 'S' followed by plaintext (here AuthenticationOk and ReadyForQuery). ddlgate reads the
// one answer byte only, so the plaintext goes into the TLS handshake, which fails: the client
// never sees a session that the real server did not open.
TEST(Tls, PlaintextAfterTheUpstreamsSIsNeverTakenAsTheSession) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::uint16_t port = ntohs(a.sin_port);
  std::atomic<bool> got_ssl_request{false};
  std::thread hostile([&] {
    int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    unsigned char request[8];
    if (::recv(fd, request, sizeof request, MSG_WAITALL) == 8 && request[4] == 0x04 && request[7] == 0x2f) {
      got_ssl_request = true;
      static const unsigned char kAnswer[] = {'S', 'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'};
      (void)::send(fd, kAnswer, sizeof kAnswer, MSG_NOSIGNAL);
      char sink[4096];
      while (::recv(fd, sink, sizeof sink, 0) > 0) {
      }
    }
    ::close(fd);
  });
  TempDir dir("ddlgate-cfg");
  write_file(dir.path() / "ddlgate.toml", "[upstream.tls]\nmode = \"require\"\n");
  {
    DdlgateProcess proxy({"serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:" + std::to_string(port),
                          "--config", (dir.path() / "ddlgate.toml").string()});
    auto c = pg_connect(proxy.conninfo());
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
    EXPECT_NE(std::string(PQerrorMessage(c.get())).find("TLS handshake with the upstream server"), std::string::npos)
        << PQerrorMessage(c.get());
    EXPECT_TRUE(proxy.running());
  }
  ::shutdown(listener, SHUT_RDWR);
  ::close(listener);
  hostile.join();
  EXPECT_TRUE(got_ssl_request.load());
}

TEST(Tls, UpstreamRequireAgainstAServerWithoutTls) {
  PgServer pg;
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[upstream.tls]\nmode = \"require\"\n");
  auto c = pg_connect(proxy->conninfo());
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("does not support TLS"), std::string::npos)
      << PQerrorMessage(c.get());
  // "prefer" falls back to plaintext.
  TempDir dir2("ddlgate-cfg");
  auto prefer = serve_with(pg, dir2, "[upstream.tls]\nmode = \"prefer\"\n");
  auto d = pg_connect(prefer->conninfo());
  EXPECT_EQ(PQstatus(d.get()), CONNECTION_OK) << PQerrorMessage(d.get());
}

// A PostgreSQL 17 client with sslnegotiation=direct starts with a TLS
// ClientHello carrying ALPN "postgresql" instead of an SSLRequest.
int direct_tls_first_byte(std::uint16_t port, bool with_alpn) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -2;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (with_alpn) {
    static const unsigned char kAlpn[] = "\x0apostgresql";
    SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn - 1);
  }
  int result = -1;
  if (SSL_connect(ssl) == 1) {
    // user=postgres database=postgres, protocol 3.0
    static const unsigned char kStartup[] = {0, 0, 0, 41, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'p', 'o', 's', 't',
                                             'g', 'r', 'e', 's', 0, 'd', 'a', 't', 'a', 'b', 'a', 's', 'e', 0,
                                             'p', 'o', 's', 't', 'g', 'r', 'e', 's', 0, 0};
    SSL_write(ssl, kStartup, sizeof kStartup);
    unsigned char first = 0;
    if (SSL_read(ssl, &first, 1) == 1) result = first;
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return result;
}

TEST(Tls, DirectTlsWithAlpnIsServedAndWithoutItRefused) {
  PgServer pg;
  OwnCert own;
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[tls]\nmode = \"allow\"\ncert_file = \"" + own.cert + "\"\nkey_file = \"" + own.key + "\"\n");
  EXPECT_EQ(direct_tls_first_byte(proxy->port(), true), 'R');   // AuthenticationOk from the server
  EXPECT_EQ(direct_tls_first_byte(proxy->port(), false), 'E');  // ErrorResponse: ALPN is mandatory
  EXPECT_TRUE(proxy->running());
}

// CVE-2021-23214 with TLS configured: a startup packet sent with the SSLRequest, before the
// 'S', must not be taken as the first message of the encrypted session.
TEST(Tls, PlaintextSentWithTheSslRequestIsRefusedBeforeTheHandshake) {
  PgServer pg;
  OwnCert own;
  TempDir dir("ddlgate-cfg");
  auto proxy = serve_with(pg, dir, "[tls]\nmode = \"allow\"\ncert_file = \"" + own.cert + "\"\nkey_file = \"" + own.key + "\"\n");
  std::vector<std::uint8_t> bytes = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
  auto startup = startup_packet(0, {{"user", "postgres"}, {"database", "postgres"}});
  bytes.insert(bytes.end(), startup.begin(), startup.end());
  std::string reply = exchange(proxy->port(), bytes);
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0], 'E') << "answered '" << reply[0] << "'";
  EXPECT_EQ(error_field(reply, 'C'), "08P01");
  // The same request alone is answered 'S', and libpq completes its handshake.
  auto c = pg_connect(proxy->conninfo() + " sslmode=require");
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(PQsslInUse(c.get()), 1);
}

TEST(Tls, DirectTlsIsClosedWhenTlsIsDisabled) {
  PgServer pg;
  auto proxy = DdlgateProcess::serve(pg);
  EXPECT_EQ(direct_tls_first_byte(proxy->port(), true), -1);
  EXPECT_TRUE(proxy->running());
}

}  // namespace
}  // namespace ddlgate::testing
