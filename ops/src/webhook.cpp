#include "ddlgate/ops/webhook.h"

#include "ddlgate/base/hex.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

namespace ddlgate::ops {

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms % 1000 < 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];  // room for any int the compiler can imagine in each field
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

std::string webhook_body(const Event& event, std::string_view instance) {
  nlohmann::json j;
  j["text"] = event.text;
  j["event"] = event.name;
  j["time"] = format_rfc3339(event.time);
  j["instance"] = std::string(instance);
  j["details"] = event.details.is_object() ? event.details : nlohmann::json::object();
  // Invalid UTF-8 (a statement in another encoding) is replaced, never thrown.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return base::hex_encode(mac, len);
}

std::string webhook_signature(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string material;
  material.reserve(timestamp.size() + 1 + body.size());
  material.append(timestamp);
  material += '.';
  material.append(body);
  return "sha256=" + hmac_sha256_hex(secret, material);
}

bool event_selected(const std::vector<std::string>& filter, std::string_view event) {
  if (filter.empty()) return true;
  for (const auto& f : filter) {
    if (f == event) return true;
  }
  return false;
}

std::chrono::milliseconds backoff_delay(std::uint32_t failed_attempts, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max) {
  auto d = initial;
  for (std::uint32_t i = 1; i < failed_attempts && d < max; ++i) d *= 2;
  return std::min(d, max);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ddlgate::ops
