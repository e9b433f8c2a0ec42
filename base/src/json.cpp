#include "ddlgate/base/json.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

namespace ddlgate::base {

using nlohmann::json;

Result<json> parse_strict_json(std::string_view bytes) {
  // Objects here have a handful of keys, where a linear scan beats a set per object; an
  // object with many keys (hostile input) switches to a hash set to stay linear.
  struct Keys {
    std::vector<std::string> few;
    std::unordered_set<std::string> many;
    bool insert(const std::string& k) {
      if (many.empty()) {
        if (std::find(few.begin(), few.end(), k) != few.end()) return false;
        few.push_back(k);
        if (few.size() > 32) many.insert(few.begin(), few.end());
        return true;
      }
      return many.insert(k).second;
    }
  };
  std::vector<Keys> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string()) {
          const auto& k = parsed.get_ref<const std::string&>();
          if (!open_objects.back().insert(k) && duplicate.empty()) duplicate = k;
        }
        break;
      default: break;
    }
    return true;
  };
  json j = json::parse(bytes.begin(), bytes.end(), callback, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{"not valid JSON"};
  if (!duplicate.empty()) return Error{"duplicate key \"" + duplicate + "\""};
  if (!j.is_object()) return Error{"must be a JSON object"};
  return j;
}

}  // namespace ddlgate::base
