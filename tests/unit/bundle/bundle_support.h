// Shared by the bundle tests: temporary directories, keys and a signed bundle.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "ddlgate/base/base64.h"
#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/bundle/bundle.h"

namespace bundle_test {

namespace fs = std::filesystem;
using namespace ddlgate::sql;
using namespace ddlgate::bundle;
using namespace ddlgate::base;

inline const fs::path kMigrations = DDLGATE_MIGRATIONS_DIR;

// A fresh directory removed at the end of the test.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "ddlgate-bundle-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void spit(const fs::path& p, std::string_view text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// Fixed "now" and the window the tests build bundles with.
inline TimePoint t0() { return *parse_time("2026-01-10T12:00:00Z"); }

struct Keys {
  std::unique_ptr<SigningKey> registry = SigningKey::generate();
  std::unique_ptr<SigningKey> approver1 = SigningKey::generate();
  std::unique_ptr<SigningKey> approver2 = SigningKey::generate();
  std::unique_ptr<SigningKey> approver3 = SigningKey::generate();
  std::unique_ptr<SigningKey> stranger = SigningKey::generate();

  // 1 of 1 registry key and 2 of 3 approver keys.
  TrustAnchors trust() const {
    TrustAnchors t;
    t.roles.push_back({"approver", 2, {approver1->public_key(), approver2->public_key(), approver3->public_key()}, {}});
    t.roles.push_back({"registry", 1, {registry->public_key()}, {}});
    return t;
  }
};

inline BuildOptions options(const fs::path& src, const fs::path& out, std::uint64_t version = 1) {
  BuildOptions o;
  o.src_dir = src;
  o.out_dir = out;
  o.app = "shop";
  o.version = version;
  o.environment = "prod";
  o.databases = {"shop"};
  o.not_before = t0() - std::chrono::hours(1);
  o.valid_for = std::chrono::hours(24 * 30);
  o.source = {"github.com/acme/shop", "0123abcd", "42", "https://ci.example/run/7"};
  return o;
}

inline void sign_all(const fs::path& bundle, const Keys& k) {
  for (auto [key, role] : {std::pair{k.registry.get(), "registry"}, std::pair{k.approver1.get(), "approver"},
                           std::pair{k.approver2.get(), "approver"}}) {
    auto signed_by = sign_bundle(bundle, *key, role);
    ASSERT_TRUE(signed_by) << signed_by.error().reason;
  }
}

inline VerifyOptions verify_options() {
  VerifyOptions o;
  o.environment = "prod";
  o.now = t0();
  return o;
}

}  // namespace bundle_test
