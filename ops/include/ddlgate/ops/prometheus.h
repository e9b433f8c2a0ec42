// The Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): # HELP and
// # TYPE once per metric family, then one line per sample.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace ddlgate::ops {

// The Content-Type of a scrape answer in this format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// One label of a sample.
struct Label {
  std::string_view name;
  std::string_view value;
};

// Builds the text of one scrape.
class PrometheusText {
 public:
  // Starts a metric family: type is "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  // One histogram series: `counts` holds bounds.size() + 1 per-bucket counts (not
  // cumulative; the last is above every bound); written as cumulative
  // name_bucket{le=...}, name_sum and name_count.
  void histogram(std::string_view name, std::initializer_list<Label> labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

  const std::string& text() const { return out_; }

 private:
  void begin_sample(std::string_view name, std::initializer_list<Label> labels, const Label* extra);
  std::string out_;
};

// A label value with \, " and newline escaped.
std::string escape_label_value(std::string_view v);
// A HELP text with \ and newline escaped.
std::string escape_help(std::string_view v);
// A sample value: the shortest decimal that reads back the same, or +Inf, -Inf, NaN.
std::string format_value(double v);

}  // namespace ddlgate::ops
