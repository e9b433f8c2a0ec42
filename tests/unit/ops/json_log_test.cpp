#include "ddlgate/ops/json_log.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

using namespace ddlgate::ops;

TEST(JsonLog, KeyValueTokensBecomeFields) {
  auto j = nlohmann::json::parse(json_log_line(
      "2026-11-26T01:02:03.456Z", "info",
      "session 1f closed: peer=127.0.0.1:5000 user=app database=shop application= duration_ms=12 bytes_in=345"));
  EXPECT_EQ(j["ts"], "2026-11-26T01:02:03.456Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["peer"], "127.0.0.1:5000");
  EXPECT_EQ(j["user"], "app");
  EXPECT_EQ(j["database"], "shop");
  EXPECT_EQ(j["application"], "");
  EXPECT_EQ(j["duration_ms"], 12);
  EXPECT_EQ(j["bytes_in"], 345);
  EXPECT_EQ(j["msg"].get<std::string>().rfind("session 1f closed", 0), 0u);
}

TEST(JsonLog, ReservedKeysAreNotOverwrittenAndQuotesAreEscaped) {
  auto line = json_log_line("t", "warn", "level=debug msg=x \"quoted\" database=db:");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "level=debug msg=x \"quoted\" database=db:");
  EXPECT_EQ(j["database"], "db");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}
