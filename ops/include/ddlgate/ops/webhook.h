// Webhook payloads and their signature (docs/operations.md, "Webhooks"): the
// parts that need no network, so that they can be tested byte for byte.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ddlgate::ops {

// Something an operator may want to be told about.
struct Event {
  std::string name;      // one of config::kWebhookEvents ("statement.denied")
  std::string text;      // one line for humans (Slack's `text`)
  nlohmann::json details = nlohmann::json::object();  // structured fields; never a secret
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
};

// The JSON body: {"text", "event", "time" (RFC 3339, UTC), "instance", "details"}.
std::string webhook_body(const Event& event, std::string_view instance);

// Lower-case hex of HMAC-SHA256(key, data).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// The X-Ddlgate-Signature header value: "sha256=" + hex HMAC-SHA256 of
// "<timestamp>.<body>" under the secret, where timestamp is the
// X-Ddlgate-Timestamp header (Unix seconds), so a receiver can refuse replays.
std::string webhook_signature(std::string_view secret, std::string_view timestamp, std::string_view body);

// Whether a webhook with this event filter (empty: all) wants the event.
bool event_selected(const std::vector<std::string>& filter, std::string_view event);

// How long to wait before attempt number `failed_attempts + 1`: initial doubled
// per failure, never above max.
std::chrono::milliseconds backoff_delay(std::uint32_t failed_attempts, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max);

// Compares two secrets in time that depends on their lengths only.
bool constant_time_equal(std::string_view a, std::string_view b);

// RFC 3339 UTC with milliseconds: "2026-11-26T01:02:03.456Z".
std::string format_rfc3339(std::chrono::system_clock::time_point t);

}  // namespace ddlgate::ops
