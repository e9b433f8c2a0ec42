#include "ddlgate/ops/prometheus.h"

#include <array>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

using namespace ddlgate::ops;

TEST(PrometheusText, WritesHelpTypeAndSamples) {
  PrometheusText m;
  m.family("ddlgate_bytes_total", "counter", "Bytes relayed, by direction.");
  m.sample("ddlgate_bytes_total", {{"direction", "client_to_server"}}, std::uint64_t{42});
  m.sample("ddlgate_bytes_total", {{"direction", "server_to_client"}}, std::uint64_t{0});
  m.family("ddlgate_sessions_current", "gauge", "Open sessions.");
  m.sample("ddlgate_sessions_current", {}, std::uint64_t{3});
  EXPECT_EQ(m.text(),
            "# HELP ddlgate_bytes_total Bytes relayed, by direction.\n"
            "# TYPE ddlgate_bytes_total counter\n"
            "ddlgate_bytes_total{direction=\"client_to_server\"} 42\n"
            "ddlgate_bytes_total{direction=\"server_to_client\"} 0\n"
            "# HELP ddlgate_sessions_current Open sessions.\n"
            "# TYPE ddlgate_sessions_current gauge\n"
            "ddlgate_sessions_current 3\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("one\\two\nthree \"quoted\""), "one\\\\two\\nthree \"quoted\"");
  PrometheusText m;
  m.sample("x", {{"app", "sh\"op"}, {"version", "7"}}, std::uint64_t{1});
  EXPECT_EQ(m.text(), "x{app=\"sh\\\"op\",version=\"7\"} 1\n");
}

TEST(PrometheusText, FormatsSpecialValues) {
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(1.0), "1");
  EXPECT_EQ(format_value(2.5), "2.5");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithInfCountAndSum) {
  PrometheusText m;
  std::array<double, 3> bounds = {0.001, 0.01, 0.1};
  std::array<std::uint64_t, 4> counts = {2, 0, 3, 1};  // the last is above 0.1
  m.histogram("ddlgate_ledger_fsync_seconds", {}, bounds, counts, 0.75);
  EXPECT_EQ(m.text(),
            "ddlgate_ledger_fsync_seconds_bucket{le=\"0.001\"} 2\n"
            "ddlgate_ledger_fsync_seconds_bucket{le=\"0.01\"} 2\n"
            "ddlgate_ledger_fsync_seconds_bucket{le=\"0.1\"} 5\n"
            "ddlgate_ledger_fsync_seconds_bucket{le=\"+Inf\"} 6\n"
            "ddlgate_ledger_fsync_seconds_sum 0.75\n"
            "ddlgate_ledger_fsync_seconds_count 6\n");
}

TEST(PrometheusText, HistogramKeepsOtherLabelsBeforeLe) {
  PrometheusText m;
  std::array<double, 1> bounds = {1};
  std::array<std::uint64_t, 2> counts = {1, 1};
  m.histogram("h", {{"kind", "a"}}, bounds, counts, 3);
  EXPECT_EQ(m.text(),
            "h_bucket{kind=\"a\",le=\"1\"} 1\n"
            "h_bucket{kind=\"a\",le=\"+Inf\"} 2\n"
            "h_sum{kind=\"a\"} 3\n"
            "h_count{kind=\"a\"} 2\n");
}
