// ChainState over the simulator's in-memory storage (storage::MemoryDatabase): a power cut at
// any point between blocks leaves a chain that reopens at an earlier-or-equal consistent tip.
#include <gtest/gtest.h>

#include <vector>

#include "chain/chainstate.h"
#include "chain/test_util.h"
#include "storage/memory_database.h"

using namespace peerchain;
using namespace peerchain::chain;
using namespace peerchain::chain::testing;
using consensus::dev_account_key;
using consensus::RejectCode;
using primitives::make_transfer;
using storage::MemoryDatabase;
using storage::MemoryDisk;

namespace {

const consensus::Params& params() {
  static const consensus::Params p = easy_params();
  return p;
}

primitives::Transaction transfer(uint32_t from, uint32_t to, uint64_t nonce) {
  return make_transfer(params().chain_id, dev_account_key(from), dev_account_key(to).pubkey(), 500, 1, nonce);
}

// A node's chain on a simulated disk, which outlives each process (each ChainState) run on it.
struct SimChain {
  std::shared_ptr<MemoryDisk> disk = MemoryDisk::create();
  util::ManualClock clock{static_cast<int64_t>(params().genesis.header.time_ms) + 10'000'000'000};
  std::unique_ptr<ChainState> chain;

  SimChain() { start(); }
  void start() {
    auto db = MemoryDatabase::open(disk);
    ASSERT_TRUE(db.ok()) << db.error().to_string();
    auto cs = ChainState::open(params(), std::move(*db), clock);
    ASSERT_TRUE(cs.ok()) << cs.error().to_string();
    chain = std::move(*cs);
  }
  // The process is gone with the power; the next one starts on what the disk kept.
  // keep_batches: how many of the unsynced batches the disk happened to write before the cut.
  void power_cut_and_restart(size_t keep_batches = 0) {
    chain.reset();
    disk->power_cut(keep_batches);
    start();
  }
  // The process stops (cleanly) and starts again; the disk keeps every write, synced or not.
  void restart() {
    chain.reset();
    start();
  }
  ChainState* operator->() { return chain.get(); }
};

// A chain of `n` blocks, each with a transfer (so accounts, undo data and the tx index move).
std::vector<primitives::Block> forge_chain(Forge& forge, const primitives::BlockId& from, size_t n,
                                           uint32_t sender) {
  std::vector<primitives::Block> blocks;
  primitives::BlockId parent = from;
  for (size_t i = 0; i < n; ++i) {
    blocks.push_back(forge.make(parent, {transfer(sender, 9, i)}));
    parent = blocks.back().id();
  }
  return blocks;
}

// The chain is a prefix of `blocks` and its stored state is what replaying it derives.
void expect_consistent_prefix(ChainState& chain, const std::vector<primitives::Block>& blocks, uint32_t max_height) {
  auto tip = chain.tip();
  EXPECT_LE(tip.height, max_height);
  if (tip.height == 0)
    EXPECT_EQ(tip.id, params().genesis_id);
  else
    EXPECT_EQ(tip.id, blocks[tip.height - 1].id());
  auto v = chain.verify();
  EXPECT_TRUE(v.ok()) << v.error().to_string();
}

// The tx index (on disk or still pending) puts `id` in `block`.
void expect_indexed_in(ChainState& chain, const primitives::TxId& id, const primitives::BlockId& block) {
  auto place = chain.transaction_place(id);
  ASSERT_TRUE(place && place->block) << id.hex() << " not found in a block";
  EXPECT_EQ(*place->block, block);
}

void process_all(ChainState& chain, const std::vector<primitives::Block>& blocks) {
  for (const auto& b : blocks) {
    auto r = chain.process_block(b);
    // A block whose data survived the cut is already stored (and connected by open()).
    ASSERT_TRUE(r.ok() || r.error().is(RejectCode::kDuplicateBlock)) << r.error().to_string();
  }
}

}  // namespace

// Catching up (headers known ahead), connects are written without fsync: a power cut rolls
// the chain back to an earlier consistent tip, and fetching the blocks again brings it forward.
// The last block of a catch-up is synced, so a cut after it loses nothing.
TEST(ChainStatePowerCut, CatchUpCutAtEveryBlockReopensConsistentAndCatchesUpAgain) {
  Forge forge(params());
  const auto blocks = forge_chain(forge, params().genesis_id, 24, 1);
  uint64_t lost = 0;
  for (uint32_t cut_at = 1; cut_at <= 20; ++cut_at) {
    SCOPED_TRACE("power cut after block " + std::to_string(cut_at));
    SimChain node;
    for (const auto& b : blocks) ASSERT_TRUE(node->accept_header(b.header).ok());
    process_all(*node.chain, std::vector<primitives::Block>(blocks.begin(), blocks.begin() + cut_at));
    ASSERT_EQ(node->tip().height, cut_at);
    node.power_cut_and_restart();
    expect_consistent_prefix(*node.chain, blocks, cut_at);
    lost += node.disk->counters().records_lost;

    for (const auto& b : blocks) {
      auto r = node->accept_header(b.header);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
    }
    process_all(*node.chain, blocks);
    ASSERT_EQ(node->tip().id, blocks.back().id());
    node.power_cut_and_restart();
    EXPECT_EQ(node->tip().id, blocks.back().id());
    expect_consistent_prefix(*node.chain, blocks, static_cast<uint32_t>(blocks.size()));
  }
  // Something was rolled back: with the chain's 1-second sync cadence on the wall clock this
  // needs only one of the twenty catch-ups to run its blocks within a second.
  EXPECT_GT(lost, 0u);
}

// A power cut may keep any prefix of the unsynced batches (the part of the log the disk wrote):
// every such prefix must reopen as a consistent chain.
TEST(ChainStatePowerCut, CutKeepingAnyPrefixOfTheUnsyncedWritesReopensConsistent) {
  Forge forge(params());
  const auto blocks = forge_chain(forge, params().genesis_id, 16, 1);
  const std::vector<primitives::Block> first(blocks.begin(), blocks.begin() + 12);
  auto run = [&](SimChain& node) {
    for (const auto& b : blocks) ASSERT_TRUE(node->accept_header(b.header).ok());
    process_all(*node.chain, first);
    ASSERT_EQ(node->tip().height, 12u);
  };
  size_t unsynced = 0;
  {
    SimChain probe;
    run(probe);
    unsynced = probe.disk->volatile_batches();
  }
  for (size_t keep = 0; keep <= unsynced; ++keep) {
    SCOPED_TRACE("keeping " + std::to_string(keep) + " of " + std::to_string(unsynced) + " unsynced batches");
    SimChain node;
    run(node);
    // The chain's sync cadence follows the wall clock: the same run may sync at other blocks.
    if (node.disk->volatile_batches() != unsynced) continue;
    node.power_cut_and_restart(keep);
    expect_consistent_prefix(*node.chain, blocks, 12);
    process_all(*node.chain, blocks);
    EXPECT_EQ(node->tip().id, blocks.back().id());
    expect_consistent_prefix(*node.chain, blocks, 16);
  }
}

// A reorg interrupted by a power cut: the chain reopens on one branch or the other, never on a
// mix, and its state re-derives.
TEST(ChainStatePowerCut, CutDuringAReorgReopensOnOneBranch) {
  Forge forge(params());
  SimChain node;
  const auto a = forge_chain(forge, params().genesis_id, 6, 1);
  process_all(*node.chain, a);  // one by one, each synced (nothing known beyond)
  ASSERT_EQ(node->tip().id, a.back().id());
  auto b = std::vector<primitives::Block>(a.begin(), a.begin() + 2);
  auto branch = forge_chain(forge, a[1].id(), 8, 2);
  b.insert(b.end(), branch.begin(), branch.end());
  for (const auto& blk : branch) ASSERT_TRUE(node->accept_header(blk.header).ok());
  process_all(*node.chain, std::vector<primitives::Block>(branch.begin(), branch.begin() + 6));
  ASSERT_EQ(node->tip().id, branch[5].id());
  node.power_cut_and_restart();
  // Either branch's prefix (the fork point itself when the disconnects were synced and the
  // connects were not).
  if (node->in_active_chain(a.back().id()))
    expect_consistent_prefix(*node.chain, a, 6);
  else
    expect_consistent_prefix(*node.chain, b, 8);
  process_all(*node.chain, branch);
  EXPECT_EQ(node->tip().id, branch.back().id());
  expect_consistent_prefix(*node.chain, b, 10);
}

// Acknowledged means durable (the mempool journal is synced before submit returns).
TEST(ChainStatePowerCut, AcknowledgedTransactionsSurviveAPowerCut) {
  SimChain node;
  std::vector<primitives::TxId> acked;
  for (uint64_t n = 0; n < 4; ++n) {
    auto r = node->submit_transaction(transfer(3, 4, n));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    acked.push_back(*r);
  }
  node.power_cut_and_restart();
  auto n = node->replay_mempool_journal();
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(*n, acked.size());
  for (const auto& id : acked) EXPECT_TRUE(node->transaction(id).has_value()) << id.hex();
}

// The injected faults reach ChainState as its storage contract says: a full disk or a failed
// fsync pauses intake without blame until the disk is fine and try_resume_writes() succeeds.
TEST(ChainStatePowerCut, InjectedDiskFaultsPauseIntakeUntilResumed) {
  Forge forge(params());
  SimChain node;
  const auto blocks = forge_chain(forge, params().genesis_id, 2, 1);
  node.disk->fail_writes(storage::kErrNoSpace);
  auto r = node->process_block(blocks[0]);
  ASSERT_FALSE(r.ok());
  ASSERT_NE(r.error().local(), nullptr) << r.error().to_string();
  EXPECT_EQ(r.error().local()->state, StorageState::kDiskFull);
  EXPECT_FALSE(node->try_resume_writes());
  node.disk->clear_write_faults();
  ASSERT_TRUE(node->try_resume_writes());
  ASSERT_TRUE(node->process_block(blocks[0]).ok());

  node.disk->fail_synced_writes(storage::kErrIo);
  auto t = node->submit_transaction(transfer(3, 4, 0));
  ASSERT_FALSE(t.ok());
  ASSERT_NE(t.error().local(), nullptr) << t.error().to_string();
  EXPECT_EQ(node->mempool_size(), 0u);
  EXPECT_FALSE(node->try_resume_writes());
  node.disk->clear_write_faults();
  ASSERT_TRUE(node->try_resume_writes());
  ASSERT_TRUE(node->submit_transaction(transfer(3, 4, 0)).ok());
  ASSERT_TRUE(node->process_block(blocks[1]).ok());
  node.power_cut_and_restart();
  EXPECT_EQ(node->tip().id, blocks[1].id());
  EXPECT_TRUE(node->verify().ok());
  EXPECT_GT(node.disk->counters().faults_triggered, 0u);
}

// A connect's tx index records are written after the tip (ADR 0026): until then lookups find
// them in memory, and a power cut that keeps the connects but not that write reopens with them
// taken again from the blocks ("indexed_tip" names the last block whose records are on disk).
TEST(ChainStatePowerCut, TxIndexWrittenAfterTheTipIsFoundBeforeItsWriteAndTakenAgainAfterACut) {
  Forge forge(params());
  SimChain node;
  const auto blocks = forge_chain(forge, params().genesis_id, 3, 1);
  process_all(*node.chain, {blocks[0]});  // its deferred write flushed before the call returned
  const size_t before = node.disk->volatile_batches();
  for (size_t i = 1; i < blocks.size(); ++i)
    ASSERT_TRUE(node->process_block(blocks[i], nullptr, ChainState::Durability::kByNextSync).ok());
  const auto last = blocks.back().txs.back().id();
  expect_indexed_in(*node.chain, last, blocks.back().id());  // its record not yet written
  EXPECT_EQ(node->known_transactions(std::vector{last}), std::vector<bool>{true});
  // Stored (its bytes, then its record) and connected: three batches a block, the index
  // records not written.
  ASSERT_EQ(node.disk->volatile_batches(), before + 6);
  node.power_cut_and_restart(before + 6);
  ASSERT_EQ(node->tip().id, blocks.back().id());
  expect_consistent_prefix(*node.chain, blocks, 3);
  expect_indexed_in(*node.chain, last, blocks.back().id());
  // Written by the next flush (the reopened chain's), and found on disk after another cut.
  ASSERT_TRUE(node->sync_pending().ok());
  node.power_cut_and_restart();
  expect_consistent_prefix(*node.chain, blocks, 3);
}

// A deferred index write that fails keeps its records (still found) for the next flush; a
// reorg cannot disconnect a block whose records are not on disk until writes resume.
TEST(ChainStatePowerCut, FailedDeferredIndexWriteKeepsItsRecordsUntilWritesResume) {
  Forge forge(params());
  SimChain node;
  const auto a = forge_chain(forge, params().genesis_id, 2, 1);
  for (const auto& b : a) ASSERT_TRUE(node->process_block(b, nullptr, ChainState::Durability::kByNextSync).ok());
  node.disk->fail_writes(storage::kErrIo);
  EXPECT_FALSE(node->sync_pending().ok());
  EXPECT_NE(node->storage_status().state, StorageState::kOk);
  const auto id = a.back().txs.back().id();
  expect_indexed_in(*node.chain, id, a.back().id());

  const auto branch = forge_chain(forge, params().genesis_id, 3, 2);
  EXPECT_FALSE(node->process_block(branch[0]).ok());  // intake paused
  node.disk->clear_write_faults();
  ASSERT_TRUE(node->try_resume_writes());
  process_all(*node.chain, branch);  // a reorg: a's blocks disconnected, their records erased
  ASSERT_EQ(node->tip().id, branch.back().id());
  auto place = node->transaction_place(id);
  ASSERT_TRUE(place);
  EXPECT_FALSE(place->block) << "back in the mempool";
  expect_consistent_prefix(*node.chain, branch, 3);
  node.power_cut_and_restart();
  expect_consistent_prefix(*node.chain, branch, 3);
}

// A database written before ADR 0026 has no "indexed_tip": each connect's batch held its index
// records, so the index is the tip's, and open records that.
TEST(ChainStatePowerCut, DatabaseWithoutAnIndexedTipOpensIndexedToItsTip) {
  Forge forge(params());
  SimChain node;
  const auto blocks = forge_chain(forge, params().genesis_id, 3, 1);
  process_all(*node.chain, blocks);
  node.chain.reset();
  {
    auto db = MemoryDatabase::open(node.disk);
    ASSERT_TRUE(db.ok());
    storage::WriteBatch batch;
    const std::string_view key = storage::kMetaIndexedTip;
    batch.erase(storage::Column::kMeta,
                util::ByteSpan(reinterpret_cast<const uint8_t*>(key.data()), key.size()));
    ASSERT_TRUE((*db)->write(batch, true).ok());
  }
  node.start();
  ASSERT_EQ(node->tip().id, blocks.back().id());
  expect_consistent_prefix(*node.chain, blocks, 3);
  auto second = forge_chain(forge, blocks.back().id(), 1, 2);
  process_all(*node.chain, second);
  node.power_cut_and_restart();
  EXPECT_EQ(node->tip().id, second.back().id());
  EXPECT_TRUE(node->verify().ok());
}

// A large block's tx index records go to disk in slices (ChainState::kDeferredSliceOps), so the
// writes queued behind them wait for one slice only. A power cut may keep any prefix of those
// slices: "indexed_tip" is in the last, so a cut before it leaves an index that open completes
// from the block, and every transfer is found in it.
TEST(ChainStatePowerCut, CutBetweenTheIndexSlicesOfALargeBlockReopensWithEveryTransferFound) {
  Forge forge(params());
  constexpr uint32_t kSenders = 50;
  const size_t per_sender = (2 * ChainState::kDeferredSliceOps + 100) / kSenders + 1;
  std::vector<primitives::Transaction> txs;
  for (uint64_t n = 0; n < per_sender; ++n)
    for (uint32_t s = 1; s <= kSenders; ++s) txs.push_back(transfer(s, 99, n));
  const auto block = forge.make(params().genesis_id, txs);
  const auto first_id = block.txs.front().id();
  const auto last_id = block.txs.back().id();
  auto run = [&](SimChain& node) {
    ASSERT_TRUE(node->process_block(block, nullptr, ChainState::Durability::kByNextSync).ok());
    const uint64_t before = node.disk->counters().writes;
    node.disk->fail_synced_writes(storage::kErrIo);  // the slices stay unsynced
    EXPECT_FALSE(node->sync_pending().ok());
    EXPECT_GE(node.disk->counters().writes - before, 3u) << "written in one batch";
  };
  size_t unsynced = 0;
  {
    SimChain probe;
    run(probe);
    unsynced = probe.disk->volatile_batches();
  }
  ASSERT_GE(unsynced, 4u);  // the block, its connect and at least two slices
  for (size_t keep = 0; keep <= unsynced; ++keep) {
    SCOPED_TRACE("keeping " + std::to_string(keep) + " of " + std::to_string(unsynced) + " unsynced batches");
    SimChain node;
    run(node);
    node.disk->clear_write_faults();
    node.power_cut_and_restart(keep);
    if (node->tip().height == 0) continue;  // the connect itself was lost
    ASSERT_EQ(node->tip().id, block.id());
    expect_indexed_in(*node.chain, first_id, block.id());
    expect_indexed_in(*node.chain, last_id, block.id());
    EXPECT_TRUE(node->verify().ok());
  }
}

// A block's bytes are written outside the chain lock, ahead of its record (ADR 0028), but only
// once its place is checked: a block whose parent is unknown, or one already stored, writes
// nothing; a stored one writes its bytes, then its record.
TEST(ChainStatePowerCut, OnlyABlockWithAPlaceWritesItsBytes) {
  Forge forge(params());
  const auto blocks = forge_chain(forge, params().genesis_id, 2, 1);
  SimChain node;
  const size_t before = node.disk->volatile_batches();
  auto orphan = node->process_block(blocks[1], nullptr, ChainState::Durability::kByNextSync);
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(node.disk->volatile_batches(), before) << "an orphan's bytes were written";
  ASSERT_TRUE(node->process_block(blocks[0], nullptr, ChainState::Durability::kByNextSync).ok());
  EXPECT_EQ(node.disk->volatile_batches(), before + 3);  // bytes, record, connect
  EXPECT_FALSE(node->process_block(blocks[0], nullptr, ChainState::Durability::kByNextSync).ok());
  EXPECT_EQ(node.disk->volatile_batches(), before + 3);
  // The cut keeps the bytes and not the record: the block is unknown, as if never received, and
  // is taken again.
  node.power_cut_and_restart(before + 1);
  EXPECT_EQ(node->tip().height, 0u);
  EXPECT_TRUE(node->verify().ok());
  process_all(*node.chain, blocks);
  EXPECT_EQ(node->tip().id, blocks.back().id());
}

// Accepted headers' index records wait for one write (ADR 0027): none per header, one for the
// lot by write_headers() (after a headers message) or with the next block stored.
TEST(ChainStatePowerCut, AcceptedHeadersAreWrittenTogetherNotOneByOne) {
  Forge forge(params());
  const auto blocks = forge_chain(forge, params().genesis_id, 10, 1);
  SimChain node;
  const size_t before = node.disk->volatile_batches();
  for (const auto& b : blocks) ASSERT_TRUE(node->accept_header(b.header).ok());
  EXPECT_EQ(node.disk->volatile_batches(), before);  // no write under the chain lock per header
  EXPECT_EQ(node->unwritten_headers(), blocks.size());
  ASSERT_TRUE(node->write_headers().ok());
  EXPECT_EQ(node.disk->volatile_batches(), before + 1);
  EXPECT_EQ(node->unwritten_headers(), 0u);
  node.restart();
  EXPECT_EQ(node->best_header().height, blocks.size());

  // Accepted and not written when the node stops: gone, as they would be from a power cut; the
  // peers send them again (getheaders on connect).
  const auto more = forge_chain(forge, blocks.back().id(), 3, 1);
  for (const auto& b : more) ASSERT_TRUE(node->accept_header(b.header).ok());
  node.restart();
  EXPECT_EQ(node->best_header().height, blocks.size());
  for (const auto& b : more) ASSERT_TRUE(node->accept_header(b.header).ok());
  EXPECT_EQ(node->best_header().height, blocks.size() + more.size());
}

// A sketch's header is accepted before its block is rebuilt: the block's own write carries it
// (and every header accepted before), written from the entries as they are then, so a header's
// record never overwrites its block's.
TEST(ChainStatePowerCut, HeadersAcceptedBeforeABlockAreWrittenWithIt) {
  Forge forge(params());
  const auto blocks = forge_chain(forge, params().genesis_id, 3, 1);
  SimChain node;
  for (const auto& b : blocks) ASSERT_TRUE(node->accept_header(b.header).ok());
  process_all(*node.chain, {blocks[0]});
  EXPECT_EQ(node->unwritten_headers(), 0u);
  EXPECT_TRUE(node->write_headers().ok());  // nothing left to write
  node.restart();
  EXPECT_EQ(node->tip().id, blocks[0].id());
  EXPECT_EQ(node->best_header().height, 3u);
  expect_consistent_prefix(*node.chain, blocks, 1);
  process_all(*node.chain, {blocks[1], blocks[2]});
  EXPECT_EQ(node->tip().id, blocks[2].id());
}
