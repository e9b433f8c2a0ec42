// TLS contexts for both legs of a session, built once from the configuration.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "ddlgate/config/config.h"

namespace ddlgate::proxy {

struct TlsContexts {
  // Serves clients (SSLRequest answered 'S', or direct TLS with ALPN "postgresql"); null when disabled.
  std::unique_ptr<boost::asio::ssl::context> client;
  // Connects to the upstream; null when upstream TLS is disabled.
  std::unique_ptr<boost::asio::ssl::context> upstream;
  // DER of the certificate ddlgate presents to clients, to tell whether SCRAM
  // channel binding (which hashes the certificate the client saw) can succeed.
  std::vector<unsigned char> client_cert_der;
};

// Builds the contexts; throws std::runtime_error naming the file and OpenSSL's reason.
TlsContexts make_tls_contexts(const config::Config& config);

// DER encoding of the certificate an SSL session's peer presented (empty if none).
std::vector<unsigned char> peer_certificate_der(SSL* ssl);

// The ALPN protocol selected on a session ("" when none).
std::string selected_alpn(SSL* ssl);

}  // namespace ddlgate::proxy
