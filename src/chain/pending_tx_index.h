// chain/pending_tx_index.h — the tx index records connects left for the deferred write
// (ADR 0026), found by txid until they are on disk.
//
// A connect adds its block's ids as one chunk (O(transfers): a copy and one slot each in a flat
// open-addressed table, no allocation per record; a node-based hash map cost ~0.6 us a record
// here, a third of a 5,000-transfer block's connect). A flush takes the chunks present, writes
// them, then forgets them; the table is rebuilt from what remains (usually nothing). The table
// is util::TaggedTable: a salted hash of the txid and the record's place, each hit confirmed
// against the stored id.
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
#include "util/tagged_table.h"

namespace peerchain::chain {

class PendingTxIndex {
 public:
  struct Chunk {
    primitives::BlockId block;
    std::vector<primitives::TxId> ids;  // position i in the block
  };

  explicit PendingTxIndex(uint64_t salt);

  // The records of `block`, whose transactions' ids are `ids` in order.
  void add(const primitives::BlockId& block, std::vector<primitives::TxId> ids);
  // Where a pending record puts `id` (one chain holds a transaction once; disconnects wait for
  // an empty index).
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
  struct Place {
    uint32_t chunk = 0;
    uint32_t pos = 0;
  };
  const primitives::TxId& id_at(Place p) const { return chunks_[p.chunk]->ids[p.pos]; }
  void index_chunk(uint32_t chunk);

  std::deque<std::unique_ptr<Chunk>> chunks_;
  size_t taken_ = 0;
  size_t records_ = 0;
  util::TaggedTable<Place> places_;  // salted, flat (util/tagged_table.h), confirmed by id_at
};

}  // namespace peerchain::chain
