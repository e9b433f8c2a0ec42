// ddlgate's control connection to one database's guard (docs/guard.md, "Confirmations"):
// it registers itself, then confirms statements for other backends and releases them.
// Blocking (libpq): the proxy runs each on a thread of its own (proxy/src/guard_confirm.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ddlgate/base/result.h"

typedef struct pg_conn PGconn;

namespace ddlgate::guard {

class ControlConnection {
 public:
  // Connects (conninfo: a libpq connection string; the login must be a member of
  // ddlgate_control) and registers as the database's control connection.
  static base::Result<std::unique_ptr<ControlConnection>> open(const std::string& conninfo);
  ~ControlConnection();
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  struct Request {
    std::int32_t backend_pid = 0;
    // The backend's start as this connection reported it before (Confirmed::backend_start),
    // or empty: looked up now (pg_stat_activity) and returned.
    std::string backend_start;
    std::string text_sha256;               // 64 lowercase hex digits
    std::vector<std::string> tags;         // command tags, at least one
    std::string role;
    std::optional<std::string> search_path;  // nullopt: every name is schema-qualified
    std::uint32_t ttl_seconds = 3600;       // the guard's upper bound
    // The lock_timeout (ms) the guard sets for it when the transaction has none (issue 28
    // item 3; guard version 2); 0: none, and the call is the one a version 1 guard takes too.
    std::uint32_t lock_timeout_ms = 0;
  };
  struct Confirmed {
    std::int64_t id = 0;
    std::string backend_start;  // to pass again for this backend
  };
  // One round trip. An error names the cause ("SQLSTATE: message" from the server, or
  // libpq's); after a connection error, ok() is false and the connection must be opened again.
  base::Result<Confirmed> confirm(const Request& request);
  base::Status release(std::int64_t id);
  // The connection is usable (no connection error seen).
  bool ok() const;

 private:
  explicit ControlConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// A PostgreSQL text[] literal of these strings ({"a","b \"c\""}).
std::string text_array_literal(const std::vector<std::string>& items);

}  // namespace ddlgate::guard
