#include "node/protocol.h"

#include "node/compact.h"

namespace peerchain::node {

net::MessageLimits node_message_limits(const consensus::Params& params) {
  net::MessageLimits limits;
  const uint32_t inv = static_cast<uint32_t>(9 + kMaxInv * 33);
  limits.set(msg::kInv, inv);
  limits.set(msg::kGetData, inv);
  limits.set(msg::kNotFound, inv);
  limits.set(msg::kTx, static_cast<uint32_t>(primitives::Transaction::kEncodedSize));
  limits.set(msg::kTxs, static_cast<uint32_t>(9 + kMaxTxsPerMessage * primitives::Transaction::kEncodedSize));
  limits.set(msg::kBlock, static_cast<uint32_t>(params.max_block_bytes));
  limits.set(msg::kGetHeaders, static_cast<uint32_t>(9 + kMaxLocator * 32));
  limits.set(msg::kMempool, 0);
  limits.set(msg::kHeaders, static_cast<uint32_t>(9 + kMaxHeaders * primitives::BlockHeader::kEncodedSize));
  const size_t txs = params.max_block_txs;
  limits.set(msg::kSendCmpct, 1);
  limits.set(msg::kCmpctBlock, static_cast<uint32_t>(max_cmpctblock_bytes(txs, params.max_block_bytes)));
  limits.set(msg::kGetBlockTxn, static_cast<uint32_t>(max_getblocktxn_bytes(txs)));
  limits.set(msg::kBlockTxn, static_cast<uint32_t>(max_blocktxn_bytes(txs)));
  return limits;
}

util::Bytes encode_inv(const std::vector<InvItem>& items) {
  util::Writer w(9 + items.size() * 33);
  w.compact_size(items.size());
  for (const auto& it : items) {
    w.u8(static_cast<uint8_t>(it.kind));
    w.fixed(it.id);
  }
  return std::move(w).take();
}

util::Result<std::vector<InvItem>> decode_inv(util::ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.compact_size(kMaxInv);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() != *n * 33) return util::fail("bad-length", "inv count does not match its bytes");
  std::vector<InvItem> out;
  out.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) {
    uint8_t kind = *r.u8();
    if (kind < 1 || kind > 3) return util::fail("bad-kind", "unknown inventory kind " + std::to_string(kind));
    out.push_back({static_cast<InvKind>(kind), *r.fixed<32>()});
  }
  return out;
}

util::Bytes encode_txs(std::span<const primitives::Transaction* const> txs) {
  util::Writer w(9 + txs.size() * primitives::Transaction::kEncodedSize);
  w.compact_size(txs.size());
  for (const auto* tx : txs) primitives::write_transaction(w, *tx);
  return std::move(w).take();
}

util::Result<std::vector<primitives::Transaction>> decode_txs(util::ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.compact_size(kMaxTxsPerMessage);
  if (!n) return util::unexpected(n.error());
  if (*n == 0) return util::fail("bad-count", "txs carries no transaction");
  if (r.remaining() != *n * primitives::Transaction::kEncodedSize)
    return util::fail("bad-length", "txs count does not match its bytes");
  std::vector<primitives::Transaction> out;
  out.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) {
    auto tx = primitives::read_transaction(r);
    if (!tx) return util::unexpected(tx.error());
    out.push_back(std::move(*tx));
  }
  return out;
}

util::Bytes encode_locator(const std::vector<primitives::BlockId>& ids) {
  util::Writer w(9 + ids.size() * 32);
  w.compact_size(ids.size());
  for (const auto& id : ids) w.fixed(id);
  return std::move(w).take();
}

util::Result<std::vector<primitives::BlockId>> decode_locator(util::ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.compact_size(kMaxLocator);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() != *n * 32) return util::fail("bad-length", "locator count does not match its bytes");
  std::vector<primitives::BlockId> out;
  out.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) out.push_back(*r.fixed<32>());
  return out;
}

util::Bytes encode_headers(const std::vector<primitives::BlockHeader>& headers) {
  util::Writer w(9 + headers.size() * primitives::BlockHeader::kEncodedSize);
  w.compact_size(headers.size());
  for (const auto& h : headers) primitives::write_header(w, h);
  return std::move(w).take();
}

util::Result<std::vector<primitives::BlockHeader>> decode_headers(util::ByteSpan payload) {
  util::Reader r(payload);
  auto n = r.compact_size(kMaxHeaders);
  if (!n) return util::unexpected(n.error());
  if (r.remaining() != *n * primitives::BlockHeader::kEncodedSize)
    return util::fail("bad-length", "headers count does not match its bytes");
  std::vector<primitives::BlockHeader> out;
  out.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) out.push_back(*primitives::read_header(r));
  return out;
}

}  // namespace peerchain::node
