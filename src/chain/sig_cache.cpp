#include "chain/sig_cache.h"

#include <cstring>

#include "crypto/random.h"

namespace peerchain::chain {

size_t SigCache::SaltedHash::operator()(const primitives::TxId& id) const {
  uint64_t a, b;
  std::memcpy(&a, id.data.data(), 8);
  std::memcpy(&b, id.data.data() + 8, 8);
  uint64_t x = (a ^ salt) * 0x9e3779b97f4a7c15ULL;
  return static_cast<size_t>(x ^ (x >> 29) ^ b);
}

SigCache::SigCache(size_t max_entries)
    : max_entries_(max_entries == 0 ? 1 : max_entries),
      set_(16, SaltedHash{crypto::random_u64()}),
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
