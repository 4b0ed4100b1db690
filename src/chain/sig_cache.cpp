#include "chain/sig_cache.h"

#include <cstring>

#include "crypto/random.h"

namespace peerchain::chain {

SigCache::SigCache(size_t max_entries)
    : max_entries_(max_entries == 0 ? 1 : max_entries),
      set_(16, util::SaltedHasher{crypto::random_u64()}),
      rng_(crypto::random_u64()) {}

bool SigCache::contains(const primitives::TxId& id) const {
  std::shared_lock lock(mu_);
  return set_.count(id) != 0;
}

void SigCache::insert(const primitives::TxId& id) {
  std::unique_lock lock(mu_);
  if (set_.size() >= max_entries_) {
    // Evict from a random bucket: cheap, and no attacker can choose what gets evicted.
    size_t buckets = set_.bucket_count();
    for (size_t tries = 0; tries < buckets && set_.size() >= max_entries_; ++tries) {
      size_t b = rng_() % buckets;
      if (set_.bucket_size(b) == 0) continue;
      primitives::TxId victim = *set_.begin(b);
      set_.erase(victim);
    }
  }
  set_.insert(id);
}

size_t SigCache::size() const {
  std::shared_lock lock(mu_);
  return set_.size();
}

}  // namespace peerchain::chain
