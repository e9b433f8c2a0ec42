// Signing and verifying bundles (docs/bundles.md "Verification").
#include <algorithm>
#include <atomic>
#include <thread>
#include <fcntl.h>
#include <optional>
#include <set>
#include <unistd.h>

#include "ddlgate/base/file.h"
#include "ddlgate/base/json.h"
#include "ddlgate/base/sha256.h"
#include "internal.h"
#include "tiers.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/search_path.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/bundle/recorded.h"

namespace ddlgate::bundle {
namespace {

namespace fs = std::filesystem;

std::string key_text(const PublicKey& k) { return base::key_id(k); }

// Format 1 signs the manifest; format 2 the manifest and the signer's role (its key usage),
// so that a signature made as one role never counts for another.
// A revocation (domain2 = kRevocationSignatureDomain) is signed as format 2 is.
std::string signed_message(std::string_view manifest_bytes, bool format2, std::string_view role,
                           std::string_view domain2 = kManifestSignatureDomain2) {
  std::string msg;
  if (!format2) {
    msg.reserve(kManifestSignatureDomain.size() + manifest_bytes.size());
    msg.append(kManifestSignatureDomain);
  } else {
    msg.reserve(domain2.size() + role.size() + 6 + manifest_bytes.size());
    msg.append(domain2).append("role ").append(role).append("\n");
  }
  msg.append(manifest_bytes);
  return msg;
}

// A role as format 2 signs it: 1 to 64 of a-z 0-9 _ - (no newline can move the boundary
// between the role and the manifest bytes).
bool valid_role(std::string_view role) {
  if (role.empty() || role.size() > 64) return false;
  return std::all_of(role.begin(), role.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

// The "format" member of manifest bytes whose full parse failed, to check its signatures
// with the right domain all the same; format 1 when it cannot be read.
bool peek_format2(std::string_view manifest_bytes) {
  auto parsed = base::parse_strict_json(manifest_bytes);
  if (!parsed || !parsed->is_object()) return false;
  auto it = parsed->find("format");
  return it != parsed->end() && it->is_string() && it->get_ref<const std::string&>() == kBundleFormat2;
}

// Reads and checks every signature file against the manifest bytes. Valid ones become
// signers; anything else is a problem (an unreadable signature is never ignored).
std::vector<Signer> read_signatures(const fs::path& dir, std::string_view manifest_bytes, bool format2,
                                    std::size_t max_signatures, std::vector<Problem>& problems,
                                    std::string_view domain2 = kManifestSignatureDomain2) {
  std::vector<Signer> signers;
  fs::path sig_dir = dir / "signatures";
  std::error_code ec;
  if (!fs::is_directory(sig_dir, ec)) {
    problems.push_back({"signatures/", "missing: the bundle is not signed"});
    return signers;
  }
  std::vector<fs::directory_entry> entries;
  for (const auto& e : fs::directory_iterator(sig_dir, ec)) {
    entries.push_back(e);
    if (entries.size() > max_signatures) {
      problems.push_back({"signatures/", "more than " + std::to_string(max_signatures) + " signature files"});
      return signers;
    }
  }
  std::sort(entries.begin(), entries.end());
  // The signed message, rebuilt only when the role (format 2) differs from the last one's:
  // one copy of the manifest at a time, however many roles the files claim.
  std::string message;
  std::optional<std::string> message_role;
  for (const auto& e : entries) {
    std::string name = "signatures/" + e.path().filename().string();
    std::string why;
    if (e.path().extension() != ".sig") {
      problems.push_back({name, "not a .sig file; only signature files belong in signatures/"});
      continue;
    }
    auto bytes = base::read_capped(e.path(), kMaxSignatureFileBytes);
    if (!bytes) {
      problems.push_back({name, bytes.error().reason});
      continue;
    }
    auto sig = parse_signature_file(*bytes);
    if (!sig) {
      problems.push_back({name, sig.error().reason});
      continue;
    }
    if (format2 && !valid_role(sig->role)) {
      problems.push_back({name, "\"role\" must be 1 to 64 of a-z 0-9 _ - in a format-2 bundle (it is signed)"});
      continue;
    }
    const std::string role_key = format2 ? sig->role : std::string();
    if (!message_role || *message_role != role_key) {
      message = signed_message(manifest_bytes, format2, role_key, domain2);
      message_role = role_key;
    }
    if (!base::ed25519_verify(sig->public_key, message, sig->signature)) {
      problems.push_back({name, "the signature by key " + key_text(sig->public_key) +
                                    (format2 ? " as role '" + sig->role + "'" : std::string()) +
                                    " does not verify against " +
                                    (domain2 == kManifestSignatureDomain2 ? "manifest.json" : "revocation.json")});
      continue;
    }
    signers.push_back({sig->public_key, name, sig->role, {}, {}});
  }
  return signers;
}

}  // namespace

base::Status check_signature_file(std::string_view manifest_bytes, std::string_view signature_file) {
  auto sig = parse_signature_file(signature_file);
  if (!sig) return sig.error();
  const bool format2 = peek_format2(manifest_bytes);
  if (format2 && !valid_role(sig->role)) {
    return base::Error{"\"role\" must be 1 to 64 of a-z 0-9 _ - in a format-2 bundle (it is signed)"};
  }
  if (!base::ed25519_verify(sig->public_key, signed_message(manifest_bytes, format2, format2 ? sig->role : ""),
                            sig->signature)) {
    return base::Error{"the signature by key " + key_text(sig->public_key) +
                       (format2 ? " as role '" + sig->role + "'" : std::string()) + " does not verify against manifest.json"};
  }
  return base::Ok{};
}

namespace {

// Re-derives the statements of one part (up or down) of a file and holds the manifest's list
// to them: count, index, hash, class and display SQL.
std::vector<Problem> check_statements(const std::string& where, const std::string& part, std::string_view text,
                                      const std::vector<ManifestStatement>& listed) {
  std::vector<Problem> problems;
  // Display SQL too: what the manifest shows an approver must be what the file says.
  sql::Analysis a = sql::analyze(text, sql::Policy{}, sql::Detail::all);
  if (!a.ok()) {
    problems.push_back({where, part + "does not parse: " + a.error->message});
    return problems;
  }
  if (a.statements.size() != listed.size()) {
    problems.push_back({where, part + "has " + std::to_string(a.statements.size()) +
                                   " statements, the manifest lists " + std::to_string(listed.size())});
    return problems;
  }
  // A wholly different file would give one line per statement; the first few say enough.
  constexpr std::size_t kMaxStatementProblems = 10;
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < a.statements.size(); ++i) {
    const auto& ms = listed[i];
    const auto& st = a.statements[i];
    if (ms.index == i + 1 && ms.hash == st.hash && ms.cls == st.cls && ms.sql == st.display_sql) continue;
    if (++mismatches > kMaxStatementProblems) continue;
    const std::string n = part + "statement " + std::to_string(i + 1);
    if (ms.index != i + 1) {
      problems.push_back({where, n + " has index " + std::to_string(ms.index)});
    } else if (ms.hash != st.hash) {
      problems.push_back({where, n + ": the manifest's hash " + ms.hash + " differs from the file's " + st.hash});
    } else if (ms.cls != st.cls) {
      problems.push_back({where, n + ": the manifest's class " + std::string(to_string(ms.cls)) +
                                     " differs from the file's " + std::string(to_string(st.cls))});
    } else {
      // The signed text is what `bundle inspect` and reviewers read: a manifest whose
      // sql says something else than the statement it approves is refused.
      problems.push_back({where, n + ": the manifest's sql is not the display SQL of the file's statement (" +
                                     detail::excerpt(st.display_sql) + ")"});
    }
  }
  if (mismatches > kMaxStatementProblems) {
    problems.push_back({where, "and " + std::to_string(mismatches - kMaxStatementProblems) +
                                   " more statements that differ from the manifest"});
  }
  return problems;
}

// One listed file's check: its problems, and its parts' texts when they were asked for (the
// risk tiers are recomputed over the whole bundle afterwards).
struct FileCheck {
  std::vector<Problem> problems;
  std::string up;
  std::optional<std::string> down;
};

std::vector<Problem> verify_file(const ManifestFile& f, MigrationTool tool, const fs::path& files_dir,
                                 const std::set<std::string>& present, bool recompute, FileCheck& texts);

FileCheck check_file(const ManifestFile& f, MigrationTool tool, const fs::path& files_dir,
                     const std::set<std::string>& present, bool recompute, bool want_texts) {
  FileCheck out;
  out.problems = verify_file(f, tool, files_dir, present, recompute, out);
  if (!want_texts) {
    out.up.clear();
    out.down.reset();
  }
  return out;
}

// Checks one listed file: present, its digest, and every statement re-derived from its up part;
// keeps its parts' texts in `texts`.
std::vector<Problem> verify_file(const ManifestFile& f, MigrationTool tool, const fs::path& files_dir,
                                 const std::set<std::string>& present, bool recompute, FileCheck& texts) {
  std::vector<Problem> problems;
  std::string why;
  std::string where = "files/" + f.path;
  if (!present.count(f.path)) {
    problems.push_back({where, "listed in the manifest but missing"});
    return problems;
  }
  auto content = base::read_capped(files_dir / f.path, kMaxMigrationFileBytes);
  if (!content) {
    problems.push_back({where, content.error().reason});
    return problems;
  }
  if (std::string digest = base::sha256_hex(*content); digest != f.sha256) {
    problems.push_back({where, "SHA-256 " + digest + " differs from the manifest's " + f.sha256});
    return problems;
  }
  // The down part: in the same file (dbmate, goose) or the one the layout names; its digest
  // always, its statements as the up part's.
  std::optional<std::string> separate;
  if (f.down) {
    const DownPart& d = *f.down;
    const std::string dwhere = "files/" + d.path;
    auto expected = down_path(tool, f.path);
    if (!expected || *expected != d.path) {
      problems.push_back({where, "down: path '" + d.path + "' is not where " + std::string(to_string(tool)) +
                                     " keeps this migration's down part" +
                                     (expected ? " ('" + *expected + "')" : " (it has none)")});
      return problems;
    }
    if (d.path != f.path) {
      if (!present.count(d.path)) {
        problems.push_back({dwhere, "listed in the manifest as a down part but missing"});
        return problems;
      }
      auto bytes = base::read_capped(files_dir / d.path, kMaxMigrationFileBytes);
      if (!bytes) {
        problems.push_back({dwhere, bytes.error().reason});
        return problems;
      }
      separate = std::move(*bytes);
    }
    if (std::string digest = base::sha256_hex(separate ? *separate : *content); digest != d.sha256) {
      problems.push_back({dwhere, "down: SHA-256 " + digest + " differs from the manifest's " + d.sha256});
      return problems;
    }
    if (d.statements.empty()) {
      problems.push_back({dwhere, "down: lists no statement (a migration without one has no \"down\")"});
      return problems;
    }
  }
  auto up = up_part(tool, *content);
  if (!up) {
    problems.push_back({where, up.error().reason});
    return problems;
  }
  std::optional<std::string> down;
  const std::string dwhere = f.down ? "files/" + f.down->path : std::string();
  if (f.down) {
    auto d = down_part(tool, separate ? *separate : *content);
    if (!d) {
      problems.push_back({dwhere, "down: " + d.error().reason});
      return problems;
    }
    down = std::move(*d);
  }
  if (recompute) {
    if (auto p = check_statements(where, "", *up, f.statements); !p.empty()) return p;
    if (down) {
      if (auto p = check_statements(dwhere, "down part ", *down, f.down->statements); !p.empty()) return p;
    }
  }
  texts.up = std::move(*up);
  texts.down = std::move(down);
  return problems;
}

// The name a trust policy gives a key: the stem of the .pub file it lists ("alice" for
// "keys/alice.pub"); an inline key (base64 or PEM text) has none.
std::string key_name(const std::string& text, const fs::path& base_dir) {
  if (base::parse_public_key(text) || text.find("-----BEGIN") != std::string::npos) return {};
  fs::path p(text);
  if (p.is_relative()) p = base_dir / p;
  return p.extension() == ".pub" ? p.stem().string() : p.filename().string();
}

}  // namespace

TrustAnchors TrustAnchors::from_config(const config::TrustPolicy& policy, std::vector<Problem>* problems) {
  TrustAnchors anchors;
  for (const auto& role : policy.roles) {
    Role r;
    r.name = role.name;
    r.threshold = role.threshold;
    for (std::size_t i = 0; i < role.keys.size(); ++i) {
      const std::string& text = role.keys[i];
      std::string where = "roles." + role.name + ".keys[" + std::to_string(i) + "]";
      // A key file that declares its use must be for this role's: the registry role's keys
      // are registry keys, every other role's are approvers' (docs/bundles.md).
      auto key = base::resolve_public_key(text, policy.base_dir,
                                          role.name == "registry" ? base::KeyUse::registry : base::KeyUse::approver);
      if (!key) {
        problems->push_back({where, key.error().reason});
        continue;
      }
      if (std::find(r.keys.begin(), r.keys.end(), *key) != r.keys.end()) {
        problems->push_back({where, "key " + base::key_id(*key) + " is listed twice in the role"});
        continue;
      }
      r.keys.push_back(*key);
      r.names.push_back(key_name(text, policy.base_dir));
    }
    if (r.threshold < 1 || r.threshold > r.keys.size()) {
      problems->push_back({"roles." + role.name, "threshold " + std::to_string(r.threshold) + " cannot be met by " +
                                                     std::to_string(r.keys.size()) + " usable keys"});
    }
    anchors.roles.push_back(std::move(r));
  }
  if (anchors.roles.empty()) problems->push_back({"roles", "no role: nothing could ever be trusted"});
  // [tiers]: config validated names and counts against the key strings; a tier must still be
  // reachable with the keys that decode.
  for (const auto& t : policy.tiers) {
    auto role = std::find_if(anchors.roles.begin(), anchors.roles.end(), [&](const Role& r) { return r.name == t.role; });
    if (config::tier_rank(t.tier) < 0 || role == anchors.roles.end()) {
      problems->push_back({"tiers." + t.tier + "." + t.role, "names an unknown tier or role"});
    } else if (t.signatures > role->keys.size()) {
      problems->push_back({"tiers." + t.tier + "." + t.role, std::to_string(t.signatures) + " signatures cannot be met by " +
                                                                 std::to_string(role->keys.size()) + " usable keys"});
    }
  }
  anchors.tiers = policy.tiers;
  return anchors;
}

base::Result<fs::path> sign_bundle(const fs::path& bundle_dir, const SigningKey& key, std::string_view role) {
  std::error_code ec;
  // A revocation directory (revocation.json, no manifest.json) is signed the same way, with
  // its own domain, by the registry role only.
  const bool revocation = !fs::exists(bundle_dir / "manifest.json", ec) && is_revocation_dir(bundle_dir);
  const fs::path signed_file = bundle_dir / (revocation ? "revocation.json" : "manifest.json");
  auto manifest = base::read_capped(signed_file, revocation ? kMaxRevocationBytes : kDefaultMaxManifestBytes * 64);
  if (!manifest) {
    return base::Error{signed_file.string() + ": " + manifest.error().reason};
  }
  if (revocation && role != "registry") {
    return base::Error{"role '" + std::string(role) + "': only the registry role signs a revocation"};
  }
  // The role is signed in format 2: read which format the manifest is (an unreadable one
  // is signed as format 1, and verify says what is wrong with it).
  const bool format2 = revocation || peek_format2(*manifest);
  if (format2 && !valid_role(role)) {
    return base::Error{"role '" + std::string(role) + "': must be 1 to 64 of a-z 0-9 _ - (format 2 signs it)"};
  }
  SignatureFile sig;
  sig.key_id = base::key_id(key.public_key());
  sig.public_key = key.public_key();
  sig.role = std::string(role);
  sig.signature = key.sign(signed_message(*manifest, format2, role,
                                          revocation ? kRevocationSignatureDomain : kManifestSignatureDomain2));
  if (sig.signature.size() != 64) {
    return base::Error{"signing failed"};
  }
  fs::path dir = bundle_dir / "signatures";
  fs::create_directories(dir, ec);
  fs::path path = dir / (sig.key_id.substr(sig.key_id.find(':') + 1) + ".sig");
  std::string text = serialize_signature_file(sig);
  // A second signature by the same key replaces the first (it counts once anyway).
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return base::Error{tmp.string() + ": cannot create"};
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  // Written under another name first so that `bundle verify` never sees half a file.
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return base::Error{path.string() + ": cannot write"};
  }
  return path;
}

LoadBundleResult load_bundle(const fs::path& dir, const TrustAnchors& trust, const VerifyOptions& o) {
  LoadBundleResult result;
  auto& problems = result.problems;
  std::string why;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    problems.push_back({dir.string(), "not a bundle directory"});
    return result;
  }

  // 1. The manifest's size, before it is read.
  auto manifest_bytes = base::read_capped(dir / "manifest.json", o.max_manifest_bytes);
  if (!manifest_bytes) {
    problems.push_back({"manifest.json", manifest_bytes.error().reason});
    return result;
  }

  // The manifest is parsed first, for its format (which decides what a signature covers);
  // its problems are reported after the signatures'.
  std::vector<Problem> manifest_problems;
  std::optional<Manifest> manifest = parse_manifest(*manifest_bytes, &manifest_problems);
  const bool format2 = manifest ? manifest->format2() : peek_format2(*manifest_bytes);

  // 2. Signatures over the raw bytes, then thresholds by distinct public key per role.
  // Format 2: a signature counts only for the role it was made as (its key usage), and
  // only if the trust policy lists the key under that role.
  std::vector<Signer> signers = read_signatures(dir, *manifest_bytes, format2, o.max_signatures, problems);
  auto lists = [](const TrustAnchors::Role& role, const PublicKey& key) {
    return std::find(role.keys.begin(), role.keys.end(), key) != role.keys.end();
  };
  auto counts_for = [&](const Signer& s, const TrustAnchors::Role& role) {
    return lists(role, s.key) && (!format2 || s.claimed_role == role.name);
  };
  for (auto& s : signers) {
    bool listed_anywhere = false;
    for (const auto& role : trust.roles) {
      auto at = std::find(role.keys.begin(), role.keys.end(), s.key);
      if (at == role.keys.end()) continue;
      listed_anywhere = true;
      if (!counts_for(s, role)) continue;
      s.roles.push_back(role.name);
      auto i = static_cast<std::size_t>(at - role.keys.begin());
      if (s.name.empty() && i < role.names.size()) s.name = role.names[i];
    }
    if (!listed_anywhere) {
      problems.push_back({s.file, "key " + base::key_id(s.key) + " is not in the trust policy"});
    } else if (s.roles.empty()) {
      problems.push_back({s.file, "key " + base::key_id(s.key) + " signed as role '" + s.claimed_role +
                                      "', and the trust policy does not list it under that role"});
    }
  }
  detail::RoleCounts signed_by;  // distinct keys per role, for the risk tiers
  for (const auto& role : trust.roles) {
    std::set<PublicKey> distinct;
    for (const auto& s : signers) {
      if (counts_for(s, role)) distinct.insert(s.key);
    }
    signed_by[role.name] = distinct.size();
    if (distinct.size() < role.threshold) {
      problems.push_back({"role " + role.name, std::to_string(distinct.size()) + " of " + std::to_string(role.threshold) +
                                                   " required signatures by distinct trusted keys"});
    }
  }
  if (trust.roles.empty()) problems.push_back({"trust policy", "has no role; nothing can be trusted"});

  // 3. The manifest itself.
  for (auto& p : manifest_problems) problems.push_back(std::move(p));
  if (!manifest) return result;
  const Manifest& m = *manifest;

  // Format 2 fields whose behaviour this ddlgate does not have yet. Ignoring them could
  // approve more than the signers meant (a revoked version), so the bundle is refused
  // instead (docs/bundles.md, evolving the format).
  if (m.format2()) {
    if (m.tool_profile != kToolProfileVersion && m.tool_profile != kToolProfileVersionOldest) {
      problems.push_back({"manifest.json", "tool profile " + std::string(to_string(m.tool)) + "/" +
                                               std::to_string(m.tool_profile) + " is not known to this ddlgate (it has " +
                                               std::string(to_string(m.tool)) + "/" +
                                               std::to_string(kToolProfileVersionOldest) + " to " +
                                               std::string(to_string(m.tool)) + "/" +
                                               std::to_string(kToolProfileVersion) + ")"});
    }
    if (!m.history.empty()) {
      if (m.tool_profile < 2) {
        problems.push_back({"manifest.json", "tool: history: profile " + std::to_string(m.tool_profile) +
                                                 " has no history table names; they need profile 2"});
      } else if (auto st = check_history_table(m.tool, m.history); !st.ok()) {
        problems.push_back({"manifest.json", "tool: history: " + st.error().reason});
      }
    }
    if (!m.revocations.empty()) {
      problems.push_back({"manifest.json", "revokes: a manifest's revocations are not carried out (a revocation is "
                                           "a registry directory of its own: ddlgate bundle revoke); the bundle is "
                                           "refused rather than loaded without them"});
    }
    // search_path: each one must be a valid path written in its normal form, so that what the
    // signers read is byte for byte what the guard compares (docs/bundles.md, "search_path").
    auto check_path = [&](const std::optional<std::string>& sp, const std::string& where, const std::string& what) {
      if (!sp) return;
      auto normal = sql::normalize_search_path(*sp);
      if (!normal) {
        problems.push_back({where, what + "search_path '" + *sp + "' is not a valid search_path: " + normal.error().reason});
      } else if (*normal != *sp) {
        problems.push_back({where, what + "search_path '" + *sp + "' is not in normal form (it would be '" + *normal + "')"});
      }
    };
    check_path(m.search_path, "manifest.json", "");
    for (const auto& f : m.files) {
      for (const auto& st : f.statements) {
        check_path(st.search_path, "files/" + f.path, "statement " + std::to_string(st.index) + ": ");
      }
      if (f.down) {
        for (const auto& st : f.down->statements) {
          check_path(st.search_path, "files/" + f.down->path, "down part statement " + std::to_string(st.index) + ": ");
        }
      }
    }
    for (std::size_t i = 0; i < m.bookkeeping.size(); ++i) {
      check_path(m.bookkeeping[i].search_path, "manifest.json", "bookkeeping[" + std::to_string(i) + "]: ");
    }
    // Risk tiers: claimed by an analysis this ddlgate computes, on every statement, or on none.
    if (!m.analysis.empty() && m.analysis != kTierAnalysis) {
      problems.push_back({"manifest.json", "analysis '" + m.analysis + "' is not the one this ddlgate computes ('" +
                                               std::string(kTierAnalysis) + "'): its tiers cannot be checked; rebuild "
                                               "the bundle"});
    }
    auto check_claims = [&](const std::vector<ManifestStatement>& sts, const std::string& where, const std::string& part) {
      for (const auto& st : sts) {
        if (m.analysis.empty() && !st.tier.empty()) {
          problems.push_back({where, part + "statement " + std::to_string(st.index) +
                                         ": has a tier, and the manifest names no analysis"});
          return;
        }
        if (!m.analysis.empty() && st.tier.empty()) {
          problems.push_back({where, part + "statement " + std::to_string(st.index) + ": has no tier, and the manifest "
                                         "names analysis '" + m.analysis + "' (every statement must have one)"});
          return;
        }
      }
    };
    for (const auto& f : m.files) {
      check_claims(f.statements, "files/" + f.path, "");
      if (f.down) check_claims(f.down->statements, "files/" + f.down->path, "down part ");
    }
  }

  if (m.hash_definition != sql::kHashVersionTag) {
    problems.push_back({"manifest.json", "hash_definition is '" + m.hash_definition + "', this ddlgate computes '" +
                                             std::string(sql::kHashVersionTag) + "'"});
  }
  // 4. Environment and validity window.
  if (!o.environment.empty() && m.environment != o.environment) {
    problems.push_back({"manifest.json", "environment is '" + m.environment + "', expected '" + o.environment + "'"});
  }
  if (m.not_after <= m.not_before) {
    problems.push_back({"manifest.json", "not_after " + base::format_time(m.not_after) + " is not after not_before " +
                                             base::format_time(m.not_before)});
  }
  if (o.now + o.clock_skew < m.not_before) {
    problems.push_back({"manifest.json", "not yet valid: not_before is " + base::format_time(m.not_before) + ", now is " +
                                             base::format_time(o.now)});
  }
  if (o.now - o.clock_skew > m.not_after) {
    problems.push_back({"manifest.json", "expired: not_after was " + base::format_time(m.not_after) + ", now is " +
                                             base::format_time(o.now)});
  }

  // 5. Exactly the listed files, each with its digest; 6. every statement re-derived.
  std::set<std::string> listed;
  for (const auto& f : m.files) {
    if (!detail::safe_relative_path(f.path)) {
      problems.push_back({"manifest.json", "file path '" + f.path + "' is not a plain relative path"});
      return result;
    }
    if (!listed.insert(f.path).second) problems.push_back({"manifest.json", "file '" + f.path + "' is listed twice"});
  }
  // A down part in a file of its own (golang-migrate, sqitch) belongs to the bundle too.
  for (const auto& f : m.files) {
    if (!f.down || f.down->path == f.path) continue;
    if (!detail::safe_relative_path(f.down->path)) {
      problems.push_back({"manifest.json", "down path '" + f.down->path + "' is not a plain relative path"});
      return result;
    }
    if (!listed.insert(f.down->path).second) {
      problems.push_back({"manifest.json", "file '" + f.down->path + "' is listed twice"});
    }
  }
  fs::path files_dir = dir / "files";
  std::set<std::string> present;
  if (fs::is_directory(files_dir, ec)) {
    for (auto it = fs::recursive_directory_iterator(files_dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      std::string rel = fs::relative(it->path(), files_dir, ec).generic_string();
      auto st = it->symlink_status(ec);
      if (fs::is_directory(st)) continue;
      if (!fs::is_regular_file(st)) {
        problems.push_back({"files/" + rel, "not a regular file"});
        continue;
      }
      present.insert(rel);
    }
  }
  for (const auto& p : present) {
    if (!listed.count(p)) problems.push_back({"files/" + p, "not listed in the manifest"});
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n != "manifest.json" && n != "files" && n != "signatures") {
      problems.push_back({n, "unexpected entry in the bundle directory"});
    }
  }

  // Files are independent, and re-parsing them is most of the cost of loading a large
  // bundle: they are checked on several threads, and their problems merged in file order.
  std::vector<FileCheck> file_checks(m.files.size());
  std::string manifest_sha256 = base::sha256_hex(*manifest_bytes);
  bool recompute = o.statements_verified_for == nullptr ||
                   std::find(o.statements_verified_for->begin(), o.statements_verified_for->end(), manifest_sha256) ==
                       o.statements_verified_for->end();
  // The risk tiers are recomputed with the statements, and whenever the trust policy has tier
  // requirements (a reload of an unchanged bundle skips the hashes, never the tiers it needs).
  const bool tiers = recompute || !trust.tiers.empty();
  std::atomic<std::size_t> next_file{0};
  auto worker = [&] {
    for (std::size_t i = next_file++; i < m.files.size(); i = next_file++) {
      file_checks[i] = check_file(m.files[i], m.tool, files_dir, present, recompute, tiers);
    }
  };
  std::size_t threads = std::min<std::size_t>({std::max(1u, std::thread::hardware_concurrency()), m.files.size(), 8});
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  for (auto& fc : file_checks) {
    for (auto& p : fc.problems) problems.push_back(std::move(p));
  }
  // Bookkeeping statements are approved without any file: each must be one of the
  // statements of the manifest's tool profile (bookkeeping_sql), byte for byte, once.
  // A signed manifest cannot add a statement of its own here (a DROP would otherwise
  // be approved, repeatable, with no file an approver saw).
  // A recorded bundle's are the statements of its own repeatable.sql file (recorded.h).
  const std::vector<std::string> profile = m.tool == MigrationTool::recorded
                                               ? recorded_bookkeeping_sql(m)
                                               : bookkeeping_sql(m.tool, m.history, m.tool_profile);
  std::set<std::string> seen_bookkeeping;
  for (std::size_t i = 0; i < m.bookkeeping.size(); ++i) {
    const auto& b = m.bookkeeping[i];
    std::string where = "manifest.json: bookkeeping[" + std::to_string(i) + "]";
    if (b.tool != to_string(m.tool)) {
      problems.push_back({where, "tool '" + b.tool + "' is not the manifest's tool '" +
                                     std::string(to_string(m.tool)) + "'"});
      continue;
    }
    if (std::find(profile.begin(), profile.end(), b.sql) == profile.end()) {
      problems.push_back({where, "sql is not a bookkeeping statement of " + std::string(to_string(m.tool)) +
                                     " (docs/bundles.md lists them): " + detail::excerpt(b.sql)});
      continue;
    }
    if (!seen_bookkeeping.insert(b.sql).second) {
      problems.push_back({where, "sql is listed twice"});
      continue;
    }
    sql::Analysis a = sql::analyze(b.sql, sql::Policy{}, sql::Detail::hashes);
    if (!a.ok() || a.statements.size() != 1) {
      problems.push_back({where, "sql is not exactly one statement"});
    } else if (a.statements[0].hash != b.hash || a.statements[0].cls != b.cls) {
      problems.push_back({where, "hash or class does not match its sql"});
    }
  }
  if (!problems.empty()) return result;

  // 7. Risk tiers (docs/bundles.md, "Risk tiers"): recomputed over the whole bundle; a claimed
  // tier lower than the recomputed one refuses the bundle; a file whose statements lack their
  // tiers' signatures is not approved (the rest of the bundle is).
  std::vector<std::string> unapproved_up(m.files.size()), unapproved_down(m.files.size());
  if (tiers) {
    std::vector<std::string> names, ups;
    std::vector<std::optional<std::string>> downs;
    for (std::size_t i = 0; i < m.files.size(); ++i) {
      names.push_back("files/" + m.files[i].path);
      ups.push_back(std::move(file_checks[i].up));
      downs.push_back(std::move(file_checks[i].down));
    }
    file_checks.clear();
    auto computed = detail::compute_tiers(names, ups, downs);
    if (!computed) {
      problems.push_back({"risk tiers", computed.error().reason});
      return result;
    }
    auto hold = [&](const std::vector<ManifestStatement>& sts, const detail::PartTiers& t, const std::string& where,
                    const std::string& part) -> bool {
      if (t.tiers.size() != sts.size()) {
        problems.push_back({where, part + "the risk analysis found " + std::to_string(t.tiers.size()) +
                                       " statements, the manifest lists " + std::to_string(sts.size())});
        return false;
      }
      if (m.analysis.empty()) return true;
      bool ok = true;
      for (std::size_t i = 0; i < sts.size(); ++i) {
        const std::string n = part + "statement " + std::to_string(i + 1);
        if (config::tier_rank(sts[i].tier) < config::tier_rank(t.tiers[i])) {
          problems.push_back({where, n + ": the manifest claims tier " + sts[i].tier + ", the analysis gives " +
                                         t.tiers[i] + " (" + detail::excerpt(sts[i].sql) + ")"});
          ok = false;
        } else if (sts[i].rules != t.rules[i]) {
          // What reviewers read must be what the analysis finds: no finding left out or added.
          auto join = [](const std::vector<std::string>& v) {
            std::string out;
            for (const auto& r : v) out += (out.empty() ? "" : ", ") + r;
            return out.empty() ? std::string("none") : out;
          };
          problems.push_back({where, n + ": the manifest lists rules " + join(sts[i].rules) + ", the analysis finds " +
                                         join(t.rules[i])});
          ok = false;
        }
      }
      return ok;
    };
    bool ok = true;
    for (std::size_t i = 0; i < m.files.size(); ++i) {
      const ManifestFile& f = m.files[i];
      ok = hold(f.statements, computed->up[i], "files/" + f.path, "") && ok;
      unapproved_up[i] = detail::unmet_tiers(trust, signed_by, computed->up[i].tiers, f.statements);
      if (f.down) {
        if (!computed->down[i]) {
          problems.push_back({"files/" + f.down->path, "down part: not analysed"});
          ok = false;
          continue;
        }
        ok = hold(f.down->statements, *computed->down[i], "files/" + f.down->path, "down part ") && ok;
        unapproved_down[i] = detail::unmet_tiers(trust, signed_by, computed->down[i]->tiers, f.down->statements);
      }
    }
    if (!ok) return result;
  }

  Bundle bundle;
  bundle.dir = dir;
  bundle.unapproved_up = std::move(unapproved_up);
  bundle.unapproved_down = std::move(unapproved_down);
  bundle.manifest_sha256 = manifest_sha256;
  bundle.manifest = std::move(*manifest);
  bundle.signers = std::move(signers);
  result.bundle = std::move(bundle);
  return result;
}

InspectResult inspect_bundle(const fs::path& dir, std::uint64_t max_manifest_bytes) {
  InspectResult result;
  std::string why;
  auto bytes = base::read_capped(dir / "manifest.json", max_manifest_bytes);
  if (!bytes) {
    result.problems.push_back({"manifest.json", bytes.error().reason});
    return result;
  }
  result.manifest = parse_manifest(*bytes, &result.problems);
  const bool format2 = result.manifest ? result.manifest->format2() : peek_format2(*bytes);
  result.signers = read_signatures(dir, *bytes, format2, kDefaultMaxSignatures, result.problems);
  if (result.manifest) {
    for (const auto& f : result.manifest->files) {
      std::vector<std::size_t> lines;
      std::string ignored;
      if (detail::safe_relative_path(f.path)) {
        auto content = base::read_capped(dir / "files" / f.path, kMaxMigrationFileBytes);
        if (content && base::sha256_hex(*content) == f.sha256) lines = statement_lines(result.manifest->tool, *content);
      }
      if (lines.size() != f.statements.size()) lines.clear();
      result.lines.push_back(std::move(lines));
    }
  }
  return result;
}

bool is_revocation_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "revocation.json", ec);
}

LoadRevocationResult load_revocation(const fs::path& dir, const TrustAnchors& trust, const VerifyOptions& o) {
  LoadRevocationResult result;
  auto& problems = result.problems;
  auto bytes = base::read_capped(dir / "revocation.json", kMaxRevocationBytes);
  if (!bytes) {
    problems.push_back({"revocation.json", bytes.error().reason});
    return result;
  }
  // Which app it names, even when the rest is wrong (a duplicate key, say): the registry holds
  // that app's bundles back. A lenient read, used for nothing else.
  if (auto j = nlohmann::json::parse(*bytes, nullptr, false); j.is_object()) {
    if (auto app = j.find("app"); app != j.end() && app->is_string()) result.app = app->get<std::string>();
  }
  std::vector<Problem> parse_problems;
  std::optional<RevocationFile> rev = parse_revocation(*bytes, &parse_problems);
  std::vector<Signer> signers =
      read_signatures(dir, *bytes, true, o.max_signatures, problems, kRevocationSignatureDomain);
  // Only the registry role revokes: a key counts if the policy lists it under "registry" and
  // it signed as "registry"; any other valid signature is a problem (it means something else).
  const TrustAnchors::Role* registry = nullptr;
  for (const auto& role : trust.roles) {
    if (role.name == "registry") registry = &role;
  }
  std::set<PublicKey> distinct;
  for (auto& s : signers) {
    const bool listed = registry != nullptr && std::find(registry->keys.begin(), registry->keys.end(), s.key) !=
                                                   registry->keys.end();
    if (!listed || s.claimed_role != "registry") {
      problems.push_back({s.file, "key " + base::key_id(s.key) + " signed as role '" + s.claimed_role +
                                      "': only keys the trust policy lists under the registry role sign revocations"});
      continue;
    }
    s.roles.push_back("registry");
    auto i = static_cast<std::size_t>(std::find(registry->keys.begin(), registry->keys.end(), s.key) - registry->keys.begin());
    if (i < registry->names.size()) s.name = registry->names[i];
    distinct.insert(s.key);
  }
  if (registry == nullptr) {
    problems.push_back({"trust policy", "has no registry role: no revocation can be trusted"});
  } else if (distinct.size() < registry->threshold) {
    problems.push_back({"role registry", std::to_string(distinct.size()) + " of " + std::to_string(registry->threshold) +
                                             " required signatures by distinct trusted keys"});
  }
  for (auto& p : parse_problems) problems.push_back(std::move(p));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n != "revocation.json" && n != "signatures") {
      problems.push_back({n, "unexpected entry in a revocation directory"});
    }
  }
  if (!rev) return result;
  if (!o.environment.empty() && rev->environment != o.environment) {
    problems.push_back({"revocation.json", "environment is '" + rev->environment + "', expected '" + o.environment + "'"});
  }
  if (!problems.empty()) return result;
  result.revocation = VerifiedRevocation{dir, base::sha256_hex(*bytes), std::move(*rev), std::move(signers)};
  return result;
}

}  // namespace ddlgate::bundle
