// PeerManager over an in-memory network: several real ChainStates (RocksDB in temp dirs) whose
// managers exchange real protocol messages through a deterministic message pump.
#include "node/peer_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "chain/test_util.h"
#include "crypto/schnorr.h"

using namespace peerchain;
using namespace peerchain::node;
using namespace peerchain::chain::testing;

namespace {

struct Envelope {
  size_t from, to;
  uint16_t type;
  util::Bytes payload;
};

class FakeNet;

// One node's view of the fake network: PeerId == index of the remote node.
class Endpoint final : public PeerNetwork {
 public:
  Endpoint(FakeNet& net, size_t self) : net_(net), self_(self) {}
  bool send(PeerId peer, uint16_t type, util::Bytes payload) override;
  void disconnect(PeerId peer, const std::string& reason) override;
  void ban(PeerId peer, int64_t, const std::string& reason) override;
  void resume_reading(PeerId peer) override;

 private:
  FakeNet& net_;
  size_t self_;
};

struct Member {
  std::unique_ptr<TestNode> node;
  std::unique_ptr<Endpoint> endpoint;
  std::unique_ptr<PeerManager> manager;
};

class FakeNet {
 public:
  explicit FakeNet(size_t n, const consensus::Params& p, PeerManagerOptions opts = {}) {
    for (size_t i = 0; i < n; ++i) {
      Member m;
      m.node = std::make_unique<TestNode>(p);
      m.endpoint = std::make_unique<Endpoint>(*this, i);
      m.manager = std::make_unique<PeerManager>(m.node->chain(), *m.endpoint, m.node->clock(), opts);
      auto* mgr = m.manager.get();
      m.node->chain().set_events({[mgr](const chain::TipInfo& t, uint32_t) { mgr->on_tip_changed(t); },
                                  [mgr](const primitives::TxId& id) { mgr->on_tx_accepted(id); }});
      members.push_back(std::move(m));
    }
  }
  // Both ends announce `version` in their hellos.
  void connect(size_t a, size_t b, uint32_t version = net::kProtocolVersion) {
    {
      std::lock_guard lock(mu);
      links.insert({a, b});
      links.insert({b, a});
    }
    members[a].manager->on_connected(b, "node" + std::to_string(b), false, members[b].node->chain().tip().height, version);
    members[b].manager->on_connected(a, "node" + std::to_string(a), true, members[a].node->chain().tip().height, version);
  }
  void cut(size_t a, size_t b) {
    {
      std::lock_guard lock(mu);
      links.erase({a, b});
      links.erase({b, a});
    }
    members[a].manager->on_disconnected(b);
    members[b].manager->on_disconnected(a);
  }
  // Delivers messages (and runs every manager's tick between rounds) until nothing moves.
  void pump(int max_rounds = 200) {
    for (int round = 0; round < max_rounds; ++round) {
      drain_block_queues();
      for (auto& m : members) m.manager->tick();
      if (!deliver_all()) return;
      drain_block_queues();
    }
  }
  // Delivers every queued message (the managers' own threads may add more meanwhile); false if
  // there were none. With `inbox`, through PeerManager::deliver (the network thread's way).
  bool deliver_all(bool inbox = false) {
    bool any = false;
    for (;;) {
      Envelope e;
      {
        std::lock_guard lock(mu);
        if (queue.empty()) return any;
        e = std::move(queue.front());
        queue.pop_front();
        if (!links.count({e.from, e.to})) continue;
      }
      any = true;
      if (inbox) members[e.to].manager->deliver(e.from, e.type, std::move(e.payload));
      else members[e.to].manager->on_message(e.from, e.type, std::move(e.payload));  // without mu: it sends
    }
  }
  // The node's block threads, run inline: verify every queued block, then connect them.
  void drain_block_queues() {
    for (auto& m : members) {
      m.manager->verify_queued_blocks(std::chrono::milliseconds(0));
      m.manager->process_queued_blocks(std::chrono::milliseconds(0));
    }
  }
  chain::ChainState& chain(size_t i) { return members[i].node->chain(); }

  std::vector<Member> members;
  std::mutex mu;  // guards queue, links and bans: managers' threads send too
  std::deque<Envelope> queue;
  std::set<std::pair<size_t, size_t>> links;
  std::vector<std::pair<size_t, std::string>> bans;  // (banned node, reason)
  std::map<uint16_t, size_t> sent;                   // messages sent, by type
  std::vector<std::pair<size_t, PeerId>> resumed;    // (reader, peer) of resume_reading calls
};

bool Endpoint::send(PeerId peer, uint16_t type, util::Bytes payload) {
  std::lock_guard lock(net_.mu);
  if (!net_.links.count({self_, peer})) return false;
  ++net_.sent[type];
  net_.queue.push_back({self_, peer, type, std::move(payload)});
  return true;
}
void Endpoint::disconnect(PeerId peer, const std::string&) { net_.cut(self_, peer); }
void Endpoint::resume_reading(PeerId peer) {
  std::lock_guard lock(net_.mu);
  net_.resumed.emplace_back(self_, peer);
}
void Endpoint::ban(PeerId peer, int64_t, const std::string& reason) {
  {
    std::lock_guard lock(net_.mu);
    net_.bans.emplace_back(peer, reason);
  }
  net_.cut(self_, peer);
}

const consensus::Params& params() {
  static const consensus::Params p = easy_params();
  return p;
}

primitives::Transaction transfer(chain::ChainState& c, uint32_t from, uint32_t to) {
  auto key = consensus::dev_account_key(from);
  auto [pending, cost] = c.mempool_pending(key.pubkey());
  return primitives::make_transfer(params().chain_id, key, consensus::dev_account_key(to).pubkey(), 500, 1,
                                   c.account(key.pubkey()).nonce + pending);
}

// Mines `blocks` blocks on `c`, each with `per_block` transfers from dev accounts 1..`senders`
// (in turn) to accounts `to`, `to` + 1, ...
void mine_transfers(chain::ChainState& c, int blocks, uint32_t per_block, uint32_t senders, uint32_t to) {
  for (int i = 0; i < blocks; ++i) {
    for (uint32_t k = 0; k < per_block; ++k)
      ASSERT_TRUE(c.submit_transaction(transfer(c, 1 + (static_cast<uint32_t>(i) + k) % senders, to + k)).ok());
    ASSERT_EQ(chain::Miner::generate(c, consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  }
}

}  // namespace

TEST(PeerManager, NewPeerSyncsAChainHeadersFirst) {
  FakeNet net(2, params());
  ASSERT_NO_FATAL_FAILURE(mine_transfers(net.chain(0), 40, 1, 7, 20));
  net.connect(0, 1);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.chain(1).all_accounts(), net.chain(0).all_accounts());
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, QueuedBlocksSyncWithOneSignatureCheckEach) {
  // The node's mode: blocks wait in a queue, their signatures are checked together, then they
  // connect in order.
  PeerManagerOptions o;
  o.queue_blocks = true;
  FakeNet net(2, params(), o);
  const size_t txs = 60 * 3;
  ASSERT_NO_FATAL_FAILURE(mine_transfers(net.chain(0), 60, 3, 9, 30));
  auto before = crypto::schnorr_verifications();
  net.connect(0, 1);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.chain(1).all_accounts(), net.chain(0).all_accounts());
  EXPECT_EQ(crypto::schnorr_verifications() - before, txs);  // node 1's, each once
  EXPECT_EQ(net.members[1].manager->queued_blocks(), 0u);
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, EveryNodeThreadRunsAlongsideTheNetwork) {
  // As in the node, on both sides: messages through the inbox and its handler thread, the
  // block stages and transfer admission on theirs, while this thread delivers, ticks, submits
  // transfers, mines and cuts the link once (TSan runs this test too).
  PeerManagerOptions o;
  o.queue_messages = true;
  o.queue_blocks = true;
  o.queue_txs = true;
  o.max_inbox_bytes_per_peer = 64 * 1024;  // small: pauses and resumes happen
  FakeNet net(2, params(), o);
  ASSERT_NO_FATAL_FAILURE(mine_transfers(net.chain(0), 40, 2, 9, 50));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  struct Joiner {  // the threads end whichever way the test leaves
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{stop, threads};
  for (auto& m : net.members) {
    PeerManager* pm = m.manager.get();
    threads.emplace_back([&stop, pm] {
      while (!stop) pm->handle_queued_messages(std::chrono::milliseconds(5));
    });
    threads.emplace_back([&stop, pm] {
      while (!stop) pm->verify_queued_blocks(std::chrono::milliseconds(5));
    });
    threads.emplace_back([&stop, pm] {
      while (!stop) pm->process_queued_blocks(std::chrono::milliseconds(5));
    });
    threads.emplace_back([&stop, pm] {
      while (!stop) pm->admit_queued_txs(std::chrono::milliseconds(5));
    });
  }
  net.connect(0, 1);
  auto settled = [&] {
    return net.chain(1).tip().id == net.chain(0).tip().id && net.chain(0).mempool_size() == 0 &&
           net.chain(1).mempool_size() == 0;
  };
  auto run_until = [&](auto done, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      for (auto& m : net.members) m.manager->tick();
      if (!net.deliver_all(true)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  run_until(settled, 60);  // node 1 syncs the 40 blocks first
  ASSERT_TRUE(settled());
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 30; ++i)
      ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 1 + i % 5, 60 + round)).ok());
    run_until([&] { return net.chain(1).mempool_size() == 30; }, 30);
    ASSERT_EQ(net.chain(1).mempool_size(), 30u) << round;
    ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
    if (round == 1) {
      net.cut(0, 1);
      net.connect(0, 1);
    }
    run_until(settled, 60);
    ASSERT_TRUE(settled()) << round;
  }
  EXPECT_EQ(net.chain(1).tip().height, 44u);
  EXPECT_EQ(net.chain(1).all_accounts(), net.chain(0).all_accounts());
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, BlockThreadsRunAlongsideTheNetwork) {
  // As in the node: the verify and connect stages on their own threads while messages are
  // delivered and timers tick on this one (TSan runs this test too).
  PeerManagerOptions o;
  o.queue_blocks = true;
  FakeNet net(2, params(), o);
  ASSERT_NO_FATAL_FAILURE(mine_transfers(net.chain(0), 80, 2, 9, 50));
  std::atomic<bool> stop{false};
  PeerManager& m1 = *net.members[1].manager;
  std::thread verifier([&] {
    while (!stop) m1.verify_queued_blocks(std::chrono::milliseconds(5));
  });
  std::thread connector([&] {
    while (!stop) m1.process_queued_blocks(std::chrono::milliseconds(5));
  });
  net.connect(0, 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (net.chain(1).tip().id != net.chain(0).tip().id && std::chrono::steady_clock::now() < deadline) {
    for (auto& m : net.members) m.manager->tick();
    if (!net.deliver_all()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop = true;
  verifier.join();
  connector.join();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.chain(1).all_accounts(), net.chain(0).all_accounts());
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, FullBlockQueueStopsRequestsAndDropsForLater) {
  // A queue of 1 byte: the first block is taken, any other that arrives meanwhile is dropped
  // and asked for again once the queue drains; nothing is asked for while it is full.
  PeerManagerOptions o;
  o.queue_blocks = true;
  o.max_queued_block_bytes = 1;
  FakeNet net(2, params(), o);
  ASSERT_NO_FATAL_FAILURE(mine_transfers(net.chain(0), 12, 1, 1, 40));
  net.connect(0, 1);
  // Deliver without draining: node 1 holds one block, drops the rest of the window.
  for (int round = 0; round < 20 && !net.queue.empty(); ++round) {
    while (!net.queue.empty()) {
      auto e = std::move(net.queue.front());
      net.queue.pop_front();
      net.members[e.to].manager->on_message(e.from, e.type, std::move(e.payload));
    }
  }
  EXPECT_EQ(net.members[1].manager->queued_blocks(), 1u);
  net.members[1].manager->tick();
  EXPECT_TRUE(net.queue.empty());  // full: no getdata
  // Draining lets the download go on to the end.
  net.pump(500);
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, TransactionAndBlockCrossALine) {
  // A - B - C - D, each knowing only its neighbours.
  FakeNet net(4, params());
  net.connect(0, 1);
  net.connect(1, 2);
  net.connect(2, 3);
  net.pump();
  auto tx = transfer(net.chain(0), 3, 4);
  ASSERT_TRUE(net.chain(0).submit_transaction(tx).ok());
  net.pump();
  EXPECT_EQ(net.chain(3).mempool_size(), 1u);
  // D mines it; the block travels back to A.
  ASSERT_EQ(chain::Miner::generate(net.chain(3), consensus::dev_account_key(9).pubkey(), 1).size(), 1u);
  net.pump();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(net.chain(i).tip().id, net.chain(3).tip().id) << i;
    auto info = net.chain(i).transaction(tx.id());
    ASSERT_TRUE(info && info->block) << i;
    EXPECT_EQ(net.chain(i).mempool_size(), 0u);
  }
}

// Transfers a node declines while its admission queue is overloaded (delivered past the queue's
// cap, or announced while it is half full) are asked for again once the queue has room, so they
// reach its mempool before any block carries them.
TEST(PeerManager, TransfersDeclinedWhileOverloadedAreFetchedOnceThereIsRoom) {
  PeerManagerOptions opts;
  opts.queue_txs = true;
  opts.max_queued_txs = 8;  // overloaded from 4 waiting; full at 8
  FakeNet net(2, params(), opts);
  net.connect(0, 1);
  net.pump();
  // 12 delivered at once: 8 queued, 4 past the cap.
  std::vector<primitives::Transaction> all;
  for (int i = 0; i < 12; ++i) {
    all.push_back(transfer(net.chain(0), 1, 2));
    ASSERT_TRUE(net.chain(0).submit_transaction(all.back()).ok());
  }
  net.pump();
  // 4 more announced while 8 wait: not asked for now (8 declined in all: what it remembers).
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 3, 4)).ok());
  net.pump();
  EXPECT_EQ(net.members[1].manager->queued_txs(), 8u);
  for (int round = 0; round < 10 && net.chain(1).mempool_size() < 16; ++round) {
    net.members[1].manager->admit_queued_txs(std::chrono::milliseconds(0));
    net.pump();
  }
  EXPECT_EQ(net.chain(1).mempool_size(), 16u);
  for (const auto& t : all) EXPECT_TRUE(net.chain(1).transaction(t.id()).has_value()) << t.nonce;
}

// Peers of protocol 2 get the transfers they ask for in `txs` batches of at most
// kMaxTxsPerMessage; a peer of protocol 1 gets one `tx` per transfer. Both end with all of them.
TEST(PeerManager, TransfersCrossInBatchesToPeersOfProtocolTwoAndOneByOneToOlderPeers) {
  FakeNet net(3, params());
  net.connect(0, 1);     // protocol 2
  net.connect(0, 2, 1);  // protocol 1
  net.pump();
  std::vector<primitives::Transaction> all;
  for (uint32_t i = 0; i < 1200; ++i) {
    all.push_back(transfer(net.chain(0), 1 + i % 12, 20));
    ASSERT_TRUE(net.chain(0).submit_transaction(all.back()).ok());
  }
  net.sent.clear();
  net.pump();
  EXPECT_EQ(net.sent[msg::kTxs], 2u);     // 1,000 + 200, to node 1
  EXPECT_EQ(net.sent[msg::kTx], 1200u);   // to node 2
  for (size_t n = 1; n < 3; ++n) {
    EXPECT_EQ(net.chain(n).mempool_size(), 1200u) << n;
    for (const auto& t : all) ASSERT_TRUE(net.chain(n).transaction(t.id()).has_value()) << n;
  }
}

// A `txs` that does not decode (no transfer, a count its bytes do not match, a count past the
// cap) or that carries a forged transfer costs the sender the full score, as a bad `tx` does.
TEST(PeerManager, MalformedOrForgedTxsBatchesAreBanned) {
  FakeNet net(2, params());
  auto good = transfer(net.chain(1), 2, 3);
  auto forged = transfer(net.chain(1), 4, 5);
  forged.amount += 1;
  std::vector<const primitives::Transaction*> two{&good, &forged};
  auto short_by_one = encode_txs(two);
  short_by_one.pop_back();
  util::Bytes past_cap{0xfd, 0xe9, 0x03};  // 1,001 transfers claimed
  past_cap.resize(3 + 156, 0);
  const std::vector<std::pair<util::Bytes, std::string>> cases{
      {util::Bytes{0x00}, "malformed txs"},
      {short_by_one, "malformed txs"},
      {past_cap, "malformed txs"},
      {encode_txs(two), "bad-signature"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    net.connect(0, 1);
    net.pump();
    net.queue.push_back({1, 0, msg::kTxs, cases[i].first});
    net.pump();
    ASSERT_EQ(net.bans.size(), i + 1) << i;
    EXPECT_NE(net.bans[i].second.find(cases[i].second), std::string::npos) << net.bans[i].second;
  }
  // The good transfer beside the forged one was still admitted: its own verdict.
  EXPECT_TRUE(net.chain(0).transaction(good.id()).has_value());
}

TEST(PeerManager, PartitionHealsOntoTheHeavierSideWithNothingLost) {
  FakeNet net(2, params());
  net.connect(0, 1);
  net.pump();
  net.cut(0, 1);
  // Both sides mine; side 0 mines more. Side 1 confirms a transfer.
  auto tx = transfer(net.chain(1), 5, 6);
  ASSERT_TRUE(net.chain(1).submit_transaction(tx).ok());
  ASSERT_EQ(chain::Miner::generate(net.chain(1), consensus::dev_account_key(1).pubkey(), 2).size(), 2u);
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 4).size(), 4u);
  net.connect(0, 1);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.chain(0).tip().height, 4u);
  // The losing side's transfer went back to its mempool and was relayed: mine it anywhere.
  EXPECT_TRUE(net.chain(0).transaction(tx.id()).has_value());
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.pump();
  auto info = net.chain(1).transaction(tx.id());
  ASSERT_TRUE(info && info->block);
}

TEST(PeerManager, HostilePeerIsBanned) {
  FakeNet net(2, params());
  net.connect(0, 1);
  net.pump();
  // A block with a bad proof of work (nonce changed after solving, target made hard).
  Forge forge(params());
  auto b = forge.make(params().genesis_id);
  b.header.bits = 0x1d00ffff;
  net.queue.push_back({1, 0, msg::kBlock, primitives::encode_block(b)});
  net.pump();
  ASSERT_EQ(net.bans.size(), 1u);
  EXPECT_EQ(net.bans[0].first, 1u);
  EXPECT_NE(net.bans[0].second.find("bad-"), std::string::npos) << net.bans[0].second;
  EXPECT_EQ(net.chain(0).tip().height, 0u);

  // Garbage payloads and forged signatures also cost the full score.
  net.connect(0, 1);
  net.queue.push_back({1, 0, msg::kHeaders, util::Bytes{0xff, 0xff}});
  net.pump();
  ASSERT_EQ(net.bans.size(), 2u);
  net.connect(0, 1);
  auto forged = transfer(net.chain(1), 2, 3);
  forged.amount += 1;
  net.queue.push_back({1, 0, msg::kTx, primitives::encode_transaction(forged)});
  net.pump();
  ASSERT_EQ(net.bans.size(), 3u);
  EXPECT_NE(net.bans[2].second.find("bad-signature"), std::string::npos);
  // An honest race (a stale nonce) costs nothing.
  net.connect(0, 1);
  auto ok = transfer(net.chain(0), 2, 3);
  ASSERT_TRUE(net.chain(0).submit_transaction(ok).ok());
  net.queue.push_back({1, 0, msg::kTx, primitives::encode_transaction(ok)});
  net.pump();
  EXPECT_EQ(net.bans.size(), 3u);
}

namespace {

// Node 1 has the headers of node 0's five blocks, booked for download at node 0, which never
// delivers them (it hears nothing more from node 1); node 2, which has every block, is also
// connected to node 1.
void stall_a_download(FakeNet& net) {
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.connect(0, 2);
  net.pump();
  ASSERT_EQ(net.chain(2).tip().id, net.chain(0).tip().id);
  net.connect(1, 0);
  for (int round = 0; round < 50 && !net.queue.empty(); ++round) {
    auto e = std::move(net.queue.front());
    net.queue.pop_front();
    if (e.from == 1 && e.to == 0 && e.type == msg::kGetData) continue;  // swallowed
    if (net.links.count({e.from, e.to})) net.members[e.to].manager->on_message(e.from, e.type, std::move(e.payload));
  }
  ASSERT_EQ(net.chain(1).best_header().height, 5u);
  ASSERT_EQ(net.chain(1).tip().height, 0u);
  net.links.erase({1, 0});
  net.connect(1, 2);
  net.pump();
  ASSERT_EQ(net.chain(1).tip().height, 0u);  // still booked for node 0
}

}  // namespace

// A block not delivered within block_timeout_ms is asked of another peer, not again of the
// peer that stalled it (which comes first in peer order here).
TEST(PeerManager, StalledDownloadIsAskedOfAnotherPeer) {
  FakeNet net(3, params());
  stall_a_download(net);
  net.members[1].node->clock().advance(16'000);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_TRUE(net.bans.empty());
}

// A wall clock that steps back (NTP, or the chaos test's clock offsets) must not freeze the
// local timers: once block_timeout_ms has really passed, the block is asked elsewhere.
TEST(PeerManager, StalledDownloadMovesOnAfterTheClockStepsBack) {
  FakeNet net(3, params());
  stall_a_download(net);
  auto& clock = net.members[1].node->clock();
  // (Less than the 120 s future-block limit, so the blocks are still acceptable afterwards.)
  clock.advance(-60'000);   // the wall clock steps back 60 s (ticks go on meanwhile)...
  net.pump();
  ASSERT_EQ(net.chain(1).tip().height, 0u);
  clock.advance(16'000);    // ...then 16 s pass: more than block_timeout_ms (15 s)
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_TRUE(net.bans.empty());
}

// A block refused as too far in the future (this node's clock fell behind after it took the
// header) is not asked for again at once: no getdata/block loop while the clock is wrong, and
// the block is fetched once the clock is right again.
TEST(PeerManager, BlockTooNewIsNotReRequestedInALoop) {
  FakeNet net(2, params());
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.connect(0, 1);
  auto& clock = net.members[1].node->clock();
  // Deliver until node 1 has taken the header and the block is on its way; then its clock
  // steps back beyond the future-block limit.
  bool stepped = false;
  int getdata_after = 0;
  for (int round = 0; round < 400 && !net.queue.empty(); ++round) {
    auto e = std::move(net.queue.front());
    net.queue.pop_front();
    if (!stepped && e.to == 1 && e.type == msg::kBlock) {
      clock.advance(-200'000);
      stepped = true;
    }
    if (stepped && e.from == 1 && e.type == msg::kGetData) ++getdata_after;
    if (net.links.count({e.from, e.to})) net.members[e.to].manager->on_message(e.from, e.type, std::move(e.payload));
  }
  ASSERT_TRUE(stepped);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().height, 0u);
  EXPECT_LE(getdata_after, 1);  // no loop
  clock.advance(205'000);       // the clock is right again and the retry delay has passed
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, GetdataNamingOneBlockManyTimesServesItOnce) {
  FakeNet net(2, params());
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.connect(0, 1);
  net.pump();
  {
    std::lock_guard lock(net.mu);
    net.queue.clear();
  }
  auto tip = net.chain(0).tip().id;
  net.members[0].manager->on_message(1, msg::kGetData, encode_inv(std::vector<InvItem>(kMaxInv, {InvKind::kBlock, tip})));
  size_t blocks = 0;
  for (const auto& e : net.queue) blocks += e.type == msg::kBlock;
  EXPECT_EQ(blocks, 1u);
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, GetdataBlocksWaitWhileThePeersSendQueueIsFull) {
  // Past max_pending_getdata_blocks the rest get notfound; the queue is served a budget a turn.
  PeerManagerOptions o;
  o.max_pending_getdata_blocks = 3;
  o.serve_bytes_per_turn = 1;  // one block a turn
  FakeNet net(2, params(), o);
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 5).size(), 5u);
  net.connect(0, 1);
  net.pump();
  std::vector<InvItem> ask;
  for (uint32_t h = 1; h <= 5; ++h) ask.push_back({InvKind::kBlock, *net.chain(0).block_id_at(h)});
  {
    std::lock_guard lock(net.mu);
    net.queue.clear();
  }
  net.members[0].manager->on_message(1, msg::kGetData, encode_inv(ask));
  auto count = [&](uint16_t type) {
    size_t n = 0;
    for (const auto& e : net.queue) n += e.type == type;
    return n;
  };
  EXPECT_EQ(count(msg::kBlock), 1u);     // one this turn
  EXPECT_EQ(count(msg::kNotFound), 1u);  // blocks 4 and 5: beyond the 3 that may wait
  net.members[0].manager->tick();
  net.members[0].manager->tick();
  EXPECT_EQ(count(msg::kBlock), 3u);
}

TEST(PeerManager, LowWorkBranchIsNotStoredAndHeavierOneIsPresyncedThenStored) {
  // Node 1's own chain (2,100 blocks) outweighs node 0's first 2,000 headers but not its 2,300:
  // node 1 checks the first batch without storing it, then the second reaches its work, and it
  // fetches the branch again, stores it and reorganises onto it. Node 2's 300 blocks never get
  // stored at node 1.
  FakeNet net(3, params());
  auto key = consensus::dev_account_key(0).pubkey();
  ASSERT_EQ(chain::Miner::generate(net.chain(0), key, 2300).size(), 2300u);
  ASSERT_EQ(chain::Miner::generate(net.chain(1), consensus::dev_account_key(1).pubkey(), 2100).size(), 2100u);
  ASSERT_EQ(chain::Miner::generate(net.chain(2), consensus::dev_account_key(2).pubkey(), 300).size(), 300u);
  auto low_tip = net.chain(2).tip().id;
  net.connect(1, 2);
  net.pump(500);
  EXPECT_FALSE(net.chain(1).header(low_tip));  // never stored
  EXPECT_EQ(net.chain(2).tip().id, net.chain(1).tip().id);  // node 2 took node 1's heavier chain
  net.connect(0, 1);
  net.pump(2000);
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.chain(2).tip().id, net.chain(0).tip().id);
  EXPECT_TRUE(net.bans.empty());
}

// ---- Compact blocks ----

TEST(PeerManager, BlocksCrossAsSketchesWithoutARoundTrip) {
  // A - B - C: the transfers reach every mempool first, then A mines them. B rebuilds the block
  // from its sketch and pushes its own sketch on to C before validating it; no block crosses
  // whole.
  FakeNet net(3, params());
  net.connect(0, 1);
  net.connect(1, 2);
  net.pump();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 1 + i % 4, 9)).ok());
  net.pump();
  ASSERT_EQ(net.chain(2).mempool_size(), 40u);
  net.sent.clear();
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.pump();
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(net.chain(i).tip().id, net.chain(0).tip().id) << i;
    EXPECT_EQ(net.chain(i).mempool_size(), 0u) << i;
    const auto& c = net.members[i].manager->counters();
    EXPECT_EQ(c.sketches_received.load(), 1u) << i;
    EXPECT_EQ(c.rebuilt_no_round_trip.load(), 1u) << i;
    EXPECT_EQ(c.rebuilt_round_trip.load() + c.fell_back.load(), 0u) << i;
  }
  EXPECT_EQ(net.sent[msg::kBlock], 0u);
  EXPECT_EQ(net.sent[msg::kGetBlockTxn], 0u);
  const auto& a = net.members[0].manager->counters();
  EXPECT_EQ(a.sketches_sent.load(), 1u);
  // 40 transfers: 6,359 bytes whole, 377 as a sketch.
  EXPECT_LT(a.sketch_bytes_sent.load() * 10, a.sketched_block_bytes.load());
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, ABlockWaitingForValidationIsNotRebuiltFromAnotherSketch) {
  // A triangle: node 2 hears of node 0's block from node 0 and again from node 1, which pushes
  // its own sketch on before validating. While the first copy waits in node 2's block queue the
  // second sketch is not rebuilt (a rebuild of a block of ~10,000 transfers cost 30-50 ms of the
  // message thread under load, once per copy), and nothing asks for the block again.
  PeerManagerOptions o;
  o.queue_blocks = true;
  FakeNet net(3, params(), o);
  net.connect(0, 1);
  net.connect(0, 2);
  net.connect(1, 2);
  net.pump();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 1 + i % 3, 9)).ok());
  net.pump();
  ASSERT_EQ(net.chain(2).mempool_size(), 30u);
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.sent.clear();
  // Messages only, block queues left waiting: node 2 holds the block rebuilt once.
  for (int round = 0; round < 20 && net.deliver_all(); ++round) {
    for (auto& m : net.members) m.manager->tick();
  }
  const auto& c2 = net.members[2].manager->counters();
  EXPECT_EQ(c2.sketches_received.load(), 2u);
  EXPECT_EQ(c2.rebuilt_no_round_trip.load(), 1u);
  EXPECT_EQ(net.members[2].manager->queued_blocks(), 1u);
  EXPECT_EQ(net.sent[msg::kGetData] + net.sent[msg::kGetBlockTxn] + net.sent[msg::kBlock], 0u);
  net.pump();
  for (size_t i = 1; i < 3; ++i) EXPECT_EQ(net.chain(i).tip().id, net.chain(0).tip().id) << i;
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, UnannouncedTransfersAreSentWithTheSketch) {
  // A mines transfers still waiting in its batched announcements: the sketch carries them whole,
  // so B rebuilds the block without a round trip.
  FakeNet net(2, params());
  net.connect(0, 1);
  net.pump();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 5, 9)).ok());
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.sent.clear();
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.members[1].manager->counters().rebuilt_no_round_trip.load(), 1u);
  EXPECT_EQ(net.sent[msg::kGetBlockTxn] + net.sent[msg::kBlock], 0u);
}

TEST(PeerManager, MissingTransfersAreAskedForWithOneRoundTrip) {
  // A sends nothing whole (max_prefilled 0) and mines transfers it has not yet announced: B's
  // mempool lacks them, it asks for exactly those and rebuilds the block from the answer.
  PeerManagerOptions o;
  o.max_prefilled = 0;
  FakeNet net(2, params(), o);
  net.connect(0, 1);
  net.pump();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.chain(1).submit_transaction(transfer(net.chain(1), 2, 9)).ok());
  net.pump();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 5, 9)).ok());
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.sent.clear();
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  const auto& b = net.members[1].manager->counters();
  EXPECT_EQ(b.rebuilt_round_trip.load(), 1u);
  EXPECT_EQ(b.txs_requested.load(), 5u);
  EXPECT_EQ(b.fell_back.load(), 0u);
  EXPECT_EQ(net.sent[msg::kGetBlockTxn], 1u);
  EXPECT_EQ(net.sent[msg::kBlock], 0u);
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, GetBlockTxnForARecentBlockIsAnsweredOnArrival) {
  // Node 0's message thread may be blocked on the chain lock (its own connect of the very block
  // asked about): a getblocktxn for a recent block is answered by deliver() itself, on the
  // thread that read it, not queued behind it. A malformed one is queued and scored as before.
  PeerManagerOptions o;
  o.max_prefilled = 0;
  o.queue_messages = true;
  FakeNet net(2, params(), o);
  PeerManager& m0 = *net.members[0].manager;
  net.connect(0, 1);
  net.pump();
  while (m0.handle_queued_messages(std::chrono::milliseconds(0)) > 0) {
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 5, 9)).ok());
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  // Node 1 takes the sketch, lacks the five unannounced transfers and asks for them.
  std::optional<Envelope> ask;
  for (int guard = 0; guard < 100 && !ask; ++guard) {
    Envelope e;
    {
      std::lock_guard lock(net.mu);
      if (net.queue.empty()) break;
      e = std::move(net.queue.front());
      net.queue.pop_front();
    }
    if (e.to == 0 && e.type == msg::kGetBlockTxn) ask = std::move(e);
    else if (e.to == 1) net.members[1].manager->on_message(e.from, e.type, std::move(e.payload));
  }
  ASSERT_TRUE(ask);
  net.sent.clear();
  EXPECT_TRUE(m0.deliver(1, msg::kGetBlockTxn, std::move(ask->payload)));
  EXPECT_EQ(m0.queued_messages(), 0u);
  EXPECT_EQ(net.sent[msg::kBlockTxn], 1u);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.members[1].manager->counters().rebuilt_round_trip.load(), 1u);

  // Malformed: not answered on arrival; the queue's handler scores it.
  EXPECT_TRUE(m0.deliver(1, msg::kGetBlockTxn, util::Bytes{1, 2, 3}));
  EXPECT_EQ(m0.queued_messages(), 1u);
  while (m0.handle_queued_messages(std::chrono::milliseconds(0)) > 0) {
  }
  ASSERT_EQ(net.bans.size(), 1u);
  EXPECT_EQ(net.bans[0].first, 1u);
}

TEST(PeerManager, CompactRelayOffSendsWholeBlocks) {
  PeerManagerOptions o;
  o.compact_relay = false;
  FakeNet net(2, params(), o);
  net.connect(0, 1);
  net.pump();
  ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 1, 9)).ok());
  net.pump();
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(net.sent[msg::kSendCmpct] + net.sent[msg::kCmpctBlock], 0u);
  EXPECT_EQ(net.sent[msg::kBlock], 1u);
}

namespace {

// Delivers what is queued for node `to` (the honest node) and returns, in order, what it sent
// to the other nodes (the hostile peer, played by the test).
std::vector<Envelope> deliver_to(FakeNet& net, size_t to) {
  std::vector<Envelope> out;
  for (int round = 0; round < 50 && !net.queue.empty(); ++round) {
    auto e = std::move(net.queue.front());
    net.queue.pop_front();
    if (e.to != to) {
      out.push_back(std::move(e));
      continue;
    }
    if (net.links.count({e.from, e.to})) net.members[e.to].manager->on_message(e.from, e.type, std::move(e.payload));
  }
  return out;
}

primitives::Transaction dev_transfer(uint32_t from, uint64_t nonce) {
  return primitives::make_transfer(params().chain_id, consensus::dev_account_key(from),
                                   consensus::dev_account_key(20).pubkey(), 100, 1, nonce);
}

std::vector<primitives::TxId> ids_of(const primitives::Block& b) {
  std::vector<primitives::TxId> ids;
  for (const auto& t : b.txs) ids.push_back(t.id());
  return ids;
}

bool sent_type(const std::vector<Envelope>& out, uint16_t type) {
  for (const auto& e : out)
    if (e.type == type) return true;
  return false;
}

}  // namespace

TEST(PeerManager, HostileSketchesAreScoredOrFallBack) {
  FakeNet net(2, params());
  net.connect(0, 1);
  (void)deliver_to(net, 0);
  Forge forge(params());
  auto reconnect = [&] {
    net.connect(0, 1);
    (void)deliver_to(net, 0);
  };

  // Undecodable: +100.
  net.queue.push_back({1, 0, msg::kCmpctBlock, util::Bytes{1, 2, 3}});
  (void)deliver_to(net, 0);
  ASSERT_EQ(net.bans.size(), 1u);
  EXPECT_NE(net.bans[0].second.find("malformed cmpctblock"), std::string::npos) << net.bans[0].second;

  // A header with a bad proof of work: +100, as an invalid header.
  reconnect();
  auto bad = forge.make(params().genesis_id);
  bad.header.bits = 0x1d00ffff;
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(make_compact_block(bad, ids_of(bad), 1, {}))});
  (void)deliver_to(net, 0);
  ASSERT_EQ(net.bans.size(), 2u);
  EXPECT_NE(net.bans[1].second.find("invalid cmpctblock header"), std::string::npos) << net.bans[1].second;

  // Two transfers of the sketch share a short id: no penalty, the block is asked for whole,
  // and the whole block is taken.
  reconnect();
  auto b1 = forge.make(params().genesis_id, {dev_transfer(3, 0), dev_transfer(4, 0), dev_transfer(5, 0)});
  auto cb = make_compact_block(b1, ids_of(b1), 7, {});
  cb.short_ids[2] = cb.short_ids[0];
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(cb)});
  auto out = deliver_to(net, 0);
  EXPECT_EQ(net.bans.size(), 2u);
  ASSERT_TRUE(sent_type(out, msg::kGetData));
  EXPECT_EQ(net.members[0].manager->counters().fell_back.load(), 1u);
  net.queue.push_back({1, 0, msg::kBlock, primitives::encode_block(b1)});
  (void)deliver_to(net, 0);
  ASSERT_EQ(net.chain(0).tip().id, b1.id());

  // A blocktxn that does not match the request (a transfer of another slot): +100.
  auto b2 = forge.make(b1.id(), {dev_transfer(6, 0), dev_transfer(7, 0)});
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(make_compact_block(b2, ids_of(b2), 8, {}))});
  out = deliver_to(net, 0);
  ASSERT_TRUE(sent_type(out, msg::kGetBlockTxn));
  net.queue.push_back({1, 0, msg::kBlockTxn, encode_blocktxn({b2.id(), {b2.txs[1], b2.txs[0]}})});
  (void)deliver_to(net, 0);
  ASSERT_EQ(net.bans.size(), 3u);
  EXPECT_NE(net.bans[2].second.find("blocktxn does not match"), std::string::npos) << net.bans[2].second;
  EXPECT_EQ(net.chain(0).tip().id, b1.id());

  // A blocktxn nobody asked for is ignored; a getblocktxn beyond the block scores 100.
  reconnect();
  net.queue.push_back({1, 0, msg::kBlockTxn, encode_blocktxn({b2.id(), {b2.txs[0]}})});
  (void)deliver_to(net, 0);
  EXPECT_EQ(net.bans.size(), 3u);
  net.queue.push_back({1, 0, msg::kGetBlockTxn, encode_getblocktxn({b1.id(), {0, 3}})});
  (void)deliver_to(net, 0);
  ASSERT_EQ(net.bans.size(), 4u);
  EXPECT_NE(net.bans[3].second.find("getblocktxn index"), std::string::npos) << net.bans[3].second;

  // The honest version of b2 then crosses as a sketch plus the right blocktxn.
  reconnect();
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(make_compact_block(b2, ids_of(b2), 9, {1}))});
  out = deliver_to(net, 0);
  ASSERT_TRUE(sent_type(out, msg::kGetBlockTxn));
  net.queue.push_back({1, 0, msg::kBlockTxn, encode_blocktxn({b2.id(), {b2.txs[0]}})});
  (void)deliver_to(net, 0);
  EXPECT_EQ(net.chain(0).tip().id, b2.id());
  EXPECT_EQ(net.bans.size(), 4u);
}

// A getblocktxn for a block that is no longer among the recent ones (under load they turn over
// between a sketch and the request) is answered with the whole block, and one for a block we do
// not hold with notfound: never silence, which left the asker waiting 15 s.
TEST(PeerManager, GetBlockTxnForAnOlderBlockIsAnsweredWhole) {
  FakeNet net(2, params());
  net.connect(0, 1);
  (void)deliver_to(net, 0);
  Forge forge(params());
  auto b1 = forge.make(params().genesis_id, {dev_transfer(3, 0), dev_transfer(4, 0)});
  ASSERT_TRUE(net.chain(0).process_block(b1).ok());
  // Five blocks on top: b1 leaves the recent ones (PeerManagerOptions::recent_blocks, 4).
  auto parent = b1.id();
  for (int i = 0; i < 5; ++i) {
    auto b = forge.make(parent);
    ASSERT_TRUE(net.chain(0).process_block(b).ok());
    parent = b.id();
  }
  (void)deliver_to(net, 0);
  net.queue.clear();
  net.queue.push_back({1, 0, msg::kGetBlockTxn, encode_getblocktxn({b1.id(), {1}})});
  auto out = deliver_to(net, 0);
  EXPECT_TRUE(sent_type(out, msg::kBlock));
  EXPECT_FALSE(sent_type(out, msg::kBlockTxn));
  auto unknown = forge.make(b1.id(), {}, nullptr, 7);  // a sibling never sent to node 0
  net.queue.push_back({1, 0, msg::kGetBlockTxn, encode_getblocktxn({unknown.id(), {0}})});
  out = deliver_to(net, 0);
  EXPECT_TRUE(sent_type(out, msg::kNotFound));
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, TooManyPendingRebuildsFallBackToTheBlock) {
  PeerManagerOptions o;
  o.max_rebuilds_per_peer = 1;
  FakeNet net(2, params(), o);
  net.connect(0, 1);
  (void)deliver_to(net, 0);
  Forge forge(params());
  // Two sibling blocks with transfers node 0 lacks: the first waits for its blocktxn, the
  // second (a sibling, so also a new tip while the first is unprocessed) is fetched whole.
  auto a = forge.make(params().genesis_id, {dev_transfer(3, 0)});
  auto b = forge.make(params().genesis_id, {dev_transfer(4, 0)}, nullptr, 1);
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(make_compact_block(a, ids_of(a), 1, {}))});
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(make_compact_block(b, ids_of(b), 2, {}))});
  auto out = deliver_to(net, 0);
  EXPECT_TRUE(sent_type(out, msg::kGetBlockTxn));
  EXPECT_TRUE(sent_type(out, msg::kGetData));
  EXPECT_EQ(net.members[0].manager->counters().fell_back.load(), 1u);
  EXPECT_TRUE(net.bans.empty());
}

TEST(PeerManager, InvalidBlockFromASketchCostsTheRelayerNothing) {
  // Sketches are relayed before validation: a block whose header holds but whose transfer is
  // forged is refused, and the honest relayer keeps its connection (BIP152). The same block
  // sent whole costs the full score.
  FakeNet net(2, params());
  net.connect(0, 1);
  (void)deliver_to(net, 0);
  Forge forge(params());
  auto forged = dev_transfer(3, 0);
  forged.amount += 1;  // the signature no longer matches
  auto b = forge.make(params().genesis_id, {forged});
  net.queue.push_back({1, 0, msg::kCmpctBlock, encode_cmpctblock(make_compact_block(b, ids_of(b), 1, {0}))});
  (void)deliver_to(net, 0);
  EXPECT_EQ(net.members[0].manager->counters().rebuilt_no_round_trip.load(), 1u);
  EXPECT_EQ(net.chain(0).tip().height, 0u);
  EXPECT_TRUE(net.bans.empty());
  auto b2 = forge.make(params().genesis_id, {forged}, nullptr, 2);
  net.queue.push_back({1, 0, msg::kBlock, primitives::encode_block(b2)});
  (void)deliver_to(net, 0);
  ASSERT_EQ(net.bans.size(), 1u);
  EXPECT_NE(net.bans[0].second.find("bad-signature"), std::string::npos) << net.bans[0].second;
}

// A whole block on our tip whose body does not match its header's Merkle root (two transfers
// swapped: every transfer valid, the proof of work intact) is refused as such, although its
// ids were taken on arrival to decide whether to sketch it on: only a rebuilt block's root
// (compared by PartialBlock::take) is not computed again by the checks.
TEST(PeerManager, AWholeBlockWhoseBodyDoesNotMatchItsRootIsRefused) {
  FakeNet net(2, params());
  net.connect(0, 1);
  (void)deliver_to(net, 0);
  Forge forge(params());
  auto b = forge.make(params().genesis_id, {dev_transfer(3, 0), dev_transfer(4, 0)});
  auto mutated = b;
  std::swap(mutated.txs[0], mutated.txs[1]);
  ASSERT_EQ(mutated.id(), b.id());
  net.queue.push_back({1, 0, msg::kBlock, primitives::encode_block(mutated)});
  (void)deliver_to(net, 0);
  EXPECT_EQ(net.chain(0).tip().height, 0u);
  ASSERT_EQ(net.bans.size(), 1u);
  EXPECT_NE(net.bans[0].second.find("bad-merkle-root"), std::string::npos) << net.bans[0].second;
  // The block itself, from a peer that sends it as it is, connects.
  net.connect(0, 1);
  (void)deliver_to(net, 0);
  net.queue.push_back({1, 0, msg::kBlock, primitives::encode_block(b)});
  (void)deliver_to(net, 0);
  EXPECT_EQ(net.chain(0).tip().id, b.id());
}

// A block with more work than the tip announces itself to the node's miner (on_better_block)
// when its sketch or body arrives, before it is validated: whole or as a sketch, not for a
// sibling of the tip (equal work: mining on our own tip still races fairly).
TEST(PeerManager, BetterBlockIsAnnouncedToTheMinerBeforeItIsValidated) {
  for (bool compact : {true, false}) {
    SCOPED_TRACE(compact ? "sketch" : "whole block");
    FakeNet* netp = nullptr;
    std::vector<std::pair<uint32_t, uint32_t>> seen;  // (announced height, node 1's tip then)
    PeerManagerOptions o;
    o.compact_relay = compact;
    o.on_better_block = [&](uint32_t h) { seen.emplace_back(h, netp->chain(1).tip().height); };
    FakeNet net(2, params(), o);
    netp = &net;
    // A sibling first: both mine height 1 apart, then meet. Equal work: nothing announced.
    ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
    ASSERT_EQ(chain::Miner::generate(net.chain(1), consensus::dev_account_key(1).pubkey(), 1).size(), 1u);
    net.connect(0, 1);
    net.pump();
    EXPECT_TRUE(seen.empty());
    // Node 0 extends its branch: node 1 hears of height 2 while its tip is still at 1.
    seen.clear();
    ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
    net.pump();
    ASSERT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), std::make_pair(2u, 1u));
  }
}

// The miner's own block: its sketch leaves before the miner connects it, and the connect that
// follows sends nothing more to a peer that already has it.
TEST(PeerManager, MinedBlockSketchLeavesBeforeItsMinerConnectsIt) {
  FakeNet net(2, params());
  net.connect(0, 1);
  net.pump();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 3, 9)).ok());
  net.pump();
  auto tmpl = net.chain(0).create_template(consensus::dev_account_key(0).pubkey());
  uint64_t hashes = 0;
  ASSERT_TRUE(chain::Miner::solve(tmpl, [] { return false; }, hashes));
  net.sent.clear();
  net.members[0].manager->relay_mined_block(tmpl.block);
  net.pump();
  EXPECT_EQ(net.chain(1).tip().id, tmpl.block.id());
  EXPECT_EQ(net.chain(0).tip().height, 0u);  // not connected by its miner yet
  EXPECT_EQ(net.sent[msg::kCmpctBlock], 1u);
  ASSERT_TRUE(net.chain(0).process_block(tmpl.block).ok());
  net.pump();
  EXPECT_EQ(net.chain(0).tip().id, tmpl.block.id());
  EXPECT_EQ(net.sent[msg::kCmpctBlock], 1u);
  EXPECT_EQ(net.sent[msg::kBlock] + net.sent[msg::kHeaders], 0u);
  EXPECT_TRUE(net.bans.empty());
}

// Low-bandwidth compact relay (BIP152): with no peer asked to push sketches, a block announced
// by its header is asked for as a sketch (getdata kCmpctBlock) when it extends the tip, and
// rebuilt from the mempool; a block no longer among the sender's recent ones comes whole.
TEST(PeerManager, LowBandwidthPeersAskForTheSketchOfAnAnnouncedBlock) {
  PeerManagerOptions o;
  o.compact_hb_peers = 0;
  FakeNet net(3, params(), o);
  net.connect(0, 1);
  net.connect(1, 2);
  net.pump();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(net.chain(0).submit_transaction(transfer(net.chain(0), 1 + i % 3, 9)).ok());
  net.pump();
  ASSERT_EQ(net.chain(2).mempool_size(), 30u);
  net.sent.clear();
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.pump();
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(net.chain(i).tip().id, net.chain(0).tip().id) << i;
    const auto& c = net.members[i].manager->counters();
    EXPECT_EQ(c.rebuilt_no_round_trip.load(), 1u) << i;
    EXPECT_EQ(c.fell_back.load(), 0u) << i;
  }
  EXPECT_EQ(net.sent[msg::kHeaders], 2u);     // announced by header, hop by hop
  EXPECT_EQ(net.sent[msg::kCmpctBlock], 2u);  // each hop answered with a sketch
  EXPECT_EQ(net.sent[msg::kBlock], 0u);
  EXPECT_TRUE(net.bans.empty());

  // Five more blocks: the first leaves node 0's recent ones; asked for as a sketch, it comes whole.
  const auto first = net.chain(0).tip().id;
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 5).size(), 5u);
  net.pump();
  net.sent.clear();
  net.members[0].manager->on_message(1, msg::kGetData, encode_inv({{InvKind::kCmpctBlock, first}}));
  net.pump();
  EXPECT_EQ(net.sent[msg::kBlock], 1u);
  EXPECT_EQ(net.sent[msg::kCmpctBlock], 0u);
  EXPECT_TRUE(net.bans.empty());
}

// A peer asking again and again for the sketch of a recent block gets one sketch; the
// repeats are served whole through the getdata queue and its byte budget.
TEST(PeerManager, RepeatedSketchRequestsAreServedWhole) {
  PeerManagerOptions o;
  o.compact_hb_peers = 0;
  FakeNet net(2, params(), o);
  net.connect(0, 1);
  net.pump();
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  net.pump();
  const auto tip = net.chain(0).tip().id;
  ASSERT_EQ(net.chain(1).tip().id, tip);
  net.sent.clear();
  for (int i = 0; i < 3; ++i)
    net.members[0].manager->on_message(1, msg::kGetData, encode_inv({{InvKind::kCmpctBlock, tip}}));
  net.pump();
  EXPECT_EQ(net.sent[msg::kCmpctBlock], 0u);  // node 1 already had its sketch
  EXPECT_EQ(net.sent[msg::kBlock], 3u);
  EXPECT_TRUE(net.bans.empty());
}

// The node's mode (queue_messages): messages wait in an inbox drained by their own thread, so
// the network thread never waits for the chain lock. Block traffic is handled before
// transaction relay queued ahead of it; a better block holds the miner on arrival, before any
// handler runs; a peer whose waiting messages pass the cap is not read from (deliver() says
// so) until they drain to half, when resume_reading is called once.
TEST(PeerManager, InboxHandlesBlocksFirstHoldsTheMinerOnArrivalAndPausesAFlood) {
  FakeNet* netp = nullptr;
  std::vector<std::pair<uint32_t, uint32_t>> held;  // (announced height, node 1's tip then)
  PeerManagerOptions o;
  o.queue_messages = true;
  o.max_inbox_bytes_per_peer = 20'000;
  o.on_better_block = [&](uint32_t h) { held.emplace_back(h, netp->chain(1).tip().height); };
  FakeNet net(2, params(), o);
  netp = &net;
  PeerManager& m1 = *net.members[1].manager;
  auto drain_inbox = [&] {  // FakeNet::pump delivers with on_message; the inbox is drained too
    while (m1.handle_queued_messages(std::chrono::milliseconds(0)) > 0) {
    }
  };
  net.connect(0, 1);
  net.pump();
  drain_inbox();
  ASSERT_EQ(m1.queued_messages(), 0u);

  // Node 0 floods invs of unknown transfers: 10 x 100 ids, 3,300 bytes each.
  bool paused_on_arrival = false;
  for (int k = 0; k < 10; ++k) {
    std::vector<InvItem> items;
    for (int i = 0; i < 100; ++i) {
      primitives::TxId id;
      id.data[0] = static_cast<uint8_t>(k);
      id.data[1] = static_cast<uint8_t>(i);
      id.data[31] = 0x5a;
      items.push_back({InvKind::kTx, id});
    }
    if (!m1.deliver(0, msg::kInv, encode_inv(items))) paused_on_arrival = true;
  }
  EXPECT_TRUE(paused_on_arrival);
  EXPECT_TRUE(m1.inbox_full(0));
  EXPECT_EQ(m1.queued_messages(), 10u);

  // Then node 0 mines a block: its sketch arrives behind the flood.
  ASSERT_EQ(chain::Miner::generate(net.chain(0), consensus::dev_account_key(0).pubkey(), 1).size(), 1u);
  std::vector<Envelope> to1;
  {
    std::lock_guard lock(net.mu);
    for (auto& e : net.queue)
      if (e.to == 1) to1.push_back(std::move(e));
    std::erase_if(net.queue, [](const Envelope& e) { return e.to == 1; });
  }
  ASSERT_EQ(to1.size(), 1u);
  ASSERT_EQ(to1[0].type, msg::kCmpctBlock);
  EXPECT_FALSE(m1.deliver(0, to1[0].type, std::move(to1[0].payload)));  // still over the cap
  // The miner heard of height 1 on arrival, node 1's tip still at 0, nothing handled yet.
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0], std::make_pair(1u, 0u));
  EXPECT_EQ(m1.queued_messages(), 11u);

  // One message handled: the sketch, ahead of the ten invs.
  EXPECT_EQ(m1.handle_queued_messages(std::chrono::milliseconds(0), 1), 1u);
  EXPECT_EQ(net.chain(1).tip().id, net.chain(0).tip().id);
  EXPECT_EQ(m1.queued_messages(), 10u);
  EXPECT_TRUE(net.resumed.empty());

  // The rest: reading resumes once, when under half the cap.
  drain_inbox();
  EXPECT_FALSE(m1.inbox_full(0));
  ASSERT_EQ(net.resumed.size(), 1u);
  EXPECT_EQ(net.resumed[0], std::make_pair(size_t{1}, PeerId{0}));
  // The invs were handled: the unknown transfers were asked for.
  EXPECT_GE(net.sent[msg::kGetData], 1u);
  EXPECT_TRUE(net.bans.empty());
}

// A disconnected peer's waiting messages are dropped unhandled and its budget forgotten.
TEST(PeerManager, InboxForgetsADisconnectedPeer) {
  PeerManagerOptions o;
  o.queue_messages = true;
  o.max_inbox_bytes_per_peer = 1'000;
  FakeNet net(2, params(), o);
  PeerManager& m1 = *net.members[1].manager;
  net.connect(0, 1);
  net.pump();
  while (m1.handle_queued_messages(std::chrono::milliseconds(0)) > 0) {
  }
  EXPECT_FALSE(m1.deliver(0, msg::kBlock, util::Bytes(2'000, 0xff)));  // malformed, if it were handled
  EXPECT_TRUE(m1.inbox_full(0));
  net.cut(0, 1);
  EXPECT_FALSE(m1.inbox_full(0));
  EXPECT_EQ(m1.handle_queued_messages(std::chrono::milliseconds(0)), 1u);
  EXPECT_TRUE(net.bans.empty());  // dropped, not judged: the peer was gone
  EXPECT_TRUE(net.resumed.empty());
}
