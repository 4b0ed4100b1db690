// chain/sig_cache.h — transactions whose signatures this node already verified.
//
// A txid commits to the whole signed transaction, so its presence means "this exact signature
// over this exact message by this key verified". Transactions verified on mempool admission are
// therefore not verified again when a block carrying them is validated (Bitcoin's signature
// cache). Thread-safe.
//
// A flat open-addressing table of whole txids (ADR 0019): every transfer is looked up about five
// times per node (admission, the block's warm-up and check, the miner), and a node-based hash set
// cost two or three cache misses and a malloc per entry; here a lookup reads one short run of
// adjacent slots. A txid lives in one of the kWindow slots from its salted hash's home slot; a
// new one whose window is full evicts one of them at random (the salt keeps an attacker from
// aiming at a window; an eviction only costs a second verification, never a wrong answer). The
// table starts small and doubles once it is half full, up to `max_entries` slots
// (32 bytes each), so memory follows use and never exceeds max_entries x 32 bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <vector>

#include "primitives/transaction.h"

namespace peerchain::chain {

class SigCache {
 public:
  static constexpr size_t kWindow = 8;  // slots a txid may occupy, from its home slot on

  explicit SigCache(size_t max_entries);  // default used by ChainOptions: 1 << 19

  bool contains(const primitives::TxId& id) const;
  void insert(const primitives::TxId& id);
  size_t size() const;
  size_t slots() const;  // the table's current size (for tests)
  // Tests: runs inside each grow's rehash, while lookups may run and inserts go aside.
  void set_rehash_hook(std::function<void()> hook) { rehash_hook_ = std::move(hook); }

 private:
  using Table = std::vector<primitives::TxId>;
  size_t home(const Table& t, const primitives::TxId& id) const;
  // Puts `id` into `t` (counting a new one in `count`); false if its window is full.
  bool place(Table& t, size_t& count, const primitives::TxId& id) const;
  // Puts `id` over one of its window's entries, at random (`r`): that one costs a second
  // verification, never a wrong answer.
  void evict(Table& t, const primitives::TxId& id, uint64_t r) const;
  // Doubles the table. The rehash runs under a shared lock, so lookups (a block's checks, on
  // the latency-bound path) never wait for it: under load a rehash of 250,000 ids took up to
  // 52 ms, and the exclusive lock it held stalled every lookup behind it. Inserts meanwhile
  // go to grown_meanwhile_ (where lookups find them too) and are placed at the swap.
  // REQUIRES: growing_ set by this caller.
  void grow();

  const size_t max_slots_;
  const util::SaltedHasher hasher_;
  mutable std::shared_mutex mu_;
  Table table_;          // GUARDED_BY(mu_); all-zero: an empty slot
  size_t size_ = 0;      // GUARDED_BY(mu_)
  std::mt19937_64 rng_;  // GUARDED_BY(mu_) exclusively
  // A grow is under way (set under mu_ exclusively by the inserter that starts it).
  std::atomic<bool> growing_{false};
  mutable std::mutex side_mu_;                     // after mu_ when both are taken
  std::vector<primitives::TxId> grown_meanwhile_;  // GUARDED_BY(side_mu_)
  std::function<void()> rehash_hook_;
};

}  // namespace peerchain::chain
