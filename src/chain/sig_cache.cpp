#include "chain/sig_cache.h"

#include <algorithm>
#include <mutex>

#include "crypto/random.h"

namespace peerchain::chain {

namespace {
constexpr size_t kInitialSlots = 1024;
__extension__ using U128 = unsigned __int128;
// An all-zero txid would be a SHA-256 preimage of zero; it marks an empty slot and is never cached.
bool is_empty(const primitives::TxId& id) { return id == primitives::TxId{}; }
}  // namespace

SigCache::SigCache(size_t max_entries)
    : max_slots_(std::max(kWindow, max_entries)),
      hasher_{crypto::random_u64()},
      table_(std::min(max_slots_, kInitialSlots)),
      rng_(crypto::random_u64()) {}

size_t SigCache::home(const primitives::TxId& id) const {
  // Multiply-shift onto [0, slots): the table need not be a power of two.
  return static_cast<size_t>((static_cast<U128>(hasher_(id)) * table_.size()) >> 64);
}

bool SigCache::contains(const primitives::TxId& id) const {
  if (is_empty(id)) return false;
  std::shared_lock lock(mu_);
  const size_t n = table_.size();
  size_t s = home(id);
  for (size_t k = 0; k < kWindow; ++k, s = s + 1 == n ? 0 : s + 1) {
    if (table_[s] == id) return true;
    if (is_empty(table_[s])) return false;  // entries are never removed from a window's middle
  }
  return false;
}

SigCache::Placed SigCache::place(const primitives::TxId& id) {
  const size_t n = table_.size();
  size_t s = home(id);
  for (size_t k = 0; k < kWindow; ++k, s = s + 1 == n ? 0 : s + 1) {
    if (table_[s] == id) return Placed::kPresent;
    if (is_empty(table_[s])) {
      table_[s] = id;
      ++size_;
      return Placed::kAdded;
    }
  }
  return Placed::kWindowFull;
}

void SigCache::evict_into_window(const primitives::TxId& id) {
  const size_t s = home(id) + rng_() % kWindow;
  table_[s < table_.size() ? s : s - table_.size()] = id;
}

void SigCache::grow() {
  std::vector<primitives::TxId> old(std::min(max_slots_, table_.size() * 2));
  old.swap(table_);
  size_ = 0;
  for (const auto& id : old)
    if (!is_empty(id) && place(id) == Placed::kWindowFull) evict_into_window(id);  // rare: a larger table
}

void SigCache::insert(const primitives::TxId& id) {
  if (is_empty(id)) return;
  std::unique_lock lock(mu_);
  Placed p = place(id);
  while (p == Placed::kWindowFull && table_.size() < max_slots_) {
    grow();
    p = place(id);
  }
  if (p == Placed::kWindowFull) evict_into_window(id);
  if (table_.size() < max_slots_ && size_ * 2 > table_.size()) grow();
}

size_t SigCache::size() const {
  std::shared_lock lock(mu_);
  return size_;
}

size_t SigCache::slots() const {
  std::shared_lock lock(mu_);
  return table_.size();
}

}  // namespace peerchain::chain
