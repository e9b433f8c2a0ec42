// Ledger throughput: the disk's fdatasync rate, durable appends with 1 and 64 concurrent
// writers (group commit), verification speed, and the cost of opening a ledger at start-up
// (recovery and the history readers in one scan), and what a batch seal costs. Run:
//   build/bench/ledger_bench --benchmark_min_time=2
// The ledger lives in $DDLGATE_BENCH_DIR (default: the system temp directory), which should be
// on the disk the proxy will use.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"

namespace lg = ddlgate::ledger;

namespace {

std::filesystem::path bench_root() {
  const char* env = std::getenv("DDLGATE_BENCH_DIR");
  std::filesystem::path base = env ? env : std::filesystem::temp_directory_path();
  std::random_device rd;
  auto p = base / ("ddlgate-ledger-bench-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(p);
  return p;
}

struct Env {
  std::filesystem::path root = bench_root();
  std::filesystem::path key = root / "cp.key";
  std::filesystem::path pub = root / "cp.pub";
  Env() {
    EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    FILE* f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    f = std::fopen(pub.c_str(), "w");
    PEM_write_PUBKEY(f, pkey);
    std::fclose(f);
    EVP_PKEY_free(pkey);
  }
  ~Env() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  lg::LedgerConfig config(const std::string& name) const {
    lg::LedgerConfig c;
    c.directory = root / name;
    c.checkpoint_key_file = key;
    c.checkpoint_every_records = 10000;
    return c;
  }
};

Env& env() {
  static Env e;
  return e;
}

lg::Record sample(std::uint64_t i) {
  lg::DecisionInfo d;
  d.decision = lg::Decision::allowed;
  d.session = {"session-" + std::to_string(i % 64), "migrator", "billing", "10.1.2.3:54321", "flyway"};
  d.statement_hash = "9f2c4e1a7b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
  d.statement_class = "ddl";
  d.display_sql = "ALTER TABLE invoices ADD COLUMN settled_at timestamptz DEFAULT NULL";
  d.approval = lg::Approval{"billing", "2026.11.25-" + std::to_string(i % 10), "V42__settled_at.sql", 1};
  return lg::decision(d);
}

void BM_FdatasyncRate(benchmark::State& state) {
  auto path = env().root / "fsync-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  char buf[512] = {};
  for (auto _ : state) {
    if (::write(fd, buf, sizeof buf) != sizeof buf || ::fdatasync(fd) != 0) state.SkipWithError("I/O error");
  }
  ::close(fd);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FdatasyncRate)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Each writer thread waits for its record to be durable before writing the next one, as a
// proxy session does; state.range(0) writers run concurrently.
void BM_DurableAppends(benchmark::State& state) {
  const auto writers = static_cast<int>(state.range(0));
  static int run = 0;
  auto l = lg::Ledger::open(env().config("writers-" + std::to_string(writers) + "-" + std::to_string(run++)));
  if (!l) {
    state.SkipWithError(l.error().to_string().c_str());
    return;
  }
  const int per_writer = writers == 1 ? 200 : 400;
  std::uint64_t total = 0;
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (int w = 0; w < writers; ++w) {
      ts.emplace_back([&, w] {
        for (int i = 0; i < per_writer; ++i) {
          if (!(*l)->append_durable(sample(static_cast<std::uint64_t>(w * per_writer + i)))) std::abort();
        }
      });
    }
    for (auto& t : ts) t.join();
    total += static_cast<std::uint64_t>(writers) * per_writer;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}
BENCHMARK(BM_DurableAppends)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);

// Like BM_DurableAppends, but each writer keeps up to 16 records in flight (callback API, as
// the proxy's coroutines will use it): shows what the writer sustains when the disk's fsync
// rate, not the number of writers, is the limit.
void BM_DurableAppendsPipelined(benchmark::State& state) {
  const auto writers = static_cast<int>(state.range(0));
  static int run = 0;
  auto l = lg::Ledger::open(env().config("pipelined-" + std::to_string(run++)));
  if (!l) {
    state.SkipWithError(l.error().to_string().c_str());
    return;
  }
  constexpr int kPerWriter = 2000;
  constexpr int kWindow = 16;
  std::uint64_t total = 0;
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (int w = 0; w < writers; ++w) {
      ts.emplace_back([&, w] {
        std::mutex mu;
        std::condition_variable cv;
        int in_flight = 0;
        for (int i = 0; i < kPerWriter; ++i) {
          {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return in_flight < kWindow; });
            ++in_flight;
          }
          (*l)->append(sample(static_cast<std::uint64_t>(w * kPerWriter + i)), [&](const lg::AppendResult& r) {
            if (!r) std::abort();
            std::lock_guard lk(mu);
            --in_flight;
            cv.notify_one();
          });
        }
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return in_flight == 0; });
      });
    }
    for (auto& t : ts) t.join();
    total += static_cast<std::uint64_t>(writers) * kPerWriter;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
}
BENCHMARK(BM_DurableAppendsPipelined)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);

// What a batch seal adds to every batch, on the writer thread: the tree head of a large tree,
// the checkpoint body and its Ed25519 signature (docs/ledger.md, "Batch seals").
void BM_BatchSeal(benchmark::State& state) {
  auto signer = lg::NoteSigner::load_pem(env().key, "bench.example/ddlgate/0123456789abcdef");
  if (!signer) {
    state.SkipWithError(signer.error().to_string().c_str());
    return;
  }
  lg::CompactTree tree;
  for (std::uint64_t i = 0; i < 1000000; ++i) tree.append(lg::leaf_hash(std::to_string(i)));
  std::string frame;
  for (auto _ : state) {
    frame.clear();
    lg::append_seal_frame(frame, tree.size(), signer->sign(lg::checkpoint_body(signer->name(), tree.size(), tree.root())));
    benchmark::DoNotOptimize(frame);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["seal_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_BatchSeal)->Unit(benchmark::kMicrosecond);

void BM_Verify(benchmark::State& state) {
  static const auto dir = [] {
    auto c = env().config("verify");
    auto l = lg::Ledger::open(c);
    // Asynchronous appends: the writer groups them into large batches.
    for (std::uint64_t i = 0; i < 100000; ++i) {
      (*l)->append(sample(i), nullptr);
    }
    (*l)->append_durable(sample(0));
    (*l)->close();
    return c.directory;
  }();
  std::uint64_t bytes = 0;
  auto segments = lg::list_segments(dir);
  for (const auto& s : *segments) bytes += std::filesystem::file_size(s.path);
  auto key = *lg::NoteVerifier::load_pem(env().pub);
  for (auto _ : state) {
    auto rep = lg::verify_directory(dir, key);
    if (!rep.ok()) state.SkipWithError(rep.problem->to_string().c_str());
    benchmark::DoNotOptimize(rep);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
  state.counters["records"] = 100001;
}
BENCHMARK(BM_Verify)->UseRealTime()->Unit(benchmark::kMillisecond);

// What a restart of ddlgate pays for its ledger: recovery checks every record and rebuilds the
// tree, and in the same pass the proxy's readers take what they must remember (accepted
// bundles, single-use break-glass tokens, and decisions that spend an approval: none here,
// as in a ledger of ordinary decisions). Items are records.
void BM_OpenWithHistoryReaders(benchmark::State& state) {
  static const auto config = [] {
    auto c = env().config("reopen");
    auto l = lg::Ledger::open(c);
    for (std::uint64_t i = 0; i < 200000; ++i) (*l)->append(sample(i), nullptr);
    (*l)->append_durable(sample(0));
    (*l)->close();
    return c;
  }();
  std::uint64_t records = 0;
  for (auto _ : state) {
    std::size_t read = 0;
    auto c = config;
    for (auto type : {lg::RecordType::bundle_accepted, lg::RecordType::break_glass_opened}) {
      c.history_readers.push_back({[type](lg::RecordType t, std::string_view) { return t == type; },
                                   [&read](const lg::ParsedRecord&) { ++read; }});
    }
    c.history_readers.push_back({[](lg::RecordType t, std::string_view payload) {
                                   return t == lg::RecordType::decision &&
                                          payload.find("\"spend\":") != std::string_view::npos;
                                 },
                                 [&read](const lg::ParsedRecord&) { ++read; }});
    auto l = lg::Ledger::open(c);
    if (!l) {
      state.SkipWithError(l.error().to_string().c_str());
      break;
    }
    records = (*l)->durable_size();
    (*l)->close();
    benchmark::DoNotOptimize(read);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records * state.iterations()));
  state.counters["records"] = static_cast<double>(records);
}
BENCHMARK(BM_OpenWithHistoryReaders)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
