#include "ddlgate/config/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>

#include <toml++/toml.h>

#include "trust_internal.h"

namespace ddlgate::config {
namespace {

constexpr std::uintmax_t kMaxConfigFileBytes = 1024 * 1024;

// Walks one TOML table, remembering which keys were read so that the rest can
// be reported as unknown (a misspelt key must not be silently ignored).
class TableReader {
 public:
  TableReader(const toml::table* table, std::string prefix, std::vector<Problem>& problems)
      : table_(table), prefix_(std::move(prefix)), problems_(problems) {}

  std::string key(std::string_view name) const {
    return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
  }

  const toml::node* get(std::string_view name) {
    seen_.insert(std::string(name));
    return table_ ? table_->get(name) : nullptr;
  }

  void read_string(std::string_view name, std::string& out) {
    const toml::node* node = get(name);
    if (!node) return;
    if (auto v = node->value<std::string>()) {
      out = *v;
    } else {
      problems_.push_back({key(name), "must be a string"});
    }
  }

  void read_bool(std::string_view name, bool& out) {
    const toml::node* node = get(name);
    if (!node) return;
    if (auto v = node->value<bool>(); v && node->is_boolean()) {
      out = *v;
    } else {
      problems_.push_back({key(name), "must be true or false"});
    }
  }

  void read_string_list(std::string_view name, std::vector<std::string>& out) {
    const toml::node* node = get(name);
    if (!node) return;
    const toml::array* arr = node->as_array();
    if (!arr) {
      problems_.push_back({key(name), "must be an array of strings"});
      return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto v = (*arr)[i].value<std::string>();
      if (!v || v->empty()) {
        problems_.push_back({key(name) + "[" + std::to_string(i) + "]", "must be a non-empty string"});
        continue;
      }
      out.push_back(*v);
    }
  }

  template <typename Uint>
  void read_uint(std::string_view name, Uint& out, std::uint64_t min, std::uint64_t max) {
    const toml::node* node = get(name);
    if (!node) return;
    auto v = node->value<std::int64_t>();
    if (!node->is_integer() || !v) {
      problems_.push_back({key(name), "must be an integer"});
      return;
    }
    if (*v < 0 || static_cast<std::uint64_t>(*v) < min || static_cast<std::uint64_t>(*v) > max) {
      problems_.push_back({key(name), "must be between " + std::to_string(min) + " and " +
                                          std::to_string(max) + ", got " + std::to_string(*v)});
      return;
    }
    out = static_cast<Uint>(*v);
  }

  const toml::table* table(std::string_view name) {
    const toml::node* node = get(name);
    if (!node) return nullptr;
    if (!node->is_table()) {
      problems_.push_back({key(name), "must be a table"});
      return nullptr;
    }
    return node->as_table();
  }

  void report_unknown() {
    if (!table_) return;
    for (const auto& [k, v] : *table_) {
      if (!seen_.count(std::string(k.str()))) {
        problems_.push_back({key(k.str()), "unknown key"});
      }
    }
  }

 private:
  const toml::table* table_;
  std::string prefix_;
  std::vector<Problem>& problems_;
  std::set<std::string> seen_;
};

bool parse_client_tls_mode(std::string_view s, ClientTlsMode& out) {
  if (s == "disable") out = ClientTlsMode::disable;
  else if (s == "allow") out = ClientTlsMode::allow;
  else if (s == "require") out = ClientTlsMode::require;
  else return false;
  return true;
}

bool parse_upstream_tls_mode(std::string_view s, UpstreamTlsMode& out) {
  if (s == "disable") out = UpstreamTlsMode::disable;
  else if (s == "prefer") out = UpstreamTlsMode::prefer;
  else if (s == "require") out = UpstreamTlsMode::require;
  else if (s == "verify-full") out = UpstreamTlsMode::verify_full;
  else return false;
  return true;
}

void read_endpoint_address(TableReader& r, std::string_view name, Endpoint& out, bool& present,
                           std::vector<Problem>& problems) {
  std::string text;
  r.read_string(name, text);
  if (text.empty()) return;
  if (auto ep = parse_host_port(text)) {
    out = *ep;
    present = true;
  } else {
    problems.push_back({r.key(name), ep.error().reason});
  }
}

bool readable(const std::string& path) {
  std::ifstream f(path);
  return f.good();
}

// A secret or token given as a file or an environment variable (never inline,
// so that the configuration file can be shown without leaking it).
void check_secret_source(const std::string& prefix, const std::string& file_key, const std::string& file,
                         const std::string& env_key, const std::string& env, bool required,
                         std::vector<Problem>& problems) {
  if (!file.empty() && !env.empty()) {
    problems.push_back({prefix + "." + env_key, "give either " + prefix + "." + file_key + " or " + prefix + "." +
                                                    env_key + ", not both"});
    return;
  }
  if (file.empty() && env.empty()) {
    if (required) problems.push_back({prefix + "." + file_key, "required (or " + prefix + "." + env_key + ")"});
    return;
  }
  SecretRead secret = read_secret(prefix, file_key, file, env_key, env);
  if (secret.problem) problems.push_back(std::move(*secret.problem));
}

bool known_webhook_event(std::string_view name) {
  for (const char* e : kWebhookEvents) {
    if (name == e) return true;
  }
  return false;
}

}  // namespace

SecretRead read_secret(std::string_view prefix, std::string_view file_key, const std::string& file,
                       std::string_view env_key, const std::string& env) {
  SecretRead r;
  auto problem = [&](std::string_view key, std::string message) {
    r.value.clear();
    r.problem = Problem{std::string(prefix) + "." + std::string(key), std::move(message)};
    return r;
  };
  if (!env.empty()) {
    const char* v = std::getenv(env.c_str());
    if (v == nullptr || *v == '\0') return problem(env_key, "the environment variable " + env + " is not set or empty");
    r.value = v;
    return r;
  }
  std::error_code dir_ec;
  if (std::filesystem::is_directory(file, dir_ec)) return problem(file_key, "'" + file + "' is a directory");
  std::ifstream f(file, std::ios::binary);
  if (!f) return problem(file_key, "cannot read '" + file + "'");
  // One byte more than allowed tells a file that is too large from one that fits.
  r.value.resize(kMaxSecretBytes + 1);
  f.read(r.value.data(), static_cast<std::streamsize>(r.value.size()));
  if (f.bad()) return problem(file_key, "cannot read '" + file + "'");
  r.value.resize(static_cast<std::size_t>(f.gcount()));
  if (r.value.size() > kMaxSecretBytes) {
    return problem(file_key, "'" + file + "' is larger than " + std::to_string(kMaxSecretBytes / 1024) + " KiB");
  }
  while (!r.value.empty() && (r.value.back() == '\n' || r.value.back() == '\r')) r.value.pop_back();
  if (r.value.empty()) return problem(file_key, "'" + file + "' is empty");
  return r;
}

std::optional<std::uint64_t> parse_duration_seconds(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::uint64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    default: return std::nullopt;
  }
  std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.size() > 9) return std::nullopt;
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return n * unit;
}

base::Result<std::uint32_t> parse_lock_timeout_ms(std::string_view text) {
  const std::string shown = "'" + std::string(text.substr(0, 64)) + (text.size() > 64 ? "...'" : "'");
  const auto malformed = [&] {
    return base::Error("must be a lock_timeout such as \"5s\", \"500ms\" or \"1min\" (a number, then us, ms, s, "
                       "min, h or d), got " + shown);
  };
  if (text.size() > 64) return malformed();
  // PostgreSQL's parse_int (guc.c): strtol skips leading spaces, allows spaces before the unit
  // and after it; units are case-sensitive.
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  std::size_t i = 0;
  while (i < text.size() && space(text[i])) ++i;
  const std::size_t start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  const std::size_t int_end = i;
  if (int_end == start) return malformed();  // no digits (also a sign: the server refuses negatives)
  if (text[start] == '0' && int_end - start > 1) {
    return base::Error("must not start with 0 (PostgreSQL reads " + shown + " as octal), got " + shown);
  }
  if (text[start] == '0' && i < text.size() && (text[i] == 'x' || text[i] == 'X')) {
    return base::Error("must be decimal (PostgreSQL reads 0x as hexadecimal), got " + shown);
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) return malformed();
  double value = 0;
  {
    std::string number(text.substr(start, i - start));
    char* end = nullptr;
    value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return malformed();
  }
  while (i < text.size() && space(text[i])) ++i;
  std::size_t unit_end = text.size();
  while (unit_end > i && space(text[unit_end - 1])) --unit_end;
  const std::string_view unit = text.substr(i, unit_end - i);
  // guc.c's time units for a GUC_UNIT_MS setting, largest first; a fractional value is rounded
  // to a whole number of the next smaller unit first (convert_to_base_unit), then to whole ms.
  struct Unit {
    std::string_view name;
    double ms;
  };
  static constexpr Unit kUnits[] = {{"d", 86400000.0}, {"h", 3600000.0}, {"min", 60000.0},
                                    {"s", 1000.0},     {"ms", 1.0},        {"us", 0.001}};
  double ms = value;  // no unit: milliseconds
  if (!unit.empty()) {
    std::size_t u = 0;
    while (u < std::size(kUnits) && kUnits[u].name != unit) ++u;
    if (u == std::size(kUnits)) return malformed();
    ms = value * kUnits[u].ms;
    if (u + 1 < std::size(kUnits)) ms = std::nearbyint(ms / kUnits[u + 1].ms) * kUnits[u + 1].ms;
  }
  ms = std::nearbyint(ms);
  if (!(ms >= kMinLockTimeoutMs && ms <= kMaxLockTimeoutMs)) {
    return base::Error("must be between 1ms and 1h (0 would mean no timeout: leave the key out instead), got " + shown);
  }
  return static_cast<std::uint32_t>(ms);
}

EnforcementMode Enforcement::mode_for(std::string_view user, std::string_view database) const {
  if (mode == EnforcementMode::off) return mode;
  if (auto it = user_modes.find(user); it != user_modes.end()) return it->second;
  if (auto it = database_modes.find(database); it != database_modes.end()) return it->second;
  return mode;
}

std::string Endpoint::to_string() const {
  if (kind == Kind::unix_socket) return path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

base::Result<HttpUrl> parse_http_url(std::string_view text) {
  auto fail = [](std::string reason) -> base::Result<HttpUrl> {
    return base::Error{std::move(reason)};
  };
  HttpUrl url;
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    url.https = true;
    rest = text.substr(8);
  } else {
    return fail("must start with http:// or https://");
  }
  for (char ch : text) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) return fail("must not contain spaces or control characters");
  }
  if (text.find('#') != std::string_view::npos) return fail("must not have a fragment (#...)");
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url.target.front() == '?') url.target.insert(url.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) return fail("must not carry user:password@ (use the secret for authentication)");
  std::string_view host = authority;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [IPv6 address]");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after ]");
      port_text = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("missing host");
  url.host = std::string(host);
  url.port = url.https ? 443 : 80;
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return fail("port must be a number from 1 to 65535, got '" + std::string(port_text) + "'");
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  return url;
}

base::Result<Endpoint> parse_host_port(std::string_view text) {
  auto fail = [](std::string reason) -> base::Result<Endpoint> {
    return base::Error{std::move(reason)};
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("expected [address]:port, got '" + std::string(text) + "'");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail("expected host:port, got '" + std::string(text) + "'");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("an IPv6 address needs brackets: [address]:port, got '" + std::string(text) + "'");
    }
  }
  if (host.empty()) return fail("missing host in '" + std::string(text) + "'");
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
    return fail("port must be a number from 0 to 65535, got '" + std::string(port_text) + "'");
  }
  Endpoint ep;
  ep.kind = Endpoint::Kind::tcp;
  ep.host = std::string(host);
  ep.port = static_cast<std::uint16_t>(port);
  return ep;
}

LoadResult parse(std::string_view toml_text, std::string_view source) {
  LoadResult result;
  Config& c = result.config;
  auto& problems = result.problems;

  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e.description() << " (line " << e.source().begin.line << ", column "
        << e.source().begin.column << ")";
    problems.push_back({std::string(source), msg.str()});
    return result;
  }

  TableReader top(&root, "", problems);

  TableReader server(top.table("server"), "server", problems);
  {
    std::uint32_t workers = 0;
    server.read_uint("workers", workers, 0, 256);
    c.workers = workers;
    server.read_string("log_level", c.log_level);
    server.read_string("instance", c.instance);
    server.report_unknown();
  }

  TableReader log(top.table("log"), "log", problems);
  {
    std::string level;
    log.read_string("level", level);
    std::string level_key = "server.log_level";
    if (!level.empty()) {
      if (server.get("log_level") != nullptr && level != c.log_level) {
        problems.push_back({"log.level", "server.log_level says '" + c.log_level + "': give the level once"});
      }
      c.log_level = level;
      level_key = "log.level";
    }
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!kLevels.count(c.log_level)) {
      problems.push_back({level_key, "must be one of trace, debug, info, warn, error, critical, off"});
    }
    std::string format;
    log.read_string("format", format);
    if (format == "json") c.log_format = LogFormat::json;
    else if (!format.empty() && format != "text") problems.push_back({"log.format", "must be text or json, got '" + format + "'"});
    log.report_unknown();
  }

  if (const toml::table* at = top.table("admin")) {
    TableReader admin(at, "admin", problems);
    Admin& a = c.admin;
    a.enabled = true;
    bool have_listen = false;
    std::size_t before = problems.size();
    read_endpoint_address(admin, "listen", a.listen, have_listen, problems);
    if (!have_listen && problems.size() == before) {
      problems.push_back({"admin.listen", "required when [admin] is present (host:port)"});
    }
    admin.read_string("token_file", a.token_file);
    admin.read_string("token_env", a.token_env);
    check_secret_source("admin", "token_file", a.token_file, "token_env", a.token_env, false, problems);
    admin.read_uint("upstream_check_timeout_ms", a.upstream_check_timeout_ms, 10, 60000);
    admin.read_uint("upstream_check_cache_ms", a.upstream_check_cache_ms, 0, 60000);
    admin.report_unknown();
  }

  if (const toml::table* gt = top.table("guard")) {
    TableReader guard(gt, "guard", problems);
    Guard& g = c.guard;
    g.enabled = true;
    guard.read_bool("confirm", g.confirm);
    guard.read_string("control_user", g.control_user);
    if (g.control_user.empty()) {
      problems.push_back({"guard.control_user", "required when [guard] is present (a login in ddlgate_control)"});
    }
    guard.read_string("control_password_file", g.control_password_file);
    guard.read_string("control_password_env", g.control_password_env);
    check_secret_source("guard", "control_password_file", g.control_password_file, "control_password_env",
                        g.control_password_env, false, problems);
    guard.read_uint("confirm_timeout_ms", g.confirm_timeout_ms, 10, 60000);
    guard.read_string_list("databases", g.databases);
    guard.read_uint("poll_interval_ms", g.poll_interval_ms, 100, 60000);
    guard.read_uint("drift_interval_ms", g.drift_interval_ms, 0, 7u * 24 * 3600 * 1000);
    guard.read_string("drift_scratch_url", g.drift_scratch_url);
    guard.read_string("drift_migrator", g.drift_migrator);
    if (g.drift_interval_ms != 0 && g.drift_scratch_url.empty()) {
      problems.push_back({"guard.drift_scratch_url", "required when guard.drift_interval_ms is not 0"});
    }
    if (g.drift_interval_ms != 0 && g.databases.empty()) {
      problems.push_back({"guard.databases", "required when guard.drift_interval_ms is not 0"});
    }
    guard.report_unknown();
  }

  if (const toml::node* wn = top.get("webhooks")) {
    const toml::array* arr = wn->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
      problems.push_back({"webhooks", "must be an array of tables: [[webhooks]]"});
    } else {
      for (std::size_t i = 0; i < arr->size(); ++i) {
        std::string prefix = "webhooks[" + std::to_string(i) + "]";
        TableReader w((*arr)[i].as_table(), prefix, problems);
        Webhook hook;
        w.read_string("url", hook.url);
        std::string why;
        if (hook.url.empty()) problems.push_back({prefix + ".url", "required"});
        else if (auto url = parse_http_url(hook.url); !url) problems.push_back({prefix + ".url", url.error().reason});
        w.read_string("secret_file", hook.secret_file);
        w.read_string("secret_env", hook.secret_env);
        check_secret_source(prefix, "secret_file", hook.secret_file, "secret_env", hook.secret_env, true, problems);
        w.read_string_list("events", hook.events);
        for (std::size_t e = 0; e < hook.events.size(); ++e) {
          if (!known_webhook_event(hook.events[e])) {
            std::string all;
            for (const char* name : kWebhookEvents) all += (all.empty() ? "" : ", ") + std::string(name);
            problems.push_back({prefix + ".events[" + std::to_string(e) + "]", "unknown event '" + hook.events[e] + "' (known: " + all + ")"});
          }
        }
        w.read_string("ca_file", hook.ca_file);
        if (!hook.ca_file.empty() && !readable(hook.ca_file)) {
          problems.push_back({prefix + ".ca_file", "cannot read '" + hook.ca_file + "'"});
        }
        w.read_uint("timeout_ms", hook.timeout_ms, 100, 600000);
        w.read_uint("max_attempts", hook.max_attempts, 1, 1000);
        w.read_uint("initial_backoff_ms", hook.initial_backoff_ms, 10, 3600000);
        w.read_uint("max_backoff_ms", hook.max_backoff_ms, 10, 24u * 3600 * 1000);
        w.read_uint("queue_size", hook.queue_size, 1, 1000000);
        if (hook.max_backoff_ms < hook.initial_backoff_ms) {
          problems.push_back({prefix + ".max_backoff_ms", "must not be below initial_backoff_ms"});
        }
        w.report_unknown();
        c.webhooks.push_back(std::move(hook));
      }
    }
  }

  TableReader listen(top.table("listen"), "listen", problems);
  {
    if (const toml::node* node = listen.get("addresses")) {
      if (const toml::array* arr = node->as_array()) {
        for (std::size_t i = 0; i < arr->size(); ++i) {
          std::string k = "listen.addresses[" + std::to_string(i) + "]";
          auto s = (*arr)[i].value<std::string>();
          if (!s) {
            problems.push_back({k, "must be a string host:port"});
            continue;
          }
          if (auto ep = parse_host_port(*s)) c.listen.push_back(*ep);
          else problems.push_back({k, ep.error().reason});
        }
      } else {
        problems.push_back({"listen.addresses", "must be an array of \"host:port\" strings"});
      }
    }
    if (const toml::node* node = listen.get("unix_sockets")) {
      if (const toml::array* arr = node->as_array()) {
        for (std::size_t i = 0; i < arr->size(); ++i) {
          auto s = (*arr)[i].value<std::string>();
          if (!s || s->empty()) {
            problems.push_back({"listen.unix_sockets[" + std::to_string(i) + "]", "must be a socket path"});
            continue;
          }
          Endpoint ep;
          ep.kind = Endpoint::Kind::unix_socket;
          ep.path = *s;
          c.listen.push_back(ep);
        }
      } else {
        problems.push_back({"listen.unix_sockets", "must be an array of socket paths"});
      }
    }
    listen.report_unknown();
  }

  TableReader upstream(top.table("upstream"), "upstream", problems);
  {
    bool have_tcp = false;
    read_endpoint_address(upstream, "address", c.upstream, have_tcp, problems);
    std::string socket;
    upstream.read_string("unix_socket", socket);
    if (!socket.empty()) {
      if (have_tcp) {
        problems.push_back({"upstream.unix_socket", "give either upstream.address or upstream.unix_socket, not both"});
      } else {
        c.upstream = Endpoint{Endpoint::Kind::unix_socket, "", 0, socket};
      }
    }
    TableReader tls(upstream.table("tls"), "upstream.tls", problems);
    std::string mode;
    tls.read_string("mode", mode);
    if (!mode.empty() && !parse_upstream_tls_mode(mode, c.upstream_tls.mode)) {
      problems.push_back({"upstream.tls.mode", "must be disable, prefer, require or verify-full, got '" + mode + "'"});
    }
    tls.read_string("ca_file", c.upstream_tls.ca_file);
    tls.read_string("server_name", c.upstream_tls.server_name);
    tls.report_unknown();
    upstream.report_unknown();
  }

  TableReader tls(top.table("tls"), "tls", problems);
  {
    std::string mode;
    tls.read_string("mode", mode);
    if (!mode.empty() && !parse_client_tls_mode(mode, c.client_tls.mode)) {
      problems.push_back({"tls.mode", "must be disable, allow or require, got '" + mode + "'"});
    }
    tls.read_string("cert_file", c.client_tls.cert_file);
    tls.read_string("key_file", c.client_tls.key_file);
    tls.report_unknown();
  }

  TableReader limits(top.table("limits"), "limits", problems);
  {
    limits.read_uint("max_connections", c.limits.max_connections, 1, 1000000);
    limits.read_uint("max_startup_packet", c.limits.max_startup_packet, 64, 1024 * 1024);
    // PostgreSQL's own limit on a message is 1 GiB - 1 (PQ_LARGE_MESSAGE_LIMIT).
    limits.read_uint("max_inspected_message", c.limits.max_inspected_message, 1024, 0x3fffffff);
    // Shared by all sessions: 1 TiB is far beyond any machine's memory, not a real bound.
    limits.read_uint("inspection_budget", c.limits.inspection_budget, 1024, std::uint64_t{1} << 40);
    limits.read_uint("inspection_wait_ms", c.limits.inspection_wait_ms, 0, 600000);
    const toml::table* limits_table = top.table("limits");
    if (!limits_table || !limits_table->contains("inspection_budget")) {
      // Not set: at least one message of the largest size, so that a configuration that
      // raised max_inspected_message before the budget existed still loads.
      c.limits.inspection_budget = std::max<std::uint64_t>(c.limits.inspection_budget, c.limits.max_inspected_message);
    } else if (c.limits.inspection_budget < c.limits.max_inspected_message) {
      problems.push_back({"limits.inspection_budget",
                          "must be at least limits.max_inspected_message (" +
                              std::to_string(c.limits.max_inspected_message) + "), got " +
                              std::to_string(c.limits.inspection_budget) +
                              ": a message under the cap could never be read"});
    }
    limits.read_uint("denials_per_second", c.limits.denials_per_second, 0, 1000000);
    limits.read_uint("denial_burst", c.limits.denial_burst, 1, 1000000);
    limits.report_unknown();
  }

  TableReader timeouts(top.table("timeouts"), "timeouts", problems);
  {
    constexpr std::uint64_t kDay = 24ull * 3600 * 1000;
    timeouts.read_uint("connect_ms", c.timeouts.connect_ms, 1, kDay);
    timeouts.read_uint("startup_ms", c.timeouts.startup_ms, 1, kDay);
    timeouts.read_uint("idle_ms", c.timeouts.idle_ms, 0, kDay);
    timeouts.read_uint("shutdown_ms", c.timeouts.shutdown_ms, 0, kDay);
    timeouts.report_unknown();
  }

  if (const toml::table* et = top.table("enforcement")) {
    TableReader enforcement(et, "enforcement", problems);
    auto parse_mode = [&](const std::string& key, const std::string& text, EnforcementMode& out) {
      if (text == "enforce") out = EnforcementMode::enforce;
      else if (text == "monitor") out = EnforcementMode::monitor;
      else problems.push_back({key, "must be enforce or monitor, got '" + text + "'"});
    };
    std::string mode = "enforce";
    enforcement.read_string("mode", mode);
    parse_mode("enforcement.mode", mode, c.enforcement.mode);
    enforcement.read_string_list("users", c.enforcement.users);
    enforcement.read_string_list("deployers", c.enforcement.deployers);
    enforcement.read_bool("spend_approvals_once", c.enforcement.spend_approvals_once);
    enforcement.read_bool("record_all_statements", c.enforcement.record_all_statements);
    enforcement.read_string_list("superusers", c.enforcement.superusers);
    enforcement.read_string_list("allowed_startup_settings", c.enforcement.allowed_startup_settings);
    {
      std::string lock_timeout;
      enforcement.read_string("lock_timeout_for_blocking", lock_timeout);
      if (et->contains("lock_timeout_for_blocking") && et->get("lock_timeout_for_blocking")->is_string()) {
        auto ms = parse_lock_timeout_ms(lock_timeout);
        if (ms) c.enforcement.lock_timeout_for_blocking_ms = *ms;
        else problems.push_back({"enforcement.lock_timeout_for_blocking", ms.error().reason});
      }
    }
    for (auto& name : c.enforcement.allowed_startup_settings) {
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    // [enforcement.database.<name>] and [enforcement.user.<name>]: mode overrides.
    for (const char* kind : {"database", "user"}) {
      const toml::table* t = enforcement.table(kind);
      if (!t) continue;
      for (const auto& [name, node] : *t) {
        std::string prefix = std::string("enforcement.") + kind + "." + std::string(name.str());
        TableReader one(node.as_table(), prefix, problems);
        if (!node.is_table()) {
          problems.push_back({prefix, "must be a table with a mode"});
          continue;
        }
        std::string m;
        one.read_string("mode", m);
        EnforcementMode parsed = c.enforcement.mode;
        if (m.empty()) problems.push_back({prefix + ".mode", "required"});
        else parse_mode(prefix + ".mode", m, parsed);
        (std::string_view(kind) == "database" ? c.enforcement.database_modes : c.enforcement.user_modes)
            .emplace(std::string(name.str()), parsed);
        one.report_unknown();
      }
    }
    enforcement.report_unknown();
  }

  if (const toml::table* lt = top.table("ledger")) {
    TableReader ledger(lt, "ledger", problems);
    LedgerSettings& l = c.ledger;
    l.enabled = true;
    ledger.read_string("directory", l.directory);
    ledger.read_string("checkpoint_key_file", l.checkpoint_key_file);
    ledger.read_string("origin", l.origin);
    ledger.read_uint("checkpoint_every_records", l.checkpoint_every_records, 1, 100000000);
    ledger.read_uint("checkpoint_interval_ms", l.checkpoint_interval_ms, 100, 24u * 3600 * 1000);
    ledger.read_string("checkpoint_copy_directory", l.checkpoint_copy_directory);
    ledger.read_uint("low_space_percent", l.low_space_percent, 0, 99);
    ledger.read_uint("witness_retry_ms", l.witness_retry_ms, 10, 60000);
    if (const toml::node* wn = ledger.get("witnesses")) {
      const toml::array* arr = wn->as_array();
      if (arr == nullptr || !arr->is_array_of_tables()) {
        problems.push_back({"ledger.witnesses", "must be an array of tables: [[ledger.witnesses]]"});
      } else {
        for (std::size_t i = 0; i < arr->size(); ++i) {
          std::string prefix = "ledger.witnesses[" + std::to_string(i) + "]";
          TableReader w((*arr)[i].as_table(), prefix, problems);
          Witness wit;
          w.read_string("url", wit.url);
          if (wit.url.empty()) problems.push_back({prefix + ".url", "required"});
          else if (auto url = parse_http_url(wit.url); !url) problems.push_back({prefix + ".url", url.error().reason});
          w.read_string("vkey", wit.vkey);
          // The key id and key material are checked when the proxy starts (the ledger module
          // knows the format); here: present and shaped <name>+<key id>+<key>.
          if (wit.vkey.empty()) {
            problems.push_back({prefix + ".vkey", "required: the witness's verifier key <name>+<key id>+<key>"});
          } else if (std::count(wit.vkey.begin(), wit.vkey.end(), '+') < 2) {
            problems.push_back({prefix + ".vkey", "not a verifier key <name>+<key id>+<key>"});
          }
          w.read_string("ca_file", wit.ca_file);
          if (!wit.ca_file.empty() && !readable(wit.ca_file)) {
            problems.push_back({prefix + ".ca_file", "cannot read '" + wit.ca_file + "'"});
          }
          w.read_uint("timeout_ms", wit.timeout_ms, 100, 600000);
          w.report_unknown();
          l.witnesses.push_back(std::move(wit));
        }
      }
    }
    if (l.directory.empty()) problems.push_back({"ledger.directory", "required when [ledger] is present"});
    if (l.checkpoint_key_file.empty()) {
      problems.push_back({"ledger.checkpoint_key_file", "required when [ledger] is present"});
    } else if (!readable(l.checkpoint_key_file)) {
      problems.push_back({"ledger.checkpoint_key_file", "cannot read '" + l.checkpoint_key_file + "'"});
    }
    ledger.report_unknown();
  }
  if (c.enforcement.mode != EnforcementMode::off && !c.ledger.enabled) {
    // Every decision is recorded before it is acted on: no ledger, no enforcement.
    problems.push_back({"ledger", "required when [enforcement] is present: decisions are recorded before they are acted on"});
  }

  if (const toml::table* bt = top.table("bundles")) {
    TableReader bundles(bt, "bundles", problems);
    Bundles& b = c.bundles;
    b.enabled = true;
    bundles.read_string("registry_dir", b.registry_dir);
    bundles.read_string("environment", b.environment);
    bundles.read_string("trust_file", b.trust_file);
    // 1 KiB to 1 GiB: a cap, not a buffer size; the manifest is read only after its size is checked.
    bundles.read_uint("max_manifest_bytes", b.max_manifest_bytes, 1024, 1024u * 1024 * 1024);
    bundles.read_uint("max_signatures", b.max_signatures, 1, 1024);
    if (b.registry_dir.empty()) problems.push_back({"bundles.registry_dir", "required when [bundles] is present"});
    if (b.environment.empty()) problems.push_back({"bundles.environment", "required when [bundles] is present"});
    const toml::table* trust = bundles.table("trust");
    if (trust != nullptr && !b.trust_file.empty()) {
      problems.push_back({"bundles.trust_file", "give either [bundles.trust] or bundles.trust_file, not both"});
    } else if (trust != nullptr) {
      std::vector<Problem> trust_problems;
      // Relative .pub paths in an inline policy are relative to the configuration file.
      if (source != "config") b.trust.base_dir = std::filesystem::path(std::string(source)).parent_path();
      detail::read_trust_roles(*trust, "bundles.trust", b.trust, trust_problems);
      for (const auto& [k, v] : *trust) {
        if (k.str() != "roles" && k.str() != "tiers") {
          trust_problems.push_back({"bundles.trust." + std::string(k.str()), "unknown key"});
        }
      }
      if (trust_problems.empty()) trust_problems = validate_trust(b.trust, "bundles.trust");
      for (auto& p : trust_problems) problems.push_back(std::move(p));
    } else if (!b.trust_file.empty()) {
      std::filesystem::path tf(b.trust_file);
      if (tf.is_relative() && !source.empty()) {
        tf = std::filesystem::path(std::string(source)).parent_path() / tf;
      }
      TrustLoadResult tr = load_trust_file(tf);
      for (auto& p : tr.problems) {
        problems.push_back({"bundles.trust_file", (p.where == tf.string() ? "" : tf.string() + ": " + p.where + ": ") + p.message});
      }
      b.trust = std::move(tr.policy);
    } else {
      problems.push_back({"bundles.trust", "required: a [bundles.trust.roles.<name>] table or bundles.trust_file"});
    }
    bundles.report_unknown();
  }

  if (const toml::table* bgt = top.table("break_glass")) {
    TableReader bg(bgt, "break_glass", problems);
    BreakGlass& b = c.break_glass;
    b.enabled = true;
    bg.read_string_list("keys", b.keys);
    if (source != "config") b.base_dir = std::filesystem::path(std::string(source)).parent_path();
    b.environment = c.bundles.environment;
    bg.read_string("environment", b.environment);
    auto read_duration = [&](std::string_view name, std::uint32_t& out, std::uint64_t min, std::uint64_t max) {
      std::string text;
      bg.read_string(name, text);
      if (text.empty()) return;
      auto secs = parse_duration_seconds(text);
      if (!secs) {
        problems.push_back({bg.key(name), "must be a duration such as 90s, 30m or 1h, got '" + text + "'"});
      } else if (*secs < min || *secs > max) {
        problems.push_back({bg.key(name), "must be between " + std::to_string(min) + "s and " + std::to_string(max) +
                                              "s, got " + std::to_string(*secs) + "s"});
      } else {
        out = static_cast<std::uint32_t>(*secs);
      }
    };
    read_duration("max_lifetime", b.max_lifetime_s, 1, 24 * 3600);
    read_duration("clock_skew", b.clock_skew_s, 0, 600);
    if (b.keys.empty() && !bgt->contains("keys")) {
      problems.push_back({"break_glass.keys", "required when [break_glass] is present: the public keys that sign tokens"});
    } else if (b.keys.empty()) {
      problems.push_back({"break_glass.keys", "must list at least one public key"});
    }
    if (b.environment.empty()) {
      problems.push_back({"break_glass.environment", "required (or set bundles.environment): tokens name the environment they are for"});
    }
    if (c.enforcement.mode == EnforcementMode::off) {
      problems.push_back({"break_glass", "needs [enforcement]: a break-glass session is an exception to enforcement"});
    }
    bg.report_unknown();
  }

  top.report_unknown();

  for (auto& p : validate(c)) problems.push_back(std::move(p));
  return result;
}

std::vector<Problem> validate(const Config& c) {
  std::vector<Problem> problems;
  // The guard sets the timeout (docs/guard.md, "Lock safety"): without confirmations nothing would.
  if (c.enforcement.lock_timeout_for_blocking_ms != 0 && !(c.guard.enabled && c.guard.confirm)) {
    problems.push_back({"enforcement.lock_timeout_for_blocking",
                        "needs [guard] with confirm = true: the database's guard sets the lock_timeout of the "
                        "statements ddlgate confirms to it"});
  }
  if (c.listen.empty()) {
    problems.push_back({"listen", "no listen address: set listen.addresses or listen.unix_sockets"});
  }
  if (c.upstream.kind == Endpoint::Kind::tcp && c.upstream.host.empty()) {
    problems.push_back({"upstream", "no upstream: set upstream.address or upstream.unix_socket"});
  }
  if (c.upstream.kind == Endpoint::Kind::tcp && !c.upstream.host.empty() && c.upstream.port == 0) {
    problems.push_back({"upstream.address", "port 0 is not a server port"});
  }
  if (c.client_tls.mode != ClientTlsMode::disable) {
    if (c.client_tls.cert_file.empty()) {
      problems.push_back({"tls.cert_file", "required when tls.mode is not disable"});
    } else if (!readable(c.client_tls.cert_file)) {
      problems.push_back({"tls.cert_file", "cannot read '" + c.client_tls.cert_file + "'"});
    }
    if (c.client_tls.key_file.empty()) {
      problems.push_back({"tls.key_file", "required when tls.mode is not disable"});
    } else if (!readable(c.client_tls.key_file)) {
      problems.push_back({"tls.key_file", "cannot read '" + c.client_tls.key_file + "'"});
    }
  }
  if (c.upstream_tls.mode == UpstreamTlsMode::verify_full && c.upstream_tls.ca_file.empty()) {
    problems.push_back({"upstream.tls.ca_file", "required when upstream.tls.mode is verify-full"});
  }
  if (!c.upstream_tls.ca_file.empty() && !readable(c.upstream_tls.ca_file)) {
    problems.push_back({"upstream.tls.ca_file", "cannot read '" + c.upstream_tls.ca_file + "'"});
  }
  if (c.upstream.kind == Endpoint::Kind::unix_socket && c.upstream_tls.mode != UpstreamTlsMode::disable &&
      c.upstream_tls.mode != UpstreamTlsMode::prefer) {
    problems.push_back({"upstream.tls.mode", "PostgreSQL does not offer TLS on a Unix socket; use disable"});
  }
  return problems;
}

LoadResult load_file(const std::filesystem::path& path) {
  LoadResult result;
  auto read = detail::read_config_file(path, kMaxConfigFileBytes, "not a configuration file");
  if (!read) {
    result.problems.push_back({path.string(), read.error().reason});
    return result;
  }
  std::string text = std::move(*read);
  LoadResult result_of_text = parse(text, path.string());
  // Absolute, so that a ledger record names the file whatever the working directory was.
  std::error_code abs_ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, abs_ec);
  result_of_text.file = ConfigFile{(abs_ec ? path : absolute).string(), std::move(text)};
  return result_of_text;
}

}  // namespace ddlgate::config
