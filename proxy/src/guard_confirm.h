// ddlgate's side of the guard's confirmations (issue 25, docs/guard.md): one control
// connection per database a session uses, each on a thread of its own, so that a
// confirmation's round trip never blocks a worker. Sessions hand a request over and are
// called back on that thread; releases are queued behind it and not waited for.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ddlgate/base/result.h"
#include "ddlgate/config/config.h"
#include "ddlgate/guard/control.h"

namespace ddlgate::proxy {

class GuardConfirmer {
 public:
  using Confirmed = guard::ControlConnection::Confirmed;
  using Done = std::function<void(base::Result<Confirmed>)>;
  // Throws std::runtime_error when the control password cannot be read.
  explicit GuardConfirmer(const config::Config& config);
  ~GuardConfirmer();
  GuardConfirmer(const GuardConfirmer&) = delete;
  GuardConfirmer& operator=(const GuardConfirmer&) = delete;

  // Confirms on `database`'s control connection; `done` runs on its thread, once.
  void confirm(const std::string& database, guard::ControlConnection::Request request, Done done);
  // Ends a confirmation (best effort: a lost connection has ended it already).
  void release(const std::string& database, std::int64_t id);
  // Stops the threads; pending confirmations fail.
  void stop();

 private:
  struct Job {
    bool release = false;
    std::int64_t id = 0;
    guard::ControlConnection::Request request;
    Done done;
  };
  struct Database {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> jobs;
    bool stopping = false;
    std::thread thread;
  };
  void run(const std::string& name, Database& db);
  std::shared_ptr<Database> database(const std::string& name);

  const config::Config config_;
  std::string password_;
  std::mutex mu_;
  bool stopped_ = false;
  std::map<std::string, std::shared_ptr<Database>> databases_;
};

}  // namespace ddlgate::proxy
