#include "tiers.h"

#include <algorithm>

#include "ddlgate/lint/lint.h"

namespace ddlgate::bundle::detail {
namespace {

base::Result<std::vector<PartTiers>> lint_parts(const std::vector<lint::SourceFile>& inputs) {
  std::vector<PartTiers> out(inputs.size());
  lint::Report report = lint::lint(inputs);
  for (const auto& st : report.statements) {
    if (st.file_index >= out.size()) return base::Error{"the analysis reported a statement of no file"};
    std::vector<std::string> rules;
    for (const auto& f : st.findings) {
      // DG-L000: the part does not parse (or could not be analysed). Fail closed: no tier.
      if (f.rule_id == "DG-L000") {
        return base::Error{inputs[st.file_index].name + ": the risk analysis cannot read it: " + f.message};
      }
      rules.push_back(f.rule_id);
    }
    std::sort(rules.begin(), rules.end());
    rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
    if (config::tier_rank(st.tier) < 0) {
      return base::Error{inputs[st.file_index].name + ": the analysis gave an unknown tier '" + st.tier + "'"};
    }
    out[st.file_index].tiers.push_back(st.tier);
    out[st.file_index].rules.push_back(std::move(rules));
  }
  return out;
}

}  // namespace

base::Result<BundleTiers> compute_tiers(const std::vector<std::string>& names, const std::vector<std::string>& ups,
                                        const std::vector<std::optional<std::string>>& downs) {
  BundleTiers out;
  std::vector<lint::SourceFile> inputs;
  inputs.reserve(ups.size());
  for (std::size_t i = 0; i < ups.size(); ++i) inputs.push_back({i < names.size() ? names[i] : std::string(), ups[i]});
  auto up = lint_parts(inputs);
  if (!up) return up.error();
  out.up = std::move(*up);
  out.down.resize(downs.size());
  for (std::size_t i = 0; i < downs.size(); ++i) {
    if (!downs[i]) continue;
    auto down = lint_parts({{(i < names.size() ? names[i] : std::string()) + " (down part)", *downs[i]}});
    if (!down) return down.error();
    out.down[i] = std::move(down->front());
  }
  return out;
}

std::string unmet_tiers(const TrustAnchors& trust, const RoleCounts& signed_by, const std::vector<std::string>& recomputed,
                        const std::vector<ManifestStatement>& claimed) {
  if (trust.tiers.empty()) return {};
  auto threshold = [&](const std::string& role) -> std::uint32_t {
    for (const auto& r : trust.roles) {
      if (r.name == role) return r.threshold;
    }
    return 0;
  };
  for (std::size_t i = 0; i < recomputed.size(); ++i) {
    // A claimed tier other than the recomputed one (verification allows only a higher one) asks
    // for its own requirements too: claiming a tier never drops a requirement.
    std::vector<std::string> tiers{recomputed[i]};
    if (i < claimed.size() && !claimed[i].tier.empty() && claimed[i].tier != recomputed[i]) {
      tiers.push_back(claimed[i].tier);
    }
    std::string missing;
    std::string which;
    for (const auto& tier : tiers) {
      for (const auto& req : trust.tiers) {
        if (req.tier != tier) continue;
        const std::uint32_t need = std::max(req.signatures, threshold(req.role));
        auto it = signed_by.find(req.role);
        const std::size_t has = it == signed_by.end() ? 0 : it->second;
        if (has >= need) continue;
        if (which.empty()) which = tier;
        missing += (missing.empty() ? tier + " statement needs " : ", and ") + std::to_string(need) + " " + req.role +
                   (need == 1 ? " signature" : " signatures") + ", has " + std::to_string(has);
      }
    }
    if (!missing.empty()) return "statement " + std::to_string(i + 1) + " (" + which + "): " + missing;
  }
  return {};
}

}  // namespace ddlgate::bundle::detail
