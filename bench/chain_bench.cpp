// Validating and connecting a 5,000-transaction block: cold (every signature verified, on a
// verify pool of one worker per core but the caller's, or with no pool on the calling thread
// alone) and warm (every transaction already admitted to the mempool, so its signature is cached).
#include <benchmark/benchmark.h>

#include <set>
#include <unordered_map>

#include "chain/mempool.h"
#include "chain/parallel_verify.h"
#include "chain/test_util.h"
#include "node/compact.h"

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

// peer_block: processed as a block from a peer (Durability::kByNextSync): the call returns after
// the tip is announced, and the fsync and deferred writes (journal erasures, tx index: ADR 0026)
// are left to the node's next tick, done here outside the timing.
void connect_block(benchmark::State& state, bool warm, bool with_pool = true, bool peer_block = false) {
  const auto& f = fixture();
  ChainOptions opts;
  opts.verify_pool = with_pool ? &pool() : nullptr;
  for (auto _ : state) {
    state.PauseTiming();
    auto node = std::make_unique<TestNode>(f.params, nullptr, opts);
    if (warm)  // one call, so one journal write and fsync (the setup took 5,000 of them)
      for (const auto& r : (*node)->submit_transactions(f.txs))
        if (!r) state.SkipWithError("submit failed");
    state.ResumeTiming();
    auto r = peer_block ? (*node)->process_block(f.block, nullptr, ChainState::Durability::kByNextSync)
                        : (*node)->process_block(f.block);
    if (!r || (*node)->tip().height != 1) state.SkipWithError("block not connected");
    state.PauseTiming();
    if (peer_block && !(*node)->sync_pending()) state.SkipWithError("deferred writes failed");
    node.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * f.txs.size()));
  state.counters["txs"] = static_cast<double>(f.txs.size());
}

void BM_ConnectBlock5000_ColdSigCache(benchmark::State& state) { connect_block(state, false); }
void BM_ConnectBlock5000_WarmSigCache(benchmark::State& state) { connect_block(state, true); }
void BM_ConnectBlock5000_ColdSigCache_NoPool(benchmark::State& state) { connect_block(state, false, false); }
void BM_ConnectBlock5000_WarmSigCache_FromPeer(benchmark::State& state) { connect_block(state, true, true, true); }

// A transfer's id (its encoding, then a tagged SHA-256): taken several times per transfer on
// every node (relay, admission, the block's checks, the miner).
void BM_TransactionId(benchmark::State& state) {
  const auto& txs = fixture().txs;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(txs[i].id());
    i = i + 1 == txs.size() ? 0 : i + 1;
  }
}

// Signature-cache lookups in a cache of 400,000 verified transfers (a busy node's), half of
// them hits (a transfer seen before) and half misses (a new one): the cache is looked up about
// five times per transfer per node.
void BM_SigCacheLookup400k(benchmark::State& state) {
  static const auto ids = [] {
    std::vector<primitives::TxId> v;
    for (uint64_t i = 0; i < 800'000; ++i) {
      util::Writer w;
      w.u64(i);
      v.push_back(crypto::sha256(w.data()));
    }
    return v;
  }();
  static SigCache* cache = [] {
    auto* c = new SigCache(1 << 19);
    for (size_t i = 0; i < 400'000; ++i) c->insert(ids[i * 2]);
    return c;
  }();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache->contains(ids[i]));
    i = (i + 7919) % ids.size();  // a stride, so consecutive lookups touch unrelated slots
  }
}

// A pool of 1,000 senders' transfers, ten each (the pool a 4,000/s run holds when blocks lag),
// unsigned: the pool takes checked transfers on trust.
struct PoolOf10k {
  std::vector<primitives::AccountKey> keys;
  std::vector<std::pair<primitives::Transaction, primitives::TxId>> txs;  // nonce-major
  PoolOf10k() {
    const auto& p = fixture().params;
    constexpr uint32_t kSenders = 1000, kPerSender = 10;
    for (uint32_t s = 0; s < kSenders; ++s) keys.push_back(consensus::dev_account_key(s).pubkey());
    for (uint32_t n = 0; n < kPerSender; ++n)
      for (uint32_t s = 0; s < kSenders; ++s) {
        primitives::Transaction tx;
        tx.chain_id = p.chain_id;
        tx.sender = keys[s];
        tx.recipient = keys[(s + 1) % kSenders];
        tx.amount = 500;
        tx.fee = 1;
        tx.nonce = n;
        txs.emplace_back(tx, tx.id());
      }
  }
};

const PoolOf10k& pool_of_10k() {
  static const PoolOf10k f;
  return f;
}

void fill(Mempool& pool, benchmark::State& state) {
  for (const auto& [tx, id] : pool_of_10k().txs)
    if (!pool.add(tx, id, [](const primitives::AccountKey&) { return primitives::Account{1'000'000'000, 0}; }))
      state.SkipWithError("mempool refused a transfer");
}

// A sketch's rebuild from the mempool: one short id per pooled transfer (10,000 of 1,000
// senders, the pool a 4,000/s run holds when blocks lag), looked up among a block's 5,000.
void BM_MempoolMatchShortIds10k(benchmark::State& state) {
  Mempool pool;
  fill(pool, state);
  std::vector<primitives::TxId> ids;
  for (const auto& [tx, id] : pool_of_10k().txs) ids.push_back(id);
  primitives::BlockHeader header;
  const auto key = node::short_id_key(header, 42);
  std::unordered_map<uint64_t, uint32_t> block;  // as PartialBlock's index: every other pooled transfer
  for (size_t i = 0; i < ids.size(); i += 2) block.emplace(node::short_id(key, ids[i]), static_cast<uint32_t>(i));
  for (auto _ : state) {
    std::vector<const MempoolEntry*> got;
    pool.visit_short_ids([&key](const primitives::TxId& t) { return node::short_id(key, t); },
                         [&](const MempoolEntry& e, uint64_t s) {
                           if (block.count(s)) got.push_back(&e);
                         });
    benchmark::DoNotOptimize(got.data());
  }
  state.counters["pooled"] = static_cast<double>(pool.size());
}

// The pool built by admission, then a block's update confirming the first five of each sender
// (5,000): both on a node's busy paths (the API's admission; a connect, before the tip is
// announced).
void BM_MempoolAdmit10k(benchmark::State& state) {
  (void)pool_of_10k();
  for (auto _ : state) {
    Mempool pool;
    fill(pool, state);
    benchmark::DoNotOptimize(pool.size());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * pool_of_10k().txs.size()));
}

void BM_MempoolConfirm5000Of10k(benchmark::State& state) {
  const auto& f = pool_of_10k();
  const std::set<primitives::AccountKey> touched(f.keys.begin(), f.keys.end());
  const auto confirmed = [](const primitives::AccountKey&) { return primitives::Account{1'000'000'000 - 5 * 501, 5}; };
  std::vector<Removed> dropped;  // as ChainState does: kept between blocks
  for (auto _ : state) {
    state.PauseTiming();
    auto pool = std::make_unique<Mempool>();
    fill(*pool, state);
    state.ResumeTiming();
    dropped.clear();
    pool->update_accounts(touched, {}, confirmed, dropped);
    if (dropped.size() != 5000 || pool->size() != 5000) state.SkipWithError("wrong update");
    state.PauseTiming();
    pool.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 5000));
}

// The miner's template rebuilt from the mempool's 5,000 transfers (100 senders, 50 each), as
// after every tip change: selection, the copies and the senders' next nonces, all under the
// chain lock, then the Merkle root outside it. A limit alternating between 5,000 and 4,999
// makes every call a rebuild (an equal one would only extend the cached template).
void BM_TemplateRebuild5000(benchmark::State& state) {
  const auto& f = fixture();
  TestNode node(f.params);
  for (const auto& r : node->submit_transactions(f.txs))
    if (!r) state.SkipWithError("submit failed");
  const auto miner = consensus::dev_account_key(0).pubkey();
  size_t i = 0;
  for (auto _ : state) {
    auto t = node->create_template(miner, f.txs.size() - (i++ & 1));
    if (t.block.txs.size() + 1 < f.txs.size()) state.SkipWithError("short template");
    benchmark::DoNotOptimize(t.block.header.merkle_root);
  }
  const auto [built, extended] = node->template_counts();
  if (extended != 0) state.SkipWithError("a template was extended, not rebuilt");
  state.counters["rebuilt"] = static_cast<double>(built);
}

}  // namespace

BENCHMARK(BM_TemplateRebuild5000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MempoolMatchShortIds10k)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MempoolAdmit10k)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MempoolConfirm5000Of10k)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TransactionId);
BENCHMARK(BM_SigCacheLookup400k);
BENCHMARK(BM_ConnectBlock5000_ColdSigCache)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConnectBlock5000_WarmSigCache)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConnectBlock5000_ColdSigCache_NoPool)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConnectBlock5000_WarmSigCache_FromPeer)->Unit(benchmark::kMillisecond)->UseRealTime();
