#include "ddlgate/drift/schema.h"

#include <algorithm>
#include <cstdio>

namespace ddlgate::drift {

namespace {

constexpr std::string_view kNone = "none";
constexpr std::size_t kShortValue = 120;

// The lines of a text, without their line ends.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string shown(std::string_view value) { return value.empty() ? "(empty)" : one_line(value, kShortValue); }

}  // namespace

std::string one_line(std::string_view value, std::size_t max_chars) {
  std::string out;
  for (char c : value) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void SchemaDescription::add(std::string_view kind, std::string_view name, std::string_view attribute,
                            std::string_view value) {
  ObjectDescription& d = objects[ObjectKey{std::string(kind), std::string(name)}];
  if (attribute.empty()) return;
  if (attribute == "parent") {
    const std::size_t space = value.find(' ');
    if (space != std::string_view::npos) d.parent = {std::string(value.substr(0, space)), std::string(value.substr(space + 1))};
    return;
  }
  d.attributes[std::string(attribute)] = std::string(value);
}

std::string Difference::to_string() const {
  std::string head = object.to_string() + ": ";
  if (attribute.empty()) {
    return head + (in_production ? "in production, not approved" : "approved, missing in production");
  }
  const bool long_values = production.size() > kShortValue || approved.size() > kShortValue ||
                           production.find('\n') != std::string::npos || approved.find('\n') != std::string::npos;
  if (!long_values) {
    return head + attribute + " " + shown(production) + " in production, " + shown(approved) + " approved";
  }
  // A definition: name the first line that differs and show it from each side.
  const auto p = lines_of(production);
  const auto a = lines_of(approved);
  std::size_t i = 0;
  while (i < p.size() && i < a.size() && p[i] == a[i]) ++i;
  auto line = [](const std::vector<std::string_view>& ls, std::size_t k) {
    return k < ls.size() ? "\"" + one_line(ls[k], 80) + "\"" : std::string("(no such line)");
  };
  return head + attribute + " differs at line " + std::to_string(i + 1) + ": " + line(p, i) + " in production, " +
         line(a, i) + " approved";
}

std::vector<Difference> compare(const SchemaDescription& production, const SchemaDescription& approved) {
  std::vector<Difference> out;
  auto missing_parent = [](const ObjectDescription& d, const SchemaDescription& other) {
    return !d.parent.kind.empty() && other.objects.count(d.parent) == 0;
  };
  auto p = production.objects.begin();
  auto a = approved.objects.begin();
  while (p != production.objects.end() || a != approved.objects.end()) {
    if (a == approved.objects.end() || (p != production.objects.end() && p->first < a->first)) {
      // Only in production; its parent's line covers it when the parent is not approved either.
      if (!missing_parent(p->second, approved)) out.push_back({p->first, "", "", "", true, false});
      ++p;
    } else if (p == production.objects.end() || a->first < p->first) {
      if (!missing_parent(a->second, production)) out.push_back({a->first, "", "", "", false, true});
      ++a;
    } else {
      const auto& pa = p->second.attributes;
      const auto& aa = a->second.attributes;
      auto i = pa.begin();
      auto j = aa.begin();
      while (i != pa.end() || j != aa.end()) {
        if (j == aa.end() || (i != pa.end() && i->first < j->first)) {
          out.push_back({p->first, i->first, i->second, std::string(kNone)});
          ++i;
        } else if (i == pa.end() || j->first < i->first) {
          out.push_back({p->first, j->first, std::string(kNone), j->second});
          ++j;
        } else {
          if (i->second != j->second) out.push_back({p->first, i->first, i->second, j->second});
          ++i;
          ++j;
        }
      }
      ++p;
      ++a;
    }
  }
  return out;
}

}  // namespace ddlgate::drift
