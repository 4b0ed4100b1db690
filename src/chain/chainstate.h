// chain/chainstate.h — the chain state machine: block index, active chain, account state,
// mempool; connect, disconnect and reorganise.
//
// Every block, whether mined here, received from a peer, generated over RPC or replayed by
// reindex, enters through process_block(); the state moves only by connect_tip/disconnect_tip,
// each one RocksDB write batch (accounts, undo data and tip together; made durable as ADR 0024
// says), so kill -9 at any instant leaves a database that reopens at a consistent tip. A
// connect's tx index records follow in a later write, with the "indexed_tip" they bring the
// index to; open() takes the blocks after it again (ADR 0026).
//
// Fork choice: the valid chain with the most cumulative work, first seen on a tie
// (consensus::Engine). A reorg disconnects to the fork point and connects the new branch; the
// transactions of disconnected blocks return to the mempool when still valid.
//
// Storage faults (ADR 0011): a failed write or an unreadable record is this node's fault, never
// the block's or transaction's. It comes back as a LocalError (chain/chain_error.h), nothing is
// marked invalid, and storage_status() says what is wrong. While a disk is full or failing, new
// blocks and transactions are refused (reads are served) until try_resume_writes() succeeds;
// corruption is final: the node's owner must stop it (peerchain-ledger verify / reindex).
//
// Acknowledged means durable: a transaction submit_transactions() accepts is in the mempool
// journal (storage Column::kMempool) by a synced write before the call returns; concurrent
// callers share one fsync (RocksDB's write groups). Records are keyed by (sender, nonce, txid)
// (storage/schema.h): a connect erases the nonces it confirms from the journal in its own batch,
// a run of kJournalRangeMin or more of one sender's nonces by one range, shorter runs key by key;
// replay_mempool_journal() re-admits the rest at start.
//
// Thread-safety: all public methods are thread-safe. One mutex guards the index, the active
// chain and the mempool; signature checks run before taking it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chain/chain_error.h"
#include "chain/mempool.h"
#include "chain/pending_tx_index.h"
#include "chain/account_cache.h"
#include "chain/sig_cache.h"
#include "consensus/engine.h"
#include "consensus/params.h"
#include "storage/database.h"
#include "storage/schema.h"
#include "util/clock.h"

namespace peerchain::chain {

class VerifyPool;

using consensus::Uint256;
using primitives::Block;
using primitives::BlockHeader;
using primitives::BlockId;

struct BlockIndexEntry {
  BlockHeader header;
  BlockId id;
  Uint256 chain_work;
  BlockIndexEntry* parent = nullptr;
  uint64_t sequence = 0;   // order block data arrived; 0 until it has
  uint8_t status = 0;      // storage::BlockStatus bits
  bool chain_complete = false;  // this block and all its ancestors have data

  uint32_t height() const { return header.height; }
  bool have_data() const { return status & storage::kStatusHaveData; }
  bool failed() const { return status & storage::kStatusFailed; }
};

struct ChainOptions {
  size_t sig_cache_entries = 1 << 19;  // default: 512k verified transactions remembered
  size_t account_cache_entries = 1 << 17;  // default: 128k accounts (~13 MB at most); 0: no cache
  MempoolOptions mempool;
  // default: true. Whether open() connects stored blocks that are better than the stored tip.
  // peerchain-ledger verify/reindex open with false: a damaged state must not be read (or
  // written) before they look at it.
  bool activate_on_open = true;
  // default: nullptr, every signature is verified on the calling thread (the simulator's choice).
  // Otherwise the pool whose workers share large batches; it must outlive the ChainState.
  VerifyPool* verify_pool = nullptr;
};

struct TipInfo {
  BlockId id;
  uint32_t height = 0;
  Uint256 chain_work;
  uint32_t bits = 0;
  uint64_t time_ms = 0;
};

struct ProcessResult {
  bool stored = false;        // new block data was stored
  bool tip_changed = false;
  uint32_t disconnected = 0;  // blocks disconnected by a reorg
  uint32_t connected = 0;
};

struct BlockTemplate {
  Block block;  // header complete but for the nonce
  Uint256 target;
  std::vector<primitives::TxId> ids;  // block.txs' ids, in order (the Merkle root's leaves)
  // Pooled transfers may have been left out for being younger than the template's minimum age
  // (never false when some were): a template asked for a little later may hold more.
  bool young_left_out = false;
};

struct TxInfo {
  primitives::Transaction tx;
  std::optional<BlockId> block;  // nullopt: in the mempool
  uint32_t height = 0;
  uint32_t confirmations = 0;
};

// Where a transaction is, without its body: an index lookup, no block read or decode (the block
// holding it may have tens of thousands of transfers).
struct TxPlace {
  std::optional<BlockId> block;  // nullopt: in the mempool
  uint32_t height = 0;
  uint32_t confirmations = 0;
};

struct StorageStatus {
  StorageState state = StorageState::kOk;
  std::string message;  // empty when ok: the first error that caused the state, for people
};

// What changed, for listeners (miner restarts, relay, RPC events). Called with no lock held.
struct ChainEvents {
  std::function<void(const TipInfo& tip, uint32_t disconnected)> on_tip_changed;
  // A transaction entered the mempool: submitted, or back from a block a reorg disconnected.
  std::function<void(const primitives::TxId&)> on_tx_accepted;
};

class ChainState {
 public:
  // A connect erases a sender's run of at least this many journal records with one range
  // tombstone, a shorter one record by record (ADR 0018).
  static constexpr uint64_t kJournalRangeMin = 32;
  // The deferred writes (the tx index records and journal erasures of connects, ADR 0026) go to
  // disk in batches of at most this many ops, so writes queued behind them wait for one slice.
  static constexpr size_t kDeferredSliceOps = 1024;
  // Opens or initialises the chain in `db` for `params`. Fails if the database belongs to
  // another network or is corrupt.
  static util::Result<std::unique_ptr<ChainState>> open(const consensus::Params& params,
                                                        std::unique_ptr<storage::Database> db,
                                                        const util::Clock& clock,
                                                        ChainOptions opts = {});
  ~ChainState();
  ChainState(const ChainState&) = delete;
  ChainState& operator=(const ChainState&) = delete;

  void set_events(ChainEvents events);

  // Validates, stores and, if it makes a better chain, activates `block`.
  // Errors: consensus rejections (kDuplicateBlock when already stored, kMissingParent when the
  // parent is unknown: the caller should fetch it), or a LocalError when storage failed or is
  // paused (the block may be valid: nobody is to blame, fetch it again after a resume).
  ChainResult<ProcessResult> process_block(const Block& block);
  // The same with the block's transaction ids already taken by the caller (a block rebuilt from
  // a sketch, or one whose signatures were warmed): they are not taken again. REQUIRES: ids is
  // null or (*ids)[i] == block.txs[i].id() for every i.
  ChainResult<ProcessResult> process_block(const Block& block, const std::vector<primitives::TxId>* ids);
  // When the connects of a process_block call are made durable (ADR 0024): before it returns (a
  // block mined or submitted here; the default), or by the next sync_pending() (a block from a
  // peer: the node calls it every tick, and a power cut before it rolls the tip back to a block
  // peers hold and send again, as for a catch-up's unsynced connects, ADR 0008). The latter
  // keeps the fsync and the journal's erasures off the thread that connects the next block.
  enum class Durability { kBeforeReturn, kByNextSync };
  // root_matched: the caller compared the Merkle root of `ids` with the header's (a block rebuilt
  // from a sketch: PartialBlock::take does), so the checks do not compute it a second time.
  // Ignored without ids.
  ChainResult<ProcessResult> process_block(const Block& block, const std::vector<primitives::TxId>* ids,
                                           Durability durability, bool root_matched = false);
  // Writes the journal erasures and tx index records of the connects since the last call (ADR
  // 0026) and, if one of them must be durable, syncs. Errors: storage (also noted: intake pauses).
  util::Status sync_pending();

  // Headers-first sync: validates a header (proof of work, parent known and valid, height,
  // target, time rules) and adds it to the block index without its data. Returns true if the
  // header was new. Errors as for process_block (kMissingParent: fetch headers from further back).
  // Its index record is not written here: it waits for the next write that stores a block (the
  // sketch's block, which follows at once) or for write_headers(), so a header's one-record write
  // never queues behind other writers while the chain lock is held (ADR 0027).
  consensus::Checked<bool> accept_header(const BlockHeader& header);
  // Writes the index records of the headers accepted since the last write (one batch). Called
  // after a headers message; a stop or crash before it loses only headers the peers send again.
  // Errors: storage (the records stay pending for the next write).
  util::Status write_headers();
  // How many accepted headers' records wait for a write (tests, metrics).
  size_t unwritten_headers() const;
  // Validating a branch's headers without storing them (the peer layer's headers pre-sync):
  // the context the next header of the run is checked against.
  struct HeaderRun {
    BlockHeader last;                        // the run's last header (or the index parent)
    BlockId last_id;
    std::optional<uint64_t> prev_time_ms;    // time of last's parent (absent when last is genesis)
    std::vector<uint64_t> times;             // the last median_time_span times, oldest first
    Uint256 chain_work;                      // cumulative work up to and including `last`
  };
  // Checks `headers` (each the parent of the next) as accept_header would (proof of work,
  // height, retarget, median-time-past, future time), against `from` when given (a run checked
  // before) or else against the first header's parent in the index. Stores nothing. Returns
  // the run extended by `headers`. Errors as accept_header (kMissingParent: the first parent is
  // unknown). O(headers) under the lock.
  consensus::Checked<HeaderRun> check_header_run(std::span<const BlockHeader> headers,
                                                 const HeaderRun* from = nullptr) const;
  // The least cumulative work a branch needs before its headers are stored: the tip's work
  // minus `margin_blocks` blocks at the tip's target (a sibling of a recent block is stored; a
  // long low-work branch from far back is not).
  Uint256 min_branch_work(uint32_t margin_blocks) const;

  // Whether each block is in the index (header known), under one lock: a getdata's blocks.
  std::vector<bool> known_headers(std::span<const BlockId> ids) const;

  // Exponentially spaced ids back from the tip to genesis, for asking a peer where we diverge.
  std::vector<BlockId> locator() const;
  // Headers of the active chain after the first locator id found in it (genesis if none), up
  // to `max` of them.
  std::vector<BlockHeader> headers_after(const std::vector<BlockId>& locator, size_t max) const;
  // Blocks to download: those without data on the path from the active chain to the best
  // known header, lowest first, at most `max`.
  std::vector<BlockId> blocks_to_fetch(size_t max) const;
  // The valid header with the most work (the active tip when nothing better is known).
  TipInfo best_header() const;

  // Verifies the signatures not yet cached of several blocks' transactions in one batch on
  // the verify pool (ChainOptions::verify_pool), warming the cache for process_block(). Used for the blocks waiting to be
  // processed during a sync: many small blocks fill the cores together, not one by one. Each
  // block's ids are taken by the caller. REQUIRES: ids.size() == blocks.size(), and
  // (*ids[k])[i] == blocks[k]->txs[i].id(). Blocks are latency-bound (VerifyMode::kLatency).
  // Returns how many signatures were not cached (and so verified).
  size_t warm_signatures(std::span<const primitives::Block* const> blocks,
                         std::span<const std::vector<primitives::TxId>* const> ids);

  // Admits a transaction to the mempool after shape, signature, nonce and balance checks.
  // Success means durable: the transaction is in the synced mempool journal. A LocalError
  // means storage failed or is paused: the transaction was not taken (the client may resend).
  ChainResult<primitives::TxId> submit_transaction(const primitives::Transaction& tx);
  // The same for a batch, in order (a sender's later nonces may follow earlier ones in the same
  // batch): signatures not already cached are verified on the verify pool first, then every
  // transaction is admitted under one lock. One result per transaction.
  std::vector<ChainResult<primitives::TxId>> submit_transactions(std::span<const primitives::Transaction> txs);

  // Re-admits the journal's transactions (each sender's in nonce order, signatures checked
  // again) and forgets those no longer valid. Called once at start, before any peer or client.
  // Returns how many were re-admitted; errors: storage (corrupt journal record, write failure).
  util::Result<size_t> replay_mempool_journal();

  // Health of the storage below the chain (lock-free for the caller: the API reads it).
  StorageStatus storage_status() const;
  // While the disk is full or failing: asks RocksDB to resume and tries a synced probe write;
  // on success clears the fault, connects any stored blocks that wait for it and returns true.
  // A no-op returning true when storage is ok; false while writes still fail or on corruption.
  bool try_resume_writes();

  // A block to mine on the current tip, with the best mempool transactions.
  // Built from scratch when the tip or the mempool's layout changed (fee order), else the last
  // template's transactions plus the transfers appended to the mempool since (arrival order).
  // With `min_age_ms`, only transfers that reached this mempool at least that long ago (by the
  // chain's steady clock): its peers have had them relayed and verified by then, so the block
  // crosses the network without a round trip or a signature check on its path (ADR 0025).
  BlockTemplate create_template(const primitives::AccountKey& miner, size_t max_txs = SIZE_MAX,
                                int64_t min_age_ms = 0) const;
  std::pair<uint64_t, uint64_t> template_counts() const;  // {built from scratch, extended}
  // Changes whenever the tip changes (the miner restarts on it).
  uint64_t tip_generation() const { return tip_generation_.load(std::memory_order_acquire); }
  // Changes whenever the mempool gains transactions.
  uint64_t mempool_generation() const { return mempool_generation_.load(std::memory_order_acquire); }

  // Reads.
  TipInfo tip() const;
  // Whether `h` extends our tip as it stands, or the last header that passed this screen: its
  // parent is that block, it carries the height and target that block's child must, and its
  // proof of work holds. Without the chain lock (a snapshot of the tip taken at each change,
  // the last passing header, and one hash): the network thread's screen for holding the miner
  // the moment a better block arrives, while a connect holds the lock; the passing header
  // counts because under load a block's child can arrive while the block is still being
  // rebuilt or connected. Not validation: the block goes through process_block as any other.
  bool extends_tip(const BlockHeader& h) const;
  std::optional<BlockId> block_id_at(uint32_t height) const;
  std::optional<Block> block(const BlockId& id) const;
  std::optional<BlockHeader> header(const BlockId& id) const;
  bool in_active_chain(const BlockId& id) const;
  primitives::Account account(const primitives::AccountKey& key) const;
  // Every stored account (absent == empty), in key order. For verification and tests.
  std::map<primitives::AccountKey, primitives::Account> all_accounts() const;
  struct AccountCacheStats {
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
  };
  AccountCacheStats account_cache_stats() const;
  std::optional<TxInfo> transaction(const primitives::TxId& id) const;
  std::optional<TxPlace> transaction_place(const primitives::TxId& id) const;
  // For relay, one lock for a whole inv or getdata: whether each transaction is known (in the
  // mempool or in a block: an index lookup, no block read), and the mempool's copies.
  std::vector<bool> known_transactions(std::span<const primitives::TxId> ids) const;
  std::vector<std::optional<primitives::Transaction>> mempool_transactions(std::span<const primitives::TxId> ids) const;
  // Compact blocks: Mempool::visit_short_ids under the chain's lock. `take` sees each pooled
  // transaction with its short id and copies what it wants (a sketch's rebuild copies each of its
  // transactions once, straight into its slot: copies of every match first took 6-19 ms of a
  // 10,000-transfer block under load). REQUIRES: `take` calls nothing of this ChainState.
  void mempool_visit_short_ids(const std::function<uint64_t(const primitives::TxId&)>& short_id,
                               const std::function<void(const MempoolEntry&, uint64_t)>& take) const;
  size_t mempool_size() const;
  std::vector<primitives::TxId> mempool_ids() const;
  std::pair<size_t, primitives::Amount> mempool_pending(const primitives::AccountKey& sender) const;
  const consensus::Params& params() const { return params_; }
  const util::Clock& clock() const { return clock_; }

  // The block index as a tree, for the API's getchaintips/getblocktree (the web view). A
  // snapshot taken under the lock; reads nothing from disk.
  struct TreeEntry {
    BlockId id;
    BlockId prev;
    uint32_t height = 0;
    primitives::AccountKey miner;
    uint64_t time_ms = 0;
    Uint256 chain_work;
    bool have_data = false;
    bool chain_complete = false;  // this block and all its ancestors have data
    bool failed = false;
    bool in_active_chain = false;
    uint32_t branch_len = 0;      // tips only: blocks from this tip back to the active chain
  };
  struct TreeSnapshot {
    std::vector<TreeEntry> blocks;  // entries with height >= from_height, by height then id, at most max
    bool truncated = false;         // more entries at or above from_height than max
    std::vector<TreeEntry> tips;    // entries without a known child (the active tip included),
                                    // highest first, at most max_tips
    bool tips_truncated = false;
  };
  // Bounded work under the lock: O(max + max_tips x kMaxBranchWalk) plus logarithmic lookups,
  // whatever the size of the index (tips and heights are kept in sorted sets as entries are
  // added). branch_len is counted up to kMaxBranchWalk (a longer branch reports that).
  static constexpr uint32_t kMaxBranchWalk = 10'000;
  TreeSnapshot block_tree(uint32_t from_height, size_t max, size_t max_tips = 1000) const;

  // Rebuilds account state, undo data and the tx index by replaying the stored blocks of the
  // active chain from genesis, re-validating each.
  util::Status reindex();
  // Re-validates the whole active chain from genesis against a fresh state and compares the
  // result with the stored accounts. Read-only.
  util::Status verify() const;

 private:
  ChainState(const consensus::Params& params, std::unique_ptr<storage::Database> db,
             const util::Clock& clock, ChainOptions opts);
  util::Status load();
  util::Status init_genesis();
  // Records a storage failure (the most severe one wins); logs one line when the state changes.
  // Returns the LocalError to hand back to the caller.
  LocalError note_fault(const util::Error& e, bool on_read) const;
  // create_template's work under the lock: everything but the Merkle root.
  void create_template_locked(BlockTemplate& t, const primitives::AccountKey& miner, size_t max_txs,
                              int64_t min_age_ms) const;
  std::vector<ChainResult<primitives::TxId>> admit_transactions(std::span<const primitives::Transaction> txs,
                                                                bool journal);

  // All below: REQUIRES mu_ held.
  BlockIndexEntry* add_entry(const BlockHeader& h, const BlockId& id, uint8_t status, uint64_t seq);
  consensus::ParentContext parent_context(const BlockIndexEntry* parent) const;
  // A block about to be stored: its parent, or why it is not stored (a duplicate, no known
  // parent, a failed parent, a timestamp its parent's context refuses).
  ChainResult<BlockIndexEntry*> check_place(const primitives::Block& block, const primitives::BlockId& id) const;
  primitives::Account load_account(const primitives::AccountKey& key) const;
  // REQUIRES mu_. Where the tx index says `id` was confirmed (its block's place and the
  // transfer's position in it); nullopt if nowhere. A read fault or a corrupt record is noted.
  std::optional<std::pair<TxPlace, uint32_t>> indexed_place(const TxId& id) const;
  util::Status connect_tip(BlockIndexEntry* e, const Block& b, const std::vector<primitives::TxId>* ids,
                           std::set<primitives::AccountKey>& touched, consensus::Rejection* why, bool sync = true);
  util::Status disconnect_tip(std::vector<Block>& disconnected, std::set<primitives::AccountKey>& touched);
  void mark_failed(BlockIndexEntry* e);
  // Moves the tip to the best candidate. `have` (whose id is `have_id`), if given, is a block
  // at hand that need not be read back from storage.
  util::Status activate_best_chain(ProcessResult& result, std::vector<Block>& disconnected,
                                   std::set<primitives::AccountKey>& touched, const Block* have = nullptr,
                                   const BlockId& have_id = {}, const std::vector<primitives::TxId>* have_ids = nullptr);
  void mark_complete_from(BlockIndexEntry* e);
  // nullopt: not stored. Errors: unreadable or undecodable (recorded with note_fault).
  util::Result<std::optional<Block>> read_block(const BlockId& id) const;
  // After a tip change under the lock: mempool accounts brought up to date, the journal told
  // what came back and what was dropped, events prepared for firing once unlocked.
  void after_tip_change(const ProcessResult& result, std::vector<Block>& disconnected,
                        const std::set<primitives::AccountKey>& touched, std::vector<primitives::TxId>& readmitted,
                        TipInfo& tip_after, ChainEvents& events);
  BlockIndexEntry* tip_entry() const { return active_.back(); }
  void publish_tip_hint();  // REQUIRES: mu_; after every change of active_
  void note_header(BlockIndexEntry* e);
  TipInfo tip_info() const;

  struct CandidateOrder {
    bool operator()(const BlockIndexEntry* a, const BlockIndexEntry* b) const;
  };
  // Height then id: the web view's order.
  struct HeightOrder {
    bool operator()(const BlockIndexEntry* a, const BlockIndexEntry* b) const {
      return a->height() != b->height() ? a->height() < b->height() : a->id < b->id;
    }
  };

  const consensus::Params params_;
  std::unique_ptr<consensus::Engine> engine_;
  std::unique_ptr<storage::Database> db_;
  const util::Clock& clock_;
  const ChainOptions opts_;
  SigCache sig_cache_;
  mutable AccountCache account_cache_;  // GUARDED_BY(mu_)
  // The last template's transactions, extended by the mempool's appends while the tip and the
  // mempool's layout generation hold (create_template). GUARDED_BY(mu_)
  struct TemplateCache {
    bool valid = false;
    BlockId tip;
    uint64_t layout_generation = 0;
    size_t appended_seen = 0;  // Mempool::appended() entries already considered
    size_t max_txs = 0;
    std::vector<primitives::Transaction> txs;
    std::vector<TxId> ids;
    std::unordered_map<AccountKey, uint64_t, util::SaltedHasher> next_nonce;  // senders in txs
    // Young transfers left out that the appends do not bring back (they arrived before the
    // layout last changed): once the age cutoff passes this sequence, rebuild.
    uint64_t rebuild_past = UINT64_MAX;
    // The minimum age it was built with: a template asked for with another one is rebuilt (one
    // built for `generate`, age 0, holds transfers too young for the miner's).
    int64_t min_age_ms = 0;
  };
  mutable TemplateCache template_cache_;
  // When transfers reached the mempool: (steady ms, Mempool::next_sequence() then), one mark per
  // millisecond with arrivals, for a template's minimum age. Marks older than kArrivalHorizonMs
  // (or past kMaxArrivalMarks) are dropped into arrivals_floor_: every entry below it is older.
  static constexpr int64_t kArrivalHorizonMs = 10'000;
  static constexpr size_t kMaxArrivalMarks = 16'384;
  std::deque<std::pair<int64_t, uint64_t>> arrivals_;  // GUARDED_BY(mu_)
  uint64_t arrivals_floor_ = 0;                       // GUARDED_BY(mu_)
  void note_arrivals();                               // REQUIRES(mu_)
  // Every pooled entry whose sequence is below the result reached the mempool by `at_ms`.
  uint64_t arrived_by(int64_t at_ms) const;           // REQUIRES(mu_)
  mutable uint64_t templates_built_ = 0, templates_extended_ = 0;  // GUARDED_BY(mu_)

  mutable std::mutex mu_;
  std::unordered_map<BlockId, std::unique_ptr<BlockIndexEntry>, util::FixedBytesHasher> index_;  // GUARDED_BY(mu_)
  std::unordered_multimap<BlockId, BlockIndexEntry*, util::FixedBytesHasher> unlinked_;  // parent id -> children with data waiting for the parent's data
  std::vector<BlockIndexEntry*> active_;                      // GUARDED_BY(mu_), by height
  std::set<BlockIndexEntry*, CandidateOrder> candidates_;     // GUARDED_BY(mu_)
  std::set<const BlockIndexEntry*, HeightOrder> by_height_;   // GUARDED_BY(mu_): every entry
  std::set<const BlockIndexEntry*, HeightOrder> leaves_;      // GUARDED_BY(mu_): entries without a child
  Mempool mempool_;                                           // GUARDED_BY(mu_)
  std::vector<Removed> dropped_scratch_;                      // GUARDED_BY(mu_): after_tip_change's, reused
  // The journal ranges (sender, [first nonce, end nonce)) the connects of this activation
  // already erased in their atomic batches: after_tip_change does not erase a dropped
  // transaction's record a second time. GUARDED_BY(mu_)
  std::map<AccountKey, std::vector<std::pair<uint64_t, uint64_t>>> journal_erased_;
  // The ranges erased for `sender`, or null. REQUIRES: mu_
  const std::vector<std::pair<uint64_t, uint64_t>>* journal_erased(const AccountKey& sender) const;
  util::Status upgrade_journal_keys();  // REQUIRES: mu_ (load): schema 1's journal to schema 2's
  uint64_t next_sequence_ = 1;                                // GUARDED_BY(mu_)
  // Headers accepted whose index records are not written yet (accept_header). GUARDED_BY(mu_)
  std::vector<BlockIndexEntry*> unwritten_headers_;
  // Past this many, accept_header writes them at once: a bound on the batch and on what a crash
  // loses (a headers message carries at most 2,000).
  static constexpr size_t kMaxUnwrittenHeaders = 4096;
  // REQUIRES: mu_. Puts the unwritten headers' records (as their entries are now) into `batch`;
  // the caller clears unwritten_headers_ once the batch is written.
  void put_unwritten_headers(storage::WriteBatch& batch) const;
  // REQUIRES: mu_. Writes them in one batch and clears them; a failure is logged and returned,
  // and they wait for the next write.
  util::Status write_unwritten_headers();
  std::atomic<uint64_t> tip_generation_{0};
  std::atomic<uint64_t> mempool_generation_{0};
  ChainEvents events_;
  // First read failure since it was last cleared (load_account sets it: its callers, the
  // consensus and mempool lookups, cannot return an error). GUARDED_BY(mu_)
  mutable std::optional<util::Error> read_fault_;
  // What extends_tip() compares against, published by publish_tip_hint().
  struct TipHint {
    BlockId id;
    uint32_t height = 0;
    uint32_t next_bits = 0;  // 0: no hint
    uint64_t time_ms = 0;
  };
  mutable std::mutex hint_mu_;      // held for a copy only
  TipHint tip_hint_;                // GUARDED_BY(hint_mu_)
  mutable TipHint pending_hint_;    // GUARDED_BY(hint_mu_): the last header extends_tip passed
  mutable std::mutex fault_mu_;
  mutable StorageStatus fault_;                               // GUARDED_BY(fault_mu_)
  mutable std::atomic<uint8_t> fault_state_{0};               // StorageState of fault_, read without the lock
  std::optional<std::pair<BlockId, consensus::Rejection>> last_invalid_;  // GUARDED_BY(mu_)
  BlockIndexEntry* best_header_ = nullptr;                    // GUARDED_BY(mu_)
  int64_t last_sync_ms_ = INT64_MIN / 2;                     // GUARDED_BY(mu_): last fsynced connect (steady ms)
  // A connect written since the last sync_storage() is to be made durable (connect_tip writes
  // unsynced; the caller syncs once the lock is released). GUARDED_BY(mu_)
  bool sync_due_ = false;
  util::Status sync_storage();  // REQUIRES: mu_ not held. db_->sync(); a failure is noted
  // Written after the tip is announced (flush_deferred_writes), not in a connect's batch: the
  // journal erasures of the transfers connects confirmed (they made the batch 40 % larger), and
  // the connected blocks' tx index records (one per transfer, ~30 % of a 5,000-transfer block's
  // connect; ADR 0026). Order: connect_tip appends under deferred_mu_; a flush takes them and
  // writes them in one batch, with "indexed_tip", holding deferred_write_mu_; disconnect_tip
  // flushes first as a barrier (it also waits for a flush under way), so an erasure lands before
  // anything a later disconnect lets be journaled again (ADR 0024), and the index records a
  // disconnect erases are on disk (reindex drops the records, then flushes the erasures). A
  // flush whose write fails puts the index records back.
  // Without `barrier`, returns at once when nothing is pending.
  void flush_deferred_writes(bool barrier = false);
  std::mutex deferred_write_mu_;   // held while deferred writes are written; after mu_ if both
  mutable std::mutex deferred_mu_;
  storage::WriteBatch pending_erasures_;  // GUARDED_BY(deferred_mu_)
  // Of blocks on the active chain (a disconnect flushes first), in connect order.
  PendingTxIndex pending_index_;  // GUARDED_BY(deferred_mu_)
  // Where the tx index puts `id`: the records not yet written first, then the database (in that
  // order: a flush forgets its records only after writing them). A read failure is noted.
  // nullopt: not indexed (or unreadable).
  std::optional<storage::TxLocation> tx_location(const TxId& id) const;
  // open(): the blocks connected after "indexed_tip" (a power cut between a connect and its
  // deferred write) go back to pending_index_, written by the next flush. REQUIRES: mu_
  util::Status catch_up_tx_index();
  // blocks_to_fetch(): best_header_'s ancestors above the active chain when it was built,
  // lowest first, and the best header it was built for.
  mutable std::vector<const BlockIndexEntry*> fetch_path_;  // GUARDED_BY(mu_)
  mutable const BlockIndexEntry* fetch_path_head_ = nullptr; // GUARDED_BY(mu_)
};

}  // namespace peerchain::chain
