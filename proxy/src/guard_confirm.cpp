#include "guard_confirm.h"

#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace ddlgate::proxy {
namespace {

// A libpq connection-string value, quoted.
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

const char* sslmode(config::UpstreamTlsMode m) {
  switch (m) {
    case config::UpstreamTlsMode::disable: return "disable";
    case config::UpstreamTlsMode::prefer: return "prefer";
    case config::UpstreamTlsMode::require: return "require";
    case config::UpstreamTlsMode::verify_full: return "verify-full";
  }
  return "verify-full";
}

// After a failed connection attempt, confirmations fail at once for this long (each
// is refused with the reason) rather than each waiting for another attempt.
constexpr auto kRetryAfter = std::chrono::milliseconds(1000);
constexpr std::size_t kMaxDatabases = 1024;

}  // namespace

std::string GuardConfirmer::conninfo(const config::Config& c, const std::string& database) {
  std::string s;
  const config::Endpoint& up = c.upstream;
  if (up.kind == config::Endpoint::Kind::unix_socket) {
    // libpq names a socket by its directory and the port in its file name (.s.PGSQL.<port>).
    std::filesystem::path p(up.path);
    std::string file = p.filename().string();
    const std::string prefix = ".s.PGSQL.";
    s += "host=" + conninfo_value(p.parent_path().string());
    if (file.rfind(prefix, 0) == 0) s += " port=" + conninfo_value(file.substr(prefix.size()));
  } else {
    s += "host=" + conninfo_value(up.host) + " port=" + std::to_string(up.port);
    s += std::string(" sslmode=") + sslmode(c.upstream_tls.mode);
    if (!c.upstream_tls.ca_file.empty()) s += " sslrootcert=" + conninfo_value(c.upstream_tls.ca_file);
  }
  s += " dbname=" + conninfo_value(database) + " user=" + conninfo_value(c.guard.control_user);
  s += " application_name='ddlgate control' connect_timeout=" +
       std::to_string(std::max<std::uint32_t>(2, (c.timeouts.connect_ms + 999) / 1000));
  return s;
}

GuardConfirmer::GuardConfirmer(const config::Config& config) : config_(config) {
  const config::Guard& g = config.guard;
  if (!g.control_password_file.empty() || !g.control_password_env.empty()) {
    config::SecretRead secret = config::read_secret("guard", "control_password_file", g.control_password_file,
                                                    "control_password_env", g.control_password_env);
    if (secret.problem) throw std::runtime_error(secret.problem->where + ": " + secret.problem->message);
    password_ = std::move(secret.value);
  }
}

GuardConfirmer::~GuardConfirmer() { stop(); }

void GuardConfirmer::stop() {
  std::map<std::string, std::shared_ptr<Database>> dbs;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    dbs.swap(databases_);
  }
  for (auto& [name, db] : dbs) {
    {
      std::lock_guard lock(db->mu);
      db->stopping = true;
    }
    db->cv.notify_all();
    if (db->thread.joinable()) db->thread.join();
  }
}

std::shared_ptr<GuardConfirmer::Database> GuardConfirmer::database(const std::string& name) {
  std::lock_guard lock(mu_);
  if (stopped_) return nullptr;
  auto it = databases_.find(name);
  if (it != databases_.end()) return it->second;
  if (databases_.size() >= kMaxDatabases) return nullptr;
  auto db = std::make_shared<Database>();
  db->thread = std::thread([this, name, raw = db.get()] { run(name, *raw); });
  databases_.emplace(name, db);
  return db;
}

void GuardConfirmer::confirm(const std::string& database_name, guard::ControlConnection::Request request, Done done) {
  auto db = database(database_name);
  if (!db) {
    done(base::Error("no control connection can be opened now (ddlgate is stopping, or too many databases)"));
    return;
  }
  {
    std::lock_guard lock(db->mu);
    db->jobs.push_back(Job{false, 0, std::move(request), std::move(done)});
  }
  db->cv.notify_one();
}

void GuardConfirmer::release(const std::string& database_name, std::int64_t id) {
  std::shared_ptr<Database> db;
  {
    std::lock_guard lock(mu_);
    auto it = databases_.find(database_name);
    if (it == databases_.end()) return;
    db = it->second;
  }
  {
    std::lock_guard lock(db->mu);
    db->jobs.push_back(Job{true, id, {}, {}});
  }
  db->cv.notify_one();
}

void GuardConfirmer::run(const std::string& name, Database& db) {
  std::unique_ptr<guard::ControlConnection> conn;
  std::string last_error;
  std::chrono::steady_clock::time_point retry_at{};
  std::string info = conninfo(config_, name);
  if (!password_.empty()) info += " password=" + conninfo_value(password_);
  for (;;) {
    Job job;
    {
      std::unique_lock lock(db.mu);
      db.cv.wait(lock, [&] { return db.stopping || !db.jobs.empty(); });
      if (db.stopping) {
        for (auto& j : db.jobs) {
          if (j.done) j.done(base::Error("ddlgate is stopping"));
        }
        db.jobs.clear();
        return;
      }
      job = std::move(db.jobs.front());
      db.jobs.pop_front();
    }
    if (conn && !conn->ok()) {
      spdlog::error("guard: the control connection to database {} was lost; its confirmations ended with it", name);
      conn.reset();
    }
    if (job.release) {
      // A confirmation made on a connection since lost ended with it.
      if (conn) {
        if (auto s = conn->release(job.id); !s) spdlog::warn("guard: database {}: {}", name, s.error().reason);
      }
      continue;
    }
    if (!conn) {
      if (std::chrono::steady_clock::now() < retry_at) {
        job.done(base::Error("no control connection to database " + name + ": " + last_error));
        continue;
      }
      auto opened = guard::ControlConnection::open(info);
      if (!opened) {
        last_error = opened.error().reason;
        retry_at = std::chrono::steady_clock::now() + kRetryAfter;
        spdlog::error("guard: cannot open the control connection to database {}: {}", name, last_error);
        job.done(base::Error("no control connection to database " + name + ": " + last_error));
        continue;
      }
      conn = std::move(*opened);
      spdlog::info("guard: control connection to database {} registered", name);
    }
    job.done(conn->confirm(job.request));
  }
}

}  // namespace ddlgate::proxy
