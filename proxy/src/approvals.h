// The approvals in force: every signed bundle of the registry directory,
// verified and merged into one immutable snapshot that is swapped atomically.
// Loaded at start, on SIGHUP and when the directory changes, on a thread of its
// own so that neither sessions nor the acceptors wait for a reload.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "ddlgate/config/config.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/bundle/registry.h"
#include "dir_watcher.h"

namespace ddlgate::proxy {

struct Ops;

class Approvals {
 public:
  // Decodes the trust policy; throws std::runtime_error naming the key on a problem.
  // `ledger` (may be null) receives a bundle_accepted / bundle_rejected record the first time
  // this process judges a bundle so (every bundle at start, then what changed);
  // `ops` (may be null) counts them and sends the webhook events.
  Approvals(const config::Bundles& bundles, ledger::Ledger* ledger, Ops* ops = nullptr);
  ~Approvals();
  Approvals(const Approvals&) = delete;
  Approvals& operator=(const Approvals&) = delete;

  // Collects the bundles earlier processes accepted, from the ledger's bundle_accepted
  // records, into `into` while the ledger opens.
  // Collects the revocations earlier processes applied (bundle_revoked records) into `revoked`.
  static ledger::HistoryReader history_reader(std::vector<bundle::AcceptedBefore>& into,
                                              std::vector<bundle::RevokedBefore>& revoked);
  // Makes the first load refuse a rollback below that history as a reload would, and keep
  // what was revoked revoked; before start().
  void remember_history(const std::vector<bundle::AcceptedBefore>& history,
                        const std::vector<bundle::RevokedBefore>& revoked = {});
  // The first load, on the caller's thread, then the watcher and reload thread.
  void start();
  // Asks for a reload (SIGHUP); returns at once, the load runs on the reload thread.
  void request_reload(std::string reason);
  void stop();

  // The snapshot in force; never null. Cheap: one atomic load.
  std::shared_ptr<const bundle::ApprovedSet> current() const { return store_.current(); }
  // Bumped on every publish, so a worker can keep its own copy of the pointer and
  // refresh it only when this changes.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  void load(const std::string& reason);

  config::Bundles config_;
  ledger::Ledger* ledger_;
  Ops* ops_;
  bundle::TrustAnchors trust_;
  bundle::ApprovalStore store_;
  std::atomic<std::uint64_t> generation_{0};
  std::mutex load_mutex_;  // one load at a time (SIGHUP and the watcher may race)
  // Under load_mutex_: the bundles (path and reasons, path and manifest digest) that this
  // process has recorded in the ledger (and alerted, for rejections) already.
  std::set<std::string> recorded_rejections_;
  std::set<std::string> recorded_acceptances_;
  boost::asio::io_context ctx_{1};
  std::unique_ptr<DirWatcher> watcher_;
  std::thread thread_;
};

}  // namespace ddlgate::proxy
