// chain/account_cache.h — the confirmed state of recently used accounts, in front of RocksDB.
//
// Every transfer reads its sender and receiver twice on each node (mempool admission and block
// connect) and writes them once; without a cache each read is a RocksDB memtable or table lookup
// (the largest non-signature cost in the full-speed profile, docs/performance.md). The cache
// mirrors the database exactly: an entry is filled from a successful read, and replaced only
// after a write batch holding that account was applied. A failed write or a reindex clears it.
// An account the database does not hold is cached as empty (absent == empty, by the schema).
//
// Bounded by two generations of at most max_entries / 2 each: a hit in the old generation moves
// the entry to the new one, and when the new one is full it becomes the old one (the old one is
// dropped). So the accounts in use stay, memory never exceeds max_entries entries (~100 bytes
// each), and no operation walks the cache. Not thread-safe: ChainState uses it under its lock.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "primitives/account.h"
#include "primitives/transaction.h"

namespace peerchain::chain {

class AccountCache {
 public:
  // `salt` keys the bucket hash (account keys are chosen by users): pass a secret random value.
  AccountCache(size_t max_entries, uint64_t salt)
      : half_(max_entries / 2), young_(16, util::SaltedHasher{salt}), old_(16, util::SaltedHasher{salt}) {}

  std::optional<primitives::Account> get(const primitives::AccountKey& key) {
    if (half_ == 0) return std::nullopt;
    if (auto it = young_.find(key); it != young_.end()) {
      ++hits_;
      return it->second;
    }
    if (auto it = old_.find(key); it != old_.end()) {
      ++hits_;
      primitives::Account a = it->second;
      old_.erase(it);
      put(key, a);
      return a;
    }
    ++misses_;
    return std::nullopt;
  }

  void put(const primitives::AccountKey& key, const primitives::Account& a) {
    if (half_ == 0) return;
    old_.erase(key);
    young_[key] = a;
    if (young_.size() >= half_) {
      old_ = std::move(young_);
      young_ = Map(16, old_.hash_function());
    }
  }

  void clear() {
    young_.clear();
    old_.clear();
  }

  size_t size() const { return young_.size() + old_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  using Map = std::unordered_map<primitives::AccountKey, primitives::Account, util::SaltedHasher>;
  const size_t half_;
  Map young_, old_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace peerchain::chain
