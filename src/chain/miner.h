// chain/miner.h — proof-of-work mining on its own thread.
//
// The miner hashes block templates with the SHA-256d midstate (two compressions per attempt),
// restarts at once when the tip changes, refreshes the template when new transactions arrive,
// and submits found blocks through ChainState::process_block like any other block.
//
// Mining yields to everything else: uncapped hashing runs on a thread at SCHED_IDLE priority
// (block templates and found blocks are handled on a normal-priority thread, since they take the
// chain's lock; a capped miner hashes at normal priority, its cap bounding its CPU, so a node
// busy validating still produces blocks at the expected rate), and it can be capped
// to a hash rate and/or a share of one core, so several nodes on one machine leave the cores to
// validation and networking.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "chain/chainstate.h"

namespace peerchain::chain {

struct MinerOptions {
  primitives::AccountKey reward_key;   // receives subsidy + fees
  double max_hashes_per_second = 0;    // default: 0 = no cap
  double cpu_share = 1.0;              // default: 1.0 = may use a whole core; (0, 1]
  bool idle_priority = true;           // default: an uncapped miner hashes at SCHED_IDLE
  int64_t template_refresh_ms = 250;   // default: pick up new transactions every 250 ms
  // default: 0 = any pooled transfer. Transfers that reached the mempool less than this long ago
  // wait for a later template (ChainState::create_template, ADR 0025).
  int64_t min_tx_age_ms = 0;
  size_t max_block_txs = SIZE_MAX;     // default: up to the consensus limit
  // default: none. Asked before each template: at most this many transfers (the node's
  // block-size policy, policy_block_txs); max_block_txs still bounds it.
  std::function<size_t()> block_txs_policy;
  int64_t max_hold_ms = 2000;          // default: a hold (Miner::hold) lasts at most 2 s
  // default: none. Called with a block the miner found, before it is submitted to the chain
  // (the node sends its sketch to its high-bandwidth peers first).
  std::function<void(const primitives::Block&, const std::vector<primitives::TxId>& ids)> on_found;
};

// The block-size policy: a block should cost its receivers at most `share` of the block
// interval to validate, or it loses races to blocks found meanwhile (docs/design/mempool.md
// "Block size"). With `ns_per_tx` the measured cost of a transfer in a peer's block (0: not
// measured yet), the template holds at most share * spacing / ns_per_tx transfers, and never
// fewer than `floor` (a slow node still clears its mempool). share <= 0 or no measure: no limit.
size_t policy_block_txs(uint64_t ns_per_tx, int64_t spacing_ms, double share, size_t floor = 1000);

// The defaults for a network: dev miners are capped at kDevHashRateCap hashes/s (about 0.5%
// of a core here; with the dev starting target that is a block every ~2 s per node, and three
// nodes on two cores stay responsive); main is uncapped. Uncapped mining runs at idle priority.
inline constexpr double kDevHashRateCap = 50'000;
MinerOptions default_miner_options(const consensus::Params& params, const primitives::AccountKey& reward);

// The pace of a capped miner: attempts at most `hashes_per_second`, and hashing time at most
// `cpu_share` of the time, over any stretch longer than one step of `step_attempts` (a token
// bucket one step deep). Time not spent hashing (held for a better block, connecting a block,
// waiting for the chain lock) is not banked: banked, it came back as a burst at full speed the
// moment the miner resumed, and every node resumes at once after a block (they connect it
// together), so the bursts raced each other and made stale blocks (a real miner's idle time is
// lost too). Times in seconds from any fixed origin; not thread-safe (the miner's own).
class HashPacer {
 public:
  HashPacer(double hashes_per_second, double cpu_share, uint64_t step_attempts, double now_s);
  // `attempts` more were made, ending now, after `hashing_s` of hashing; returns how long to
  // wait before the next step (0: go on).
  double after(uint64_t attempts, double hashing_s, double now_s);

 private:
  double rate_, share_, max_credit_s_;
  double origin_s_;             // the pace's start, moved forward past unbanked idle time
  double attempts_ = 0, busy_s_ = 0;
};

class Miner {
 public:
  Miner(ChainState& chain, MinerOptions opts);
  ~Miner();  // stops the thread
  Miner(const Miner&) = delete;
  Miner& operator=(const Miner&) = delete;

  void start();
  void stop();
  bool running() const { return running_.load(); }

  uint64_t hashes() const { return hashes_.load(); }
  uint64_t blocks_found() const { return blocks_found_.load(); }

  // A block at `height` with more work than our tip is on its way in (its header holds; its
  // body is being rebuilt or validated). Until our tip reaches that height, or kMaxHoldMs pass
  // (the block was invalid, or never came), hashing on the old tip would only make a block
  // that loses the race: the miner pauses instead (at most MinerOptions::max_hold_ms; an
  // invalid block with a valid proof of work costs its sender a block's work and us that pause).
  // Thread-safe; called by the network thread.
  void hold(uint32_t height);
  uint64_t holds() const { return holds_.load(); }

  // Mines `n` blocks on the current tip at full speed on the calling thread (the dev network's
  // `generate`). Returns the ids of the blocks that were accepted; stops early if `cancel`
  // becomes true.
  static std::vector<primitives::BlockId> generate(ChainState& chain, const primitives::AccountKey& reward,
                                                   uint32_t n, const std::atomic<bool>* cancel = nullptr,
                                                   size_t max_txs = SIZE_MAX);

  // Searches nonces for `tmpl` until one meets its target, `should_stop` says so (checked every
  // few thousand attempts) or the nonces run out. Returns true with tmpl.block.header.nonce set
  // when found. `hashes` is increased by the attempts made.
  template <typename StopFn>
  static bool solve(BlockTemplate& tmpl, StopFn&& should_stop, uint64_t& hashes);

 private:
  void run();

  ChainState& chain_;
  const MinerOptions opts_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::atomic<uint64_t> hashes_{0};
  std::atomic<uint64_t> blocks_found_{0};
  std::atomic<uint32_t> hold_height_{0};
  std::atomic<int64_t> hold_until_ms_{0};  // steady clock
  std::atomic<uint64_t> holds_{0};
  bool held(const BlockTemplate& tmpl) const;
};

}  // namespace peerchain::chain

#include "chain/miner_inl.h"
