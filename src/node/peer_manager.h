// node/peer_manager.h — the peer protocol's logic: what to send to whom when a block, header
// or transaction arrives (relay, headers-first sync, block download from several peers,
// misbehaviour scoring). Bitcoin's net_processing to net's net.cpp.
//
// It talks to the transport only through PeerNetwork, so tests drive it over an in-memory
// network and the node wires it to net::NetManager.
//
// Thread-safety: every method may be called from any thread. Chain calls are made without
// holding the manager's lock (the chain fires events back into it synchronously).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chain/chainstate.h"
#include "net/handshake.h"
#include "node/compact.h"
#include "node/protocol.h"
#include "util/clock.h"
#include "util/metrics.h"

namespace peerchain::node {

using PeerId = uint64_t;

// The transport seen from the protocol logic.
class PeerNetwork {
 public:
  virtual ~PeerNetwork() = default;
  // Queues a message; false if the peer is gone or its queue is full.
  virtual bool send(PeerId peer, uint16_t type, util::Bytes payload) = 0;
  virtual void disconnect(PeerId peer, const std::string& reason) = 0;
  // Disconnects and refuses the peer's host for `duration_ms`.
  virtual void ban(PeerId peer, int64_t duration_ms, const std::string& reason) = 0;
  // Bytes queued to the peer and not yet written (0 when unknown). Serving blocks pauses while
  // this is above PeerManagerOptions::serve_pause_bytes, so a peer that does not read gets no
  // more of our disk and CPU than its queue holds.
  virtual size_t queued_bytes(PeerId /*peer*/) const { return 0; }
  // Reads from the peer again after deliver() returned false for it.
  virtual void resume_reading(PeerId /*peer*/) {}
};

struct PeerManagerOptions {
  int ban_score = 100;                       // default: disconnect and ban at 100 points
  int64_t ban_ms = 10 * 60 * 1000;           // default: banned for 10 minutes
  size_t max_blocks_in_flight = 16;          // default: per peer
  int64_t block_timeout_ms = 15'000;         // default: re-request a block elsewhere after 15 s
  int64_t headers_poll_ms = 10'000;          // default: ask every peer for headers every 10 s
  size_t max_known_per_peer = 50'000;        // default: inventory remembered per peer
  // Messages from peers wait in an inbox that handle_queued_messages() drains on its own thread,
  // so the network thread only reads, decrypts and frames: a handler waiting for the chain lock
  // (a connect holds it for hundreds of ms under load) no longer stops every connection's reads
  // and writes, the sketch of a block we mine among them. Block traffic (sketches, blocks,
  // headers, blocktxn) is handled before transaction relay (inv, tx, txs, getdata, mempool).
  // false: each message is handled inline on arrival (tests, the simulator).
  bool queue_messages = false;
  // default: a peer whose waiting messages pass 4 MiB is not read from until they drain to half
  size_t max_inbox_bytes_per_peer = 4u << 20;
  // Transactions from peers wait in a queue that admit_queued_txs() drains in batches (their
  // signatures checked on every core, off the network thread, so blocks and headers are never
  // stuck behind them). false: each is admitted inline on arrival (tests).
  bool queue_txs = false;
  size_t max_queued_txs = 100'000;           // default: beyond this, arriving transactions are dropped
  // Blocks from peers wait in a queue that process_queued_blocks() drains on its own thread, so
  // the network thread keeps reading (and serving peers) while blocks validate, and the
  // signatures of every waiting block are checked together on every core. false: each block is
  // processed inline on arrival (tests).
  bool queue_blocks = false;
  // default: from half this many bytes waiting no block is requested; beyond it an arriving block
  // is dropped (and asked for again later)
  size_t max_queued_block_bytes = 64u << 20;
  // getdata: blocks we have wait in a per-peer queue and are served a budget at a time (on
  // arrival and on every tick()), so one request never holds the network thread for long.
  // default: at most 128 blocks wait per peer; a getdata naming more gets notfound for the rest
  size_t max_pending_getdata_blocks = 128;
  size_t serve_bytes_per_turn = 4u << 20;    // default: 4 MiB of blocks per peer per turn
  size_t serve_pause_bytes = 8u << 20;       // default: no block served while 8 MiB wait to be sent
  // Headers pre-sync (Bitcoin Core 24's anti-DoS headers sync): a branch's headers are stored
  // only once its cumulative work reaches the tip's minus this many blocks at the tip's target.
  // Before that they are checked and counted, not stored. default: 6 blocks
  uint32_t low_work_margin_blocks = 6;
  // default: a low-work branch is followed for at most 1,000,000 headers per peer (about 16 KiB
  // of commitments), then dropped
  uint64_t max_presync_headers = 1'000'000;
  // default: a pre-sync with no step forward for 30 s is dropped (the next header poll starts
  // it again); messages that do not continue it are ignored meanwhile
  int64_t presync_stall_ms = 30'000;
  // default: one mempool request answered per connection, with at most 50,000 ids
  size_t max_mempool_inv = 50'000;
  // Compact block relay (node/compact.h; docs/spec/p2p.md "Compact blocks"). default: on. Off:
  // no sendcmpct is sent, so peers announce with headers and send full blocks, as before.
  bool compact_relay = true;
  // default: none. Called (on the network thread) with the height of a block that a peer sent
  // whole or as a sketch, whose header holds and gives more work than our tip, before its body
  // is rebuilt and validated: the node's miner holds its hashing meanwhile (chain::Miner::hold).
  std::function<void(uint32_t height)> on_better_block;
  // default: 3 peers are asked to push sketches (high bandwidth): the last ones whose block
  // became our tip first; the first connected fill the slots until then
  size_t compact_hb_peers = 3;
  // default: 2 sketches per peer may wait for a blocktxn; a further one falls back to the block
  size_t max_rebuilds_per_peer = 2;
  // default: at most 1,000 transactions of a sketch are sent whole (those the peer was never
  // told of nor told us of); the rest go as short ids and are asked for if missing
  size_t max_prefilled = 1000;
  // default: the last 4 blocks seen stay in memory: getblocktxn is answered from them only, and
  // their transactions help rebuild a sibling (a fork's transactions left the mempool)
  size_t recent_blocks = 4;
  // Where sketch salts come from (the node's seeded randomness); a salt is never predictable
  // from the block alone. default: 0 (tests)
  uint64_t salt_seed = 0;
};

// What the peer protocol counts for /metrics. Thread-safe.
struct PeerCounters {
  util::DurationHistogram block_processing;  // a peer's block: validation and connect (seconds)
  util::ReasonCounter blocks_rejected;       // peers' blocks refused, by reason token
  util::ReasonCounter txs_rejected;          // peers' transactions refused, by reason token
  std::atomic<uint64_t> bans{0};             // peers banned for misbehaving
  std::atomic<uint64_t> reading_pauses{0};   // a peer's inbox passed its budget: reading it paused
  // Time to validate and connect a peer's block, per transfer, in ns: a moving average over
  // blocks of at least 256 transfers that became the tip (0 until one did). It includes waiting
  // for the chain and for the cores, so it is what a block costs this node under its present
  // load; the miner's block-size policy reads it (chain::policy_block_txs).
  std::atomic<uint64_t> validation_ns_per_tx{0};
  // Compact blocks. A sketch received ends in exactly one of: rebuilt without a round trip,
  // rebuilt after a getblocktxn, fell back to the full block, or ignored (not a new tip, or
  // already known).
  std::atomic<uint64_t> sketches_received{0};
  std::atomic<uint64_t> sketches_requested{0};  // getdata kCmpctBlock sent (low-bandwidth mode)
  std::atomic<uint64_t> rebuilt_no_round_trip{0};
  std::atomic<uint64_t> rebuilt_round_trip{0};
  std::atomic<uint64_t> fell_back{0};
  std::atomic<uint64_t> txs_requested{0};        // transactions asked for with getblocktxn
  std::atomic<uint64_t> sketches_sent{0};
  std::atomic<uint64_t> sketch_bytes_sent{0};    // cmpctblock payloads
  std::atomic<uint64_t> sketched_block_bytes{0}; // the full encodings of the blocks sent as sketches
  std::atomic<uint64_t> blocktxn_bytes_sent{0};
  std::atomic<uint64_t> blocks_sent_full{0};     // block messages (getdata answers)
  std::atomic<uint64_t> block_bytes_sent{0};
};

struct PeerStats {
  PeerId id = 0;
  std::string address;
  bool inbound = false;
  int score = 0;
  uint32_t best_height = 0;   // best height the peer has shown us
  size_t blocks_in_flight = 0;
};

// A branch being pre-synced (see low_work_margin_blocks). Phase 1 checks the peer's headers
// without storing them and remembers the last id of every batch; once the branch has
// enough work, phase 2 asks for it again from the fork and stores each batch whose last id
// matches the one remembered (the id commits to every header before it).
struct HeaderPresync {
  chain::ChainState::HeaderRun run;  // phase 1: where the checked branch ends
  primitives::BlockId fork;          // the stored parent of the branch's first header
  uint64_t count = 0;                // headers checked in phase 1
  std::vector<std::pair<uint64_t, primitives::BlockId>> marks;  // (count so far, last id) per batch
  bool redownload = false;           // phase 2
  uint64_t stored = 0;               // phase 2: headers stored so far
  primitives::BlockId stored_last;   // phase 2: the last stored header
  int64_t progress_ms = 0;           // timer ms of the last step forward (a stall ends it)
};

class PeerManager {
 public:
  PeerManager(chain::ChainState& chain, PeerNetwork& net, const util::Clock& clock,
              PeerManagerOptions opts = {});

  // Transport events.
  // `protocol_version`: from the peer's hello (kProtocolVersionTxs and later get `txs` batches).
  void on_connected(PeerId id, const std::string& address, bool inbound, uint32_t best_height,
                    uint32_t protocol_version = net::kProtocolVersion);
  void on_message(PeerId id, uint16_t type, util::Bytes payload);
  void on_disconnected(PeerId id);
  // A message off the wire, on the network thread. With PeerManagerOptions::queue_messages it
  // is queued for handle_queued_messages(); a sketch or block that extends our tip holds the
  // miner first (ChainState::extends_tip, no chain lock). Returns false when the peer's waiting
  // messages are over max_inbox_bytes_per_peer: read no more from it until
  // PeerNetwork::resume_reading. Without queue_messages: on_message(), true.
  bool deliver(PeerId id, uint16_t type, util::Bytes payload);
  // With queue_messages: waits up to `wait` for messages and handles those waiting (block
  // traffic first), at most `max` of them. Returns how many it handled.
  size_t handle_queued_messages(std::chrono::milliseconds wait, size_t max = 256);
  size_t queued_messages() const;
  // Whether reading from the peer is paused for its full inbox (asked after each read).
  bool inbox_full(PeerId id) const;

  // Chain events (from ChainEvents): announce to peers.
  void on_tip_changed(const chain::TipInfo& tip);
  // Our miner found `block` (on our tip, from our own template): its sketch goes to the
  // high-bandwidth peers now, before we connect it ourselves, so they rebuild and validate it
  // while we do (BIP152's relay before validation, for the miner's own block too). The other
  // peers get its header when it is connected (on_tip_changed), as before. Thread-safe.
  // `ids`: its transactions' ids (the template's), if the caller has them.
  void relay_mined_block(const primitives::Block& block, const std::vector<primitives::TxId>& ids = {});
  void on_tx_accepted(const primitives::TxId& id);

  // Timers: flushes batched announcements, retries stalled downloads, polls for headers.
  // Call every ~100 ms.
  void tick();

  // With PeerManagerOptions::queue_txs: waits up to `wait` for queued transactions, admits up
  // to a batch of them, and scores the peers that sent invalid ones. Returns how many it took.
  size_t admit_queued_txs(std::chrono::milliseconds wait);
  size_t queued_txs() const;
  // With PeerManagerOptions::queue_blocks, two stages, each on its own thread: verify_queued_blocks()
  // waits up to `wait` for arrived blocks and checks the signatures of all of them together;
  // process_queued_blocks() waits up to `wait` for verified ones and validates and connects
  // them in arrival order. Each returns how many blocks it handled.
  size_t verify_queued_blocks(std::chrono::milliseconds wait);
  size_t process_queued_blocks(std::chrono::milliseconds wait);
  size_t queued_blocks() const;

  std::vector<PeerStats> stats() const;
  const PeerCounters& counters() const { return counters_; }
  // Points a misbehaving peer gets for a rejection from the chain (0: not its fault).
  static int penalty(consensus::RejectCode code);

 private:
  struct Peer {
    std::string address;
    bool inbound = false;
    int score = 0;
    uint32_t best_height = 0;
    std::unordered_set<crypto::Hash256, util::FixedBytesHasher> known;
    std::deque<crypto::Hash256> known_order;  // eviction order for `known`
    std::map<primitives::BlockId, int64_t> in_flight;  // block -> requested at (ms)
    std::vector<InvItem> pending_inv;                  // announcements batched until tick()
    int64_t last_headers_request_ms = 0;
    int stalls = 0;  // blocks that timed out at this peer since it last delivered one
    // getdata for blocks, waiting to be served (in request order, each id once).
    std::deque<primitives::BlockId> getdata_blocks;
    std::unordered_set<primitives::BlockId, util::FixedBytesHasher> getdata_pending;
    bool serving = false;          // a thread is serving getdata_blocks (one at a time, in order)
    bool answered_mempool = false; // a mempool request is answered once per connection
    bool batch_txs = false;        // protocol >= kProtocolVersionTxs: answered with `txs`
    std::optional<HeaderPresync> presync;
    bool compact = false;        // sent sendcmpct: understands sketches
    bool push_sketches = false;  // asked us (sendcmpct 1) to push sketches unsolicited
    // Blocks we asked of it as sketches (getdata kCmpctBlock, low-bandwidth mode); each is also
    // in in_flight, which bounds this set.
    std::unordered_set<primitives::BlockId, util::FixedBytesHasher> sketch_asked;
    // The last blocks it got a sketch of on request (at most recent_blocks): a second request
    // for one is served whole through the getdata queue and its byte budget, so repeated
    // requests cannot make us encode sketches without limit.
    std::deque<primitives::BlockId> sketches_served;
    // Sketches waiting for the peer's blocktxn (at most max_rebuilds_per_peer); each is also in
    // in_flight, so the download timeout ends it.
    std::map<primitives::BlockId, PartialBlock> rebuilding;
  };
  // A block kept for getblocktxn and for rebuilding siblings, with its transaction ids.
  struct RecentBlock {
    primitives::BlockId id;
    std::shared_ptr<const primitives::Block> block;
    std::shared_ptr<const std::vector<primitives::TxId>> ids;
  };

  void handle_getheaders(PeerId id, util::ByteSpan payload);
  void handle_headers(PeerId id, util::ByteSpan payload);
  // Stores headers that reach min_branch_work (already checked), as headers-first sync did.
  void store_headers(PeerId id, const std::vector<primitives::BlockHeader>& headers);
  // Phase 2 of a pre-sync: stores the batch up to its remembered id, or abandons the pre-sync.
  void redownload_headers(PeerId id, const std::vector<primitives::BlockHeader>& headers);
  void handle_inv(PeerId id, util::ByteSpan payload);
  void handle_getdata(PeerId id, util::ByteSpan payload);
  void handle_tx(PeerId id, util::ByteSpan payload);
  void handle_txs(PeerId id, util::ByteSpan payload);
  // Relayed transfers (one `tx`, or a `txs` batch): queued for admission, or admitted at once.
  void take_txs(PeerId id, std::vector<primitives::Transaction> txs);
  void handle_block(PeerId id, util::ByteSpan payload);
  void handle_notfound(PeerId id, util::ByteSpan payload);
  void handle_mempool(PeerId id, util::ByteSpan payload);
  void handle_sendcmpct(PeerId id, util::ByteSpan payload);
  void handle_cmpctblock(PeerId id, util::ByteSpan payload);
  void handle_getblocktxn(PeerId id, util::ByteSpan payload);
  // A getblocktxn for one of the recent blocks, answered on the thread that read it (no chain
  // lock, no queue): false if it is for another block or malformed (then it is queued as any
  // message, and handle_getblocktxn answers or scores it).
  bool serve_recent_blocktxn(PeerId id, util::ByteSpan payload);
  // Sends the transactions `req` asks for from `block`; false if an index is out of range.
  bool send_blocktxn(PeerId id, const BlockTxnRequest& req, const primitives::Block& block);
  void handle_blocktxn(PeerId id, util::ByteSpan payload);
  // A rebuilt sketch: checked against its Merkle root and handed on as a delivered block.
  void finish_rebuild(PeerId id, const primitives::BlockId& bid, PartialBlock& pb, bool round_trip);
  // The sketch cannot be completed: the block is asked of the same peer whole (unless another
  // peer is fetching it already).
  void fall_back(PeerId id, const primitives::BlockId& bid, const std::string& why);
  // Pushes sketches of `rb` to the peers that asked for them and do not know it (never `from`).
  void push_sketches(const RecentBlock& rb, std::optional<PeerId> from);
  // One sketch of `rb` to `id` (the answer to its getdata kCmpctBlock).
  void send_sketch(PeerId id, const RecentBlock& rb);
  void send_cmpct(PeerId id, const RecentBlock& rb, uint64_t salt, const std::vector<uint32_t>& prefill);
  // REQUIRES mu_. A fresh salt for a sketch's short ids.
  uint64_t next_salt();
  // REQUIRES mu_. The positions of rb's transfers to send whole to `p`.
  std::vector<uint32_t> prefill_for(const Peer& p, const std::vector<primitives::TxId>& ids) const;
  // Keeps `block` among the recent ones (computing its ids once) and returns it.
  // nullopt when the body does not match the header's Merkle root: a mutated block (an honest
  // header with another body) is never kept, so it can neither be relayed as a sketch nor stand
  // in for the honest block of the same id. A block already kept with another body is replaced.
  std::optional<RecentBlock> remember_recent(primitives::Block block, const primitives::BlockId& bid);
  // The same for a block already shared and whose ids are known to match its Merkle root
  // (a rebuilt block: PartialBlock::take checked them).
  RecentBlock remember_recent(std::shared_ptr<const primitives::Block> block, const primitives::BlockId& bid,
                              std::shared_ptr<const std::vector<primitives::TxId>> ids);
  // The peer delivered our new tip first: it becomes (or stays) one of the high-bandwidth peers.
  void promote_hb(PeerId id);
  // A block delivered by a peer (whole, or rebuilt from a sketch when `sketch`), requested or not.
  // `ids`: the block's transaction ids if known (a rebuilt block), else null (taken later, once).
  // REQUIRES: with `sketch` and ids, their Merkle root matched the header's (PartialBlock::take).
  void take_block(PeerId id, primitives::Block block, const primitives::BlockId& bid, size_t bytes, bool sketch,
                  std::shared_ptr<const std::vector<primitives::TxId>> ids = nullptr);
  // Serves the peer's waiting getdata blocks, up to serve_bytes_per_turn and while its send
  // queue has room; the rest waits for the next turn (tick()). Abandons them if the peer goes
  // or a send fails.
  void serve_getdata(PeerId id);
  // Validates and stores a block from a peer, then updates its download state.
  // A block rebuilt from a sketch (`sketch`) was relayed before anyone validated it: its content
  // costs the peer nothing (BIP152); its header was checked before.
  // root_matched: the Merkle root of `ids` was compared with the header's (see take_block).
  void process_one_block(PeerId id, const primitives::Block& block, const primitives::BlockId& bid, bool sketch,
                         const std::vector<primitives::TxId>* ids = nullptr, bool root_matched = false);

  void send_getheaders(PeerId id, const std::vector<primitives::BlockId>& prefix = {});
  void request_blocks(PeerId id);
  void misbehave(PeerId id, int points, const std::string& why);
  void announce(const InvItem& item);
  // REQUIRES: mu_ held.
  void mark_known(Peer& p, const crypto::Hash256& id);
  // The time for local timers (download timeouts, header polls): clock_ with any backward step
  // ignored, so a wall clock set back (NTP, a skewed clock) cannot freeze them.
  // REQUIRES: mu_ held.
  int64_t timer_now_ms();

  chain::ChainState& chain_;
  PeerNetwork& net_;
  const util::Clock& clock_;
  const PeerManagerOptions opts_;

  mutable std::mutex mu_;
  std::map<PeerId, Peer> peers_;                       // GUARDED_BY(mu_)
  std::map<primitives::BlockId, PeerId> requested_;    // GUARDED_BY(mu_): block -> peer asked
  // Blocks delivered (whole or rebuilt) and waiting for or under validation: a further copy of
  // one, whole or as a sketch from another peer, is not rebuilt or queued again. At most the
  // block queue's blocks (max_queued_block_bytes) plus the one being connected.
  std::set<primitives::BlockId> taken_;                // GUARDED_BY(mu_)
  // Blocks refused as too far in the future (our clock may be behind): not asked for again
  // until the time given (timer ms), so a wrong clock cannot start a getdata/block loop.
  std::map<primitives::BlockId, int64_t> retry_after_;  // GUARDED_BY(mu_)
  int64_t timer_ms_ = 0;                               // GUARDED_BY(mu_): see timer_now_ms()
  std::optional<int64_t> last_wall_ms_;                // GUARDED_BY(mu_)
  std::deque<PeerId> hb_peers_;                        // GUARDED_BY(mu_): oldest first
  std::deque<RecentBlock> recent_;                     // GUARDED_BY(mu_): oldest first
  uint64_t salt_counter_ = 0;                          // GUARDED_BY(mu_)
  std::atomic<int64_t> last_progress_log_ms_{0};
  std::atomic<bool> catching_up_{false};
  PeerCounters counters_;  // behind the best header: "synced" is logged when it ends

  struct Inbound {
    PeerId peer = 0;
    uint16_t type = 0;
    util::Bytes payload;
    int64_t queued_ns = 0;  // clock_.steady_ns() when deliver() queued it
  };
  struct InboxPeer {
    size_t bytes = 0;
    bool paused = false;  // deliver() said stop reading; resumed once under half the cap
  };
  static bool bulk_type(uint16_t type);  // transaction relay: handled after block traffic
  mutable std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::deque<Inbound> inbox_blocks_;                   // GUARDED_BY(inbox_mu_)
  // When the message being handled was queued (0: handled on delivery): the message thread's
  // own, read by the sketch path's trace of where a block's time went.
  int64_t handling_queued_ns_ = 0;
  std::deque<Inbound> inbox_bulk_;                     // GUARDED_BY(inbox_mu_)
  std::unordered_map<PeerId, InboxPeer> inbox_peers_;  // GUARDED_BY(inbox_mu_)

  static constexpr size_t kAdmissionBatch = 256;
  struct QueuedTx {
    PeerId peer = 0;
    primitives::Transaction tx;
  };
  mutable std::mutex txq_mu_;
  std::condition_variable txq_cv_;
  std::vector<QueuedTx> txq_;                          // GUARDED_BY(txq_mu_)
  // Transactions declined while the admission queue was overloaded (announced and not asked
  // for, or delivered and dropped), with the peer that has them: tick() asks for them once the
  // queue has room, so they do not wait for their holder to mine them. At most max_queued_txs;
  // past that the oldest are forgotten.
  std::deque<std::pair<PeerId, primitives::TxId>> deferred_txs_;  // GUARDED_BY(txq_mu_)
  void defer_tx(PeerId peer, const primitives::TxId& id);          // REQUIRES: txq_mu_
  void fetch_deferred_txs();

  struct QueuedBlock {
    PeerId peer = 0;
    std::shared_ptr<const primitives::Block> block;  // shared with recent_ when it is sketched on
    std::shared_ptr<const std::vector<primitives::TxId>> ids;  // null until taken
    primitives::BlockId id;
    size_t bytes = 0;
    bool sketch = false;
    bool root_matched = false;  // ids' Merkle root compared with the header's (ChainState::process_block)
  };
  mutable std::mutex blkq_mu_;
  std::condition_variable blkq_cv_;
  std::condition_variable ready_cv_;
  std::deque<QueuedBlock> blkq_;                       // GUARDED_BY(blkq_mu_): arrived
  std::deque<QueuedBlock> ready_;                      // GUARDED_BY(blkq_mu_): signatures checked
  size_t blkq_bytes_ = 0;                              // GUARDED_BY(blkq_mu_): both queues
};

}  // namespace peerchain::node
