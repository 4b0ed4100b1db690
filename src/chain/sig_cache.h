// chain/sig_cache.h — transactions whose signatures this node already verified.
//
// A txid commits to the whole signed transaction, so its presence means "this exact signature
// over this exact message by this key verified". Transactions verified on mempool admission are
// therefore not verified again when a block carrying them is validated (Bitcoin's signature
// cache). Bounded: past `max_entries` a random entry is evicted. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_set>
#include <vector>

#include "primitives/transaction.h"

namespace peerchain::chain {

class SigCache {
 public:
  explicit SigCache(size_t max_entries);  // default used by ChainOptions: 1 << 19

  bool contains(const primitives::TxId& id) const;
  void insert(const primitives::TxId& id);
  size_t size() const;

 private:
  const size_t max_entries_;
  mutable std::shared_mutex mu_;
  std::unordered_set<primitives::TxId, util::SaltedHasher> set_;  // GUARDED_BY(mu_)
  std::mt19937_64 rng_;                                   // GUARDED_BY(mu_)
};

}  // namespace peerchain::chain
