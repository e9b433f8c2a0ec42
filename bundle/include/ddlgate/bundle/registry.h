// The set of approved statement hashes, built from a registry directory of signed
// bundles. The proxy holds an immutable snapshot and swaps it atomically on reload:
//
//   ApprovalStore store;                       // std::atomic<std::shared_ptr<const ApprovedSet>>
//   auto r = Registry::load(dir, trust, opts, store.current().get());
//   store.publish(r.snapshot);                 // readers see the old or the new set, never a mix
//   if (const Approval* a = store.current()->find(hash, database)) ...
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ddlgate/bundle/bundle.h"

namespace ddlgate::bundle {

// Why a statement hash is approved: which bundle, file and statement.
struct Approval {
  std::string hash;             // "sha256:<hex>"
  std::string app;
  std::uint64_t version = 0;
  std::string file;             // manifest path; empty for bookkeeping statements
  std::size_t statement_index = 0;  // 1-based within the file; 0 for bookkeeping
  bool repeatable = false;      // a tool's bookkeeping statement
  StatementClass cls = StatementClass::unknown;
  std::string manifest_sha256;  // which exact bundle
  // The bundle's scope: null for every database of the environment, else the databases
  // it names (never empty for a bundle that verified).
  std::shared_ptr<const std::vector<std::string>> databases;
  // A down part's statement (file is its down path, statement_index its place there):
  // usable only by a role that enforcement.deployers names.
  bool down = false;
  std::optional<std::string> search_path;  // normalised; nullopt: a bundle older than format 2's field
  // Why the statement's file is not approved for lack of its risk tiers' signatures
  // (Bundle::unapproved_up / unapproved_down); empty for an approval in force. Such an entry is
  // never returned by find/find_if, only by find_unapproved, to say why a statement is refused.
  std::string unapproved;
};

// A bundle that an earlier ddlgate process accepted: the ledger's bundle_accepted records.
struct AcceptedBefore {
  std::string app;
  std::uint64_t version = 0;
  std::string manifest_sha256;
};

// A revocation that an earlier ddlgate process applied: the ledger's bundle_revoked records.
struct RevokedBefore {
  std::string app;
  std::uint64_t version = 0;  // this one version, or
  std::uint64_t below = 0;    // every version below this one
  std::string revocation_sha256;
};

// An immutable snapshot of every approval in force. Thread-safe to read.
class ApprovedSet {
 public:
  // No approval, but the history of earlier processes: the first load after a restart
  // refuses a version below the highest one ever accepted (a rollback), and the same
  // version with another manifest, as a reload within one process does. Nothing of the
  // history counts as verified: every bundle is verified in full at start.
  // Revocations recorded before (revoked) hold as if their files were still there.
  static std::shared_ptr<const ApprovedSet> with_history(const std::vector<AcceptedBefore>& history,
                                                         const std::vector<RevokedBefore>& revoked = {});
  // The approval of this hash ("sha256:<hex>") for that database, or nullptr.
  // Every approval of hash that covers database, in bundle order (a statement may
  // be approved more than once, e.g. in two files); calls f for each until it returns true.
  template <typename F>
  const Approval* find_if(std::string_view hash, std::string_view database, F&& f) const {
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return nullptr;
    for (const Approval* a : it->second) {
      if (covers(*a, database) && f(*a)) return a;
    }
    return nullptr;
  }
  static bool covers(const Approval& a, std::string_view database);
  const Approval* find(std::string_view hash, std::string_view database) const;
  // A statement of a bundle in force whose file is not approved for lack of its risk tiers'
  // signatures (Approval::unapproved says which), for that database; nullptr if none. Only asked
  // when a statement is refused: the approvals in force are not searched any slower.
  const Approval* find_unapproved(std::string_view hash, std::string_view database) const;
  // The highest version accepted for app (kept even after its bundle expires), 0 if none.
  std::uint64_t accepted_version(std::string_view app) const;
  std::size_t size() const { return count_; }  // number of approvals

  // Per application: the bundle in force and the highest version ever accepted.
  struct AppState {
    std::uint64_t high_water = 0;  // a lower version is refused
    std::string high_water_manifest_sha256;  // the same version must be the same manifest
    // The manifests of every version accepted so far: an older bundle still in the registry
    // is superseded on a reload, not refused (a bundle never seen before below the
    // high-water mark is, as a rollback).
    std::set<std::string, std::less<>> accepted_manifests;
    // Manifests that earlier processes accepted (with_history): an older bundle among them
    // is superseded while the highest version is in force, refused otherwise.
    std::set<std::string, std::less<>> accepted_before;
    // Revocations (docs/bundles.md, "Revocation"): for good, whatever the registry holds later.
    std::set<std::uint64_t> revoked;     // versions revoked one by one
    std::uint64_t revoked_below = 0;     // every version below this one is revoked
    std::set<std::string, std::less<>> revocations;  // revocation.json digests applied (and recorded)
    bool is_revoked(std::uint64_t v) const { return v < revoked_below || revoked.count(v) != 0; }
    std::uint64_t version = 0;     // the version in force (0: none)
    std::string manifest_sha256;
    TimePoint not_after{};
    std::shared_ptr<const std::vector<Approval>> approvals;
  };
  const std::map<std::string, AppState, std::less<>>& apps() const { return apps_; }

 private:
  friend class Registry;
  void index();
  std::map<std::string, AppState, std::less<>> apps_;
  // Transparent hashing: find() looks up a string_view without allocating.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<const Approval*>, Hash, std::equal_to<>> by_hash_;
  std::unordered_map<std::string, std::vector<const Approval*>, Hash, std::equal_to<>> unapproved_by_hash_;
  std::size_t count_ = 0;
};

struct AcceptedBundle {
  std::filesystem::path path;
  std::string app;
  std::uint64_t version = 0;
  std::size_t statements = 0;
  std::string manifest_sha256;  // this bundle's, which is the app's in force only for its highest version
  BundleSource source;          // the manifest's repository, commit, pull request and CI run
  std::vector<Signer> signers;  // the valid signatures, with their roles and names in the trust policy
  std::string scope;            // for logs: "shop, billing", "any database" or "any database (format 1)"
  bool format1_any_database = false;  // a format-1 bundle that named no database: worth a warning
  // Its files that are not approved for lack of their risk tiers' signatures: {"files/<path>"
  // (or "... (down part)"), why}; the rest of the bundle is in force.
  std::vector<Problem> unapproved;
};

// A valid revocation found in the registry directory.
struct AppliedRevocation {
  std::filesystem::path path;
  std::string app;
  std::uint64_t version = 0, below = 0;
  std::string sha256;           // revocation.json's
  std::string reason;
  std::vector<Signer> signers;
  bool is_new = false;          // not applied before (by this process or, per the ledger, an earlier one)
  std::uint64_t withdrew = 0;   // the version in force that it took out of force, 0 if none
};

struct RejectedBundle {
  std::filesystem::path path;
  std::vector<Problem> reasons;  // most important first
};

struct RegistryLoad {
  std::shared_ptr<const ApprovedSet> snapshot;  // never null
  std::vector<AcceptedBundle> accepted;
  std::vector<RejectedBundle> rejected;
  // Valid bundles below the version in force that an earlier load accepted: left out
  // quietly (their approvals were replaced by the newer version's).
  std::vector<AcceptedBundle> superseded;
  // Every valid revocation of the registry directory; is_new ones are to be recorded.
  std::vector<AppliedRevocation> revocations;
};

class Registry {
 public:
  // Verifies every bundle directory directly under `dir` (each with load_bundle). For each
  // app the highest valid version is in force. A rejected bundle never removes approvals
  // that `previous` had in force (unless their validity window has ended); a version lower
  // than one already accepted for the same app, or the same version with a different
  // manifest, is refused. Revocations (directories with a revocation.json) are applied
  // first: a revoked version is refused and, if in force, taken out of force without an
  // older version taking its place; an invalid revocation holds back every bundle of the app
  // it names (the approvals in force stay).
  static RegistryLoad load(const std::filesystem::path& dir, const TrustAnchors& trust, const VerifyOptions& options,
                           const ApprovedSet* previous);
};

// The proxy's holder of the current snapshot: readers take a shared_ptr and use it
// for as long as they like; a reload publishes a new one.
class ApprovalStore {
 public:
  ApprovalStore() : current_(std::make_shared<const ApprovedSet>()) {}
  std::shared_ptr<const ApprovedSet> current() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const ApprovedSet> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const ApprovedSet>> current_;
};

}  // namespace ddlgate::bundle
