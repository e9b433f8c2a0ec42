#include <libpq-fe.h>

#include <utility>

#include "ddlgate/drift/drift.h"

namespace ddlgate::drift {

namespace {

// The first line of a libpq or server message, without its line end.
std::string first_line(const char* message) {
  std::string m = message != nullptr ? message : "";
  const std::size_t nl = m.find('\n');
  if (nl != std::string::npos) m.resize(nl);
  return m.empty() ? "unknown error" : m;
}

}  // namespace

std::string redact_conninfo(std::string_view conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &err);
  if (err != nullptr) PQfreemem(err);  // it may quote the string: never shown
  if (options == nullptr) return "(a connection string libpq cannot parse)";
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (!out.empty()) out += ' ';
    out += o->keyword;
    out += '=';
    if (std::string_view(o->keyword) == "password") {
      out += "********";
    } else {
      out += o->val;
    }
  }
  PQconninfoFree(options);
  return out;
}

struct Connection::Impl {
  PGconn* conn = nullptr;
  ~Impl() {
    if (conn != nullptr) PQfinish(conn);
  }
};

Connection::Connection(std::unique_ptr<Impl> impl, std::string side, std::string redacted)
    : impl_(std::move(impl)), side_(std::move(side)), redacted_(std::move(redacted)) {}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

base::Result<Connection> Connection::open(const std::string& conninfo, std::string_view side) {
  std::string redacted = redact_conninfo(conninfo);
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  if (parsed == nullptr) return base::Error(std::string(side) + ": the connection string does not parse");
  PQconninfoFree(parsed);
  auto impl = std::make_unique<Impl>();
  impl->conn = PQconnectdb(conninfo.c_str());
  if (impl->conn == nullptr) return base::Error(std::string(side) + ": cannot connect (" + redacted + "): out of memory");
  if (PQstatus(impl->conn) != CONNECTION_OK) {
    return base::Error(std::string(side) + ": cannot connect (" + redacted + "): " + first_line(PQerrorMessage(impl->conn)));
  }
  // libpq prints NOTICEs to stderr by default ("extension ... already exists, skipping" from a
  // replayed migration); drift's stderr is for its one error line.
  PQsetNoticeProcessor(impl->conn, [](void*, const char*) {}, nullptr);
  return Connection(std::move(impl), std::string(side), std::move(redacted));
}

base::Status Connection::exec(std::string_view sql) {
  PGresult* r = PQexec(impl_->conn, std::string(sql).c_str());
  const ExecStatusType st = PQresultStatus(r);
  std::string why = first_line(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(impl_->conn));
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state != nullptr ? state : "";
  PQclear(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return base::Ok{};
  if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
    return base::Error("COPY to or from the client is not supported here");
  }
  return base::Error(why);
}

base::Result<std::vector<std::vector<std::optional<std::string>>>> Connection::query(
    const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r = PQexecParams(impl_->conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string why = first_line(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(impl_->conn));
    PQclear(r);
    return base::Error(side_ + ": " + why);
  }
  std::vector<std::vector<std::optional<std::string>>> rows;
  const int n = PQntuples(r);
  const int m = PQnfields(r);
  rows.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& row = rows.emplace_back();
    row.reserve(static_cast<std::size_t>(m));
    for (int j = 0; j < m; ++j) {
      if (PQgetisnull(r, i, j)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(r, i, j), static_cast<std::size_t>(PQgetlength(r, i, j))));
      }
    }
  }
  PQclear(r);
  return rows;
}

std::string Connection::database() const { return PQdb(impl_->conn); }

}  // namespace ddlgate::drift
