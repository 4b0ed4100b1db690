// util/tagged_table.h — a flat open-addressed table of small values found by a salted hash of
// a fixed-size key (transaction ids), for indexes that hold many short-lived entries.
//
// Linear probing, a power-of-two size at most half full, erasure by backward shift (no
// tombstones pile up, so lookups stay short however long the table lives). Each slot holds the
// key's salted hash (| 1; 0 marks an empty slot) and a value; the table does not store keys, so
// a hit on the hash is confirmed by the caller (`is(value)`), against the key its value leads
// to. Users choose their transfers, so an unsalted hash's low bits could be ground into one
// probe run: the salt is the caller's secret (crypto::random_u64()).
//
// Why not std::unordered_map: a node-based map allocates and frees once per entry, which was
// ~40 % of a block's mempool update and a third of a 5,000-transfer connect here
// (docs/performance.md, fourteenth and fifteenth sittings).
//
// Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "util/bytes.h"

namespace peerchain::util {

template <typename Value>
class TaggedTable {
 public:
  // `min_slots` (a power of two) is the smallest size: the table does not shrink below it.
  TaggedTable(uint64_t salt, size_t min_slots) : hasher_{salt}, min_slots_{min_slots} {}

  // The value of the first entry under `key` for which is(value) holds, or nullptr.
  template <size_t N, class Is>
  const Value* find(const FixedBytes<N>& key, Is&& is) const {
    if (size_ == 0) return nullptr;
    const uint64_t tag = tag_of(key);
    const size_t mask = slots_.size() - 1;
    for (size_t i = tag & mask; slots_[i].tag != 0; i = (i + 1) & mask)
      if (slots_[i].tag == tag && is(slots_[i].value)) return &slots_[i].value;
    return nullptr;
  }

  // Adds an entry (another under the same key is allowed: find() returns the first it confirms).
  template <size_t N>
  void insert(const FixedBytes<N>& key, const Value& value) {
    if ((size_ + 1) * 2 > slots_.size()) resize(std::max(min_slots_, slots_.size() * 2));
    place(Slot{tag_of(key), value});
    ++size_;
  }

  // Erases the entry under `key` for which is(value) holds. REQUIRES: it is present.
  template <size_t N, class Is>
  void erase(const FixedBytes<N>& key, Is&& is) {
    const uint64_t tag = tag_of(key);
    const size_t mask = slots_.size() - 1;
    size_t i = tag & mask;
    while (slots_[i].tag != tag || !is(slots_[i].value)) i = (i + 1) & mask;
    // Backward shift: each later slot of the probe run that may live at i moves there, so no
    // lookup's run is broken by the hole.
    for (size_t j = (i + 1) & mask; slots_[j].tag != 0; j = (j + 1) & mask) {
      const size_t home = slots_[j].tag & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
    if (size_ * 8 < slots_.size() && slots_.size() > min_slots_) resize(slots_.size() / 2);
  }

  // Every entry dropped; the size is kept (a table refilled to the same size allocates nothing).
  void clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    size_ = 0;
  }

  // Grows (never shrinks) so that `n` entries fit without another resize.
  void reserve(size_t n) {
    size_t cap = std::max(slots_.size(), min_slots_);
    while (cap < n * 2) cap *= 2;
    if (cap != slots_.size()) resize(cap);
  }

  size_t size() const { return size_; }
  size_t slots() const { return slots_.size(); }

 private:
  struct Slot {
    uint64_t tag = 0;
    Value value{};
  };
  template <size_t N>
  uint64_t tag_of(const FixedBytes<N>& key) const {
    return hasher_(key) | 1;
  }
  void place(const Slot& s) {
    const size_t mask = slots_.size() - 1;
    size_t i = s.tag & mask;
    while (slots_[i].tag != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
  void resize(size_t slots) {
    std::vector<Slot> old(slots, Slot{});
    old.swap(slots_);
    for (const Slot& s : old)
      if (s.tag != 0) place(s);
  }

  SaltedHasher hasher_;
  size_t min_slots_;
  std::vector<Slot> slots_;  // power-of-two size (or empty)
  size_t size_ = 0;
};

}  // namespace peerchain::util
