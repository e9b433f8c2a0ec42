// libpq helpers of the guard's module (guard.cpp, control.cpp): owned connections and
// results, the server's error on one line, and queries with text parameters.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "ddlgate/base/result.h"

namespace ddlgate::guard {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using Res = std::unique_ptr<PGresult, ResultDeleter>;


// libpq's message on one line: its line breaks and tabs become spaces, trailing ones go.
inline std::string trimmed(const char* text) {
  std::string s;
  for (const char* p = text ? text : ""; *p; ++p) {
    char ch = (*p == '\n' || *p == '\t') ? ' ' : *p;
    if (ch == ' ' && !s.empty() && s.back() == ' ') continue;
    s += ch;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// The server's notices (DROP ... IF EXISTS skipping, drop cascades) are not ours to print.
inline void ignore_notice(void*, const char*) {}

// The server's error as "SQLSTATE: message (detail)".
inline std::string error_of(const PGresult* r, PGconn* c) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  if (!primary) return trimmed(PQerrorMessage(c));
  std::string out = std::string(state ? state : "?????") + ": " + primary;
  if (detail) out += " (" + std::string(detail) + ")";
  return out;
}

inline base::Result<Conn> connect(const std::string& conninfo) {
  Conn conn(PQconnectdb(conninfo.c_str()));
  if (!conn) return base::Error("cannot allocate a libpq connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return base::Error("cannot connect: " + trimmed(PQerrorMessage(conn.get())));
  }
  PQsetNoticeProcessor(conn.get(), ignore_notice, nullptr);
  // Names the guard reads are resolved in pg_catalog first, whatever the role's settings.
  Res r(PQexec(conn.get(), "SET search_path = pg_catalog, pg_temp; SET client_encoding = 'UTF8'"));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return base::Error("cannot set up the session: " + error_of(r.get(), conn.get()));
  return conn;
}

// Runs sql; on failure an Error naming `what`.
inline base::Result<Res> exec(PGconn* c, const std::string& sql, const std::string& what) {
  Res r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return base::Error(what + ": " + error_of(r.get(), c));
  return r;
}

// Runs a query with text parameters.
inline base::Result<Res> query(PGconn* c, const std::string& sql, const std::vector<std::string>& params, const std::string& what) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  Res r(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return base::Error(what + ": " + error_of(r.get(), c));
  return r;
}

inline std::string value(const PGresult* r, int row, int col) { return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col); }

}  // namespace ddlgate::guard
