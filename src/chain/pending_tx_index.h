// chain/pending_tx_index.h — the tx index records connects left for the deferred write
// (ADR 0026), found by txid until they are on disk.
//
// A connect adds its block's ids as one chunk (O(transfers): a copy and one slot each in a flat
// open-addressed table, no allocation per record; a node-based hash map cost ~0.6 us a record
// here, a third of a 5,000-transfer block's connect). A flush takes the chunks present, writes
// them, then forgets them; the table is rebuilt from what remains (usually nothing). Slots hold
// a salted hash of the txid (users choose transfers, so they could grind an unsalted hash's low
// bits into one probe run) and the record's place; a hit is confirmed against the stored id.
//
// Not thread-safe: ChainState guards it with its deferred_mu_. The chunks a take() returned stay
// valid (and unchanged) until forget() or put_back(): connects only append.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "primitives/block.h"
#include "storage/schema.h"
#include "util/bytes.h"

namespace peerchain::chain {

class PendingTxIndex {
 public:
  struct Chunk {
    primitives::BlockId block;
    std::vector<primitives::TxId> ids;  // position i in the block
  };

  explicit PendingTxIndex(uint64_t salt) : hasher_{salt} {}

  // The records of `block`, whose transactions' ids are `ids` in order.
  void add(const primitives::BlockId& block, std::vector<primitives::TxId> ids);
  // Where a pending record puts `id` (the first chunk holding it).
  std::optional<storage::TxLocation> find(const primitives::TxId& id) const;
  // The chunks present, oldest first, for writing; they stay findable. Call forget() after the
  // write, or put_back() if it failed. REQUIRES: nothing taken and not yet forgotten or put back.
  std::vector<const Chunk*> take();
  void forget();    // the taken chunks are on disk
  void put_back();  // they are not: the next take() returns them again
  void clear();     // every chunk dropped (reindex rebuilds the index)

  bool empty() const { return chunks_.empty(); }
  size_t records() const { return records_; }

 private:
  struct Slot {
    uint64_t tag = 0;  // salted hash | 1; 0: empty
    uint32_t chunk = 0;
    uint32_t pos = 0;
  };
  uint64_t tag_of(const primitives::TxId& id) const { return hasher_(id) | 1; }
  void insert(uint32_t chunk, uint32_t pos);
  void rebuild(size_t capacity);

  util::SaltedHasher hasher_;
  std::deque<std::unique_ptr<Chunk>> chunks_;
  size_t taken_ = 0;
  size_t records_ = 0;
  std::vector<Slot> slots_;  // power-of-two size, at most half full
};

}  // namespace peerchain::chain
