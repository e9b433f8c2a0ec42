#include "guard_confirm.h"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "ddlgate/monitor/monitor.h"

namespace ddlgate::proxy {
namespace {

// After a failed connection attempt, confirmations fail at once for this long (each
// is refused with the reason) rather than each waiting for another attempt.
constexpr auto kRetryAfter = std::chrono::milliseconds(1000);
constexpr std::size_t kMaxDatabases = 1024;
constexpr std::size_t kMaxQueued = 1000;  // confirmations waiting for one database's connection

}  // namespace

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
  // A connection that is behind fails what comes next at once rather than queueing without bound.
  bool behind = false;
  {
    std::lock_guard lock(db->mu);
    behind = db->jobs.size() >= kMaxQueued;
    if (!behind) db->jobs.push_back(Job{false, 0, std::move(request), std::move(done)});
  }
  if (behind) {
    done(base::Error("the control connection to database " + database_name + " is " + std::to_string(kMaxQueued) +
                     " confirmations behind"));
    return;
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
  // The monitor's connection string (monitor.h), named apart in pg_stat_activity (libpq
  // takes the last of a repeated keyword).
  // A server that stops answering must not hold the thread for ever: keepalives find a dead
  // peer, and statement_timeout ends a confirmation the server does not finish (it takes no
  // lock it could wait for).
  const std::string info = monitor::control_conninfo(config_, name, password_) +
                           " application_name='ddlgate control' keepalives=1 keepalives_idle=10"
                           " keepalives_interval=5 keepalives_count=3 options='-c statement_timeout=10000'";
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
