// chain/mempool.h — transactions waiting for a block.
//
// Invariant: for every sender, the pooled transactions carry consecutive nonces starting at the
// sender's confirmed nonce, and their amounts + fees together fit the confirmed balance. So any
// prefix of a sender's queue can go into the next block, and a block template is valid by
// construction.
//
// Policy (docs/design/mempool.md):
// - Gaps are refused (nonce-too-high): a transaction must follow the sender's last pooled one.
// - Replacement: a transaction with the nonce of a pooled one replaces it when its fee is at
//   least the old fee plus max(1, old fee * replace_bump_percent / 100); the sender's later
//   transactions that no longer fit the balance are dropped.
// - Limits: total count and bytes, and a per-sender count. When full, the lowest-fee last
//   transaction of any sender is evicted if the newcomer pays more; else mempool-full.
// - Block templates take transactions by fee (highest first), each sender's in nonce order.
//
// Not thread-safe: its owner (ChainState) serialises access.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "consensus/checks.h"
#include "primitives/transaction.h"
#include "util/bytes.h"
#include "util/tagged_table.h"

namespace peerchain::chain {

using consensus::Checked;
using primitives::Account;
using primitives::AccountKey;
using primitives::Amount;
using primitives::Transaction;
using primitives::TxId;

struct MempoolOptions {
  size_t max_count = 300'000;         // default: 300k transactions
  size_t max_bytes = 64 << 20;        // default: 64 MiB of encoded transactions
  size_t max_per_sender = 100'000;    // default: 100k pending per sender
  Amount min_fee = 0;                 // default: 0 (no minimum)
  unsigned replace_bump_percent = 10; // default: a replacement pays >= 10% more
};

struct MempoolEntry {
  Transaction tx;
  TxId id;
  uint64_t sequence;  // arrival order
};

// A transaction that left the pool, with the sender and nonce that name its journal record.
struct Removed {
  TxId id;
  AccountKey sender;
  uint64_t nonce;
};

class Mempool {
 public:
  using AccountLookup = std::function<Account(const AccountKey&)>;

  explicit Mempool(MempoolOptions opts = {});

  // REQUIRES: tx passed check_tx_shape and its signature verified; id == tx.id().
  // On success returns the transactions that were evicted or replaced.
  Checked<std::vector<Removed>> add(const Transaction& tx, const TxId& id, const AccountLookup& state);

  // Re-establishes the invariant for `accounts` after their confirmed state changed (a block
  // was connected or disconnected): their pooled transactions and `returned` ones (from
  // disconnected blocks, already verified) are re-admitted in nonce order; what no longer
  // fits is dropped. Returns the transactions dropped, each once.
  std::vector<Removed> update_accounts(const std::set<AccountKey>& accounts,
                                    const std::vector<Transaction>& returned,
                                    const AccountLookup& state);
  // The same, appending the dropped to `dropped`: a caller that keeps the vector between blocks
  // reuses its memory (a fresh one for a 5,000-transfer block was ~350 KB of page faults, half
  // of the update's time).
  void update_accounts(const std::set<AccountKey>& accounts, const std::vector<Transaction>& returned,
                       const AccountLookup& state, std::vector<Removed>& dropped);

  // Removes `id` and its sender's later transactions (they need it: nonces stay consecutive).
  // Returns what was removed; empty if `id` is not pooled. Used when a transaction cannot be
  // made durable (the journal write failed) and so must not stay acknowledged.
  std::vector<Removed> remove(const TxId& id);

  // Up to max_txs transactions, highest fee first, each sender's in nonce order. With
  // `below_sequence`, only entries that arrived before it: a sender's run stops at its first
  // later arrival (its next nonces need it).
  std::vector<const MempoolEntry*> select(size_t max_txs, uint64_t below_sequence = UINT64_MAX) const;

  bool contains(const TxId& id) const { return find_id(id) != nullptr; }
  // The pooled transaction of `sender` at `nonce`, if any.
  const MempoolEntry* at(const AccountKey& sender, uint64_t nonce) const;
  const MempoolEntry* get(const TxId& id) const;
  size_t size() const { return by_id_.size(); }
  size_t bytes() const { return by_id_.size() * Transaction::kEncodedSize; }
  // Number of pooled transactions of a sender and the sum of their amounts + fees.
  std::pair<size_t, Amount> pending(const AccountKey& sender) const;
  std::vector<TxId> ids() const;
  // Compact blocks: calls `take(entry, short_id(entry.id))` for every pooled transaction, the
  // short id keyed per block by the caller. One short id per pooled transaction: O(size()),
  // bounded by max_count (300,000 by default: a few ms of SipHash).
  void visit_short_ids(const std::function<uint64_t(const TxId&)>& short_id,
                       const std::function<void(const MempoolEntry&, uint64_t)>& take) const;
  const MempoolOptions& options() const { return opts_; }

  // For templates built incrementally: the pool changes either by appends (a new transaction
  // after its sender's last pooled one, nothing removed) or by anything else (a replacement, an
  // eviction, a removal, a block's update). The latter moves layout_generation() and empties
  // appended(); the former adds the transaction's id to appended(), in arrival order. So while
  // the generation holds, the pool is exactly what it was plus appended()'s transactions.
  // Bounded: past max_count appends, the log is emptied and the generation moves.
  uint64_t layout_generation() const { return layout_generation_; }
  // The sequence the next arrival will get: every entry pooled now has a smaller one.
  uint64_t next_sequence() const { return next_sequence_; }
  const std::vector<TxId>& appended() const { return appended_; }

 private:
  // A sender's pooled transactions: consecutive nonces, so a deque indexed from the first one.
  // Entries change only at the ends (or in place, a replacement), so they never move: the id
  // table points at them.
  struct Queue {
    std::deque<MempoolEntry> entries;
    Amount total_cost = 0;
    uint64_t first_nonce() const { return entries.front().tx.nonce; }
    const MempoolEntry* find(uint64_t nonce) const {
      if (entries.empty() || nonce < first_nonce() || nonce - first_nonce() >= entries.size()) return nullptr;
      return &entries[nonce - first_nonce()];
    }
  };
  // Pooled entries by id (util/tagged_table.h: salted, flat, erased by backward shift), each
  // hit confirmed against the entry's id. Entries never move, so the table points at them.
  const MempoolEntry* find_id(const TxId& id) const {
    const auto* e = by_id_.find(id, [&](const MempoolEntry* v) { return v->id == id; });
    return e ? *e : nullptr;
  }
  void index(const MempoolEntry* e) { by_id_.insert(e->id, e); }
  void unindex(const MempoolEntry* e) {
    by_id_.erase(e->id, [e](const MempoolEntry* v) { return v == e; });
  }
  struct TailKey {
    Amount fee;
    uint64_t neg_sequence;  // newest first among equal fees
    AccountKey sender;
    auto operator<=>(const TailKey&) const = default;
  };
  void erase_tail_key(const AccountKey& sender, const Queue& q);
  void insert_tail_key(const AccountKey& sender, const Queue& q);
  void pop_last(const AccountKey& sender, Queue& q);
  bool evict_one(Amount than_fee, const AccountKey& protect, std::vector<Removed>& evicted);

  MempoolOptions opts_;
  std::map<AccountKey, Queue> queues_;
  util::TaggedTable<const MempoolEntry*> by_id_;
  std::set<TailKey> tails_;  // each sender's highest-nonce entry, for eviction
  uint64_t next_sequence_ = 1;
  uint64_t layout_generation_ = 0;
  std::vector<TxId> appended_;
  void reshaped() {
    ++layout_generation_;
    appended_.clear();
  }
};

}  // namespace peerchain::chain
