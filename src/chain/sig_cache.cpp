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

size_t SigCache::home(const Table& t, const primitives::TxId& id) const {
  // Multiply-shift onto [0, slots): the table need not be a power of two.
  return static_cast<size_t>((static_cast<U128>(hasher_(id)) * t.size()) >> 64);
}

bool SigCache::contains(const primitives::TxId& id) const {
  if (is_empty(id)) return false;
  std::shared_lock lock(mu_);
  const size_t n = table_.size();
  size_t s = home(table_, id);
  for (size_t k = 0; k < kWindow; ++k, s = s + 1 == n ? 0 : s + 1) {
    if (table_[s] == id) return true;
    if (is_empty(table_[s])) break;  // entries are never removed from a window's middle
  }
  if (!growing_.load(std::memory_order_acquire)) return false;
  std::lock_guard side(side_mu_);  // inserted during a rehash: a few hundred at most
  return std::find(grown_meanwhile_.begin(), grown_meanwhile_.end(), id) != grown_meanwhile_.end();
}

bool SigCache::place(Table& t, size_t& count, const primitives::TxId& id) const {
  const size_t n = t.size();
  size_t s = home(t, id);
  for (size_t k = 0; k < kWindow; ++k, s = s + 1 == n ? 0 : s + 1) {
    if (t[s] == id) return true;
    if (is_empty(t[s])) {
      t[s] = id;
      ++count;
      return true;
    }
  }
  return false;
}

void SigCache::evict(Table& t, const primitives::TxId& id, uint64_t r) const {
  const size_t e = home(t, id) + r % kWindow;
  t[e < t.size() ? e : e - t.size()] = id;
}

void SigCache::grow() {
  std::mt19937_64 rng(crypto::random_u64());
  for (;;) {
    Table bigger;
    size_t count = 0;
    {
      std::shared_lock lock(mu_);
      // Doubled, and doubled again in the rare case an entry's window is full there too, so a
      // grow loses nothing while the bound allows.
      for (size_t slots = table_.size() * 2;; slots *= 2) {
        bigger.assign(std::min(max_slots_, slots), primitives::TxId{});
        count = 0;
        bool all = true;
        for (const auto& id : table_)
          if (!is_empty(id) && !place(bigger, count, id)) {
            if (bigger.size() < max_slots_) {
              all = false;
              break;
            }
            evict(bigger, id, rng());
          }
        if (all) break;
      }
      if (rehash_hook_) rehash_hook_();
    }
    std::unique_lock lock(mu_);
    std::lock_guard side(side_mu_);
    std::vector<primitives::TxId> unplaced;
    for (const auto& id : grown_meanwhile_)
      if (!place(bigger, count, id)) {
        if (bigger.size() < max_slots_) unplaced.push_back(id);
        else evict(bigger, id, rng());
      }
    grown_meanwhile_ = std::move(unplaced);
    table_.swap(bigger);  // the old table is freed after the locks are released
    size_ = count;
    if (grown_meanwhile_.empty()) {
      growing_.store(false, std::memory_order_release);
      return;
    }
    // Some window is full in the new table too: grow it again, still aside.
  }
}

void SigCache::insert(const primitives::TxId& id) {
  if (is_empty(id)) return;
  if (growing_.load(std::memory_order_acquire)) {
    std::lock_guard side(side_mu_);
    if (growing_.load(std::memory_order_acquire)) {  // not swapped in yet: placed at the swap
      grown_meanwhile_.push_back(id);
      return;
    }
  }
  {
    std::unique_lock lock(mu_);
    const bool growing = growing_.load(std::memory_order_acquire);
    if (!growing && place(table_, size_, id)) {
      if (table_.size() >= max_slots_ || size_ * 2 <= table_.size()) return;
    } else if (!growing && table_.size() >= max_slots_) {
      evict(table_, id, rng_());  // full window, full-size table
      return;
    } else {
      // A grow under way (started since the check above: its rehash may have read past this
      // slot), or a full window in a table that can grow: placed at the swap.
      std::lock_guard side(side_mu_);
      grown_meanwhile_.push_back(id);
      if (growing) return;
    }
    growing_.store(true, std::memory_order_release);  // this caller grows it, outside this lock
  }
  grow();
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
