#include <algorithm>
#include <filesystem>

#include "ddlgate/base/sha256.h"
#include "ddlgate/breakglass/breakglass.h"

namespace ddlgate::breakglass {

std::vector<PublicKey> break_glass_keys(const config::BreakGlass& settings, std::vector<base::Problem>* problems) {
  std::vector<PublicKey> keys;
  for (std::size_t i = 0; i < settings.keys.size(); ++i) {
    const std::string& text = settings.keys[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    auto key = base::resolve_public_key(text, settings.base_dir, base::KeyUse::break_glass);
    if (!key) {
      problems->push_back({where, key.error().reason});
      continue;
    }
    if (std::find(keys.begin(), keys.end(), *key) != keys.end()) {
      problems->push_back({where, "key " + base::key_id(*key) + " is listed twice"});
      continue;
    }
    keys.push_back(*key);
  }
  return keys;
}

std::string break_glass_token_digest(std::string_view token) { return "sha256:" + base::sha256_hex(token); }


}  // namespace ddlgate::breakglass
