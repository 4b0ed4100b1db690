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
// table starts small and doubles while it is three-quarters full, up to `max_entries` slots
// (32 bytes each), so memory follows use and never exceeds max_entries x 32 bytes.
#pragma once

#include <cstdint>
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

 private:
  size_t home(const primitives::TxId& id) const;  // REQUIRES: mu_ held
  enum class Placed { kPresent, kAdded, kWindowFull };
  Placed place(const primitives::TxId& id);  // REQUIRES: mu_ held exclusively
  void evict_into_window(const primitives::TxId& id);  // REQUIRES: mu_ held exclusively
  void grow();                               // REQUIRES: mu_ held exclusively

  const size_t max_slots_;
  const util::SaltedHasher hasher_;
  mutable std::shared_mutex mu_;
  std::vector<primitives::TxId> table_;  // GUARDED_BY(mu_); all-zero: an empty slot
  size_t size_ = 0;                      // GUARDED_BY(mu_)
  std::mt19937_64 rng_;                  // GUARDED_BY(mu_)
};

}  // namespace peerchain::chain
