// Validating and connecting a 5,000-transaction block: cold (every signature verified, on a
// verify pool of one worker per core but the caller's, or with no pool on the calling thread
// alone) and warm (every transaction already admitted to the mempool, so its signature is cached).
#include <benchmark/benchmark.h>

#include "chain/parallel_verify.h"
#include "chain/test_util.h"

using namespace peerchain;
using namespace peerchain::chain;
using namespace peerchain::chain::testing;

namespace {

struct Fixture {
  consensus::Params params = easy_params();
  std::vector<primitives::Transaction> txs;
  primitives::Block block;

  Fixture() {
    constexpr uint32_t kSenders = 100, kPerSender = 50;
    for (uint32_t n = 0; n < kPerSender; ++n)
      for (uint32_t s = 0; s < kSenders; ++s)
        txs.push_back(primitives::make_transfer(params.chain_id, consensus::dev_account_key(s),
                                                consensus::dev_account_key((s + 1) % kSenders).pubkey(), 500, 1, n));
    Forge forge(params);
    block = forge.make(params.genesis_id, txs);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// The bench is where this process's real world is wired, so it owns the pool's threads.
VerifyPool& pool() {
  static VerifyPool p(VerifyPool::default_workers());
  return p;
}

void connect_block(benchmark::State& state, bool warm, bool with_pool = true) {
  const auto& f = fixture();
  ChainOptions opts;
  opts.verify_pool = with_pool ? &pool() : nullptr;
  for (auto _ : state) {
    state.PauseTiming();
    auto node = std::make_unique<TestNode>(f.params, nullptr, opts);
    if (warm)
      for (const auto& tx : f.txs)
        if (!(*node)->submit_transaction(tx)) state.SkipWithError("submit failed");
    state.ResumeTiming();
    auto r = (*node)->process_block(f.block);
    if (!r || (*node)->tip().height != 1) state.SkipWithError("block not connected");
    state.PauseTiming();
    node.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * f.txs.size()));
  state.counters["txs"] = static_cast<double>(f.txs.size());
}

void BM_ConnectBlock5000_ColdSigCache(benchmark::State& state) { connect_block(state, false); }
void BM_ConnectBlock5000_WarmSigCache(benchmark::State& state) { connect_block(state, true); }
void BM_ConnectBlock5000_ColdSigCache_NoPool(benchmark::State& state) { connect_block(state, false, false); }

}  // namespace

BENCHMARK(BM_ConnectBlock5000_ColdSigCache)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConnectBlock5000_WarmSigCache)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConnectBlock5000_ColdSigCache_NoPool)->Unit(benchmark::kMillisecond)->UseRealTime();
