// JSON that means one thing to every reader of a signed document.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "ddlgate/base/result.h"

namespace ddlgate::base {

// A JSON object with no duplicate key at any depth (nlohmann keeps the last of
// duplicates; another reader may keep the first). Errors: "not valid JSON",
// "duplicate key \"k\"", "must be a JSON object".
Result<nlohmann::json> parse_strict_json(std::string_view bytes);

}  // namespace ddlgate::base
