// Loading and verifying a signed bundle of 100,000 statements (the goal: <= 2 s),
// and building the approval registry from it. The bundle is generated once per run.
#include <filesystem>
#include <fstream>
#include <string>

#include <benchmark/benchmark.h>

#include "ddlgate/bundle/bundle.h"
#include "ddlgate/bundle/registry.h"

namespace {

namespace fs = std::filesystem;
using namespace ddlgate::sql;
using namespace ddlgate::bundle;
using namespace ddlgate::base;

constexpr int kFiles = 100;
constexpr int kStatementsPerFile = 1000;

struct Fixture {
  fs::path root;
  fs::path bundle;
  std::unique_ptr<SigningKey> registry = SigningKey::generate();
  std::unique_ptr<SigningKey> approver1 = SigningKey::generate();
  std::unique_ptr<SigningKey> approver2 = SigningKey::generate();
  TrustAnchors trust;
  VerifyOptions options;

  Fixture() {
    std::string tmpl = (fs::temp_directory_path() / "ddlgate-bundle-bench-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
    fs::path src = root / "src";
    fs::create_directories(src);
    for (int f = 0; f < kFiles; ++f) {
      char name[32];
      std::snprintf(name, sizeof name, "%04d_migration.sql", f);
      std::ofstream out(src / name);
      for (int i = 0; i < kStatementsPerFile; ++i) {
        int n = f * kStatementsPerFile + i;
        switch (i % 4) {
          case 0: out << "CREATE TABLE t" << n << " (id bigint PRIMARY KEY, name text NOT NULL DEFAULT '', created timestamptz DEFAULT now());\n"; break;
          case 1: out << "CREATE INDEX i" << n << " ON t" << n - 1 << " (name, created);\n"; break;
          case 2: out << "ALTER TABLE t" << n - 2 << " ADD COLUMN c" << n << " numeric(12,2) DEFAULT " << n << ";\n"; break;
          default: out << "COMMENT ON TABLE t" << n - 3 << " IS 'table number " << n << "';\n"; break;
        }
      }
    }
    BuildOptions o;
    o.src_dir = src;
    o.out_dir = root / "registry" / "big-1";
    o.app = "big";
    o.version = 1;
    o.environment = "prod";
    o.databases = {"big"};  // the scope is required (format 2)
    o.tool = MigrationTool::plain;
    o.not_before = std::chrono::floor<std::chrono::seconds>(Clock::now());
    BuildResult r = build_bundle(o);
    if (!r.ok()) throw std::runtime_error(r.problems.front().to_string());
    bundle = o.out_dir;
    for (const auto* key : {registry.get(), approver1.get(), approver2.get()}) {
      if (!sign_bundle(bundle, *key, key == registry.get() ? "registry" : "approver")) {
        throw std::runtime_error("cannot sign the bundle");
      }
    }
    trust.roles.push_back({"approver", 2, {approver1->public_key(), approver2->public_key()}, {}});
    trust.roles.push_back({"registry", 1, {registry->public_key()}, {}});
    options.environment = "prod";
    options.now = o.not_before;
    options.max_manifest_bytes = 64u * 1024 * 1024;
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_LoadBundle100k(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    LoadBundleResult r = load_bundle(f.bundle, f.trust, f.options);
    if (!r.ok()) state.SkipWithError(r.problems.front().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.counters["statements"] = kFiles * kStatementsPerFile;
  state.counters["manifest_MiB"] = static_cast<double>(fs::file_size(f.bundle / "manifest.json")) / (1024 * 1024);
}
BENCHMARK(BM_LoadBundle100k)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_RegistryLoad100k(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    RegistryLoad r = Registry::load(f.root / "registry", f.trust, f.options, nullptr);
    if (r.accepted.size() != 1) state.SkipWithError("bundle rejected");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RegistryLoad100k)->Unit(benchmark::kMillisecond)->Iterations(3);

// A reload (SIGHUP) with the same bundle in force: signatures, window and digests only.
void BM_RegistryReloadUnchanged100k(benchmark::State& state) {
  Fixture& f = fixture();
  RegistryLoad first = Registry::load(f.root / "registry", f.trust, f.options, nullptr);
  for (auto _ : state) {
    RegistryLoad r = Registry::load(f.root / "registry", f.trust, f.options, first.snapshot.get());
    if (r.accepted.size() != 1) state.SkipWithError("bundle rejected");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RegistryReloadUnchanged100k)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ApprovedSetFind(benchmark::State& state) {
  Fixture& f = fixture();
  static RegistryLoad r = Registry::load(f.root / "registry", f.trust, f.options, nullptr);
  const auto& approvals = *r.snapshot->apps().at("big").approvals;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.snapshot->find(approvals[i % approvals.size()].hash, "prod_db"));
    ++i;
  }
}
BENCHMARK(BM_ApprovedSetFind);

}  // namespace

BENCHMARK_MAIN();
