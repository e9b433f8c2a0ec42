#include "ddlgate/proxy/logging.h"

#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "ddlgate/ops/json_log.h"
#include "ddlgate/ops/webhook.h"

namespace ddlgate::proxy {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v";

// {"ts":"2026-11-26T01:02:03.456Z","level":"info","msg":"...", key=value fields...}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string ts = ops::format_rfc3339(msg.time);
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line = ops::json_log_line(ts, std::string_view(level.data(), level.size()),
                                          std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void configure_logging(config::LogFormat format, const std::string& level) {
  auto logger = spdlog::get("ddlgate");
  if (!logger) {
    logger = spdlog::stderr_color_mt("ddlgate");
    spdlog::set_default_logger(logger);
  }
  if (format == config::LogFormat::json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern, spdlog::pattern_time_type::utc));
  }
  logger->set_level(spdlog::level::from_str(level));
}

}  // namespace ddlgate::proxy
