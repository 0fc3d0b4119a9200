// What a durable commit costs, and what group commit buys: transactions of one small write each
// (synchronous=FULL, WAL) from 1, 2, 8 and 32 threads at once on one store.
// Run: build/bench/store_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>

#include "store/database.hpp"

namespace ecash {
namespace {

constexpr std::array<store::Migration, 1> kSchema = {
    {{1, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL);"}}};

std::unique_ptr<store::Database> g_db;
std::atomic<long> g_next{0};

void BM_DurableCommit(benchmark::State& state) {
  if (state.thread_index() == 0) {
    const auto path = std::filesystem::temp_directory_path() / ("ecash-store-bench-" + std::to_string(getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    g_db = store::open_sqlite((path / "s.db").string(), kSchema).value();
  }
  for (auto _ : state) {
    const long id = g_next++;
    auto ok = g_db->transact([&](store::Transaction& tx) -> Status {
      auto n = tx.exec("INSERT INTO t (id, v) VALUES (?, ?)", {static_cast<std::int64_t>(id), Bytes(200, 1)});
      if (!n) return std::unexpected(n.error());
      return {};
    });
    if (!ok) state.SkipWithError("commit failed");
  }
  if (state.thread_index() == 0) state.SetItemsProcessed(state.iterations() * state.threads());
}
BENCHMARK(BM_DurableCommit)->Threads(1)->Threads(2)->Threads(8)->Threads(32)->UseRealTime();

}  // namespace
}  // namespace ecash
