// `ddlgate evidence export|verify`: evidence packs for auditors (docs/evidence.md).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/file.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/evidence.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::cli {
namespace {

namespace lg = ddlgate::ledger;

struct ExportArgs {
  std::string ledger, from, to, out, registry;
};

// Record times carry microseconds; a bound given to the second covers that whole second (as
// `ledger export` reads its bounds).
std::string widen(std::string t, const char* frac) {
  if (!t.empty() && t.back() == 'Z' && t.find('.') == std::string::npos) t.insert(t.size() - 1, frac);
  return t;
}

int run_export(const ExportArgs& a) {
  if (!std::filesystem::is_directory(a.ledger)) {
    std::fprintf(stderr, "ddlgate evidence export: %s: not a ledger directory\n", a.ledger.c_str());
    return kExitUsage;
  }
  lg::EvidenceExportOptions o;
  o.from = widen(a.from, ".000000");
  o.to = widen(a.to, ".999999");
  o.registry_dir = a.registry;
  // Written beside the target as it is made (never held whole) and renamed, so that a failed
  // write leaves no half pack.
  const std::string tmp = a.out + ".tmp";
  auto written = lg::write_evidence_pack(a.ledger, o, tmp);
  if (!written) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    // Writing the pack (the error names its file) is not the ledger's failure.
    if (written.error().file == tmp) {
      std::fprintf(stderr, "ddlgate evidence export: %s\n", written.error().to_string().c_str());
      return kExitUsage;
    }
    std::fprintf(stderr, "%s: FAILED: %s\n", a.ledger.c_str(), written.error().to_string().c_str());
    return kExitCheckFailed;
  }
  const lg::EvidenceSummary& s = *written;
  std::error_code ec;
  std::filesystem::rename(tmp, a.out, ec);
  if (ec) {
    std::fprintf(stderr, "ddlgate evidence export: %s: %s\n", a.out.c_str(), ec.message().c_str());
    return kExitUsage;
  }
  std::printf("%s: records %llu..%llu (between the checkpoints at tree sizes %llu and %llu), %zu bundle(s), %zu "
              "cosignature note(s), origin %s\n",
              a.out.c_str(), static_cast<unsigned long long>(s.start), static_cast<unsigned long long>(s.end - 1),
              static_cast<unsigned long long>(s.start), static_cast<unsigned long long>(s.end), s.bundles,
              s.cosignature_notes, s.origin.c_str());
  return kExitOk;
}

struct VerifyArgs {
  std::string pack, pubkey, origin;
  std::vector<std::string> witness_keys;
  std::size_t witness_quorum = 0;
};

// One bundle signature file: it parses, and its key's signature verifies over the manifest's
// bytes (domain-prefixed, docs/bundles.md). Whether the key is trusted is the trust policy's
// question, which the pack does not answer: the ledger recorded that ddlgate accepted it.
std::string check_bundle_signature(std::string_view manifest, std::string_view file) {
  auto checked = bundle::check_signature_file(manifest, file);
  return checked ? std::string() : checked.error().reason;
}

int run_verify(const VerifyArgs& a) {
  auto key = lg::NoteVerifier::load_pem(a.pubkey);
  if (!key) {
    std::fprintf(stderr, "ddlgate evidence verify: %s\n", key.error().to_string().c_str());
    return kExitUsage;
  }
  lg::EvidenceVerifyOptions o;
  o.origin = a.origin;
  o.check_bundle_signature = check_bundle_signature;
  for (const auto& v : a.witness_keys) {
    auto k = lg::parse_vkey(v);
    if (!k || k->type != lg::kSigTypeCosignatureV1) {
      std::fprintf(stderr, "ddlgate evidence verify: --witness-key %s: %s\n", v.c_str(),
                   k ? "not a cosignature/v1 key (type 0x04)" : k.error().reason.c_str());
      return kExitUsage;
    }
    o.witness_keys.push_back(*k);
  }
  if (a.witness_quorum > a.witness_keys.size()) {
    std::fprintf(stderr, "ddlgate evidence verify: --witness-quorum %zu needs at least as many --witness-key\n",
                 a.witness_quorum);
    return kExitUsage;
  }
  o.witness_quorum = a.witness_quorum;
  auto bytes = base::read_capped(a.pack, lg::kMaxEvidencePackBytes, base::Links::follow);
  if (!bytes) {
    std::fprintf(stderr, "ddlgate evidence verify: %s: %s\n", a.pack.c_str(), bytes.error().reason.c_str());
    return kExitUsage;
  }
  auto r = lg::verify_evidence_pack(*bytes, *key, o);
  if (!r) {
    std::fprintf(stderr, "%s: FAILED: %s\n", a.pack.c_str(), r.error().to_string().c_str());
    return kExitCheckFailed;
  }
  std::printf("%s: ok: records %llu..%llu are all the records between the signed checkpoints at tree sizes %llu and "
              "%llu, %zu bundle manifest(s), %zu cosignature note(s), exports recomputed, origin %s\n",
              a.pack.c_str(), static_cast<unsigned long long>(r->start), static_cast<unsigned long long>(r->end - 1),
              static_cast<unsigned long long>(r->start), static_cast<unsigned long long>(r->end), r->bundles,
              r->cosignature_notes, r->origin.c_str());
  // The period the records span, for the auditor to hold against the one asked for (docs/evidence.md, "Limits").
  if (!r->first_time.empty()) {
    std::printf("%s: the records span %s to %s\n", a.pack.c_str(), r->first_time.c_str(), r->last_time.c_str());
  }
  if (r->keys > 1) {
    std::printf("%s: followed %zu ledger key(s): the given key and the rotations in keys/\n", a.pack.c_str(), r->keys);
  }
  if (r->open_end) {
    std::printf("%s: the ledger ended with record %llu when the pack was made: no later record shows the period ended "
                "there\n",
                a.pack.c_str(), static_cast<unsigned long long>(r->end - 1));
  }
  return kExitOk;
}

}  // namespace

void add_evidence(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("evidence", "export or verify an auditor's evidence pack");
  cmd->require_subcommand(1);

  auto ea = std::make_shared<ExportArgs>();
  auto* exp = cmd->add_subcommand("export", "write every record between two signed checkpoints, with proofs, to a pack");
  exp->add_option("--ledger", ea->ledger, "ledger directory")->required();
  exp->add_option("--from", ea->from, "first time, RFC 3339 UTC (inclusive)");
  exp->add_option("--to", ea->to, "last time, RFC 3339 UTC (inclusive)");
  exp->add_option("--out", ea->out, "the pack (a ZIP file)")->required();
  exp->add_option("--registry", ea->registry,
                  "bundle registry directory to take manifests from (default: the path the ledger recorded)");
  exp->callback([&runner, ea] { runner = [ea] { return run_export(*ea); }; });

  auto va = std::make_shared<VerifyArgs>();
  auto* ver = cmd->add_subcommand("verify", "check an evidence pack against the ledger's public key");
  ver->add_option("pack", va->pack, "the pack (a ZIP file)")->required();
  ver->add_option("--pubkey", va->pubkey, "PEM Ed25519 public key of the checkpoint signer")->required();
  ver->add_option("--origin", va->origin, "the ledger's origin: notes signed under any other origin fail");
  ver->add_option("--witness-key", va->witness_keys, "a witness's vkey (name+id+key, type 0x04); repeatable");
  ver->add_option("--witness-quorum", va->witness_quorum,
                  "fail unless the end checkpoint has valid cosignatures of this many --witness-key");
  ver->callback([&runner, va] { runner = [va] { return run_verify(*va); }; });
}

}  // namespace ddlgate::cli
