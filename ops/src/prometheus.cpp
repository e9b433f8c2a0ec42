#include "ddlgate/ops/prometheus.h"

#include <charconv>
#include <cmath>

namespace ddlgate::ops {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusText::begin_sample(std::string_view name, std::initializer_list<Label> labels, const Label* extra) {
  out_ += name;
  if (labels.size() == 0 && extra == nullptr) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto put = [&](const Label& l) {
    if (!first) out_ += ',';
    first = false;
    out_ += l.name;
    out_ += "=\"";
    out_ += escape_label_value(l.value);
    out_ += '"';
  };
  for (const auto& l : labels) put(l);
  if (extra) put(*extra);
  out_ += "} ";
}

void PrometheusText::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
  begin_sample(name, labels, nullptr);
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  begin_sample(name, labels, nullptr);
  out_ += format_value(value);
  out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, std::initializer_list<Label> labels,
                               std::span<const double> bounds, std::span<const std::uint64_t> counts, double sum) {
  std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
    Label l{"le", le};
    begin_sample(bucket, labels, &l);
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  begin_sample(std::string(name) + "_sum", labels, nullptr);
  out_ += format_value(sum);
  out_ += '\n';
  begin_sample(std::string(name) + "_count", labels, nullptr);
  out_ += std::to_string(cumulative);
  out_ += '\n';
}

}  // namespace ddlgate::ops
