#include "primitives/block.h"

#include <cstring>

#include "crypto/merkle.h"

namespace peerchain::primitives {

void write_header(util::Writer& w, const BlockHeader& h) {
  w.u16(h.version);
  w.u32(h.height);
  w.fixed(h.prev_id);
  w.fixed(h.merkle_root);
  w.u64(h.time_ms);
  w.u32(h.bits);
  w.u32(h.nonce);
  w.fixed(h.miner);
}

HeaderBytes encode_header(const BlockHeader& h) {
  util::Writer w(BlockHeader::kEncodedSize);
  write_header(w, h);
  HeaderBytes out;
  std::memcpy(out.data(), w.data().data(), out.size());
  return out;
}

BlockId BlockHeader::id() const {
  auto bytes = encode_header(*this);
  return crypto::sha256d(bytes);
}

util::Result<BlockHeader> read_header(util::Reader& r) {
  if (r.remaining() < BlockHeader::kEncodedSize)
    return util::fail("truncated", "header needs " + std::to_string(BlockHeader::kEncodedSize) +
                                       " bytes, have " + std::to_string(r.remaining()));
  BlockHeader h;
  h.version = *r.u16();
  h.height = *r.u32();
  h.prev_id = *r.fixed<32>();
  h.merkle_root = *r.fixed<32>();
  h.time_ms = *r.u64();
  h.bits = *r.u32();
  h.nonce = *r.u32();
  h.miner = *r.fixed<32>();
  return h;
}

util::Result<BlockHeader> decode_header(util::ByteSpan in) {
  util::Reader r(in);
  auto h = read_header(r);
  if (!h) return h;
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return h;
}

size_t Block::encoded_size() const {
  return BlockHeader::kEncodedSize + util::compact_size_len(txs.size()) +
         txs.size() * Transaction::kEncodedSize;
}

crypto::Hash256 compute_merkle_root(std::span<const TxId> ids) {
  return crypto::merkle_root(ids);
}

std::vector<TxId> transaction_ids(const std::vector<Transaction>& txs) {
  std::vector<TxId> ids;
  ids.reserve(txs.size());
  for (const auto& tx : txs) ids.push_back(tx.id());
  return ids;
}

crypto::Hash256 compute_merkle_root(const std::vector<Transaction>& txs) { return crypto::merkle_root(transaction_ids(txs)); }

util::Bytes encode_block(const Block& b) {
  util::Writer w(b.encoded_size());
  write_header(w, b.header);
  w.compact_size(b.txs.size());
  for (const auto& tx : b.txs) write_transaction(w, tx);
  return std::move(w).take();
}

util::Result<Block> decode_block(util::ByteSpan in) {
  util::Reader r(in);
  Block b;
  auto h = read_header(r);
  if (!h) return util::unexpected(h.error());
  b.header = *h;
  auto n = r.compact_size(Block::kMaxEncodedTxs);
  if (!n) return util::unexpected(n.error());
  // The count is bounded and must match the bytes present before anything is reserved.
  if (r.remaining() != *n * Transaction::kEncodedSize)
    return util::fail(r.remaining() < *n * Transaction::kEncodedSize ? "truncated" : "trailing-bytes",
                      "block declares " + std::to_string(*n) + " transactions but carries " +
                          std::to_string(r.remaining()) + " bytes of them");
  b.txs.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) {
    auto tx = read_transaction(r);
    if (!tx) return util::unexpected(tx.error());
    b.txs.push_back(std::move(*tx));
  }
  if (auto end = r.expect_end(); !end) return util::unexpected(end.error());
  return b;
}

}  // namespace peerchain::primitives
