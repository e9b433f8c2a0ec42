#include "tls.h"

#include <cstdio>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace ddlgate::proxy {
namespace {

// The ALPN protocol name PostgreSQL 17 registered; mandatory for direct TLS.
// https://www.postgresql.org/docs/17/protocol-flow.html#PROTOCOL-FLOW-SSL
constexpr unsigned char kAlpnPostgresql[] = "postgresql";

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  // The client's list is a sequence of length-prefixed names.
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == sizeof(kAlpnPostgresql) - 1 && std::equal(in + i + 1, in + i + 1 + len, kAlpnPostgresql)) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  // A client that offers ALPN but not "postgresql" is not talking to a PostgreSQL server.
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::vector<unsigned char> cert_der(X509* cert) {
  std::vector<unsigned char> out;
  if (!cert) return out;
  int len = i2d_X509(cert, nullptr);
  if (len <= 0) return out;
  out.resize(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  i2d_X509(cert, &p);
  return out;
}

}  // namespace

TlsContexts make_tls_contexts(const config::Config& config) {
  namespace ssl = boost::asio::ssl;
  TlsContexts t;
  if (config.client_tls.mode != config::ClientTlsMode::disable) {
    t.client = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* ctx = t.client->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, config.client_tls.cert_file.c_str()) != 1) {
      throw std::runtime_error("tls.cert_file '" + config.client_tls.cert_file + "': " + openssl_reason());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, config.client_tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("tls.key_file '" + config.client_tls.key_file + "': " + openssl_reason());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      throw std::runtime_error("tls.key_file '" + config.client_tls.key_file +
                               "' does not match tls.cert_file: " + openssl_reason());
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    t.client_cert_der = cert_der(SSL_CTX_get0_certificate(ctx));
  }
  if (config.upstream_tls.mode != config::UpstreamTlsMode::disable) {
    t.upstream = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX* ctx = t.upstream->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (config.upstream_tls.mode == config::UpstreamTlsMode::verify_full) {
      if (SSL_CTX_load_verify_locations(ctx, config.upstream_tls.ca_file.c_str(), nullptr) != 1) {
        throw std::runtime_error("upstream.tls.ca_file '" + config.upstream_tls.ca_file + "': " + openssl_reason());
      }
      t.upstream->set_verify_mode(ssl::verify_peer);
    } else {
      // prefer / require encrypt without authenticating the server, as libpq does
      // with sslmode=require and no root certificate.
      t.upstream->set_verify_mode(ssl::verify_none);
    }
  }
  return t;
}

std::vector<unsigned char> peer_certificate_der(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  auto der = cert_der(cert);
  X509_free(cert);
  return der;
}

std::string selected_alpn(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

}  // namespace ddlgate::proxy
