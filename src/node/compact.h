// node/compact.h — compact block relay (BIP152-like; docs/spec/p2p.md "Compact blocks"): the
// sketch of a block, short transaction ids, the messages that carry them, and the rebuilding
// of a block from a sketch plus transactions the receiver already holds.
//
//   sendcmpct    mode u8: 0 low bandwidth (announce with headers, as before), 1 high bandwidth
//                (push sketches unsolicited, right after the header's proof-of-work check)
//   cmpctblock   header 118 | salt u64 | CompactSize n | n x short id (6 bytes, LE)
//                | CompactSize p | p x (CompactSize index delta | transaction 156)
//   getblocktxn  block id 32 | CompactSize n | n x CompactSize index delta
//   blocktxn     block id 32 | CompactSize n | n x transaction 156
//
// Index deltas are BIP152's differential encoding: the first index as is, each next one as
// (index - previous - 1), so indexes are strictly increasing by construction.
//
// Short ids: k = SHA-256(header 118 | salt u64 LE); k0, k1 = its bytes 0..7 and 8..15 as LE u64;
// short id = SipHash-2-4(k0, k1, txid 32) & (2^48 - 1). Keyed by the block and by a salt the
// sender picks per sketch, so transactions cannot be ground in advance to collide.
//
// Decoders are strict (exact sizes, counts bounded by the block's transaction cap before
// allocating, indexes inside the block). Pure; thread-safe.
#pragma once

#include <optional>
#include <unordered_map>
#include <vector>

#include "primitives/block.h"
#include "util/result.h"

namespace peerchain::node {

inline constexpr size_t kShortIdBytes = 6;
inline constexpr uint64_t kShortIdMask = (uint64_t{1} << 48) - 1;

// SipHash-2-4 (Aumasson and Bernstein) of `data` under the key (k0, k1).
uint64_t siphash24(uint64_t k0, uint64_t k1, util::ByteSpan data);

struct ShortIdKey {
  uint64_t k0 = 0, k1 = 0;
};
ShortIdKey short_id_key(const primitives::BlockHeader& header, uint64_t salt);
uint64_t short_id(const ShortIdKey& key, const primitives::TxId& id);

struct PrefilledTx {
  uint32_t index = 0;  // position in the block
  primitives::Transaction tx;
  bool operator==(const PrefilledTx&) const = default;
};

struct CompactBlock {
  primitives::BlockHeader header;
  uint64_t salt = 0;
  std::vector<uint64_t> short_ids;     // the block's transactions that are not prefilled, in order
  std::vector<PrefilledTx> prefilled;  // by increasing index
  size_t tx_count() const { return short_ids.size() + prefilled.size(); }
  bool operator==(const CompactBlock&) const = default;
};

// The sketch of `block` (whose transaction ids are `ids`) with the transactions at `prefill`
// (increasing indexes, each < block.txs.size()) sent whole.
CompactBlock make_compact_block(const primitives::Block& block, const std::vector<primitives::TxId>& ids,
                                uint64_t salt, const std::vector<uint32_t>& prefill);

// Payload caps for the frame decoder, given the network's block caps.
size_t max_cmpctblock_bytes(size_t max_block_txs, size_t max_block_bytes);
size_t max_getblocktxn_bytes(size_t max_block_txs);
size_t max_blocktxn_bytes(size_t max_block_txs);

util::Bytes encode_sendcmpct(bool high_bandwidth);
util::Result<bool> decode_sendcmpct(util::ByteSpan payload);

util::Bytes encode_cmpctblock(const CompactBlock& cb);
// Refuses more than `max_txs` transactions in all.
util::Result<CompactBlock> decode_cmpctblock(util::ByteSpan payload, size_t max_txs);

struct BlockTxnRequest {
  primitives::BlockId block;
  std::vector<uint32_t> indexes;  // strictly increasing
  bool operator==(const BlockTxnRequest&) const = default;
};
util::Bytes encode_getblocktxn(const BlockTxnRequest& req);
// Refuses more than `max_txs` indexes, or an index >= max_txs.
util::Result<BlockTxnRequest> decode_getblocktxn(util::ByteSpan payload, size_t max_txs);

struct BlockTxn {
  primitives::BlockId block;
  std::vector<primitives::Transaction> txs;
  bool operator==(const BlockTxn&) const = default;
};
util::Bytes encode_blocktxn(const BlockTxn& msg);
util::Result<BlockTxn> decode_blocktxn(util::ByteSpan payload, size_t max_txs);

// A block being rebuilt from its sketch. Slots are filled from the prefilled transactions,
// then from candidates the receiver holds (offer()), then from a blocktxn answer (fill()).
// A candidate whose short id matches a slot another candidate already filled makes the slot
// ambiguous: it is emptied and asked for (a collision in our own pool costs a round trip, never
// a wrong block). Not thread-safe.
class PartialBlock {
 public:
  // Errors: "short-id-collision" when two of the sketch's short ids are equal (the sketch cannot
  // be completed; fetch the full block).
  static util::Result<PartialBlock> start(const CompactBlock& cb);

  const ShortIdKey& key() const { return key_; }
  // Whether `sid` is the short id of a slot still empty (or ambiguous).
  bool wants(uint64_t sid) const { return index_of_.count(sid) != 0; }
  // REQUIRES: id == tx.id() (the receiver's own ids: its mempool's, its recent blocks'); the
  // rebuilt block's Merkle root is checked against them.
  void offer(const primitives::Transaction& tx, const primitives::TxId& id);
  // The same with the short id taken by the caller. REQUIRES: also sid == short_id(key(), id).
  void offer(const primitives::Transaction& tx, const primitives::TxId& id, uint64_t sid);
  // Indexes still empty, increasing.
  std::vector<uint32_t> missing() const;
  bool complete() const { return filled_ == slots_.size(); }
  // Fills the missing slots, in order, with `txs`. Errors (the sender's fault): a count that
  // differs from missing(), or a transaction whose short id is not its slot's.
  util::Status fill(const std::vector<primitives::Transaction>& txs);
  // The rebuilt block; nullopt when its Merkle root differs from the header's (a collision
  // filled a slot wrongly: fetch the full block). With `ids`, also its transactions' ids (taken
  // once as the slots were filled: the receiver's checks and its own sketches reuse them).
  // REQUIRES: complete().
  std::optional<primitives::Block> take(std::vector<primitives::TxId>* ids = nullptr);

 private:
  primitives::BlockHeader header_;
  ShortIdKey key_;
  std::vector<std::optional<primitives::Transaction>> slots_;
  std::vector<primitives::TxId> ids_;              // per filled slot: its transaction's id
  std::vector<uint64_t> sid_;                      // per slot; prefilled ones unused
  std::unordered_map<uint64_t, uint32_t> index_of_;  // short id -> empty slot
  std::vector<bool> ambiguous_;
  size_t filled_ = 0;
};

}  // namespace peerchain::node
