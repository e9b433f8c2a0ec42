// `ddlgate report --ledger DIR [--ledger DIR ...] [--from] [--to] [--pubkey KEY] --out report.html`:
// one self-contained HTML page for an auditor (ledger/report.h, docs/ledger.md "Report").
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "ddlgate/ledger/report.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::cli {
namespace {

namespace lg = ddlgate::ledger;

struct ReportArgs {
  std::vector<std::string> ledgers;
  std::vector<std::string> environments;  // one per ledger, or none
  std::string registry;
  std::string from, to, out, pubkey;
  std::vector<std::string> witness_keys;  // vkeys
  std::size_t witness_quorum = 0;
};

int run_report(const ReportArgs& a) {
  std::optional<lg::NoteVerifier> key;
  if (!a.pubkey.empty()) {
    auto k = lg::NoteVerifier::load_pem(a.pubkey);
    if (!k) {
      std::fprintf(stderr, "ddlgate report: %s\n", k.error().to_string().c_str());
      return kExitUsage;
    }
    key = *k;
  }
  lg::ReportOptions o;
  for (const auto& v : a.witness_keys) {
    auto k = lg::parse_vkey(v);
    if (!k || k->type != lg::kSigTypeCosignatureV1) {
      std::fprintf(stderr, "ddlgate report: --witness-key %s: %s\n", v.c_str(),
                   k ? "not a cosignature/v1 key (type 0x04)" : k.error().reason.c_str());
      return kExitUsage;
    }
    o.witness_keys.push_back(*k);
  }
  if (a.witness_quorum > a.witness_keys.size()) {
    std::fprintf(stderr, "ddlgate report: --witness-quorum %zu needs at least as many --witness-key\n",
                 a.witness_quorum);
    return kExitUsage;
  }
  o.witness_quorum = a.witness_quorum;
  // Record times carry microseconds; a bound given to the second covers that whole second.
  auto widen = [](std::string t, const char* frac) {
    if (!t.empty() && t.back() == 'Z' && t.find('.') == std::string::npos) t.insert(t.size() - 1, frac);
    return t;
  };
  if (!a.from.empty()) o.filter.from = widen(a.from, ".000000");
  if (!a.to.empty()) o.filter.to = widen(a.to, ".999999");
  o.from = a.from;
  o.to = a.to;
  o.key = key ? &*key : nullptr;
  for (const auto& dir : a.ledgers) {
    if (!std::filesystem::is_directory(dir)) {
      std::fprintf(stderr, "ddlgate report: %s: not a ledger directory\n", dir.c_str());
      return kExitUsage;
    }
    o.ledgers.emplace_back(dir);
  }
  if (!a.environments.empty() && a.environments.size() != a.ledgers.size()) {
    std::fprintf(stderr, "ddlgate report: %zu --environment for %zu --ledger: give one for each, or none\n",
                 a.environments.size(), a.ledgers.size());
    return kExitUsage;
  }
  o.environments = a.environments;
  o.registry_dir = a.registry;
  std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
  if (!out) {
    std::fprintf(stderr, "ddlgate report: %s: cannot create\n", a.out.c_str());
    return kExitUsage;
  }
  auto r = lg::write_report(o, out);
  out.close();
  if (!r) {
    std::fprintf(stderr, "ddlgate report: FAILED: %s\n", r.error().to_string().c_str());
    return kExitCheckFailed;
  }
  if (!out) {
    std::fprintf(stderr, "ddlgate report: %s: cannot write\n", a.out.c_str());
    return kExitUsage;
  }
  if (!*r) {
    std::fprintf(stderr, "ddlgate report: a ledger did not verify; the report says which\n");
    return kExitCheckFailed;
  }
  return kExitOk;
}

}  // namespace

void add_report(CLI::App& app, Runner& runner) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "one self-contained HTML page of what the ledgers say, for an auditor");
  cmd->add_option("--ledger", a->ledgers, "ledger directory; repeatable (the ledgers merge into one report)")->required();
  cmd->add_option("--environment", a->environments,
                  "the environment of each --ledger, in their order (default: what the bundle manifests each ledger "
                  "accepted say)");
  cmd->add_option("--registry", a->registry,
                  "where the accepted bundles' directories are looked up by name (default: the path the ledger recorded)");
  cmd->add_option("--from", a->from, "first time, RFC 3339 UTC (inclusive)");
  cmd->add_option("--to", a->to, "last time, RFC 3339 UTC (inclusive)");
  cmd->add_option("--pubkey", a->pubkey, "PEM public key of the checkpoint signer: verify each ledger first");
  cmd->add_option("--witness-key", a->witness_keys,
                  "a witness's vkey (name+id+key, type 0x04): the report names the checkpoints it cosigned; repeatable");
  cmd->add_option("--witness-quorum", a->witness_quorum,
                  "a ledger fails unless its latest checkpoint has valid cosignatures of this many --witness-key");
  cmd->add_option("--out", a->out, "the HTML file to write")->required();
  cmd->callback([&runner, a] { runner = [a] { return run_report(*a); }; });
}

}  // namespace ddlgate::cli
