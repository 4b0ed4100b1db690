#include "chain/chainstate.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "chain/test_util.h"

using namespace peerchain;
using namespace peerchain::chain;
using namespace peerchain::chain::testing;
using consensus::dev_account_key;
using consensus::RejectCode;
using primitives::make_transfer;

namespace {

const consensus::Params& params() {
  static const consensus::Params p = easy_params();
  return p;
}

primitives::Transaction transfer(uint32_t from, uint32_t to, uint64_t nonce, primitives::Amount amount = 500,
                                 primitives::Amount fee = 1) {
  return make_transfer(params().chain_id, dev_account_key(from), dev_account_key(to).pubkey(), amount, fee, nonce);
}

primitives::AccountKey account_key(uint32_t i) { return dev_account_key(i).pubkey(); }

}  // namespace

TEST(ChainState, OpensAtGenesisWithAllocations) {
  TestNode node(params());
  EXPECT_EQ(node->tip().height, 0u);
  EXPECT_EQ(node->tip().id, params().genesis_id);
  EXPECT_EQ(node->account(account_key(5)).balance, consensus::kDevAccountFunds);
  EXPECT_TRUE(node->verify().ok());
}

TEST(ChainState, RefusesDatabaseOfAnotherNetwork) {
  storage::TestDir dir;
  { TestNode node(params(), &dir); }
  auto db = storage::Database::open(dir.sub("chain"));
  ASSERT_TRUE(db.ok());
  util::ManualClock clock(0);
  auto cs = ChainState::open(consensus::main_params(), std::move(*db), clock);
  ASSERT_FALSE(cs.ok());
  EXPECT_EQ(cs.error().code, "wrong-network");
}

TEST(ChainState, MinesBlockWithTransfersAndPersists) {
  storage::TestDir dir;
  primitives::TxId id1;
  {
    TestNode node(params(), &dir);
    auto r1 = node->submit_transaction(transfer(1, 2, 0, 500, 3));
    ASSERT_TRUE(r1.ok()) << r1.error().to_string();
    id1 = *r1;
    ASSERT_TRUE(node->submit_transaction(transfer(1, 2, 1, 500, 3)).ok());
    EXPECT_EQ(node->mempool_size(), 2u);
    auto info = node->transaction(id1);
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->block);
    auto ids = Miner::generate(node.chain(), account_key(50), 1);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(node->tip().height, 1u);
    EXPECT_EQ(node->mempool_size(), 0u);
    EXPECT_EQ(node->account(account_key(1)), (primitives::Account{consensus::kDevAccountFunds - 1006, 2}));
    EXPECT_EQ(node->account(account_key(2)).balance, consensus::kDevAccountFunds + 1000);
    EXPECT_EQ(node->account(account_key(50)).balance, consensus::kDevAccountFunds + params().initial_subsidy + 6);
    info = node->transaction(id1);
    ASSERT_TRUE(info && info->block);
    EXPECT_EQ(*info->block, ids[0]);
    EXPECT_EQ(info->confirmations, 1u);
    // The same place, from the index alone.
    auto place = node->transaction_place(id1);
    ASSERT_TRUE(place && place->block);
    EXPECT_EQ(*place->block, ids[0]);
    EXPECT_EQ(place->height, 1u);
    EXPECT_EQ(place->confirmations, 1u);
    Miner::generate(node.chain(), account_key(50), 1);
    EXPECT_EQ(node->transaction_place(id1)->confirmations, 2u);
    EXPECT_FALSE(node->transaction_place(transfer(1, 2, 9).id()));
    EXPECT_TRUE(node->verify().ok());
  }
  TestNode again(params(), &dir);
  EXPECT_EQ(again->tip().height, 2u);
  EXPECT_EQ(again->account(account_key(1)).nonce, 2u);
  EXPECT_TRUE(again->transaction(id1).has_value());
  EXPECT_TRUE(again->verify().ok());
}

TEST(ChainState, SubmitReasons) {
  TestNode node(params());
  auto t = transfer(1, 2, 0);
  ASSERT_TRUE(node->submit_transaction(t).ok());
  EXPECT_EQ(node->submit_transaction(t).error().rejection()->code, RejectCode::kDuplicate);
  EXPECT_EQ(node->submit_transaction(transfer(1, 2, 5)).error().rejection()->code, RejectCode::kNonceTooHigh);
  EXPECT_EQ(node->submit_transaction(transfer(3, 2, 0, consensus::kDevAccountFunds)).error().rejection()->code,
            RejectCode::kInsufficientFunds);
  auto forged = transfer(4, 2, 0);
  forged.amount = 9;
  EXPECT_EQ(node->submit_transaction(forged).error().rejection()->code, RejectCode::kBadSignature);
  auto other = transfer(4, 2, 0);
  other.chain_id = 1;
  EXPECT_EQ(node->submit_transaction(other).error().rejection()->code, RejectCode::kWrongChain);
  Miner::generate(node.chain(), account_key(0), 1);
  EXPECT_EQ(node->submit_transaction(t).error().rejection()->code, RejectCode::kDuplicate);  // now in a block
  EXPECT_EQ(node->submit_transaction(transfer(1, 2, 0, 600)).error().rejection()->code, RejectCode::kNonceTooLow);
}

TEST(ChainState, MissingParentAndDuplicate) {
  TestNode node(params());
  Forge forge(params());
  auto b1 = forge.make(params().genesis_id);
  auto b2 = forge.make(b1.id());
  EXPECT_EQ(node->process_block(b2).error().rejection()->code, RejectCode::kMissingParent);
  ASSERT_TRUE(node->process_block(b1).ok());
  EXPECT_EQ(node->process_block(b1).error().rejection()->code, RejectCode::kDuplicateBlock);
  ASSERT_TRUE(node->process_block(b2).ok());
  EXPECT_EQ(node->tip().id, b2.id());
}

// A reader asking for a block while it is being stored must get "not found" or the block, never
// a false "indexed as stored but missing" (that stops the node). block() reads without the lock
// and process_block marks the entry before it writes: found by peerchain-bench at full speed.
TEST(ChainState, BlockReadRacingItsStoreIsNotCorruption) {
  TestNode node(params());
  Forge forge(params());
  std::vector<primitives::Block> blocks;
  primitives::BlockId parent = params().genesis_id;
  for (int i = 0; i < 300; ++i) {
    blocks.push_back(forge.make(parent));
    parent = blocks.back().id();
  }
  for (const auto& b : blocks) {
    std::atomic<bool> go{false};
    std::thread reader([&] {
      go = true;
      while (!node->block(b.id()) && node->storage_status().state == StorageState::kOk) {
      }
    });
    while (!go) std::this_thread::yield();
    ASSERT_TRUE(node->process_block(b).ok());
    reader.join();
    ASSERT_EQ(node->storage_status().state, StorageState::kOk) << node->storage_status().message;
  }
}

// The same block stored by two threads at once (a sketch rebuilt from one peer, the block whole
// from another): both may write its bytes outside the chain lock (ADR 0028), and the place is
// checked again under it, so exactly one of them connects the block; the other hears it is a
// duplicate.
TEST(ChainState, SameBlockFromTwoThreadsIsConnectedOnce) {
  TestNode node(params());
  Forge forge(params());
  primitives::BlockId parent = params().genesis_id;
  for (int i = 0; i < 100; ++i) {
    const auto b = forge.make(parent);
    std::atomic<int> ready{0};
    std::array<std::optional<ChainResult<ProcessResult>>, 2> r;
    auto run = [&](size_t k) {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      r[k] = node->process_block(b);
    };
    std::thread other(run, 1);
    run(0);
    other.join();
    ASSERT_EQ(r[0]->ok() + r[1]->ok(), 1) << "block " << i << " connected by both threads or neither";
    const auto& second = r[0]->ok() ? *r[1] : *r[0];
    ASSERT_TRUE(second.error().rejection());
    EXPECT_EQ(second.error().rejection()->code, RejectCode::kDuplicateBlock);
    ASSERT_EQ(node->tip().id, b.id());
    parent = b.id();
  }
  EXPECT_TRUE(node->verify().ok());
}

TEST(ChainState, FirstSeenWinsATie) {
  TestNode node(params());
  Forge forge(params());
  auto a = forge.make(params().genesis_id, {}, nullptr, 1000);
  auto b = forge.make(params().genesis_id, {}, nullptr, 1001);
  ASSERT_TRUE(node->process_block(a).ok());
  ASSERT_TRUE(node->process_block(b).ok());
  EXPECT_EQ(node->tip().id, a.id());
  auto b2 = forge.make(b.id());
  ASSERT_TRUE(node->process_block(b2).ok());
  EXPECT_EQ(node->tip().id, b2.id());
}

TEST(ChainState, ReorgReturnsTransactionsToMempool) {
  TestNode node(params());
  Forge forge(params());
  auto t = transfer(1, 2, 0);
  auto a1 = forge.make(params().genesis_id, {t});
  ASSERT_TRUE(node->process_block(a1).ok());
  EXPECT_EQ(node->account(account_key(1)).nonce, 1u);
  EXPECT_EQ(node->mempool_size(), 0u);
  auto b1 = forge.make(params().genesis_id);
  auto b2 = forge.make(b1.id());
  ASSERT_TRUE(node->process_block(b1).ok());
  EXPECT_EQ(node->tip().id, a1.id());
  auto r = node->process_block(b2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->disconnected, 1u);
  EXPECT_EQ(r->connected, 2u);
  EXPECT_EQ(node->tip().id, b2.id());
  EXPECT_EQ(node->account(account_key(1)), (primitives::Account{consensus::kDevAccountFunds, 0}));
  EXPECT_EQ(node->mempool_ids(), std::vector<primitives::TxId>{t.id()});
  auto info = node->transaction(t.id());
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->block);
  // The next block mined takes it again.
  Miner::generate(node.chain(), account_key(0), 1);
  EXPECT_EQ(node->account(account_key(1)).nonce, 1u);
  EXPECT_TRUE(node->verify().ok());
}

TEST(ChainState, ApplyThenUndoRestoresExactState) {
  TestNode node(params());
  Forge forge(params());
  auto base = forge.make(params().genesis_id, {transfer(1, 2, 0)});
  ASSERT_TRUE(node->process_block(base).ok());
  auto before = node->all_accounts();
  auto x = forge.make(base.id(), {transfer(1, 2, 1), transfer(2, 7, 0, 9000), transfer(8, 99, 0)}, nullptr);
  ASSERT_TRUE(node->process_block(x).ok());
  ASSERT_NE(node->all_accounts(), before);
  // Undo x by a heavier sibling branch of empty blocks paid to a fresh account.
  auto fresh = dev_account_key(1000).pubkey();
  auto y1 = forge.make(base.id(), {}, &fresh);
  auto y2 = forge.make(y1.id(), {}, &fresh);
  ASSERT_TRUE(node->process_block(y1).ok());
  ASSERT_TRUE(node->process_block(y2).ok());
  ASSERT_EQ(node->tip().id, y2.id());
  auto after = node->all_accounts();
  ASSERT_EQ(after.count(fresh), 1u);
  EXPECT_EQ(after[fresh], (primitives::Account{2 * params().initial_subsidy, 0}));
  after.erase(fresh);
  EXPECT_EQ(after, before);
}

TEST(ChainState, InvalidBranchIsMarkedAndAbandoned) {
  TestNode node(params());
  Forge forge(params());
  auto a1 = forge.make(params().genesis_id);
  ASSERT_TRUE(node->process_block(a1).ok());
  auto b1 = forge.make(params().genesis_id, {transfer(1, 2, 0)});
  // b2 spends more than account 3 has: passes context-free checks, fails when connected.
  auto b2 = forge.make(b1.id(), {transfer(3, 2, 0, consensus::kDevAccountFunds)});
  auto b3 = forge.make(b2.id());
  ASSERT_TRUE(node->process_block(b1).ok());
  auto r = node->process_block(b2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().rejection()->code, RejectCode::kBadTx);
  EXPECT_EQ(node->process_block(b3).error().rejection()->code, RejectCode::kInvalidParent);
  // b1 had as much work as a1 but came later; b2 failed: the tip is still a1 or b1, never b2.
  auto tip = node->tip();
  EXPECT_EQ(tip.height, 1u);
  EXPECT_TRUE(node->verify().ok());
  // Survives restart: the invalid mark is remembered.
  auto b4 = forge.make(b1.id());
  auto b5 = forge.make(b4.id());
  ASSERT_TRUE(node->process_block(b4).ok());
  ASSERT_TRUE(node->process_block(b5).ok());
  EXPECT_EQ(node->tip().id, b5.id());
  EXPECT_EQ(node->account(account_key(1)).nonce, 1u);
}

TEST(ChainState, FutureBlockRefusedUntilItsTime) {
  TestNode node(params());
  Forge forge(params());
  node.clock().set(static_cast<int64_t>(params().genesis.header.time_ms));
  auto far = forge.make(params().genesis_id, {}, nullptr, params().max_future_block_ms + 5000);
  EXPECT_EQ(node->process_block(far).error().rejection()->code, RejectCode::kTimeTooNew);
  node.clock().advance(params().max_future_block_ms + 5000);
  EXPECT_TRUE(node->process_block(far).ok());
}

TEST(ChainState, ReindexRebuildsTheSameState) {
  TestNode node(params());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(node->submit_transaction(transfer(static_cast<uint32_t>(i + 1), 50, 0)).ok());
    Miner::generate(node.chain(), account_key(0), 1);
  }
  auto before = node->all_accounts();
  auto tip = node->tip();
  ASSERT_TRUE(node->reindex().ok());
  EXPECT_EQ(node->all_accounts(), before);
  EXPECT_EQ(node->tip().id, tip.id);
  EXPECT_TRUE(node->verify().ok());
}

// Random fork shapes: blocks on random parents, carrying random valid transfers (valid on their
// own branch), delivered in random order. The node must end on the most-work branch (first
// seen on ties), in exactly the state of building that branch directly, with every transaction
// that was ever in its active chain either still in the chain, back in the mempool, or no
// longer admissible.
RC_GTEST_PROP(ChainState, ReorgAcrossRandomForksMatchesDirectBuild, ()) {
  const auto& p = params();
  Forge forge(p);
  std::vector<primitives::Block> blocks;
  std::vector<primitives::BlockId> ids{p.genesis_id};
  const int n = *rc::gen::inRange(2, 14);
  for (int i = 0; i < n; ++i) {
    auto parent = ids[*rc::gen::inRange<size_t>(0, ids.size())];
    std::vector<primitives::Transaction> txs;
    std::map<uint32_t, uint64_t> next_nonce;
    const int ntx = *rc::gen::inRange(0, 4);
    for (int k = 0; k < ntx; ++k) {
      uint32_t from = *rc::gen::inRange<uint32_t>(1, 5);
      uint32_t to = *rc::gen::inRange<uint32_t>(1, 7);
      if (to == from) to = 7;
      if (!next_nonce.count(from)) next_nonce[from] = forge.account(parent, account_key(from)).nonce;
      txs.push_back(transfer(from, to, next_nonce[from]++, *rc::gen::inRange<uint64_t>(1, 5000),
                             *rc::gen::inRange<uint64_t>(0, 4)));
    }
    auto miner = dev_account_key(static_cast<uint32_t>(200 + i)).pubkey();  // distinct blocks
    auto b = forge.make(parent, txs, &miner, 1000 + *rc::gen::inRange(0, 3));
    blocks.push_back(b);
    ids.push_back(b.id());
  }
  // Deliver in a random order; orphans wait until their parent is in.
  std::vector<size_t> order(blocks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto seed = *rc::gen::arbitrary<uint32_t>();
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  TestNode node(p);
  std::set<primitives::TxId> ever_active;
  std::vector<size_t> pending = order;
  std::vector<primitives::BlockId> arrival;
  while (!pending.empty()) {
    std::vector<size_t> later;
    for (size_t i : pending) {
      auto r = node->process_block(blocks[i]);
      if (!r && r.error().rejection()->code == RejectCode::kMissingParent) {
        later.push_back(i);
        continue;
      }
      RC_ASSERT(r.ok());
      arrival.push_back(blocks[i].id());
      auto tip = node->tip();
      for (uint32_t h = 1; h <= tip.height; ++h) {
        auto blk = node->block(*node->block_id_at(h));
        for (const auto& tx : blk->txs) ever_active.insert(tx.id());
      }
    }
    RC_ASSERT(later.size() < pending.size());
    pending = later;
  }
  // Expected tip: greatest height (equal targets), first to arrive among those.
  uint32_t best_h = 0;
  primitives::BlockId best = p.genesis_id;
  for (const auto& id : arrival) {
    auto h = node->header(id)->height;
    if (h > best_h) {
      best_h = h;
      best = id;
    }
  }
  RC_ASSERT(node->tip().id == best);
  // Build the winning branch directly on a fresh node.
  std::vector<primitives::Block> branch;
  for (auto id = best; id != p.genesis_id; id = node->header(id)->prev_id) branch.push_back(*node->block(id));
  TestNode direct(p);
  for (auto it = branch.rbegin(); it != branch.rend(); ++it) RC_ASSERT(direct->process_block(*it).ok());
  RC_ASSERT(direct->tip().id == best);
  RC_ASSERT(direct->all_accounts() == node->all_accounts());
  RC_ASSERT(node->verify().ok());
  // Nothing valid lost.
  std::set<primitives::TxId> in_chain;
  for (const auto& b : branch)
    for (const auto& tx : b.txs) in_chain.insert(tx.id());
  auto mempool = node->mempool_ids();
  std::set<primitives::TxId> pooled(mempool.begin(), mempool.end());
  for (const auto& b : blocks)
    for (const auto& tx : b.txs) {
      if (!ever_active.count(tx.id()) || in_chain.count(tx.id()) || pooled.count(tx.id())) continue;
      // Its nonce is spent in the chain or held by another pooled transaction: a conflict.
      auto [npending, cost] = node->mempool_pending(tx.sender);
      if (tx.nonce < node->account(tx.sender).nonce + npending) continue;
      auto r = node->submit_transaction(tx);
      RC_ASSERT(!r.ok());  // else a valid transaction was dropped
    }
}

TEST(ChainState, HeadersFirstSyncWithBlocksOutOfOrder) {
  TestNode a(params());
  for (int i = 0; i < 30; ++i) {
    if (i % 3 == 0) {
      auto from = static_cast<uint32_t>(1 + i % 5);
      ASSERT_TRUE(a->submit_transaction(transfer(from, 9, a->account(account_key(from)).nonce)).ok());
    }
    ASSERT_EQ(Miner::generate(a.chain(), account_key(0), 1).size(), 1u);
  }
  TestNode b(params());
  auto loc = b->locator();
  ASSERT_EQ(loc.size(), 1u);
  EXPECT_EQ(loc[0], params().genesis_id);
  auto headers = a->headers_after(loc, 2000);
  ASSERT_EQ(headers.size(), 30u);
  // A header whose parent is unknown is refused until its parent arrives.
  EXPECT_EQ(b->accept_header(headers[5]).error().code, RejectCode::kMissingParent);
  for (const auto& h : headers) ASSERT_TRUE(b->accept_header(h).ok());
  EXPECT_FALSE(*b->accept_header(headers[3]));  // already known
  EXPECT_EQ(b->best_header().height, 30u);
  EXPECT_EQ(b->tip().height, 0u);
  auto want = b->blocks_to_fetch(1000);
  ASSERT_EQ(want.size(), 30u);
  EXPECT_EQ(want.front(), headers.front().id());
  EXPECT_EQ(b->blocks_to_fetch(16).size(), 16u);
  // Deliver newest first: each waits for its parent's data, then the whole chain connects.
  for (auto it = want.rbegin(); it != want.rend(); ++it) ASSERT_TRUE(b->process_block(*a->block(*it)).ok());
  EXPECT_EQ(b->tip().id, a->tip().id);
  EXPECT_TRUE(b->blocks_to_fetch(10).empty());
  EXPECT_EQ(b->all_accounts(), a->all_accounts());
  EXPECT_TRUE(b->verify().ok());
  // A locator from b now finds everything: nothing after the tip.
  EXPECT_TRUE(a->headers_after(b->locator(), 2000).empty());
}

TEST(ChainState, LocatorFindsTheForkPoint) {
  TestNode a(params());
  Forge forge(params());
  std::vector<primitives::Block> trunk;
  primitives::BlockId parent = params().genesis_id;
  for (int i = 0; i < 40; ++i) {
    trunk.push_back(forge.make(parent));
    parent = trunk.back().id();
    ASSERT_TRUE(a->process_block(trunk.back()).ok());
  }
  TestNode b(params());
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(b->process_block(trunk[static_cast<size_t>(i)]).ok());
  auto fresh = dev_account_key(500).pubkey();
  auto side = forge.make(trunk[24].id(), {}, &fresh);
  ASSERT_TRUE(b->process_block(side).ok());  // b: 25 trunk blocks + 1 of its own
  auto loc = b->locator();
  EXPECT_EQ(loc.front(), side.id());
  EXPECT_EQ(loc.back(), params().genesis_id);
  auto headers = a->headers_after(loc, 2000);
  ASSERT_EQ(headers.size(), 15u);  // a's blocks 26..40
  EXPECT_EQ(headers.front().prev_id, trunk[24].id());
  for (const auto& h : headers) ASSERT_TRUE(b->accept_header(h).ok());
  for (auto id : b->blocks_to_fetch(100)) ASSERT_TRUE(b->process_block(*a->block(id)).ok());
  EXPECT_EQ(b->tip().id, a->tip().id);  // reorged off its own block onto a's heavier chain
}

TEST(ChainState, BlocksToFetchFollowsConnectsAndBestHeaderSwitches) {
  // blocks_to_fetch() keeps its path between calls: it must follow blocks connecting along it
  // and a new best header on another branch.
  Forge forge(params());
  std::vector<primitives::Block> trunk, side;
  primitives::BlockId parent = params().genesis_id;
  for (int i = 0; i < 30; ++i) {
    trunk.push_back(forge.make(parent));
    parent = trunk.back().id();
  }
  auto fresh = dev_account_key(501).pubkey();
  parent = trunk[4].id();  // forks after height 5
  for (int i = 0; i < 40; ++i) {
    side.push_back(forge.make(parent, {}, &fresh));
    parent = side.back().id();
  }
  TestNode b(params());
  for (const auto& blk : trunk) ASSERT_TRUE(b->accept_header(blk.header).ok());
  ASSERT_EQ(b->blocks_to_fetch(5).front(), trunk[0].id());
  for (size_t i = 0; i < 10; ++i) ASSERT_TRUE(b->process_block(trunk[i]).ok());
  auto want = b->blocks_to_fetch(5);
  ASSERT_EQ(want.size(), 5u);
  EXPECT_EQ(want.front(), trunk[10].id());
  EXPECT_EQ(want.back(), trunk[14].id());
  // Blocks with data but not yet connected (out of order) are skipped, not asked for again.
  ASSERT_TRUE(b->process_block(trunk[12]).ok());
  want = b->blocks_to_fetch(3);
  EXPECT_EQ(want, (std::vector<primitives::BlockId>{trunk[10].id(), trunk[11].id(), trunk[13].id()}));
  // A heavier branch from height 5: the path switches to it.
  for (const auto& blk : side) ASSERT_TRUE(b->accept_header(blk.header).ok());
  EXPECT_EQ(b->best_header().id, side.back().id());
  want = b->blocks_to_fetch(1000);
  ASSERT_EQ(want.size(), side.size());
  EXPECT_EQ(want.front(), side.front().id());
  for (auto id : want) {
    auto it = std::find_if(side.begin(), side.end(), [&](const primitives::Block& x) { return x.id() == id; });
    ASSERT_TRUE(b->process_block(*it).ok());
  }
  EXPECT_EQ(b->tip().id, side.back().id());
  EXPECT_TRUE(b->blocks_to_fetch(10).empty());
}

TEST(ChainState, ParallelVerificationStillRejectsOneForgedSignature) {
  TestNode node(params());
  Forge forge(params());
  std::vector<primitives::Transaction> txs;
  for (uint32_t n = 0; n < 4; ++n)
    for (uint32_t s = 1; s <= 60; ++s) txs.push_back(transfer(s, s + 1, n));
  txs[137].fee += 1;  // signed for another fee
  auto bad = forge.make(params().genesis_id, txs);
  auto r = node->process_block(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().rejection()->code, RejectCode::kBadTx);
  EXPECT_NE(r.error().rejection()->detail.find("bad-signature"), std::string::npos) << r.error().rejection()->detail;
  EXPECT_EQ(node->tip().height, 0u);
  txs[137].fee -= 1;
  auto good = forge.make(params().genesis_id, txs);
  ASSERT_TRUE(node->process_block(good).ok());
  EXPECT_EQ(node->tip().id, good.id());
}

// --- Storage faults and the mempool journal (ADR 0011).

namespace {

// Delegates to a real database; writes fail with a chosen storage error while `fail_writes`.
class FlakyDatabase final : public storage::Database {
 public:
  explicit FlakyDatabase(std::unique_ptr<storage::Database> inner) : inner_(std::move(inner)) {}
  util::Result<std::optional<util::Bytes>> get(storage::Column c, util::ByteSpan key) const override {
    return inner_->get(c, key);
  }
  util::Status write(const storage::WriteBatch& batch, bool sync) override {
    if (fail_writes) return util::fail(std::string(storage::kErrNoSpace), "write: IO error: No space left on device");
    const auto ops = batch.ops();
    const bool erases_journal = std::any_of(ops.begin(), ops.end(), [](const storage::WriteBatch::Op& op) {
      return op.column == storage::Column::kMempool && op.kind != storage::WriteBatch::Kind::kPut;
    });
    if (erases_journal) journal_erasure_writes.fetch_add(1);
    if (hold_next.exchange(false) || (erases_journal && hold_journal_erasure.exchange(false))) {
      // this write waits for release(): later ones overtake it
      std::unique_lock lock(hold_mu_);
      holding_ = true;
      hold_cv_.notify_all();
      hold_cv_.wait(lock, [&] { return !holding_; });
    }
    (sync ? synced_writes : unsynced_writes).fetch_add(1);
    return inner_->write(batch, sync);
  }
  util::Status sync() override {
    if (fail_writes) return util::fail(std::string(storage::kErrNoSpace), "sync: IO error: No space left on device");
    syncs.fetch_add(1);
    if (on_sync) on_sync();
    return inner_->sync();
  }
  void wait_holding() {
    std::unique_lock lock(hold_mu_);
    hold_cv_.wait(lock, [&] { return holding_; });
  }
  void release() {
    std::lock_guard lock(hold_mu_);
    holding_ = false;
    hold_cv_.notify_all();
  }
  util::Status for_each(storage::Column c,
                        const std::function<bool(util::ByteSpan, util::ByteSpan)>& fn) const override {
    return inner_->for_each(c, fn);
  }
  util::Status clear(storage::Column c) override { return inner_->clear(c); }
  util::Status resume() override {
    if (fail_writes) return util::fail(std::string(storage::kErrNoSpace), "still full");
    return inner_->resume();
  }
  bool fail_writes = false;
  std::atomic<bool> hold_next{false};
  std::atomic<bool> hold_journal_erasure{false};  // hold the next write that erases journal records
  std::atomic<int> synced_writes{0}, unsynced_writes{0}, syncs{0}, journal_erasure_writes{0};
  std::function<void()> on_sync;  // called in sync(), before the inner database syncs

 private:
  std::unique_ptr<storage::Database> inner_;
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool holding_ = false;  // GUARDED_BY(hold_mu_)
};

}  // namespace

TEST(ChainStateStorage, StoredAccountThatDoesNotDecodeIsCorruptionNotAnEmptyAccount) {
  storage::TestDir dir;
  Forge forge(params());
  auto b1 = forge.make(params().genesis_id, {transfer(1, 2, 0)});
  {
    TestNode node(params(), &dir);
    ASSERT_TRUE(node->process_block(b1).ok());
  }
  {
    // Damage the sender's record: 3 bytes where an account is 16.
    auto db = storage::Database::open(dir.sub("chain"));
    ASSERT_TRUE(db.ok());
    storage::WriteBatch batch;
    util::Bytes junk{1, 2, 3};
    batch.put(storage::Column::kAccounts, account_key(1).span(), junk);
    ASSERT_TRUE((*db)->write(batch, true).ok());
  }
  TestNode node(params(), &dir);
  EXPECT_EQ(node->storage_status().state, StorageState::kOk);
  // The next valid block spends from the damaged account: not invalid, a local error.
  auto b2 = forge.make(b1.id(), {transfer(1, 2, 1)});
  auto r = node->process_block(b2);
  ASSERT_FALSE(r.ok());
  ASSERT_NE(r.error().local(), nullptr) << r.error().to_string();
  EXPECT_EQ(r.error().rejection(), nullptr);
  EXPECT_EQ(r.error().local()->state, StorageState::kCorrupt);
  EXPECT_EQ(node->storage_status().state, StorageState::kCorrupt);
  EXPECT_EQ(node->tip().id, b1.id());
  // Not marked invalid: no tip says "invalid" for it, and nothing more is taken.
  for (const auto& t : node->block_tree(0, 100).tips) EXPECT_FALSE(t.failed);
  EXPECT_NE(node->submit_transaction(transfer(3, 4, 0)).error().local(), nullptr);
  EXPECT_FALSE(node->try_resume_writes());  // corruption does not heal
}

// A chain over a database whose writes the test can make fail (a full disk).
struct FlakyChain {
  storage::TestDir dir;
  FlakyDatabase* disk = nullptr;
  util::ManualClock clock{static_cast<int64_t>(params().genesis.header.time_ms) + 10'000'000'000};
  std::unique_ptr<ChainState> chain;

  FlakyChain() {
    auto raw = storage::Database::open(dir.sub("chain"));
    EXPECT_TRUE(raw.ok());
    auto flaky = std::make_unique<FlakyDatabase>(std::move(*raw));
    disk = flaky.get();
    auto cs = ChainState::open(params(), std::move(flaky), clock);
    EXPECT_TRUE(cs.ok());
    if (cs.ok()) chain = std::move(*cs);
  }

  // Submits `tx` (acknowledged: journaled) and returns a block on genesis that confirms it.
  primitives::Block block_confirming(const primitives::Transaction& tx) {
    EXPECT_TRUE(chain->submit_transaction(tx).ok());
    return forge.make(params().genesis_id, {tx});
  }
  Forge forge{params()};
};

TEST(ChainStateStorage, FullDiskPausesIntakeWithoutBlameAndResumes) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  FlakyDatabase* disk = f.disk;
  ChainState& chain = *f.chain;
  Forge forge(params());
  auto b1 = forge.make(params().genesis_id, {transfer(1, 2, 0)});
  disk->fail_writes = true;
  auto r = chain.process_block(b1);
  ASSERT_FALSE(r.ok());
  ASSERT_NE(r.error().local(), nullptr);
  EXPECT_EQ(r.error().local()->state, StorageState::kDiskFull);
  EXPECT_EQ(chain.storage_status().state, StorageState::kDiskFull);
  EXPECT_TRUE(chain.blocks_to_fetch(10).empty());
  auto t = chain.submit_transaction(transfer(3, 4, 0));
  ASSERT_NE(t.error().local(), nullptr);  // not acknowledged, not the sender's fault
  EXPECT_EQ(chain.mempool_size(), 0u);
  EXPECT_FALSE(chain.try_resume_writes());
  disk->fail_writes = false;
  EXPECT_TRUE(chain.try_resume_writes());
  EXPECT_EQ(chain.storage_status().state, StorageState::kOk);
  ASSERT_TRUE(chain.process_block(b1).ok());  // the same block, valid all along
  EXPECT_EQ(chain.tip().id, b1.id());
  EXPECT_TRUE(chain.submit_transaction(transfer(3, 4, 0)).ok());
}

// ADR 0024: a connect's batch is written unsynced and fsynced (Database::sync) once the chain
// lock is released and the new tip announced: neither readers nor peers wait for the disk; the
// caller of process_block still hears back only once the block is durable.
TEST(ChainStateStorage, ConnectIsSyncedAfterTheLockIsFreeAndTheTipAnnounced) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  ChainState& chain = *f.chain;
  Forge forge(params());
  auto b1 = forge.make(params().genesis_id, {transfer(1, 2, 0)});
  std::atomic<bool> announced{false};
  chain.set_events({[&](const TipInfo&, uint32_t) { announced = true; }, {}});
  bool announced_before_sync = false, lock_free_during_sync = false;
  std::future<BlockId> reader;  // outlives the hook: were the lock held, its end would wait
  f.disk->on_sync = [&] {
    announced_before_sync = announced.load();
    reader = std::async(std::launch::async, [&chain] { return chain.tip().id; });
    lock_free_during_sync = reader.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  };
  const int synced_before = f.disk->synced_writes;
  ASSERT_TRUE(chain.process_block(b1).ok());
  EXPECT_EQ(f.disk->synced_writes, synced_before);  // nothing written synced under the lock
  EXPECT_EQ(f.disk->syncs, 1);
  EXPECT_TRUE(announced_before_sync);
  EXPECT_TRUE(lock_free_during_sync);
  ASSERT_TRUE(reader.valid());
  EXPECT_EQ(reader.get(), b1.id());  // the reader saw the connected tip
  f.disk->on_sync = nullptr;
}

// A block from a peer: connected and announced, its fsync and journal erasures left to the
// node's next tick (sync_pending), so the thread connecting blocks goes on to the next one.
TEST(ChainStateStorage, ABlockFromAPeerIsMadeDurableByTheNextSyncPending) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  ChainState& chain = *f.chain;
  const auto b1 = f.block_confirming(transfer(1, 2, 0));
  const int syncs = f.disk->syncs, erasures = f.disk->journal_erasure_writes;
  ASSERT_TRUE(chain.process_block(b1, nullptr, ChainState::Durability::kByNextSync).ok());
  EXPECT_EQ(chain.tip().id, b1.id());
  EXPECT_EQ(f.disk->syncs, syncs);
  EXPECT_EQ(f.disk->journal_erasure_writes, erasures);
  ASSERT_TRUE(chain.sync_pending().ok());
  EXPECT_EQ(f.disk->syncs, syncs + 1);
  EXPECT_EQ(f.disk->journal_erasure_writes, erasures + 1);
  ASSERT_TRUE(chain.sync_pending().ok());  // nothing more due
  EXPECT_EQ(f.disk->syncs, syncs + 1);
}

// Acknowledged transfers: one unsynced write for the call, then one shared fsync (group commit)
// that does not hold other writers (a connect) behind it.
TEST(ChainStateStorage, AdmissionWritesItsJournalUnsyncedThenSyncsBeforeAcknowledging) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  bool written_before_sync = false;
  f.disk->on_sync = [&] { written_before_sync = f.disk->unsynced_writes > 0; };
  const int synced_before = f.disk->synced_writes;
  f.disk->unsynced_writes = 0;
  std::vector<primitives::Transaction> txs{transfer(1, 2, 0), transfer(1, 2, 1), transfer(3, 4, 0)};
  for (const auto& r : f.chain->submit_transactions(txs)) ASSERT_TRUE(r.ok());
  EXPECT_EQ(f.disk->synced_writes, synced_before);
  EXPECT_EQ(f.disk->unsynced_writes, 1);
  EXPECT_EQ(f.disk->syncs, 1);
  EXPECT_TRUE(written_before_sync);
  f.disk->on_sync = nullptr;
}

// ADR 0024: a block's journal erasures are written after its tip is announced, outside the
// chain lock. Held there, a reorg that disconnects the block and journals its transfer again
// must not be overtaken by them: the transfer's record would be erased after it was put back,
// and a crash would lose an acknowledged transfer.
TEST(ChainStateStorage, DeferredJournalErasuresLandBeforeAReorgJournalsTheTransferAgain) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  ChainState& chain = *f.chain;
  const auto tx = transfer(1, 2, 0);
  const auto b1 = f.block_confirming(tx);
  const auto a1 = f.forge.make(params().genesis_id, {});
  const auto a2 = f.forge.make(a1.id(), {});
  f.disk->hold_journal_erasure = true;
  std::thread connect([&] { EXPECT_TRUE(chain.process_block(b1).ok()); });
  f.disk->wait_holding();  // b1 is the tip; its erasure of tx's record is on its way
  EXPECT_EQ(chain.tip().id, b1.id());
  std::thread reorg([&] {
    (void)chain.process_block(a1);
    EXPECT_TRUE(chain.process_block(a2).ok());
  });
  // Long enough for the reorg to finish were nothing holding it back.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  f.disk->release();
  connect.join();
  reorg.join();
  ASSERT_EQ(chain.tip().id, a2.id());
  EXPECT_TRUE(chain.transaction(tx.id()).has_value());  // back in the mempool
  f.chain.reset();  // as after kill -9: only the journal is left
  TestNode node(params(), &f.dir);
  ASSERT_TRUE(node->replay_mempool_journal().ok());
  EXPECT_TRUE(node->transaction(tx.id()).has_value()) << "the acknowledged transfer's record was erased after the reorg";
}

// Journal writes happen outside the chain lock, so two calls' writes may land in either order.
// Here a replacement's write is overtaken by that of the replacement replacing it: after a
// crash the last acknowledged transfer (the highest fee) must still be what replay keeps.
TEST(ChainStateStorage, ReplacementsWhoseJournalWritesLandOutOfOrderKeepTheLastOne) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  const auto first = transfer(1, 2, 0, 500, 1), second = transfer(1, 2, 0, 500, 50),
             third = transfer(1, 2, 0, 500, 100);
  ASSERT_TRUE(f.chain->submit_transaction(first).ok());
  f.disk->hold_next = true;
  std::thread slow([&] { EXPECT_TRUE(f.chain->submit_transaction(second).ok()); });
  f.disk->wait_holding();
  ASSERT_TRUE(f.chain->submit_transaction(third).ok());  // lands first
  f.disk->release();
  slow.join();
  ASSERT_TRUE(f.chain->transaction(third.id()).has_value());
  f.chain.reset();  // as after kill -9: only the journal is left
  TestNode node(params(), &f.dir);
  ASSERT_TRUE(node->replay_mempool_journal().ok());
  EXPECT_TRUE(node->transaction(third.id()).has_value());
  EXPECT_FALSE(node->transaction(second.id()).has_value());
  EXPECT_EQ(node->mempool_size(), 1u);
}

TEST(ChainStateStorage, FailedJournalWriteTakesTheTransactionsBack) {
  FlakyChain f;
  ASSERT_NE(f.chain, nullptr);
  FlakyDatabase* disk = f.disk;
  auto* cs = &f.chain;
  ASSERT_TRUE((*cs)->submit_transaction(transfer(1, 2, 0)).ok());
  // The disk fills between the health check and the journal write of a batch.
  std::vector<primitives::Transaction> txs{transfer(1, 2, 1), transfer(1, 2, 2)};
  disk->fail_writes = true;
  auto results = (*cs)->submit_transactions(txs);
  for (const auto& r : results) ASSERT_NE(r.error().local(), nullptr);
  EXPECT_EQ((*cs)->mempool_size(), 1u);
}

TEST(ChainStateStorage, JournalReplaysAcknowledgedTransactionsAndForgetsConfirmedOnes) {
  storage::TestDir dir;
  std::vector<primitives::TxId> acked;
  {
    TestNode node(params(), &dir);
    for (uint64_t n = 0; n < 5; ++n) acked.push_back(*node->submit_transaction(transfer(1, 2, n)));
    std::vector<primitives::Transaction> batch{transfer(3, 4, 0), transfer(3, 4, 1)};
    for (auto& r : node->submit_transactions(batch)) acked.push_back(*r);
    // Replace nonce 2 of account 1 with a higher fee: the replacement must win at replay.
    auto repl = transfer(1, 2, 2, 500, 50);
    ASSERT_TRUE(node->submit_transaction(repl).ok());
    acked[2] = repl.id();
  }
  {
    TestNode node(params(), &dir);  // as after kill -9: nothing but what the journal holds
    EXPECT_EQ(node->mempool_size(), 0u);
    auto n = node->replay_mempool_journal();
    ASSERT_TRUE(n.ok()) << n.error().to_string();
    for (const auto& id : acked) EXPECT_TRUE(node->transaction(id).has_value()) << id.hex();
    EXPECT_EQ(*n, node->mempool_size());
    Miner::generate(node.chain(), account_key(0), 1);
    EXPECT_EQ(node->mempool_size(), 0u);
  }
  TestNode node(params(), &dir);
  auto n = node->replay_mempool_journal();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);  // everything confirmed: the journal forgot it with the connect
}

// A block erases from the journal exactly the pooled transfers it confirmed or made invalid
// (here: one conflicting with a pooled nonce), once each, and keeps every other.
TEST(ChainStateStorage, BlockErasesFromTheJournalWhatItConfirmsOrInvalidates) {
  storage::TestDir dir;
  std::set<primitives::TxId> want;
  {
    TestNode node(params(), &dir);
    std::vector<primitives::Transaction> a, b;
    for (uint64_t n = 0; n < 5; ++n) a.push_back(transfer(1, 2, n));
    for (uint64_t n = 0; n < 2; ++n) b.push_back(transfer(3, 4, n));
    for (const auto& t : a) ASSERT_TRUE(node->submit_transaction(t).ok());
    for (const auto& t : b) ASSERT_TRUE(node->submit_transaction(t).ok());
    // Account 3 spends nearly everything at nonce 0 in another transfer: its pooled nonce 0
    // conflicts, and its pooled nonce 1 no longer fits the balance.
    auto conflict = transfer(3, 5, 0, consensus::kDevAccountFunds - 100);
    Forge forge(params());
    auto blk = forge.make(params().genesis_id, {a[0], a[1], conflict});
    auto r = node->process_block(blk);
    ASSERT_TRUE(r.ok() && r->tip_changed) << (r ? "" : r.error().to_string());
    EXPECT_EQ(node->mempool_size(), 3u);
    want = {a[2].id(), a[3].id(), a[4].id()};
  }
  auto db = storage::Database::open(dir.sub("chain"));
  ASSERT_TRUE(db.ok());
  std::set<primitives::TxId> journal;
  size_t records = 0;
  ASSERT_TRUE((*db)->for_each(storage::Column::kMempool, [&](util::ByteSpan k, util::ByteSpan v) {
    auto tx = primitives::decode_transaction(v);
    EXPECT_TRUE(tx.ok());
    if (!tx) return true;
    const auto key = storage::journal_key(tx->sender, tx->nonce, tx->id());  // keyed (sender, nonce, txid)
    EXPECT_TRUE(std::equal(k.begin(), k.end(), key.begin(), key.end()));
    journal.insert(tx->id());
    ++records;
    return true;
  }).ok());
  EXPECT_EQ(journal, want);
  EXPECT_EQ(records, want.size());
}

// A long run of one sender's nonces (kJournalRangeMin or more) leaves the journal in one range
// with the block that confirms it; the sender's later records stay.
TEST(ChainStateStorage, BlockErasesALongRunFromTheJournalAndKeepsTheRest) {
  storage::TestDir dir;
  const uint64_t confirmed = ChainState::kJournalRangeMin + 3;
  std::vector<primitives::Transaction> run;
  for (uint64_t n = 0; n < confirmed + 4; ++n) run.push_back(transfer(1, 2, n, 10));
  std::set<primitives::TxId> want;
  {
    TestNode node(params(), &dir);
    for (const auto& r : node->submit_transactions(run)) ASSERT_TRUE(r.ok());
    Forge forge(params());
    auto blk = forge.make(params().genesis_id, {run.begin(), run.begin() + static_cast<std::ptrdiff_t>(confirmed)});
    auto r = node->process_block(blk);
    ASSERT_TRUE(r.ok() && r->tip_changed) << (r ? "" : r.error().to_string());
    for (uint64_t n = confirmed; n < run.size(); ++n) want.insert(run[n].id());
  }
  auto db = storage::Database::open(dir.sub("chain"));
  ASSERT_TRUE(db.ok());
  std::set<primitives::TxId> journal;
  ASSERT_TRUE((*db)->for_each(storage::Column::kMempool, [&](util::ByteSpan, util::ByteSpan v) {
    if (auto tx = primitives::decode_transaction(v)) journal.insert(tx->id());
    return true;
  }).ok());
  EXPECT_EQ(journal, want);
}

// A database of schema 1 (journal keyed by txid) is upgraded at open, in one synced batch, and
// every acknowledged transfer it journaled is replayed; at a nonce held twice (a replacement and
// the one it replaced, left by a crash) the higher fee wins, as it did before.
TEST(ChainStateStorage, SchemaOneJournalIsRekeyedAtOpenAndReplayed) {
  storage::TestDir dir;
  std::vector<primitives::Transaction> txs{transfer(1, 2, 0), transfer(1, 2, 1, 500, 50), transfer(3, 4, 0)};
  const auto replaced = transfer(1, 2, 1);  // fee 1
  { TestNode node(params(), &dir); }  // a fresh database with its genesis
  {
    auto db = storage::Database::open(dir.sub("chain"));
    ASSERT_TRUE(db.ok());
    storage::WriteBatch old;
    for (const auto& tx : txs) old.put(storage::Column::kMempool, tx.id().span(), primitives::encode_transaction(tx));
    old.put(storage::Column::kMempool, replaced.id().span(), primitives::encode_transaction(replaced));
    util::Writer v1;
    v1.u32(storage::kSchemaJournalByTxid);
    old.put(storage::Column::kMeta, util::as_bytes(storage::kMetaSchema), v1.data());
    ASSERT_TRUE((*db)->write(old, true).ok());
  }
  {
    TestNode node(params(), &dir);
    auto n = node->replay_mempool_journal();
    ASSERT_TRUE(n.ok()) << n.error().to_string();
    EXPECT_EQ(*n, 3u);
    for (const auto& tx : txs) EXPECT_TRUE(node->transaction(tx.id()).has_value());
    EXPECT_FALSE(node->transaction(replaced.id()).has_value());
  }
  auto db = storage::Database::open(dir.sub("chain"));
  ASSERT_TRUE(db.ok());
  util::Writer v2;
  v2.u32(storage::kSchemaVersion);
  EXPECT_EQ((*db)->get(storage::Column::kMeta, util::as_bytes(storage::kMetaSchema)).value(), v2.data());
  size_t records = 0;
  ASSERT_TRUE((*db)->for_each(storage::Column::kMempool, [&](util::ByteSpan k, util::ByteSpan) {
    EXPECT_EQ(k.size(), storage::kJournalKeySize);
    ++records;
    return true;
  }).ok());
  EXPECT_EQ(records, 3u);
}

// Templates are extended with the mempool's appends while the tip and the mempool's layout
// hold, and rebuilt otherwise; every one of them is a valid block of pooled transactions.
TEST(ChainState, TemplateExtendsWithAppendsAndRebuildsOnChange) {
  TestNode node(params());
  const auto miner = account_key(50);
  auto valid = [&](const BlockTemplate& t) {
    auto eff = consensus::apply_block(params(), t.block, [&](const primitives::AccountKey& k) { return node->account(k); });
    if (!eff) return false;
    for (const auto& tx : t.block.txs)
      if (!node->transaction(tx.id()) || node->transaction(tx.id())->block) return false;
    return t.block.header.merkle_root == primitives::compute_merkle_root(t.block.txs);
  };
  ASSERT_TRUE(node->submit_transaction(transfer(1, 2, 0)).ok());
  ASSERT_TRUE(node->submit_transaction(transfer(1, 2, 1)).ok());
  auto t = node->create_template(miner);
  EXPECT_EQ(t.block.txs.size(), 2u);
  EXPECT_EQ(node->template_counts(), std::make_pair(uint64_t{1}, uint64_t{0}));
  // Appends: the sender's next nonce and a new sender.
  ASSERT_TRUE(node->submit_transaction(transfer(1, 2, 2)).ok());
  ASSERT_TRUE(node->submit_transaction(transfer(3, 2, 0)).ok());
  t = node->create_template(miner);
  EXPECT_EQ(t.block.txs.size(), 4u);
  EXPECT_TRUE(valid(t));
  EXPECT_EQ(node->template_counts(), std::make_pair(uint64_t{1}, uint64_t{1}));
  // Two appends of a sender new to the template between two templates: both come in.
  ASSERT_TRUE(node->submit_transaction(transfer(4, 2, 0)).ok());
  ASSERT_TRUE(node->submit_transaction(transfer(4, 2, 1)).ok());
  t = node->create_template(miner);
  EXPECT_EQ(t.block.txs.size(), 6u);
  EXPECT_TRUE(valid(t));
  EXPECT_EQ(node->template_counts(), std::make_pair(uint64_t{1}, uint64_t{2}));
  // A replacement changes the layout: rebuilt.
  ASSERT_TRUE(node->submit_transaction(transfer(3, 2, 0, 500, 50)).ok());
  t = node->create_template(miner);
  EXPECT_EQ(node->template_counts().first, 2u);
  EXPECT_EQ(t.block.txs.size(), 6u);
  EXPECT_TRUE(valid(t));
  // A sender cut off by the size limit stays cut off: its later appends do not jump the gap.
  t = node->create_template(miner, 2);  // fee order: sender 3's (fee 50), then sender 1's nonce 0
  EXPECT_EQ(t.block.txs.size(), 2u);
  ASSERT_TRUE(node->submit_transaction(transfer(1, 2, 3)).ok());
  t = node->create_template(miner, 2);
  EXPECT_EQ(t.block.txs.size(), 2u);
  EXPECT_TRUE(valid(t));
  // A block moves the tip: rebuilt from what is left.
  auto built = node->template_counts().first;
  ASSERT_EQ(Miner::generate(node.chain(), miner, 1, nullptr, 3).size(), 1u);
  t = node->create_template(miner);
  EXPECT_GT(node->template_counts().first, built);
  EXPECT_EQ(t.block.txs.size(), node->mempool_size());
  EXPECT_TRUE(valid(t));
}

// Random adds, replacements and blocks: every template, extended or rebuilt, is a valid block of
// pooled transactions, and an extended one holds what a rebuild would (no limit binds here).
TEST(ChainState, IncrementalTemplatesStayValid) {
  TestNode node(params());
  const auto miner = account_key(50);
  std::mt19937 rng(7);
  std::map<uint32_t, uint64_t> next;  // sender -> next nonce to send
  for (int step = 0; step < 400; ++step) {
    const auto from = static_cast<uint32_t>(1 + rng() % 6);
    int what = static_cast<int>(rng() % 10);
    if (what < 7) {
      auto r = node->submit_transaction(transfer(from, 20, next[from], 100, 1));
      if (r.ok()) ++next[from];
    } else if (what < 9 && next[from] > node->account(account_key(from)).nonce) {
      // Replace the sender's last pooled transfer with a higher fee.
      (void)node->submit_transaction(transfer(from, 21, next[from] - 1, 100, 10 + step));
    } else if (what == 9) {
      ASSERT_EQ(Miner::generate(node.chain(), miner, 1, nullptr, 1 + rng() % 8).size(), 1u);
      for (auto& [s, n] : next) n = std::max(n, node->account(account_key(s)).nonce);
    }
    auto t = node->create_template(miner);
    auto eff = consensus::apply_block(params(), t.block, [&](const primitives::AccountKey& k) { return node->account(k); });
    ASSERT_TRUE(eff) << "step " << step << ": " << eff.error().to_string();
    ASSERT_EQ(t.block.txs.size(), node->mempool_size()) << "step " << step;
    for (const auto& tx : t.block.txs) {
      auto place = node->transaction_place(tx.id());
      ASSERT_TRUE(place && !place->block) << "step " << step << ": a template transfer is not pooled";
    }
    ASSERT_EQ(t.block.header.merkle_root, primitives::compute_merkle_root(t.block.txs));
  }
  auto [built, extended] = node->template_counts();
  EXPECT_GT(extended, 100u);
  EXPECT_GT(built, 10u);
}

// With a minimum age, a template holds exactly each sender's pooled run up to its first transfer
// that reached the mempool too recently (by the chain's clock); the rest come in as they age,
// through extensions and the rebuilds that bring back what arrived before the layout changed.
TEST(ChainState, TemplatesLeaveOutTransfersYoungerThanTheMinimumAge) {
  TestNode node(params());
  const auto miner = account_key(50);
  constexpr int64_t kAge = 100;
  std::mt19937 rng(11);
  std::map<uint32_t, uint64_t> next;                                         // sender -> next nonce
  std::unordered_map<primitives::TxId, int64_t, util::FixedBytesHasher> at;  // txid -> arrival (ms)
  for (int step = 0; step < 600; ++step) {
    node.clock().advance(static_cast<int64_t>(rng() % 40));
    const auto from = static_cast<uint32_t>(1 + rng() % 6);
    const int what = static_cast<int>(rng() % 12);
    if (what < 8) {
      auto tx = transfer(from, 20, next[from], 100, 1);
      if (node->submit_transaction(tx).ok()) {
        ++next[from];
        at[tx.id()] = node.clock().now_ms();
      }
    } else if (what < 10 && next[from] > node->account(account_key(from)).nonce) {
      auto tx = transfer(from, 21, next[from] - 1, 100, 10 + step);  // a replacement arrives anew
      if (node->submit_transaction(tx).ok()) at[tx.id()] = node.clock().now_ms();
    } else if (what == 10) {
      ASSERT_EQ(Miner::generate(node.chain(), miner, 1, nullptr, 1 + rng() % 8).size(), 1u);
      for (auto& [s, n] : next) n = std::max(n, node->account(account_key(s)).nonce);
    } else {
      // A template of any age, as `generate` takes on a mining node: the next one with the
      // minimum age must not extend it.
      (void)node->create_template(miner, SIZE_MAX, 0);
    }
    auto t = node->create_template(miner, SIZE_MAX, kAge);
    auto eff = consensus::apply_block(params(), t.block, [&](const primitives::AccountKey& k) { return node->account(k); });
    ASSERT_TRUE(eff) << "step " << step << ": " << eff.error().to_string();
    ASSERT_EQ(t.block.header.merkle_root, primitives::compute_merkle_root(t.block.txs));
    // Expected: per sender, the pooled run in nonce order while each arrived kAge ago or more.
    const int64_t by = node.clock().now_ms() - kAge;
    const auto ids = node->mempool_ids();
    const auto txs = node->mempool_transactions(ids);
    std::map<std::pair<primitives::AccountKey, uint64_t>, primitives::TxId> pooled;
    for (size_t i = 0; i < ids.size(); ++i) pooled[{txs[i]->sender, txs[i]->nonce}] = ids[i];
    std::set<primitives::TxId> want;
    bool young = false;
    for (uint32_t s = 1; s <= 6; ++s)
      for (uint64_t n = node->account(account_key(s)).nonce;; ++n) {
        auto it = pooled.find({account_key(s), n});
        if (it == pooled.end()) break;
        if (at.at(it->second) > by) {
          young = true;
          break;
        }
        want.insert(it->second);
      }
    std::set<primitives::TxId> got;
    for (const auto& tx : t.block.txs) got.insert(tx.id());
    ASSERT_EQ(got, want) << "step " << step;
    if (young) {
      EXPECT_TRUE(t.young_left_out) << "step " << step;
    }
  }
  auto [built, extended] = node->template_counts();
  EXPECT_GT(extended, 100u);
  EXPECT_GT(built, 10u);
}

// The network thread's screen for holding the miner (PeerManager::deliver): a header extends
// the tip only with the tip as parent, the next height, the target the retarget rule gives the
// tip's child and a proof of work that holds. It follows the tip through connects and reorgs.
TEST(ChainState, ExtendsTipScreensHeadersAgainstTheCurrentTip) {
  TestNode node(params());
  auto solved = [&] {
    auto t = node->create_template(account_key(50));
    uint64_t hashes = 0;
    EXPECT_TRUE(Miner::solve(t, [] { return false; }, hashes));
    return t.block.header;
  };
  auto h = solved();
  EXPECT_TRUE(node->extends_tip(h));
  auto wrong = h;
  wrong.bits = h.bits - 1;
  EXPECT_FALSE(node->extends_tip(wrong)) << "another target";
  wrong = h;
  wrong.height = h.height + 1;
  EXPECT_FALSE(node->extends_tip(wrong)) << "another height";
  wrong = h;
  wrong.prev_id.data[0] ^= 1;
  EXPECT_FALSE(node->extends_tip(wrong)) << "another parent";
  wrong = h;
  const auto target = *consensus::decode_compact(h.bits);
  do ++wrong.nonce;  // the easy target passes about half the nonces: find one that fails
  while (consensus::meets_target(wrong.id(), target));
  EXPECT_FALSE(node->extends_tip(wrong)) << "proof of work";
  // Once connected, the tip moved: the same header is no longer a child of it, its child is.
  auto ids = Miner::generate(node.chain(), account_key(50), 1);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_FALSE(node->extends_tip(h));
  EXPECT_TRUE(node->extends_tip(solved()));
}

// Under load a block's child can arrive while the block is still being rebuilt or connected:
// the child of the last header that passed the screen passes too, with the target its parent
// gives it; a child of a header never screened does not.
TEST(ChainState, ExtendsTipAlsoPassesTheChildOfTheLastHeaderThatPassed) {
  TestNode a(params());
  TestNode b(params());
  // Three blocks in a row, mined on b (the target moves with every block after the second).
  std::vector<BlockHeader> run;
  for (int i = 0; i < 4; ++i) {
    auto t = b->create_template(account_key(60));
    uint64_t hashes = 0;
    ASSERT_TRUE(Miner::solve(t, [] { return false; }, hashes));
    ASSERT_TRUE(b->process_block(t.block).ok());
    run.push_back(t.block.header);
    b.clock().advance(i == 2 ? 5'000 : 300);  // a late block: its child's target moves
  }
  ASSERT_NE(run[2].bits, run[3].bits) << "the late block moved its child's target";
  EXPECT_FALSE(a->extends_tip(run[1])) << "its parent was never screened";
  EXPECT_TRUE(a->extends_tip(run[0]));
  EXPECT_TRUE(a->extends_tip(run[1])) << "the child of the header that passed";
  auto wrong = run[2];
  wrong.bits ^= 1;
  EXPECT_FALSE(a->extends_tip(wrong)) << "the target run[1]'s child must carry, not another";
  EXPECT_TRUE(a->extends_tip(run[2]));
  EXPECT_TRUE(a->extends_tip(run[3]));
  EXPECT_FALSE(a->extends_tip(run[1])) << "the screen follows the last header that passed";
  // The tip still counts: a's own next block passes whatever the last screened header was.
  auto t = a->create_template(account_key(61));
  uint64_t hashes = 0;
  ASSERT_TRUE(Miner::solve(t, [] { return false; }, hashes));
  EXPECT_TRUE(a->extends_tip(t.block.header));
}
