#include "approvals.h"

#include "events.h"
#include "ddlgate/ledger/record.h"

#include <charconv>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace ddlgate::proxy {

Approvals::Approvals(const config::Bundles& bundles, ledger::Ledger* ledger, Ops* ops)
    : config_(bundles), ledger_(ledger), ops_(ops) {
  std::vector<base::Problem> problems;
  trust_ = bundle::TrustAnchors::from_config(config_.trust, &problems);
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + ("bundles.trust." + p.to_string());
    throw std::runtime_error(all);
  }
}

Approvals::~Approvals() { stop(); }

namespace {

// A decimal field of a record ("3"), 0 when absent or not a number.
std::uint64_t number_field(const nlohmann::json& fields, const char* name) {
  auto it = fields.find(name);
  if (it == fields.end() || !it->is_string()) return 0;
  const std::string& text = it->get_ref<const std::string&>();
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc{} && end == text.data() + text.size() ? v : 0;
}

}  // namespace

ledger::HistoryReader Approvals::history_reader(std::vector<bundle::AcceptedBefore>& into,
                                                std::vector<bundle::RevokedBefore>& revoked) {
  ledger::HistoryReader reader;
  reader.wants = [](ledger::RecordType type, std::string_view) {
    return type == ledger::RecordType::bundle_accepted || type == ledger::RecordType::bundle_revoked;
  };
  reader.read = [&into, &revoked](const ledger::ParsedRecord& r) {
    if (!r.fields.is_object()) return;
    if (r.type == ledger::RecordType::bundle_revoked) {
      bundle::RevokedBefore b;
      b.app = r.fields.value("bundle", std::string());
      b.version = number_field(r.fields, "version");
      b.below = number_field(r.fields, "below");
      b.revocation_sha256 = r.fields.value("revocation_sha256", std::string());
      if (!b.app.empty() && (b.version != 0) != (b.below != 0)) revoked.push_back(std::move(b));
      return;
    }
    const std::string version = r.fields.value("version", std::string());
    bundle::AcceptedBefore a;
    a.app = r.fields.value("bundle", std::string());
    a.manifest_sha256 = r.fields.value("manifest_sha256", std::string());
    auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), a.version);
    if (ec == std::errc{} && end == version.data() + version.size() && !a.app.empty()) into.push_back(std::move(a));
  };
  return reader;
}

namespace {

// The bundle_accepted record's fields: with the manifest's source and the signers as the trust
// policy names them, so that the ledger alone says who approved it once the registry is pruned.
ledger::BundleAcceptance acceptance(const bundle::AcceptedBundle& a) {
  ledger::BundleAcceptance r;
  r.bundle = a.app;
  r.version = std::to_string(a.version);
  r.manifest_sha256 = a.manifest_sha256;
  r.source = a.path.string();
  r.repository = a.source.repository;
  r.commit = a.source.commit;
  r.pull_request = a.source.pull_request;
  r.ci_run = a.source.ci_run;
  for (const auto& s : a.signers) r.signers.push_back({base::key_id(s.key), s.roles, s.name});
  return r;
}

}  // namespace

void Approvals::remember_history(const std::vector<bundle::AcceptedBefore>& history,
                                 const std::vector<bundle::RevokedBefore>& revoked) {
  store_.publish(bundle::ApprovedSet::with_history(history, revoked));
  std::size_t apps = store_.current()->apps().size();
  spdlog::info("bundles: {} acceptance(s) of {} app(s) in the ledger; no version below the highest is put in force",
               history.size(), apps);
  if (!revoked.empty()) spdlog::info("bundles: {} revocation(s) in the ledger stay in force", revoked.size());
}

void Approvals::start() {
  load("start");
  // A bundle is written in several steps (files, manifest, signatures): wait for
  // a quiet half second before loading. Depth 2 covers <bundle>/signatures/.
  watcher_ = std::make_unique<DirWatcher>(ctx_, config_.registry_dir, 2, std::chrono::milliseconds(500),
                                          [this] { load("the registry directory changed"); });
  if (auto err = watcher_->start(); !err.empty()) {
    spdlog::warn("bundles: not watching {} ({}); reload with SIGHUP", config_.registry_dir, err);
    watcher_.reset();
  }
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(ctx_);
    ctx_.run();
  });
}

void Approvals::request_reload(std::string reason) {
  boost::asio::post(ctx_, [this, reason = std::move(reason)] { load(reason); });
}

void Approvals::stop() {
  ctx_.stop();
  if (thread_.joinable()) thread_.join();
  watcher_.reset();
}

void Approvals::load(const std::string& reason) {
  std::lock_guard lock(load_mutex_);
  bundle::VerifyOptions options;
  options.environment = config_.environment;
  options.now = std::chrono::floor<std::chrono::seconds>(base::Clock::now());
  options.max_manifest_bytes = config_.max_manifest_bytes;
  options.max_signatures = config_.max_signatures;
  auto started = std::chrono::steady_clock::now();
  auto previous = store_.current();
  bundle::RegistryLoad result = bundle::Registry::load(config_.registry_dir, trust_, options, previous.get());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  for (const auto& r : result.rejected) {
    // A rejected bundle changes nothing: the approvals in force stay in force.
    std::string reasons;
    for (const auto& p : r.reasons) reasons += (reasons.empty() ? "" : "; ") + p.to_string();
    spdlog::warn("bundle rejected: {}: {}", r.path.string(), reasons);
    // Every reload judges every bundle again: record and alert once per bundle and reason.
    if (!recorded_rejections_.insert(r.path.string() + "\n" + reasons).second) continue;
    if (ledger_) ledger_->append(ledger::bundle_rejected(r.path.string(), "", reasons), [](const ledger::AppendResult&) {});
    if (ops_) report_bundle_rejected(*ops_, r.path.string(), reasons);
  }
  for (const auto& a : result.accepted) {
    spdlog::info("bundle accepted: {} app={} version={} statements={} databases={}", a.path.string(), a.app, a.version,
                 a.statements, a.scope);
    // A file without its risk tiers' signatures approves nothing; the rest of the bundle does.
    for (const auto& u : a.unapproved) {
      spdlog::warn("bundle {}: {} is not approved: {}", a.path.string(), u.where, u.message);
    }
    // Format 1 never said its scope: an empty list meant every database (issue 26).
    if (a.format1_any_database) {
      spdlog::warn("bundle {}: a format-1 bundle that names no database approves its statements in every database "
                   "of the environment; rebuild it with --database (or --any-database to say so)",
                   a.path.string());
    }
    // The webhook fires when the version in force changes (at every start, too).
    auto was = previous->apps().find(a.app);
    if (ops_ && (was == previous->apps().end() || was->second.version != a.version)) {
      report_bundle_accepted(*ops_, a.app, a.version, a.path.string(), a.statements);
    }
    // Recorded once per bundle by this process: at start, then when a new one is accepted.
    // Durable before the approvals are published: a decision that cites this bundle is
    // never in the ledger without the bundle's acceptance before it.
    const std::string key = a.path.string() + "\n" + a.manifest_sha256;
    if (ledger_ && recorded_acceptances_.insert(key).second) {
      auto r = ledger_->append_durable(ledger::bundle_accepted(acceptance(a)));
      if (!r.ok()) spdlog::error("bundle accepted but not recorded in the ledger: {}: {}", a.path.string(), r.error().reason);
    }
  }
  for (const auto& r : result.revocations) {
    const std::string what = r.version != 0 ? "version " + std::to_string(r.version)
                                            : "every version below " + std::to_string(r.below);
    if (r.withdrew != 0) {
      spdlog::warn("bundle revoked: {} app={} {} ({}): version {} is out of force and no older version takes its place",
                   r.path.string(), r.app, what, r.reason, r.withdrew);
    } else if (r.is_new) {
      spdlog::info("bundle revoked: {} app={} {} ({})", r.path.string(), r.app, what, r.reason);
    }
    if (!r.is_new || !ledger_) continue;
    // Durable before the snapshot without the revoked approvals is published: a restart reads
    // it back even once its directory is gone (docs/bundles.md, "Revocation").
    ledger::BundleRevocation rec;
    rec.bundle = r.app;
    rec.version = r.version;
    rec.below = r.below;
    rec.revocation_sha256 = r.sha256;
    rec.source = r.path.string();
    rec.reason = r.reason;
    for (const auto& s : r.signers) rec.signers.push_back({base::key_id(s.key), s.roles, s.name});
    auto appended = ledger_->append_durable(ledger::bundle_revoked(rec));
    if (!appended.ok()) {
      spdlog::error("bundle revoked but not recorded in the ledger: {}: {}", r.path.string(), appended.error().reason);
    }
  }
  for (const auto& a : result.superseded) {
    spdlog::debug("bundle superseded: {} app={} version={} (a newer version is in force)", a.path.string(), a.app,
                  a.version);
  }
  store_.publish(result.snapshot);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  std::string in_force;
  for (const auto& [app, state] : result.snapshot->apps()) {
    if (state.version == 0) continue;
    in_force += (in_force.empty() ? "" : ", ") + app + " v" + std::to_string(state.version);
  }
  spdlog::info("approvals loaded ({}): {} statement(s) in force from [{}]; {} accepted, {} rejected, {} ms", reason,
               result.snapshot->size(), in_force, result.accepted.size(), result.rejected.size(), ms.count());
}

}  // namespace ddlgate::proxy
