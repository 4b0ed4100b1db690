// Signature checks on a worker pool handed in (or none): what verifies is cached, what does not
// is left out, whatever the batch size, the pool's size and however many callers share it.
#include "chain/parallel_verify.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "chain/test_util.h"
#include "consensus/params.h"

namespace peerchain::chain {
namespace {

struct Batch {
  std::vector<primitives::Transaction> txs;
  std::vector<primitives::TxId> ids;
  std::vector<bool> good;
};

Batch make_batch(size_t n, uint32_t salt) {
  Batch b;
  auto from = consensus::dev_account_key(salt % 100);
  auto to = consensus::dev_account_key((salt + 1) % 100).pubkey();
  for (size_t i = 0; i < n; ++i) {
    auto tx = primitives::make_transfer(2, from, to, 1 + i, 1, salt * 100'000ULL + i);
    bool good = i % 7 != 3;
    if (!good) tx.signature.data[5] ^= 0x40;  // forged: must not enter the cache
    b.txs.push_back(tx);
    b.ids.push_back(tx.id());
    b.good.push_back(good);
  }
  return b;
}

void expect_cached_iff_good(const Batch& b, const SigCache& cache) {
  for (size_t i = 0; i < b.txs.size(); ++i) EXPECT_EQ(cache.contains(b.ids[i]), b.good[i]) << "tx " << i;
}

TEST(ParallelVerify, CachesExactlyTheValidOnesForEveryBatchSizeWithAndWithoutAPool) {
  VerifyPool none(0), three(3);
  for (VerifyPool* pool : {static_cast<VerifyPool*>(nullptr), &none, &three}) {
    for (size_t n : {0u, 1u, 2u, 5u, 10u, 33u, 200u}) {
      SCOPED_TRACE("batch of " + std::to_string(n) + ", " +
                   (pool ? std::to_string(pool->workers()) + " workers" : std::string("no pool")));
      SigCache cache(1 << 16);
      auto b = make_batch(n, static_cast<uint32_t>(n));
      verify_signatures(b.txs, b.ids, cache, pool);
      expect_cached_iff_good(b, cache);
    }
  }
}

// A block's signatures (kLatency) are not shared when one core checks them in a few ms, and in
// shares of at most kLatencyShare otherwise: the pool's workers run at bulk priority, and a
// caller waits for the share a held-back worker took. Transfers being admitted (kThroughput)
// share in the cheapest batches.
TEST(ParallelVerify, BlocksShareOnlyLargeBatchesInShortShares) {
  EXPECT_EQ(share_plan(0, 2, VerifyMode::kLatency), SharePlan{});
  EXPECT_EQ(share_plan(126, 2, VerifyMode::kLatency), (SharePlan{126, 0}));
  EXPECT_EQ(share_plan(kLatencyMinShared - 1, 2, VerifyMode::kLatency), (SharePlan{kLatencyMinShared - 1, 0}));
  EXPECT_EQ(share_plan(kLatencyMinShared, 2, VerifyMode::kLatency), (SharePlan{kLatencyShare, 1}));
  EXPECT_EQ(share_plan(5000, 4, VerifyMode::kLatency), (SharePlan{kLatencyShare, 3}));
  EXPECT_EQ(share_plan(126, 2, VerifyMode::kThroughput), (SharePlan{63, 1}));
  EXPECT_EQ(share_plan(1000, 2, VerifyMode::kThroughput), (SharePlan{500, 1}));
  EXPECT_EQ(share_plan(5000, 2, VerifyMode::kThroughput), (SharePlan{512, 1}));
  EXPECT_EQ(share_plan(6, 8, VerifyMode::kThroughput), (SharePlan{4, 1}));
  // Whatever the plan, a batch is verified in full (the first test covers the pool's runs).
  VerifyPool pool(1);
  auto b = make_batch(300, 9);
  SigCache cache(1 << 16);
  verify_signatures(b.txs, b.ids, cache, &pool, VerifyMode::kLatency);
  expect_cached_iff_good(b, cache);
}

TEST(ParallelVerify, ConcurrentCallersShareThePoolSafely) {
  VerifyPool pool(3);
  SigCache cache(1 << 16);
  std::vector<Batch> batches;
  for (uint32_t t = 0; t < 4; ++t) batches.push_back(make_batch(60, 10 + t));
  std::vector<std::thread> callers;
  for (auto& b : batches) callers.emplace_back([&b, &cache, &pool] { verify_signatures(b.txs, b.ids, cache, &pool); });
  for (auto& c : callers) c.join();
  for (const auto& b : batches) expect_cached_iff_good(b, cache);
}

// try_run() returns only after every helper asked for has run the work, so which threads ran it
// is exact, not a matter of timing.
// Helpers join in while the caller's work() runs: here it waits (bounded) until the helpers asked
// for have joined, so each of them ran it.
TEST(ParallelVerify, PoolRunsTheWorkOnTheCallerAndTheHelpersAskedFor) {
  VerifyPool pool(3);
  EXPECT_EQ(pool.workers(), 3u);
  for (unsigned helpers : {0u, 1u, 3u, 8u}) {
    std::mutex mu;
    std::condition_variable joined;
    std::set<std::thread::id> ran;
    const size_t want = 1 + std::min(helpers, 3u);
    std::function<void()> work = [&] {
      std::unique_lock lock(mu);
      ran.insert(std::this_thread::get_id());
      joined.notify_all();
      joined.wait_for(lock, std::chrono::seconds(10), [&] { return ran.size() == want; });
    };
    ASSERT_TRUE(pool.try_run(work, helpers));
    EXPECT_EQ(ran.size(), want) << helpers << " helpers asked for";
    EXPECT_TRUE(ran.count(std::this_thread::get_id()));
  }
}

// work() that the caller finishes alone: try_run() returns whether or not the helpers woke in
// time (one that had not is called off), and the pool serves the next batch as before.
TEST(ParallelVerify, CallerWhoFinishesTheWorkAloneDoesNotWaitForHelpersToWake) {
  VerifyPool pool(3);
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> shares{4}, done{0};
    std::function<void()> work = [&] {
      while (shares.fetch_sub(1) > 0) done.fetch_add(1);
    };
    ASSERT_TRUE(pool.try_run(work, 3));
    EXPECT_EQ(done.load(), 4);
  }
}

TEST(ParallelVerify, PoolWithoutWorkersRunsOnTheCaller) {
  VerifyPool pool(0);
  std::set<std::thread::id> ran;
  std::function<void()> work = [&] { ran.insert(std::this_thread::get_id()); };
  ASSERT_TRUE(pool.try_run(work, 4));
  EXPECT_EQ(ran, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST(ParallelVerify, BusyPoolRefusesASecondCallerWhoVerifiesAlone) {
  VerifyPool pool(2);
  bool second_ran = false, second_admitted = true;
  std::function<void()> work = [&] {
    // Another caller arrives while this batch runs (it holds the pool until work() returns).
    std::thread other([&] {
      std::function<void()> w = [&] { second_ran = true; };
      second_admitted = pool.try_run(w, 1);
    });
    other.join();
  };
  ASSERT_TRUE(pool.try_run(work, 0));
  EXPECT_FALSE(second_admitted);
  EXPECT_FALSE(second_ran);
  // verify_signatures() falls back to the calling thread: the batch is still verified.
  SigCache cache(1 << 16);
  auto b = make_batch(100, 7);
  std::function<void()> busy = [&] {
    std::thread other([&] { verify_signatures(b.txs, b.ids, cache, &pool); });
    other.join();
  };
  ASSERT_TRUE(pool.try_run(busy, 0));
  expect_cached_iff_good(b, cache);
}

// ChainState takes the pool through its options and still rejects one forged signature among
// many (the pool only warms the cache; consensus decides).
TEST(ParallelVerify, ChainStateWithAPoolRejectsOneForgedSignature) {
  VerifyPool pool(3);
  ChainOptions opts;
  opts.verify_pool = &pool;
  const auto params = testing::easy_params();
  testing::TestNode node(params, nullptr, opts);
  testing::Forge forge(params);
  std::vector<primitives::Transaction> txs;
  for (uint32_t n = 0; n < 4; ++n)
    for (uint32_t s = 1; s <= 60; ++s)
      txs.push_back(primitives::make_transfer(params.chain_id, consensus::dev_account_key(s),
                                              consensus::dev_account_key(s + 1).pubkey(), 500, 1, n));
  txs[137].fee += 1;  // signed for another fee
  auto r = node->process_block(forge.make(params.genesis_id, txs));
  ASSERT_FALSE(r.ok());
  ASSERT_NE(r.error().rejection(), nullptr);
  EXPECT_NE(r.error().rejection()->detail.find("bad-signature"), std::string::npos) << r.error().rejection()->detail;
  auto admitted = node->submit_transactions(txs);
  EXPECT_TRUE(admitted[0].ok());
  EXPECT_TRUE(admitted[136].ok());
  ASSERT_FALSE(admitted[137].ok());
  ASSERT_NE(admitted[137].error().rejection(), nullptr);
  txs[137].fee -= 1;
  auto good = forge.make(params.genesis_id, txs);
  ASSERT_TRUE(node->process_block(good).ok());
  EXPECT_EQ(node->tip().id, good.id());
}

}  // namespace
}  // namespace peerchain::chain
