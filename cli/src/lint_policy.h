// The `ddlgate lint --policy` file, TOML into lint::Policy (docs/lint.md, "Policy file").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/result.h"
#include "ddlgate/lint/lint.h"

namespace ddlgate::cli {

struct PolicyLoad {
  lint::Policy policy;
  std::vector<base::Problem> problems;  // empty when the policy is usable
};

PolicyLoad parse_lint_policy(std::string_view text, const std::string& source);
PolicyLoad load_lint_policy(const std::string& path);

}  // namespace ddlgate::cli
