#include "chain/miner.h"

#include <gtest/gtest.h>

#include <thread>

#include "chain/test_util.h"

using namespace peerchain;
using namespace peerchain::chain;
using namespace peerchain::chain::testing;

namespace {
bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}
}  // namespace

TEST(Miner, SolveFindsValidProofOfWork) {
  auto p = consensus::dev_params();
  BlockTemplate t;
  t.block.header.bits = 0x2000ffff;  // ~1 in 256
  t.target = *consensus::decode_compact(t.block.header.bits);
  uint64_t hashes = 0;
  ASSERT_TRUE(Miner::solve(t, [] { return false; }, hashes));
  EXPECT_TRUE(consensus::meets_target(t.block.header.id(), t.target));
  EXPECT_GE(hashes, 1u);
}

TEST(Miner, SolveStopsWhenAsked) {
  BlockTemplate t;
  t.block.header.bits = 0x1b00ffff;  // far too hard to find here
  t.target = *consensus::decode_compact(t.block.header.bits);
  uint64_t hashes = 0;
  int calls = 0;
  EXPECT_FALSE(Miner::solve(t, [&] { return ++calls == 3; }, hashes));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(hashes, 3u * 4096u);
}

TEST(Miner, ThreadMinesBlocksCarryingTransactions) {
  TestNode node(easy_params());
  MinerOptions opts;
  opts.reward_key = consensus::dev_account_key(0).pubkey();
  opts.max_hashes_per_second = 2000;
  Miner miner(node.chain(), opts);
  miner.start();
  auto tx = primitives::make_transfer(node->params().chain_id, consensus::dev_account_key(1),
                                      consensus::dev_account_key(2).pubkey(), 500, 1, 0);
  ASSERT_TRUE(node->submit_transaction(tx).ok());
  ASSERT_TRUE(wait_for([&] {
    auto info = node->transaction(tx.id());
    return info && info->block && node->tip().height >= 3;
  }, std::chrono::seconds(30)));
  miner.stop();
  EXPECT_FALSE(miner.running());
  EXPECT_GE(miner.blocks_found(), 3u);
  EXPECT_TRUE(node->verify().ok());
}

TEST(Miner, RespectsHashRateCap) {
  TestNode node(easy_params());
  MinerOptions opts;
  opts.reward_key = consensus::dev_account_key(0).pubkey();
  opts.max_hashes_per_second = 500;
  Miner miner(node.chain(), opts);
  auto start = std::chrono::steady_clock::now();
  miner.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  miner.stop();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // An upper bound only (a slow machine mines less, never more): the cap plus one batch.
  EXPECT_LE(static_cast<double>(miner.hashes()), 500 * secs + 4096 + 100);
}

TEST(Miner, BlockSizePolicy) {
  // Not measured, or no share: no limit.
  EXPECT_EQ(policy_block_txs(0, 1000, 0.5), SIZE_MAX);
  EXPECT_EQ(policy_block_txs(20'000, 1000, 0), SIZE_MAX);
  // 20 us a transfer, half of a 1 s interval: 25,000 transfers; of a 5 s one: 125,000.
  EXPECT_EQ(policy_block_txs(20'000, 1000, 0.5), 25'000u);
  EXPECT_EQ(policy_block_txs(20'000, 5000, 0.5), 125'000u);
  // A node that validates slowly still fills blocks of the floor.
  EXPECT_EQ(policy_block_txs(10'000'000, 1000, 0.5), 1000u);
  EXPECT_EQ(policy_block_txs(10'000'000, 1000, 0.5, 10), 50u);
}

TEST(Miner, PolicyBoundsTheTemplate) {
  TestNode node(easy_params());
  for (uint64_t nonce = 0; nonce < 5; ++nonce)
    ASSERT_TRUE(node->submit_transaction(primitives::make_transfer(node->params().chain_id, consensus::dev_account_key(1),
                                                                    consensus::dev_account_key(2).pubkey(), 10, 1, nonce))
                    .ok());
  MinerOptions opts;
  opts.reward_key = consensus::dev_account_key(0).pubkey();
  opts.max_hashes_per_second = 2000;
  std::atomic<int> asked{0};
  opts.block_txs_policy = [&] {
    ++asked;
    return size_t{2};
  };
  Miner miner(node.chain(), opts);
  miner.start();
  ASSERT_TRUE(wait_for([&] { return node->tip().height >= 1; }, std::chrono::seconds(30)));
  miner.stop();
  EXPECT_GE(asked.load(), 1);
  auto b = node->block(*node->block_id_at(1));
  ASSERT_TRUE(b);
  EXPECT_LE(b->txs.size(), 2u);
}

// A better block on its way in holds the miner until the tip reaches it: no hashing on the old
// tip meanwhile (a block found there would lose the race). A block that never comes holds it
// for max_hold_ms at most.
TEST(Miner, HoldsWhileABetterBlockIsValidatedAndResumes) {
  TestNode node(easy_params());
  MinerOptions opts;
  opts.reward_key = consensus::dev_account_key(0).pubkey();
  opts.max_hashes_per_second = 20'000;
  opts.max_hold_ms = 60'000;
  Miner miner(node.chain(), opts);
  // Held before it starts: the first template (height 1) is at the held height.
  miner.hold(1);
  EXPECT_EQ(miner.holds(), 1u);
  miner.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(miner.hashes(), 0u);
  EXPECT_EQ(node->tip().height, 0u);
  // The awaited block arrives (made elsewhere): the miner mines on it at once.
  Forge forge(node->params());
  ASSERT_TRUE(node->process_block(forge.make(node->params().genesis_id)).ok());
  ASSERT_TRUE(wait_for([&] { return node->tip().height >= 2; }, std::chrono::seconds(30)));
  EXPECT_GT(miner.hashes(), 0u);
  miner.stop();
}

TEST(Miner, HoldEndsAfterMaxHoldMs) {
  TestNode node(easy_params());
  MinerOptions opts;
  opts.reward_key = consensus::dev_account_key(0).pubkey();
  opts.max_hashes_per_second = 20'000;
  opts.max_hold_ms = 300;
  Miner miner(node.chain(), opts);
  miner.hold(50);  // a block far ahead that never comes
  const auto start = std::chrono::steady_clock::now();
  miner.start();
  ASSERT_TRUE(wait_for([&] { return miner.hashes() > 0; }, std::chrono::seconds(30)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  ASSERT_TRUE(wait_for([&] { return node->tip().height >= 1; }, std::chrono::seconds(30)));
  miner.stop();
}

// The pacer is a token bucket one step deep: steps at the cap's cadence, and after a pause
// (a hold, a connect) one step at once, then the cadence again. Banked idle time came back as a
// burst at full speed on every node at once after a block (their miners resume together), and
// the bursts found blocks that raced each other.
TEST(Miner, PacerBanksNoIdleTime) {
  const double rate = 50'000;
  const double step = 4096 / rate;  // 82 ms of the cap
  HashPacer p(rate, 1.0, 4096, 0.0);
  // Steady hashing: each step (taking 1 ms) waits out the rest of its 82 ms.
  double t = 0.001;
  double wait = p.after(4096, 0.001, t);
  EXPECT_NEAR(wait, step - 0.001, 1e-9);
  t += wait + 0.001;
  EXPECT_NEAR(p.after(4096, 0.001, t), step - 0.001, 1e-9);
  // Ten seconds without hashing (held), then ten steps back to back at full speed: only the
  // first goes at once; the rest keep the cadence (with banking, all ten went at once).
  t += 10.0;
  EXPECT_EQ(p.after(0, 0, t), 0.0);
  double elapsed = 0;
  for (int i = 0; i < 10; ++i) {
    t += 0.001;
    double w = p.after(4096, 0.001, t);
    if (i == 0) EXPECT_EQ(w, 0.0);  // the bucket's one step
    else EXPECT_NEAR(w, step - 0.0015, 0.0006) << i;  // the rest of the step's 82 ms
    t += w;
    elapsed += w + 0.001;
  }
  EXPECT_GE(elapsed, 9 * step - 0.002);  // ten steps after the pause take nine cadences
  // A CPU share alone (no rate): hashing half the time at most, idle time not banked either.
  HashPacer half(0, 0.5, 4096, 0.0);
  EXPECT_NEAR(half.after(1, 0.010, 0.010), 0.010, 1e-9);
  EXPECT_EQ(half.after(1, 0.010, 100.0), 0.0);  // after an idle stretch: one step at once
  EXPECT_NEAR(half.after(1, 0.010, 100.010), 0.005, 1e-9);  // then half the time again
}
