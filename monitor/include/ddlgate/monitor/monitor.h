// ddlgate watches the in-database guard (issue 25 items 3 and 4, docs/guard.md "What serve
// watches"): for each database in guard.databases, over a control connection of its own, every
// guard.poll_interval_ms it collects the guard's out-of-band changes and refusals, compares a
// catalog snapshot with the previous one, and checks that the guard is intact; every
// guard.drift_interval_ms it runs the drift check. What it finds becomes ledger records, events
// (webhooks, metrics, log lines) and /readyz reasons, through the sink the proxy gives it.
// It runs on threads of its own and never blocks a caller for longer than a lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ddlgate/config/config.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/record.h"

namespace ddlgate::monitor {

// Where the monitor's findings go. Every function may be called from the monitor's threads.
struct Sink {
  // Appends a record and waits until it is durable; false: not recorded (tried again next poll).
  std::function<bool(ledger::Record)> record;
  // A webhook event: change.out_of_band, guard.tampered, schema.drift.
  std::function<void(std::string_view name, std::string text, nlohmann::json details)> event;
  // One more out-of-band change (ddlgate_out_of_band_total{database,source}).
  std::function<void(std::string_view database, std::string_view source)> count;
  // A log line: level 0 info, 1 warning, 2 error.
  std::function<void(int level, std::string line)> log;
};

// What earlier runs recorded, read from the ledger at start so that a restart neither loses
// nor repeats a record.
struct History {
  std::map<std::string, std::uint64_t> last_change_id;   // database -> highest change_id recorded
  std::map<std::string, std::uint64_t> refusals_total;   // database -> the refusal sequence last recorded
  std::map<std::string, std::vector<std::string>> tampered;  // database -> failures, while tampered
  std::map<std::string, std::vector<std::string>> drift;     // database -> difference lines, while drifted
  // Reads out_of_band, guard_tampered and schema_drift records into this History (which must
  // outlive the ledger's open).
  ledger::HistoryReader reader();
};

// The libpq connection string of the control connection to one database: config.upstream
// (a socket's directory and port for a Unix socket), guard.control_user, the password (omitted
// when empty), the upstream TLS settings as sslmode / sslrootcert, connect_timeout 5 s.
std::string control_conninfo(const config::Config& c, std::string_view database, std::string_view password);

// A libpq connection string with its dbname replaced (a URI or key=value text).
std::string with_database(const std::string& conninfo, std::string_view database);

class Monitor {
 public:
  // `password`: the control login's password (empty: none). Nothing runs before start().
  Monitor(config::Config config, std::string password, Sink sink, History history);
  ~Monitor();  // stops
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void start();
  void stop();
  // Every ledger record ddlgate appends (any thread, quick): allowed and break-glass decisions
  // are kept for a while, to explain catalog differences.
  void observe(const ledger::Record& record);
  // Why ddlgate is not ready, one line each (lost connections, a tampered guard).
  std::vector<std::string> problems() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ddlgate::monitor
