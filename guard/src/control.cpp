#include "ddlgate/guard/control.h"

#include <string_view>

#include <libpq-fe.h>

#include "pq.h"

namespace ddlgate::guard {

std::string text_array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

base::Result<std::unique_ptr<ControlConnection>> ControlConnection::open(const std::string& conninfo) {
  auto conn = connect(conninfo);
  if (!conn) return conn.error();
  // backend_start travels as text: one fixed format whatever the role's settings.
  auto set = exec(conn->get(), "SET DateStyle = ISO; SET TimeZone = 'UTC'", "setting up the control connection");
  if (!set) return set.error();
  auto reg = exec(conn->get(), "SELECT ddlgate.register_control()", "registering as the control connection");
  if (!reg) return reg.error();
  return std::unique_ptr<ControlConnection>(new ControlConnection(conn->release()));
}

ControlConnection::~ControlConnection() { PQfinish(conn_); }

bool ControlConnection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

base::Result<ControlConnection::Confirmed> ControlConnection::confirm(const Request& q) {
  const std::string pid = std::to_string(q.backend_pid);
  const std::string tags = text_array_literal(q.tags);
  const std::string ttl = std::to_string(q.ttl_seconds) + " seconds";
  const std::string lock_timeout = std::to_string(q.lock_timeout_ms);
  const char* values[] = {pid.c_str(),
                          q.backend_start.empty() ? nullptr : q.backend_start.c_str(),
                          q.text_sha256.c_str(),
                          tags.c_str(),
                          q.role.c_str(),
                          q.search_path ? q.search_path->c_str() : nullptr,
                          ttl.c_str(),
                          lock_timeout.c_str()};
  // The backend's start comes from the server the first time (pg_read_all_stats lets
  // ddlgate_control read it), so that a PID reused by a later backend is not confirmed.
  // Without a lock_timeout, the seven arguments every guard version takes.
  static const char* kConfirm =
      "SELECT ddlgate.confirm($1::pg_catalog.int4, s.start, $3, $4::pg_catalog.text[], $5, $6, "
      "$7::pg_catalog.interval), s.start::pg_catalog.text "
      "FROM (SELECT COALESCE($2::pg_catalog.timestamptz, (SELECT a.backend_start FROM "
      "pg_catalog.pg_stat_get_activity($1::pg_catalog.int4) AS a)) AS start) AS s";
  static const char* kConfirmWithLockTimeout =
      "SELECT ddlgate.confirm($1::pg_catalog.int4, s.start, $3, $4::pg_catalog.text[], $5, $6, "
      "$7::pg_catalog.interval, $8::pg_catalog.int4), s.start::pg_catalog.text "
      "FROM (SELECT COALESCE($2::pg_catalog.timestamptz, (SELECT a.backend_start FROM "
      "pg_catalog.pg_stat_get_activity($1::pg_catalog.int4) AS a)) AS start) AS s";
  const bool with_timeout = q.lock_timeout_ms != 0;
  Res r(PQexecParams(conn_, with_timeout ? kConfirmWithLockTimeout : kConfirm, with_timeout ? 8 : 7, nullptr, values,
                     nullptr, nullptr, 0));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    if (with_timeout && state && std::string_view(state) == "42883") {
      return base::Error("the guard did not confirm: its ddlgate.confirm takes no lock_timeout (a guard older than "
                         "version 2; enforcement.lock_timeout_for_blocking needs version 2): run `ddlgate guard install` "
                         "on this database (" + error_of(r.get(), conn_) + ")");
    }
    return base::Error("the guard did not confirm: " + error_of(r.get(), conn_));
  }
  Confirmed c;
  try {
    c.id = std::stoll(value(r.get(), 0, 0));
  } catch (const std::exception&) {
    return base::Error("the guard answered no confirmation id");
  }
  c.backend_start = value(r.get(), 0, 1);
  return c;
}

base::Status ControlConnection::release(std::int64_t id) {
  const std::string v = std::to_string(id);
  const char* values[] = {v.c_str()};
  Res r(PQexecParams(conn_, "SELECT ddlgate.release($1::pg_catalog.int8)", 1, nullptr, values, nullptr, nullptr, 0));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return base::Error("the guard did not release: " + error_of(r.get(), conn_));
  return base::Ok{};
}

}  // namespace ddlgate::guard
