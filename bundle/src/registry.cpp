#include "ddlgate/bundle/registry.h"

#include <algorithm>
#include <map>

namespace ddlgate::bundle {

namespace fs = std::filesystem;

const Approval* ApprovedSet::find(std::string_view hash, std::string_view database) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return nullptr;
  for (const Approval* a : it->second) {
    if (covers(*a, database)) return a;
  }
  return nullptr;
}

const Approval* ApprovedSet::find_unapproved(std::string_view hash, std::string_view database) const {
  auto it = unapproved_by_hash_.find(hash);
  if (it == unapproved_by_hash_.end()) return nullptr;
  for (const Approval* a : it->second) {
    if (covers(*a, database)) return a;
  }
  return nullptr;
}

bool ApprovedSet::covers(const Approval& a, std::string_view database) {
  // No list: the bundle's scope is every database (format 2 "any_database", or a format-1
  // bundle that named none). A list, even an empty one, covers only what it names.
  return !a.databases || std::find(a.databases->begin(), a.databases->end(), database) != a.databases->end();
}

std::shared_ptr<const ApprovedSet> ApprovedSet::with_history(const std::vector<AcceptedBefore>& history,
                                                             const std::vector<RevokedBefore>& revoked) {
  auto set = std::make_shared<ApprovedSet>();
  for (const auto& r : revoked) {
    AppState& state = set->apps_[r.app];
    if (r.version != 0) state.revoked.insert(r.version);
    state.revoked_below = std::max(state.revoked_below, r.below);
    state.revocations.insert(r.revocation_sha256);
  }
  for (const auto& h : history) {
    AppState& state = set->apps_[h.app];
    state.accepted_before.insert(h.manifest_sha256);
    if (h.version >= state.high_water) {
      state.high_water = h.version;
      state.high_water_manifest_sha256 = h.manifest_sha256;
    }
  }
  return set;
}

std::uint64_t ApprovedSet::accepted_version(std::string_view app) const {
  auto it = apps_.find(app);
  return it == apps_.end() ? 0 : it->second.high_water;
}

void ApprovedSet::index() {
  by_hash_.clear();
  unapproved_by_hash_.clear();
  count_ = 0;
  for (const auto& [app, state] : apps_) {
    if (!state.approvals) continue;
    for (const auto& a : *state.approvals) count_ += a.unapproved.empty() ? 1 : 0;
  }
  by_hash_.reserve(count_);
  for (const auto& [app, state] : apps_) {
    if (!state.approvals) continue;
    for (const auto& a : *state.approvals) (a.unapproved.empty() ? by_hash_ : unapproved_by_hash_)[a.hash].push_back(&a);
  }
}

namespace {

std::shared_ptr<const std::vector<Approval>> approvals_of(const Bundle& b) {
  auto out = std::make_shared<std::vector<Approval>>();
  std::shared_ptr<const std::vector<std::string>> dbs;
  if (!b.manifest.any_database) dbs = std::make_shared<const std::vector<std::string>>(b.manifest.databases);
  const Manifest& m = b.manifest;
  // A file is approved whole or not at all (its risk tiers' signatures); what it approves in
  // no approved file is not approved as bookkeeping either (a recorded bundle's repeatable.sql).
  std::map<std::string, std::string, std::less<>> withheld;  // hash -> why
  auto why = [](const std::vector<std::string>& list, std::size_t i, const std::string& file) {
    return i < list.size() && !list[i].empty() ? file + " is not approved: " + list[i] : std::string();
  };
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    const auto& f = m.files[i];
    const std::string up_why = why(b.unapproved_up, i, f.path);
    for (const auto& st : f.statements) {
      out->push_back({st.hash, m.app, m.version, f.path, st.index, false, st.cls, b.manifest_sha256, dbs, false,
                      statement_search_path(m, st), up_why});
      if (!up_why.empty()) withheld.emplace(st.hash, up_why);
    }
    if (f.down) {
      const std::string down_why = why(b.unapproved_down, i, f.down->path + " (down part)");
      for (const auto& st : f.down->statements) {
        out->push_back({st.hash, m.app, m.version, f.down->path, st.index, false, st.cls, b.manifest_sha256, dbs, true,
                        statement_search_path(m, st), down_why});
      }
    }
  }
  for (const auto& bk : m.bookkeeping) {
    auto w = withheld.find(bk.hash);
    out->push_back({bk.hash, m.app, m.version, std::string(), 0, true, bk.cls, b.manifest_sha256, dbs, false,
                    statement_search_path(m, bk), w == withheld.end() ? std::string() : w->second});
  }
  return out;
}

std::string scope_text(const Manifest& m) {
  if (m.any_database) return m.format2() ? "any database" : "any database (format 1)";
  std::string out;
  for (const auto& d : m.databases) out += (out.empty() ? "" : ", ") + d;
  return out;
}

}  // namespace

RegistryLoad Registry::load(const fs::path& dir, const TrustAnchors& trust, const VerifyOptions& options,
                            const ApprovedSet* previous) {
  RegistryLoad out;
  auto next = std::make_shared<ApprovedSet>();
  if (previous != nullptr) {
    next->apps_ = previous->apps_;
    // Approvals carried over still end with their bundle's window.
    for (auto& [app, state] : next->apps_) {
      if (state.approvals && options.now - options.clock_skew > state.not_after) {
        state.approvals.reset();
        state.version = 0;
        state.manifest_sha256.clear();
      }
    }
  }

  std::vector<fs::path> dirs, revocation_dirs;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    out.rejected.push_back({dir, {{dir.string(), "the registry directory is missing"}}});
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (!e.is_directory(ec)) continue;
      if (is_revocation_dir(e.path())) revocation_dirs.push_back(e.path());
      else dirs.push_back(e.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  std::sort(revocation_dirs.begin(), revocation_dirs.end());

  // Revocations first: what they withdraw is never put (back) in force below.
  std::map<std::string, fs::path, std::less<>> held_back;  // app -> its invalid revocation
  for (const auto& d : revocation_dirs) {
    LoadRevocationResult r = load_revocation(d, trust, options);
    if (fs::exists(d / "manifest.json", ec)) {
      r.problems.insert(r.problems.begin(),
                        Problem{"revocation.json", "a directory holds a revocation or a bundle, not both"});
    }
    if (!r.ok()) {
      if (!r.app.empty()) held_back.emplace(r.app, d);
      out.rejected.push_back({d, std::move(r.problems)});
      continue;
    }
    const VerifiedRevocation& v = *r.revocation;
    ApprovedSet::AppState& state = next->apps_[v.revocation.app];
    AppliedRevocation applied{d, v.revocation.app, v.revocation.what.version, v.revocation.what.below, v.sha256,
                              v.revocation.reason, v.signers, false, 0};
    applied.is_new = state.revocations.insert(v.sha256).second;
    if (applied.version != 0) state.revoked.insert(applied.version);
    state.revoked_below = std::max(state.revoked_below, applied.below);
    out.revocations.push_back(std::move(applied));
  }
  // A revoked version in force leaves force; the high-water mark stays, so no older version
  // takes its place.
  for (auto& [app, state] : next->apps_) {
    if (state.version == 0 || !state.is_revoked(state.version)) continue;
    for (auto& r : out.revocations) {
      if (r.app == app && (r.version == state.version || state.version < r.below)) r.withdrew = state.version;
    }
    state.approvals.reset();
    state.version = 0;
    state.manifest_sha256.clear();
  }

  // Bundles this process accepted before (in force or superseded) were fully verified:
  // on reload only their signatures, window and file digests are checked again
  // (docs/bundles.md).
  std::vector<std::string> verified;
  if (previous != nullptr) {
    for (const auto& [app, state] : previous->apps_) {
      verified.insert(verified.end(), state.accepted_manifests.begin(), state.accepted_manifests.end());
    }
  }
  VerifyOptions reload = options;
  reload.statements_verified_for = &verified;
  std::vector<Bundle> valid;
  // Older bundles known only from the ledger: superseded if the app's highest version is
  // in force after this load, refused as a rollback otherwise.
  std::vector<std::pair<AcceptedBundle, fs::path>> below_history;
  for (const auto& d : dirs) {
    LoadBundleResult r = load_bundle(d, trust, reload);
    if (r.ok()) valid.push_back(std::move(*r.bundle));
    else out.rejected.push_back({d, std::move(r.problems)});
  }
  std::stable_sort(valid.begin(), valid.end(), [](const Bundle& a, const Bundle& b) {
    return a.manifest.app != b.manifest.app ? a.manifest.app < b.manifest.app : a.manifest.version < b.manifest.version;
  });
  for (auto& b : valid) {
    const Manifest& m = b.manifest;
    ApprovedSet::AppState& state = next->apps_[m.app];
    std::size_t n = 0;
    for (const auto& f : m.files) n += f.statements.size();
    if (auto held = held_back.find(m.app); held != held_back.end()) {
      out.rejected.push_back({b.dir, {{"manifest.json", "app '" + m.app + "' has an invalid revocation in the registry (" +
                                                            held->second.string() +
                                                            "): none of its bundles is put in force until it is "
                                                            "fixed or removed"}}});
      continue;
    }
    if (state.is_revoked(m.version)) {
      out.rejected.push_back({b.dir, {{"manifest.json", "version " + std::to_string(m.version) + " of app '" + m.app +
                                                            "' is revoked"}}});
      continue;
    }
    if (m.version < state.high_water && state.accepted_manifests.count(b.manifest_sha256) != 0) {
      out.superseded.push_back({b.dir, m.app, m.version, n, b.manifest_sha256, m.source, b.signers, scope_text(m), !m.format2() && m.any_database, {}});
      continue;
    }
    if (m.version < state.high_water && state.accepted_before.count(b.manifest_sha256) != 0) {
      below_history.push_back({{b.dir, m.app, m.version, n, b.manifest_sha256, m.source, b.signers, scope_text(m), !m.format2() && m.any_database, {}}, b.dir});
      continue;
    }
    if (m.version < state.high_water) {
      out.rejected.push_back({b.dir, {{"manifest.json", "version " + std::to_string(m.version) + " of app '" + m.app +
                                                            "' is lower than version " + std::to_string(state.high_water) +
                                                            " already accepted"}}});
      continue;
    }
    if (m.version == state.high_water && !state.high_water_manifest_sha256.empty() &&
        state.high_water_manifest_sha256 != b.manifest_sha256) {
      out.rejected.push_back({b.dir, {{"manifest.json", "version " + std::to_string(m.version) + " of app '" + m.app +
                                                            "' was already accepted with a different manifest"}}});
      continue;
    }
    state.high_water = m.version;
    state.high_water_manifest_sha256 = b.manifest_sha256;
    state.version = m.version;
    state.manifest_sha256 = b.manifest_sha256;
    state.not_after = m.not_after;
    state.approvals = approvals_of(b);
    state.accepted_manifests.insert(b.manifest_sha256);
    std::vector<Problem> unapproved;
    for (std::size_t i = 0; i < m.files.size(); ++i) {
      if (i < b.unapproved_up.size() && !b.unapproved_up[i].empty()) {
        unapproved.push_back({"files/" + m.files[i].path, b.unapproved_up[i]});
      }
      if (m.files[i].down && i < b.unapproved_down.size() && !b.unapproved_down[i].empty()) {
        unapproved.push_back({"files/" + m.files[i].down->path + " (down part)", b.unapproved_down[i]});
      }
    }
    out.accepted.push_back({b.dir, m.app, m.version, n, b.manifest_sha256, m.source, b.signers, scope_text(m),
                            !m.format2() && m.any_database, std::move(unapproved)});
  }
  for (auto& [bundle, bundle_dir] : below_history) {
    const ApprovedSet::AppState& state = next->apps_[bundle.app];
    if (state.version == state.high_water) {
      out.superseded.push_back(std::move(bundle));
    } else {
      out.rejected.push_back({bundle_dir, {{"manifest.json", "version " + std::to_string(bundle.version) + " of app '" +
                                                          bundle.app + "' is lower than version " +
                                                          std::to_string(state.high_water) +
                                                          ", which an earlier start accepted and which is not in force"}}});
    }
  }
  next->index();
  out.snapshot = std::move(next);
  return out;
}

}  // namespace ddlgate::bundle
